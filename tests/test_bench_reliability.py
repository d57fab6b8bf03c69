"""Benchmark reliability: hung and crashed workers, `zoo bench compare`, early --backends check.

A worker that hangs or crashes is simulated without a hook in product code: the tests
replace :func:`zoo.benchmarks._worker.command` (the command line the parent starts for one
job) so that chosen jobs run a small script from ``tmp_path`` instead of the real worker.
The script starts a grandchild that sleeps, records both pids, then hangs, segfaults or
fails; the tests check the row's reason, the rows kept, and that no process survives.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from zoo.benchmarks import Plan, _worker
from zoo.benchmarks.command import parse, parsers

import zoo.cli
from zoo import ZooError

NAME = "cnn_lstm_fusion_tiny"

FAKE_WORKER = """\
import os, signal, subprocess, sys, time

mode, pids = sys.argv[1], sys.argv[2]
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open(pids + ".tmp", "w") as fh:
    fh.write(f"{os.getpid()} {child.pid}")
os.replace(pids + ".tmp", pids)
if mode == "hang":
    time.sleep(300)
elif mode == "segv":
    print("loading the artifact", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)
elif mode == "chatty":  # 8 MB on stderr: a pipe read after wait() would block the worker
    for i in range(80_000):
        sys.stderr.write(f"line {i} " + "x" * 92 + "\\n")
    sys.stderr.write("last words\\n")
    sys.exit(3)
sys.exit(0)
"""


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """``fake(mode, backend=None)``: jobs (of ``backend``, or all) run the fake worker.

    Returns a function giving the pids the fake recorded, ``(worker, grandchild)``.
    """
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    pids = tmp_path / "pids"
    real = _worker.command

    def install(mode: str, backend: str | None = None):
        def command(job_path: Path) -> list[str]:
            job = json.loads(Path(job_path).read_text()) if backend else {}
            if backend is None or job["backend"] == backend:
                return [sys.executable, str(script), mode, str(pids)]
            return real(job_path)

        monkeypatch.setattr(_worker, "command", command)
        return lambda: tuple(int(p) for p in pids.read_text().split())

    yield install
    if pids.is_file():  # never leave a sleeper behind, even when a test failed
        for pid in map(int, pids.read_text().split()):
            if not _gone(pid):
                psutil.Process(pid).kill()


def _gone(pid: int, within: float = 5.0) -> bool:
    """Whether ``pid`` has ended (a zombie waiting for its reaper counts as ended).

    SIGKILL is delivered asynchronously, so this polls for up to ``within`` seconds.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _launch(tmp_path: Path, timeout: float) -> str | None:
    job = tmp_path / "job.json"
    job.write_text("{}")
    return _worker.launch(job, env={}, timeout=timeout, log=tmp_path / "worker.log")


# --- hung and crashed workers: the launcher -------------------------------------------


def test_a_hung_worker_is_killed_with_its_grandchild_at_the_timeout(fake, tmp_path):
    pids = fake("hang")
    start = time.monotonic()
    reason = _launch(tmp_path, timeout=5)
    assert reason == "timeout after 5 s (process group killed)"
    assert time.monotonic() - start < 60  # not the fake's 300 s sleep
    worker, grandchild = pids()
    assert _gone(worker) and _gone(grandchild)


def test_a_segfault_is_reported_with_the_signal_and_the_last_stderr_line(fake, tmp_path):
    pids = fake("segv")
    reason = _launch(tmp_path, timeout=60)
    assert reason == "killed by signal SIGSEGV (11): loading the artifact"
    assert all(_gone(pid) for pid in pids())  # the grandchild outlived its parent: killed


def test_a_failing_worker_with_megabytes_of_stderr_gives_its_exit_status(fake, tmp_path):
    pids = fake("chatty")
    reason = _launch(tmp_path, timeout=60)  # blocking on a full pipe would end in a timeout
    assert reason is not None and reason.startswith("exit 3: line 79998 ")
    assert reason.endswith("| last words")
    assert (tmp_path / "worker.log").stat().st_size > 8_000_000
    assert all(_gone(pid) for pid in pids())


def test_a_grandchild_left_by_a_successful_worker_is_killed(fake, tmp_path):
    pids = fake("exit0")
    assert _launch(tmp_path, timeout=60) is None
    assert all(_gone(pid) for pid in pids())


def test_ctrl_c_in_the_parent_kills_the_worker_group(fake, tmp_path):
    pids = fake("hang")
    recorded = tmp_path / "pids"

    def interrupt_when_started():
        deadline = time.monotonic() + 60
        while not recorded.is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, while the parent waits for the worker

    threading.Thread(target=interrupt_when_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        _launch(tmp_path, timeout=120)
    worker, grandchild = pids()
    assert _gone(worker) and _gone(grandchild)


def test_the_worker_timeout_is_configurable_and_defaults_as_before():
    assert Plan.make(quick=False).timeout == 5.0 * 3 + 600
    assert Plan.make(quick=True).timeout == 1.0 * 3 + 600
    assert Plan.make(quick=True, worker_timeout=7).timeout == 7


# --- hung and crashed workers: a whole run ----------------------------------------------


@pytest.fixture
def compare_folder(fusion_export, tmp_path):
    """The shared export cut down to onnx:fp32 and tflite:fp32, in a folder named ``compare``.

    Without the Keras file no Keras worker runs: the one real worker is onnxruntime's.
    """
    source = Path(fusion_export.path)
    folder = tmp_path / "compare"
    folder.mkdir()
    manifest = json.loads((source / "manifest.json").read_text())
    keep = ("onnx:fp32", "tflite:fp32")
    manifest["artifacts"] = {k: v for k, v in manifest["artifacts"].items() if k in keep}
    for art in manifest["artifacts"].values():
        shutil.copy(source / art["path"], folder / art["path"])
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_a_crashed_worker_is_a_row_and_the_other_rows_are_kept(
    fake, compare_folder, tmp_path, monkeypatch, capsys
):
    """Through `zoo bench ./compare`: an export folder named like the subcommand is timed."""
    pids = fake("segv", backend="tflite:fp32")
    monkeypatch.chdir(tmp_path)
    code = zoo.cli.main(
        [
            "bench",
            "./compare",
            "--backends",
            "tflite:fp32,onnx:fp32",
            "--quick",
            "--iters",
            "5",
            "--warmup",
            "1",
            "--worker-timeout",
            "120",
            "--out",
            "runs",
        ]
    )
    assert code == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    data = json.loads((run_dir / "results.json").read_text())
    crashed, kept = data["rows"]
    assert crashed["backend"] == "tflite:fp32" and crashed["failed"] is True
    assert crashed["stats"] is None
    assert crashed["skipped"] == "worker killed by signal SIGSEGV (11): loading the artifact"
    assert kept["backend"] == "onnx:fp32" and not kept["failed"] and kept["skipped"] is None
    assert kept["stats"]["n"] == 5 and kept["stats"]["p50_ms"] > 0
    assert data["settings"]["worker_timeout"] == 120
    report = (run_dir / "report.md").read_text()
    assert "| tflite:fp32 | fp32 | 1 |" in report and "SIGSEGV" in report
    assert "| onnx:fp32 | fp32 | 1 |" in report
    assert "FAILED (tflite:fp32" in capsys.readouterr().out
    assert all(_gone(pid) for pid in pids())


# --- zoo bench compare: a subcommand of its own -----------------------------------------


def test_compare_has_its_own_parser_and_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        zoo.cli.main(["bench", "compare", "--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith("usage: zoo bench compare [-h] [--threshold THRESHOLD] RUN_A RUN_B")
    compare = parsers("zoo bench")[1]
    options = {s for a in compare._actions for s in a.option_strings}
    assert options == {"-h", "--help", "--threshold"}
    args = parse(["compare", "runs/a", "runs/b", "--threshold", "0.2"], "zoo bench")
    assert (args.form, args.run_a, args.run_b, args.threshold) == (
        "compare",
        Path("runs/a"),
        Path("runs/b"),
        0.2,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["compare", "runs/a"],  # one run
        ["compare", "runs/a", "runs/b", "runs/c"],  # three
        ["compare", "runs/a", "runs/b", "--quick"],  # a model-form option
        [NAME, "--threshold", "0.2"],  # a compare option on the model form
        [NAME, "runs/b"],  # the model form takes one target
    ],
)
def test_each_form_refuses_the_other_forms_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        zoo.cli.main(["bench", *argv])
    assert exit_.value.code == 2
    assert "usage: zoo bench" in capsys.readouterr().err


def test_the_model_form_takes_a_path_named_compare():
    assert parse(["./compare", "--quick"], "zoo bench").target == "./compare"
    assert parse(["./compare"], "zoo bench").form == "model"
    assert parse(["compare", "a", "b"], "zoo bench").form == "compare"


def test_compare_runs_two_runs_through_both_entry_points(tmp_path, capsys):
    run_dir = tmp_path / "runs" / "20261203-000000-m"
    run_dir.mkdir(parents=True)
    results = {
        "schema_version": 1,
        "name": "m",
        "settings": {"batches": [1], "threads": [1], "quick": False},
        "created": "2026-12-03T00:00:00+00:00",
        "environment": {},
        "export": {"path": "artifacts/m"},
        "rows": [
            {
                "backend": "onnx:fp32",
                "batch": 1,
                "threads": 1,
                "stats": {"p50_ms": 1.0, "ci95_low_ms": 0.99, "ci95_high_ms": 1.01},
            }
        ],
        "recommended": {},
    }
    (run_dir / "results.json").write_text(json.dumps(results))
    assert zoo.cli.main(["bench", "compare", str(run_dir), str(run_dir)]) == 0
    assert "onnx:fp32" in capsys.readouterr().out
    from zoo.benchmarks.command import main

    assert main(["compare", str(run_dir), str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_a_missing_path_target_is_named_not_looked_up_as_a_model(tmp_path):
    from zoo.benchmarks import run

    with pytest.raises(ZooError, match=r"no export folder '\./compare' \(nothing there\)"):
        run("./compare", out=tmp_path)
    assert not any(tmp_path.iterdir())


# --- --backends checked before the export -----------------------------------------------


@pytest.fixture
def no_export(monkeypatch):
    """Any export attempt fails the test."""
    from zoo.benchmarks import _store

    def export_apart(*args, **kwargs):
        pytest.fail("an export started although the arguments were bad")

    monkeypatch.setattr(_store, "export_apart", export_apart)


def test_an_unknown_backend_fails_before_any_export(no_export, tmp_path):
    from zoo.benchmarks import run

    with pytest.raises(ZooError) as error:
        run(NAME, backends=["onnx:fp32", "saved_modle"], out=tmp_path)
    message = str(error.value)
    assert "unknown or unavailable backend 'saved_modle'" in message
    assert "Did you mean 'saved_model'?" in message
    for valid in ("keras_call", "saved_model", "tflite:int8", "onnx:fp32", "openvino:f32"):
        assert valid in message
    assert not any(tmp_path.iterdir())  # no store, no run folder


def test_a_backend_the_chosen_formats_do_not_give_fails_before_any_export(no_export, tmp_path):
    from zoo.benchmarks import run

    with pytest.raises(ZooError, match=r"backend 'saved_model'; the formats keras, onnx:fp32"):
        run(NAME, formats=["onnx"], backends=["saved_model"], out=tmp_path)
    with pytest.raises(ZooError, match="worker_timeout must be a positive number"):
        run(NAME, worker_timeout=0, out=tmp_path)
    assert not any(tmp_path.iterdir())


def test_zoo_bench_with_a_backend_typo_exits_before_tensorflow_loads(tmp_path):
    code = (
        "import sys\n"
        "from zoo.benchmarks.command import main\n"
        f"code = main([{NAME!r}, '--backends', 'tflite:fp23', '--out', {str(tmp_path)!r}])\n"
        "print(code, 'tensorflow' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.stdout.split() == ["2", "False"], proc.stderr
    assert "Did you mean 'tflite:fp32'" in proc.stderr
    assert not any(tmp_path.iterdir())

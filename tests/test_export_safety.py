"""Export folders survive kills, concurrent writers, full and read-only disks, hostile names.

The kill soak (``python -m zoo.benchmarks.kill_soak``) runs here with 20 kills of a
keras-only export; its 50-kill run over three formats is quoted in the README.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import keras
import pytest
from zoo.exporters import OutputFolderError, OutputNotWritable, export_model
from zoo.exporters._atomic import Staging

NAME = "cnn_lstm_fusion_tiny"


def _snapshot(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def soak_result():
    """20 SIGKILLed exports plus two concurrent ones, in a fresh process (it forks)."""
    proc = subprocess.run(
        [sys.executable, "-m", "zoo.benchmarks.kill_soak", "--kills", "20", "--concurrent",
         "2", "--formats", "keras", "--json"],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout)


def test_kill_soak_leaves_no_torn_set(soak_result):
    code, result = soak_result
    assert len(result["kills"]) == 20
    assert result["torn"] == 0, result["outcomes"]
    assert result["failed_exports"] == 0, result["outcomes"]
    allowed = {"previous set", "new set", "nothing (recoverable)"}
    for kill in result["kills"]:
        assert kill["outcome"].split(" (finished")[0] in allowed, kill
    assert result["final_leftovers"] == 0  # the next export removed every dead staging folder
    assert result["verified"] is True
    assert code == 0 and result["ok"] is True


def test_kill_at_each_swap_step_gives_the_expected_set(soak_result):
    _, result = soak_result
    expected = {
        "after_manifest": "previous set",  # not swapped yet
        "after_old_moved": "nothing (recoverable)",  # between the two renames
        "after_new_moved": "new set",
        "during_old_cleanup": "new set",
    }
    seen = {k["how"]: k["outcome"] for k in result["kills"] if k["how"] != "random"}
    assert seen == expected
    # a kill between the renames leaves the previous set aside, restored by the next export
    between = [k for k in result["kills"] if k["how"] == "after_old_moved"]
    assert all(k["leftovers"] >= 1 for k in between)


def test_concurrent_exports_both_finish_with_one_verified_set(soak_result):
    _, result = soak_result
    race = result["concurrent"]
    assert race["exit_codes"] == [0, 0], race
    assert race["state"] == "complete" and race["leftovers"] == 0
    assert race["ok"] is True


def test_live_staging_folders_are_never_touched_dead_ones_are_removed(tmp_path):
    dead = tmp_path / f".{NAME}.staging-deadbeef"  # no process holds its lock
    dead.mkdir(parents=True)
    (dead / "model.keras").write_bytes(b"half")
    with Staging(tmp_path, NAME) as live:
        (live.path / "model.keras").write_bytes(b"in progress")
        with Staging(tmp_path, NAME) as other:  # a second writer of the same model
            assert live.path.is_dir() and (live.path / "model.keras").read_bytes()
            assert not dead.exists()
            other.commit(json.dumps({"name": NAME}))
        assert live.path.is_dir()  # survived the other writer's recovery and commit
        live.commit(json.dumps({"name": NAME}))
    assert _names(tmp_path) == [NAME]
    assert (tmp_path / NAME / "model.keras").read_bytes() == b"in progress"


def test_staging_of_a_killed_process_is_removed(tmp_path):
    code = (
        "import os, sys; from pathlib import Path; from zoo.exporters._atomic import Staging\n"
        f"s = Staging(Path({str(tmp_path)!r}), {NAME!r}).__enter__()\n"
        "print(s.path, flush=True); os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL
    left = Path(proc.stdout.strip())
    assert left.is_dir()
    with Staging(tmp_path, NAME) as stage:
        assert not left.exists()
        assert stage.path.is_dir()


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs (root only); skip where mounting is not permitted."""
    mounted: list[Path] = []

    def mount(size_kb: int) -> Path:
        point = tmp_path / f"tmpfs{len(mounted)}"
        point.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(point)],
            capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}); the file-size "
                        "limit test covers a full disk instead")  # fmt: skip
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_disk_full_fails_clearly_and_keeps_the_previous_set(tmpfs):
    out = tmpfs(400)  # one keras-only set (~230 kB) fits, a second one beside it does not
    first = export_model(NAME, out, formats=["keras"], seed=0)
    before = _snapshot(first.path)
    with pytest.raises(OutputNotWritable) as exc:
        export_model(NAME, out, formats=["keras"], seed=1)
    message = str(exc.value)
    assert "no space left on the device" in message and str(out) in message
    assert "keeps its previous content" in message
    assert _snapshot(first.path) == before
    assert _names(out) == [NAME]  # the staging folder is gone


@contextlib.contextmanager
def _file_size_limit(limit: int):
    """Writes past ``limit`` bytes fail with EFBIG in this process (SIGXFSZ ignored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_write_limit_fails_clearly_and_keeps_the_previous_set(tmp_path):
    first = export_model(NAME, tmp_path, formats=["keras"], seed=0)
    before = _snapshot(first.path)
    with _file_size_limit(50_000), pytest.raises(OutputNotWritable) as exc:
        export_model(NAME, tmp_path, formats=["keras"], seed=1)
    assert "file too large" in str(exc.value)
    assert _snapshot(first.path) == before
    assert _names(tmp_path) == [NAME]


def test_read_only_output_fails_before_building(tmp_path, tmpfs, monkeypatch):
    if os.geteuid() == 0:
        out = tmpfs(1024)
        first = export_model(NAME, out, formats=["keras"], seed=0)
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True)
    else:
        out = tmp_path / "ro"
        first = export_model(NAME, out, formats=["keras"], seed=0)
        out.chmod(0o555)
    before = _snapshot(first.path)

    def no_build(*args, **kwargs):
        raise AssertionError("built the model before checking the output folder")

    monkeypatch.setattr("zoo.exporters._export.subject_for", no_build)
    with pytest.raises(OutputNotWritable) as exc:
        export_model(NAME, out, formats=["keras"], seed=1)
    message = str(exc.value)
    assert str(out) in message and ("read-only" in message or "permission denied" in message)
    assert _snapshot(first.path) == before


def _tiny_functional(name: str):
    x = keras.Input((4,), name="x")
    model = keras.Model({"x": x}, {"y": keras.layers.Dense(2, name="d")(x)}, name="tiny")
    model.name = name  # Keras refuses '/' in names it is given; a loaded model may have any
    return model


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "..", "x" * 200])
def test_path_like_model_names_are_refused_before_writing(tmp_path, name):
    out = tmp_path / "out"
    with pytest.raises(OutputFolderError) as exc:
        export_model(_tiny_functional(name), out, formats=["keras"])
    assert repr(name)[:60] in str(exc.value) or name[:60] in str(exc.value)
    assert "no path separators" in str(exc.value)
    assert _names(tmp_path) == ["out"] and _names(out) == []


def test_symlinked_export_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / NAME).symlink_to(elsewhere)
    with pytest.raises(OutputFolderError, match="symbolic link"):
        export_model(NAME, out, formats=["keras"])
    assert _names(elsewhere) == []


def test_export_of_another_model_is_not_replaced(tmp_path):
    first = export_model(_tiny_functional("mine"), tmp_path, formats=["keras"])
    manifest = json.loads((first.path / "manifest.json").read_text())
    manifest["name"] = "someone_else"
    (first.path / "manifest.json").write_text(json.dumps(manifest))
    before = _snapshot(first.path)
    with pytest.raises(OutputFolderError, match="'someone_else'"):
        export_model(_tiny_functional("mine"), tmp_path, formats=["keras"])
    assert _snapshot(first.path) == before


def test_relative_output_folder_is_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = export_model(_tiny_functional("rel"), Path("a/../b"), formats=["keras"])
    assert result.path == (tmp_path / "b" / "rel").resolve()
    assert result.path.is_absolute()

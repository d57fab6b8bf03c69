"""Runtime safety: corrupt artifacts, crashing loaders, input contracts, runners under threads.

One export of cnn_lstm_fusion_tiny (keras, saved_model, tflite:fp32, onnx:fp32) per module.
Corrupt files are checked by ``verify`` in child processes; a real native crash (SIGSEGV)
and a hang are injected into the child through a ``sitecustomize`` module on its
``PYTHONPATH``, so nothing in zoo carries a test hook.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from zoo.exporters import (
    FORMATS,
    Contract,
    InputSignature,
    check_inputs,
    export_model,
    run_once,
    verify,
)

from zoo._registry import REGISTRY
from zoo.errors import InputContractError
from zoo.samples import sample_inputs

NAME = "cnn_lstm_fusion_tiny"
EXPORTED = ["keras", "saved_model", "tflite:fp32", "onnx:fp32"]
CONTRACT_LINES = ("image: [batch, 32, 32, 3] float32", "tokens: [batch, 16] int32")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """The export, read-only: tests that corrupt files work on a copy."""
    out = tmp_path_factory.mktemp("safety")
    return export_model(NAME, out, formats=EXPORTED, seed=0).path


@pytest.fixture(scope="module")
def runners(folder):
    """Format → runner loaded from the export folder (contract from its manifest)."""
    return {fmt: FORMATS[fmt].load(folder / FORMATS[fmt].artifact) for fmt in EXPORTED}


def _inputs(batch: int, seed: int) -> dict[str, np.ndarray]:
    return sample_inputs(REGISTRY.get(NAME).recipe.inputs, batch, seed=seed)


def _copy(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / NAME
    shutil.copytree(folder, copy)
    return copy


def _corrupt(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    else:  # one bit in the middle: weights, which a loader alone would not notice
        data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _shard(folder: Path) -> Path:
    return next((folder / "saved_model" / "variables").glob("variables.data-*"))


# --- item 6: corrupt artifacts, checked in a child process -----------------------------


@pytest.mark.parametrize("how", ["truncated", "bit_flipped"])
def test_corrupt_artifact_files_are_detected_and_named(folder, tmp_path, how):
    copy = _copy(folder, tmp_path)
    files = {
        "tflite:fp32": "model_fp32.tflite",
        "onnx:fp32": "model.onnx",
        "saved_model": "saved_model/saved_model.pb",
    }
    for rel in files.values():
        _corrupt(copy / rel, how)
    report = verify(copy, formats=[*files, "keras"])  # keras: untouched, in the same child
    assert not report.ok
    assert len(report.problems()) == 3
    for check in report.checks:
        if check.format == "keras":
            assert check.ok, check
            continue
        assert not check.ok and not check.hash_ok, check
        assert check.reason.startswith(f"{check.path}: sha256 differs from the manifest")
        if how == "truncated":  # no runtime can read half a file: a clean error (or a crash)
            assert check.error is not None
            assert check.error.startswith(("loader error: ", "the loader process died"))


@pytest.mark.parametrize("how", ["truncated", "bit_flipped"])
def test_corrupt_variables_shard_is_detected(folder, tmp_path, how):
    copy = _copy(folder, tmp_path)
    shard = _shard(copy)
    _corrupt(shard, how)
    (check,) = verify(copy, formats=["saved_model"]).checks
    assert not check.ok and not check.hash_ok
    # TensorFlow reads the shard on load: short read, or its CRC32C does not match
    assert check.error is not None and "loader error" in check.error, check.error
    assert check.reason.startswith("saved_model: sha256 differs from the manifest; loader error")


def _sitecustomize(tmp_path: Path, monkeypatch, code: str) -> None:
    """Make every child Python process run ``code`` at start-up (before zoo's own code)."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(textwrap.dedent(code))
    existing = [p for p in [str(hooks), *_pythonpath()] if p]
    monkeypatch.setenv("PYTHONPATH", ":".join(existing))


def _pythonpath() -> list[str]:
    return os.environ.get("PYTHONPATH", "").split(":")


def test_a_loader_that_segfaults_is_named_and_the_caller_survives(folder, tmp_path, monkeypatch):
    """The LiteRT loader of the child is replaced by one that dereferences NULL (SIGSEGV).

    The first child checks tflite:fp32 then onnx:fp32 and dies on the first; verify then
    re-checks each in its own child: tflite:fp32 dies again (named), onnx:fp32 passes.
    """
    _sitecustomize(
        tmp_path,
        monkeypatch,
        """
        import ctypes, dataclasses
        import zoo.exporters as ex

        def crash(path, **kwargs):
            ctypes.string_at(0)  # a real native crash: SIGSEGV

        ex.FORMATS["tflite:fp32"] = dataclasses.replace(ex.FORMATS["tflite:fp32"], load=crash)
        """,
    )
    report = verify(folder, formats=["tflite:fp32", "onnx:fp32"])
    by_format = {c.format: c for c in report.checks}
    crashed, fine = by_format["tflite:fp32"], by_format["onnx:fp32"]
    assert crashed.hash_ok and not crashed.ok
    assert crashed.error.startswith("the loader process died with signal SIGSEGV"), crashed.error
    assert crashed.reason.startswith("model_fp32.tflite: the loader process died with signal")
    assert fine.ok and fine.max_abs <= fine.atol
    assert report.problems() == [crashed.reason]


def test_a_hung_loader_is_killed_with_its_process_group(folder, tmp_path, monkeypatch):
    """The child starts a grandchild, then hangs: after the timeout both are gone."""
    pid_file = tmp_path / "grandchild.pid"
    _sitecustomize(
        tmp_path,
        monkeypatch,
        f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-S", "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(600)
        """,
    )
    (check,) = verify(folder, formats=["onnx:fp32"], timeout=4).checks
    assert check.error == "the loader process did not finish within 4 s; it was killed"
    assert not check.ok
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), f"grandchild {pid} survived the process-group kill"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_verify_in_process_gives_the_same_report(folder):
    isolated = verify(folder, formats=["tflite:fp32", "onnx:fp32"])
    inline = verify(folder, formats=["tflite:fp32", "onnx:fp32"], isolate=False)
    assert isolated.ok and inline.ok
    assert [(c.format, c.max_abs) for c in isolated.checks] == [
        (c.format, c.max_abs) for c in inline.checks
    ]


def test_verify_refuses_a_format_the_manifest_lacks(folder):
    with pytest.raises(Exception, match=r"formats \['tflite:int8'\] are not in its manifest"):
        verify(folder, formats=["tflite:int8"])


# --- item 7: input contracts -----------------------------------------------------------


@pytest.mark.parametrize("fmt", EXPORTED)
def test_contract_comes_from_the_manifest_else_the_runtime(runners, folder, tmp_path, fmt):
    from_manifest = runners[fmt].contract
    assert from_manifest.source == str(folder / "manifest.json")
    artifact = FORMATS[fmt].artifact
    alone = tmp_path / artifact  # no manifest next to it: the runtime's own signature
    (shutil.copytree if (folder / artifact).is_dir() else shutil.copy)(folder / artifact, alone)
    from_runtime = FORMATS[fmt].load(alone).contract
    assert "input signature" in from_runtime.source or "inputs" in from_runtime.source
    assert from_runtime.inputs == from_manifest.inputs


BAD_INPUTS = {
    "missing": (lambda x: {"image": x["image"]}, "missing ['tokens']"),
    "unexpected": (
        lambda x: {**x, "text": x["tokens"]},
        "unexpected ['text']",
    ),
    "float_tokens": (
        lambda x: {**x, "tokens": x["tokens"].astype(np.float32)},
        "tokens: dtype float32, expected int32 (floats would be truncated); "
        "convert it with x.astype(np.int32)",
    ),
    "string_image": (
        lambda x: {**x, "image": np.full(x["image"].shape, "a")},
        "image: dtype <U1 (text), expected float32",
    ),
    "bool_image": (lambda x: {**x, "image": x["image"] > 0}, "image: dtype bool, expected float32"),
    "tokens_out_of_int32": (
        lambda x: {**x, "tokens": x["tokens"].astype(np.int64) + 2**40},
        "outside int32's range",
    ),
    "rank": (
        lambda x: {**x, "image": x["image"][0]},
        "image: rank 3 [32, 32, 3], expected rank 4 [batch, 32, 32, 3]",
    ),
    "dims": (
        lambda x: {**x, "image": x["image"][:, :16, :, :1]},
        "image: shape [2, 16, 32, 1]: axis 1 is 16, expected 32; axis 3 is 1, expected 3",
    ),
    "batch": (
        lambda x: {**x, "tokens": x["tokens"][:1]},
        "different batch sizes {'image': 2, 'tokens': 1}",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
@pytest.mark.parametrize("fmt", EXPORTED)
def test_bad_inputs_are_refused_with_the_contract(runners, fmt, case):
    make, problem = BAD_INPUTS[case]
    with pytest.raises(InputContractError) as caught:
        runners[fmt].prepare(make(_inputs(2, seed=1)))
    message = str(caught.value)
    assert problem in caught.value.problems or any(problem in p for p in caught.value.problems)
    assert problem in message
    for line in CONTRACT_LINES:  # the expected contract is printed
        assert line in message
    assert "received:" in message and FORMATS[fmt].artifact in message


@pytest.mark.parametrize("fmt", EXPORTED)
def test_batch_is_free_and_lossless_casts_are_accepted(runners, fmt):
    runner = runners[fmt]
    for batch in (1, 5):
        x = _inputs(batch, seed=batch)
        want = run_once(runner, x)["probabilities"]
        assert want.shape == (batch, 3)
        wide = {"image": x["image"].astype(np.float64), "tokens": x["tokens"].astype(np.int64)}
        np.testing.assert_array_equal(run_once(runner, wide)["probabilities"], want)


def test_check_inputs_without_a_runtime():
    contract = Contract(
        {
            "text": InputSignature("text", (), "string"),
            "pixels": InputSignature("pixels", (None, 4), "float32"),
            "any": InputSignature("any", None, "int32"),
        },
        source="unit test",
    )
    text = np.array(["a", "b"], dtype=object)
    out = check_inputs(
        contract,
        {
            "text": text,
            "pixels": np.zeros((2, 7, 4), np.uint8),  # uint8 → float32 is lossless
            "any": np.zeros((2, 1, 2, 3), np.int16),
        },
    )
    assert out["text"] is text and out["pixels"].dtype == np.float32
    assert out["any"].dtype == np.int32
    with pytest.raises(InputContractError, match=r"text: dtype float32, expected text"):
        check_inputs(contract, {**out, "text": np.zeros(2, np.float32)})
    with pytest.raises(InputContractError, match=r"received list; expected a dict"):
        check_inputs(contract, [out["pixels"]])


# --- item 9: runners shared by threads -------------------------------------------------

THREADS, CALLS = 8, 4


def _concurrent_matches_serial(runner) -> list[object]:
    """8 threads x 4 calls on different inputs, started together, vs serial outputs.

    Returns what each thread saw as ``runner.interpreter`` (TFLite) or ``None``.
    """
    # batch sizes differ between threads: one LiteRT interpreter shared by these threads
    # (its tensors resized under another's feet) gave 9-12 wrong outputs of 32 when tried
    work = {
        (t, c): _inputs(2 + t % 3, seed=100 * t + c) for t in range(THREADS) for c in range(CALLS)
    }
    serial = {key: run_once(runner, x)["probabilities"] for key, x in work.items()}
    assert len({v.tobytes() for v in serial.values()}) == len(work)  # inputs differ
    barrier = threading.Barrier(THREADS, timeout=120)

    def thread(t: int) -> tuple[dict, object]:
        barrier.wait()
        got = {(t, c): run_once(runner, work[(t, c)])["probabilities"] for c in range(CALLS)}
        return got, getattr(runner, "interpreter", None)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(thread, range(THREADS)))
    for got, _ in results:
        for key, value in got.items():
            np.testing.assert_array_equal(value, serial[key], err_msg=str(key))  # bitwise
    return [seen for _, seen in results]


def test_one_onnx_session_shared_by_8_threads_matches_serial(runners):
    _concurrent_matches_serial(runners["onnx:fp32"])


def test_tflite_runner_gives_each_thread_its_own_interpreter(runners):
    runner = runners["tflite:fp32"]
    seen = _concurrent_matches_serial(runner)
    assert len({id(i) for i in [*seen, runner.interpreter]}) == THREADS + 1


def test_saved_model_runner_shared_by_8_threads_matches_serial(runners):
    _concurrent_matches_serial(runners["saved_model"])

"""zoo.training.distribute: MirroredStrategy on 2 logical CPUs, two MultiWorkerMirroredStrategy
workers on 127.0.0.1, and the errors for bad strategies, TF_CONFIG and device setup.

TensorFlow runs in subprocesses (tests/_distributed_worker.py) wherever the device
configuration or TF_CONFIG matters: both are fixed once per process. Every worker runs under
``timeout -k`` (a MultiWorkerMirroredStrategy worker waiting for a dead peer ignores SIGTERM)
and in its own process group, killed on failure.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zoo.errors import ZooError
from zoo.training.distribute import STRATEGIES, configure_cpu_devices, custom_fit, make_strategy

WORKER = Path(__file__).with_name("_distributed_worker.py")
LIMIT = 120  # seconds per worker process (coreutils timeout), SIGKILL 10 s later

#: Largest max-abs weight difference allowed after 2 epochs × 3 steps (global batch 8).
TOL = {
    "same_weights": 1e-7,  # the workers of one cluster: the same all-reduced updates
    "vs_single_device": 1e-6,  # a different summation order of the same gradients
    "loss": 1e-5,  # epoch losses, float32 sums over batches
}
#: The training must move the weights by more than this, or equality would prove nothing.
MOVED = 1e-3


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def _start(mode: str, out: Path, env: dict[str, str], log: str) -> subprocess.Popen:
    cmd = ["timeout", "-k", "10", str(LIMIT), sys.executable, str(WORKER), mode, str(out)]
    with open(out / log, "w") as sink:
        return subprocess.Popen(
            cmd, env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, to kill it with its children
        )  # fmt: skip


def _wait(procs: dict[str, subprocess.Popen], out: Path) -> dict[str, int]:
    """Return codes by name; on a timeout kill every process group."""
    codes = {}
    deadline = time.monotonic() + LIMIT + 30
    try:
        for name, proc in procs.items():
            codes[name] = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return codes


def _log_tails(out: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(out.glob("*.log")))


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _cluster_envs(n: int) -> list[dict[str, str]]:
    workers = [f"127.0.0.1:{port}" for port in _free_ports(n)]
    return [
        _env(
            TF_CONFIG=json.dumps(
                {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}
            )
        )
        for i in range(n)
    ]


def _load(out: Path, name: str) -> tuple[dict, list, list]:
    import numpy as np

    info = json.loads((out / f"{name}.json").read_text())
    arrays = np.load(out / f"{name}.npz")
    count = sum(1 for key in arrays if key.startswith("w_"))
    return (
        info,
        [arrays[f"init_{i}"] for i in range(count)],
        [arrays[f"w_{i}"] for i in range(count)],
    )


def _max_diff(a: list, b: list) -> float:
    import numpy as np

    assert len(a) == len(b)
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))


def _close(history: dict, reference: dict) -> bool:
    return set(history) <= set(reference) and all(
        abs(x - y) <= TOL["loss"]
        for key in history
        for x, y in zip(history[key], reference[key], strict=True)
    )


# --------------------------------------------------------------------------- MirroredStrategy


@pytest.mark.heavy
def test_mirrored_on_two_logical_cpus_equals_one_device(tmp_path):
    t0 = time.perf_counter()
    proc = _start("mirrored", tmp_path, _env(), "mirrored.log")
    codes = _wait({"mirrored": proc}, tmp_path)
    assert codes == {"mirrored": 0}, _log_tails(tmp_path)
    keras_ref, init, reference = _load(tmp_path, "single_keras")
    assert keras_ref["replicas"] == 1
    assert _max_diff(reference, init) > MOVED
    diffs = {}
    for name in ("mirrored_keras", "mirrored_custom", "single_custom"):
        info, their_init, weights = _load(tmp_path, name)
        assert _max_diff(their_init, init) == 0.0, name
        diffs[name] = _max_diff(weights, reference)
        assert info["replicas"] == (2 if name.startswith("mirrored") else 1), name
        assert info["is_chief"] and not info["uses_custom_loop"], name
        assert _close(info["history"], keras_ref["history"]), (name, info["history"])
    # an L2 penalty (model.losses) and a last batch of 5 split 3 + 2 over the replicas
    reg_ref, reg_init, reg_weights = _load(tmp_path, "reg_single_keras")
    reg, reg_their_init, reg_custom = _load(tmp_path, "reg_mirrored_custom")
    assert reg["replicas"] == 2 and _max_diff(reg_their_init, reg_init) == 0.0
    assert _max_diff(reg_weights, reg_init) > MOVED
    assert _close(reg["history"], reg_ref["history"]), (reg, reg_ref)
    diffs["reg_mirrored_custom"] = _max_diff(reg_custom, reg_weights)
    print(f"\nmax |w - w_single_keras|: {diffs}; {time.perf_counter() - t0:.1f} s")
    assert max(diffs.values()) <= TOL["vs_single_device"], diffs


# ----------------------------------------------------------------- MultiWorkerMirroredStrategy


@pytest.mark.heavy
def test_two_workers_end_equal_to_one_process_with_the_same_global_batch(tmp_path):
    t0 = time.perf_counter()
    procs = {f"worker{i}": _start("multiworker", tmp_path, env, f"worker{i}.log")
             for i, env in enumerate(_cluster_envs(2))}  # fmt: skip
    procs["single"] = _start("single", tmp_path, _env(), "single.log")
    codes = _wait(procs, tmp_path)
    wall = time.perf_counter() - t0
    assert codes == dict.fromkeys(procs, 0), _log_tails(tmp_path)

    keras_ref, init, reference = _load(tmp_path, "single_keras")
    custom_ref, custom_init, custom_weights = _load(tmp_path, "single_custom")
    w0_info, w0_init, w0 = _load(tmp_path, "worker0")
    w1_info, w1_init, w1 = _load(tmp_path, "worker1")
    assert _max_diff(reference, init) > MOVED
    assert _max_diff(w0_init, init) == _max_diff(w1_init, init) == _max_diff(custom_init, init) == 0

    between = _max_diff(w0, w1)
    vs_custom, vs_keras = _max_diff(w0, custom_weights), _max_diff(w0, reference)
    print(f"\nworkers: {between}; vs single custom_fit {vs_custom}; vs single Keras fit "
          f"{vs_keras}; wall {wall:.1f} s")  # fmt: skip
    assert between <= TOL["same_weights"]
    assert vs_custom <= TOL["vs_single_device"] and vs_keras <= TOL["vs_single_device"]
    assert w0_info["history"] == w1_info["history"]
    assert _close(w0_info["history"], keras_ref["history"]), (w0_info, keras_ref)
    assert _close(custom_ref["history"], keras_ref["history"]), (custom_ref, keras_ref)

    assert (w0_info["replicas"], w1_info["replicas"]) == (2, 2)
    assert (w0_info["is_chief"], w1_info["is_chief"]) == (True, False)
    assert w0_info["uses_custom_loop"] and w1_info["uses_custom_loop"]
    assert not keras_ref["uses_custom_loop"]
    # each worker takes its half of every global batch of 8
    assert w0_info["seen"] == [[0, 1, 2, 3], [8, 9, 10, 11], [16, 17, 18, 19]]
    assert w1_info["seen"] == [[4, 5, 6, 7], [12, 13, 14, 15], [20, 21, 22, 23]]


@pytest.mark.heavy
def test_keras_fit_under_multiworker_still_crashes(tmp_path):
    """keras-team/keras#20585. Once this fails, Keras fit works: uses_custom_loop can say False."""
    procs = {f"worker{i}": _start("keras_fit", tmp_path, env, f"worker{i}.log")
             for i, env in enumerate(_cluster_envs(2))}  # fmt: skip
    codes = _wait(procs, tmp_path)
    assert codes == {"worker0": 3, "worker1": 3}, _log_tails(tmp_path)
    for i in range(2):
        error = json.loads((tmp_path / f"keras_fit{i}.error").read_text())
        assert "PerReplica" in error["error"] and "unsupported type" in error["error"], error


# ----------------------------------------------------------------------------------- errors


def test_unknown_strategy_lists_the_choices():
    with pytest.raises(ZooError, match=r"'mirorred'.*none, mirrored, multiworker.*'mirrored'"):
        make_strategy("mirorred")
    assert STRATEGIES == ("none", "mirrored", "multiworker")


@pytest.mark.parametrize(
    ("tf_config", "expected"),
    [
        (None, "needs the TF_CONFIG environment variable"),
        ("", "needs the TF_CONFIG environment variable"),
        ("{cluster", "not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "no 'cluster'"),
        ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "no 'task'"),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
            "'chief' is not",
        ),
        (
            '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
            "out of range",
        ),
    ],
)
def test_multiworker_needs_a_valid_tf_config(monkeypatch, tf_config, expected):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ZooError, match=expected) as caught:
        make_strategy("multiworker")
    assert '"cluster": {"worker": ["127.0.0.1:12345"' in str(caught.value)  # the example


@pytest.mark.parametrize("n", [0, -1, 1.5, "2", True])
def test_configure_cpu_devices_wants_a_positive_int(n):
    with pytest.raises(ZooError, match=r"expected an int >= 1"):
        configure_cpu_devices(n)


@pytest.mark.parametrize(("epochs", "steps"), [(0, None), (1, 0), (2.0, None), (1, "3")])
def test_custom_fit_wants_positive_counts(epochs, steps):
    with pytest.raises(ZooError, match=r"expected an int >= 1"):
        custom_fit(None, None, strategy=None, epochs=epochs, steps_per_epoch=steps)


AFTER_INIT = """
import json, keras, tensorflow as tf
from zoo.errors import ZooError
from zoo.training.distribute import (
    configure_cpu_devices, custom_fit, is_chief, make_strategy, uses_custom_loop)
tf.constant(1.0)  # TensorFlow initialises its devices: one CPU
configure_cpu_devices(1)  # the count it has: a no-op
found = {"cpus": len(tf.config.list_logical_devices("CPU"))}
dense = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="out")])
compiled = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="out")])
compiled.compile(optimizer="sgd", loss="mse")
one_cpu = tf.distribute.MirroredStrategy(["/cpu:0"])  # the model was built outside its scope
for name, call in [
    ("configure", lambda: configure_cpu_devices(2)),
    ("mirrored", lambda: make_strategy("mirrored")),
    ("uncompiled", lambda: custom_fit(dense, None, strategy=make_strategy("none"), epochs=1)),
    ("scope", lambda: custom_fit(compiled, None, strategy=one_cpu, epochs=1)),
]:
    try:
        call()
        found[name] = None
    except ZooError as error:
        found[name] = str(error)
default = make_strategy("none")
found["default"] = [is_chief(default), uses_custom_loop(default), default.num_replicas_in_sync]
print(json.dumps(found))
"""


def test_devices_cannot_be_split_after_tensorflow_started():
    proc = subprocess.run(
        [sys.executable, "-c", AFTER_INIT], capture_output=True, text=True, env=_env(),
        timeout=LIMIT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["cpus"] == 1
    for key in ("configure", "mirrored"):
        assert "already initialised its devices with 1 logical CPU" in found[key], found
        assert "expected 2" in found[key] and "fresh process" in found[key], found
    assert "is not compiled" in found["uncompiled"], found
    assert "not created under the strategy passed (MirroredStrategy)" in found["scope"], found
    assert found["default"] == [True, False, 1]

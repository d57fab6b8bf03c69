"""``zoo fit --strategy mirrored|multiworker`` end to end, each in fresh processes.

The numerics (weights equal to one device to ~1e-6) are proved in test_distributed.py; here
the command itself runs under each strategy: two logical CPUs, and two worker processes on
127.0.0.1 of which only the chief writes the run folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_distributed import LIMIT, _cluster_envs, _env, _log_tails, _wait

FIT = [
    "fit",
    "cnn_lstm_fusion_tiny",
    "--data",
    "digit-pairs",
    "--epochs",
    "2",
    "--limit",
    "64",
    "--batch-size",
    "8",
]


def _zoo(args: list[str], out: Path, env: dict[str, str], log: str) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("zoo")
    cmd = ["timeout", "-k", "10", str(LIMIT), str(exe), *args]
    with open(out / log, "w") as sink:
        return subprocess.Popen(
            cmd,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _metrics_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "probabilities" in line]


@pytest.mark.heavy
def test_fit_mirrored_on_two_logical_cpus(tmp_path):
    runs = tmp_path / "runs"
    procs = {
        "mirrored": _zoo(
            [*FIT, "--strategy", "mirrored", "--out", str(runs)], tmp_path, _env(), "mirrored.log"
        )
    }
    assert _wait(procs, tmp_path) == {"mirrored": 0}, _log_tails(tmp_path)
    (run,) = runs.iterdir()
    record = json.loads((run / "run.json").read_text())
    assert record["strategy"] == {"kind": "mirrored", "class": "MirroredStrategy", "replicas": 2}
    assert len(json.loads((run / "metrics.json").read_text())["history"]["loss"]) == 2


@pytest.mark.heavy
def test_fit_multiworker_two_processes_chief_writes_the_run(tmp_path):
    runs = tmp_path / "runs"
    procs = {
        f"worker{i}": _zoo(
            [*FIT, "--strategy", "multiworker", "--out", str(runs)], tmp_path, env, f"worker{i}.log"
        )
        for i, env in enumerate(_cluster_envs(2))
    }
    assert _wait(procs, tmp_path) == {"worker0": 0, "worker1": 0}, _log_tails(tmp_path)
    (run,) = runs.iterdir()  # the chief's only: worker 1 writes nothing
    record = json.loads((run / "run.json").read_text())
    assert record["strategy"]["class"] == "MultiWorkerMirroredStrategy"
    assert record["strategy"]["replicas"] == 2
    # the custom loop's own CSV log and best-epoch restore (Keras callbacks do not run there)
    csv = (run / "history.csv").read_text().splitlines()
    assert csv[0] == "epoch,loss,val_loss" and len(csv) == 3
    # both workers end with the same weights, so they score the test split alike
    chief, other = (_metrics_lines(tmp_path / f"worker{i}.log") for i in range(2))
    assert chief and chief == other
    assert "run folder: (not written)" in (tmp_path / "worker1.log").read_text()

"""Benchmark runner: statistics, the adaptive loop, workers, backends, reports."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from zoo.benchmarks import Plan, Row, recommend, run
from zoo.benchmarks._backends import backends_for
from zoo.benchmarks._measure import adaptive, bare_loop_ms
from zoo.benchmarks._run import _jobs
from zoo.benchmarks._stats import median_ci, summarize
from zoo.benchmarks._worker import run_job
from zoo.exporters import sample_inputs

from zoo import ZooError
from zoo._registry import REGISTRY

NAME = "cnn_lstm_fusion_tiny"


class Sleeper:
    """A runner whose call takes a known time."""

    def __init__(self, seconds: float = 0.0):
        self.seconds, self.calls, self.prepared = seconds, 0, 0

    def prepare(self, inputs):
        self.prepared += 1
        return inputs

    def run(self, prepared):
        self.calls += 1
        if self.seconds:
            time.sleep(self.seconds)
        return prepared


def test_summarize_known_samples():
    samples_ns = [i * 1_000_000 for i in range(1, 101)]  # 1..100 ms
    s = summarize(samples_ns, batch=4)
    assert s.n == 100
    assert s.p50_ms == pytest.approx(50.5)
    assert s.p90_ms == pytest.approx(90.1)
    assert s.p99_ms == pytest.approx(99.01)
    assert s.mean_ms == pytest.approx(50.5)
    assert s.items_per_s == pytest.approx(4 * 1000 / 50.5)
    assert s.ci95_low_ms < s.p50_ms < s.ci95_high_ms


def test_median_ci_covers_the_median_about_95_percent():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):
        x = np.sort(rng.exponential(1.0, size=101))
        lo, hi = median_ci(x)
        hits += lo <= np.log(2) <= hi
    assert 0.92 <= hits / 400 <= 0.99


def test_summarize_rejects_empty():
    with pytest.raises(ValueError, match="no timing samples"):
        summarize([])


def test_adaptive_excludes_warmup_and_stops_when_the_median_is_tight():
    runner = Sleeper(0.001)
    samples = adaptive(runner, {}, warmup=4, min_iters=20, max_iters=500, max_seconds=30)
    assert 20 <= len(samples) < 500
    assert len(samples) % 10 == 0
    assert runner.calls == 4 + len(samples)
    assert np.median(samples) >= 1_000_000


def test_adaptive_respects_the_caps():
    assert len(adaptive(Sleeper(), {}, warmup=0, min_iters=50, max_iters=7, max_seconds=30)) == 7
    capped = adaptive(Sleeper(0.02), {}, warmup=0, min_iters=1000, max_iters=1000, max_seconds=0.1)
    assert 5 <= len(capped) < 20


def test_bare_loop_measures_the_same_call():
    ms = bare_loop_ms(Sleeper(0.002), {}, calls=10)
    assert 2.0 <= ms < 20.0


def test_plan_defaults_and_overrides():
    full = Plan.make(quick=False)
    assert full.batches == (1, 8, 32) and 1 in full.threads
    quick = Plan.make(quick=True, batches=[2, 4], iters=5)
    assert quick.batches == (2, 4) and quick.max_iters == 5 and quick.min_iters <= 5


def test_backends_follow_the_exported_formats():
    names = [b.name for b in backends_for(["keras", "saved_model"])]
    assert names == ["keras_predict", "keras_call", "tf_function", "xla", "saved_model"]
    assert [b.name for b in backends_for(["saved_model"])] == ["saved_model"]


def test_reference_job_added_when_keras_call_not_chosen():
    available = backends_for(["keras", "saved_model"])
    chosen = [b for b in available if b.name == "saved_model"]
    jobs = _jobs(chosen, Plan.make(quick=True, threads=[1, 2]), available)
    assert [(j[0].name, j[3]) for j in jobs] == [
        ("keras_call", False),
        ("saved_model", True),
        ("saved_model", True),
    ]


def _row(backend, precision, p50, *, parity=True, batch=1, threads=2):
    row = Row(backend, "rt", precision, "", batch, threads, parity_ok=parity)
    row.stats = summarize([int(p50 * 1e6)] * 3, batch)
    return row


def test_recommend_takes_the_fastest_with_parity_per_precision():
    rows = [
        _row("a", "fp32", 5.0),
        _row("b", "fp32", 3.0),
        _row("c", "fp32", 1.0, parity=False),
        _row("d", "int8", 2.0),
        _row("e", "fp32", 0.5, batch=8),
    ]
    assert recommend(rows) == {"fp32": "b", "int8": "d"}


@pytest.fixture
def exported(fusion_export):
    """NAME exported in all its formats: conftest's one shared, read-only export."""
    return fusion_export


@pytest.mark.parametrize("backend", ["keras_predict", "tf_function", "saved_model"])
def test_worker_job_in_process(backend, exported, tmp_path):
    x = sample_inputs(REGISTRY.get(NAME).recipe.inputs, 2, seed=0)
    np.savez(tmp_path / "in.npz", **x)
    fmt = "keras" if backend != "saved_model" else "saved_model"
    job = {
        "backend": backend,
        "formats": list(exported.manifest["artifacts"]),
        "artifact": str(exported.path / exported.manifest["artifacts"][fmt]["path"]),
        "inputs": str(tmp_path / "in.npz"),
        "outputs": str(tmp_path / "out.npz"),
        "threads": 1,
        "warmup": 1,
        "min_iters": 3,
        "max_iters": 3,
        "max_seconds": 10,
        "target_ci": 0.02,
        "self_check": True,
        "spawn_ns": time.time_ns(),
        "configure_threads": False,  # TF already runs in this test process
    }
    result = run_job(job)
    assert len(result["samples_ns"]) == 3
    assert result["cold_start_ms"]["total"] >= result["cold_start_ms"]["load"] > 0
    assert result["peak_rss_mb"] > 0
    assert result["self_check"]["ratio"] > 0
    with np.load(tmp_path / "out.npz") as out:
        assert out["probabilities"].shape == (2, 3)


def test_run_writes_parseable_reports(tmp_path):
    result = run(NAME, backends=["keras_call", "saved_model"], quick=True, iters=3, out=tmp_path)
    data = json.loads((result.run_dir / "results.json").read_text())
    assert next(iter(data)) == "schema_version" and data["schema_version"] == 1
    assert [r["backend"] for r in data["rows"]] == ["keras_call", "saved_model"]
    for row in data["rows"]:
        assert row["stats"]["n"] == 3
        assert row["max_abs_vs_keras"] <= 1e-5 and row["parity_ok"]
        assert row["cold_start_ms"]["total"] > 0 and row["peak_rss_mb"] > 0
    assert data["recommended"]["fp32"] in ("keras_call", "saved_model")
    assert data["environment"]["cpu"]["cores"] >= 1
    assert (result.run_dir / "results.csv").read_text().count("\n") == 3
    assert "| saved_model | fp32 | 1 |" in (result.run_dir / "report.md").read_text()


def test_a_stored_export_is_reused_by_content_key_not_copied_per_run(tmp_path):
    from zoo.benchmarks._run import _artifacts

    def bench():
        return run(
            NAME, backends=["keras_call"], formats=["keras"], quick=True, iters=3, out=tmp_path
        )

    first = bench()  # exports into the store
    export = _export_of(first)
    assert export["reused"] is False and export["source"] == "store"
    assert Path(export["path"]).parent.parent == tmp_path / ".exports"
    link = first.run_dir / "artifacts"
    assert link.is_symlink() and (link / NAME / "manifest.json").is_file()

    def artifacts(seed=0, reuse=True):
        origin = _artifacts(NAME, tmp_path, "stamp", seed, ["keras"], {}, reuse=reuse)[2]
        return origin["key"] == export["key"], origin["reused"]

    assert artifacts() == (True, True)  # a second run times the stored export again
    assert (tmp_path / f"stamp-{NAME}" / "artifacts" / NAME / "manifest.json").is_file()
    assert len(list((tmp_path / ".exports").iterdir())) == 1  # one copy for both runs
    keras_file = Path(export["path"]) / "model.keras"
    keras_file.write_bytes(keras_file.read_bytes() + b"tampered")
    assert artifacts() == (True, False)  # a torn stored export is exported again
    assert artifacts() == (True, True)
    assert artifacts(reuse=False) == (True, False)
    assert artifacts(seed=1) == (False, False)


def _export_of(result):
    return json.loads((result.run_dir / "results.json").read_text())["export"]


def test_unknown_backend_is_rejected_before_measuring(tmp_path):
    with pytest.raises(ZooError, match="Did you mean 'saved_model'"):
        run(NAME, backends=["saved_modle"], out=tmp_path, quick=True)


def test_worker_peak_rss_is_its_own_not_the_parents():
    """ru_maxrss survives fork + exec; a worker must not report its parent's memory."""
    import subprocess
    import sys

    held = bytearray(400 * 1024**2)
    held[::4096] = b"\x01" * len(held[::4096])  # touch every page: 400 MB resident here
    code = "from zoo.benchmarks._worker import peak_rss_mb; print(peak_rss_mb())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 0 < float(out.stdout) < 300, out.stdout
    del held


def test_an_export_error_in_the_child_comes_back_as_a_zoo_error(tmp_path):
    from zoo.benchmarks import _store

    with pytest.raises(ZooError, match=r"num_clases.*Did you mean 'num_classes'"):
        _store.export_apart(NAME, tmp_path, formats=["keras"], seed=0, overrides={"num_clases": 2})
    assert not (tmp_path / NAME).exists()


def _die(*args):
    """Stands in for the export job: the child dies the way an OOM kill ends it."""
    import os

    os._exit(137)


def test_an_export_child_that_dies_is_an_error_not_a_hang(tmp_path, monkeypatch):
    from zoo.benchmarks import _store

    monkeypatch.setattr(_store, "_export_job", _die)
    with pytest.raises(ZooError, match=r"died in its child process.*killed for memory"):
        _store.export_apart(NAME, tmp_path, formats=["keras"], seed=0, overrides={})
    assert not (tmp_path / NAME).exists()

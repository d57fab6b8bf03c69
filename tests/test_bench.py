"""Benchmark runner: statistics on known samples, backend contract, report files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import BACKENDS, measure, run
from benchmarks._backends import Context
from benchmarks._stats import median_ci, summarize
from export import sample_inputs
from zoo import ZooError
from zoo._registry import REGISTRY

NAME = "cnn_lstm_fusion_tiny"


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


def test_measure_excludes_warmup_and_prepares_once():
    calls = {"prepare": 0, "run": 0}

    class Counting:
        def prepare(self, inputs):
            calls["prepare"] += 1
            return inputs

        def run(self, prepared):
            calls["run"] += 1
            return prepared

    samples = measure(Counting(), {"x": np.zeros(1)}, warmup=4, iters=7)
    assert len(samples) == 7
    assert calls == {"prepare": 1, "run": 11}
    assert all(s > 0 for s in samples)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_every_backend_returns_the_recipe_outputs(backend, tmp_path):
    import zoo
    from export import export_model

    result = export_model(NAME, tmp_path, formats=["saved_model"], seed=0)
    factory, _ = BACKENDS[backend]
    runner = factory(Context(result.model, result.path, result.manifest))
    x = sample_inputs(REGISTRY.get(NAME).recipe.inputs, 2, seed=0)
    out = runner.run(runner.prepare(x))
    assert set(out) == set(zoo.info(NAME)["outputs"])
    assert out["probabilities"].shape == (2, 3)


def test_quick_run_writes_parseable_reports(tmp_path):
    result = run(NAME, quick=True, iters=5, warmup=1, out=tmp_path)
    data = json.loads((result.run_dir / "results.json").read_text())
    assert [r["backend"] for r in data["rows"]] == list(BACKENDS)
    for row in data["rows"]:
        assert row["stats"]["n"] == 5
        assert row["stats"]["p50_ms"] > 0
        assert row["max_abs_vs_keras"] <= 1e-5
    assert data["environment"]["cpu"]["cores"] >= 1
    assert data["export_parity_max_abs"]["saved_model"] <= 1e-5
    report = (result.run_dir / "report.md").read_text()
    assert "| saved_model | 1 |" in report
    assert (result.run_dir / "artifacts" / NAME / "manifest.json").is_file()


def test_bench_an_existing_export_folder(tmp_path):
    from export import export_model

    exported = export_model(NAME, tmp_path / "art", seed=0)
    result = run(str(exported.path), iters=3, warmup=1, out=tmp_path / "runs")
    assert result.name == NAME
    assert all(r.stats is not None and r.stats.n == 3 for r in result.rows)


def test_unknown_backend_is_rejected(tmp_path):
    with pytest.raises(ZooError, match="Did you mean 'saved_model'"):
        run(NAME, backends=["saved_modle"], out=tmp_path)
    assert list(tmp_path.iterdir()) == []

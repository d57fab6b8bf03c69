"""Memory does not grow over repeated build/load-and-drop cycles, and a leak is caught.

Slopes are least-squares RSS growth per iteration after a warm-up
(:func:`zoo.benchmarks.memory.rss_slope`), bounded per runtime by
:data:`~zoo.benchmarks.memory.LEAK_BOUNDS_MB`. The runtimes run in fresh processes: the
ones without TensorFlow (LiteRT, onnxruntime, OpenVINO) 50 cycles each, the TensorFlow ones
(build, .keras file, SavedModel; about 1 s a cycle) 8 each to keep the suite short
(``python -m zoo.benchmarks.memory`` runs 50 of each; README, "Memory").
"""

from __future__ import annotations

import numpy as np
import pytest
from zoo.benchmarks.memory import (
    LEAK_BOUNDS_MB,
    RUNTIMES,
    artifact_path,
    example_inputs,
    least_squares_slope,
    measure_isolated,
    rss_slope,
)

from zoo.errors import ZooError

MODEL = "cnn_lstm_fusion_tiny"
BOUND = min(LEAK_BOUNDS_MB.values())


def test_least_squares_slope():
    assert least_squares_slope([5.0, 5.0, 5.0]) == 0.0
    assert least_squares_slope([0.0, 1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert least_squares_slope([0.0, 2.0, 1.0, 3.0]) == pytest.approx(0.8)


def test_bad_iteration_counts_are_refused():
    with pytest.raises(ZooError, match="at least 2 iterations after it"):
        rss_slope(lambda: None, n=5, warmup=4)


def test_a_leaking_cycle_breaks_every_bound():
    """The check can fail: a cycle keeping 1 MB of touched memory each call is flagged."""
    hoard = []
    result = rss_slope(lambda: hoard.append(np.ones(2**17)), n=10, warmup=2, name="leak")
    assert result.slope_mb == pytest.approx(1.0, abs=0.2)
    assert result.slope_mb > max(LEAK_BOUNDS_MB.values())
    assert len(result.rss_mb) == 10 and result.growth_mb > 6


def test_a_steady_cycle_is_flat():
    scratch = []
    result = rss_slope(lambda: scratch.append(np.ones(2**17)) or scratch.clear(), n=10, warmup=2)
    assert abs(result.slope_mb) < BOUND


@pytest.mark.parametrize("runtime", ["litert", "onnxruntime"])
def test_keeping_every_loaded_artifact_breaks_the_bound(fusion_export, runtime):
    """A real-runtime leak (a cache that never lets go of loaded models) is caught."""
    from zoo.exporters import load_runner, run_once

    fmt = str(RUNTIMES[runtime])
    artifact, inputs = artifact_path(fusion_export.path, fmt), example_inputs(fusion_export.path)
    kept = []

    def keep() -> None:
        runner = load_runner(fmt, artifact)
        run_once(runner, inputs)
        kept.append(runner)

    leaked = rss_slope(keep, n=8, warmup=2)
    assert leaked.slope_mb > LEAK_BOUNDS_MB[runtime], leaked  # dropped: the next two tests


def test_runtimes_without_tensorflow_do_not_leak(fusion_export):
    """LiteRT, onnxruntime and OpenVINO: 50 load-run-drop cycles each, one fresh process."""
    results = measure_isolated(
        ["litert", "onnxruntime", "openvino"], fusion_export.path, model=MODEL, n=50, warmup=5
    )
    for r in results:
        assert len(r.rss_mb) == 50
        assert r.slope_mb < LEAK_BOUNDS_MB[r.name], r


def test_tensorflow_runtimes_do_not_leak(fusion_export):
    """Build + clear_session, .keras load, SavedModel load: 8 cycles each, one process."""
    results = measure_isolated(
        ["keras_build", "keras_file", "saved_model"],
        fusion_export.path,
        model=MODEL,
        n=8,
        warmup=2,
    )
    assert [r.name for r in results] == ["keras_build", "keras_file", "saved_model"]
    for r in results:
        assert r.slope_mb < LEAK_BOUNDS_MB[r.name], r

"""The timing loop shared by every backend: warm-up, adaptive iterations, self-check."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from zoo.benchmarks._stats import median_ci
from zoo.exporters import Runner

#: Never fewer timed calls than this, whatever the time cap says.
MIN_CALLS = 5


def adaptive(
    runner: Runner,
    prepared: Any,
    *,
    warmup: int,
    min_iters: int,
    max_iters: int,
    max_seconds: float,
    target_ci: float = 0.02,
) -> list[int]:
    """Time ``runner.run(prepared)`` until the median is known well enough.

    Stops when the 95% confidence interval of the median is within ``±target_ci`` of the
    median (checked every 10 calls once ``min_iters`` calls were made), or after
    ``max_iters`` calls, or once ``max_seconds`` have passed (but never before
    :data:`MIN_CALLS` calls).

    Returns:
        Per-call nanoseconds (``time.perf_counter_ns``), warm-up excluded.
    """
    for _ in range(warmup):
        runner.run(prepared)
    samples: list[int] = []
    deadline = time.perf_counter_ns() + int(max_seconds * 1e9)
    while len(samples) < max(max_iters, 1):
        start = time.perf_counter_ns()
        runner.run(prepared)
        end = time.perf_counter_ns()
        samples.append(end - start)
        n = len(samples)
        if n >= min_iters and n % 10 == 0 and converged(samples, target_ci):
            break
        if end > deadline and n >= MIN_CALLS:
            break
    return samples


def converged(samples: list[int], target_ci: float) -> bool:
    """Whether the 95% CI of the median is within ``±target_ci`` of the median."""
    ordered = np.sort(np.asarray(samples, dtype=np.float64))
    lo, hi = median_ci(ordered)
    median = float(np.median(ordered))
    return median > 0 and (hi - lo) / 2 <= target_ci * median


def bare_loop_ms(runner: Runner, prepared: Any, calls: int) -> float:
    """Mean milliseconds per call of a plain ``for`` loop (no per-call timing)."""
    start = time.perf_counter_ns()
    for _ in range(calls):
        runner.run(prepared)
    return (time.perf_counter_ns() - start) / calls / 1e6

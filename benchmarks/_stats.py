"""Latency statistics on nanosecond samples."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Stats:
    """Summary of one timed series (milliseconds; throughput in items per second)."""

    n: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    ci95_low_ms: float
    ci95_high_ms: float
    items_per_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def median_ci(sorted_ms: np.ndarray, z: float = 1.96) -> tuple[float, float]:
    """Distribution-free 95% confidence interval of the median (order statistics).

    The ranks ``n/2 ± z·sqrt(n)/2`` bound the median with ~95% coverage for any
    continuous distribution.
    """
    n = len(sorted_ms)
    half = z * math.sqrt(n) / 2
    lo = max(math.floor(n / 2 - half), 0)
    hi = min(math.ceil(n / 2 + half), n - 1)
    return float(sorted_ms[lo]), float(sorted_ms[hi])


def summarize(samples_ns: list[int] | np.ndarray, batch: int = 1) -> Stats:
    """Summarize per-call times in nanoseconds for calls of ``batch`` items."""
    ms = np.sort(np.asarray(samples_ns, dtype=np.float64) / 1e6)
    if ms.size == 0:
        raise ValueError("no timing samples; expected at least one timed call.")
    p50, p90, p99 = (float(np.percentile(ms, q)) for q in (50, 90, 99))
    lo, hi = median_ci(ms)
    return Stats(
        n=int(ms.size),
        p50_ms=p50,
        p90_ms=p90,
        p99_ms=p99,
        mean_ms=float(ms.mean()),
        std_ms=float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
        ci95_low_ms=lo,
        ci95_high_ms=hi,
        items_per_s=batch * 1000.0 / p50 if p50 > 0 else float("inf"),
    )

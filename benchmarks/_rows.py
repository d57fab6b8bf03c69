"""What a benchmark run plans and measures, held in memory.

:class:`Plan` (how much to measure), :class:`Row` (one backend at one batch size and
thread count) and :class:`BenchResult` (the run), written out as ``results.json`` through
:mod:`zoo.benchmarks.results`.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.benchmarks._stats import Stats
from zoo.benchmarks.results import SCHEMA_VERSION, Results, results_from_data


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    batches: tuple[int, ...]
    threads: tuple[int, ...]
    warmup: int
    min_iters: int
    max_iters: int
    max_seconds: float
    target_ci: float = 0.02
    #: Seconds a worker may run before its process group is killed; ``None``: the default,
    #: ``max_seconds * 3 + 600`` (loading a large artifact takes minutes on a busy machine).
    worker_timeout: float | None = None

    @property
    def timeout(self) -> float:
        """Seconds one worker may run (:attr:`worker_timeout`, or the default)."""
        if self.worker_timeout is not None:
            return self.worker_timeout
        return self.max_seconds * 3 + 600

    @classmethod
    def make(
        cls,
        *,
        quick: bool,
        batches: list[int] | None = None,
        threads: list[int] | None = None,
        max_seconds: float | None = None,
        iters: int | None = None,
        warmup: int | None = None,
        worker_timeout: float | None = None,
    ) -> Plan:
        """The default (sweeps) or quick (batch 1, all cores, short) plan, with overrides."""
        cores = os.cpu_count() or 1
        if quick:
            plan = cls((1,), (cores,), warmup=3, min_iters=10, max_iters=200, max_seconds=1.0)
        else:
            plan = cls((1, 8, 32), tuple(sorted({1, cores})), 10, 30, 2000, 5.0)
        return cls(
            tuple(batches) if batches else plan.batches,
            tuple(threads) if threads else plan.threads,
            plan.warmup if warmup is None else warmup,
            plan.min_iters if iters is None else min(plan.min_iters, iters),
            plan.max_iters if iters is None else iters,
            plan.max_seconds if max_seconds is None else max_seconds,
            worker_timeout=worker_timeout,
        )


@dataclass
class Row:
    """One backend at one batch size and thread count."""

    backend: str
    runtime: str
    precision: str
    description: str
    batch: int
    threads: int
    stats: Stats | None = None
    cold_start_ms: dict[str, float] | None = None
    peak_rss_mb: float | None = None
    size_bytes: int | None = None
    max_abs_vs_keras: float | None = None
    parity_ok: bool | None = None
    speedup_vs_predict: float | None = None
    self_check: dict[str, float] | None = None
    skipped: str | None = None
    #: ``True`` when ``skipped`` says why the worker failed (timeout, signal, exit status),
    #: ``False`` when the backend does not apply here.
    failed: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["stats"] = self.stats.as_dict() if self.stats else None
        return data


@dataclass
class BenchResult:
    """Everything one run measured, and where its report went."""

    name: str
    rows: list[Row]
    export: dict[str, Any]
    run_dir: Path
    environment: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    recommended: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The ``results.json`` data: :meth:`record` as plain JSON, ``schema_version`` first."""
        return self.record().as_data()

    def record(self) -> Results:
        """The run as a :class:`~zoo.benchmarks.results.Results` record (created now)."""
        data = {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "settings": self.settings,
            "environment": self.environment,
            "export": self.export,
            "rows": [r.as_dict() for r in self.rows],
            "recommended": self.recommended,
        }
        return results_from_data(data, source=f"results of the {self.name} run")

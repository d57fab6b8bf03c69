"""Latency of one model across backends, measured the same way for each.

Every backend is an ``export._base.Runner``: inputs are converted outside the timed
region (``prepare``), warm-up calls are discarded, each timed call is measured with
``time.perf_counter_ns`` and the outputs are compared with the Keras direct call.

Example:
    >>> from benchmarks import run
    >>> result = run("cnn_lstm_fusion_tiny", quick=True, out="runs")
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._backends import BACKENDS, Context, NotApplicable
from benchmarks._env import fingerprint
from benchmarks._stats import Stats, summarize
from export import MANIFEST, export_model, run_once, sample_inputs
from export._base import Arrays, Runner
from export.tolerances import Tolerance
from export.validate import compare
from zoo._errors import ZooError, did_you_mean
from zoo._recipe import InputSpec

__all__ = ["BACKENDS", "BenchResult", "Row", "measure", "run", "summarize"]

QUICK = {"warmup": 3, "iters": 20}
DEFAULT = {"warmup": 10, "iters": 100}


@dataclass
class Row:
    """One backend's result."""

    backend: str
    description: str
    batch: int
    stats: Stats | None = None
    max_abs_vs_keras: float | None = None
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "description": self.description,
            "batch": self.batch,
            "stats": self.stats.as_dict() if self.stats else None,
            "max_abs_vs_keras": self.max_abs_vs_keras,
            "skipped": self.skipped,
        }


@dataclass
class BenchResult:
    """All rows of a run, the export parity, where the report went, and the environment."""

    name: str
    rows: list[Row]
    export_parity: dict[str, float]
    run_dir: Path
    environment: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows": [r.as_dict() for r in self.rows],
            "export_parity_max_abs": self.export_parity,
            "environment": self.environment,
            "settings": self.settings,
        }


def measure(
    runner: Runner, inputs: Arrays, *, warmup: int, iters: int, max_seconds: float = 60.0
) -> list[int]:
    """Time ``runner.run`` on pre-built inputs; return per-call nanoseconds.

    Args:
        runner: Backend runner.
        inputs: Named NumPy inputs (converted once with ``runner.prepare``).
        warmup: Untimed calls first.
        iters: Timed calls (fewer if ``max_seconds`` runs out, never fewer than 1).
        max_seconds: Time cap of the timed loop.
    """
    prepared = runner.prepare(inputs)
    for _ in range(warmup):
        runner.run(prepared)
    samples: list[int] = []
    deadline = time.perf_counter_ns() + int(max_seconds * 1e9)
    for _ in range(max(iters, 1)):
        start = time.perf_counter_ns()
        runner.run(prepared)
        end = time.perf_counter_ns()
        samples.append(end - start)
        if end > deadline:
            break
    return samples


def run(
    target: str,
    *,
    backends: list[str] | None = None,
    batch: int = 1,
    warmup: int | None = None,
    iters: int | None = None,
    quick: bool = False,
    out: str | Path = "runs",
    seed: int = 0,
    **overrides: Any,
) -> BenchResult:
    """Build (or load), export, validate and time a model on every backend.

    Args:
        target: A registered model name, or a folder written by ``zoo export``.
        backends: Backend names (default: all of :data:`BACKENDS`).
        batch: Batch size of the timed calls.
        warmup: Untimed calls per backend (default 10, quick 3).
        iters: Timed calls per backend (default 100, quick 20).
        quick: Short run, used by the demo and tests.
        out: Reports go to ``out/<timestamp>-<name>/``.
        seed: Seed for building by name and for the inputs.
        **overrides: Parameter overrides when building by name.

    Returns:
        The rows, with ``results.json`` and ``report.md`` written under ``run_dir``.
    """
    names = list(BACKENDS) if backends is None else backends
    for name in names:
        if name not in BACKENDS:
            raise ZooError(
                f"unknown backend {name!r}; expected one of: {', '.join(BACKENDS)}."
                + did_you_mean(name, BACKENDS)
            )
    plan = QUICK if quick else DEFAULT
    warmup = plan["warmup"] if warmup is None else warmup
    iters = plan["iters"] if iters is None else iters

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    ctx, model_name = _context(target, Path(out), stamp, seed, overrides)
    run_dir = Path(out) / f"{stamp}-{model_name}"
    run_dir.mkdir(parents=True, exist_ok=True)

    specs = {k: InputSpec(**v) for k, v in ctx.manifest["inputs"].items()}
    inputs = sample_inputs(specs, batch, seed=seed)
    from export.formats.keras_file import KerasRunner

    reference = run_once(KerasRunner(ctx.model), inputs)
    rows = []
    for name in names:
        factory, description = BACKENDS[name]
        row = Row(name, description, batch)
        try:
            runner = factory(ctx)
        except NotApplicable as exc:
            row.skipped = str(exc)
            rows.append(row)
            continue
        parity = compare(
            reference, run_once(runner, inputs), tol=Tolerance(float("inf")), batch=batch
        )
        row.max_abs_vs_keras = max(p.max_abs for p in parity)
        row.stats = summarize(measure(runner, inputs, warmup=warmup, iters=iters), batch)
        rows.append(row)

    export_parity = {
        fmt: max((p["max_abs"] for p in a.get("parity", [])), default=float("nan"))
        for fmt, a in ctx.manifest.get("artifacts", {}).items()
    }
    result = BenchResult(
        model_name,
        rows,
        export_parity,
        run_dir,
        fingerprint(),
        {"batch": batch, "warmup": warmup, "iters": iters, "seed": seed, "target": target},
    )
    from benchmarks._report import write_report

    write_report(result)
    return result


def _context(
    target: str, out: Path, stamp: str, seed: int, overrides: dict[str, Any]
) -> tuple[Context, str]:
    """Export a registered model (validated) or open an existing artifacts folder."""
    folder = Path(target)
    if (folder / MANIFEST).is_file():
        if overrides:
            raise ZooError(
                "overrides apply when benchmarking a model name, not an artifacts folder."
            )
        manifest = json.loads((folder / MANIFEST).read_text())
        if "keras" not in manifest.get("artifacts", {}):
            raise ZooError(
                f"{folder}: no model.keras in this export; the Keras backends and parity need it. "
                "Re-export with --format all (or include keras)."
            )
        from export import load_runner

        keras_runner = load_runner("keras", folder / manifest["artifacts"]["keras"]["path"])
        return Context(keras_runner.model, folder, manifest), manifest["name"]
    if folder.exists() and folder.is_dir():
        raise ZooError(
            f"{folder} is a folder without {MANIFEST}; expected a model name or a folder "
            "written by zoo export."
        )
    result = export_model(
        target,
        out / f"{stamp}-{target}" / "artifacts",
        formats=["saved_model"],
        seed=seed,
        **overrides,
    )
    return Context(result.model, result.path, result.manifest), target

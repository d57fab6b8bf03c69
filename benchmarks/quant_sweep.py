"""Quantization sweep: accuracy on real held-out data next to latency and size, per format.

``python -m zoo.benchmarks.quant_sweep NAME [--out runs] [--quick] [--limit N]`` (or
``zoo bench NAME --quant-sweep``) trains a classifier's head on its family's real dataset
(:mod:`zoo.benchmarks._sweep_tasks`), exports the trained model to every format (int8
calibration and validation on real training rows), then for every artifact computes the
accuracy on the held-out split in its own runtime, its top-1 agreement with the Keras
model, its size, and its batch-1 p50 latency with :func:`zoo.benchmarks.run` (one fresh worker
process per backend). Results go to ``OUT/<timestamp>-NAME-quant/``: ``quant_sweep.json``,
``quant_sweep.md``, the export under ``artifacts/`` and its latency run under ``bench/``.
Formats the recipe leaves out (e.g. ``tflite:int8`` for BERT) go to ``*-not-in-recipe/``,
formats that fail export validation to ``*-failed-validation/`` (exported again without
validation, so that they can be measured and marked as such).

Example:
    >>> from zoo.benchmarks.quant_sweep import sweep
    >>> result = sweep("bert_classifier_tiny", limit=64, quick=True)  # doctest: +SKIP
    >>> [r.format for r in result.rows][:3]  # doctest: +SKIP
    ['keras', 'saved_model', 'tflite:fp32']
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from zoo.benchmarks._sweep_report import COLUMNS, SweepResult, SweepRow, render, write_report
from zoo.benchmarks._sweep_tasks import SweepDataset, accuracy, load_task, predict, train_head

from zoo.errors import ZooError

if TYPE_CHECKING:
    from zoo.exporters.manifest import ArtifactRecord

#: Benchmark backend that times a format (the Keras file is timed as a direct call).
BENCH_BACKEND = {"keras": "keras_call"}
#: Training rows handed to the export for int8 calibration and validation.
CALIBRATION_ROWS = 256
#: Rows per call when computing accuracy.
EVAL_BATCH = 32

__all__ = ["COLUMNS", "SweepResult", "SweepRow", "main", "render", "sweep", "sweep_formats"]


def sweep(
    name: str,
    *,
    out: str | Path = "runs",
    quick: bool = False,
    limit: int | None = None,
    seed: int = 0,
    epochs: int = 40,
    formats: list[str] | None = None,
    progress: bool = False,
) -> SweepResult:
    """Train, export, and measure accuracy, agreement, size and latency of every format.

    Args:
        name: A registered classifier whose family has a real dataset: ``bert_classifier``
            recipes (VADER sentiment words) or ``resnet50_transfer`` recipes (scikit-learn
            digits).
        out: Parent folder of the run folder ``<timestamp>-NAME-quant``.
        quick: Short latency measurements (≈1 s per backend) instead of the default
            plan's (up to 5 s, CI of the median within ±2%).
        limit: At most this many examples per split (stratified), for quick checks.
        seed: Seed of the data split, the model build and the head training.
        epochs: Head training epochs.
        formats: Format variants to measure (default: every variant zoo implements; those
            the recipe leaves out are exported apart and marked ``not in recipe``).
        progress: Show the benchmark's progress bar.

    Returns:
        The table rows, Keras accuracies, training and data records; ``quant_sweep.json``
        and ``quant_sweep.md`` are in ``result.run_dir``.

    Raises:
        ZooError: unknown model or format, a family without a dataset, or a bad ``limit``.
    """
    import zoo

    start = time.perf_counter()
    timings: dict[str, float] = {}
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    wanted, declared = sweep_formats(name, formats)
    task = load_task(name, limit=limit, seed=seed)
    timings["data"] = _lap(start)
    model = zoo.get(name, seed=seed, **task.overrides)
    learning_rate = zoo.info(name, **task.overrides)["params"].get("learning_rate") or 1e-3
    training = train_head(model, task, epochs=epochs, learning_rate=learning_rate, seed=seed)
    timings["build_and_train"] = _lap(start, timings)
    n_train, n_calib = len(task.y_train), min(CALIBRATION_ROWS, len(task.y_train))
    # Only the calibration rows are needed from here on: let the rest of the inputs go.
    task = replace(task, x_train={k: v[:n_calib].copy() for k, v in task.x_train.items()})
    keras_probs = _keras_probs(model, task)
    keras_acc = accuracy(keras_probs, task.y_test)
    timings["keras_eval"] = _lap(start, timings)

    run_dir = Path(out) / f"{stamp}-{name}-quant"
    run_dir.mkdir(parents=True, exist_ok=True)
    sets = _export(model, run_dir / "artifacts", task, [f for f in wanted if f in declared])
    extra = [f for f in wanted if f not in declared]
    if extra:
        sets += _export(model, run_dir / "artifacts-not-in-recipe", task, extra, declared=False)
    timings["export"] = _lap(start, timings)
    rows = [row for s in sets for row in _accuracy_rows(s, task, keras_probs, keras_acc)]
    timings["artifact_eval"] = _lap(start, timings)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    benches = [
        _latency(
            s,
            rows,
            run_dir / f"bench{s.folder.parent.name.removeprefix('artifacts')}",
            quick=quick,
            seed=seed,
            progress=progress,
        )
        for s in sets
    ]
    _speedups(rows)
    timings["latency"] = _lap(start, timings)
    timings["total"] = round(time.perf_counter() - start, 1)

    from zoo.benchmarks._env import fingerprint

    n = len(task.y_test)
    half = 1.96 * math.sqrt(keras_acc * (1 - keras_acc) / n) * 100
    order = {f: i for i, f in enumerate(wanted)}
    rows.sort(key=lambda r: order[r.format])
    result = SweepResult(
        name,
        run_dir,
        rows,
        {"test_accuracy": keras_acc, "train_accuracy": training.train_accuracy, "test_rows": n},
        training.as_dict(),
        {"dataset": task.dataset, "classes": list(task.class_names), **task.source},
        {
            "quick": quick,
            "limit": limit,
            "seed": seed,
            "epochs": epochs,
            "overrides": task.overrides,
            "formats": wanted,
            "declared_formats": [f for f in wanted if f in declared],
            "eval_batch": EVAL_BATCH,
            "calibration_rows": n_calib,
            "exports": [str(s.folder) for s in sets],
            "bench_runs": [str(b) for b in benches],
        },
        [
            *task.notes,
            f"Keras fp32 (in memory): train accuracy {training.train_accuracy:.4f} on "
            f"{n_train} rows, test accuracy {keras_acc:.4f} on {n} rows "
            f"(binomial 95% CI ±{half:.1f} points; top-1 agreement is the paired comparison).",
            f"training: backbone frozen, head {training.head_layers} "
            f"({training.trainable_parameters:,} weights) fitted on precomputed pooled "
            f"features {training.feature_shape}, {epochs} epochs, Adam {learning_rate:g}.",
            *(note for s in sets for note in s.notes),
            *_quantization_notes({k: v for s in sets for k, v in s.artifacts.items()}),
            f"latency: benchmarks.run on each export folder, batch 1, {os.cpu_count()} "
            f"threads, {'quick' if quick else 'default'} plan, one fresh worker process per "
            f"backend; the keras row is timed as keras_call (direct call); 1-minute load "
            f"average {load:.2f} when timing started (timings on a shared machine are noisy: "
            f"compare ratios within one run). Runs: {', '.join(map(str, benches))}.",
        ],
        timings,
        fingerprint(),
    )
    write_report(result)
    return result


def _lap(start: float, done: dict[str, float] | None = None) -> float:
    return round(time.perf_counter() - start - sum((done or {}).values()), 1)


def _keras_probs(model: Any, task: SweepDataset) -> np.ndarray:
    from zoo.exporters.formats.keras_file import KerasRunner

    return predict(KerasRunner(model), task.x_test, batch=EVAL_BATCH)


def sweep_formats(name: str, formats: list[str] | None = None) -> tuple[list[str], set[str]]:
    """The variants to measure (``keras`` first) and those the model's recipe declares.

    Args:
        name: Registered model name.
        formats: Format or group names; ``None`` for every variant zoo implements.

    Raises:
        ZooError: an unknown format name.

    Example:
        >>> sweep_formats("bert_classifier")[0]
        ['keras', 'saved_model', 'tflite:fp32', 'tflite:fp16', 'tflite:dynamic_int8',
         'tflite:int8', 'onnx:fp32', 'onnx:int8']
    """
    from zoo.exporters import FORMATS, parse_formats

    import zoo
    from zoo.registry import expand_formats

    wanted = parse_formats(formats if formats is not None else list(FORMATS), list(FORMATS))
    declared = {"keras", *expand_formats(zoo.info(name)["formats"])}
    return ["keras", *(f for f in wanted if f != "keras")], declared


@dataclass
class ExportSet:
    """One export folder of the sweep and the validation status of each of its formats."""

    folder: Path
    manifest: dict[str, Any]
    status: dict[str, str]
    declared: bool
    notes: list[str] = field(default_factory=list)

    @functools.cached_property
    def artifacts(self) -> dict[str, ArtifactRecord]:
        """The manifest's artifact entries, checked against the manifest schema."""
        from zoo.exporters import MANIFEST
        from zoo.exporters.manifest import manifest_from_data

        source = str(self.folder / MANIFEST)
        return manifest_from_data(self.manifest, source=source).artifacts


def _export(
    model: Any, out: Path, task: SweepDataset, formats: list[str], *, declared: bool = True
) -> list[ExportSet]:
    """Validated export of ``formats``, int8-calibrated on real training rows.

    One export with ``on_failure="record"`` keeps every format that passes validation; the
    failed formats are then exported without validation into ``<out>-failed-validation``
    so the sweep can still measure them.

    Returns:
        The validated set (if any format passed) and the failed set (if any failed).

    Raises:
        ZooError: a format failed for another reason than validation (e.g. conversion).
    """
    from zoo.exporters import AllFormatsFailed, export_model

    rows = min(CALIBRATION_ROWS, len(next(iter(task.x_train.values()))))
    data = {k: v[:rows] for k, v in task.x_train.items()}
    where = "" if declared else " (formats the recipe leaves out)"
    notes = [
        f"export{where}: int8 calibration and export validation drew from {rows} training "
        "rows (never the test split)."
    ]
    sets: list[ExportSet] = []
    try:
        result = export_model(model, out, formats=formats, data=data, on_failure="record")
        failed = result.failed
    except AllFormatsFailed as exc:
        result, failed = None, exc.failed
    broken = {f: e["error"] for f, e in failed.items() if e["error_type"] != "ValidationFailed"}
    if broken:
        raise ZooError(f"export{where} failed outside validation: {broken}")
    failures = {fmt: entry["error"] for fmt, entry in failed.items()}
    if result is not None:
        passed = list(result.manifest["artifacts"])
        notes.append(f"export{where}: {', '.join(passed)} passed validation against Keras.")
        status = dict.fromkeys(passed, "passed")
        sets.append(ExportSet(result.path, result.manifest, status, declared, notes))
    if failures:
        failed_out = out.with_name(f"{out.name}-failed-validation")
        result = export_model(model, failed_out, formats=list(failures), data=data, validate=False)
        lines = [
            f"export validation FAILED for {fmt}, measured from an unvalidated export in "
            f"{failed_out.name}/: {msg}"
            for fmt, msg in failures.items()
        ]
        status = dict.fromkeys(failures, "failed")
        lines = lines if sets else [*notes, *lines]
        sets.append(ExportSet(result.path, result.manifest, status, declared, lines))
    return sets


def _accuracy_rows(
    export: ExportSet, task: SweepDataset, keras_probs: np.ndarray, keras_acc: float
) -> list[SweepRow]:
    from zoo.benchmarks._backends import backends_for
    from zoo.exporters import load_runner

    runtimes = {b.name: b.runtime for b in backends_for(list(export.status))}
    runtimes["keras"] = "keras"
    want = keras_probs.argmax(axis=1)
    rows = []
    for fmt, status in export.status.items():
        art = export.artifacts[fmt]
        runner = load_runner(fmt, export.folder / art.path)
        probs = predict(runner, task.x_test, batch=EVAL_BATCH, fixed_batch=art.extra("fixed_batch"))
        del runner
        acc = accuracy(probs, task.y_test)
        same = probs.argmax(axis=1) == want
        rows.append(
            SweepRow(
                fmt,
                runtimes.get(fmt, art.runtime),
                acc,
                (acc - keras_acc) * 100,
                float(same.mean()),
                int((~same).sum()),
                art.bytes,
                status,
                declared=export.declared,
                artifact=str(export.folder / art.path),
            )
        )
    return rows


def _latency(
    export: ExportSet, rows: list[SweepRow], out: Path, *, quick: bool, seed: int, progress: bool
) -> Path:
    """Batch-1 p50 of the set's formats, one fresh worker process per backend."""
    from zoo.benchmarks import run

    mine = [r for r in rows if r.format in export.status]
    backends = [BENCH_BACKEND.get(r.format, r.format) for r in mine]
    result = run(
        str(export.folder),
        backends=backends,
        batches=[1],
        threads=[os.cpu_count() or 1],
        quick=quick,
        out=out,
        seed=seed,
        progress=progress,
    )
    by_backend = {r.backend: r for r in result.rows}
    for row, backend in zip(mine, backends, strict=True):
        timed = by_backend.get(backend)
        if timed is None or timed.stats is None:
            row.bench_note = (timed.skipped if timed else None) or "not timed"
            continue
        row.p50_ms = timed.stats.p50_ms
    return result.run_dir


def _speedups(rows: list[SweepRow]) -> None:
    """p50 of the same runtime's fp32 format (``group:fp32``, else the row) over the row's."""
    p50 = {r.format: r.p50_ms for r in rows}
    for row in rows:
        group = row.format.partition(":")[0]
        base = p50.get(f"{group}:fp32", p50.get(row.format))
        if row.p50_ms and base:
            row.speedup_vs_fp32 = base / row.p50_ms


def _quantization_notes(arts: dict[str, ArtifactRecord]) -> list[str]:
    """What each precision means, from the manifests' artifact entries (format → entry)."""
    onnx_int8, tflite_int8 = arts.get("onnx:int8"), arts.get("tflite:int8")
    onnx = (onnx_int8.extra("quantization") if onnx_int8 else None) or {}
    ops = ", ".join(onnx.get("op_types", []) or [])
    tflite: dict[str, Any] = (tflite_int8.model_extra or {}) if tflite_int8 else {}
    samples = (tflite.get("converter") or {}).get("representative_samples", "?")
    floats = ", ".join(tflite.get("float_compute_ops") or []) or "none"
    return [
        "formats: tflite:fp16 = float16 weights, float32 compute; tflite:dynamic_int8 = int8 "
        "weights, dynamic-range kernels; tflite:int8 = int8 weights and activations "
        f"({samples} calibration samples; ops left in float: {floats}), float32 I/O; "
        f"onnx:int8 = {onnx.get('method', '?')} int8{f' of {ops}' if ops else ''}.",
    ]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m zoo.benchmarks.quant_sweep",
        description="Accuracy of fp32/fp16/int8 exports on real held-out data, with latency.",
    )
    p.add_argument("name", help="registered classifier, e.g. bert_classifier")
    p.add_argument("--out", type=Path, default=Path("runs"), help="reports folder (default runs/)")
    p.add_argument("--quick", action="store_true", help="short latency measurements")
    p.add_argument("--limit", type=int, help="at most N examples per split (stratified)")
    p.add_argument("--seed", type=int, default=0, help="data split, build and training seed")
    p.add_argument("--epochs", type=int, default=40, help="head training epochs (default 40)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m zoo.benchmarks.quant_sweep``. Returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        result = sweep(
            args.name,
            out=args.out,
            quick=args.quick,
            limit=args.limit,
            seed=args.seed,
            epochs=args.epochs,
            progress=sys.stderr.isatty(),
        )
    except ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    render(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

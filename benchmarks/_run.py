"""One benchmark run: plan the jobs, spawn one worker per job, collect rows, recommend.

For every backend × batch size × thread count a fresh worker process
(:mod:`zoo.benchmarks._worker`) loads the artifact, runs it once (cold start), warms up,
times calls with ``time.perf_counter_ns`` until the median's 95% confidence interval is
within ±2% (or a time cap), and reports peak memory. Outputs are compared with the Keras
direct call on the same inputs. A worker that hangs past its timeout, crashes or exits with
an error becomes a row holding the reason (its process group killed, see
:func:`zoo.benchmarks._worker.launch`); the other rows are kept and reported.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from zoo.benchmarks import _worker
from zoo.benchmarks._backends import Backend, backends_for
from zoo.benchmarks._env import fingerprint
from zoo.benchmarks._rows import BenchResult, Plan, Row
from zoo.benchmarks._stats import Stats, summarize
from zoo.exporters import MANIFEST, sample_inputs
from zoo.exporters.manifest import Manifest, load_manifest

from zoo.errors import ZooError, did_you_mean

__all__ = ["recommend", "run"]

#: The backend whose timing loop is checked against a bare ``for`` loop, first present wins.
SELF_CHECK_ORDER = ("onnx:fp32", "tflite:fp32", "saved_model", "tf_function", "keras_call")


def run(
    target: str,
    *,
    backends: list[str] | None = None,
    batches: list[int] | None = None,
    threads: list[int] | None = None,
    quick: bool = False,
    iters: int | None = None,
    warmup: int | None = None,
    max_seconds: float | None = None,
    formats: list[str] | str | None = None,
    out: str | Path = "runs",
    seed: int = 0,
    progress: bool = False,
    reuse_export: bool = True,
    worker_timeout: float | None = None,
    **overrides: Any,
) -> BenchResult:
    """Export (or open) a model and time it on every backend.

    Args:
        target: A registered model name, or a folder written by ``zoo export``.
        backends: Backend names to run (default: all that apply).
        batches: Batch sizes (default 1, 8, 32; quick: 1).
        threads: Thread counts (default 1 and all cores; quick: all cores).
        quick: Short run for the demo and tests.
        iters: Cap on timed calls per measurement (default adaptive up to 2000).
        warmup: Untimed calls first (default 10, quick 3).
        max_seconds: Time cap per measurement (default 5 s, quick 1 s).
        formats: Formats to export when ``target`` is a name (default: the recipe's).
        out: Reports go to ``out/<timestamp>-<name>/``.
        seed: Seed for building by name and for the inputs.
        progress: Show a progress bar on the terminal.
        reuse_export: Time a stored export with the same content key (model, recipe,
            seed, formats, library versions, zoo source) if it is intact, instead of
            exporting again (see :mod:`zoo.benchmarks._store`).
        worker_timeout: Seconds one worker may run before its process group is killed and
            its row reports the timeout (default ``max_seconds * 3 + 600``).
        **overrides: Parameter overrides when building by name.

    Returns:
        The rows, the recommended backend per precision and the run folder, where
        ``results.json``, ``results.csv`` and ``report.md`` were written.

    Raises:
        ZooError: for a bad plan, target or backend name, before anything is exported.
    """
    plan = Plan.make(
        quick=quick,
        batches=batches,
        threads=threads,
        max_seconds=max_seconds,
        iters=iters,
        warmup=warmup,
        worker_timeout=worker_timeout,
    )
    for value, what in ((plan.batches, "batch size"), (plan.threads, "thread count")):
        if any(v < 1 for v in value):
            raise ZooError(f"every {what} must be ≥ 1; received {list(value)}.")
    if not plan.timeout > 0:
        raise ZooError(
            f"worker_timeout must be a positive number of seconds; received {worker_timeout!r}."
        )
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder, manifest, origin = _artifacts(
        target, Path(out), stamp, seed, formats, overrides, reuse=reuse_export, backends=backends
    )
    name = manifest.name
    available = backends_for(list(manifest.artifacts))
    chosen = _choose(available, backends, "this export supports")
    run_dir = Path(out) / f"{stamp}-{name}"
    run_dir.mkdir(parents=True, exist_ok=True)

    specs = manifest.inputs
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as scratch:
        work = Path(scratch)
        jobs = _jobs(chosen, plan, available)
        inputs = {}
        for b in plan.batches:
            inputs[b] = work / f"inputs_b{b}.npz"
            arrays: dict[str, Any] = sample_inputs(specs, b, seed=seed)
            np.savez(inputs[b], **arrays)
        reference: dict[int, Path] = {}
        for backend, batch, n_threads, timed in _with_progress(jobs, progress, name):
            outputs = work / f"out_{len(rows)}_{batch}_{n_threads}.npz"
            result = _spawn(
                backend,
                manifest,
                folder,
                inputs[batch],
                outputs,
                batch,
                n_threads,
                plan,
                timed=timed,
                self_check=timed and _is_self_checked(backend, chosen, batch, plan),
            )
            if backend.name == "keras_call" and batch not in reference and "skipped" not in result:
                reference[batch] = outputs
            if timed:
                rows.append(_row(backend, batch, n_threads, result, manifest, folder))
                _parity(rows[-1], outputs, reference.get(batch))
    _speedups(rows)
    bench = BenchResult(
        name,
        rows,
        {"path": str(folder), "parity": _export_parity(manifest), **origin},
        run_dir,
        fingerprint(),
        {
            "batches": list(plan.batches),
            "threads": list(plan.threads),
            "quick": quick,
            "seed": seed,
            "max_seconds": plan.max_seconds,
            "target_ci": plan.target_ci,
            "warmup": plan.warmup,
            "max_iters": plan.max_iters,
            "worker_timeout": plan.timeout,
            "target": target,
        },
    )
    bench.recommended = recommend(rows)
    from zoo.benchmarks._report import write_report

    write_report(bench)
    return bench


def _choose(available: list[Backend], names: list[str] | None, source: str) -> list[Backend]:
    """The backends named (all if ``None``); ``source`` says where ``available`` came from."""
    by_name = {b.name: b for b in available}
    if names is None:
        return available
    for n in names:
        if n not in by_name:
            raise ZooError(
                f"unknown or unavailable backend {n!r}; {source}: "
                f"{', '.join(by_name)}.{did_you_mean(n, by_name)} Pass some of these to "
                "--backends (backends=), or leave it out to run them all."
            )
    return [by_name[n] for n in names]


def _jobs(
    chosen: list[Backend], plan: Plan, available: list[Backend]
) -> list[tuple[Backend, int, int, bool]]:
    """(backend, batch, threads, timed); an untimed keras_call first gives the reference."""
    keras_call = next((b for b in available if b.name == "keras_call"), None)
    jobs = []
    for batch in plan.batches:
        if keras_call is not None and keras_call not in chosen:
            jobs.append((keras_call, batch, max(plan.threads), False))
        for n_threads in plan.threads:
            ordered = sorted(chosen, key=lambda b: b.name != "keras_call")
            jobs += [(b, batch, n_threads, True) for b in ordered]
    return jobs


def _is_self_checked(backend: Backend, chosen: list[Backend], batch: int, plan: Plan) -> bool:
    names = [b.name for b in chosen]
    first = next((n for n in SELF_CHECK_ORDER if n in names), None)
    return backend.name == first and batch == plan.batches[0]


def _with_progress(jobs: list[Any], show: bool, name: str) -> Any:
    if not show:
        yield from jobs
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(f"bench {name}", total=len(jobs))
        for job in jobs:
            bar.update(task, description=f"{job[0].name} b={job[1]} t={job[2]}")
            yield job
            bar.advance(task)


def _spawn(
    backend: Backend,
    manifest: Manifest,
    folder: Path,
    inputs: Path,
    outputs: Path,
    batch: int,
    threads: int,
    plan: Plan,
    *,
    timed: bool,
    self_check: bool,
) -> dict[str, Any]:
    """Run one measurement in a fresh worker process and return its result."""
    artifact = folder / manifest.artifacts[backend.source_format].path
    result_path = outputs.with_suffix(".json")
    job = {
        "backend": backend.name,
        "formats": list(manifest.artifacts),
        "artifact": str(artifact),
        "inputs": str(inputs),
        "outputs": str(outputs),
        "result": str(result_path),
        "batch": batch,
        "threads": threads,
        "warmup": plan.warmup,
        "min_iters": plan.min_iters,
        "max_iters": plan.max_iters if timed else 0,
        "max_seconds": plan.max_seconds,
        "target_ci": plan.target_ci,
        "self_check": self_check,
    }
    job_path = outputs.with_suffix(".job.json")
    job["spawn_ns"] = time.time_ns()
    job_path.write_text(json.dumps(job))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": str(threads)}
    log = outputs.with_suffix(".log")
    failure = _worker.launch(job_path, env=env, timeout=plan.timeout, log=log)
    if failure is None and not result_path.is_file():
        tail = _worker.log_tail(log)
        failure = "exit 0 without writing its result" + (f": {tail}" if tail else "")
    if failure is not None:
        return {"skipped": f"worker {failure}", "failed": True}
    return json.loads(result_path.read_text())


def _row(
    backend: Backend,
    batch: int,
    threads: int,
    result: dict[str, Any],
    manifest: Manifest,
    folder: Path,
) -> Row:
    row = Row(backend.name, backend.runtime, backend.precision, backend.description, batch, threads)
    if "skipped" in result:
        row.skipped = result["skipped"]
        row.failed = result.get("failed", False)
        return row
    row.stats = summarize(result["samples_ns"], batch)
    row.cold_start_ms = result["cold_start_ms"]
    row.peak_rss_mb = result["peak_rss_mb"]
    row.size_bytes = manifest.artifacts[backend.source_format].bytes
    row.self_check = result["self_check"]
    return row


def _parity(row: Row, outputs: Path, reference: Path | None) -> None:
    if row.skipped or reference is None or not outputs.is_file():
        return
    with np.load(outputs) as got, np.load(reference) as want:
        row.max_abs_vs_keras = max(
            float(np.max(np.abs(got[k].astype(np.float64) - want[k].astype(np.float64))))
            for k in want.files
        )
    from zoo.exporters.tolerances import tolerance

    row.parity_ok = row.max_abs_vs_keras <= tolerance(row.backend).atol


def _speedups(rows: list[Row]) -> None:
    predict = {
        (r.batch, r.threads): r.stats.p50_ms
        for r in rows
        if r.backend == "keras_predict" and r.stats
    }
    for r in rows:
        base = predict.get((r.batch, r.threads))
        if r.stats and base:
            r.speedup_vs_predict = base / r.stats.p50_ms


def recommend(rows: list[Row]) -> dict[str, str]:
    """Fastest backend per precision at the smallest batch and most threads, parity holding."""
    timed = [(r, r.stats) for r in rows if r.stats and r.parity_ok]
    if not timed:
        return {}
    batch = min(r.batch for r, _ in timed)
    threads = max(r.threads for r, _ in timed if r.batch == batch)
    best: dict[str, tuple[Row, Stats]] = {}
    for r, stats in timed:
        if r.batch != batch or r.threads != threads:
            continue
        if r.precision not in best or stats.p50_ms < best[r.precision][1].p50_ms:
            best[r.precision] = (r, stats)
    return {precision: r.backend for precision, (r, _) in sorted(best.items())}


def _export_parity(manifest: Manifest) -> dict[str, float]:
    from zoo.exporters.validate import worst_gated_error

    artifacts = manifest.artifacts
    worst = {fmt: worst_gated_error(art.parity_data()) for fmt, art in artifacts.items()}
    return {fmt: float("nan") if err is None else err for fmt, err in worst.items()}


def _artifacts(
    target: str,
    out: Path,
    stamp: str,
    seed: int,
    formats: Any,
    overrides: dict[str, Any],
    *,
    reuse: bool = True,
    backends: list[str] | None = None,
) -> tuple[Path, Manifest, dict[str, Any]]:
    """Open an export folder, or export a registered model (validated, Keras file included).

    A model name is exported, in a child process, into the store under
    ``out/.exports/<key>/`` (see :mod:`zoo.benchmarks._store`), or, with ``reuse``, an intact
    stored export with the same key is timed again; either way
    ``out/<stamp>-<name>/artifacts`` links to it. ``backends`` are checked against the
    backends the planned formats give before anything is exported.

    Returns:
        The export folder, its manifest, and how it was obtained (for ``results.json``).
    """
    folder = Path(target)
    if (folder / MANIFEST).is_file():
        if overrides:
            raise ZooError("overrides apply when benchmarking a model name, not an export folder.")
        return folder, load_manifest(folder), {"source": "folder"}
    if folder.is_dir():
        raise ZooError(
            f"{folder} is a folder without {MANIFEST}; expected a model name or a folder "
            "written by zoo export."
        )
    if os.sep in target or target.startswith("."):
        raise ZooError(
            f"no export folder {target!r} (nothing there); expected a model name or a folder "
            "written by zoo export, e.g. artifacts/cnn_lstm_fusion."
        )
    from zoo.benchmarks import _store
    from zoo.exporters import declared_formats, parse_formats

    wanted = parse_formats(formats, declared_formats(target))
    wanted = wanted if "keras" in wanted else ["keras", *wanted]
    _choose(backends_for(wanted), backends, f"the formats {', '.join(wanted)} give")
    key = _store.export_key(target, formats=wanted, seed=seed, overrides=overrides)
    stored = out / _store.STORE / key / target
    manifest = _store.intact(stored) if reuse else None
    origin = {"source": "store", "key": key, "reused": manifest is not None}
    if manifest is None:
        manifest = _store.export_apart(
            target, stored.parent, formats=wanted, seed=seed, overrides=overrides
        )
    _store.link(out / f"{stamp}-{target}", stored)
    return stored, manifest, origin

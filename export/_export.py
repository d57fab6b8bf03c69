"""Export orchestration: build or take the model, write each format, validate, commit.

One :class:`_Job` per export holds the staging folder, the Keras reference outputs and
the per-stage costs; each requested format is written, reloaded in its own runtime and
compared with Keras at batch sizes 1 and 3 before the set is swapped into place with
``manifest.json`` written last (:mod:`zoo.exporters._atomic`).
"""

from __future__ import annotations

import functools
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from zoo.exporters import formats as _formats
from zoo.exporters._atomic import (
    OutputNotWritable,
    Staging,
    check_writable,
    free_mb,
    sha256_path,
    size_bytes,
    write_error,
)
from zoo.exporters._base import Arrays, ExportContext, ExportFormat, Runner, run_once
from zoo.exporters._stats import ExportStats
from zoo.exporters._subject import Subject, subject_for
from zoo.exporters.manifest import Manifest, build_manifest, manifest_data
from zoo.exporters.tolerances import Tolerance, tolerance
from zoo.exporters.validate import (
    AGREEMENT_SAMPLES,
    BATCH_SIZES,
    OutputParity,
    ValidationFailed,
    compare_outputs,
    raise_on_failure,
)
from zoo.exporters.verify import GOLDEN, write_golden

from zoo.errors import ZooError, did_you_mean
from zoo.registry import FORMAT_GROUPS, FORMAT_VARIANTS, expand_formats

_found = _formats.collect()
#: Every format variant this package implements, by name, in the order of
#: ``zoo._recipe.FORMAT_VARIANTS`` (a test checks the two sets are equal).
FORMATS: dict[str, ExportFormat] = {
    **{n: _found[n] for n in FORMAT_VARIANTS if n in _found},
    **{n: f for n, f in _found.items() if n not in FORMAT_VARIANTS},
}


@dataclass
class ExportResult:
    """What an export produced.

    Attributes:
        path: The final folder ``OUT/NAME``.
        manifest: The manifest written there, as plain data (``schema_version`` first,
            artifacts in the requested order).
        parity: Format → parity reports (failed formats included, when they got that far).
        model: The Keras model that was exported.
        failed: Format → what went wrong (``on_failure="record"`` only): the stage
            (``write`` or ``validate``), the error type and message, seconds and peak RSS.
        record: The manifest checked into a :class:`~zoo.exporters.manifest.Manifest`,
            whose JSON is the file.
    """

    path: Path
    manifest: dict[str, Any]
    parity: dict[str, list[OutputParity]] = field(default_factory=dict)
    model: Any = None
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)
    record: Manifest | None = field(default=None, repr=False)

    @property
    def status(self) -> dict[str, str]:
        """Format → ``"ok"`` or ``"failed"``, in the order the formats were exported."""
        order = self.manifest.get("formats_requested", [*self.manifest["artifacts"]])
        return {f: "failed" if f in self.failed else "ok" for f in order}


def parse_formats(requested: list[str] | str | None, declared: list[str]) -> list[str]:
    """Resolve ``None``/``"all"``/group/variant names to a list of format variants.

    Raises:
        ZooError: for an unknown format name, with the known ones and a close match.
    """
    if requested is None or requested == "all" or requested == ["all"]:
        names = list(declared)
    else:
        names = [requested] if isinstance(requested, str) else list(requested)
    known = list(dict.fromkeys([*FORMAT_GROUPS, *FORMATS]))
    for name in names:
        if name not in known:
            raise ZooError(
                f"unknown export format {name!r}; expected one of: all, "
                f"{', '.join(known)}.{did_you_mean(name, known)}"
            )
    variants = expand_formats(names)
    missing = [v for v in variants if v not in FORMATS]
    if missing:
        raise ZooError(f"export formats {missing} are not implemented in this version of zoo.")
    return variants


def load_runner(fmt: str, path: Path) -> Runner:
    """Load an artifact of format ``fmt`` at ``path`` into a runner in its own runtime."""
    return FORMATS[fmt].load(path)


def export_model(
    model_or_name: Any,
    out: Path,
    *,
    formats: list[str] | str | None = None,
    validate: bool = True,
    seed: int | None = 0,
    data: Arrays | None = None,
    on_failure: str = "raise",
    **overrides: Any,
) -> ExportResult:
    """Export a model to every requested format, validated, into ``out/NAME/``.

    Args:
        model_or_name: A registered model name (built with ``seed`` and ``overrides``), a
            model from :func:`zoo.get` (trained or not: its recipe's contract, family and
            tolerances apply), or any Keras functional model with dict outputs.
        out: Parent folder; artifacts go to ``out/NAME/``.
        formats: ``None`` or ``"all"`` for the recipe's declared formats, or names.
        validate: Reload each artifact and compare with Keras at batch 1 and 3, and on
            :data:`~zoo.exporters.validate.AGREEMENT_SAMPLES` rows for the task metrics.
        seed: Seed for building by name (``None`` for random weights).
        data: Real example rows, ``{input name: array [N, ...]}``: validation batches
            and int8 calibration samples are drawn from them instead of synthetic inputs
            (recommended for a trained model: calibration then sees real activations).
        on_failure: ``"raise"`` (default): the first format that fails to convert or
            validate stops the export and ``out/NAME`` keeps its previous content.
            ``"record"``: every other format is still written, validated and committed;
            the failed ones are left out of the folder and listed, with their error, in
            the manifest's ``failed`` section and in :attr:`ExportResult.failed`.
        **overrides: Parameter overrides when building by name.

    Returns:
        The final folder, the manifest written there, the parity reports, the Keras model
        that was exported and the failed formats. The manifest's ``export_stats`` holds
        seconds and peak RSS per stage (build, reference outputs, each format).

    Raises:
        ValidationFailed: an artifact is off by more than its tolerance; ``out/NAME``
            keeps its previous content.
        ZooError: bad formats, overrides, ``data`` or ``on_failure`` (nothing is written),
            or, with ``on_failure="record"``, every format failed.

    Example:
        >>> model = zoo.get("bert_classifier")  # doctest: +SKIP
        >>> model.fit(x_train, y_train)  # doctest: +SKIP
        >>> export_model(model, Path("artifacts"), data=x_test).path  # doctest: +SKIP
        PosixPath('artifacts/bert_classifier')
    """
    if on_failure not in ON_FAILURE:
        raise ZooError(
            f"on_failure must be one of {list(ON_FAILURE)}, received {on_failure!r}: "
            "'raise' stops at the first failing format, 'record' keeps the others."
        )
    fmts = parse_formats(
        formats, declared_formats(model_or_name)
    )  # before building: bad arguments fail fast
    out = check_writable(Path(out))  # a full or read-only output fails before any work
    stats = ExportStats()
    with stats.stage("build"):
        subject = subject_for(model_or_name, seed=seed, data=data, **overrides)
    staging = Staging(out, subject.name)  # a path-like model name fails here
    with stats.stage("reference"):
        samples = {b: subject.samples(b, 1000 + b) for b in BATCH_SIZES}
        reference = {b: _keras_outputs(subject.model, x) for b, x in samples.items()}
    task_sample = _TaskSample(subject)  # drawn and run through Keras once, if a format asks
    ctx = _context(subject)
    job = _Job(subject, ctx, samples, reference, task_sample, stats, validate)
    try:
        with staging as stage:
            for fmt in sorted(fmts, key=lambda f: HEAVY_FIRST.get(f, len(HEAVY_FIRST))):
                job.run(fmt, stage.path, record=on_failure == "record")
            job.sort(fmts)
            if not job.artifacts:
                raise AllFormatsFailed(subject.name, Path(out) / subject.name, job.failed)
            golden = stage.path / GOLDEN
            write_golden(golden, samples[max(BATCH_SIZES)], reference[max(BATCH_SIZES)])
            manifest = manifest_data(
                subject,
                job.artifacts,
                seed=seed,
                overrides=overrides,
                golden={"path": GOLDEN, "sha256": sha256_path(golden)},
                formats_requested=fmts,
                failed=job.failed,
                export_stats=stats.as_dict(),
            )
            record = build_manifest(manifest)
            final = stage.commit(record.to_json())
    except Exception as exc:
        reason = write_error(exc)
        if reason is None or isinstance(exc, ZooError):
            raise
        free = free_mb(out)
        raise OutputNotWritable(
            f"{subject.name}: could not write the export into {out}: {reason} "
            f"({type(exc).__name__}; {'?' if free is None else f'{free:.0f}'} MB free there). "
            f"Nothing was written: the staging folder was removed and {out / subject.name} "
            "keeps its previous content. Free some space or choose another --out."
        ) from exc
    finally:
        ctx.work.close()
    return ExportResult(final, manifest, job.parity, subject.model, job.failed, record)


class AllFormatsFailed(ZooError):
    """With ``on_failure="record"``, no requested format could be exported.

    Attributes:
        failed: Format → what went wrong, as in :attr:`ExportResult.failed`.
    """

    def __init__(self, name: str, folder: Path, failed: dict[str, dict[str, Any]]):
        reasons = "; ".join(f"{f}: {e['error']}" for f, e in failed.items())
        super().__init__(
            f"{name}: every requested format failed, nothing was written (the previous "
            f"content of {folder} is kept): {reasons}"
        )
        self.failed = failed


#: Formats whose converters need the most memory, run first (lower rank first) while the
#: process holds the least: what earlier stages leave (the model's traces, buffers not yet
#: collected) raises the floor a later stage starts from. Measured on the full-size
#: ``cnn_lstm_fusion``, before stages began with a garbage collection: the int8 calibrator
#: adds ~2.4 GB on top of the floor; run last it peaked at 4.38 GB, run first at 3.65 GB.
#: The manifest keeps the requested order.
HEAVY_FIRST = {"tflite:int8": 0, "onnx:fp32": 1, "onnx:int8": 2}

#: Accepted values of ``export_model(on_failure=...)``.
ON_FAILURE = ("raise", "record")


@dataclass
class _Job:
    """One export's formats: write, validate and describe each, or record its failure."""

    subject: Subject
    ctx: ExportContext
    samples: dict[int, Arrays]
    reference: dict[int, Arrays]
    task_sample: _TaskSample
    stats: ExportStats
    validate: bool
    artifacts: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, list[OutputParity]] = field(default_factory=dict)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def run(self, fmt: str, folder: Path, *, record: bool) -> None:
        """Export ``fmt`` into ``folder``; on failure raise, or record it and clean up."""
        spec = FORMATS[fmt]
        target = folder / spec.artifact
        step = "write"
        try:
            with self.stats.stage(fmt) as entry:
                start = time.perf_counter()
                extra = spec.write(self.subject.model, target, self.ctx) or {}
                entry["write_seconds"] = round(time.perf_counter() - start, 3)
                step = "validate"
                tol = tolerance(fmt, self.subject.family)
                report = self._check(fmt, spec, target, tol) if self.validate else []
        except Exception as exc:
            if isinstance(exc, ValidationFailed):
                exc.format = fmt
            if not record or write_error(exc) is not None:
                raise  # a full or read-only disk stops the export, whatever on_failure says
            _remove(target)
            self.failed[fmt] = {
                "status": "failed",
                "stage": step,
                "error_type": type(exc).__name__,
                "error": str(exc).strip() or repr(exc),
                "parity": [r.as_dict() for r in self.parity.get(fmt, [])],
                **self.stats.stages[fmt],
            }
            return
        self.artifacts[fmt] = {
            "path": spec.artifact,
            "runtime": spec.runtime,
            "status": "ok",
            "sha256": sha256_path(target),
            "bytes": size_bytes(target),
            "export_seconds": entry["write_seconds"],
            "tolerance": asdict(tol),
            "validated": self.validate,
            "parity": [r.as_dict() for r in report],
            **extra,
        }

    def sort(self, order: list[str]) -> None:
        """Put the artifacts, parity reports and failures in the requested format order."""
        tables: tuple[dict[str, Any], ...] = (self.artifacts, self.parity, self.failed)
        for table in tables:
            items = {f: table.pop(f) for f in order if f in table}
            table.update(items)

    def _check(self, fmt: str, spec: ExportFormat, target: Path, tol: Tolerance) -> list[Any]:
        report = _validate(spec.load(target), self.task_sample, self.samples, self.reference, tol)
        self.parity[fmt] = report
        raise_on_failure(fmt, report)
        return report


def _remove(path: Path) -> None:
    """Delete a (partial) artifact, file or folder, if it exists."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def check_export(
    model_or_name: Any,
    *,
    formats: list[str] | str | None = None,
    seed: int | None = 0,
    **overrides: Any,
) -> list[Any]:
    """Feasibility of each format, converted in a scratch folder (``zoo export --check``).

    Returns:
        One :class:`zoo.exporters.check.Finding` per format variant: ok or the error, with notes.

    Example:
        >>> [f.ok for f in check_export("cnn_lstm_fusion_tiny", formats="all")]  # doctest: +SKIP
        [True, True]
    """
    from zoo.exporters.check import check_formats

    declared = declared_formats(model_or_name)
    fmts = parse_formats(formats, declared)
    subject = subject_for(model_or_name, seed=seed, **overrides)
    ctx = _context(subject)
    try:
        return check_formats(subject, ctx, fmts)
    finally:
        ctx.work.close()


def declared_formats(model_or_name: Any) -> list[str]:
    """The formats a model's recipe declares, or every format for a model without one."""
    from zoo.registry import declared_formats as from_recipe

    found = from_recipe(model_or_name)
    return list(FORMATS) if found is None else found


def _context(subject: Subject) -> ExportContext:
    return ExportContext(
        subject.name,
        subject.family,
        subject.inputs,
        subject.outputs,
        calibration=subject.calibration,
        params=subject.params,
        extra_signatures=subject.extra_signatures,
    )


class _TaskSample:
    """The task-metric inputs of one export, with their Keras outputs and targets.

    Built on first use and shared by every format of the export, so Keras runs the
    :data:`AGREEMENT_SAMPLES` rows once, not once per quantized format.
    """

    def __init__(self, subject: Subject):
        self.subject = subject

    @functools.cached_property
    def inputs(self) -> Arrays:
        return self.subject.samples(AGREEMENT_SAMPLES, 7_000)

    @functools.cached_property
    def targets(self) -> Arrays:
        make = self.subject.targets
        return make(self.inputs) if make is not None else {}

    @functools.cached_property
    def keras(self) -> Arrays:
        return _chunked(lambda x: _keras_outputs(self.subject.model, x), self.inputs)


def _validate(
    runner: Runner,
    task_sample: _TaskSample,
    samples: dict[int, Arrays],
    reference: dict[int, Arrays],
    tol: Tolerance,
) -> list[OutputParity]:
    """Parity at every batch size, plus the task metrics where the tolerance has them.

    Top-1 agreement (classification outputs) and PSNR drop (reconstruction outputs) are
    measured on :data:`AGREEMENT_SAMPLES` further realistic inputs and recorded as extra
    report entries with ``batch`` equal to that count. There the task metric is the gate
    and max |Δ| is reported only: over many inputs a quantized model's worst probability
    error grows (0.17 on one random-weight ResNet50 whose top-1 never flipped).
    """
    report: list[OutputParity] = []
    for b in BATCH_SIZES:
        report += compare_outputs(reference[b], run_once(runner, samples[b]), tol=tol, batch=b)
    tasks = task_sample.subject.tasks
    classify = tol.min_top1_agreement is not None and "classification" in tasks.values()
    reconstruct = tol.max_psnr_drop_db is not None and "reconstruction" in tasks.values()
    embed = tol.min_cosine is not None and "embedding" in tasks.values()
    targets = task_sample.targets if reconstruct else {}
    if classify or embed or any(tasks.get(name) == "reconstruction" for name in targets):
        report += compare_outputs(
            task_sample.keras,
            _chunked(lambda x: run_once(runner, x), task_sample.inputs),
            tol=tol,
            batch=AGREEMENT_SAMPLES,
            tasks=tasks,
            targets=targets,
            atol_gated=False,
        )
    return report


#: Rows per call on the task-metric sample: a runtime sized for 100 rows of ResNet50 at
#: 224×224 holds every activation at once (tens of GB in LiteRT).
TASK_CHUNK = 10


def _chunked(run: Any, inputs: Arrays) -> Arrays:
    """``run`` over row chunks of at most :data:`TASK_CHUNK`, outputs concatenated."""
    rows = len(next(iter(inputs.values())))
    parts = [
        run({k: v[i : i + TASK_CHUNK] for k, v in inputs.items()})
        for i in range(0, rows, TASK_CHUNK)
    ]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _keras_outputs(model: Any, inputs: Arrays) -> Arrays:
    out = model(inputs, training=False)
    return {k: v.numpy() if hasattr(v, "numpy") else v for k, v in out.items()}

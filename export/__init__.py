"""Keras model → validated artifacts under ``OUT/NAME/`` with a manifest.

Each format is one module in ``export/formats/`` (see :mod:`export._base`); this package
writes the requested formats into a staging folder, reloads each artifact in its own
runtime, compares it with Keras at batch sizes 1 and 3, and only then swaps the set
into place with ``manifest.json`` written last.

Example:
    >>> from export import export_model
    >>> result = export_model("cnn_lstm_fusion_tiny", Path("artifacts"))
    >>> result.path
    PosixPath('artifacts/cnn_lstm_fusion_tiny')
"""

from __future__ import annotations

import datetime as _dt
import platform
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from export import formats as _formats
from export._atomic import MANIFEST, Staging, sha256_path, size_bytes
from export._base import Arrays, ExportContext, ExportFormat, Runner, run_once
from export.tolerances import Tolerance, tolerance
from export.validate import (
    AGREEMENT_SAMPLES,
    BATCH_SIZES,
    OutputParity,
    ValidationFailed,
    compare,
    raise_on_failure,
    sample_inputs,
)
from export.verify import GOLDEN, verify, write_golden
from zoo._errors import ZooError, did_you_mean
from zoo._recipe import FORMAT_GROUPS, FORMAT_VARIANTS, InputSpec, OutputSpec, expand_formats

_found = _formats.collect()
#: Every format variant this package implements, by name, in the order of
#: ``zoo._recipe.FORMAT_VARIANTS`` (a test checks the two sets are equal).
FORMATS: dict[str, ExportFormat] = {
    **{n: _found[n] for n in FORMAT_VARIANTS if n in _found},
    **{n: f for n, f in _found.items() if n not in FORMAT_VARIANTS},
}

__all__ = [
    "FORMATS",
    "MANIFEST",
    "ExportFormat",
    "ExportResult",
    "Runner",
    "ValidationFailed",
    "check_export",
    "export_model",
    "load_runner",
    "parse_formats",
    "run_once",
    "sample_inputs",
    "verify",
]


@dataclass
class ExportResult:
    """What an export produced."""

    path: Path
    manifest: dict[str, Any]
    parity: dict[str, list[OutputParity]] = field(default_factory=dict)
    model: Any = None


@dataclass(frozen=True)
class Subject:
    """The model to export with its name, family and I/O contract."""

    model: Any
    name: str
    family: str | None
    inputs: dict[str, InputSpec]
    outputs: dict[str, OutputSpec]
    recipe: dict[str, Any] | None
    params: Any = None
    extra_signatures: Any = None


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


def subject_for(model_or_name: Any, *, seed: int | None, **overrides: Any) -> Subject:
    """Build a registered model by name, or describe a given Keras model."""
    import zoo
    from zoo._registry import REGISTRY

    if isinstance(model_or_name, str):
        entry = REGISTRY.get(model_or_name)
        params, outputs = entry.resolve(overrides)
        extra = entry.family.signatures
        info = zoo.info(model_or_name, **overrides)
        model = zoo.get(model_or_name, seed=seed, **overrides)
        return Subject(
            model,
            entry.name,
            entry.family.name,
            dict(entry.recipe.inputs),
            outputs,
            info,
            params=params,
            extra_signatures=(lambda m: extra(m, params)) if extra is not None else None,
        )
    if overrides:
        raise ZooError("overrides apply to a model name, not to a built model; received both.")
    model = model_or_name
    inputs = {
        t.name: InputSpec(shape=[int(d) for d in t.shape[1:]], dtype=str(t.dtype))
        for t in model.inputs
    }
    outs = model.output if isinstance(model.output, dict) else None
    if outs is None:
        raise ZooError(
            f"model {model.name!r} has unnamed outputs ({type(model.output).__name__}); "
            "expected a functional model built with outputs={name: tensor}."
        )
    outputs = {
        k: OutputSpec(shape=[int(d) for d in v.shape[1:]], dtype=str(v.dtype))
        for k, v in outs.items()
    }
    return Subject(model, model.name, None, inputs, outputs, None)


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
    **overrides: Any,
) -> ExportResult:
    """Export a model to every requested format, validated, into ``out/NAME/``.

    Args:
        model_or_name: A registered model name (built with ``seed`` and ``overrides``) or
            a Keras functional model with dict outputs.
        out: Parent folder; artifacts go to ``out/NAME/``.
        formats: ``None`` or ``"all"`` for the recipe's declared formats, or names.
        validate: Reload each artifact and compare with Keras at batch 1 and 3.
        seed: Seed for building by name (``None`` for random weights).
        **overrides: Parameter overrides when building by name.

    Returns:
        The final folder, the manifest written there, the parity reports and the
        Keras model that was exported.

    Raises:
        ValidationFailed: an artifact is off by more than its tolerance; ``out/NAME``
            keeps its previous content.
    """
    fmts = parse_formats(
        formats, _declared_formats(model_or_name)
    )  # before building: bad arguments fail fast
    subject = subject_for(model_or_name, seed=seed, **overrides)
    samples = {b: sample_inputs(subject.inputs, b, seed=1000 + b) for b in BATCH_SIZES}
    reference = {b: _keras_outputs(subject.model, x) for b, x in samples.items()}
    ctx = _context(subject)

    artifacts: dict[str, Any] = {}
    parity: dict[str, list[OutputParity]] = {}
    with Staging(Path(out), subject.name) as stage:
        for fmt in fmts:
            spec = FORMATS[fmt]
            target = stage.path / spec.artifact
            start = time.perf_counter()
            extra = spec.write(subject.model, target, ctx) or {}
            seconds = time.perf_counter() - start
            tol = tolerance(fmt, subject.family)
            report: list[OutputParity] = []
            if validate:
                report = _validate(spec.load(target), subject, samples, reference, tol)
                raise_on_failure(fmt, report)
            parity[fmt] = report
            artifacts[fmt] = {
                "path": spec.artifact,
                "runtime": spec.runtime,
                "sha256": sha256_path(target),
                "bytes": size_bytes(target),
                "export_seconds": round(seconds, 3),
                "tolerance": asdict(tol),
                "validated": validate,
                "parity": [r.as_dict() for r in report],
                **extra,
            }
        golden = stage.path / GOLDEN
        write_golden(golden, samples[max(BATCH_SIZES)], reference[max(BATCH_SIZES)])
        manifest = _manifest(subject, artifacts, seed=seed, overrides=overrides)
        manifest["golden"] = {"path": GOLDEN, "sha256": sha256_path(golden)}
        final = stage.commit(manifest)
    return ExportResult(final, manifest, parity, subject.model)


def check_export(
    model_or_name: Any,
    *,
    formats: list[str] | str | None = None,
    seed: int | None = 0,
    **overrides: Any,
) -> list[Any]:
    """Feasibility of each format, converted in a scratch folder (``zoo export --check``).

    Returns:
        One :class:`export.check.Finding` per format variant: ok or the error, with notes.

    Example:
        >>> [f.ok for f in check_export("cnn_lstm_fusion_tiny", formats="all")]
        [True, True]
    """
    from export.check import check_formats

    declared = _declared_formats(model_or_name)
    fmts = parse_formats(formats, declared)
    subject = subject_for(model_or_name, seed=seed, **overrides)
    return check_formats(subject, _context(subject), fmts)


def _declared_formats(model_or_name: Any) -> list[str]:
    if isinstance(model_or_name, str):
        from zoo._registry import REGISTRY

        return list(REGISTRY.get(model_or_name).recipe.export.formats)
    return list(FORMATS)


def _context(subject: Subject) -> ExportContext:
    return ExportContext(
        subject.name,
        subject.family,
        subject.inputs,
        subject.outputs,
        calibration=lambda count: _calibration(subject.inputs, count),
        params=subject.params,
        extra_signatures=subject.extra_signatures,
    )


def _validate(
    runner: Runner,
    subject: Subject,
    samples: dict[int, Arrays],
    reference: dict[int, Arrays],
    tol: Tolerance,
) -> list[OutputParity]:
    """Parity at every batch size, plus top-1 agreement where the tolerance asks for it.

    The agreement is measured on :data:`AGREEMENT_SAMPLES` further realistic inputs and
    recorded as an extra report entry with ``batch`` equal to that count.
    """
    report: list[OutputParity] = []
    for b in BATCH_SIZES:
        report += compare(reference[b], run_once(runner, samples[b]), tol=tol, batch=b)
    if tol.min_top1_agreement is not None:
        many = sample_inputs(subject.inputs, AGREEMENT_SAMPLES, seed=7_000)
        want = _keras_outputs(subject.model, many)
        report += compare(want, run_once(runner, many), tol=tol, batch=AGREEMENT_SAMPLES)
    return report


def _calibration(inputs: dict[str, InputSpec], count: int) -> Iterator[Arrays]:
    """Yield ``count`` single-example realistic input dicts (seeded, never all zeros)."""
    for i in range(count):
        yield sample_inputs(inputs, 1, seed=50_000 + i)


def _keras_outputs(model: Any, inputs: Arrays) -> Arrays:
    out = model(inputs, training=False)
    return {k: v.numpy() if hasattr(v, "numpy") else v for k, v in out.items()}


def _manifest(subject: Subject, artifacts: dict[str, Any], **build: Any) -> dict[str, Any]:
    return {
        "name": subject.name,
        "family": subject.family,
        "recipe": subject.recipe,
        "build": build,
        "inputs": {k: v.model_dump() for k, v in subject.inputs.items()},
        "outputs": {k: v.model_dump() for k, v in subject.outputs.items()},
        "batch_sizes_validated": list(BATCH_SIZES),
        "artifacts": artifacts,
        "weights": _weights(subject.model),
        "versions": library_versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _weights(model: Any) -> dict[str, Any] | None:
    """The model's resolved weights (source, file, sha256) if its family recorded them."""
    resolved = getattr(model, "zoo_weights", None)
    return resolved.as_dict() if resolved is not None else None


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape the artifacts."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for dist in ("zoo", "tensorflow", "keras", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions

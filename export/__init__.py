"""Keras model → validated artifacts under ``OUT/NAME/`` with a manifest.

Each format is one module exposing ``FORMAT`` (see :mod:`export._base`); this package
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from export import keras_file, saved_model
from export._atomic import MANIFEST, Staging, sha256_path, size_bytes
from export._base import Arrays, ExportFormat, Runner, run_once
from export.tolerances import tolerance
from export.validate import (
    BATCH_SIZES,
    OutputParity,
    ValidationFailed,
    compare,
    raise_on_failure,
    sample_inputs,
)
from zoo._errors import ZooError, did_you_mean
from zoo._recipe import InputSpec, OutputSpec

#: Every format this package implements, by name (same set as ``zoo._recipe.KNOWN_FORMATS``).
FORMATS: dict[str, ExportFormat] = {f.name: f for f in (keras_file.FORMAT, saved_model.FORMAT)}

__all__ = [
    "FORMATS",
    "MANIFEST",
    "ExportFormat",
    "ExportResult",
    "Runner",
    "ValidationFailed",
    "export_model",
    "load_runner",
    "parse_formats",
    "run_once",
    "sample_inputs",
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


def parse_formats(requested: list[str] | str | None, declared: list[str]) -> list[str]:
    """Resolve ``None``/``"all"``/names to a list of known format names.

    Raises:
        ZooError: for an unknown format name, with the known ones and a close match.

    """
    if requested is None or requested == "all" or requested == ["all"]:
        return list(declared)
    names = [requested] if isinstance(requested, str) else list(requested)
    for name in names:
        if name not in FORMATS:
            raise ZooError(
                f"unknown export format {name!r}; expected one of: all, "
                f"{', '.join(FORMATS)}.{did_you_mean(name, FORMATS)}"
            )
    return names


def subject_for(model_or_name: Any, *, seed: int | None, **overrides: Any) -> Subject:
    """Build a registered model by name, or describe a given Keras model."""
    import zoo
    from zoo._registry import REGISTRY

    if isinstance(model_or_name, str):
        entry = REGISTRY.get(model_or_name)
        _, outputs = entry.resolve(overrides)
        info = zoo.info(model_or_name, **overrides)
        model = zoo.get(model_or_name, seed=seed, **overrides)
        return Subject(
            model,
            entry.name,
            entry.family.name,
            dict(entry.recipe.inputs),
            outputs,
            info,
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
    if isinstance(model_or_name, str):
        from zoo._registry import REGISTRY

        declared = list(REGISTRY.get(model_or_name).recipe.export.formats)
    else:
        declared = list(FORMATS)
    fmts = parse_formats(formats, declared)  # before building: bad arguments fail fast
    subject = subject_for(model_or_name, seed=seed, **overrides)
    samples = {b: sample_inputs(subject.inputs, b, seed=1000 + b) for b in BATCH_SIZES}
    reference = {b: _keras_outputs(subject.model, x) for b, x in samples.items()}

    artifacts: dict[str, Any] = {}
    parity: dict[str, list[OutputParity]] = {}
    with Staging(Path(out), subject.name) as stage:
        for fmt in fmts:
            spec = FORMATS[fmt]
            target = stage.path / spec.artifact
            start = time.perf_counter()
            spec.write(subject.model, target)
            seconds = time.perf_counter() - start
            atol = tolerance(fmt, subject.family)
            report: list[OutputParity] = []
            if validate:
                runner = spec.load(target)
                for b in BATCH_SIZES:
                    report += compare(
                        reference[b], run_once(runner, samples[b]), atol=atol, batch=b
                    )
                raise_on_failure(fmt, report)
            parity[fmt] = report
            artifacts[fmt] = {
                "path": spec.artifact,
                "runtime": spec.runtime,
                "sha256": sha256_path(target),
                "bytes": size_bytes(target),
                "export_seconds": round(seconds, 3),
                "tolerance": atol,
                "validated": validate,
                "parity": [r.as_dict() for r in report],
            }
        manifest = _manifest(subject, artifacts, seed=seed, overrides=overrides)
        final = stage.commit(manifest)
    return ExportResult(final, manifest, parity, subject.model)


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
        "versions": library_versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


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

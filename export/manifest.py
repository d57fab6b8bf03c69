"""``manifest.json`` as a typed, versioned record: written by every export, checked on every read.

An export folder's manifest says what was exported (name, family, recipe, build settings,
I/O contract), each artifact (path, runtime, sha256, size, tolerance, parity reports and
the per-format fields a format adds, e.g. ``conversion_attempts`` or ``quantization``),
the formats that failed, the golden vectors, the library versions and the export's time
and memory per stage. :class:`Manifest` is its schema; ``schema_version`` (written first)
is :data:`SCHEMA_VERSION`. A manifest without ``schema_version`` predates the key and is
read as version 1 (same content). Every reader loads it through :func:`load_manifest`, so
a file from a newer zoo or with a missing field fails with a :class:`~zoo.errors.ZooError`
that names the file, the field path, what was received and what to do.

Example:
    >>> from zoo.exporters.manifest import load_manifest
    >>> manifest = load_manifest("artifacts/cnn_lstm_fusion_tiny")  # doctest: +SKIP
    >>> manifest.schema_version, list(manifest.artifacts)  # doctest: +SKIP
    (1, ['keras', 'saved_model', 'tflite:fp32', 'onnx:fp32'])
    >>> manifest.artifacts["keras"].tolerance.atol  # doctest: +SKIP
    1e-06
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from zoo.exporters._atomic import MANIFEST
from zoo.exporters.versions import library_versions

from zoo.errors import ZooError
from zoo.registry import InputSpec, OutputSpec

if TYPE_CHECKING:
    from zoo.exporters._subject import Subject

__all__ = [
    "MANIFEST",
    "SCHEMA_VERSION",
    "ArtifactRecord",
    "BuildRecord",
    "ExportStatsRecord",
    "FailedRecord",
    "GoldenRecord",
    "Manifest",
    "ParityRecord",
    "StageRecord",
    "ToleranceRecord",
    "WeightsRecord",
    "build_manifest",
    "check_schema_version",
    "field_path",
    "load_manifest",
    "manifest_data",
    "manifest_from_data",
    "record_error",
    "versioned_data",
    "write_manifest",
]

#: The manifest schema this zoo writes and the newest it reads.
SCHEMA_VERSION = 1
#: What to do about a manifest that cannot be read.
REEXPORT = "Re-export the model with `zoo export NAME` to write a current manifest."
_WRITTEN_BY = f"the {MANIFEST} written by `zoo export` (schema_version {SCHEMA_VERSION})"


class _Record(BaseModel):
    """Base of the records: NaN and infinities stay numbers, as ``json.dumps`` writes them."""

    model_config = ConfigDict(ser_json_inf_nan="constants")


class _Open(_Record):
    """A record whose extra keys are kept (written by a format, or by a newer dataclass)."""

    model_config = ConfigDict(extra="allow")

    def extra(self, key: str, default: Any = None) -> Any:
        """An extra (undeclared) field, e.g. ``art.extra("fixed_batch")``, or ``default``."""
        return (self.model_extra or {}).get(key, default)


class ToleranceRecord(_Open):
    """How close the artifact had to be to Keras (:class:`zoo.exporters.tolerances.Tolerance`)."""

    atol: float
    min_top1_agreement: float | None = None
    top1_margin: float = 0.0
    max_psnr_drop_db: float | None = None
    min_cosine: float | None = None
    max_recall_drop: float | None = None
    recall_margin: float = 0.0


class ParityRecord(_Open):
    """One output at one batch size (:class:`zoo.exporters.validate.OutputParity`)."""

    output: str
    batch: int
    max_abs: float
    max_rel: float | None = None
    worst_index: list[int] = []
    expected: float | None = None
    received: float | None = None
    atol: float | None = None
    top1_agreement: float | None = None
    min_top1_agreement: float | None = None
    top1_rows: int | None = None
    top1_agreement_all: float | None = None
    psnr_drop_db: float | None = None
    max_psnr_drop_db: float | None = None
    cosine_mean: float | None = None
    cosine_worst: float | None = None
    cosine_worst_row: int | None = None
    min_cosine: float | None = None
    recall_at_1: float | None = None
    keras_recall_at_1: float | None = None
    recall_rows: int | None = None
    recall_at_1_all: float | None = None
    max_recall_drop: float | None = None
    atol_gated: bool = True
    ok: bool = False


class ArtifactRecord(_Open):
    """One exported artifact; a format's own fields (``converter``, ``opset``, ...) are extras."""

    path: str
    runtime: str
    status: str = "ok"
    sha256: str
    bytes: int
    export_seconds: float | None = None
    tolerance: ToleranceRecord
    validated: bool | None = None
    parity: list[ParityRecord] = []

    @field_validator("tolerance", mode="before")
    @classmethod
    def _bare_atol(cls, value: Any) -> Any:
        """Early manifests stored the tolerance as a bare ``atol`` number."""
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return {"atol": value} if is_number else value

    @property
    def was_validated(self) -> bool:
        """Whether the artifact was compared with Keras (older manifests: it has parity)."""
        return self.validated if self.validated is not None else bool(self.parity)

    def parity_data(self) -> list[dict[str, Any]]:
        """The parity reports as plain dicts (for :mod:`zoo.exporters.validate` helpers)."""
        return [p.model_dump() for p in self.parity]


class FailedRecord(_Open):
    """A format that failed with ``on_failure="record"``: where, why, and its stage figures."""

    status: str = "failed"
    stage: str
    error_type: str
    error: str
    parity: list[ParityRecord] = []
    seconds: float | None = None
    peak_rss_mb: float | None = None
    end_rss_mb: float | None = None
    write_seconds: float | None = None


class StageRecord(_Open):
    """Seconds and peak RSS of one export stage (``build``, ``reference``, each format)."""

    seconds: float
    peak_rss_mb: float
    end_rss_mb: float | None = None
    write_seconds: float | None = None


class ExportStatsRecord(_Open):
    """Time and memory of the whole export (:class:`zoo.exporters._stats.ExportStats`)."""

    peak_rss_mb: float
    peak_scope: str
    protobuf: str
    stages: dict[str, StageRecord]


class GoldenRecord(_Record):
    """The golden vectors file (``golden.npz``) and its sha256."""

    path: str
    sha256: str


class BuildRecord(_Open):
    """How the model was built: seed and parameter overrides."""

    seed: int | None = None
    overrides: dict[str, Any] = {}


class WeightsRecord(_Open):
    """The resolved weights of the model (:class:`zoo.weights.Resolved`)."""

    spec: str | None = None
    kind: str | None = None
    path: str | None = None
    sha256: str | None = None
    source: str | None = None


class Manifest(_Record):
    """The schema of ``manifest.json`` (see the module docstring).

    Attributes:
        schema_version: :data:`SCHEMA_VERSION` when written by this zoo.
        formats_requested: The requested formats in order (``None`` in old manifests).
        failed: Format → failure, with ``on_failure="record"``; empty otherwise.
        golden: ``None`` only in manifests written before golden vectors existed.
    """

    schema_version: int = SCHEMA_VERSION
    name: str
    family: str | None
    recipe: dict[str, Any] | None
    build: BuildRecord
    inputs: dict[str, InputSpec]
    validation_inputs: str | None = None
    outputs: dict[str, OutputSpec]
    batch_sizes_validated: list[int]
    artifacts: dict[str, ArtifactRecord]
    weights: WeightsRecord | None = None
    versions: dict[str, str]
    created: str
    golden: GoldenRecord | None = None
    formats_requested: list[str] | None = None
    failed: dict[str, FailedRecord] = {}
    export_stats: ExportStatsRecord | None = None

    def as_data(self) -> dict[str, Any]:
        """Plain JSON data: ``schema_version`` first, then the fields in schema order.

        Dicts keep their order (``artifacts`` in the requested format order); fields
        absent from the source (an older manifest) stay absent.

        Example:
            >>> list(load_manifest("artifacts/m").as_data())[:3]  # doctest: +SKIP
            ['schema_version', 'name', 'family']
        """
        return versioned_data(self)

    def to_json(self) -> str:
        """The text of ``manifest.json``: ``schema_version`` first, then every key sorted.

        2-space indent and a trailing newline, as ``json.dumps(..., sort_keys=True)``.
        """
        data = self.as_data()
        head = {"schema_version": data.pop("schema_version")}
        return json.dumps({**head, **_sorted(data)}, indent=2) + "\n"


# --- reading -------------------------------------------------------------------------


def load_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read and check the manifest of an export folder (or the file itself).

    Args:
        path: A folder written by ``zoo export`` (``OUT/NAME/``) or its ``manifest.json``.

    Returns:
        The manifest, validated against :class:`Manifest`.

    Raises:
        ZooError: no manifest there, not JSON, written by a newer zoo, or a field missing
            or of the wrong type (the message names the file and the field path).

    Example:
        >>> load_manifest("artifacts/cnn_lstm_fusion_tiny").name  # doctest: +SKIP
        'cnn_lstm_fusion_tiny'
    """
    given = Path(path)
    file = given / MANIFEST if given.is_dir() or not given.exists() else given
    if not file.is_file():
        where = "" if given.exists() else " (no such folder)"
        raise ZooError(
            f"{given}: no {MANIFEST}{where}; expected a folder written by `zoo export`. "
            "Export the model there first (`zoo export NAME --out DIR`)."
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ZooError(
            f"{file}: not valid JSON ({exc}); expected {_WRITTEN_BY}. {REEXPORT}"
        ) from None
    return manifest_from_data(data, source=str(file))


def manifest_from_data(data: Any, *, source: str = MANIFEST) -> Manifest:
    """Check manifest data (e.g. an :attr:`ExportResult.manifest`) and return the record.

    Args:
        data: The parsed JSON of a manifest.
        source: What to call it in errors (the file path when read from disk).

    Raises:
        ZooError: as :func:`load_manifest`.

    Example:
        >>> manifest_from_data(result.manifest).artifacts["keras"].bytes  # doctest: +SKIP
        181237
    """
    if not isinstance(data, dict):
        raise ZooError(
            f"{source}: received {type(data).__name__}; expected a JSON object, "
            f"{_WRITTEN_BY}. {REEXPORT}"
        )
    # A manifest written before the key existed has the content of version 1.
    found = data.get("schema_version", 1)
    check_schema_version(found, source=source, current=SCHEMA_VERSION, fix=REEXPORT)
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise record_error(exc, source=source, expected=_WRITTEN_BY, fix=REEXPORT) from None


def versioned_data(record: Any) -> dict[str, Any]:
    """A versioned record as the JSON data written: ``schema_version`` first, then its fields.

    Fields absent from the source the record was read from stay absent.
    """
    data = record.model_dump(mode="json", exclude_unset=True)
    data.pop("schema_version", None)
    return {"schema_version": record.schema_version, **data}


def check_schema_version(value: Any, *, source: str, current: int, fix: str) -> int:
    """Check a record's ``schema_version``: an int this zoo knows (1 to ``current``).

    Args:
        value: The ``schema_version`` found in the file.
        source: The file, for the message.
        current: The newest version this code reads.
        fix: What to do about an invalid (not newer) version.

    Raises:
        ZooError: ``value`` is not an int, is below 1, or is newer than ``current``.

    Example:
        >>> check_schema_version(1, source="m.json", current=1, fix="")
        1
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ZooError(
            f"{source}: schema_version is {value!r} ({type(value).__name__}); expected an "
            f"integer from 1 to {current}. {fix}"
        )
    if value > current:
        raise ZooError(
            f"{source}: schema_version {value} is newer than this zoo reads (1 to {current}): "
            "the file was written by a newer zoo. Upgrade zoo (`pip install --upgrade zoo`) "
            "to read it."
        )
    if value < 1:
        raise ZooError(
            f"{source}: schema_version is {value}; expected an integer from 1 to {current}. {fix}"
        )
    return value


def record_error(exc: ValidationError, *, source: str, expected: str, fix: str) -> ZooError:
    """A :class:`ZooError` for a record that failed validation: file, field paths, fix.

    Each problem reads ``rows[0].threads is missing (required)`` or
    ``artifacts.keras.bytes is 'x'; expected a valid integer``; several are listed one per
    line (the first five).

    Example:
        >>> raise record_error(  # doctest: +SKIP
        ...     exc, source="m.json", expected="a manifest", fix="Re-export.")
        ZooError: m.json: artifacts is missing (required). Expected a manifest. Re-export.
    """
    problems = [_problem(err) for err in exc.errors(include_url=False)]
    if len(problems) == 1:
        return ZooError(f"{source}: {problems[0]}. Expected {expected}. {fix}")
    lines = [f"  - {p}" for p in problems[:5]]
    if len(problems) > 5:
        lines.append(f"  - and {len(problems) - 5} more")
    listed = "\n".join(lines)
    return ZooError(f"{source}: {len(problems)} problems:\n{listed}\nExpected {expected}. {fix}")


def _problem(err: Any) -> str:
    path = field_path(err["loc"])
    msg = re.sub(r"^(Value error|Assertion failed), ", "", err["msg"])
    msg = re.sub(r"^Input should be ", "expected ", msg)
    if not path:
        return msg
    if err["type"] == "missing":
        return f"{path} is missing (required)"
    if err["type"] == "extra_forbidden":
        return f"{path} is not a known field"
    received = repr(err.get("input"))
    received = received if len(received) <= 60 else received[:57] + "..."
    return f"{path} is {received}; {msg[:1].lower()}{msg[1:]}"


def field_path(loc: tuple[Any, ...]) -> str:
    """``("rows", 0, "stats")`` → ``rows[0].stats``; keys that are not names are quoted.

    Example:
        >>> field_path(("artifacts", "tflite:int8", "bytes"))
        "artifacts['tflite:int8'].bytes"
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).isidentifier():
            out += f".{part}" if out else str(part)
        else:
            out += f"[{str(part)!r}]"
    return out


# --- writing -------------------------------------------------------------------------


def manifest_data(
    subject: Subject,
    artifacts: dict[str, Any],
    *,
    seed: int | None,
    overrides: dict[str, Any],
    golden: dict[str, str],
    formats_requested: list[str],
    failed: dict[str, Any],
    export_stats: dict[str, Any],
) -> dict[str, Any]:
    """The manifest data of one export as assembled (``schema_version`` first; unchecked).

    :func:`build_manifest` checks it into the record that is written to disk.

    Args:
        subject: What was exported (name, family, recipe, I/O contract, input source).
        artifacts: Format → artifact entry, in the requested order.
        seed: Build seed.
        overrides: Parameter overrides of the build.
        golden: ``{"path": "golden.npz", "sha256": ...}``.
        formats_requested: The requested formats, in order.
        failed: Format → failure entry (``on_failure="record"``).
        export_stats: :meth:`zoo.exporters._stats.ExportStats.as_dict`.

    Example:
        >>> data = manifest_data(subject, artifacts, seed=0, overrides={}, golden=golden,
        ...     formats_requested=["keras"], failed={}, export_stats=stats)  # doctest: +SKIP
        >>> next(iter(data))  # doctest: +SKIP
        'schema_version'
    """
    from zoo.exporters.validate import BATCH_SIZES

    resolved = getattr(subject.model, "zoo_weights", None)
    return {
        "schema_version": SCHEMA_VERSION,
        "name": subject.name,
        "family": subject.family,
        "recipe": subject.recipe,
        "build": {"seed": seed, "overrides": overrides},
        "inputs": {k: v.model_dump() for k, v in subject.inputs.items()},
        "validation_inputs": subject.source,
        "outputs": {k: v.model_dump() for k, v in subject.outputs.items()},
        "batch_sizes_validated": list(BATCH_SIZES),
        "artifacts": artifacts,
        "weights": resolved.as_dict() if resolved is not None else None,
        "versions": library_versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "golden": golden,
        "formats_requested": formats_requested,
        "failed": failed,
        "export_stats": export_stats,
    }


def build_manifest(data: dict[str, Any]) -> Manifest:
    """Check the data of a new export's manifest (:func:`manifest_data`) into a record.

    Raises:
        ZooError: the data does not fit :class:`Manifest`, a bug in zoo's exporter (the
            message names the field and says so).

    Example:
        >>> build_manifest(data).name  # doctest: +SKIP
        'cnn_lstm_fusion_tiny'
    """
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:  # a bug in zoo, not in the user's input
        raise record_error(
            exc,
            source=f"manifest of {data.get('name')!r}",
            expected=_WRITTEN_BY,
            fix="This is a bug in zoo's exporter: please report it with this message.",
        ) from None


def write_manifest(manifest: Manifest, folder: str | os.PathLike[str]) -> Path:
    """Write ``folder/manifest.json`` atomically (temporary file, fsync, ``os.replace``).

    Example:
        >>> write_manifest(load_manifest("artifacts/m"), "artifacts/m")  # doctest: +SKIP
        PosixPath('artifacts/m/manifest.json')
    """
    path = Path(folder) / MANIFEST
    tmp = path.with_name(MANIFEST + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(manifest.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def _sorted(value: Any) -> Any:
    """``value`` with every dict's keys sorted, as ``json.dumps(sort_keys=True)`` orders them."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value

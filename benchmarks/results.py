"""``results.json`` as a typed, versioned record: one benchmark run, checked on every read.

A run's results hold its settings, the environment (CPU, versions, commit), the export
that was timed, one row per backend × batch size × thread count (latency statistics,
cold start, memory, size, parity with Keras) and the recommended backend per precision.
:class:`Results` is its schema; ``schema_version`` (written first) is
:data:`SCHEMA_VERSION`. Files written before the key was renamed carry ``"schema": 1``
instead and are read as version 1. Readers load runs through :func:`load_results`; a
file from a newer zoo, or with a missing or mistyped field, fails with a
:class:`~zoo.errors.ZooError` naming the file, the field path and the fix.

Example:
    >>> from zoo.benchmarks.results import load_results
    >>> run = load_results("runs/20261124-193000-cnn_lstm_fusion")  # doctest: +SKIP
    >>> [(r.backend, r.stats.p50_ms) for r in run.rows if r.stats][:1]  # doctest: +SKIP
    [('keras_predict', 41.8)]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from zoo.exporters.manifest import check_schema_version, record_error, versioned_data

from zoo.errors import ZooError

__all__ = [
    "RESULTS",
    "SCHEMA_VERSION",
    "Environment",
    "ExportRef",
    "ResultRow",
    "Results",
    "RowStats",
    "Settings",
    "load_results",
    "results_from_data",
    "write_results",
]

#: The results schema this zoo writes and the newest it reads.
SCHEMA_VERSION = 1
#: File name of a run's results inside its run folder.
RESULTS = "results.json"
#: What to do about results that cannot be read.
RERUN = "Re-run `zoo bench` to write them again."
_WRITTEN_BY = f"the {RESULTS} written by `zoo bench` (schema_version {SCHEMA_VERSION})"
_EXPECTED_PATH = f"a run folder written by `zoo bench` (runs/<stamp>-<name>/) or its {RESULTS}"


class _Record(BaseModel):
    """Base of the records: extra keys kept; NaN and infinities stay numbers."""

    model_config = ConfigDict(extra="allow", ser_json_inf_nan="constants")


class RowStats(_Record):
    """Latency summary of one timed row (:class:`zoo.benchmarks._stats.Stats`)."""

    n: int | None = None
    p50_ms: float
    p90_ms: float | None = None
    p99_ms: float | None = None
    mean_ms: float | None = None
    std_ms: float | None = None
    ci95_low_ms: float | None = None
    ci95_high_ms: float | None = None
    items_per_s: float | None = None

    @field_validator("p50_ms")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(
                "expected a positive number of milliseconds, or stats null for a skipped backend"
            )
        return value

    @property
    def ci(self) -> tuple[float, float] | None:
        """The 95% CI of the median, ``(low, high)``, or ``None`` if absent or inverted."""
        low, high = self.ci95_low_ms, self.ci95_high_ms
        if low is not None and high is not None and low <= high:
            return float(low), float(high)
        return None


class ResultRow(_Record):
    """One backend at one batch size and thread count (:class:`zoo.benchmarks.Row`)."""

    backend: StrictStr
    runtime: str | None = None
    precision: str | None = None
    description: str | None = None
    batch: StrictInt
    threads: StrictInt
    stats: RowStats | None = None
    cold_start_ms: dict[str, float] | None = None
    peak_rss_mb: float | None = None
    size_bytes: int | None = None
    max_abs_vs_keras: float | None = None
    parity_ok: bool | None = None
    speedup_vs_predict: float | None = None
    self_check: dict[str, int | float] | None = None
    skipped: str | None = None

    @property
    def key(self) -> tuple[str, int, int]:
        """``(backend, batch, threads)``: what identifies a row within a run."""
        return self.backend, self.batch, self.threads

    @property
    def timed(self) -> bool:
        """The row was measured: not skipped, with stats."""
        return not self.skipped and self.stats is not None


class Settings(_Record):
    """How the run measured (plan, seed, target); other keys are kept as extras."""

    batches: list[int] = []
    threads: list[int] = []
    quick: bool = False


class CpuInfo(_Record):
    """CPU model, SIMD flags and core count."""

    model: str | None = None
    flags: list[str] = []
    cores: int | None = None


class Environment(_Record):
    """Where the run measured (:func:`zoo.benchmarks._env.fingerprint`)."""

    cpu: CpuInfo = Field(default_factory=CpuInfo)
    os: str | None = None
    versions: dict[str, str] = {}
    threads: dict[str, str] = {}
    git_commit: str | None = None


class ExportRef(_Record):
    """The export that was timed: its folder, its parity per format and how it was obtained."""

    path: str
    parity: dict[str, float] = {}
    source: str | None = None
    key: str | None = None
    reused: bool | None = None


class Results(_Record):
    """The schema of ``results.json`` (see the module docstring)."""

    model_config = ConfigDict(extra="ignore")

    schema_version: int = SCHEMA_VERSION
    name: str
    created: str
    settings: Settings = Field(default_factory=Settings)
    environment: Environment = Field(default_factory=Environment)
    export: ExportRef | None = None
    rows: list[ResultRow]
    recommended: dict[str, str] = {}

    @model_validator(mode="after")
    def _one_row_per_key(self) -> Results:
        seen: set[tuple[str, int, int]] = set()
        for i, row in enumerate(self.rows):
            if row.key in seen:
                raise ValueError(
                    f"rows[{i}] repeats backend {row.backend!r} at batch {row.batch}, threads "
                    f"{row.threads}; expected one row per (backend, batch, threads)"
                )
            seen.add(row.key)
        return self

    def as_data(self) -> dict[str, Any]:
        """Plain JSON data as written: ``schema_version`` first, then the fields in order.

        Fields absent from the source stay absent.

        Example:
            >>> list(load_results("runs/x").as_data())[:3]  # doctest: +SKIP
            ['schema_version', 'name', 'created']
        """
        return versioned_data(self)

    def to_json(self) -> str:
        """The text of ``results.json`` (2-space indent, trailing newline)."""
        return json.dumps(self.as_data(), indent=2) + "\n"


def load_results(path: str | os.PathLike[str]) -> Results:
    """Read and check a run's ``results.json`` (from the run folder or the file itself).

    Args:
        path: ``runs/<stamp>-<name>/`` or ``runs/<stamp>-<name>/results.json``.

    Returns:
        The run's results, validated against :class:`Results`.

    Raises:
        ZooError: the path does not exist, holds no ``results.json``, is not JSON, was
            written by a newer zoo, or has a missing or mistyped field (the message
            names the file, the field path and what was expected).

    Example:
        >>> load_results("runs/20261124-193000-cnn_lstm_fusion").name  # doctest: +SKIP
        'cnn_lstm_fusion'
    """
    given = Path(path)
    file = given / RESULTS if given.is_dir() else given
    if not given.exists():
        raise ZooError(f"{given}: no such file or folder; expected {_EXPECTED_PATH}.")
    if not file.is_file():
        raise ZooError(
            f"{given} is a folder without {RESULTS}; expected {_EXPECTED_PATH}. "
            "Was the run interrupted? Re-run `zoo bench`."
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ZooError(f"{file}: not valid JSON ({exc}); expected {_EXPECTED_PATH}.") from None
    return results_from_data(data, source=str(file))


def results_from_data(data: Any, *, source: str = RESULTS) -> Results:
    """Check results data (parsed JSON, or a :class:`Results` as is) and return the record.

    Args:
        data: The parsed JSON of a ``results.json``.
        source: What to call it in errors (the file path when read from disk).

    Raises:
        ZooError: as :func:`load_results`.

    Example:
        >>> results_from_data(json.loads(text), source="run A").name  # doctest: +SKIP
        'cnn_lstm_fusion'
    """
    if isinstance(data, Results):
        return data
    if not isinstance(data, dict):
        raise ZooError(
            f"{source}: expected a JSON object of benchmark results, received "
            f"{type(data).__name__}. {RERUN}"
        )
    data = dict(data)
    if "schema_version" not in data:
        if "schema" not in data:
            raise ZooError(
                f"{source}: schema None; expected schema {SCHEMA_VERSION} (a 'schema_version' "
                f"key) written by `zoo bench`. {RERUN}"
            )
        data["schema_version"] = data.pop("schema")  # written before the key was renamed
    else:
        data.pop("schema", None)
    check_schema_version(data["schema_version"], source=source, current=SCHEMA_VERSION, fix=RERUN)
    try:
        return Results.model_validate(data)
    except ValidationError as exc:
        raise record_error(exc, source=source, expected=_WRITTEN_BY, fix=RERUN) from None


def write_results(results: Results, path: str | os.PathLike[str]) -> Path:
    """Write ``results.json`` into a run folder (or to the file path given).

    Example:
        >>> write_results(results, run_dir)  # doctest: +SKIP
        PosixPath('runs/20261124-193000-cnn_lstm_fusion/results.json')
    """
    target = Path(path)
    file = target / RESULTS if target.is_dir() else target
    file.write_text(results.to_json())
    return file

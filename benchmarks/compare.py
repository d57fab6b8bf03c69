"""Compare two benchmark runs row by row with a noise-aware verdict.

Rows are matched by ``(backend, batch, threads)``. For each pair the ratio is
``B p50 / A p50``; the verdict is ``"same"`` when the two 95% confidence intervals of the
median overlap or the change is under half the threshold, else ``"faster"``/``"slower"``.
A row is a *regression* when it is slower and the ratio exceeds ``1 + threshold``; any
regression makes :attr:`CompareResult.exit_code` 1, so ``zoo bench compare A B`` can gate CI.

Example:
    >>> from zoo.benchmarks.compare import compare_runs, load_run
    >>> result = compare_runs(  # doctest: +SKIP
    ...     load_run("runs/A"), load_run("runs/B"), threshold=0.10)
    >>> result.exit_code  # doctest: +SKIP
    0
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError
from zoo.benchmarks.results import (
    RESULTS,
    SCHEMA_VERSION,
    ResultRow,
    Results,
    RowStats,
    load_results,
    results_from_data,
)
from zoo.exporters.manifest import record_error

from zoo.errors import ZooError

#: The results schema version compared (older name of ``results.SCHEMA_VERSION``).
SCHEMA = SCHEMA_VERSION
__all__ = [
    "RESULTS",
    "SCHEMA",
    "CompareResult",
    "CompareRow",
    "check_results",
    "compare_runs",
    "load_run",
    "render_compare",
    "verdict",
]

FASTER, SLOWER, SAME = "faster", "slower", "same"
ONLY_A, ONLY_B = "only in A", "only in B"
SKIPPED = "skipped"
#: Rows moving each way beyond noise, from which a comparison warns of machine drift.
DRIFT_ROWS = 2

Key = tuple[str, int, int]


@dataclass(frozen=True)
class CompareRow:
    """One ``(backend, batch, threads)`` point of the two runs.

    Attributes:
        a_p50_ms, b_p50_ms: Medians in each run (``None`` when not timed there).
        a_ci_ms, b_ci_ms: 95% confidence intervals of those medians, ``(low, high)``.
        ratio: ``b_p50_ms / a_p50_ms`` (below 1 = B is faster), ``None`` without both.
        verdict: ``faster``, ``slower``, ``same``, ``only in A``, ``only in B`` or
            ``skipped`` (timed in at most one of the runs; see ``note``).
        regression: ``verdict == "slower"`` and ``ratio > 1 + threshold``.
        note: Why a row was skipped, or a parity change between the runs.
    """

    backend: str
    batch: int
    threads: int
    a_p50_ms: float | None
    b_p50_ms: float | None
    a_ci_ms: tuple[float, float] | None
    b_ci_ms: tuple[float, float] | None
    ratio: float | None
    verdict: str
    regression: bool = False
    note: str = ""


@dataclass
class CompareResult:
    """Every matched row, the threshold used and warnings about comparability."""

    rows: list[CompareRow]
    threshold: float
    a_label: str = "A"
    b_label: str = "B"
    warnings: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[CompareRow]:
        """Rows slower by more than the threshold, beyond noise."""
        return [r for r in self.rows if r.regression]

    @property
    def exit_code(self) -> int:
        """1 if any row regressed, else 0."""
        return 1 if self.regressions else 0

    def counts(self) -> dict[str, int]:
        """How many rows got each verdict."""
        out: dict[str, int] = {}
        for row in self.rows:
            out[row.verdict] = out.get(row.verdict, 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for ``--json``)."""
        return {
            "a": self.a_label,
            "b": self.b_label,
            "threshold": self.threshold,
            "warnings": list(self.warnings),
            "rows": [asdict(r) for r in self.rows],
            "regressions": len(self.regressions),
            "exit_code": self.exit_code,
        }


def load_run(path: str | os.PathLike[str]) -> Results:
    """Read a run's ``results.json`` from a run folder or the file itself, and check it.

    Args:
        path: ``runs/<stamp>-<name>/`` or ``runs/<stamp>-<name>/results.json``.

    Returns:
        The run's results (see :func:`zoo.benchmarks.results.load_results`).

    Raises:
        ZooError: the path does not exist, holds no ``results.json``, is not JSON, or is
            not a results file this zoo reads (message names the path, the field and what
            was expected).

    Example:
        >>> load_run("runs/20261124-193000-cnn_lstm_fusion").name  # doctest: +SKIP
        'cnn_lstm_fusion'
    """
    return load_results(path)


def check_results(data: Any, *, source: str = "results") -> Results:
    """Check that ``data`` is benchmark results (a :class:`Results` or its JSON data).

    Returns:
        The checked record.

    Raises:
        ZooError: naming ``source``, the offending field and what was expected.

    Example:
        >>> check_results(  # doctest: +SKIP
        ...     json.loads(Path("runs/x/results.json").read_text())).name
        'cnn_lstm_fusion'
    """
    return results_from_data(data, source=source)


def compare_runs(
    a: Results | Mapping[str, Any], b: Results | Mapping[str, Any], *, threshold: float = 0.10
) -> CompareResult:
    """Match the rows of two runs and judge each change against noise and ``threshold``.

    Args:
        a: Results of the baseline run (see :func:`load_run`), or their JSON data.
        b: Results of the run to judge.
        threshold: Relative slowdown that counts as a regression (0.10 = 10%). Changes
            under half of it are ``"same"`` even when the intervals do not overlap.

    Returns:
        Rows in A's order, then rows only in B; regressions and the exit code.

    Raises:
        ZooError: either input is not results this zoo reads, or ``threshold`` is not a
            positive number.

    Example:
        >>> result = compare_runs(load_run("runs/A"), load_run("runs/B"))  # doctest: +SKIP
        >>> [(r.backend, r.verdict) for r in result.regressions]  # doctest: +SKIP
        [('onnx:fp32', 'slower')]
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ZooError(f"threshold {threshold!r}: expected a number such as 0.10 (= 10%).")
    if not (threshold > 0 and math.isfinite(threshold)):
        raise ZooError(f"threshold {threshold!r}: expected a fraction above 0, e.g. 0.10 = 10%.")
    run_a = check_results(a, source="run A")
    run_b = check_results(b, source="run B")
    rows_a, rows_b = _by_key(run_a), _by_key(run_b)
    keys = [*rows_a, *(k for k in rows_b if k not in rows_a)]
    rows = [_compare_row(k, rows_a.get(k), rows_b.get(k), threshold) for k in keys]
    warnings = _warnings(run_a, run_b) + _drift_warning(rows)
    return CompareResult(rows, float(threshold), _label(run_a), _label(run_b), warnings)


def verdict(
    a_stats: RowStats | Mapping[str, Any],
    b_stats: RowStats | Mapping[str, Any],
    *,
    threshold: float = 0.10,
) -> tuple[str, float]:
    """Verdict and ratio of two timed rows' stats (``B p50 / A p50``).

    ``"same"`` when the 95% CIs of the two medians overlap or ``|ratio - 1| < threshold / 2``
    (a row without a CI is judged on the ratio alone); otherwise faster or slower.

    Example:
        >>> verdict({"p50_ms": 2.0, "ci95_low_ms": 1.9, "ci95_high_ms": 2.1},
        ...         {"p50_ms": 3.0, "ci95_low_ms": 2.9, "ci95_high_ms": 3.1})
        ('slower', 1.5)
    """
    a, b = _stats(a_stats, "A"), _stats(b_stats, "B")
    ratio = b.p50_ms / a.p50_ms
    ci_a, ci_b = a.ci, b.ci
    overlap = ci_a is not None and ci_b is not None and ci_a[0] <= ci_b[1] and ci_b[0] <= ci_a[1]
    if overlap or abs(ratio - 1) < threshold / 2:
        return SAME, ratio
    return (SLOWER if ratio > 1 else FASTER), ratio


def render_compare(result: CompareResult) -> Any:
    """A rich ``Table`` of the comparison (print it with a rich ``Console``).

    Example:
        >>> from rich.console import Console
        >>> Console().print(render_compare(compare_runs(run_a, run_b)))  # doctest: +SKIP
    """
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=f"A: {escape(result.a_label)}\nB: {escape(result.b_label)}",
        title_justify="left",
        caption=escape(_summary(result)),
        caption_justify="left",
    )
    for col in ("backend", "batch", "threads", "A p50 ms ±CI", "B p50 ms ±CI", "B/A"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    table.add_column("verdict", justify="left")
    for row in result.rows:
        table.add_row(
            escape(row.backend),
            str(row.batch),
            str(row.threads),
            _cell(row.a_p50_ms, row.a_ci_ms),
            _cell(row.b_p50_ms, row.b_ci_ms),
            "" if row.ratio is None else f"{row.ratio:.3f}",
            _verdict_markup(row, result.threshold),
        )
    return table


# --- helpers -------------------------------------------------------------------------


def _stats(value: RowStats | Mapping[str, Any], side: str) -> RowStats:
    if isinstance(value, RowStats):
        return value
    try:
        return RowStats.model_validate(value)
    except ValidationError as exc:
        raise record_error(
            exc,
            source=f"stats of {side}",
            expected="a row's stats from results.json (p50_ms, ci95_low_ms, ci95_high_ms, ...)",
            fix="Pass the stats of a timed row.",
        ) from None


def _by_key(run: Results) -> dict[Key, ResultRow]:
    return {r.key: r for r in run.rows}


def _timed_stats(row: ResultRow | None) -> RowStats | None:
    return row.stats if row is not None and row.timed else None


def _compare_row(
    key: Key, a: ResultRow | None, b: ResultRow | None, threshold: float
) -> CompareRow:
    stats_a, stats_b = _timed_stats(a), _timed_stats(b)
    base: dict[str, Any] = {
        "backend": key[0],
        "batch": key[1],
        "threads": key[2],
        "a_p50_ms": stats_a.p50_ms if stats_a else None,
        "b_p50_ms": stats_b.p50_ms if stats_b else None,
        "a_ci_ms": stats_a.ci if stats_a else None,
        "b_ci_ms": stats_b.ci if stats_b else None,
    }
    if a is None or b is None:
        side = b if a is None else a
        note = f"skipped: {side.skipped}" if side is not None and side.skipped else ""
        return CompareRow(**base, ratio=None, verdict=ONLY_B if a is None else ONLY_A, note=note)
    if stats_a is None or stats_b is None:
        return CompareRow(**base, ratio=None, verdict=SKIPPED, note=_skip_note(a, b))
    word, ratio = verdict(stats_a, stats_b, threshold=threshold)
    regression = word == SLOWER and ratio > 1 + threshold
    return CompareRow(
        **base, ratio=ratio, verdict=word, regression=regression, note=_parity_note(a, b)
    )


def _skip_note(a: ResultRow, b: ResultRow) -> str:
    parts = [
        f"{side}: {row.skipped or 'no stats'}"
        for side, row in (("A", a), ("B", b))
        if not row.timed
    ]
    return "skipped in " + "; ".join(parts)


def _parity_note(a: ResultRow, b: ResultRow) -> str:
    was, now = a.parity_ok, b.parity_ok
    if was is not False and now is False:
        err = b.max_abs_vs_keras
        return "parity now fails" + (f" (max |Δ| {err:.1e})" if err is not None else "")
    if was is False and now is True:
        return "parity fixed"
    return ""


def _label(run: Results) -> str:
    commit = run.environment.git_commit
    parts = [run.name, run.created]
    if commit:
        parts.append(f"commit {commit}")
    if run.settings.quick:
        parts.append("quick")
    return " · ".join(parts)


def _warnings(a: Results, b: Results) -> list[str]:
    """Reasons the two runs' timings may not be comparable."""
    out = []
    if a.name != b.name:
        out.append(f"different models: A is {a.name!r}, B is {b.name!r}.")
    cpu_a, cpu_b = a.environment.cpu, b.environment.cpu
    for key, what in (("model", "CPU"), ("cores", "core count")):
        if getattr(cpu_a, key) != getattr(cpu_b, key):
            out.append(
                f"{what} differs (A: {getattr(cpu_a, key)}, B: {getattr(cpu_b, key)}): absolute "
                "latencies are not comparable across machines; compare ratios within a run."
            )
    vers_a, vers_b = a.environment.versions, b.environment.versions
    changed = [
        f"{k} {vers_a.get(k)} → {vers_b.get(k)}"
        for k in sorted(set(vers_a) | set(vers_b))
        if vers_a.get(k) != vers_b.get(k)
    ]
    if changed:
        out.append("library versions differ: " + ", ".join(changed) + ".")
    if a.settings.quick or b.settings.quick:
        out.append("a quick run has few samples and wide intervals: expect more 'same' verdicts.")
    return out


def _drift_warning(rows: list[CompareRow]) -> list[str]:
    """Warn when rows moved both ways beyond their CIs: a sign the machine's load changed.

    A median's CI covers the noise within one measurement, not the drift between two runs
    minutes apart on a shared machine (two identical runs here differed by 0.3×–3.9×).
    """
    faster = sum(r.verdict == FASTER for r in rows)
    slower = sum(r.verdict == SLOWER for r in rows)
    if min(faster, slower) < DRIFT_ROWS:
        return []
    return [
        f"{faster} rows got faster and {slower} slower beyond their CIs: the machine's load "
        "probably differed between the runs, which within-run CIs do not capture. Re-run "
        "both on a quiet machine (not --quick) before trusting a regression."
    ]


def _summary(result: CompareResult) -> str:
    counts = result.counts()
    order = (FASTER, SLOWER, SAME, ONLY_A, ONLY_B, SKIPPED)
    parts = [f"{counts[v]} {v}" for v in order if counts.get(v)]
    worse = [f"{r.backend} b{r.batch} t{r.threads} ×{r.ratio:.2f}" for r in result.regressions]
    lines = [
        ", ".join(parts) or "no rows",
        f"regressions (slower beyond noise and > +{result.threshold:.0%}): "
        + (", ".join(worse) or "none"),
    ]
    notes = [f"{r.backend} b{r.batch} t{r.threads}: {r.note}" for r in result.rows if r.note]
    return "\n".join(lines + notes + [f"warning: {w}" for w in result.warnings])


def _cell(p50: float | None, ci: tuple[float, float] | None) -> str:
    if p50 is None:
        return "—"
    if ci is None:
        return f"{p50:.3f}"
    half = 50 * (ci[1] - ci[0]) / p50
    return f"{p50:.3f} ±{half:.0f}%" if half >= 1 else f"{p50:.3f} ±{half:.1f}%"


def _verdict_markup(row: CompareRow, threshold: float) -> str:
    if row.regression:
        return f"[bold red]REGRESSION (> +{threshold:.0%})[/]"
    style = {FASTER: "green", SLOWER: "yellow", SAME: "dim"}.get(row.verdict, "cyan")
    return f"[{style}]{row.verdict}[/]"

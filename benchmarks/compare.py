"""Compare two benchmark runs row by row with a noise-aware verdict.

Rows are matched by ``(backend, batch, threads)``. For each pair the ratio is
``B p50 / A p50``; the verdict is ``"same"`` when the two 95% confidence intervals of the
median overlap or the change is under half the threshold, else ``"faster"``/``"slower"``.
A row is a *regression* when it is slower and the ratio exceeds ``1 + threshold``; any
regression makes :attr:`CompareResult.exit_code` 1, so ``zoo bench compare A B`` can gate CI.

Example:
    >>> from zoo.benchmarks.compare import compare_runs, load_run
    >>> result = compare_runs(load_run("runs/A"), load_run("runs/B"), threshold=0.10)
    >>> result.exit_code
    0
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

SCHEMA = 1
RESULTS = "results.json"

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


def load_run(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a run's ``results.json`` from a run folder or the file itself, and check it.

    Args:
        path: ``runs/<stamp>-<name>/`` or ``runs/<stamp>-<name>/results.json``.

    Returns:
        The results data (schema 1).

    Raises:
        ZooError: the path does not exist, holds no ``results.json``, is not JSON, or is
            not a results file of schema 1 (message names the path and what was expected).

    Example:
        >>> load_run("runs/20261124-193000-cnn_lstm_fusion")["name"]
        'cnn_lstm_fusion'
    """
    given = Path(path)
    file = given / RESULTS if given.is_dir() else given
    expected = f"a run folder written by `zoo bench` (runs/<stamp>-<name>/) or its {RESULTS}"
    if not given.exists():
        raise ZooError(f"{given}: no such file or folder; expected {expected}.")
    if not file.is_file():
        raise ZooError(
            f"{given} is a folder without {RESULTS}; expected {expected}. "
            "Was the run interrupted? Re-run `zoo bench`."
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ZooError(f"{file}: not valid JSON ({exc}); expected {expected}.") from None
    check_results(data, source=str(file))
    return data


def check_results(data: Any, *, source: str = "results") -> None:
    """Check that ``data`` has the shape of schema-1 results (the keys this module reads).

    Raises:
        ZooError: naming ``source``, the offending key and what was expected.

    Example:
        >>> check_results(json.loads(Path("runs/x/results.json").read_text()))
    """
    if not isinstance(data, dict):
        raise ZooError(
            f"{source}: expected a JSON object of benchmark results, received "
            f"{type(data).__name__}."
        )
    if data.get("schema") != SCHEMA:
        raise ZooError(
            f"{source}: schema {data.get('schema')!r}; expected schema {SCHEMA} written by "
            "this version of `zoo bench`. Re-run the benchmark to compare it."
        )
    rows = data.get("rows")
    if not isinstance(rows, list):
        raise ZooError(f"{source}: 'rows' is {type(rows).__name__}; expected a list of rows.")
    seen: set[Key] = set()
    for i, row in enumerate(rows):
        key = _check_row(row, f"{source}: rows[{i}]")
        if key in seen:
            raise ZooError(
                f"{source}: rows[{i}] repeats backend {key[0]!r} at batch {key[1]}, "
                f"threads {key[2]}; expected one row per (backend, batch, threads)."
            )
        seen.add(key)


def compare_runs(a: dict[str, Any], b: dict[str, Any], *, threshold: float = 0.10) -> CompareResult:
    """Match the rows of two runs and judge each change against noise and ``threshold``.

    Args:
        a: Results of the baseline run (see :func:`load_run`).
        b: Results of the run to judge.
        threshold: Relative slowdown that counts as a regression (0.10 = 10%). Changes
            under half of it are ``"same"`` even when the intervals do not overlap.

    Returns:
        Rows in A's order, then rows only in B; regressions and the exit code.

    Raises:
        ZooError: either input is not schema-1 results, or ``threshold`` is not a
            positive number.

    Example:
        >>> result = compare_runs(load_run("runs/A"), load_run("runs/B"))
        >>> [(r.backend, r.verdict) for r in result.regressions]
        [('onnx:fp32', 'slower')]
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ZooError(f"threshold {threshold!r}: expected a number such as 0.10 (= 10%).")
    if not (threshold > 0 and math.isfinite(threshold)):
        raise ZooError(f"threshold {threshold!r}: expected a fraction above 0, e.g. 0.10 = 10%.")
    check_results(a, source="run A")
    check_results(b, source="run B")
    rows_a, rows_b = _by_key(a), _by_key(b)
    keys = [*rows_a, *(k for k in rows_b if k not in rows_a)]
    rows = [_compare_row(k, rows_a.get(k), rows_b.get(k), threshold) for k in keys]
    warnings = _warnings(a, b) + _drift_warning(rows)
    return CompareResult(rows, float(threshold), _label(a), _label(b), warnings)


def verdict(
    a_stats: dict[str, Any], b_stats: dict[str, Any], *, threshold: float = 0.10
) -> tuple[str, float]:
    """Verdict and ratio of two timed rows' stats (``B p50 / A p50``).

    ``"same"`` when the 95% CIs of the two medians overlap or ``|ratio - 1| < threshold / 2``
    (a row without a CI is judged on the ratio alone); otherwise faster or slower.

    Example:
        >>> verdict({"p50_ms": 2.0, "ci95_low_ms": 1.9, "ci95_high_ms": 2.1},
        ...         {"p50_ms": 3.0, "ci95_low_ms": 2.9, "ci95_high_ms": 3.1})
        ('slower', 1.5)
    """
    ratio = float(b_stats["p50_ms"]) / float(a_stats["p50_ms"])
    ci_a, ci_b = _ci(a_stats), _ci(b_stats)
    overlap = ci_a is not None and ci_b is not None and ci_a[0] <= ci_b[1] and ci_b[0] <= ci_a[1]
    if overlap or abs(ratio - 1) < threshold / 2:
        return SAME, ratio
    return (SLOWER if ratio > 1 else FASTER), ratio


def render_compare(result: CompareResult) -> Any:
    """A rich ``Table`` of the comparison (print it with a rich ``Console``).

    Example:
        >>> from rich.console import Console
        >>> Console().print(render_compare(compare_runs(run_a, run_b)))
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


def _check_row(row: Any, where: str) -> Key:
    if not isinstance(row, dict):
        raise ZooError(f"{where}: expected an object, received {type(row).__name__}.")
    for key, kind in (("backend", str), ("batch", int), ("threads", int)):
        if not isinstance(row.get(key), kind) or isinstance(row.get(key), bool):
            raise ZooError(
                f"{where}: {key!r} is {row.get(key)!r}; expected {kind.__name__} (schema 1)."
            )
    stats = row.get("stats")
    if stats is not None:
        p50 = stats.get("p50_ms") if isinstance(stats, dict) else None
        if not isinstance(p50, (int, float)) or not p50 > 0:
            raise ZooError(
                f"{where} ({row['backend']}): stats.p50_ms is {p50!r}; expected a positive "
                "number of milliseconds, or stats null for a skipped backend."
            )
    return row["backend"], row["batch"], row["threads"]


def _by_key(run: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    return {(r["backend"], r["batch"], r["threads"]): r for r in run["rows"]}


def _timed(row: dict[str, Any] | None) -> bool:
    return row is not None and not row.get("skipped") and row.get("stats") is not None


def _compare_row(
    key: Key, a: dict[str, Any] | None, b: dict[str, Any] | None, threshold: float
) -> CompareRow:
    base = {
        "backend": key[0],
        "batch": key[1],
        "threads": key[2],
        "a_p50_ms": a["stats"]["p50_ms"] if _timed(a) else None,
        "b_p50_ms": b["stats"]["p50_ms"] if _timed(b) else None,
        "a_ci_ms": _ci(a["stats"]) if _timed(a) else None,
        "b_ci_ms": _ci(b["stats"]) if _timed(b) else None,
    }
    if a is None or b is None:
        side = b if a is None else a
        note = f"skipped: {side['skipped']}" if side.get("skipped") else ""
        return CompareRow(**base, ratio=None, verdict=ONLY_B if a is None else ONLY_A, note=note)
    if not (_timed(a) and _timed(b)):
        return CompareRow(**base, ratio=None, verdict=SKIPPED, note=_skip_note(a, b))
    word, ratio = verdict(a["stats"], b["stats"], threshold=threshold)
    regression = word == SLOWER and ratio > 1 + threshold
    return CompareRow(
        **base, ratio=ratio, verdict=word, regression=regression, note=_parity_note(a, b)
    )


def _skip_note(a: dict[str, Any], b: dict[str, Any]) -> str:
    parts = [
        f"{side}: {row.get('skipped') or 'no stats'}"
        for side, row in (("A", a), ("B", b))
        if not _timed(row)
    ]
    return "skipped in " + "; ".join(parts)


def _parity_note(a: dict[str, Any], b: dict[str, Any]) -> str:
    was, now = a.get("parity_ok"), b.get("parity_ok")
    if was is not False and now is False:
        err = b.get("max_abs_vs_keras")
        return "parity now fails" + (f" (max |Δ| {err:.1e})" if err is not None else "")
    if was is False and now is True:
        return "parity fixed"
    return ""


def _ci(stats: dict[str, Any]) -> tuple[float, float] | None:
    low, high = stats.get("ci95_low_ms"), stats.get("ci95_high_ms")
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low <= high:
        return float(low), float(high)
    return None


def _label(run: dict[str, Any]) -> str:
    env = run.get("environment") or {}
    commit = env.get("git_commit")
    settings = run.get("settings") or {}
    parts = [str(run.get("name", "?")), str(run.get("created", "?"))]
    if commit:
        parts.append(f"commit {commit}")
    if settings.get("quick"):
        parts.append("quick")
    return " · ".join(parts)


def _warnings(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Reasons the two runs' timings may not be comparable."""
    out = []
    if a.get("name") != b.get("name"):
        out.append(f"different models: A is {a.get('name')!r}, B is {b.get('name')!r}.")
    cpu_a = ((a.get("environment") or {}).get("cpu")) or {}
    cpu_b = ((b.get("environment") or {}).get("cpu")) or {}
    for key, what in (("model", "CPU"), ("cores", "core count")):
        if cpu_a.get(key) != cpu_b.get(key):
            out.append(
                f"{what} differs (A: {cpu_a.get(key)}, B: {cpu_b.get(key)}): absolute "
                "latencies are not comparable across machines; compare ratios within a run."
            )
    vers_a = (a.get("environment") or {}).get("versions") or {}
    vers_b = (b.get("environment") or {}).get("versions") or {}
    changed = [
        f"{k} {vers_a.get(k)} → {vers_b.get(k)}"
        for k in sorted(set(vers_a) | set(vers_b))
        if vers_a.get(k) != vers_b.get(k)
    ]
    if changed:
        out.append("library versions differ: " + ", ".join(changed) + ".")
    if (a.get("settings") or {}).get("quick") or (b.get("settings") or {}).get("quick"):
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

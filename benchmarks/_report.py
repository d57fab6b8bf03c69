"""Benchmark output: rich table in the terminal; results.json, results.csv, report.md, plots."""

from __future__ import annotations

import csv
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo.benchmarks import BenchResult, Row

COLUMNS = (
    "backend",
    "precision",
    "batch",
    "threads",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "±CI %",
    "items/s",
    "× predict",
    "cold start s",
    "peak RSS MB",
    "size MB",
    "max |Δ| vs Keras",
)


def _fmt(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)


def cells(r: Row) -> tuple[str, ...]:
    """Display strings of one row (see :data:`COLUMNS`)."""
    head = (r.backend, r.precision, str(r.batch), str(r.threads))
    if r.stats is None:
        return (*head, "n/a", "", "", "", "", "", "", "", "", r.skipped or "")
    s = r.stats
    ci = 50 * (s.ci95_high_ms - s.ci95_low_ms) / s.p50_ms if s.p50_ms else 0.0
    delta = _fmt(r.max_abs_vs_keras, ".1e")
    if r.parity_ok is False:
        delta += " (over tolerance)"
    cold_s = r.cold_start_ms["total"] / 1e3 if r.cold_start_ms else None
    size_mb = r.size_bytes / 1e6 if r.size_bytes is not None else None
    return (
        *head,
        f"{s.p50_ms:.3f}",
        f"{s.p90_ms:.3f}",
        f"{s.p99_ms:.3f}",
        f"{ci:.1f}",
        f"{s.items_per_s:.1f}",
        _fmt(r.speedup_vs_predict, ".1f"),
        _fmt(cold_s, ".2f"),
        _fmt(r.peak_rss_mb, ".0f"),
        _fmt(size_mb, ".2f"),
        delta,
    )


def headline(result: BenchResult) -> list[Row]:
    """Rows at the smallest batch and the most threads: the terminal table."""
    batch = min(result.settings["batches"])
    threads = max(result.settings["threads"])
    return [r for r in result.rows if r.batch == batch and r.threads == threads]


def summary_lines(result: BenchResult) -> list[str]:
    """Export parity, recommendation, self-check and CPU lines."""
    parity = ", ".join(f"{k} {v:.1e}" for k, v in result.export["parity"].items())
    lines = [f"export parity (max |Δ| vs Keras at batch 1 and 3): {parity}"]
    if result.recommended:
        rec = ", ".join(f"{p}: {b}" for p, b in result.recommended.items())
        lines.append(
            f"recommended (fastest with parity, batch {min(result.settings['batches'])}): {rec}"
        )
    for r in result.rows:
        if r.failed:
            lines.append(
                f"FAILED ({r.backend}, batch {r.batch}, {r.threads} threads), "
                f"other rows kept: {r.skipped}"
            )
    for r in result.rows:
        if r.self_check:
            c = r.self_check
            lines.append(
                f"self-check ({r.backend}, batch {r.batch}): timed-loop mean "
                f"{c['runner_mean_ms']:.3f} ms vs bare for-loop {c['bare_loop_mean_ms']:.3f} ms"
                f" → ratio {c['ratio']:.3f}"
            )
    cpu = result.environment.get("cpu", {})
    flags = " ".join(cpu.get("flags", []))
    lines.append(
        f"cpu: {cpu.get('model')} ({cpu.get('cores')} cores, flags {flags})"
        f" · commit {result.environment.get('git_commit')} · report: {result.run_dir}"
    )
    return lines


def render(result: BenchResult) -> None:
    """Print the headline table and summary with rich."""
    from rich.markup import escape
    from rich.table import Table

    from zoo.console import console as make_console

    table = Table(title=f"zoo bench {result.name}", title_justify="left")
    for col in COLUMNS:
        left = col in ("backend", "precision")
        table.add_column(col, justify="left" if left else "right", no_wrap=left)
    for row in headline(result):
        table.add_row(*map(escape, cells(row)))
    console = make_console()
    console.print(table)
    for line in summary_lines(result):
        console.print(escape(line))


def write_report(result: BenchResult) -> None:
    """Write results.json, results.csv, report.md and (if available) PNG plots."""
    from zoo.benchmarks.results import write_results

    record = result.record()
    write_results(record, result.run_dir)
    data = record.as_data()
    with (result.run_dir / "results.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(cells(r) for r in result.rows)
    plots = _plots(data, result)
    lines = [
        f"# zoo bench {result.name}",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(cells(r)) + " |" for r in result.rows),
        "",
        *(f"- {line}" for line in summary_lines(result)),
        "",
        *(f"![{p.stem}]({p.name})" for p in plots),
        "",
        f"Settings: `{json.dumps(result.settings)}`",
        "",
        f"Environment: `{json.dumps(result.environment)}`",
        "",
    ]
    (result.run_dir / "report.md").write_text("\n".join(lines))


def _plots(data: dict[str, Any], result: BenchResult) -> list[Any]:
    try:
        from zoo.benchmarks.plots import write_plots
    except ImportError:  # plots module not installed in this build
        return []
    return write_plots(data, result.run_dir)

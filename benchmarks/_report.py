"""Benchmark output: a rich table in the terminal, results.json and report.md on disk."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks import BenchResult

COLUMNS = ("backend", "batch", "p50 ms", "p90 ms", "p99 ms", "items/s", "n", "max |Δ| vs Keras")


def table_rows(result: BenchResult) -> list[tuple[str, ...]]:
    """One tuple of display strings per backend."""
    rows = []
    for r in result.rows:
        if r.stats is None:
            rows.append((r.backend, str(r.batch), "n/a", "", "", "", "", r.skipped or ""))
            continue
        s = r.stats
        rows.append(
            (
                r.backend,
                str(r.batch),
                f"{s.p50_ms:.3f}",
                f"{s.p90_ms:.3f}",
                f"{s.p99_ms:.3f}",
                f"{s.items_per_s:.1f}",
                str(s.n),
                f"{r.max_abs_vs_keras:.2e}",
            )
        )
    return rows


def parity_line(result: BenchResult) -> str:
    """Export validation summary (max |artifact − Keras| over batch sizes 1 and 3)."""
    parts = [f"{fmt} {err:.2e}" for fmt, err in result.export_parity.items()]
    return "export parity (max |Δ| vs Keras, batch 1 and 3): " + (", ".join(parts) or "none")


def render(result: BenchResult) -> None:
    """Print the table with rich."""
    from rich.markup import escape
    from rich.table import Table

    from zoo.cli import console as make_console

    table = Table(title=f"zoo bench {result.name}", title_justify="left")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col == "backend" else "right")
    for row in table_rows(result):
        table.add_row(*map(escape, row))
    console = make_console()
    console.print(table)
    console.print(escape(parity_line(result)))
    cpu = result.environment.get("cpu", {})
    console.print(
        escape(f"cpu: {cpu.get('model')} ({cpu.get('cores')} cores) · report: {result.run_dir}")
    )


def write_report(result: BenchResult) -> None:
    """Write ``results.json`` and ``report.md`` into the run folder."""
    (result.run_dir / "results.json").write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    lines = [
        f"# zoo bench {result.name}",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(r) + " |" for r in table_rows(result)),
        "",
        parity_line(result),
        "",
        f"Settings: {json.dumps(result.settings)}",
        "",
        f"Environment: {json.dumps(result.environment)}",
        "",
    ]
    (result.run_dir / "report.md").write_text("\n".join(lines))

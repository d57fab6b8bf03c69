"""Quantization sweep results: rows, the run record, the rich table, JSON and Markdown."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COLUMNS = (
    "format",
    "runtime",
    "accuracy",
    "Δ accuracy vs Keras (points)",
    "top-1 agreement",
    "size MB",
    "p50 ms batch 1",
    "speed-up vs fp32 (same runtime)",
)


@dataclass
class SweepRow:
    """One exported format on the held-out split.

    Attributes:
        format: Export format variant, e.g. ``tflite:int8``.
        runtime: ``keras``, ``tensorflow``, ``litert`` or ``onnxruntime``.
        accuracy: Share of test rows whose argmax is the label.
        delta_points: ``(accuracy - Keras accuracy) * 100``.
        agreement: Share of test rows with the same top-1 class as the Keras model.
        disagreements: Test rows whose top-1 class differs from Keras'.
        size_bytes: Artifact size on disk (manifest ``bytes``).
        validation: The export's check against Keras, ``passed`` or ``failed`` (then
            measured from an unvalidated export of that format alone).
        p50_ms: Batch-1 median latency from :func:`zoo.benchmarks.run`, ``None`` if not timed.
        speedup_vs_fp32: p50 of the same runtime's fp32 format divided by this p50.
        bench_note: Why the format was not timed, if it was not.
        declared: Whether the model's recipe declares the format (the sweep also measures
            the variants it leaves out).
        artifact: Path of the artifact that was measured.
    """

    format: str
    runtime: str
    accuracy: float
    delta_points: float
    agreement: float
    disagreements: int
    size_bytes: int
    validation: str
    p50_ms: float | None = None
    speedup_vs_fp32: float | None = None
    bench_note: str = ""
    declared: bool = True
    artifact: str = ""

    def cells(self) -> tuple[str, ...]:
        """Display strings (see :data:`COLUMNS`)."""
        p50 = f"{self.p50_ms:.3f}" if self.p50_ms is not None else f"n/a {self.bench_note}"
        marks = [
            m
            for m, on in (
                ("not in recipe", not self.declared),
                ("failed validation", self.validation == "failed"),
            )
            if on
        ]
        return (
            self.format + (f" ({', '.join(marks)})" if marks else ""),
            self.runtime,
            f"{self.accuracy:.4f}",
            f"{self.delta_points:+.2f}",
            f"{self.agreement:.4f} ({self.disagreements} differ)",
            f"{self.size_bytes / 1e6:.2f}",
            p50.strip(),
            f"{self.speedup_vs_fp32:.2f}×" if self.speedup_vs_fp32 is not None else "",
        )


@dataclass
class SweepResult:
    """Everything one sweep measured, and where it was written.

    Attributes:
        name: Model name.
        run_dir: ``OUT/<timestamp>-NAME-quant``.
        rows: One per exported format, in export order.
        keras: The in-memory Keras model's train and test accuracy and test row count.
        training: How the head was trained (:class:`zoo.benchmarks._sweep_tasks.Training`).
        data: Dataset, classes, source file and split counts.
        settings: Arguments, formats, calibration rows, export and benchmark folders.
        notes: Caveats and method lines printed under the table.
        timings: Seconds per phase and in total.
        environment: CPU, cores, library versions, git commit.
    """

    name: str
    run_dir: Path
    rows: list[SweepRow]
    keras: dict[str, Any]
    training: dict[str, Any]
    data: dict[str, Any]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "name": self.name,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "settings": self.settings,
            "data": self.data,
            "training": self.training,
            "keras": self.keras,
            "columns": list(COLUMNS),
            "rows": [r.__dict__ for r in self.rows],
            "notes": self.notes,
            "timings_s": self.timings,
            "environment": self.environment,
        }


def table_lines(result: SweepResult) -> list[str]:
    """The table as Markdown lines."""
    return [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(c.replace("|", "\\|") for c in r.cells()) + " |" for r in result.rows),
    ]


def write_report(result: SweepResult) -> None:
    """Write ``quant_sweep.json`` and ``quant_sweep.md`` into the run folder."""
    data = result.as_dict()
    (result.run_dir / "quant_sweep.json").write_text(json.dumps(data, indent=2) + "\n")
    cpu = result.environment.get("cpu", {})
    lines = [
        f"# Quantization sweep: {result.name}",
        "",
        f"Held-out accuracy of every export on {result.keras['test_rows']} real test rows "
        f"({result.data['dataset']}); Keras fp32 test accuracy "
        f"{result.keras['test_accuracy']:.4f}.",
        "",
        *table_lines(result),
        "",
        *(f"- {n}" for n in result.notes),
        f"- cpu: {cpu.get('model')} ({cpu.get('cores')} cores); commit "
        f"{result.environment.get('git_commit')}.",
        "",
        f"Timings (s): `{json.dumps(result.timings)}`",
        "",
        f"Settings: `{json.dumps(result.settings)}`",
        "",
    ]
    (result.run_dir / "quant_sweep.md").write_text("\n".join(lines))


def render(result: SweepResult) -> None:
    """Print the table and notes with rich."""
    from rich.markup import escape
    from rich.table import Table

    from zoo.console import console as make_console

    table = Table(title=f"quantization sweep {result.name}", title_justify="left")
    for col in COLUMNS:
        left = col in ("format", "runtime")
        table.add_column(col, justify="left" if left else "right", no_wrap=col == "format")
    for row in result.rows:
        table.add_row(*map(escape, row.cells()))
    console = make_console()
    console.print(table)
    for note in result.notes:
        console.print(escape(f"- {note}"))
    console.print(escape(f"report: {result.run_dir / 'quant_sweep.md'}"))

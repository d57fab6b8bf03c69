"""Pre-export feasibility report (``zoo export NAME --check``).

Each requested format is converted in a scratch folder (nothing is written to the output
folder), loaded in its runtime and run once at every validation batch size. The report
lists what the user would hit in a full export: conversion errors (e.g. Flex or
unsupported ops, which the format modules name), string inputs a format cannot carry,
fixed (non-dynamic) batch axes and the op inventory the writer reports.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.exporters._base import run_once
from zoo.exporters.validate import BATCH_SIZES

#: Format groups that cannot take a string input tensor.
NO_STRING_INPUTS = ("tflite", "onnx")


@dataclass
class Finding:
    """Feasibility of one format."""

    format: str
    ok: bool
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
            "error": self.error,
        }


def check_formats(subject: Any, ctx: Any, formats: list[str]) -> list[Finding]:
    """Convert, load and run each format in a scratch folder; never raises for a format."""
    from zoo.exporters import FORMATS

    findings = []
    strings = [n for n, s in subject.inputs.items() if s.dtype == "string"]
    for fmt in formats:
        finding = Finding(fmt, ok=False)
        if strings and fmt.split(":")[0] in NO_STRING_INPUTS:
            finding.error = f"string inputs {strings} cannot be carried by {fmt}"
            findings.append(finding)
            continue
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="zoo-check-") as scratch:
            target = Path(scratch) / FORMATS[fmt].artifact
            try:
                extra = FORMATS[fmt].write(subject.model, target, ctx) or {}
                finding.notes += _notes(extra)
                runner = FORMATS[fmt].load(target)
                for batch in BATCH_SIZES:
                    out = run_once(runner, subject.samples(batch, batch))
                    for name, spec in subject.outputs.items():
                        got = tuple(out[name].shape)
                        if got != (batch, *spec.shape):
                            raise ValueError(
                                f"output {name!r} at batch {batch}: shape {got}, expected "
                                f"{(batch, *spec.shape)}"
                            )
                finding.ok = True
            except Exception as exc:  # a failed format is a finding, not a crash
                finding.error = f"{type(exc).__name__}: {exc}".strip()
        finding.seconds = time.perf_counter() - start
        findings.append(finding)
    return findings


def _notes(extra: dict[str, Any]) -> list[str]:
    """Human notes from what a writer reported (fixed batch, ops, Flex ops, opset...)."""
    notes = []
    for key, value in sorted(extra.items()):
        if isinstance(value, list | tuple | dict) and len(value) > 12:
            value = f"{len(value)} entries"
        notes.append(f"{key}: {value}")
    return notes

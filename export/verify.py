"""Golden vectors and ``zoo verify``: re-check an export folder against what it promised.

Every export writes ``golden.npz`` next to its manifest: the validation inputs (batch 3)
and the Keras outputs for them. :func:`verify` checks each artifact's sha256 against the
manifest (tampering), re-runs it in its own runtime on the golden inputs and compares with
the golden outputs under the artifact's tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from zoo.exporters._atomic import sha256_path
from zoo.exporters._base import Arrays
from zoo.exporters.manifest import load_manifest

from zoo.errors import ZooError

GOLDEN = "golden.npz"


def write_golden(path: Path, inputs: Arrays, outputs: Arrays) -> None:
    """Store inputs and reference outputs as ``input/<name>`` and ``output/<name>`` arrays."""
    arrays: dict[str, Any] = {f"input/{k}": v for k, v in inputs.items()}
    arrays.update({f"output/{k}": np.asarray(v) for k, v in outputs.items()})
    with path.open("wb") as fh:
        np.savez(fh, **arrays)


def read_golden(path: Path) -> tuple[Arrays, Arrays]:
    """Inverse of :func:`write_golden`."""
    with np.load(path, allow_pickle=False) as data:
        inputs = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("input/")}
        outputs = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("output/")}
    return inputs, outputs


@dataclass
class ArtifactCheck:
    """Outcome of verifying one artifact."""

    format: str
    path: str
    hash_ok: bool
    max_abs: float | None = None
    atol: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.hash_ok
            and self.error is None
            and self.max_abs is not None
            and (self.atol is None or self.max_abs <= self.atol)
        )


@dataclass
class VerifyReport:
    """All checks of one export folder."""

    folder: Path
    golden_ok: bool
    checks: list[ArtifactCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.golden_ok and all(c.ok for c in self.checks)


def verify(folder: str | Path, *, formats: list[str] | None = None) -> VerifyReport:
    """Check hashes and re-run every artifact of an export folder against ``golden.npz``.

    Args:
        folder: A folder written by ``zoo export`` (holds ``manifest.json``).
        formats: Only these formats (default: all in the manifest).

    Returns:
        A report; ``report.ok`` is false if any hash differs or any output is off by more
        than the artifact's tolerance.

    Raises:
        ZooError: no readable manifest (see :func:`zoo.exporters.manifest.load_manifest`)
            or no golden vectors.

    Example:
        >>> report = verify("artifacts/cnn_lstm_fusion")  # doctest: +SKIP
        >>> report.ok  # doctest: +SKIP
        True
    """
    from zoo.exporters import FORMATS

    folder = Path(folder)
    manifest = load_manifest(folder)
    golden = manifest.golden
    if golden is None or not (folder / golden.path).is_file():
        raise ZooError(f"{folder}: no {GOLDEN}; re-export to get golden vectors.")
    golden_ok = sha256_path(folder / golden.path) == golden.sha256
    inputs, expected = read_golden(folder / golden.path)
    report = VerifyReport(folder, golden_ok)
    for fmt, art in manifest.artifacts.items():
        if formats is not None and fmt not in formats:
            continue
        path = folder / art.path
        check = ArtifactCheck(
            fmt, art.path, hash_ok=path.exists() and sha256_path(path) == art.sha256
        )
        check.atol = art.tolerance.atol
        try:
            runner = FORMATS[fmt].load(path)
            got = runner.run(runner.prepare(inputs))
            check.max_abs = max(
                float(np.max(np.abs(np.asarray(got[k], np.float64) - expected[k])))
                for k in expected
            )
        except Exception as exc:  # any runtime failure is a verification failure
            check.error = f"{type(exc).__name__}: {exc}"
        report.checks.append(check)
    return report

"""Parity validation: artifact outputs against Keras, names → shapes → values."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from export._base import Arrays
from export.tolerances import Tolerance
from zoo._errors import ZooError

#: Batch sizes every artifact is checked at (batch > 1 proves the batch axis).
BATCH_SIZES: tuple[int, ...] = (1, 3)

#: Number of realistic examples the top-1 agreement of quantized formats is measured on.
AGREEMENT_SAMPLES = 64


class ValidationFailed(ZooError):
    """An artifact does not reproduce the Keras model within its tolerance."""


@dataclass(frozen=True)
class OutputParity:
    """Worst-case error of one output at one batch size."""

    output: str
    batch: int
    max_abs: float
    max_rel: float
    worst_index: tuple[int, ...]
    expected: float
    received: float
    atol: float
    top1_agreement: float | None = None
    min_top1_agreement: float | None = None

    @property
    def ok(self) -> bool:
        close = self.max_abs <= self.atol
        if self.min_top1_agreement is None or self.top1_agreement is None:
            return bool(close)
        return bool(close and self.top1_agreement >= self.min_top1_agreement)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "worst_index": list(self.worst_index), "ok": self.ok}


def sample_inputs(inputs: dict[str, Any], batch: int, seed: int = 0) -> Arrays:
    """Realistic random inputs for an I/O contract (never all zeros).

    Each input draws uniformly from its recipe ``range`` (floats in ``[low, high)``,
    integers in ``[low, high)``); without a range floats use ``[0, 1)`` and integers
    ``[0, 10)``.

    Args:
        inputs: name → spec with ``shape``, ``dtype`` and ``range`` attributes.
        batch: Leading batch size.
        seed: Seed of the generator; the same seed gives the same arrays.
    """
    rng = np.random.default_rng(seed)
    arrays: Arrays = {}
    for name in sorted(inputs):
        spec = inputs[name]
        shape = (batch, *spec.shape)
        if spec.dtype == "string":
            raise ZooError(f"input {name!r}: string inputs need samples from the family's data.")
        if spec.dtype.startswith("int") or spec.dtype == "uint8":
            low, high = spec.range if spec.range is not None else (0, 10)
            arrays[name] = rng.integers(int(low), int(high), size=shape).astype(spec.dtype)
        else:
            low, high = spec.range if spec.range is not None else (0.0, 1.0)
            arrays[name] = rng.uniform(low, high, size=shape).astype(spec.dtype)
    return arrays


def top1_agreement(expected: np.ndarray, received: np.ndarray) -> float | None:
    """Share of rows with the same predicted class; ``None`` for non-class outputs.

    A ``[batch, k>1]`` output is compared by argmax, a ``[batch, 1]`` output by ``p > 0.5``.
    """
    if expected.ndim != 2:
        return None
    if expected.shape[1] == 1:
        return float(np.mean((expected[:, 0] > 0.5) == (received[:, 0] > 0.5)))
    return float(np.mean(expected.argmax(axis=1) == received.argmax(axis=1)))


def compare(
    expected: Arrays, received: Arrays, *, tol: Tolerance, batch: int
) -> list[OutputParity]:
    """Compare named outputs: names first, then shapes, then values.

    Raises:
        ValidationFailed: when names or shapes differ (values are reported, not raised).
    """
    if set(expected) != set(received):
        raise ValidationFailed(
            f"output names differ: Keras gives {sorted(expected)}, the artifact gives "
            f"{sorted(received)}."
        )
    report = []
    for name in sorted(expected):
        want = np.asarray(expected[name], dtype=np.float64)
        got = np.asarray(received[name], dtype=np.float64)
        if want.shape != got.shape:
            raise ValidationFailed(
                f"output {name!r} at batch {batch}: Keras shape {want.shape}, artifact shape "
                f"{got.shape}."
            )
        diff = np.abs(want - got)
        idx = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
        rel = diff / np.maximum(np.abs(want), 1e-12)
        report.append(
            OutputParity(
                output=name,
                batch=batch,
                max_abs=float(diff.max()) if diff.size else 0.0,
                max_rel=float(rel.max()) if rel.size else 0.0,
                worst_index=tuple(int(i) for i in idx),
                expected=float(want[idx]) if diff.size else 0.0,
                received=float(got[idx]) if diff.size else 0.0,
                atol=tol.atol,
                top1_agreement=(
                    top1_agreement(want, got) if tol.min_top1_agreement is not None else None
                ),
                min_top1_agreement=tol.min_top1_agreement,
            )
        )
    return report


def raise_on_failure(fmt: str, report: list[OutputParity]) -> None:
    """Raise :class:`ValidationFailed` naming the output, element and error if any failed."""
    bad = [r for r in report if not r.ok]
    if bad:
        lines = []
        for r in bad:
            where = f"output {r.output!r} at batch {r.batch}"
            if r.max_abs > r.atol:
                lines.append(
                    f"{where}, element {list(r.worst_index)}: Keras {r.expected:.6g}, artifact "
                    f"{r.received:.6g}, |diff| {r.max_abs:.3g} > tolerance {r.atol:g}"
                )
            else:
                lines.append(
                    f"{where}: top-1 agreement {r.top1_agreement:.1%} < required "
                    f"{r.min_top1_agreement:.1%}"
                )
        raise ValidationFailed(f"{fmt}: artifact does not match Keras:\n  " + "\n  ".join(lines))

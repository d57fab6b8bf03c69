"""Parity validation: artifact outputs against Keras, names → shapes → values → task.

Every output is held to its format's ``atol``. Quantized formats are also held to a task
metric where the output declares its task (recipe ``[outputs.NAME] task``):

- ``classification``: top-1 agreement with Keras over the *decided* rows, those whose
  Keras top-1 probability leads the runner-up by at least the tolerance's ``top1_margin``
  (a near-tie is flipped by any rounding and says nothing about the artifact). How many
  rows were decided, and the agreement over all rows, are reported too.
- ``reconstruction``: PSNR drop, ``PSNR(target, keras) - PSNR(target, artifact)`` in dB
  over the batch, with the family's ground truth (its ``targets`` hook) and peak 1.0.
- ``embedding``: cosine similarity of each artifact row with its Keras row (mean gated,
  worst row reported) and retrieval recall@1 with the Keras rows as the index (a row's
  hit is itself), held within ``max_recall_drop`` of Keras' own recall@1 over the
  *decided* rows: those whose nearest other Keras row is at least ``recall_margin`` less
  similar (a near-duplicate in the index is ambiguous whatever the artifact does; random
  inputs to a random-weight tower give many). Recall over all rows is reported too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from zoo.exporters._base import Arrays
from zoo.exporters.tolerances import Tolerance

from zoo.errors import ZooError
from zoo.samples import sample_inputs as sample_inputs  # re-exported: zoo.exporters API

#: Batch sizes every artifact is checked at (batch > 1 proves the batch axis).
BATCH_SIZES: tuple[int, ...] = (1, 3)

#: Number of realistic examples the task metric of quantized formats is measured on
#: (99% agreement then allows one flipped decided row in 100).
AGREEMENT_SAMPLES = 100


class ValidationFailed(ZooError):
    """An artifact does not reproduce the Keras model within its tolerance.

    Attributes:
        format: The format variant that failed (set by :func:`zoo.exporters.export_model`).
    """

    format: str | None = None


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

    @property
    def top1_ok(self) -> bool:
        """Top-1 agreement over the decided rows holds (or is not asked for / measurable)."""
        if self.min_top1_agreement is None or self.top1_agreement is None:
            return True
        return self.top1_agreement >= self.min_top1_agreement

    @property
    def psnr_ok(self) -> bool:
        """The PSNR drop is within bound (or is not asked for / measurable)."""
        if self.max_psnr_drop_db is None or self.psnr_drop_db is None:
            return True
        return self.psnr_drop_db <= self.max_psnr_drop_db

    @property
    def cosine_ok(self) -> bool:
        """The mean cosine with Keras holds (or is not asked for / measurable)."""
        if self.min_cosine is None or self.cosine_mean is None:
            return True
        return self.cosine_mean >= self.min_cosine

    @property
    def recall_ok(self) -> bool:
        """Recall@1 is within the allowed drop of Keras' (or is not asked for)."""
        if self.max_recall_drop is None or self.recall_at_1 is None:
            return True
        assert self.keras_recall_at_1 is not None
        return self.keras_recall_at_1 - self.recall_at_1 <= self.max_recall_drop + 1e-12

    @property
    def ok(self) -> bool:
        close = self.max_abs <= self.atol or not self.atol_gated
        return bool(close and self.top1_ok and self.psnr_ok and self.cosine_ok and self.recall_ok)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "worst_index": list(self.worst_index), "ok": self.ok}


def _as_classes(probs: np.ndarray) -> np.ndarray:
    """``[batch, k]`` probabilities; one sigmoid unit becomes ``[1 - p, p]``."""
    return np.concatenate([1.0 - probs, probs], axis=1) if probs.shape[1] == 1 else probs


def top1_agreement(
    expected: np.ndarray, received: np.ndarray, *, margin: float = 0.0
) -> tuple[float | None, int, float | None]:
    """Top-1 agreement of class probabilities, over decided rows and over all rows.

    Args:
        expected: Keras probabilities ``[batch, k]`` (``k = 1``: one sigmoid unit).
        received: The artifact's, same shape.
        margin: A row is decided when Keras' top-1 probability leads the runner-up by at
            least this much.

    Returns:
        ``(agreement over decided rows or None if none, decided row count, agreement over
        all rows)``; ``(None, 0, None)`` for an output that is not ``[batch, k]``.

    Example:
        >>> top1_agreement(np.array([[0.9, 0.1], [0.51, 0.49]]),
        ...                np.array([[0.8, 0.2], [0.49, 0.51]]), margin=0.1)
        (1.0, 1, 0.5)
    """
    if expected.ndim != 2 or received.shape != expected.shape:
        return None, 0, None
    want, got = _as_classes(expected), _as_classes(received)
    same = want.argmax(axis=1) == got.argmax(axis=1)
    top2 = np.sort(want, axis=1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) >= margin
    rows = int(decided.sum())
    agreement = float(same[decided].mean()) if rows else None
    return agreement, rows, float(same.mean())


def psnr_drop(target: np.ndarray, expected: np.ndarray, received: np.ndarray) -> float:
    """``PSNR(target, expected) - PSNR(target, received)`` in dB, peak 1.0, over the batch.

    Positive means the artifact reconstructs the target worse than Keras does.
    """

    def psnr(a: np.ndarray) -> float:
        mse = float(np.mean((np.asarray(target, np.float64) - a) ** 2))
        return float("inf") if mse == 0.0 else 10.0 * float(np.log10(1.0 / mse))

    keras_db, artifact_db = psnr(expected), psnr(received)
    return 0.0 if keras_db == artifact_db else keras_db - artifact_db


def embedding_agreement(
    expected: np.ndarray, received: np.ndarray, *, margin: float = 0.0
) -> dict[str, Any]:
    """Cosine of each artifact row with its Keras row, and self-retrieval recall@1.

    Recall@1 takes the Keras rows as the index: a row is a hit when its nearest Keras row
    (cosine) is its own. It is measured over the decided rows, whose nearest *other*
    Keras row has a cosine at most ``1 - margin``, and over all rows. Keras' own recall@1
    (its rows against themselves) is 1.0 unless two rows coincide.

    Returns:
        ``cosine_mean``, ``cosine_worst``, ``cosine_worst_row``, ``recall_at_1`` (decided
        rows; None if none), ``recall_rows``, ``recall_at_1_all``, ``keras_recall_at_1``;
        empty for an output that is not ``[batch, d]`` with ``batch ≥ 2``.

    Example:
        >>> e = np.eye(3)
        >>> embedding_agreement(e, e + 0.01)["recall_at_1"]
        1.0
    """
    if expected.ndim != 2 or received.shape != expected.shape or len(expected) < 2:
        return {}

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    want, got = unit(expected.astype(np.float64)), unit(received.astype(np.float64))
    cosine = np.sum(want * got, axis=1)
    rows = np.arange(len(want))
    worst = int(np.argmin(cosine))
    index = want @ want.T
    hits = np.argmax(got @ want.T, axis=1) == rows
    keras_hits = np.argmax(index, axis=1) == rows
    np.fill_diagonal(index, -np.inf)
    decided = index.max(axis=1) <= 1.0 - margin
    count = int(decided.sum())
    return {
        "cosine_mean": float(cosine.mean()),
        "cosine_worst": float(cosine[worst]),
        "cosine_worst_row": worst,
        "recall_at_1": float(hits[decided].mean()) if count else None,
        "recall_rows": count,
        "recall_at_1_all": float(hits.mean()),
        "keras_recall_at_1": float(keras_hits[decided].mean()) if count else None,
    }


def compare_outputs(
    expected: Arrays,
    received: Arrays,
    *,
    tol: Tolerance,
    batch: int,
    tasks: dict[str, str | None] | None = None,
    targets: Arrays | None = None,
    atol_gated: bool = True,
) -> list[OutputParity]:
    """Compare named outputs: names first, then shapes, then values, then task metrics.

    Args:
        expected: Keras outputs.
        received: The artifact's outputs.
        tol: The format's tolerance.
        batch: Rows in this comparison (reported).
        tasks: Output name → ``"classification"``, ``"reconstruction"``, ``"embedding"``
            or ``None``.
        targets: Ground truth of reconstruction outputs, by output name.
        atol_gated: Hold values to ``tol.atol`` (False: report them, gate only the task
            metrics, as on the task-metric sample of quantized formats).

    Raises:
        ValidationFailed: when names or shapes differ (values are reported, not raised).
    """
    tasks = tasks or {}
    targets = targets or {}
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
        task: dict[str, Any] = {}
        if tasks.get(name) == "classification" and tol.min_top1_agreement is not None:
            agree, rows, agree_all = top1_agreement(want, got, margin=tol.top1_margin)
            task = {
                "top1_agreement": agree,
                "min_top1_agreement": tol.min_top1_agreement,
                "top1_rows": rows,
                "top1_agreement_all": agree_all,
            }
        psnr_gated = tol.max_psnr_drop_db is not None and name in targets
        if tasks.get(name) == "reconstruction" and psnr_gated:
            task = {
                "psnr_drop_db": psnr_drop(targets[name], want, got),
                "max_psnr_drop_db": tol.max_psnr_drop_db,
            }
        if tasks.get(name) == "embedding" and tol.min_cosine is not None:
            agreement = embedding_agreement(want, got, margin=tol.recall_margin)
            if agreement:
                task = {
                    **agreement,
                    "min_cosine": tol.min_cosine,
                    "max_recall_drop": tol.max_recall_drop,
                }
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
                atol_gated=atol_gated,
                **task,
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
            if r.max_abs > r.atol and r.atol_gated:
                lines.append(
                    f"{where}, element {list(r.worst_index)}: Keras {r.expected:.6g}, artifact "
                    f"{r.received:.6g}, |diff| {r.max_abs:.3g} > tolerance {r.atol:g}"
                )
            if not r.top1_ok:
                lines.append(
                    f"{where}: top-1 agreement {r.top1_agreement:.1%} on {r.top1_rows} decided "
                    f"rows < required {r.min_top1_agreement:.1%}"
                )
            if not r.psnr_ok:
                lines.append(
                    f"{where}: PSNR drop {r.psnr_drop_db:.3g} dB > allowed "
                    f"{r.max_psnr_drop_db:g} dB"
                )
            if not r.cosine_ok:
                lines.append(
                    f"{where}: mean cosine with Keras {r.cosine_mean:.4f} < required "
                    f"{r.min_cosine:g} (worst row {r.cosine_worst_row}: {r.cosine_worst:.4f})"
                )
            if not r.recall_ok:
                lines.append(
                    f"{where}: recall@1 against the Keras index {r.recall_at_1:.1%} (over "
                    f"{r.recall_rows} decided rows) is more than {r.max_recall_drop:.0%} below "
                    f"Keras' own {r.keras_recall_at_1:.1%}"
                )
        raise ValidationFailed(f"{fmt}: artifact does not match Keras:\n  " + "\n  ".join(lines))


def task_summary(parity: list[dict[str, Any]]) -> str:
    """One line of the task metrics in a manifest's parity entries, e.g. for tables.

    Example:
        >>> task_summary([{"output": "probabilities", "top1_agreement": 1.0, "top1_rows": 87,
        ...                "top1_agreement_all": 0.99}])
        'probabilities: top-1 100.0% of 87 decided rows (99.0% of all)'
    """
    parts = []
    for p in parity:
        if p.get("top1_rows") is not None:
            agree = p.get("top1_agreement")
            decided = (
                "no decided rows"
                if agree is None
                else f"{agree:.1%} of {p['top1_rows']} decided rows"
            )
            parts.append(f"{p['output']}: top-1 {decided} ({p['top1_agreement_all']:.1%} of all)")
        if p.get("psnr_drop_db") is not None:
            parts.append(f"{p['output']}: PSNR drop {p['psnr_drop_db']:.2g} dB")
        if p.get("cosine_mean") is not None:
            recall = p.get("recall_at_1")
            decided = (
                "no decided rows"
                if recall is None
                else f"{recall:.1%} of {p.get('recall_rows')} decided rows"
            )
            parts.append(
                f"{p['output']}: cosine {p['cosine_mean']:.4f} (worst {p['cosine_worst']:.4f}), "
                f"recall@1 {decided} ({p.get('recall_at_1_all', 0.0):.1%} of all)"
            )
    return "; ".join(parts)


def worst_gated_error(parity: list[dict[str, Any]]) -> float | None:
    """Largest max |Δ| over the entries held to atol (batch 1 and 3), ``None`` if none."""
    return max((p["max_abs"] for p in parity if p.get("atol_gated", True)), default=None)

"""What a training run measured on held-out rows: metrics, intervals, the two plots.

Classification metrics come from one confusion matrix (rows: true class, columns:
predicted): accuracy with its 95% Wilson interval, precision, recall and F1 per class and
macro-averaged, and two baselines any model must beat (the training split's majority class
and chance). Reconstruction outputs get MSE and PSNR. NumPy is imported when called;
matplotlib only by the plot functions (Agg backend: no display needed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: z of a two-sided 95% interval.
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sound at 0 and 1, unlike p ± z·se).

    Example:
        >>> [round(x, 3) for x in wilson_interval(90, 100)]
        [0.826, 0.945]
    """
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def confusion_matrix(labels: Any, predicted: Any, num_classes: int) -> Any:
    """``[num_classes, num_classes]`` int64 counts: row = true class, column = predicted.

    Example:
        >>> confusion_matrix([0, 1, 1], [0, 1, 0], 2).tolist()
        [[1, 0], [1, 1]]
    """
    import numpy as np

    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    predicted = np.asarray(predicted, dtype=np.int64).reshape(-1)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def classification_report(
    labels: Any,
    predicted: Any,
    class_names: Sequence[str],
    *,
    train_labels: Any = None,
) -> dict[str, Any]:
    """Accuracy (with a 95% interval), per-class and macro precision/recall/F1, baselines.

    Args:
        labels: True class ids of the held-out rows.
        predicted: Predicted class ids, same order.
        class_names: Name of each class id.
        train_labels: Class ids of the training rows, for the majority-class baseline
            (the class most frequent in training, scored on these rows).

    Returns:
        Plain data (JSON-ready).

    Example:
        >>> r = classification_report([0, 0, 1, 1], [0, 1, 1, 1], ["no", "yes"])
        >>> r["accuracy"], round(r["f1_macro"], 3), r["per_class"]["yes"]["recall"]
        (0.75, 0.733, 1.0)
    """
    import numpy as np

    k = len(class_names)
    matrix = confusion_matrix(labels, predicted, k)
    n = int(matrix.sum())
    correct = int(np.trace(matrix))
    per_class: dict[str, dict[str, float | int]] = {}
    for i, name in enumerate(class_names):
        tp = int(matrix[i, i])
        predicted_i, actual_i = int(matrix[:, i].sum()), int(matrix[i, :].sum())
        precision = tp / predicted_i if predicted_i else 0.0
        recall = tp / actual_i if actual_i else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": actual_i}
    present = [v for v in per_class.values() if v["support"]] or list(per_class.values())
    report: dict[str, Any] = {
        "rows": n,
        "accuracy": correct / n if n else 0.0,
        "accuracy_ci95": list(wilson_interval(correct, n)),
        "precision_macro": float(np.mean([v["precision"] for v in present])),
        "recall_macro": float(np.mean([v["recall"] for v in present])),
        "f1_macro": float(np.mean([v["f1"] for v in present])),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "class_names": list(class_names),
        "chance": 1.0 / k,
    }
    if train_labels is not None and len(train_labels):
        majority = int(np.bincount(np.asarray(train_labels, np.int64), minlength=k).argmax())
        hits = int(matrix[majority, :].sum())
        report["majority_class"] = class_names[majority]
        report["majority_accuracy"] = hits / n if n else 0.0
        report["majority_accuracy_ci95"] = list(wilson_interval(hits, n))
    return report


def reconstruction_report(targets: Any, outputs: Any) -> dict[str, float]:
    """MSE and PSNR (dB, values in [0, 1]) of one reconstruction output.

    Example:
        >>> import numpy as np
        >>> reconstruction_report(np.zeros((2, 4)), np.full((2, 4), 0.1))["psnr_db"]
        20.0
    """
    import numpy as np

    err = float(np.mean((np.asarray(targets, np.float64) - np.asarray(outputs, np.float64)) ** 2))
    psnr = float("inf") if err == 0 else round(10 * math.log10(1.0 / err), 6)
    return {"mse": err, "psnr_db": psnr}


def format_report(report: dict[str, Any]) -> str:
    """The per-class table as text (what ``report.txt`` holds).

    Example:
        >>> print(format_report(classification_report([0, 1], [0, 1], ["no", "yes"])))
        ... # doctest: +NORMALIZE_WHITESPACE
        class       precision  recall  f1     support
        no          1.000      1.000   1.000  1
        yes         1.000      1.000   1.000  1
        macro avg   1.000      1.000   1.000  2
        accuracy 1.000 (95% CI 0.342–1.000) on 2 rows; chance 0.500
    """
    width = max(9, *(len(n) for n in report["per_class"])) + 2
    lines = [f"{'class':<{width}}precision  recall  f1     support"]
    for name, v in report["per_class"].items():
        lines.append(
            f"{name:<{width}}{v['precision']:<11.3f}{v['recall']:<8.3f}{v['f1']:<7.3f}"
            f"{v['support']}"
        )
    lines.append(
        f"{'macro avg':<{width}}{report['precision_macro']:<11.3f}{report['recall_macro']:<8.3f}"
        f"{report['f1_macro']:<7.3f}{report['rows']}"
    )
    low, high = report["accuracy_ci95"]
    tail = (
        f"accuracy {report['accuracy']:.3f} (95% CI {low:.3f}–{high:.3f}) on {report['rows']} "
        f"rows; chance {report['chance']:.3f}"
    )
    if "majority_accuracy" in report:
        tail += f"; majority class {report['majority_class']!r} {report['majority_accuracy']:.3f}"
    lines.append(tail)
    return "\n".join(lines)


def plot_confusion(report: dict[str, Any], path: Path, *, title: str) -> Path:
    """Write the confusion matrix as a PNG heat map with counts; returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    matrix = np.asarray(report["confusion_matrix"])
    names = report["class_names"]
    side = max(3.5, 0.5 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set(
        xticks=range(len(names)),
        yticks=range(len(names)),
        xticklabels=names,
        yticklabels=names,
        xlabel="predicted",
        ylabel="true",
        title=title,
    )
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    limit = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if count > limit else "black", fontsize=8)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(
    history: dict[str, list[float]], path: Path, *, title: str, stage_starts: Sequence[int] = ()
) -> Path:
    """Write learning curves (loss, then the other metrics; train and val) as a PNG.

    Args:
        history: Keras-style ``{"loss": [...], "val_loss": [...], ...}`` over all stages.
        path: Output file.
        title: Figure title.
        stage_starts: Epoch index where each later stage began (a dashed line each).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in history if not k.startswith("val_") and k != "learning_rate"]
    names = ["loss", *sorted(n for n in names if n != "loss")] if "loss" in names else names
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            if key in history:
                epochs = range(1, len(history[key]) + 1)
                ax.plot(epochs, history[key], style, marker="o", ms=3, label=key)
        for start in stage_starts:
            ax.axvline(start + 0.5, color="grey", ls=":", lw=1)
        ax.set(title=name, xlabel="epoch")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

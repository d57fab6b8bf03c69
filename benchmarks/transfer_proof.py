"""Does transfer learning transfer? Held-out figures with 95% intervals, one command.

``python -m zoo.benchmarks.transfer_proof [--quick] [--only NAME ...] [--out runs]``
trains each experiment with :func:`zoo.fit` (a run folder each) and writes
``runs/<time>-transfer-proof/proof.json`` and ``proof.md``:

- ``bert_pretrained`` vs ``bert_random``: ``bert_classifier`` on the VADER split with the
  pretrained MiniLM-L6 backbone and with the same architecture randomly initialised
  (both frozen, same head, same data), next to the majority class.
- ``fusion_pairs``: ``cnn_lstm_fusion_tiny`` as image–text matching on the digits
  (a digit image and a digit word, matching or not) vs chance, with an image Dense layer
  before the fusion; ``fusion_pairs_plain`` the recipe as is. Matching is XOR-like: the
  label is independent of the image alone and of the word alone, so a model whose only
  non-linearity sits after the concatenation starts on a plateau at chance.
- ``resnet_tiny_digits``: ``resnet50_transfer_tiny`` (random base: no ImageNet weights
  offline) with its two-stage schedule on the digits.
- ``resnet_full_schedule``: the full-size ``resnet50_transfer`` two-stage schedule run
  for a few batches (proves it runs at 224×224; no accuracy claim).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: name → (what it shows, zoo.fit arguments, quick overrides)
EXPERIMENTS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "bert_pretrained": (
        "bert_classifier, pretrained MiniLM-L6 (frozen) + head, VADER words",
        {"model_or_name": "bert_classifier", "data": "sentiment", "epochs": 8},
        {"epochs": 2, "limit": 200},
    ),
    "bert_random": (
        "bert_classifier, same architecture randomly initialised (frozen) + head",
        {
            "model_or_name": "bert_classifier",
            "data": "sentiment",
            "epochs": 8,
            "backbone": "random-minilm-l6",
        },
        {"epochs": 2, "limit": 200},
    ),
    "fusion_pairs": (
        "cnn_lstm_fusion_tiny + an image Dense(32) and fusion Dense(64), digit image + digit "
        "word: match or not",
        {
            "model_or_name": "cnn_lstm_fusion_tiny",
            "data": "digit-pairs",
            "epochs": 40,
            "patience": 10,
            "learning_rate": 3e-3,
            "image_dense_units": 32,
            "dense_units": 64,
        },
        {"epochs": 2, "limit": 300},
    ),
    "fusion_pairs_plain": (
        "cnn_lstm_fusion_tiny as is (no image Dense; fusion Dense(16)), same task",
        {
            "model_or_name": "cnn_lstm_fusion_tiny",
            "data": "digit-pairs",
            "epochs": 40,
            "patience": 10,
            "learning_rate": 3e-3,
        },
        {"epochs": 2, "limit": 300},
    ),
    "resnet_tiny_digits": (
        "resnet50_transfer_tiny (random base), digits, head then conv5 fine-tuned",
        {
            "model_or_name": "resnet50_transfer_tiny",
            "data": "digits",
            "epochs": 10,
            "fine_tune_layers": 1,
            "fine_tune_epochs": 3,
            "fine_tune_learning_rate": 1e-4,
        },
        {"epochs": 1, "fine_tune_epochs": 1, "limit": 120},
    ),
    "resnet_full_schedule": (
        "resnet50_transfer (224×224, full size), two-stage schedule, 3 batches per stage",
        {
            "model_or_name": "resnet50_transfer",
            "data": "digits",
            "epochs": 1,
            "fine_tune_layers": 1,
            "fine_tune_epochs": 1,
            "steps_per_epoch": 3,
            "batch_size": 8,
            "limit": 64,
        },
        {},
    ),
}


def run_experiment(name: str, *, quick: bool, out: Path) -> dict[str, Any]:
    """Train one experiment; return its held-out summary."""
    import zoo

    what, kwargs, quick_kwargs = EXPERIMENTS[name]
    kwargs = {**kwargs, **(quick_kwargs if quick else {})}
    started = time.perf_counter()
    result = zoo.fit(**kwargs, out=out, verbose=2)
    report = result.metrics.get("probabilities", {})
    summary = {
        "what": what,
        "arguments": kwargs,
        "run": str(result.run_dir),
        "seconds": round(time.perf_counter() - started, 1),
        "stages": result.stages,
        "rows": result.data.counts,
    }
    for key in ("accuracy", "accuracy_ci95", "f1_macro", "majority_accuracy", "chance"):
        if key in report:
            summary[key] = report[key]
    return summary


def markdown(results: dict[str, dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| experiment | test rows | accuracy (95% CI) | F1 macro | majority | chance | s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error'][:80]} | | | | | |")
            continue
        ci = r.get("accuracy_ci95", [float("nan")] * 2)
        lines.append(
            f"| {name} | {r['rows'].get('test', '')} | {r.get('accuracy', float('nan')):.3f} "
            f"({ci[0]:.3f}–{ci[1]:.3f}) | {r.get('f1_macro', float('nan')):.3f} | "
            f"{r.get('majority_accuracy', float('nan')):.3f} | {r.get('chance', float('nan')):.3f}"
            f" | {r['seconds']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None, *, runner: Callable[..., Any] = run_experiment) -> Path:
    """Run the experiments; return the folder holding proof.json and proof.md."""
    parser = argparse.ArgumentParser(prog="python -m zoo.benchmarks.transfer_proof")
    parser.add_argument("--quick", action="store_true", help="fewer epochs and rows")
    parser.add_argument("--only", nargs="+", choices=sorted(EXPERIMENTS), help="a subset")
    parser.add_argument("--out", type=Path, default=Path("runs"))
    args = parser.parse_args(argv)
    folder = args.out / f"{time.strftime('%Y%m%d-%H%M%S')}-transfer-proof"
    folder.mkdir(parents=True)
    results: dict[str, dict[str, Any]] = {}
    for name in args.only or EXPERIMENTS:
        try:
            results[name] = runner(name, quick=args.quick, out=folder)
        except Exception as exc:  # one failed experiment must not lose the others
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        (folder / "proof.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (folder / "proof.md").write_text(markdown(results))
    print(markdown(results))
    print(f"written: {folder}")
    return folder


if __name__ == "__main__":
    main()

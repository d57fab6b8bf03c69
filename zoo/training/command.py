"""The ``zoo fit`` command and the ``--from RUN`` option of ``zoo export``.

zoo fit NAME --data SOURCE [--epochs N] [--batch-size N] [--lr X] [--val-split X]
        [--seed N] [--out runs] [--strategy none|mirrored|multiworker] [--set KEY=VALUE]
        [--fine-tune-layers N --fine-tune-epochs N --fine-tune-lr X] [--limit N]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any

from zoo.errors import ZooError


def add_fit_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``zoo fit`` (settings left unset come from the recipe's ``[train]``)."""
    p.add_argument("name", help="registered model name")
    p.add_argument(
        "--data",
        help="digits | sentiment | digit-pairs | cifar10 | imdb | an image folder | a "
        ".csv/.jsonl file (default: the recipe's [train] data)",
    )
    p.add_argument("--epochs", type=int, help="stage 1 epochs (default: recipe, else 10)")
    p.add_argument("--batch-size", type=int, help="global batch size (default 32)")
    p.add_argument("--lr", type=float, dest="learning_rate", help="stage 1 learning rate")
    p.add_argument("--val-split", type=float, help="share of training rows for validation")
    p.add_argument("--test-split", type=float, help="share held out for the final metrics")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    p.add_argument("--fine-tune-layers", type=int, help="stage 2: top blocks to unfreeze")
    p.add_argument("--fine-tune-epochs", type=int, help="stage 2 epochs")
    p.add_argument(
        "--fine-tune-lr", type=float, dest="fine_tune_learning_rate", help="stage 2 rate"
    )
    p.add_argument("--limit", type=int, help="at most N rows per split (quick runs)")
    p.add_argument("--steps-per-epoch", type=int, help="batches per epoch")
    p.add_argument("--seed", type=int, default=0, help="weights, split and shuffle seed")
    p.add_argument(
        "--strategy",
        default="none",
        choices=("none", "mirrored", "multiworker"),
        help="tf.distribute strategy (multiworker reads TF_CONFIG)",
    )
    p.add_argument("--out", type=Path, default=Path("runs"), help="parent of the run folder")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter")
    p.add_argument("--text-column", help="CSV/JSONL: the text column (default 'text')")
    p.add_argument("--label-column", help="CSV/JSONL: the label column (default 'label')")


def cmd_fit(args: argparse.Namespace) -> int:
    """Run ``zoo fit``: train, print the held-out metrics and where the run went."""
    import zoo
    from zoo.registry import parse_overrides

    options = {
        k: v
        for k, v in (("text_column", args.text_column), ("label_column", args.label_column))
        if v is not None
    }
    from zoo.training import FitSettings

    # every setting has a flag of the same name; seed and strategy are passed as such
    settings = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(FitSettings)
        if f.name not in ("seed", "strategy")
    }
    result = zoo.fit(
        args.name,
        args.data,
        seed=args.seed,
        strategy=args.strategy,
        out=args.out,
        data_options=options,
        **settings,
        **parse_overrides(args.set),
    )
    print_summary(args.name, result)
    return 0


def print_summary(name: str, result: Any) -> None:
    """The held-out metrics table and the run folder."""
    from rich.table import Table

    from zoo.console import console

    table = Table(title=f"fit {name}: held-out test split", title_justify="left")
    for col in ("output", "metric", "value", "95% CI / baseline"):
        table.add_column(col)
    for output, m in result.metrics.items():
        if not isinstance(m, dict):
            continue
        if "accuracy" in m:
            low, high = m["accuracy_ci95"]
            table.add_row(output, "accuracy", f"{m['accuracy']:.3f}", f"{low:.3f}–{high:.3f}")
            table.add_row(output, "F1 (macro)", f"{m['f1_macro']:.3f}", "")
            table.add_row(output, "precision / recall (macro)",
                          f"{m['precision_macro']:.3f} / {m['recall_macro']:.3f}", "")  # fmt: skip
            if "majority_accuracy" in m:
                table.add_row(output, "majority class", f"{m['majority_accuracy']:.3f}",
                              f"chance {m['chance']:.3f}")  # fmt: skip
        elif "recall_at_1" in m:
            for direction, value in m["recall_at_1"].items():
                table.add_row(output, f"recall@1 {direction}", f"{value:.3f}",
                              f"chance {m['chance']:.3f}")  # fmt: skip
            table.add_row(output, "matching network accuracy", f"{m['matching_accuracy']:.3f}",
                          f"objective {m['objective']}")  # fmt: skip
        elif "mse" in m:
            table.add_row(output, "MSE / PSNR", f"{m['mse']:.4g} / {m['psnr_db']:.2f} dB", "")
    console().print(table)
    where = result.run_dir if result.run_dir is not None else "(not written)"
    console().print(f"run folder: {where}")


def trained_subject(
    name: str,
    source: str | os.PathLike[str],
    overrides: dict[str, Any],
    *,
    trust_code: bool = False,
) -> tuple[Any, dict[str, Any] | None]:
    """The trained model of ``zoo export NAME --from RUN`` and its export rows.

    A run folder gives the model with its recipe and rows from its validation split
    (else its training split; never the test split). A bare ``.keras`` file without a
    run next to it is taken as a trained ``NAME`` (its recipe's contract, no rows). Both
    load with Keras' safe mode unless ``trust_code`` (``--trust-code``).

    Raises:
        ZooError: the run trained another model, or ``--set`` was given with ``--from``.
    """
    from zoo.training.run import RUN_FILE, load_run

    if overrides:
        raise ZooError(
            f"--set {sorted(overrides)} with --from: the trained model's parameters are "
            "fixed by its run; drop --set."
        )
    path = Path(source).expanduser()
    bare = path.suffix == ".keras" and not (path.parent / RUN_FILE).is_file()
    if bare:
        return _bare_keras(name, path, trust_code), None
    run = load_run(path)
    if run.name != name:
        raise ZooError(
            f"--from {os.fspath(source)!r} trained {run.name!r}, not {name!r}; run "
            f"`zoo export {run.name} --from {os.fspath(source)}`."
        )
    model = run.load_model(trust_code=trust_code)
    return model, run.export_rows(model)


def _bare_keras(name: str, path: Path, trust_code: bool) -> Any:
    from zoo._build import Origin, check_contract
    from zoo.keras_files import load_keras
    from zoo.registry import REGISTRY

    if not path.is_file():
        raise ZooError(f"--from {str(path)!r}: no such .keras file.")
    entry = REGISTRY.get(name)
    model = load_keras(path, trust_code=trust_code, what="--from")
    _, inputs, outputs = entry.resolve_io({})
    check_contract(model, inputs, outputs, where=f"--from {path}")
    model.zoo_origin = Origin(name, {}, None)
    return model

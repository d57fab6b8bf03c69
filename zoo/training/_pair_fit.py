"""``zoo fit`` for dual encoders: pairs in, retrieval metrics and a run folder out.

A dual encoder trains on matching pairs with its recipe's objective
(:func:`zoo.training.contrastive.fit_pairs`) rather than on labels with a loss per
output, and is scored by held-out retrieval. The run folder has the layout of every fit
(:mod:`zoo.training.run`): ``model.keras`` (the pair model, no objective inside),
``metrics.json`` (recall@1 both ways, chance, matching-network accuracy),
``history.csv``, ``learning_curves.png``, ``recipe.toml``, ``vocabulary.txt`` and
``run.json``, whose ``data`` entry (``kind = "pairs"``) lets ``zoo export --from`` rebuild
the validation pairs, checked by fingerprint.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.training.run import METRICS_FILE, MODEL_FILE, RUN_FILE, SCHEMA_VERSION, RunFolder

#: Files of a pair run folder.
RUN_FILES = (
    MODEL_FILE,
    METRICS_FILE,
    RUN_FILE,
    "history.csv",
    "learning_curves.png",
    "recipe.toml",
    "vocabulary.txt",
)


def is_pair_model(entry: Any) -> bool:
    """Whether a registry entry builds a dual-encoder pair model (trained on pairs)."""
    if entry is None or "objective" not in entry.family.params.model_fields:
        return False
    return getattr(entry.params, "part", "pair") == "pair"


def fit_pair_run(
    name: str,
    source: str,
    *,
    settings: Any,
    overrides: dict[str, Any],
    out: Path | None,
    verbose: str | int,
) -> Any:
    """Train ``name`` on the pairs of ``source``; see :func:`zoo.fit`.

    Raises:
        ZooError: a distribution strategy was asked for, ``part`` is not the pair model,
            or the source does not fit the model.
    """
    import zoo
    from zoo.data.digit_targets import WORD_VOCABULARY
    from zoo.data.pairs import fingerprint
    from zoo.registry import REGISTRY
    from zoo.training._fit import FitResult, settings_dict
    from zoo.training._record import LIBRARIES, copy_recipe, model_record
    from zoo.training.contrastive import fit_pairs
    from zoo.training.report import plot_curves
    from zoo.versions import library_versions

    if settings.strategy != "none":
        raise ZooError(
            f"strategy={settings.strategy!r}: dual encoders train on one device here (their "
            "in-batch objectives need every negative of a batch on one replica); drop "
            "--strategy."
        )
    if overrides.get("part", "pair") != "pair":
        raise ZooError(
            f"part={overrides['part']!r}: a tower alone has no pairs to learn from; train "
            "the pair model and take the tower from it (zoo.get(name, part=...) + weights "
            "by layer name, or export the trained model's part)."
        )
    started = time.perf_counter()
    model = zoo.get(name, seed=settings.seed, **overrides)
    call = {
        "source": str(source),
        "val_split": settings.val_split or 0.15,
        "test_split": settings.test_split,
        "seed": settings.seed,
        "sample_rate": getattr(REGISTRY.get(name).resolve(overrides)[0], "sample_rate", None),
    }
    data = _pairs(call, model)
    run = RunFolder.create(Path(out), name) if out is not None else None
    try:
        callbacks = [_csv_logger(run.staging / "history.csv")] if run is not None else []
        result = fit_pairs(
            model,
            data,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            seed=settings.seed,
            verbose=verbose,
            callbacks=callbacks,
        )
        metrics = {
            "embedding": {
                "recall_at_1": result.recall,
                "chance": result.chance,
                "matching_accuracy": result.matching_accuracy,
                "objective": result.objective,
                "temperature": result.temperature,
                "test_pairs": len(data.test),
            }
        }
        stages = [
            {
                "name": "pairs",
                "objective": result.objective,
                "epochs": len(result.history.get("loss", [])),
                "first_epoch": 0,
                "seconds": round(result.seconds, 3),
            }
        ]
        fit_result = FitResult(model, metrics, result.history, None, data, settings, stages)
        if run is None:
            return fit_result
        # The pair model's own optimizer never stepped (the wrapper's did): build it, so a
        # reload does not warn that the saved optimizer has fewer variables than the model.
        model.optimizer.build(model.trainable_variables)
        model.save(run.staging / MODEL_FILE)
        plot_curves(result.history, run.staging / "learning_curves.png", title=model.name)
        (run.staging / "vocabulary.txt").write_text("\n".join(WORD_VOCABULARY) + "\n", "utf-8")
        copy_recipe(model, run)
        run.write_json(METRICS_FILE, {"test": metrics, "history": result.history})
        run.write_json(
            RUN_FILE,
            {
                "schema_version": SCHEMA_VERSION,
                "model": model_record(model, overrides),
                "settings": settings_dict(settings),
                "stages": stages,
                "data": {
                    "kind": "pairs",
                    "call": call,
                    "fingerprint": fingerprint(data),
                    "source": data.source,
                    "counts": {k: len(getattr(data, k)) for k in ("train", "val", "test")},
                    "class_names": list(data.class_names),
                },
                "strategy": {"kind": "none", "class": "default", "replicas": 1},
                "seconds": {"total": round(time.perf_counter() - started, 3)},
                "versions": library_versions(LIBRARIES),
                "files": sorted(RUN_FILES),
            },
        )
        fit_result.run_dir = run.commit()
    except BaseException:
        if run is not None:
            run.discard()
        raise
    return fit_result


def _pairs(call: dict[str, Any], model: Any) -> Any:
    """The pairs a run's recorded ``call`` gives for ``model``."""
    from zoo.data.pairs import pair_data_for

    return pair_data_for(
        call["source"],
        model,
        sample_rate=call.get("sample_rate"),
        val_fraction=call["val_split"],
        test_fraction=call["test_split"],
        seed=call["seed"],
    )


def _csv_logger(path: Path) -> Any:
    import keras

    return keras.callbacks.CSVLogger(str(path))


def pair_rows(record: dict[str, Any], model: Any, *, limit: int = 256) -> dict[str, Any]:
    """The validation pairs of a pair run, rebuilt and checked by fingerprint.

    Raises:
        ZooError: the rebuilt pairs differ from those the run trained on.
    """
    from zoo.data.pairs import fingerprint

    call = record["data"]["call"]
    data = _pairs(call, model)
    if fingerprint(data) != record["data"]["fingerprint"]:
        raise ZooError(
            f"the {call['source']!r} pairs rebuilt now differ from those the run trained on "
            "(another scikit-learn digits copy or espeak-ng version?); export without "
            "--from and pass rows."
        )
    names = {t.name for t in model.inputs}
    return {k: v[:limit] for k, v in data.val.inputs.items() if k in names}

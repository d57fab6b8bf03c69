"""``zoo.fit``: train a registered (or built) model on data matched to its contract.

One run: resolve the settings (arguments over the recipe's ``[train]`` table over the
defaults), build the model inside the distribution strategy's scope, match the data to
it (:func:`zoo.data.splits`), train stage 1 (the base as the recipe builds it: frozen for
transfer families), optionally stage 2 (top blocks unfrozen at a lower learning rate),
score the held-out test split and write the run folder (:mod:`zoo.training.run`).

Keras ``fit`` does the training (callbacks: best checkpoint, early stopping, CSV log,
progress bar). Under MultiWorkerMirroredStrategy, where Keras 3 ``fit`` crashes
(keras-team/keras#20585), :func:`zoo.training.distribute.custom_fit` runs the epochs.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.training import _trainer
from zoo.training._trainer import Trainer, recompile

#: Settings :func:`fit` takes from its arguments, else the recipe's ``[train]`` table.
RECIPE_SETTINGS = (
    "epochs",
    "batch_size",
    "learning_rate",
    "val_split",
    "patience",
    "fine_tune_layers",
    "fine_tune_epochs",
    "fine_tune_learning_rate",
)


@dataclass(frozen=True)
class FitSettings:
    """How a run trains (see :func:`zoo.fit` for each field)."""

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float | None = None
    val_split: float = 0.1
    test_split: float = 0.2
    patience: int = 3
    fine_tune_layers: int = 0
    fine_tune_epochs: int = 0
    fine_tune_learning_rate: float = 1e-5
    seed: int = 0
    limit: int | None = None
    steps_per_epoch: int | None = None
    strategy: str = "none"


@dataclass
class FitResult:
    """What :func:`zoo.fit` returns.

    Attributes:
        model: The trained Keras model (best epoch by the monitored loss).
        metrics: Held-out (test split) metrics, as in ``metrics.json``.
        history: Keras-style per-epoch history over all stages.
        run_dir: The run folder (``None`` with ``out=None`` or on a non-chief worker).
        data: The :class:`zoo.data.ModelData` the model was trained on.
        settings: The resolved settings.
    """

    model: Any
    metrics: dict[str, Any]
    history: dict[str, list[float]]
    run_dir: Path | None
    data: Any
    settings: FitSettings
    stages: list[dict[str, Any]] = field(default_factory=list)


def resolve_settings(train: Any, given: dict[str, Any]) -> FitSettings:
    """Arguments that are not ``None`` win over the recipe's ``[train]`` table."""
    values: dict[str, Any] = {}
    for key in RECIPE_SETTINGS:
        if given.get(key) is not None:
            values[key] = given[key]
        elif train is not None:
            values[key] = getattr(train, key)
    for key in ("test_split", "seed", "limit", "steps_per_epoch", "strategy"):
        if given.get(key) is not None:
            values[key] = given[key]
    settings = FitSettings(**values)
    _check_settings(settings)
    return settings


def _check_settings(s: FitSettings) -> None:
    checks = [
        ("epochs", s.epochs >= 1, "an integer >= 1"),
        ("batch_size", s.batch_size >= 1, "an integer >= 1"),
        ("val_split", 0 <= s.val_split < 1, "a fraction in [0, 1)"),
        ("test_split", 0 < s.test_split < 1, "a fraction in (0, 1)"),
        ("patience", s.patience >= 1, "an integer >= 1"),
        ("fine_tune_layers", s.fine_tune_layers >= 0, "an integer >= 0"),
        ("fine_tune_epochs", s.fine_tune_epochs >= 0, "an integer >= 0"),
        ("learning_rate", s.learning_rate is None or s.learning_rate > 0, "a number > 0"),
        ("fine_tune_learning_rate", s.fine_tune_learning_rate > 0, "a number > 0"),
    ]
    for key, ok, expected in checks:
        if not ok:
            raise ZooError(f"{key}={getattr(s, key)!r}: expected {expected}.")
    if s.fine_tune_layers and not s.fine_tune_epochs:
        raise ZooError(
            f"fine_tune_layers={s.fine_tune_layers} but fine_tune_epochs=0: stage 2 would "
            "unfreeze layers and train nothing. Set fine_tune_epochs (e.g. 3) too."
        )


def fit(
    model_or_name: Any,
    data: str | os.PathLike[str] | None = None,
    *,
    out: str | os.PathLike[str] | None = "runs",
    seed: int = 0,
    strategy: str = "none",
    data_options: dict[str, Any] | None = None,
    verbose: str | int = "auto",
    **kwargs: Any,
) -> FitResult:
    """Train a model on a data source and write a run folder; see :func:`zoo.fit`."""
    from zoo.training import distribute

    settings_given = {k: kwargs.pop(k) for k in list(kwargs) if k in FitSettings.__annotations__}
    overrides = kwargs
    entry = _entry_of(model_or_name)
    settings = resolve_settings(
        entry.recipe.train if entry else None,
        {**settings_given, "seed": seed, "strategy": strategy},
    )
    source = _source(data, entry)
    options = dict(data_options or {})
    from zoo.training._pair_fit import fit_pair_run, is_pair_model

    if is_pair_model(entry):
        if not isinstance(model_or_name, str):
            raise ZooError(
                "a dual encoder trains from its registered name (zoo.fit(name, ...)); for a "
                "built model use zoo.training.contrastive.fit_pairs(model, pairs)."
            )
        return fit_pair_run(
            model_or_name,
            source,
            settings=settings,
            overrides=overrides,
            out=Path(out) if out is not None else None,
            verbose=verbose,
        )
    if not isinstance(model_or_name, str):
        if overrides:
            raise ZooError(
                f"parameter overrides {sorted(overrides)} apply to a model name, not to a "
                "built model; pass the name, or build the model with them first."
            )
        if settings.strategy != "none":
            raise ZooError(
                f"strategy={settings.strategy!r} needs the model built inside the strategy's "
                "scope: pass the registered name (zoo builds it there), not a built model."
            )
    strat = distribute.make_strategy(settings.strategy)
    chief = distribute.is_chief(strat)
    started = time.perf_counter()
    if isinstance(model_or_name, str):
        overrides = _match_classes(model_or_name, source, options, overrides)
        with strat.scope():
            import zoo

            model = zoo.get(model_or_name, seed=settings.seed, **overrides)
            if settings.learning_rate is not None:
                recompile(model, settings.learning_rate)
    else:
        model = model_or_name
        if settings.learning_rate is not None:
            recompile(model, settings.learning_rate)
    built_seconds = time.perf_counter() - started

    from zoo.data import splits

    call = {
        "source": os.fspath(source),
        "options": options,
        "batch_size": settings.batch_size,
        "val_split": settings.val_split,
        "test_split": settings.test_split,
        "seed": settings.seed,
        "limit": settings.limit,
    }
    settings_call = {k: v for k, v in call.items() if k not in ("source", "options")}
    md = splits(source, for_model=model, **settings_call, **options)
    run = None
    if out is not None and chief:
        from zoo.training.run import RunFolder

        run = RunFolder.create(Path(out), _model_name(model))
    try:
        trainer = Trainer(model, md, settings, strat, run, verbose)
        history, stages = trainer.train()
        metrics = _trainer.evaluate(model, md, keras_metrics=not distribute.uses_custom_loop(strat))
        result = FitResult(model, metrics, history, None, md, settings, stages)
        if run is not None:
            from zoo.training import _record

            _record.write(
                run,
                result,
                call=call,
                overrides=overrides,
                strategy=strat,
                seconds={"build": built_seconds, "total": time.perf_counter() - started},
            )
            result.run_dir = run.commit()
    except BaseException:
        if run is not None:
            run.discard()
        raise
    return result


def _entry_of(model_or_name: Any) -> Any:
    """The registry entry of a name or of a model built by ``zoo.get``, else ``None``."""
    from zoo.registry import REGISTRY, origin

    if isinstance(model_or_name, str):
        return REGISTRY.get(model_or_name)
    found = origin(model_or_name)
    return REGISTRY.get(found.name) if found is not None else None


def _model_name(model: Any) -> str:
    from zoo.registry import origin

    found = origin(model)
    return found.name if found is not None else str(model.name)


def _source(data: Any, entry: Any) -> Any:
    if data is not None:
        return data
    default = entry.recipe.train.data if entry is not None else None
    if default is None:
        from zoo.data import SOURCES

        raise ZooError(
            "no data: pass a source (--data SOURCE / data=...), e.g. "
            f"{', '.join(repr(s) for s in SOURCES)}, an image folder or a CSV/JSONL file; "
            "or set data in the recipe's [train] table."
        )
    return default


def _match_classes(
    name: str, source: Any, options: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, Any]:
    """Set ``num_classes`` from the data's classes unless given (a 2-class source keeps 1)."""
    from zoo.data import peek
    from zoo.registry import REGISTRY

    entry = REGISTRY.get(name)
    if "num_classes" in overrides or "num_classes" not in entry.family.params.model_fields:
        return overrides
    classes = peek(source, **options).class_names
    if not classes:
        return overrides
    params, _ = entry.resolve(overrides)
    current = int(params.num_classes)  # type: ignore[attr-defined]
    if current == len(classes) or (current == 1 and len(classes) == 2):
        return overrides
    print(
        f"{name}: num_classes {current} → {len(classes)} to fit the data's classes "
        f"({', '.join(classes[:12])}{' …' if len(classes) > 12 else ''}); "
        "pass --set num_classes=N to choose yourself.",
        file=sys.stderr,
    )
    return {**overrides, "num_classes": len(classes)}


def settings_dict(settings: FitSettings) -> dict[str, Any]:
    """The settings as plain data."""
    return asdict(settings)


__all__ = ["FitResult", "FitSettings", "fit", "resolve_settings", "settings_dict"]

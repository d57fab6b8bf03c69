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

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

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
                _recompile(model, settings.learning_rate)
    else:
        model = model_or_name
        if settings.learning_rate is not None:
            _recompile(model, settings.learning_rate)
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
        trainer = _Trainer(model, md, settings, strat, run, verbose)
        history, stages = trainer.train()
        metrics = _evaluate(model, md, keras_metrics=not distribute.uses_custom_loop(strat))
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


def _recompile(model: Any, learning_rate: float) -> None:
    """Compile again with the same loss and metrics and a fresh optimizer at ``learning_rate``."""
    config = model.get_compile_config()
    if config is None:
        raise ZooError(
            f"model {model.name!r} is not compiled: compile it (optimizer, loss) before "
            "fitting, or pass a registered name."
        )
    optimizer = dict(config["optimizer"])
    optimizer["config"] = {**optimizer["config"], "learning_rate": float(learning_rate)}
    model.compile_from_config({**config, "optimizer": optimizer})


class _Trainer:
    """Runs the stages of one fit and collects their history."""

    def __init__(
        self, model: Any, md: Any, settings: FitSettings, strategy: Any, run: Any, verbose: Any
    ):
        self.model = model
        self.md = md
        self.s = settings
        self.strategy = strategy
        self.run = run
        self.verbose = verbose if verbose != "auto" else (1 if sys.stdout.isatty() else 2)
        self.history: dict[str, list[float]] = {}
        self.monitor = "val_loss" if md.val is not None else "loss"
        self._checkpoint: Any = None

    def train(self) -> tuple[dict[str, list[float]], list[dict[str, Any]]]:
        stages = [self._stage("head" if self._has_fine_tune() else "train", self.s.epochs)]
        if self.s.fine_tune_layers:
            unfrozen = self._unfreeze(self.s.fine_tune_layers)
            with self.strategy.scope():
                _recompile(self.model, self.s.fine_tune_learning_rate)
            stage = self._stage("fine_tune", self.s.fine_tune_epochs)
            stage["unfrozen"] = unfrozen
            stage["learning_rate"] = self.s.fine_tune_learning_rate
            stages.append(stage)
        self._restore_best()
        return self.history, stages

    def _has_fine_tune(self) -> bool:
        return self.s.fine_tune_layers > 0

    def _unfreeze(self, n: int) -> list[str]:
        from zoo.registry import REGISTRY, origin

        found = origin(self.model)
        family = REGISTRY.get(found.name).family if found is not None else None
        if family is None or family.fine_tune is None:
            what = f"family {family.name!r}" if family is not None else "this model"
            raise ZooError(
                f"fine_tune_layers={n}: {what} has no pretrained base to unfreeze in stages; "
                "expected a transfer family (resnet50_transfer, bert_classifier). Leave "
                "fine_tune_layers at 0."
            )
        return family.fine_tune(self.model, n)

    def _stage(self, name: str, epochs: int) -> dict[str, Any]:
        from zoo.training import distribute

        start_epoch = len(self.history.get("loss", []))
        trainable = sum(math.prod(w.shape) for w in self.model.trainable_weights)
        started = time.perf_counter()
        if distribute.uses_custom_loop(self.strategy):
            new = distribute.custom_fit(
                self.model,
                self.md.train,
                strategy=self.strategy,
                epochs=epochs,
                steps_per_epoch=self.s.steps_per_epoch,
                val=self.md.val,
            )
        else:
            train = self.md.train
            if self.strategy.num_replicas_in_sync > 1:
                # Keras fit weights each replica's mean equally: a last batch split unevenly
                # across replicas would bias that step, so every batch is full.
                train = train.rebatch(self.s.batch_size, drop_remainder=True)
            with self.strategy.scope():
                fitted = self.model.fit(
                    train,
                    validation_data=self.md.val,
                    epochs=start_epoch + epochs,
                    initial_epoch=start_epoch,
                    steps_per_epoch=self.s.steps_per_epoch,
                    callbacks=self._callbacks(),
                    shuffle=False,  # the training split reshuffles itself each epoch
                    verbose=self.verbose,
                )
            new = fitted.history
        for key, values in new.items():
            self.history.setdefault(key, []).extend(float(v) for v in values)
        ran = len(self.history.get("loss", [])) - start_epoch
        return {
            "stage": name,
            "epochs_planned": epochs,
            "epochs_run": ran,
            "first_epoch": start_epoch,
            "trainable_parameters": trainable,
            "learning_rate": float(self.model.optimizer.learning_rate.numpy()),
            "seconds": round(time.perf_counter() - started, 3),
        }

    def _callbacks(self) -> list[Any]:
        import keras

        callbacks: list[Any] = [
            keras.callbacks.EarlyStopping(
                monitor=self.monitor, patience=self.s.patience, restore_best_weights=True
            )
        ]
        if self.run is not None:
            if self._checkpoint is None:  # one instance: "best" spans both stages
                folder = self.run.staging / "checkpoints"
                folder.mkdir(exist_ok=True)
                self._checkpoint = keras.callbacks.ModelCheckpoint(
                    folder / "best.weights.h5",
                    monitor=self.monitor,
                    save_best_only=True,
                    save_weights_only=True,
                )
            callbacks += [
                self._checkpoint,
                keras.callbacks.CSVLogger(str(self.run.staging / "history.csv"), append=True),
            ]
        return callbacks

    def _restore_best(self) -> None:
        """Load the best checkpoint's weights (the model may have ended on a worse epoch)."""
        if self._checkpoint is None:
            return
        path = Path(self._checkpoint.filepath)
        if path.is_file():
            self.model.load_weights(path)


def _evaluate(model: Any, md: Any, *, keras_metrics: bool = True) -> dict[str, Any]:
    """Score the test split: the compiled metrics plus the classification report.

    Args:
        model: The trained model.
        md: Its :class:`zoo.data.ModelData`.
        keras_metrics: Also run ``model.evaluate`` (not under MultiWorkerMirroredStrategy,
            where Keras 3's evaluate has the bug of its fit; outputs are then computed batch
            by batch on each worker, which needs no collective).
    """
    import numpy as np

    from zoo.training.report import classification_report, reconstruction_report

    metrics: dict[str, Any] = {"split": "test", "rows": int(md.counts["test"])}
    if keras_metrics:
        found = model.evaluate(md.test, verbose=0, return_dict=True)
        metrics["keras"] = {k: float(v) for k, v in found.items()}
    inputs, targets = md.arrays("test")
    outputs = _predict(model, inputs)
    for name, out in outputs.items():
        out = np.asarray(out)
        if md.class_names is not None and name == "probabilities":
            predicted = (out[:, 0] > 0.5).astype(np.int64) if out.shape[1] == 1 else out.argmax(1)
            metrics[name] = classification_report(
                md.labels("test"), predicted, md.class_names, train_labels=md.labels("train")
            )
        elif name in targets:
            metrics[name] = reconstruction_report(targets[name], out)
    return metrics


def _predict(model: Any, inputs: dict[str, Any], batch: int = 64) -> dict[str, Any]:
    """Outputs of ``model`` on numpy rows, batch by batch, outside any strategy's replicas."""
    import numpy as np

    rows = len(next(iter(inputs.values())))
    parts: dict[str, list[Any]] = {}
    for start in range(0, rows, batch):
        out = model({k: v[start : start + batch] for k, v in inputs.items()}, training=False)
        for name, value in out.items():
            parts.setdefault(name, []).append(np.asarray(value))
    return {name: np.concatenate(values) for name, values in parts.items()}


def settings_dict(settings: FitSettings) -> dict[str, Any]:
    """The settings as plain data."""
    return asdict(settings)


__all__ = ["FitResult", "FitSettings", "fit", "resolve_settings", "settings_dict"]

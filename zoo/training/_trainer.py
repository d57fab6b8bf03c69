"""The stages of one fit (Keras ``fit`` or the multi-worker loop) and the held-out scoring."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

from zoo.errors import ZooError


def recompile(model: Any, learning_rate: float) -> None:
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


class Trainer:
    """Runs the stages of one fit and collects their history."""

    def __init__(self, model: Any, md: Any, settings: Any, strategy: Any, run: Any, verbose: Any):
        self.model = model
        self.md = md
        self.s = settings
        self.strategy = strategy
        self.run = run
        self.verbose = verbose if verbose != "auto" else (1 if sys.stdout.isatty() else 2)
        self.history: dict[str, list[float]] = {}
        self.monitor = "val_loss" if md.val is not None else "loss"
        self._checkpoint: Any = None
        #: Custom loop only: the best monitored value and weights so far, across stages.
        self.best_value = math.inf
        self.best_weights: list[Any] | None = None

    def train(self) -> tuple[dict[str, list[float]], list[dict[str, Any]]]:
        stages = [self._stage("head" if self._has_fine_tune() else "train", self.s.epochs)]
        if self.s.fine_tune_layers:
            unfrozen = self._unfreeze(self.s.fine_tune_layers)
            with self.strategy.scope():
                recompile(self.model, self.s.fine_tune_learning_rate)
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
                callbacks_on_epoch_end=_EpochEnd(self, start_epoch),
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
        if self.best_weights is not None:  # the custom loop's in-memory best
            self.model.set_weights(self.best_weights)
            return
        if self._checkpoint is None:
            return
        path = Path(self._checkpoint.filepath)
        if path.is_file():
            self.model.load_weights(path)


class _EpochEnd:
    """The custom loop's callbacks: CSV log, best weights in memory, early stopping.

    What Keras' ``CSVLogger``, ``ModelCheckpoint`` and ``EarlyStopping`` do under ``fit``.
    The logs are all-reduced, so every worker keeps the same best epoch and stops at the
    same one (no worker waits for a peer that already left); only the chief writes.
    """

    def __init__(self, trainer: Trainer, first_epoch: int):
        self.t = trainer
        self.first_epoch = first_epoch
        self.wait = 0
        self.stage_best = math.inf  # patience counts within the stage, as a fresh EarlyStopping

    def __call__(self, epoch: int, logs: dict[str, float]) -> bool:
        import numpy as np

        t = self.t
        if t.run is not None:
            path = t.run.staging / "history.csv"
            keys = sorted(logs)
            with path.open("a", encoding="utf-8") as fh:
                if fh.tell() == 0:
                    fh.write(",".join(["epoch", *keys]) + "\n")
                fh.write(",".join([str(self.first_epoch + epoch), *(repr(logs[k]) for k in keys)]))
                fh.write("\n")
        value = logs.get(t.monitor, math.inf)
        if value < t.best_value:  # the best epoch over every stage, as the checkpoint keeps
            t.best_value = value
            t.best_weights = [np.array(w) for w in t.model.get_weights()]
        if value < self.stage_best:
            self.stage_best = value
            self.wait = 0
            return False
        self.wait += 1
        return self.wait >= t.s.patience


def evaluate(model: Any, md: Any, *, keras_metrics: bool = True) -> dict[str, Any]:
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
    outputs = predict_rows(model, inputs)
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


def predict_rows(model: Any, inputs: dict[str, Any], batch: int = 64) -> dict[str, Any]:
    """Outputs of ``model`` on numpy rows, batch by batch, outside any strategy's replicas."""
    import numpy as np

    rows = len(next(iter(inputs.values())))
    parts: dict[str, list[Any]] = {}
    for start in range(0, rows, batch):
        out = model({k: v[start : start + batch] for k, v in inputs.items()}, training=False)
        for name, value in out.items():
            parts.setdefault(name, []).append(np.asarray(value))
    return {name: np.concatenate(values) for name, values in parts.items()}

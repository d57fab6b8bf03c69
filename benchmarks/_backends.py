"""Backends: one runner per way of executing the model, all with the same interface.

A backend turns a benchmark :class:`Context` into an ``export._base.Runner``
(``prepare`` outside the timed region, ``run`` inside) or says why it does not apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from export._base import Arrays, Runner


@dataclass
class Context:
    """What a backend may use: the Keras model and the exported artifacts folder."""

    model: Any
    artifacts: Path | None
    manifest: dict[str, Any]


class NotApplicable(Exception):
    """The backend cannot run this model here; the message says why."""


class KerasPredict:
    """``model.predict`` (Keras' batched inference loop)."""

    def __init__(self, model: Any):
        self.model = model

    def prepare(self, inputs: Arrays) -> Arrays:
        return inputs

    def run(self, prepared: Arrays) -> Arrays:
        n = len(next(iter(prepared.values())))
        return dict(self.model.predict(prepared, batch_size=n, verbose=0))


def _keras_predict(ctx: Context) -> Runner:
    return KerasPredict(ctx.model)


def _keras_call(ctx: Context) -> Runner:
    from export.formats.keras_file import KerasRunner

    return KerasRunner(ctx.model)


def _saved_model(ctx: Context) -> Runner:
    from export import load_runner

    if ctx.artifacts is None or "saved_model" not in ctx.manifest.get("artifacts", {}):
        raise NotApplicable("no SavedModel artifact was exported")
    return load_runner(
        "saved_model", ctx.artifacts / ctx.manifest["artifacts"]["saved_model"]["path"]
    )


#: name → (factory, description). Order is the report's order.
BACKENDS: dict[str, tuple[Callable[[Context], Runner], str]] = {
    "keras_predict": (_keras_predict, "Keras model.predict"),
    "keras_call": (_keras_call, "Keras direct call, training=False"),
    "saved_model": (_saved_model, "reloaded SavedModel serving_default signature"),
}

"""``keras`` format: a ``.keras`` file, reloaded with ``safe_mode=True``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.exporters._base import Arrays, ExportContext, ExportFormat


def write(model: Any, path: Path, ctx: ExportContext) -> None:
    """Save ``model`` as a ``.keras`` archive at ``path``."""
    model.save(path)


class KerasRunner:
    """Direct call of a Keras model (``training=False``)."""

    def __init__(self, model: Any):
        self.model = model

    def prepare(self, inputs: Arrays) -> Arrays:
        return inputs

    def run(self, prepared: Arrays) -> Arrays:
        out = self.model(prepared, training=False)
        return {k: v.numpy() if hasattr(v, "numpy") else v for k, v in out.items()}


def load(path: Path) -> KerasRunner:
    """Reload the archive (safe mode: no arbitrary code) into a runner."""
    import warnings

    import keras

    from zoo.families import register_keras_objects

    register_keras_objects()  # zoo's own classes ("zoo>ZooBertBackbone"), before loading
    with warnings.catch_warnings():
        # A compiled but untrained model saves 2 optimizer variables and rebuilds more on
        # load; Keras warns about skipping them. The weights themselves load in full.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        return KerasRunner(keras.saving.load_model(path, safe_mode=True))


FORMATS = [ExportFormat("keras", "model.keras", write, load, runtime="keras (safe_mode)")]

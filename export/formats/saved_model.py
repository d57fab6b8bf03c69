"""``saved_model`` format: TF SavedModel with a named, dynamic-batch serving signature.

The signatures ``serve`` and ``serving_default`` take the recipe's input names as
keyword arguments and return a dict keyed by the recipe's output names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from export._base import Arrays, ExportContext, ExportFormat

SIGNATURE = "serving_default"


def write(model: Any, path: Path, ctx: ExportContext) -> None:
    """Export ``model`` as a SavedModel folder at ``path``."""
    model.export(str(path), format="tf_saved_model", verbose=False)


class SavedModelRunner:
    """Calls a SavedModel signature with ``tf.constant`` inputs."""

    def __init__(self, path: Path, signature: str = SIGNATURE):
        import tensorflow as tf

        self._tf = tf
        self.loaded = tf.saved_model.load(str(path))
        if signature not in self.loaded.signatures:
            raise KeyError(
                f"{path}: no signature {signature!r}; found {sorted(self.loaded.signatures)}"
            )
        self.fn = self.loaded.signatures[signature]
        _, self.input_specs = self.fn.structured_input_signature

    def prepare(self, inputs: Arrays) -> dict[str, Any]:
        return {
            name: self._tf.constant(inputs[name], dtype=spec.dtype)
            for name, spec in self.input_specs.items()
        }

    def run(self, prepared: dict[str, Any]) -> Arrays:
        return {k: v.numpy() for k, v in self.fn(**prepared).items()}


def load(path: Path) -> SavedModelRunner:
    """Load the SavedModel and its serving signature."""
    return SavedModelRunner(path)


FORMATS = [ExportFormat("saved_model", "saved_model", write, load, runtime="tensorflow")]

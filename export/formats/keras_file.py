"""``keras`` format: a ``.keras`` file, reloaded with ``safe_mode=True``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.exporters._base import Arrays, ExportContext, ExportFormat
from zoo.exporters._contract import (
    Contract,
    InputSignature,
    dtype_name,
    manifest_contract,
    resolve,
    runtime_signature,
)


def write(model: Any, path: Path, ctx: ExportContext) -> None:
    """Save ``model`` as a ``.keras`` archive at ``path``."""
    model.save(path)


class KerasRunner:
    """Direct call of a Keras model (``training=False``).

    Args:
        model: The Keras model.
        contract: What ``prepare`` checks the inputs against; by default the model's own
            dict of named inputs (no check for a model whose inputs are not a dict).

    Attributes:
        contract: The :class:`~zoo.exporters.Contract`, or ``None``.
    """

    def __init__(self, model: Any, *, contract: Contract | None = None):
        self.model = model
        declared = declared_inputs(model)
        if contract is None and declared is not None:
            contract = Contract(declared, "Keras model inputs")
        self.contract = contract

    def prepare(self, inputs: Arrays) -> Arrays:
        """Check ``inputs`` against :attr:`contract` (arrays of its dtypes).

        Raises:
            InputContractError: names, dtypes or shapes differ from the contract.
        """
        return inputs if self.contract is None else self.contract.check(inputs)

    def run(self, prepared: Arrays) -> Arrays:
        out = self.model(prepared, training=False)
        return {k: v.numpy() if hasattr(v, "numpy") else v for k, v in out.items()}


def declared_inputs(model: Any) -> dict[str, InputSignature] | None:
    """The model's named inputs as signatures, or ``None`` if its inputs are not named."""
    inputs = getattr(model, "_inputs_struct", None)
    if not isinstance(inputs, dict):
        return None
    return {
        name: runtime_signature(name, list(t.shape), dtype_name(t.dtype))
        for name, t in inputs.items()
    }


def load(path: Path) -> KerasRunner:
    """Reload the archive (safe mode: no arbitrary code) into a runner.

    The runner checks inputs against the manifest next to the file, if it lists the file,
    else against the model's own named inputs.

    Raises:
        zoo.keras_files.UnsafeModelError: the file holds a ``Lambda`` layer.
        zoo.keras_files.ModelFileError: not a loadable ``.keras`` archive.
    """
    from zoo.keras_files import load_keras

    model = load_keras(path)
    declared = declared_inputs(model)
    if declared is None:  # inputs not named: only a manifest can say what the model takes
        return KerasRunner(model, contract=manifest_contract(Path(path)))
    return KerasRunner(model, contract=resolve(path, declared, "keras"))


FORMATS = [ExportFormat("keras", "model.keras", write, load, runtime="keras (safe_mode)")]

"""``saved_model`` format: TF SavedModel with a named, dynamic-batch serving signature.

The signatures ``serve`` and ``serving_default`` take the recipe's input names as
keyword arguments and return a dict keyed by the recipe's output names. A family may add
more signatures (``register_family(..., signatures=fn)``), e.g. ``bert_classifier``'s
``serve_text`` that takes raw strings and tokenizes inside the graph with
tensorflow-text ops; such a SavedModel reloads only in a process that imported
``tensorflow_text`` first, which :class:`SavedModelRunner` does when it is installed.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from zoo.exporters._base import SERVING_SIGNATURE, Arrays, ExportContext, ExportFormat
from zoo.exporters._contract import Contract, InputSignature, resolve, runtime_signature

from zoo.errors import ZooError

#: The endpoint every SavedModel has (``serving_default`` is an alias of it).
ENDPOINT = "serve"


def write(model: Any, path: Path, ctx: ExportContext) -> dict[str, Any]:
    """Export ``model`` as a SavedModel folder at ``path``, with the family's extra signatures.

    Returns:
        Manifest details: the signature names, and what a serving process must import
        when an extra signature uses tensorflow-text ops.
    """
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(ENDPOINT, model.__call__, input_signature=[_input_signature(model)])
    extra = ctx.extra_signatures(model) if ctx.extra_signatures is not None else {}
    for name, fn in extra.items():
        if name in (ENDPOINT, SERVING_SIGNATURE):
            raise ZooError(
                f"{ctx.name}: the family declares an extra signature named {name!r}, which "
                f"is reserved for the default one; expected another name."
            )
        archive.add_endpoint(name, fn)
    archive.write_out(str(path), verbose=False)
    details: dict[str, Any] = {"signatures": [ENDPOINT, SERVING_SIGNATURE, *extra]}
    custom = _non_core_ops(path)
    if custom:
        details["custom_ops"] = custom
        details["load_note"] = (
            "the graph uses ops outside core TensorFlow; register them before "
            "tf.saved_model.load (tensorflow-text ops: import tensorflow_text)"
        )
    return details


def _input_signature(model: Any) -> Any:
    """``tf.TensorSpec`` per model input, named after it, with a dynamic batch axis."""
    import keras
    import tensorflow as tf

    return keras.tree.map_structure(
        lambda t: tf.TensorSpec((None, *t.shape[1:]), t.dtype, name=t.name), model.input
    )


def _non_core_ops(path: Path) -> list[str]:
    """Ops in the written graph that core TensorFlow does not define (e.g. tensorflow-text's)."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    ops = set()
    for graph in proto.meta_graphs:
        ops |= {node.op for node in graph.graph_def.node}
        for fn in graph.graph_def.library.function:
            ops |= {node.op for node in fn.node_def}
    return sorted(op for op in ops if not hasattr(tf.raw_ops, op))


def _register_custom_ops() -> None:
    """Import tensorflow-text if installed, so its ops (``RegexSplitWithOffsets``…) load."""
    with contextlib.suppress(ImportError):
        import tensorflow_text  # noqa: F401


class SavedModelRunner:
    """Calls a SavedModel signature with ``tf.constant`` inputs.

    ``prepare`` checks the inputs against :attr:`contract`: the export's manifest for the
    serving signature, else the signature's own ``TensorSpec`` inputs. A concrete function
    may be called from several threads at once (outputs identical to serial calls).

    Args:
        path: The SavedModel folder.
        signature: The signature to call (default ``serving_default``).

    Attributes:
        contract: The :class:`~zoo.exporters.Contract` inputs are checked against.
    """

    def __init__(self, path: Path, signature: str = SERVING_SIGNATURE):
        import tensorflow as tf

        _register_custom_ops()
        self._tf = tf
        self.loaded = tf.saved_model.load(str(path))
        if signature not in self.loaded.signatures:
            raise ZooError(
                f"{path}: no signature {signature!r}; found {sorted(self.loaded.signatures)}. "
                "Pass one of those names."
            )
        self.fn = self.loaded.signatures[signature]
        _, self.input_specs = self.fn.structured_input_signature
        declared = {name: _spec_signature(name, s) for name, s in self.input_specs.items()}
        if signature in (SERVING_SIGNATURE, ENDPOINT):  # the manifest describes this one
            self.contract: Contract = resolve(Path(path), declared, "SavedModel")
        else:
            self.contract = Contract(declared, f"SavedModel signature {signature!r}", str(path))

    def prepare(self, inputs: Arrays) -> dict[str, Any]:
        """Check ``inputs`` against :attr:`contract`; ``tf.constant`` per input.

        Raises:
            InputContractError: names, dtypes or shapes differ from the contract.
        """
        arrays = self.contract.check(inputs)
        return {
            name: self._tf.constant(arrays[name], dtype=spec.dtype)
            for name, spec in self.input_specs.items()
        }

    def run(self, prepared: dict[str, Any]) -> Arrays:
        return {k: v.numpy() for k, v in self.fn(**prepared).items()}


def _spec_signature(name: str, spec: Any) -> InputSignature:
    dims = spec.shape.as_list() if spec.shape.rank is not None else None
    return runtime_signature(name, dims, spec.dtype.name)


def load(path: Path) -> SavedModelRunner:
    """Load the SavedModel and its serving signature."""
    return SavedModelRunner(path)


FORMATS = [ExportFormat("saved_model", "saved_model", write, load, runtime="tensorflow")]

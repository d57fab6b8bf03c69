"""Keras → ONNX conversion and the graph fixes the ``onnx:*`` formats rely on.

The conversion traces the model as ``keras.Model.export(format="onnx")`` does and runs
tf2onnx (with the NumPy 2 patches Keras applies) on its large-model path, at a pinned opset,
with an explicit input signature built from the recipe, so a model that was never called
converts too. The resulting graph is then made to honour the recipe contract: input and
output names are the recipe's, the leading axis of every input and output is the symbolic
dimension :data:`BATCH_DIM`, and the model passes
``onnx.checker.check_model(..., full_check=True)``.
"""

from __future__ import annotations

import collections
import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

from zoo.errors import ZooError

#: ONNX opset of every exported graph. 17 is the newest opset for which tf2onnx 1.17 uses its
#: long-standing converters throughout (it has opset-18 handlers for two op kinds only), it
#: carries ``LayerNormalization`` (17+) for transformer graphs, per-channel QDQ needs 13+,
#: and onnxruntime 1.32 runs it (and its int8 QDQ kernels) natively.
OPSET = 17

#: Name of the symbolic leading (batch) dimension of every graph input and output.
BATCH_DIM = "batch"

#: ONNX tensor element type → NumPy dtype name, for the recipe dtypes zoo knows.
ELEM_TYPES = {1: "float32", 2: "uint8", 6: "int32", 7: "int64", 8: "string", 10: "float16"}


def convert(model: Any, inputs: dict[str, Any], *, opset: int = OPSET) -> Any:
    """Convert a Keras functional model to an ``onnx.ModelProto`` (not yet checked).

    The model is traced the way ``keras.Model.export(format="onnx")`` traces it (same
    endpoint, same NumPy-2 patches for tf2onnx), then converted with tf2onnx's large-model
    path: variables are frozen without a Grappler pass and constant tensors stay outside
    the graph while tf2onnx rewrites it (they are put back as ordinary initializers at
    the end). During the conversion :func:`lean_const_nodes` keeps tf2onnx from copying
    every constant into its node message at each optimizer pass. Measured on the full-size
    ``cnn_lstm_fusion`` (205 MB of weights): 61 s and a 13.4 GB process peak through
    ``keras.Model.export``; 33 s and 7.6 GB with the large-model path alone; 11 s and
    3.3 GB with both.

    Args:
        model: The Keras model; it does not need to have been called.
        inputs: Recipe input name → spec (``shape`` without batch, ``dtype``).
        opset: ONNX opset to convert to.

    Returns:
        The converted model with every tensor inline (one self-contained ``.onnx`` file).

    Example:
        >>> proto = convert(model, {"image": spec}, opset=17)  # doctest: +SKIP
    """
    import tensorflow as tf
    import tf2onnx
    from keras.src.export.onnx import get_concrete_fn, patch_tf2onnx

    signature = [
        {
            name: tf.TensorSpec((None, *spec.shape), tf.as_dtype(spec.dtype), name=name)
            for name, spec in inputs.items()
        }
    ]
    function = get_concrete_fn(model, signature)
    with warnings.catch_warnings():
        # Keras' NumPy-2 patch for tf2onnx probes ``np.object``; NumPy warns about it.
        warnings.filterwarnings("ignore", message=".*np.object.*", category=FutureWarning)
        patch_tf2onnx()
        with lean_const_nodes():
            proto, storage = tf2onnx.convert.from_function(
                function, signature, opset=opset, large_model=True
            )
    inline_external(proto, storage.name_to_tensor_data)
    return proto


@contextlib.contextmanager
def lean_const_nodes() -> Iterator[None]:
    """Within the block, tf2onnx does not copy constant tensors into its node messages.

    tf2onnx rewrites each node's ``NodeProto`` after every optimizer pass
    (``Node.update_proto``), copying a constant's whole tensor into the message each time.
    With protobuf's upb runtime the replaced copies stay in the message's arena until the
    graph is freed, so a 200 MB weight costs gigabytes. A constant never becomes a node
    of the output graph: ``Graph.make_graph`` turns it into an initializer from the
    node's attribute dict, not from its message. So for constants only the inputs and
    outputs of the message are rewritten; every other node is rewritten as before. The
    original method is restored when the block ends.
    """
    from tf2onnx import graph as tf2onnx_graph

    node_class = tf2onnx_graph.Node
    original = node_class.update_proto

    def update_proto(self: Any, external_tensor_storage: Any = None) -> None:
        if not self.is_const():
            original(self, external_tensor_storage)
            return
        del self._op.input[:]
        self._op.input.extend(self.input)
        del self._op.output[:]
        self._op.output.extend(self.output)
        del self._op.attribute[:]

    node_class.update_proto = update_proto
    try:
        yield
    finally:
        node_class.update_proto = original


def inline_external(proto: Any, blobs: dict[str, bytes]) -> None:
    """Move tensors tf2onnx kept outside the graph (``blobs``) back into ``proto``.

    Every tensor whose data location is external (initializers, ``Constant`` attributes,
    subgraphs of ``Loop``/``If``/``Scan`` bodies) gets its bytes as ``raw_data``; each blob is
    removed from ``blobs`` as it is used, so the bytes are held once.

    Raises:
        ZooError: a tensor names external data that tf2onnx did not produce.
    """
    from onnx import TensorProto

    for tensor in _tensors(proto.graph):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        where = {e.key: e.value for e in tensor.external_data}
        location = where.get("location")
        if location not in blobs:
            raise ZooError(
                f"ONNX tensor {tensor.name!r} points to external data {location!r} that the "
                "converter did not produce; expected every external tensor in its storage."
            )
        tensor.raw_data = blobs.pop(location)
        del tensor.external_data[:]
        tensor.data_location = TensorProto.DEFAULT


def _tensors(graph: Any) -> Iterator[Any]:
    """Every ``TensorProto`` of a graph: initializers, node attributes, nested graphs."""
    from onnx import AttributeProto

    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == AttributeProto.TENSORS:
                yield from attr.tensors
            elif attr.type == AttributeProto.GRAPH:
                yield from _tensors(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from _tensors(sub)


def conform(proto: Any, inputs: dict[str, Any], outputs: dict[str, Any]) -> Any:
    """Give the graph the recipe's I/O names and a symbolic batch axis, then full-check it.

    Args:
        proto: A converted ``onnx.ModelProto`` (changed in place and returned).
        inputs: Recipe input name → spec.
        outputs: Recipe output name → spec.

    Returns:
        The same model, checked with ``onnx.checker.check_model(full_check=True)``.

    Raises:
        ZooError: the graph's inputs or outputs cannot be matched to the recipe's, or an
            input lost its dynamic batch axis.

    Example:
        >>> proto = conform(convert(model, specs), specs, out_specs)  # doctest: +SKIP
    """
    import onnx

    graph = proto.graph
    got_inputs = [i.name for i in graph.input]
    if sorted(got_inputs) != sorted(inputs):
        raise ZooError(
            f"ONNX graph inputs are {sorted(got_inputs)}, expected the recipe inputs "
            f"{sorted(inputs)}; give every keras.Input the recipe input's name."
        )
    for old, new in _output_renames([o.name for o in graph.output], list(outputs)).items():
        rename_value(graph, old, new)
    for value in [*graph.input, *graph.output]:
        _set_batch_dim(value)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _output_renames(got: list[str], want: list[str]) -> dict[str, str]:
    """Map graph output names to recipe output names (only those that differ)."""
    if sorted(got) == sorted(want):
        return {}
    if len(got) == len(want) == 1:
        return {got[0]: want[0]}
    mapping: dict[str, str] = {}
    for name in got:
        hits = [w for w in want if w in name]
        if len(hits) != 1:
            raise ZooError(
                f"cannot match ONNX graph output {name!r} to one of the recipe outputs {want} "
                f"(graph outputs: {got}); name the model outputs after the recipe outputs."
            )
        mapping[name] = hits[0]
    if sorted(mapping.values()) != sorted(want):
        raise ZooError(f"ONNX graph outputs {got} do not map one-to-one onto {want}.")
    return {k: v for k, v in mapping.items() if k != v}


def rename_value(graph: Any, old: str, new: str) -> None:
    """Rename tensor ``old`` to ``new`` everywhere in ``graph`` (nodes, I/O, value_info).

    Example:
        >>> rename_value(proto.graph, "Identity:0", "probabilities")  # doctest: +SKIP
    """
    taken = {n for node in graph.node for n in [*node.input, *node.output]}
    taken |= {v.name for v in [*graph.input, *graph.output, *graph.value_info]}
    taken |= {t.name for t in graph.initializer}
    if new in taken:
        raise ZooError(
            f"cannot rename ONNX tensor {old!r} to {new!r}: the graph already has a tensor "
            f"named {new!r}."
        )
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for value in [*graph.input, *graph.output, *graph.value_info]:
        if value.name == old:
            value.name = new


def _set_batch_dim(value: Any) -> None:
    """Name the leading dimension of a graph input/output :data:`BATCH_DIM`."""
    dims = value.type.tensor_type.shape.dim
    if not dims:
        raise ZooError(f"ONNX graph value {value.name!r} has no shape; expected [batch, ...].")
    first = dims[0]
    if first.HasField("dim_value"):
        raise ZooError(
            f"ONNX graph value {value.name!r} has a fixed leading dimension {first.dim_value}; "
            "expected a dynamic batch axis. Build the model with keras.Input(shape=...) "
            "without a batch_size."
        )
    first.dim_param = BATCH_DIM


def io_summary(proto: Any) -> dict[str, dict[str, Any]]:
    """Name → {shape, dtype} of the graph inputs and outputs (``"batch"`` for symbolic dims).

    Example:
        >>> io_summary(proto)["inputs"]["image"]  # doctest: +SKIP
        {'shape': ['batch', 32, 32, 3], 'dtype': 'float32'}
    """

    def describe(value: Any) -> dict[str, Any]:
        tensor = value.type.tensor_type
        shape = [d.dim_param or d.dim_value for d in tensor.shape.dim]
        return {"shape": shape, "dtype": ELEM_TYPES.get(tensor.elem_type, str(tensor.elem_type))}

    return {
        "inputs": {v.name: describe(v) for v in proto.graph.input},
        "outputs": {v.name: describe(v) for v in proto.graph.output},
    }


def op_histogram(proto: Any) -> dict[str, int]:
    """Op type → count over the main graph, most frequent first (ties by name).

    Example:
        >>> op_histogram(proto)["Conv"]  # doctest: +SKIP
        1
    """
    counts = collections.Counter(
        f"{n.domain}:{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type
        for n in proto.graph.node
    )
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

"""Read a ``.tflite`` flatbuffer without TensorFlow: op types, custom ops, float ops.

Uses the flatbuffer schema that ships with ``ai_edge_litert`` (imported inside the
functions, so importing this module stays cheap).
"""

from __future__ import annotations

from typing import Any

#: Ops that move data between float and integer; not "compute in float" on their own.
_BOUNDARY_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})


def op_types(blob: bytes) -> list[str]:
    """Sorted op type names used anywhere in the model (every subgraph).

    Builtin ops appear by their builtin name (``CONV_2D``), custom ops by their custom
    code (``FlexTensorListReserve`` for a Flex op).

    Example:
        >>> op_types(Path("model_fp32.tflite").read_bytes())  # doctest: +SKIP
        ['CONCATENATION', 'CONV_2D', 'FULLY_CONNECTED', ...]
    """
    return sorted(set(_opcode_names(_root(blob))))


def custom_ops(blob: bytes) -> list[str]:
    """Sorted custom op codes in the model (Flex ops start with ``Flex``); ``[]`` if none."""
    model = _root(blob)
    names = set()
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i).CustomCode()
        if code:
            names.add(code.decode())
    return sorted(names)


def float_compute_ops(blob: bytes) -> list[str]:
    """Sorted op types that still take a float32 activation (quantized models).

    An op counts when its first non-constant input is a float32 tensor; ``QUANTIZE`` and
    ``DEQUANTIZE`` (the float/int8 boundary) are left out. For a fully integer model with
    float32 inputs and outputs this is ``[]``.

    Example:
        >>> float_compute_ops(Path("model_int8.tflite").read_bytes())  # doctest: +SKIP
        []
    """
    from ai_edge_litert import schema_py_generated as fb

    model = _root(blob)
    names = _opcode_names(model)
    found: set[str] = set()
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for j in range(graph.OperatorsLength()):
            op = graph.Operators(j)
            name = names[op.OpcodeIndex()]
            tensor = _first_activation(model, graph, op)
            if (
                name not in _BOUNDARY_OPS
                and tensor is not None
                and tensor.Type() == fb.TensorType.FLOAT32
            ):
                found.add(name)
    return sorted(found)


def _root(blob: bytes) -> Any:
    from ai_edge_litert import schema_py_generated as fb

    return fb.Model.GetRootAs(blob, 0)


def _opcode_names(model: Any) -> list[str]:
    """Name of every operator code, in opcode-index order."""
    from ai_edge_litert import schema_py_generated as fb

    builtin = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    names = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        custom = code.CustomCode()
        # Codes above 127 live in BuiltinCode; DeprecatedBuiltinCode holds the small ones.
        number = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        names.append(custom.decode() if custom else builtin.get(number, f"BUILTIN_{number}"))
    return names


def _first_activation(model: Any, graph: Any, op: Any) -> Any:
    """First input tensor of ``op`` that is not a constant (no buffer data), or ``None``."""
    for k in range(op.InputsLength()):
        index = op.Inputs(k)
        if index < 0:
            continue
        tensor = graph.Tensors(index)
        buffer = model.Buffers(tensor.Buffer()) if tensor.Buffer() else None
        if buffer is None or (buffer.DataLength() == 0 and buffer.Size() == 0):
            return tensor
    return None

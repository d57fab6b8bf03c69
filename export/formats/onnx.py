"""``onnx:fp32`` and ``onnx:int8``: ONNX graphs run with onnxruntime.

``onnx:fp32`` (``model.onnx``) is the Keras model converted by tf2onnx at opset
:data:`~zoo.exporters.formats._onnx_graph.OPSET`, with the recipe's input and output names, a
symbolic ``batch`` leading axis and a full ``onnx.checker`` pass. ``onnx:int8``
(``model_int8.onnx``) is that graph statically quantized to int8 in QDQ form (per-channel
weights, activation ranges calibrated on realistic inputs); see
:mod:`zoo.exporters.formats._onnx_quant` and :data:`INT8_SETTINGS`.

Artifacts load in onnxruntime alone: no TensorFlow or Keras import is needed to run them.

Example:
    >>> from zoo.exporters import export_model, load_runner, run_once
    >>> result = export_model(  # doctest: +SKIP
    ...     "cnn_lstm_fusion_tiny", Path("out"), formats=["onnx"])
    >>> runner = load_runner("onnx:int8", result.path / "model_int8.onnx")  # doctest: +SKIP
    >>> run_once(  # doctest: +SKIP
    ...     runner, {"image": images, "tokens": token_ids})["probabilities"].shape
    (3, 3)
"""

from __future__ import annotations

import os
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from zoo.exporters._base import Arrays, ExportContext, ExportFormat, model_key
from zoo.exporters._contract import Contract, dtype_name, resolve, runtime_signature
from zoo.exporters.formats import _onnx_graph as graph
from zoo.exporters.formats._onnx_quant import QuantSettings, quantize

from zoo.errors import ZooError

FP32_ARTIFACT = "model.onnx"
INT8_ARTIFACT = "model_int8.onnx"

#: int8 settings for every family without an entry in :data:`FAMILY_INT8_SETTINGS`.
#: Static QDQ won the measured comparison with ``quantize_dynamic`` on the full-size
#: ``cnn_lstm_fusion`` (p50 at batch 1, same threads): static ran 1.7-2.4x faster than
#: fp32, dynamic 0.5-0.6x. Re-measure with ``python -m zoo.benchmarks.onnx_int8 NAME``.
INT8_SETTINGS = QuantSettings()

#: family → int8 settings, where a family is better served by other settings.
#: ``bert_classifier``: on the full-size model (MiniLM-L6, 128 tokens) dynamic int8 of the
#: MatMuls was both faster (1.34x vs 1.17x over fp32) and closer to fp32 (max |diff| 0.007
#: vs 0.062) than static QDQ: activation ranges of attention vary per input, which static
#: calibration fixes once. CNN families (cnn_lstm_fusion, resnet50_transfer,
#: multimodal_autoencoder) are 1.7-3.4x faster with static QDQ and 0.35-0.85x with dynamic.
FAMILY_INT8_SETTINGS: dict[str, QuantSettings] = {
    "bert_classifier": QuantSettings(method="dynamic", op_types=("MatMul", "Gemm")),
}

#: onnxruntime tensor type → NumPy dtype of the feed.
_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}

#: Op domains onnxruntime's CPU provider implements besides ONNX's own (its contrib ops).
_ORT_DOMAINS = ("com.microsoft", "com.microsoft.nchwc")

#: Op left in the graph → how to keep it out. tf2onnx passes TensorFlow ops it cannot
#: convert through unchanged (with a warning only), so the file saves but does not load.
_OP_FIXES = {
    op: (
        "it comes from a TensorFlow FFT (keras.layers.MelSpectrogram, keras.ops.stft/rfft); "
        "compute the STFT as a strided convolution over a windowed DFT basis instead, e.g. "
        "zoo's LogMelSpectrogram layer (zoo.families._audio.log_mel_spectrogram), which "
        "exports to ONNX, SavedModel and LiteRT"
    )
    for op in ("RFFT", "IRFFT", "FFT", "IFFT", "Real", "Imag", "ComplexAbs", "Complex")
}


class UnsupportedOnnxOps(ZooError):
    """The ONNX graph keeps ops that onnxruntime has no kernel for (e.g. TF's ``RFFT``).

    Attributes:
        ops: The offending op types (``domain:op`` outside ONNX's default domain).
    """

    def __init__(self, message: str, ops: list[str]):
        super().__init__(message)
        self.ops = ops


def unsupported_ops(proto: Any) -> list[str]:
    """Op types of the main graph that neither ONNX (at the graph's opset) nor onnxruntime define.

    Example:
        >>> unsupported_ops(onnx.load("stock_mel.onnx"))  # doctest: +SKIP
        ['Imag', 'RFFT', 'Real']
    """
    import onnx

    opsets = {(o.domain if o.domain != "ai.onnx" else ""): o.version for o in proto.opset_import}
    found = set()
    for node in proto.graph.node:
        domain = "" if node.domain == "ai.onnx" else node.domain
        if domain in _ORT_DOMAINS:
            continue
        try:
            onnx.defs.get_schema(node.op_type, opsets.get(domain, graph.OPSET), domain)
        except onnx.defs.SchemaError:
            found.add(f"{domain}:{node.op_type}" if domain else node.op_type)
    return sorted(found)


def refuse_unsupported(proto: Any, where: str) -> None:
    """Raise :class:`UnsupportedOnnxOps` if ``proto`` holds ops onnxruntime cannot run.

    Raises:
        UnsupportedOnnxOps: naming the ops, the cause and the fix.
    """
    ops = unsupported_ops(proto)
    if not ops:
        return
    fixes = sorted({_OP_FIXES[o] for o in ops if o in _OP_FIXES})
    fix = "; ".join(fixes) or (
        "replace the layers that produce them with ones built from keras.ops that tf2onnx "
        "converts, or leave onnx out of the export formats"
    )
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    raise UnsupportedOnnxOps(
        f"{where}: the ONNX graph keeps op(s) {', '.join(ops)} that are not ONNX ops at "
        f"opset {opset} (TensorFlow ops tf2onnx could not convert and left in place), so "
        f"onnxruntime cannot load or run it. Fix: {fix}.",
        ops,
    )


def int8_settings(family: str | None) -> QuantSettings:
    """The int8 quantization settings for ``family`` (the default when it has none).

    Example:
        >>> int8_settings("cnn_lstm_fusion").method
        'static'
    """
    return FAMILY_INT8_SETTINGS.get(family or "", INT8_SETTINGS)


def write_fp32(model: Any, path: Path, ctx: ExportContext) -> dict[str, Any]:
    """Convert ``model`` to a checked fp32 ONNX file at ``path``.

    Returns:
        Manifest details: opset, converter, graph I/O, op type histogram.

    Example:
        >>> write_fp32(model, Path("out/model.onnx"), ctx)["opset"]  # doctest: +SKIP
        17
    """
    converted, details, _ = _fp32_graph(model, ctx)
    shutil.copyfile(converted, path)
    return dict(details)


def write_int8(model: Any, path: Path, ctx: ExportContext) -> dict[str, Any]:
    """Quantize the fp32 ONNX graph of ``model`` to int8 at ``path``.

    The fp32 graph is converted once per export (``ctx.work``) and shared with
    ``onnx:fp32``, whichever of the two is written first.

    Returns:
        Manifest details: opset, converter, graph I/O, op type histogram, quantization,
        and ``fp32_graph_reused`` (the graph was converted earlier in this export).

    Example:
        >>> write_int8(  # doctest: +SKIP
        ...     model, Path("out/model_int8.onnx"), ctx)["quantization"]["method"]
        'static'
    """
    import onnx

    fp32, _, reused = _fp32_graph(model, ctx)
    settings = int8_settings(ctx.family)
    dtypes = {name: _numpy_dtype(spec.dtype) for name, spec in ctx.inputs.items()}
    quant = quantize(fp32, path, settings=settings, calibration=ctx.calibration, dtypes=dtypes)
    proto = graph.conform(onnx.load(str(path)), ctx.inputs, ctx.outputs)
    onnx.save(proto, str(path))
    return {**_describe(proto), "quantization": quant, "fp32_graph_reused": reused}


def _fp32_graph(model: Any, ctx: ExportContext) -> tuple[Path, dict[str, Any], bool]:
    """The checked fp32 graph of ``model``, converted once per export and weights.

    Returns:
        The file in the export's workspace, its manifest description, and whether it had
        been converted before this call.
    """
    import onnx

    def make(folder: Path) -> tuple[Path, dict[str, Any], Any]:
        converted = graph.convert(model, ctx.inputs)
        refuse_unsupported(converted, f"onnx:fp32 export of {ctx.name!r}")
        proto = graph.conform(converted, ctx.inputs, ctx.outputs)
        target = folder / FP32_ARTIFACT
        onnx.save(proto, str(target))
        return target, _describe(proto), model  # holding the model keeps its id unique

    key = ("onnx:fp32", *model_key(model))
    reused = ctx.work.has(key)
    target, details, _ = ctx.work.once(key, make)
    return target, details, reused


def _describe(proto: Any) -> dict[str, Any]:
    """Manifest details shared by both variants."""
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    return {
        "opset": opsets.get("ai.onnx", graph.OPSET),
        "opsets": opsets,
        "ir_version": proto.ir_version,
        "converter": f"tf2onnx {_version('tf2onnx')} (large-model path, Keras trace)",
        "libraries": {d: _version(d) for d in ("onnx", "onnxruntime", "tf2onnx")},
        "graph": graph.io_summary(proto),
        "op_types": graph.op_histogram(proto),
    }


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _numpy_dtype(dtype: str) -> str:
    return "object" if dtype == "string" else dtype


def _explain_load_failure(path: Path, exc: Exception) -> None:
    """Raise :class:`UnsupportedOnnxOps` (from ``exc``) if unsupported ops made the load fail.

    Returns without raising when the file cannot be read or holds no such op, so the
    caller re-raises onnxruntime's own error.
    """
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # not a readable ONNX file: onnxruntime's error says it best
        return
    try:
        refuse_unsupported(proto, str(path))
    except UnsupportedOnnxOps as unsupported:
        raise unsupported from exc


class OnnxRunner:
    """An onnxruntime ``InferenceSession`` on the CPU, with named inputs and outputs.

    ``prepare`` checks the inputs against :attr:`contract` (the export's manifest, else the
    session's input signature). One runner may be shared by threads: onnxruntime's
    ``InferenceSession.run`` is thread-safe, and outputs are bitwise identical to serial
    calls (tests/test_runtime_safety.py).

    Args:
        path: The ``.onnx`` file.
        intra_op_num_threads: Threads inside one op; ``None`` for ``os.cpu_count()``.

    Attributes:
        contract: The :class:`~zoo.exporters.Contract` inputs are checked against.

    Example:
        >>> runner = OnnxRunner(Path("model.onnx"), intra_op_num_threads=2)  # doctest: +SKIP
        >>> runner.run(runner.prepare(inputs))["probabilities"]  # doctest: +SKIP
    """

    def __init__(self, path: Path, *, intra_op_num_threads: int | None = None):
        import onnxruntime as ort

        threads = intra_op_num_threads
        if threads is None:
            threads = os.cpu_count() or 1
        elif isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ZooError(
                f"intra_op_num_threads must be a positive integer or None (all cores), "
                f"received {threads!r}."
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        self.threads = threads
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime's own types; name the ops when that is why
            _explain_load_failure(path, exc)
            raise
        unknown = [
            f"{i.name}: {i.type}" for i in self.session.get_inputs() if i.type not in _ORT_DTYPES
        ]
        if unknown:
            raise ZooError(
                f"{path}: inputs of unsupported types {unknown}; expected one of "
                f"{sorted(_ORT_DTYPES)}."
            )
        self.dtypes = {i.name: _ORT_DTYPES[i.type] for i in self.session.get_inputs()}
        self.output_names = [o.name for o in self.session.get_outputs()]
        declared = {
            i.name: runtime_signature(i.name, i.shape, dtype_name(self.dtypes[i.name]))
            for i in self.session.get_inputs()
        }
        self.contract: Contract = resolve(Path(path), declared, "onnxruntime")

    def prepare(self, inputs: Arrays) -> dict[str, np.ndarray]:
        """Check ``inputs`` against :attr:`contract`; contiguous arrays of the session's dtypes.

        Raises:
            InputContractError: names, dtypes or shapes differ from the contract.
        """
        arrays = self.contract.check(inputs)
        return {k: np.ascontiguousarray(arrays[k], dtype=d) for k, d in self.dtypes.items()}

    def run(self, prepared: dict[str, np.ndarray]) -> Arrays:
        values = self.session.run(self.output_names, prepared)
        return dict(zip(self.output_names, values, strict=True))


def load(path: Path, *, intra_op_num_threads: int | None = None) -> OnnxRunner:
    """Load an ONNX artifact (either variant) into an onnxruntime runner.

    Example:
        >>> runner = load(Path("out/cnn_lstm_fusion_tiny/model.onnx"))  # doctest: +SKIP
    """
    return OnnxRunner(path, intra_op_num_threads=intra_op_num_threads)


FORMATS = [
    ExportFormat("onnx:fp32", FP32_ARTIFACT, write_fp32, load, runtime="onnxruntime"),
    ExportFormat("onnx:int8", INT8_ARTIFACT, write_int8, load, runtime="onnxruntime"),
]

"""int8 quantization of an fp32 ONNX graph with onnxruntime's quantization tools.

Static QDQ (per-channel weights, activation ranges calibrated on realistic inputs from the
export context) is the default; dynamic quantization stays available as a setting because
the choice was measured, not assumed: on the full-size ``cnn_lstm_fusion`` static QDQ ran
1.7-2.4× faster than fp32 while ``quantize_dynamic`` ran at 0.5-0.6× of fp32's speed, but
for the transformer ``bert_classifier`` dynamic won (see
``zoo.exporters.formats.onnx.FAMILY_INT8_SETTINGS``;
``python -m zoo.benchmarks.onnx_int8 NAME`` measures it).

Only the op types in :data:`QUANTIZED_OP_TYPES` are quantized: the compute-heavy ones
(``Conv``, ``MatMul``, ``Gemm``) and the cheap ones around them that onnxruntime can run on
int8 tensors (pooling, reshapes, transposes, ``Concat``, ``Relu``, ``Mul``, ``Add``), so
activations stay int8 between the heavy ops instead of bouncing through float. Token-id
inputs, ``Gather`` (embedding lookups) and recurrent ops (``LSTM``/``GRU``) are not in the
list: integer inputs pass through untouched and the embeddings and recurrences stay float.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from zoo.exporters._base import Arrays

from zoo.errors import ZooError

#: Op types quantized by default (see the module docstring).
QUANTIZED_OP_TYPES: tuple[str, ...] = (
    "Conv",
    "MatMul",
    "Gemm",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Transpose",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Concat",
    "Relu",
    "Mul",
    "Add",
)


@dataclass(frozen=True)
class QuantSettings:
    """How a graph is quantized to int8 (stored in the manifest).

    Attributes:
        method: ``"static"`` (QDQ with calibrated activation ranges) or ``"dynamic"``
            (weights int8, activation ranges computed at run time).
        op_types: Op types to quantize; everything else stays float. An empty tuple lets
            onnxruntime quantize every op type it supports.
        per_channel: One weight scale per output channel.
        reduce_range: 7-bit weights, avoiding int16 saturation of the u8×s8 kernels on
            x86 CPUs without VNNI (this machine's AMD EPYC has none).
        activation_type: ``"QUInt8"`` or ``"QInt8"`` (static only).
        weight_type: ``"QInt8"`` or ``"QUInt8"``.
        calibration_samples: Realistic single examples the activation ranges come from.
        calibrate_method: onnxruntime ``CalibrationMethod`` name (static only).
        preprocess: Run ``quant_pre_process`` (shape inference + graph optimization) first.
        extra: ``extra_options`` passed to the onnxruntime quantizer as they are.
    """

    method: Literal["static", "dynamic"] = "static"
    op_types: tuple[str, ...] = QUANTIZED_OP_TYPES
    per_channel: bool = True
    reduce_range: bool = True
    activation_type: Literal["QUInt8", "QInt8"] = "QUInt8"
    weight_type: Literal["QInt8", "QUInt8"] = "QInt8"
    calibration_samples: int = 128
    calibrate_method: Literal["MinMax", "Entropy", "Percentile"] = "MinMax"
    preprocess: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in ("static", "dynamic"):
            raise ZooError(f"method must be 'static' or 'dynamic', received {self.method!r}.")
        if self.method == "static" and self.calibration_samples < 1:
            raise ZooError(
                "static quantization needs calibration_samples >= 1, received "
                f"{self.calibration_samples}; raise it (128 is the default)."
            )

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the manifest (static-only fields dropped for dynamic)."""
        data = {**asdict(self), "op_types": list(self.op_types)}
        if self.method == "dynamic":
            for key in ("activation_type", "calibration_samples", "calibrate_method"):
                data.pop(key)
        data["format"] = "QDQ" if self.method == "static" else "QOperator (dynamic)"
        return data


class CalibrationFeed:
    """An onnxruntime ``CalibrationDataReader`` over realistic single-example inputs.

    Each example is cast to the dtype the graph input declares (token ids stay integers).

    Args:
        examples: Iterator of input dicts (batch 1) from ``ExportContext.calibration``.
        dtypes: Graph input name → NumPy dtype.
    """

    def __init__(self, examples: Iterator[Arrays], dtypes: Mapping[str, str]):
        self._examples = examples
        self._dtypes = dtypes
        self.count = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        example = next(self._examples, None)
        if example is None:
            return None
        missing = sorted(set(self._dtypes) - set(example))
        if missing:
            raise ZooError(f"calibration example lacks inputs {missing}; it has {sorted(example)}.")
        self.count += 1
        return {k: np.ascontiguousarray(example[k], dtype=d) for k, d in self._dtypes.items()}

    def __iter__(self) -> CalibrationFeed:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


def quantize(
    fp32_path: Path,
    out_path: Path,
    *,
    settings: QuantSettings,
    calibration: Callable[[int], Iterator[Arrays]],
    dtypes: Mapping[str, str],
) -> dict[str, Any]:
    """Quantize the fp32 graph at ``fp32_path`` into ``out_path``.

    Args:
        fp32_path: A checked fp32 ONNX file.
        out_path: Where the int8 model goes.
        settings: How to quantize.
        calibration: ``(count) -> iterator`` of realistic single-example input dicts.
        dtypes: Graph input name → NumPy dtype, for the calibration feed.

    Returns:
        The settings as plain data plus the number of calibration examples used.

    Example:
        >>> quantize(  # doctest: +SKIP
        ...     Path("model.onnx"), Path("model_int8.onnx"), settings=QuantSettings(),
        ...     calibration=ctx.calibration, dtypes={"image": "float32"})
    """
    with tempfile.TemporaryDirectory(prefix="zoo-onnx-quant-") as tmp:
        source = fp32_path
        if settings.preprocess:
            source = Path(tmp) / "preprocessed.onnx"
            _preprocess(fp32_path, source)
        if settings.method == "dynamic":
            _quantize_dynamic(source, out_path, settings)
            return settings.as_dict()
        feed = CalibrationFeed(calibration(settings.calibration_samples), dtypes)
        _quantize_static(source, out_path, settings, feed)
    if feed.count == 0:
        raise ZooError("static quantization got no calibration examples; expected at least 1.")
    return {**settings.as_dict(), "calibration_samples": feed.count}


def _preprocess(source: Path, target: Path) -> None:
    """ONNX shape inference + onnxruntime graph optimization, as the quantizer recommends.

    onnxruntime's symbolic shape inference is skipped: it needs ``sympy``, which zoo does not
    depend on, and the ONNX shape inference that still runs types every tensor of these graphs.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(source), str(target), skip_symbolic_shape=True)


def _quantize_static(
    source: Path, target: Path, settings: QuantSettings, feed: CalibrationFeed
) -> None:
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    quantize_static(
        str(source),
        str(target),
        feed,
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=list(settings.op_types),
        per_channel=settings.per_channel,
        reduce_range=settings.reduce_range,
        activation_type=QuantType[settings.activation_type],
        weight_type=QuantType[settings.weight_type],
        calibrate_method=CalibrationMethod[settings.calibrate_method],
        # Not "CalibMaxIntermediateOutputs": in onnxruntime 1.32 it drops the collected
        # chunks without reducing them (microsoft/onnxruntime#18893). Memory stays small
        # anyway: the calibration graph outputs per-tensor min/max, not activations.
        extra_options=dict(settings.extra),
    )


def _quantize_dynamic(source: Path, target: Path, settings: QuantSettings) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        op_types_to_quantize=list(settings.op_types),
        per_channel=settings.per_channel,
        reduce_range=settings.reduce_range,
        weight_type=QuantType[settings.weight_type],
        extra_options=dict(settings.extra),
    )

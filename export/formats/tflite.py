"""``tflite`` formats: LiteRT flatbuffers with builtin ops only, in four precisions.

============================  ==========================  ===================================
variant                       artifact                    converter settings
============================  ==========================  ===================================
``tflite:fp32``               ``model_fp32.tflite``       no optimization
``tflite:fp16``               ``model_fp16.tflite``       float16 weights, float32 compute
``tflite:dynamic_int8``       ``model_dynamic_int8...``   int8 weights, dynamic-range kernels
``tflite:int8``               ``model_int8.tflite``       int8 weights and activations,
                                                          calibrated on realistic inputs
============================  ==========================  ===================================

Every variant keeps float32 (and int32 token) inputs and outputs, so all variants take the
same arrays as Keras. Each artifact runs in the standalone ``ai_edge_litert`` interpreter
(no TensorFlow, no Flex delegate) with XNNPACK; inputs and outputs are matched by name
through the ``serving_default`` signature, never by position. How the graph is made
builtin-only (RNN layers unrolled at trace time, dynamic batch, fixed batch 1 as a
fallback) is in :mod:`zoo.exporters.formats._tflite_convert`.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from zoo.exporters._base import SERVING_SIGNATURE, Arrays, ExportContext, ExportFormat
from zoo.exporters._contract import Contract, dtype_name, resolve, runtime_signature
from zoo.exporters.formats._tflite_convert import TfliteSettings, convert
from zoo.exporters.formats._tflite_flatbuffer import custom_ops, float_compute_ops, op_types

from zoo.errors import ZooError

VARIANTS: tuple[TfliteSettings, ...] = (
    TfliteSettings("fp32"),
    TfliteSettings("fp16", optimize=True, float16=True),
    TfliteSettings("dynamic_int8", optimize=True),
    TfliteSettings("int8", optimize=True, calibrate=True),
)


def write(model: Any, path: Path, ctx: ExportContext, *, variant: TfliteSettings) -> dict[str, Any]:
    """Convert ``model`` and write the flatbuffer at ``path``.

    Args:
        model: The Keras model.
        path: Target ``.tflite`` file.
        ctx: Export context (input specs, calibration data for ``int8``).
        variant: Converter settings of the variant.

    Returns:
        Manifest entries: converter settings, ``fixed_batch`` (``None`` = dynamic), the
        RNN layers unrolled while tracing, the op types in the flatbuffer and, for
        quantized variants, the op types that still compute in float.

    Raises:
        ZooError: the model needs ops without a LiteRT builtin kernel (named), or the
            flatbuffer's signature does not carry the recipe's input/output names.

    Example:
        >>> write(  # doctest: +SKIP
        ...     model, Path("out/model_fp32.tflite"), ctx, variant=VARIANTS[0])["fixed_batch"]
        None
    """
    if variant.calibrate:
        _warn_without_ranges(ctx)
    converted = convert(model, ctx, variant)
    extra = custom_ops(converted.blob)
    if extra:
        raise ZooError(
            f"tflite:{variant.name}: the flatbuffer holds custom ops {extra}; expected builtin "
            "ops only. Remove the layers that emit them or drop 'tflite' from the recipe."
        )
    _check_signature(converted.blob, ctx, variant)
    Path(path).write_bytes(converted.blob)
    manifest: dict[str, Any] = {
        "converter": variant.settings(),
        "signature": SERVING_SIGNATURE,
        "fixed_batch": converted.fixed_batch,
        "rnn_unrolled": converted.unrolled,
        "op_types": op_types(converted.blob),
    }
    if converted.attempts:
        manifest["conversion_attempts"] = converted.attempts
    if variant.optimize:
        manifest["float_compute_ops"] = float_compute_ops(converted.blob)
    return manifest


class TFLiteRunner:
    """Runs a ``.tflite`` file in the standalone LiteRT interpreter (XNNPACK, by name).

    ``prepare`` checks the inputs against :attr:`contract` (the export's manifest, else the
    signature's input details), converts each to the interpreter's dtype and, for a model
    with a fixed batch, splits it into chunks of that size; ``run`` feeds each chunk
    through the signature runner and concatenates the named outputs.

    LiteRT interpreters are not thread-safe, so each thread that calls :meth:`run` gets its
    own interpreter, made on first use from the same model bytes (read once): one runner
    can be shared by threads and gives the outputs of serial calls.

    Attributes:
        num_threads: Interpreter threads.
        fixed_batch: The model's fixed batch size, or ``None`` if the batch axis is dynamic.
        input_dtypes: Input name → NumPy dtype the interpreter expects.
        contract: The :class:`~zoo.exporters.Contract` inputs are checked against.
    """

    def __init__(self, path: Path, *, num_threads: int | None = None):
        self.path = Path(path)
        self.num_threads = num_threads or os.cpu_count() or 1
        self._model = self.path.read_bytes()  # shared by every thread's interpreter
        self._local = threading.local()
        details = self.signature.get_input_details()
        self.input_dtypes = {name: np.dtype(d["dtype"]) for name, d in details.items()}
        batch_dims = {int(d["shape_signature"][0]) for d in details.values()}
        self.fixed_batch = None if -1 in batch_dims else max(batch_dims)
        declared = {
            name: runtime_signature(name, d["shape_signature"], dtype_name(d["dtype"]))
            for name, d in details.items()
        }
        self.contract: Contract = resolve(self.path, declared, "LiteRT")

    @property
    def interpreter(self) -> Any:
        """The calling thread's LiteRT ``Interpreter`` (made on the thread's first use)."""
        _ = self.signature  # makes the calling thread's interpreter on its first use
        return self._local.interpreter

    @property
    def signature(self) -> Any:
        """The calling thread's signature runner (its interpreter made on first use)."""
        runner = getattr(self._local, "signature", None)
        if runner is not None:
            return runner
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_content=self._model, num_threads=self.num_threads)
        keys = list(interpreter.get_signature_list())
        if not keys:
            raise ZooError(f"{self.path}: no signature in the flatbuffer; re-export it with zoo.")
        runner = interpreter.get_signature_runner(
            SERVING_SIGNATURE if SERVING_SIGNATURE in keys else keys[0]
        )
        self._local.interpreter, self._local.signature = interpreter, runner
        return runner

    def prepare(self, inputs: Arrays) -> list[Arrays]:
        """Named NumPy inputs → list of interpreter-ready chunks (dtype cast, contiguous).

        Raises:
            InputContractError: names, dtypes or shapes differ from the contract, or batch
                sizes differ between inputs.
            ZooError: an empty batch, or a batch that is not a multiple of a fixed batch
                size.
        """
        checked = self.contract.check(inputs)
        arrays = {
            name: np.ascontiguousarray(checked[name], dtype=dtype)
            for name, dtype in self.input_dtypes.items()
        }
        batch = next(iter(arrays.values())).shape[0]
        if batch < 1:
            raise ZooError("tflite: received an empty batch (0 rows); expected a batch size >= 1.")
        step = self.fixed_batch or batch
        if batch % step:
            raise ZooError(
                f"tflite: batch {batch} is not a multiple of the model's fixed batch {step}; "
                f"pad the batch to a multiple of {step}."
            )
        return [{k: v[i : i + step] for k, v in arrays.items()} for i in range(0, batch, step)]

    def run(self, prepared: list[Arrays]) -> Arrays:
        """Invoke once per chunk (this thread's interpreter); named outputs concatenated."""
        runner = self.signature
        outs = [runner(**chunk) for chunk in prepared]
        if len(outs) == 1:
            return outs[0]
        return {name: np.concatenate([o[name] for o in outs]) for name in outs[0]}


def load(path: Path, *, num_threads: int | None = None) -> TFLiteRunner:
    """Load a ``.tflite`` file into a :class:`TFLiteRunner` (no TensorFlow import).

    Args:
        path: The flatbuffer.
        num_threads: Interpreter threads; default ``os.cpu_count()``.

    Example:
        >>> runner = load(  # doctest: +SKIP
        ...     Path("artifacts/cnn_lstm_fusion_tiny/model_int8.tflite"))
        >>> runner.run(runner.prepare(inputs))["probabilities"].shape  # doctest: +SKIP
        (3, 3)
    """
    return TFLiteRunner(Path(path), num_threads=num_threads)


def _warn_without_ranges(ctx: ExportContext) -> None:
    """Warn when calibration data cannot follow the inputs' real ranges."""
    missing = sorted(n for n, spec in ctx.inputs.items() if getattr(spec, "range", None) is None)
    if missing:
        warnings.warn(
            f"tflite:int8: inputs {missing} have no recipe range, so calibration draws "
            "floats from [0, 1) and integers from [0, 10); a model whose inputs span other "
            "values (e.g. 0-255 pixels) gets wrong int8 scales. Export by recipe name, or "
            "give the inputs a range, for a representative calibration.",
            stacklevel=3,
        )


def _check_signature(blob: bytes, ctx: ExportContext, variant: TfliteSettings) -> None:
    """The converted model's signature carries exactly the recipe's input and output names."""
    from ai_edge_litert.interpreter import Interpreter

    signature = Interpreter(model_content=blob).get_signature_list().get(SERVING_SIGNATURE, {})
    got_in, got_out = set(signature.get("inputs", [])), set(signature.get("outputs", []))
    if got_in != set(ctx.inputs) or got_out != set(ctx.outputs):
        raise ZooError(
            f"tflite:{variant.name}: signature {SERVING_SIGNATURE!r} has inputs "
            f"{sorted(got_in)} and "
            f"outputs {sorted(got_out)}; expected {sorted(ctx.inputs)} and "
            f"{sorted(ctx.outputs)}. The model must take and return dicts keyed by those names."
        )


FORMATS = [
    ExportFormat(
        f"tflite:{v.name}",
        f"model_{v.name}.tflite",
        functools.partial(write, variant=v),
        load,
        runtime="ai_edge_litert (XNNPACK)",
    )
    for v in VARIANTS
]

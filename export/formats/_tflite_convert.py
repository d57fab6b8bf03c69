"""Keras model → ``.tflite`` bytes with builtin ops only (TensorFlow side of ``tflite``).

The model is traced into a temporary SavedModel (Keras ``ExportArchive``, one
``serving_default`` signature taking the recipe's input names) and converted with
``tf.lite.TFLiteConverter.from_saved_model`` restricted to ``TFLITE_BUILTINS``, so an op
that would need the Flex delegate fails here, as a :class:`NeedsFlexOps` naming it.

Two choices make every model of the zoo convert to builtin ops:

* Keras RNN layers (``LSTM``, ``GRU``, ``SimpleRNN``, inside ``Bidirectional`` too) are
  traced with ``unroll=True``. A symbolic RNN loop becomes a ``WHILE`` over TensorList
  ops that need Flex at a dynamic batch size, and TF 2.21's int8 calibrator crashes the
  process (segfault) on a ``WHILE`` even at batch 1. Unrolling changes only the traced
  graph, never the weights or the layer config (it is restored after tracing).
* The batch axis stays dynamic. If the graph still needs Flex ops at a dynamic batch,
  conversion is retried with a fixed batch of 1 (the runner then loops over rows).
"""

from __future__ import annotations

import contextlib
import functools
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.exporters._base import SERVING_SIGNATURE, ExportContext, model_key

from zoo.errors import ZooError

#: Number of calibration examples drawn from ``ctx.calibration`` for full int8.
CALIBRATION_SAMPLES = 100

#: Batch sizes tried in order: dynamic first, then a fixed batch of 1.
BATCH_CHOICES: tuple[int | None, ...] = (None, 1)


@dataclass(frozen=True)
class TfliteSettings:
    """Converter settings of one ``tflite:*`` variant.

    Attributes:
        name: TfliteSettings suffix (``fp32``, ``fp16``, ``dynamic_int8``, ``int8``).
        optimize: Set ``optimizations = [Optimize.DEFAULT]`` (weight quantization).
        float16: Store weights as float16 (``supported_types = [float16]``).
        calibrate: Full integer quantization from a representative dataset.
    """

    name: str
    optimize: bool = False
    float16: bool = False
    calibrate: bool = False

    def settings(self) -> dict[str, Any]:
        """The converter settings as plain data for the manifest."""
        settings: dict[str, Any] = {
            "api": "tf.lite.TFLiteConverter.from_saved_model",
            "supported_ops": ["TFLITE_BUILTINS"],
            "optimizations": ["DEFAULT"] if self.optimize else [],
            "supported_types": ["float16"] if self.float16 else [],
            "inference_input_type": "float32",
            "inference_output_type": "float32",
        }
        if self.calibrate:
            settings["representative_samples"] = CALIBRATION_SAMPLES
        return settings


class NeedsFlexOps(ZooError):
    """The model needs TensorFlow ops that LiteRT has no builtin kernel for.

    Attributes:
        ops: The TensorFlow op names found in the converter's error (may be empty when
            the converter did not name them).
    """

    def __init__(self, message: str, ops: list[str]):
        super().__init__(message)
        self.ops = ops


@dataclass(frozen=True)
class Converted:
    """A converted model and how it was made."""

    blob: bytes
    fixed_batch: int | None
    unrolled: list[str]
    attempts: list[str]


def convert(model: Any, ctx: ExportContext, variant: TfliteSettings) -> Converted:
    """Convert ``model`` to ``.tflite`` bytes with builtin ops only.

    Args:
        model: A built Keras functional model taking a dict of ``ctx.inputs``.
        ctx: The export context (input specs, calibration data).
        variant: Converter settings.

    Returns:
        The flatbuffer, the fixed batch size (``None`` = dynamic), the RNN layers that were
        unrolled, and a note per failed attempt.

    Raises:
        NeedsFlexOps: at every batch choice some op has no builtin kernel.
        ZooError: full int8 was asked for a graph that still has a loop.

    Example:
        >>> convert(model, ctx, TfliteSettings("fp32")).fixed_batch is None  # doctest: +SKIP
        True
    """
    attempts: list[str] = []
    failure: NeedsFlexOps | None = None
    for batch in BATCH_CHOICES:
        folder, traced = shared_trace(model, ctx, batch=batch)
        if variant.calibrate:
            refuse_loops(traced.loops)
        try:
            blob = convert_saved_model(folder, variant, ctx=ctx)
        except NeedsFlexOps as exc:
            failure = exc
            attempts.append(f"batch {batch or 'dynamic'}: needs {exc.ops or 'Flex ops'}")
            continue
        return Converted(blob, batch, traced.unrolled, attempts)
    if failure is None:  # pragma: no cover - BATCH_CHOICES is never empty
        raise ZooError("tflite: no batch size to try; BATCH_CHOICES is empty.")
    raise NeedsFlexOps(f"{failure} Tried: {'; '.join(attempts)}.", failure.ops) from failure


@dataclass(frozen=True)
class Traced:
    """What tracing found: RNN layers unrolled, loop ops left in the graph."""

    unrolled: list[str]
    loops: list[str]


def shared_trace(model: Any, ctx: ExportContext, *, batch: int | None) -> tuple[Path, Traced]:
    """The SavedModel traced for ``batch``, made once per export in ``ctx.work``.

    All four ``tflite:*`` variants convert from the same trace (tracing the full-size
    ``cnn_lstm_fusion`` takes ~7 s), and a fallback batch is traced only when needed.
    """

    def make(folder: Path) -> tuple[Path, Traced, Any]:
        target = folder / f"batch_{batch or 'dynamic'}"
        traced = trace_saved_model(model, ctx, target, batch=batch)
        return target, traced, model  # holding the model keeps its id unique

    folder, traced, _ = ctx.work.once(("tflite-trace", *model_key(model), batch), make)
    return folder, traced


def trace_saved_model(
    model: Any, ctx: ExportContext, folder: Path, *, batch: int | None, unroll: bool = True
) -> Traced:
    """Write a SavedModel with one ``serve`` endpoint whose batch axis is ``batch``.

    Args:
        model: The Keras model.
        ctx: Export context; ``ctx.inputs`` names and shapes the signature.
        folder: Where to write the SavedModel.
        batch: Fixed batch size, or ``None`` for a dynamic batch axis.
        unroll: Trace Keras RNN layers with ``unroll=True``.

    Returns:
        The RNN layers traced unrolled and the loop ops (``While``) the graph still holds.
    """
    import keras
    import tensorflow as tf

    signature = {
        name: tf.TensorSpec([batch, *spec.shape], spec.dtype, name=name)
        for name, spec in ctx.inputs.items()
    }
    with unrolled_rnns(model, enabled=unroll) as names:
        archive = keras.export.ExportArchive()
        archive.track(model)
        endpoint = archive.add_endpoint(
            "serve", functools.partial(model.__call__, training=False), input_signature=[signature]
        )
        loops = loop_ops(endpoint.get_concrete_function())
        archive.write_out(str(folder), verbose=False)
    return Traced(names, loops)


@contextlib.contextmanager
def unrolled_rnns(model: Any, *, enabled: bool = True) -> Iterator[list[str]]:
    """Set ``unroll=True`` on every Keras RNN layer of ``model`` for the block; restore after.

    Yields:
        The names of the layers switched (``[]`` when ``enabled`` is false).
    """
    import keras

    layers = []
    if enabled:
        layers = [
            layer
            for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.RNN) and not layer.unroll
        ]
    for layer in layers:
        layer.unroll = True
    try:
        yield [layer.name for layer in layers]
    finally:
        for layer in layers:
            layer.unroll = False


def loop_ops(concrete: Any) -> list[str]:
    """Sorted ``While``-type op names in a concrete function and every nested function."""
    graph_def = concrete.graph.as_graph_def()
    ops = {node.op for node in graph_def.node}
    for fn in graph_def.library.function:
        ops.update(node.op for node in fn.node_def)
    return sorted(ops & {"While", "StatelessWhile"})


def refuse_loops(loops: list[str]) -> None:
    """Raise before calibrating a graph with a loop (TF 2.21's calibrator segfaults on one)."""
    if loops:
        raise ZooError(
            f"tflite:int8: the traced graph still holds a loop ({', '.join(loops)}) after "
            "unrolling the Keras RNN layers; TF 2.21's int8 calibrator crashes the process "
            "on loops, so full integer quantization is refused. Expected a loop-free graph. "
            "Fix: give the loop a fixed trip count and unroll it, or export "
            "tflite:dynamic_int8 (weight-only int8, no calibration) instead."
        )


def convert_saved_model(folder: Path, variant: TfliteSettings, *, ctx: ExportContext) -> bytes:
    """Run the converter on a SavedModel folder with the variant's settings.

    Raises:
        NeedsFlexOps: an op has no builtin kernel (message names it and the fix).
        ZooError: any other conversion failure, with the converter's last lines.
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(folder), signature_keys=[SERVING_SIGNATURE]
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant.optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant.float16:
        converter.target_spec.supported_types = [tf.float16]
    if variant.calibrate:
        count = CALIBRATION_SAMPLES
        converter.representative_dataset = lambda: ctx.calibration(count)
    try:
        with warnings.catch_warnings():
            # The int8 calibrator runs TF's own (deprecated) tf.lite.Interpreter inside.
            warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
            return converter.convert()
    except Exception as exc:  # ConverterError (and friends) from the MLIR converter
        raise conversion_error(exc, variant) from exc


def conversion_error(exc: Exception, variant: TfliteSettings) -> ZooError:
    """Turn a converter exception into a :class:`NeedsFlexOps` or a :class:`ZooError`."""
    ops = flex_ops_in(exc)
    text = str(exc)
    if ops or "Select TF ops" in text or "flex op" in text:
        return NeedsFlexOps(
            f"tflite:{variant.name}: the model needs TensorFlow ops that have no LiteRT "
            f"builtin kernel: {', '.join(ops) or '(not named by the converter)'}; expected "
            "builtin ops only (the artifact must run in the standalone ai_edge_litert "
            "interpreter, without the Flex delegate). Fix: replace the layer that emits "
            "them with builtin-friendly ops (for a custom loop: a fixed trip count or "
            "unrolling), or drop 'tflite' from the recipe's [export] formats.",
            ops,
        )
    tail = "\n".join(line for line in text.splitlines() if line.strip())[-1500:]
    return ZooError(f"tflite:{variant.name}: the TFLite converter failed:\n{tail}")


def flex_ops_in(exc: Exception) -> list[str]:
    """TensorFlow op names (without ``tf.``) a converter error says have no builtin kernel."""
    found: set[str] = set()
    for error in getattr(exc, "errors", None) or []:
        name = getattr(getattr(error, "operator", None), "name", "")
        if name:
            found.add(name.removeprefix("tf."))
    text = str(exc)
    for match in re.finditer(r"TF Select ops: ([\w, ]+)", text):
        found.update(op.strip() for op in match.group(1).split(",") if op.strip())
    for pattern in (r"failed to legalize operation '(tf\.\w+)'", r"'(tf\.\w+)' op is neither"):
        found.update(m.removeprefix("tf.") for m in re.findall(pattern, text))
    return sorted(found)

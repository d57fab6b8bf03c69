"""Backends: every way of running a model that the benchmark times, one interface.

A backend is plain data (name, runtime, precision, which artifact it needs) plus a
``make(path, threads)`` factory that runs inside the benchmark worker process and returns an
``zoo.exporters._base.Runner`` (``prepare`` outside the timed region, ``run`` inside). Nothing here
imports TensorFlow, onnxruntime, LiteRT or OpenVINO at module level.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.exporters import Arrays, Runner


class NotApplicable(Exception):
    """The backend cannot run this model here; the message says why."""


@dataclass(frozen=True)
class Backend:
    """One way of running a model.

    Attributes:
        name: Row label, e.g. ``keras_predict``, ``tflite:int8``, ``openvino:f32``.
        runtime: ``keras``, ``tensorflow``, ``litert``, ``onnxruntime`` or ``openvino``.
        precision: ``fp32``, ``fp16``, ``int8`` or ``bf16``.
        source_format: The export format whose artifact it runs (``keras`` for the Keras model).
        make: ``(artifact_path, threads) -> Runner``; called in the worker process.
        description: One line for the report.
    """

    name: str
    runtime: str
    precision: str
    source_format: str
    make: Callable[[Path, int], Runner]
    description: str

    @property
    def uses_tensorflow(self) -> bool:
        return self.runtime in ("keras", "tensorflow")


def configure_tensorflow(threads: int) -> None:
    """Set TF's thread pools; must run before TensorFlow executes anything."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _keras_model(path: Path) -> Any:
    from zoo.exporters.formats.keras_file import load

    return load(path).model


class KerasPredict:
    """``model.predict`` (Keras' batched inference loop, a compiled predict function)."""

    def __init__(self, model: Any):
        self.model = model

    def prepare(self, inputs: Arrays) -> Arrays:
        return inputs

    def run(self, prepared: Arrays) -> Arrays:
        n = len(next(iter(prepared.values())))
        return dict(self.model.predict(prepared, batch_size=n, verbose=0))


class TfFunction:
    """The model wrapped in one ``tf.function`` (optionally XLA-compiled), traced once."""

    def __init__(self, model: Any, *, jit_compile: bool):
        import tensorflow as tf

        self._tf = tf
        self.fn = tf.function(lambda x: model(x, training=False), jit_compile=jit_compile)

    def prepare(self, inputs: Arrays) -> dict[str, Any]:
        return {k: self._tf.constant(v) for k, v in inputs.items()}

    def run(self, prepared: dict[str, Any]) -> Arrays:
        return {k: v.numpy() for k, v in self.fn(prepared).items()}


class OpenVinoRunner:
    """OpenVINO CPU plugin reading the ONNX artifact, with an explicit precision hint."""

    def __init__(self, path: Path, *, precision: str, threads: int):
        import openvino as ov

        core = ov.Core()
        if precision == "bf16" and "BF16" not in core.get_property(
            "CPU", "OPTIMIZATION_CAPABILITIES"
        ):
            raise NotApplicable("this CPU has no bf16 support (OpenVINO lists no BF16 capability)")
        compiled = core.compile_model(
            core.read_model(str(path)),
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": precision,
                "INFERENCE_NUM_THREADS": threads,
                "PERFORMANCE_HINT": "LATENCY",
            },
        )
        self.request = compiled.create_infer_request()
        self.inputs = {p.get_any_name(): p for p in compiled.inputs}
        self.outputs = [(p.get_any_name(), p) for p in compiled.outputs]

    def prepare(self, inputs: Arrays) -> dict[str, Any]:
        return {name: inputs[name] for name in self.inputs}

    def run(self, prepared: dict[str, Any]) -> Arrays:
        result = self.request.infer(prepared)
        return {name: result[port].copy() for name, port in self.outputs}


def load_artifact(fmt: str, path: Path, threads: int) -> Runner:
    """Load an exported artifact with ``threads`` if its loader takes a thread count."""
    from zoo.exporters import FORMATS

    load = FORMATS[fmt].load
    params = inspect.signature(load).parameters
    for key in ("threads", "num_threads", "intra_op_num_threads"):
        if key in params:
            return load(path, **{key: threads})
    return load(path)


def _artifact_backend(fmt: str, runtime: str, precision: str) -> Backend:
    return Backend(
        fmt,
        runtime,
        precision,
        fmt,
        lambda path, threads: load_artifact(fmt, path, threads),
        f"exported {fmt} artifact in {runtime}",
    )


_KERAS_BACKENDS = [
    Backend(
        "keras_predict",
        "keras",
        "fp32",
        "keras",
        lambda p, t: KerasPredict(_keras_model(p)),
        "Keras model.predict",
    ),
    Backend(
        "keras_call",
        "keras",
        "fp32",
        "keras",
        lambda p, t: _keras_call(p),
        "Keras direct call, training=False (eager)",
    ),
    Backend(
        "tf_function",
        "tensorflow",
        "fp32",
        "keras",
        lambda p, t: TfFunction(_keras_model(p), jit_compile=False),
        "tf.function, traced once",
    ),
    Backend(
        "xla",
        "tensorflow",
        "fp32",
        "keras",
        lambda p, t: TfFunction(_keras_model(p), jit_compile=True),
        "tf.function(jit_compile=True), XLA",
    ),
]

_RUNTIME = {"saved_model": "tensorflow", "tflite": "litert", "onnx": "onnxruntime"}
_PRECISION = {"fp32": "fp32", "fp16": "fp16", "dynamic_int8": "int8", "int8": "int8"}


def _keras_call(path: Path) -> Runner:
    from zoo.exporters.formats.keras_file import KerasRunner

    return KerasRunner(_keras_model(path))


def _openvino(path: Path, threads: int, *, precision: str) -> Runner:
    return OpenVinoRunner(path, precision=precision, threads=threads)


def backends_for(formats: list[str]) -> list[Backend]:
    """Every backend that applies to an export holding ``formats`` (report order)."""
    out = list(_KERAS_BACKENDS) if "keras" in formats else []
    for fmt in formats:
        group, _, variant = fmt.partition(":")
        if group in _RUNTIME:
            out.append(_artifact_backend(fmt, _RUNTIME[group], _PRECISION.get(variant, "fp32")))
    if "onnx:fp32" in formats:
        for precision in ("f32", "bf16"):
            out.append(
                Backend(
                    f"openvino:{precision}",
                    "openvino",
                    "fp32" if precision == "f32" else "bf16",
                    "onnx:fp32",
                    functools.partial(_openvino, precision=precision),
                    f"OpenVINO CPU on the ONNX artifact, INFERENCE_PRECISION_HINT={precision}",
                )
            )
    return out

"""The interface every export format implements.

A format module in ``export/formats/`` exposes ``FORMATS``: a list of
:class:`ExportFormat` (one per variant, e.g. ``tflite:fp32`` and ``tflite:int8``), each
saying how to write a Keras model to an artifact and how to load that artifact back into a
:class:`Runner` in its own runtime. Validation and benchmarks drive every format through
the same two calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

Arrays = dict[str, np.ndarray]


class Runner(Protocol):
    """A loaded artifact. ``prepare`` runs outside any timed region, ``run`` inside."""

    def prepare(self, inputs: Arrays) -> Any:
        """Convert named NumPy inputs to the runtime's own input objects."""

    def run(self, prepared: Any) -> Arrays:
        """Run once; return named NumPy outputs."""


def run_once(runner: Runner, inputs: Arrays) -> Arrays:
    """``runner.run(runner.prepare(inputs))``."""
    return runner.run(runner.prepare(inputs))


@dataclass(frozen=True)
class ExportContext:
    """What a format may need besides the model.

    Attributes:
        name: Model name.
        family: Family name, or ``None`` for a model given directly.
        inputs: Input name → ``InputSpec`` (shape, dtype, range) of the recipe.
        outputs: Output name → ``OutputSpec``.
        calibration: ``(count) -> iterator of single-example input dicts`` (batch 1) of
            realistic inputs, for quantization (representative dataset, calibration
            reader). Never all zeros.
        params: The family params the model was built with (``None`` for a given model).
        extra_signatures: ``(model) -> {name: tf.function}`` of extra SavedModel
            signatures the family declares, or ``None``.
    """

    name: str
    family: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    calibration: Callable[[int], Iterator[Arrays]] = field(repr=False)
    params: Any = None
    extra_signatures: Callable[[Any], dict[str, Any]] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ExportFormat:
    """One artifact format (variant).

    Attributes:
        name: Format name used in recipes and on the CLI: ``saved_model``,
            ``tflite:int8``. The part before ``:`` is its group.
        artifact: File or folder name inside ``OUT/NAME/``.
        write: ``(model, path, ctx) -> dict | None`` writes the artifact at ``path``; the
            dict (if any) is stored in the manifest under the artifact (e.g. fixed batch,
            op list, quantization settings).
        load: ``(path) -> Runner`` loads it in its own runtime.
        runtime: Human name of the runtime that loads it.
    """

    name: str
    artifact: str
    write: Callable[[Any, Path, ExportContext], dict[str, Any] | None]
    load: Callable[[Path], Runner]
    runtime: str

"""The interface every export format implements.

A format module in ``zoo.exporters.formats`` exposes ``FORMATS``: a list of
:class:`ExportFormat` (one per variant, e.g. ``tflite:fp32`` and ``tflite:int8``), each
saying how to write a Keras model to an artifact and how to load that artifact back into a
:class:`Runner` in its own runtime. Validation and benchmarks drive every format through
the same two calls.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import weakref
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

#: Signature key of the serving function in SavedModel and LiteRT artifacts.
SERVING_SIGNATURE = "serving_default"

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


T = TypeVar("T")


def model_key(model: Any) -> tuple[int, str]:
    """Identity of a model *and* its current weights, for :meth:`Workspace.once` keys.

    A product made from a model is reused only while the weights are the ones it was
    made from: a model trained between two writes gets a fresh conversion.
    """
    digest = hashlib.sha256()
    for weight in getattr(model, "weights", []):
        value = np.ascontiguousarray(weight.numpy())
        digest.update(f"{weight.path}|{value.shape}|{value.dtype}".encode())
        digest.update(value.tobytes())
    return id(model), digest.hexdigest()


class Workspace:
    """Intermediate products shared by the formats of one export, in a scratch folder.

    One traced SavedModel feeds the four ``tflite:*`` variants and one fp32 ONNX graph
    feeds both ``onnx:*`` variants, whatever order the formats are listed in. The folder
    is created on first use and removed by :meth:`close` (or when the workspace is
    garbage-collected); nothing in it outlives the export that made it.

    Example:
        >>> work = Workspace()
        >>> work.once("trace", lambda folder: trace_into(folder))  # made once  # doctest: +SKIP
        >>> work.close()
    """

    def __init__(self) -> None:
        self._root: Path | None = None
        self._made: dict[Hashable, Any] = {}
        self._cleanup: weakref.finalize | None = None

    def once(self, key: Hashable, make: Callable[[Path], T]) -> T:
        """``make(folder)`` the first time ``key`` is asked for; its result after that.

        Args:
            key: What is made (include the model's identity when it matters).
            make: Builds the product in the empty ``folder`` it is given.
        """
        if key not in self._made:
            folder = self._folder() / f"{len(self._made):03d}"
            folder.mkdir()
            self._made[key] = make(folder)
        return self._made[key]

    def has(self, key: Hashable) -> bool:
        """Whether ``key`` was already made in this workspace."""
        return key in self._made

    def close(self) -> None:
        """Remove the scratch folder and forget what was made."""
        self._made.clear()
        if self._cleanup is not None:
            self._cleanup()
        self._root = self._cleanup = None

    def _folder(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="zoo-export-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._root, True)
        return self._root


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
        work: Intermediate products shared by the formats of this export.
    """

    name: str
    family: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    calibration: Callable[[int], Iterator[Arrays]] = field(repr=False)
    params: Any = None
    extra_signatures: Callable[[Any], dict[str, Any]] | None = field(default=None, repr=False)
    work: Workspace = field(default_factory=Workspace, repr=False, compare=False)


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

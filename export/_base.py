"""The interface every export format implements.

A format is one module exposing ``FORMAT``: how to write a Keras model to an artifact
and how to load that artifact back into a :class:`Runner` in its own runtime.
Validation and benchmarks drive every format through the same two calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
class ExportFormat:
    """One artifact format.

    Attributes:
        name: Format name used in recipes and on the CLI (``saved_model``).
        artifact: File or folder name inside ``OUT/NAME/``.
        write: ``(model, path)`` writes the artifact at ``path``.
        load: ``(path) -> Runner`` loads it in its own runtime.
        runtime: Human name of the runtime that loads it.

    """

    name: str
    artifact: str
    write: Callable[[Any, Path], None]
    load: Callable[[Path], Runner]
    runtime: str

"""Uniform random inputs for an I/O contract: what validation draws without real data.

Core (no TensorFlow): families' ``samples`` hooks fall back to it for inputs they have no
data for, and :mod:`zoo.exporters` validates with it (re-exported there).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.errors import ZooError

Arrays = dict[str, Any]


def sample_inputs(inputs: dict[str, Any], batch: int, seed: int = 0) -> Arrays:
    """Realistic random inputs for an I/O contract (never all zeros).

    Each input draws uniformly from its recipe ``range`` (floats in ``[low, high)``,
    integers in ``[low, high)``); without a range floats use ``[0, 1)`` and integers
    ``[0, 10)``.

    Args:
        inputs: name → spec with ``shape``, ``dtype`` and ``range`` attributes.
        batch: Leading batch size.
        seed: Seed of the generator; the same seed gives the same arrays.
    """
    rng = np.random.default_rng(seed)
    arrays: Arrays = {}
    for name in sorted(inputs):
        spec = inputs[name]
        shape = (batch, *spec.shape)
        if spec.dtype == "string":
            raise ZooError(f"input {name!r}: string inputs need samples from the family's data.")
        if spec.dtype.startswith("int") or spec.dtype == "uint8":
            low, high = spec.range if spec.range is not None else (0, 10)
            arrays[name] = rng.integers(int(low), int(high), size=shape).astype(spec.dtype)
        else:
            low, high = spec.range if spec.range is not None else (0.0, 1.0)
            arrays[name] = rng.uniform(low, high, size=shape).astype(spec.dtype)
    return arrays

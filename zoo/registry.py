"""Registered models for the layers above the families: lookup, I/O contracts, formats.

The exporters and benchmarks read recipes through this module only, never through the
registry's internals: an entry by name (:data:`REGISTRY`), the recipe's input and output
specs, the export formats a recipe declares, the recipe a built model came from
(:func:`origin`) and ``KEY=VALUE`` override parsing. Nothing here imports TensorFlow.

Example:
    >>> from zoo.registry import REGISTRY, declared_formats
    >>> REGISTRY.get("cnn_lstm_fusion_tiny").family.name
    'cnn_lstm_fusion'
    >>> declared_formats("cnn_lstm_fusion_tiny")
    ['keras', 'saved_model', 'tflite', 'onnx']
"""

from __future__ import annotations

from typing import Any

from zoo._build import Origin, origin
from zoo._recipe import (
    FORMAT_GROUPS,
    FORMAT_VARIANTS,
    KNOWN_FORMATS,
    InputSpec,
    OutputSpec,
    expand_formats,
    parse_overrides,
)
from zoo._registry import REGISTRY, Entry

__all__ = [
    "FORMAT_GROUPS",
    "FORMAT_VARIANTS",
    "KNOWN_FORMATS",
    "REGISTRY",
    "Entry",
    "InputSpec",
    "Origin",
    "OutputSpec",
    "declared_formats",
    "expand_formats",
    "origin",
    "parse_overrides",
]


def declared_formats(model_or_name: Any) -> list[str] | None:
    """The formats a model's recipe declares (as written), or ``None`` if it has no recipe.

    Args:
        model_or_name: A registered name, or a model built by :func:`zoo.get`.
    """
    found = origin(model_or_name)
    name = model_or_name if isinstance(model_or_name, str) else found and found.name
    if not name:
        return None
    return list(REGISTRY.get(name).recipe.export.formats)

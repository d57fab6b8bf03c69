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

from typing import TYPE_CHECKING, Any

from zoo._recipe_base import (
    FORMAT_GROUPS,
    FORMAT_VARIANTS,
    KNOWN_FORMATS,
    expand_formats,
    parse_overrides,
)
from zoo._registry import REGISTRY, Entry
from zoo.lazy import lazy_names

if TYPE_CHECKING:
    from zoo._build import Origin, origin
    from zoo._recipe import InputSpec, OutputSpec

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

#: Names from modules that import pydantic, loaded on first access (PEP 562): the CLI
#: imports this module at start-up and ``zoo list`` must stay fast.
_LAZY = {
    "InputSpec": "zoo._recipe",
    "OutputSpec": "zoo._recipe",
    "Origin": "zoo._build",
    "origin": "zoo._build",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)


def declared_formats(model_or_name: Any) -> list[str] | None:
    """The formats a model's recipe declares (as written), or ``None`` if it has no recipe.

    Args:
        model_or_name: A registered name, or a model built by :func:`zoo.get`.
    """
    from zoo._build import origin

    found = origin(model_or_name)
    name = model_or_name if isinstance(model_or_name, str) else found and found.name
    if not name:
        return None
    return list(REGISTRY.get(name).recipe.export.formats)

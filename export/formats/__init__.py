"""Export formats, one module each; every public module's ``FORMATS`` list is collected.

A module must not import TensorFlow, LiteRT or onnxruntime at module level.
"""

from __future__ import annotations

import importlib
import pkgutil

from zoo.exporters._base import ExportFormat


def collect() -> dict[str, ExportFormat]:
    """Name → format for every format module in this package."""
    found: dict[str, ExportFormat] = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        for fmt in importlib.import_module(f"{__name__}.{module.name}").FORMATS:
            if fmt.name in found:
                raise RuntimeError(f"export format {fmt.name!r} is defined twice")
            found[fmt.name] = fmt
    return found

"""The schema-free part of recipes: model names, TOML reading, export formats, overrides.

Listing models (``zoo list``, :func:`zoo.list`) needs only these, so this module imports
neither pydantic nor the families; the schema in :mod:`zoo._recipe` loads when a recipe is
validated, on first use of its model.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.errors import RecipeError, ZooError

#: A valid model, family, tag or I/O name (a recipe's file name is its model name).
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"

#: Export format groups and their variants. A recipe (or ``--format``) may name a group
#: (all its variants) or one variant. ``export`` implements exactly these variants (a test
#: keeps the two in step).
FORMAT_GROUPS: dict[str, tuple[str, ...]] = {
    "keras": ("keras",),
    "saved_model": ("saved_model",),
    "tflite": ("tflite:fp32", "tflite:fp16", "tflite:dynamic_int8", "tflite:int8"),
    "onnx": ("onnx:fp32", "onnx:int8"),
}
FORMAT_VARIANTS: tuple[str, ...] = tuple(v for vs in FORMAT_GROUPS.values() for v in vs)
KNOWN_FORMATS: tuple[str, ...] = tuple(dict.fromkeys([*FORMAT_GROUPS, *FORMAT_VARIANTS]))


def expand_formats(names: list[str]) -> list[str]:
    """Expand group names to their variants, keeping order and dropping repeats.

    Example:
        >>> expand_formats(["saved_model", "tflite:int8", "onnx", "onnx:fp32"])
        ['saved_model', 'tflite:int8', 'onnx:fp32', 'onnx:int8']
    """
    out: list[str] = []
    for name in names:
        out.extend(FORMAT_GROUPS.get(name, (name,)))
    return list(dict.fromkeys(out))


def _tomllib() -> Any:
    """The TOML parser (``tomllib``, or ``tomli`` on Python 3.10), imported on first use."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    return tomllib


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into a located :class:`RecipeError`."""
    tomllib = _tomllib()
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(
            path, [("", f"not valid TOML: {exc}. Fix the syntax at that line.")]
        ) from exc
    except OSError as exc:
        raise RecipeError(path, [("", f"cannot read the file: {exc}")]) from exc


def parse_overrides(items: Sequence[str] | None) -> dict[str, Any]:
    """``["num_classes=5", "pooling=gap"]`` → ``{"num_classes": 5, "pooling": "gap"}``.

    Values are read as TOML (``5``, ``1e-3``, ``true``, ``[32, 64]``, ``"text"``); anything
    that is not valid TOML is taken as a plain string.

    Example:
        >>> parse_overrides(["num_classes=5", "conv_filters=[8, 16]", "pooling=gap"])
        {'num_classes': 5, 'conv_filters': [8, 16], 'pooling': 'gap'}
    """
    overrides: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ZooError(f"--set {item!r}: expected KEY=VALUE, e.g. --set num_classes=5.")
        tomllib = _tomllib()
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        overrides[key.strip()] = value
    return overrides

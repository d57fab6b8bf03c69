"""The schema-free part of recipes: model names, TOML reading, export formats, overrides.

Listing models (``zoo list``, :func:`zoo.list`) needs only these, so this module imports
neither pydantic nor the families; the schema in :mod:`zoo._recipe` loads when a recipe is
validated, on first use of its model.
"""

from __future__ import annotations

import math
import re
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.errors import RecipeError, ZooError

#: A valid model, family, tag or I/O name (a recipe's file name is its model name).
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
#: The longest model, family, tag or I/O name.
MAX_NAME_LENGTH = 64
#: Names no recipe file may take: words the CLI reads as a subcommand where it also takes a
#: model name (``zoo bench compare RUN_A RUN_B``).
RESERVED_NAMES: frozenset[str] = frozenset({"compare"})
#: The largest recipe file read, in bytes. Recipes are a few hundred bytes; a larger file is
#: refused by its size before it is read or parsed.
MAX_RECIPE_BYTES = 1 << 20
#: The deepest nesting of tables and arrays in a recipe (the built-in ones use 4 levels).
MAX_DEPTH = 16

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


def check_model_name(name: str, file: Path | str | None = None) -> None:
    """Refuse a model name (a recipe's file name) that is invalid or reserved.

    Raises:
        RecipeError: naming the file, why the name is refused and how to rename it.

    Example:
        >>> check_model_name("my_model")
        >>> check_model_name("compare", "compare.toml")
        Traceback (most recent call last):
        ...
        zoo.errors.RecipeError: invalid recipe
          compare.toml: <top level>: model name 'compare' is reserved: ...
    """
    shown = name if len(name) <= MAX_NAME_LENGTH + 16 else name[: MAX_NAME_LENGTH + 13] + "..."
    if not re.fullmatch(NAME_PATTERN, name):
        msg = (
            f"file name {shown!r} is not a valid model name (the file name is the model name); "
            "expected lowercase ASCII letters, digits and '_', starting with a letter, "
            "e.g. 'my_model.toml'; rename the file."
        )
    elif len(name) > MAX_NAME_LENGTH:
        msg = (
            f"model name {shown!r} has {len(name)} characters, more than the limit of "
            f"{MAX_NAME_LENGTH}; rename the file to a shorter name."
        )
    elif name in RESERVED_NAMES:
        msg = (
            f"model name {name!r} is reserved: `zoo bench {name} RUN_A RUN_B` is a "
            f"subcommand, so a model of that name could not be benchmarked by name; rename "
            f"the file, e.g. to 'my_{name}.toml'."
        )
    else:
        return
    raise RecipeError(file, [("", msg)])


def read_toml(path: Path) -> dict[str, Any]:
    """Read and parse a recipe file, refusing hostile ones with a located :class:`RecipeError`.

    The file must be a regular file of at most :data:`MAX_RECIPE_BYTES` (checked before
    reading), UTF-8 text without NUL bytes, valid TOML and nested at most
    :data:`MAX_DEPTH` levels.
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise RecipeError(
                path,
                [("", "not a regular file (a folder, device or pipe); expected a TOML text file.")],
            )
        _check_size(path, info.st_size, exact=True)
        with path.open("rb") as fh:
            raw = fh.read(MAX_RECIPE_BYTES + 1)
    except OSError as exc:
        raise RecipeError(path, [("", f"cannot read the file: {exc}")]) from exc
    _check_size(path, len(raw), exact=False)
    text = _decode(path, raw)
    tomllib = _tomllib()
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(
            path, [("", f"not valid TOML: {exc}. Fix the syntax at that line.")]
        ) from exc
    except RecursionError:
        raise RecipeError(
            path,
            [("", f"tables or arrays nested too deeply to parse; at most {MAX_DEPTH} levels.")],
        ) from None
    _check_depth(path, data)
    return data


def _check_size(path: Path, size: int, *, exact: bool) -> None:
    """Refuse a file above :data:`MAX_RECIPE_BYTES` (by its size, before parsing)."""
    if size > MAX_RECIPE_BYTES:
        raise RecipeError(
            path,
            [
                (
                    "",
                    f"the file has {size} bytes{'' if exact else ' or more'}, above the limit "
                    f"of {MAX_RECIPE_BYTES} bytes (1 MiB) for a recipe; a recipe is a short TOML "
                    "file: check that this is the right file.",
                )
            ],
        )


def _decode(path: Path, raw: bytes) -> str:
    """UTF-8 text without NUL bytes, or a :class:`RecipeError` naming the line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RecipeError(
            path,
            [
                (
                    "",
                    f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line} (byte offset "
                    f"{exc.start}); save the file as UTF-8.",
                )
            ],
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise RecipeError(
            path,
            [("", f"a NUL byte at line {line}; a recipe is a text file: remove the NUL byte.")],
        )
    return text


def _check_depth(path: Path, data: dict[str, Any]) -> None:
    """Refuse tables/arrays nested deeper than :data:`MAX_DEPTH` (walked without recursion)."""
    stack: list[tuple[Any, list[str]]] = [(data, [])]
    while stack:
        value, key = stack.pop()
        if len(key) > MAX_DEPTH:
            raise RecipeError(
                path,
                [
                    (
                        ".".join(key[:MAX_DEPTH]) + ".…",
                        f"nested more than {MAX_DEPTH} levels deep; a recipe value is a "
                        "number, string, or a short list or table of them: flatten it.",
                    )
                ],
            )
        if isinstance(value, dict):
            stack.extend((v, [*key, str(k)]) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, [*key, str(i)]) for i, v in enumerate(value))


def non_finite(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``(key path, message)`` for every NaN or infinite float inside ``data``.

    Example:
        >>> non_finite({"inputs": {"x": {"range": [0.0, float("inf")]}}})
        [('inputs.x.range.1', 'inf is not a finite number; use a finite value.')]
    """
    problems: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(data, prefix)]
    while stack:
        value, key = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            problems.append((key, f"{value} is not a finite number; use a finite value."))
        elif isinstance(value, dict):
            stack.extend((v, f"{key}.{k}" if key else str(k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{key}.{i}" if key else str(i)) for i, v in enumerate(value))
    return sorted(problems)


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
        if len(raw) > MAX_RECIPE_BYTES:
            raise ZooError(
                f"--set {key.strip()}=...: the value has {len(raw)} characters, above the limit "
                f"of {MAX_RECIPE_BYTES}; pass a short value."
            )
        tomllib = _tomllib()
        try:
            parsed = tomllib.loads(f"v = {raw}")
        except tomllib.TOMLDecodeError:
            parsed = {"v": raw}
        except RecursionError:
            raise ZooError(
                f"--set {key.strip()}=...: the value nests arrays or tables too deeply; "
                f"expected a number, string, or a short list such as [8, 16]."
            ) from None
        # "1\nother = 2" would read as two keys: it is a string, not the value 1
        overrides[key.strip()] = parsed["v"] if list(parsed) == ["v"] else raw
    return overrides

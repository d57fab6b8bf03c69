"""Recipe schema, loading and located errors.

A recipe is one TOML file per named model (file name = model name). It is plain
data: the family that builds it, a description, tags, the I/O contract (named
inputs and outputs), the family's parameters and the export formats. Loading never
imports TensorFlow.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from zoo.errors import RecipeError, ZooError, describe, did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
DType = Literal["float32", "float16", "int32", "int64", "uint8", "string"]
#: What an output is, which decides the task metric quantized exports are held to:
#: ``classification`` (class probabilities: top-1 agreement with Keras) or
#: ``reconstruction`` (values in [0, 1] reproducing an input: PSNR drop against Keras).
Task = Literal["classification", "reconstruction"]

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
        >>> expand_formats(["saved_model", "tflite:int8", "onnx"])  # with tflite and onnx
        ['saved_model', 'tflite:int8', 'onnx:fp32', 'onnx:int8']
    """
    out: list[str] = []
    for name in names:
        out.extend(FORMAT_GROUPS.get(name, (name,)))
    return list(dict.fromkeys(out))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class InputSpec(_Strict):
    """One named model input, without the batch axis."""

    shape: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)
    dtype: DType = "float32"
    range: list[float] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="[low, high) of realistic values; used to draw validation inputs.",
    )
    description: str = ""

    @field_validator("range")
    @classmethod
    def _low_below_high(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError(f"low must be below high, received [{value[0]}, {value[1]}]")
        return value


class OutputSpec(_Strict):
    """One named model output, without the batch axis."""

    shape: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)
    dtype: DType = "float32"
    task: Task | None = Field(
        default=None,
        description="classification | reconstruction: the task metric of quantized exports.",
    )
    description: str = ""


class ExportSpec(_Strict):
    """Which artifact formats this model is exported to (and tested in)."""

    formats: list[Literal[KNOWN_FORMATS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(FORMAT_GROUPS), min_length=1
    )

    @field_validator("formats")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"formats must not repeat, received {value}")
        return value


class Recipe(_Strict):
    """The schema of a recipe file."""

    family: Name
    description: str = Field(min_length=1)
    tags: list[Name] = Field(default_factory=list)
    inputs: dict[Name, InputSpec] = Field(min_length=1)
    outputs: dict[Name, OutputSpec] = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    export: ExportSpec = Field(default_factory=ExportSpec)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into a located :class:`RecipeError`."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(
            path, [("", f"not valid TOML: {exc}. Fix the syntax at that line.")]
        ) from exc
    except OSError as exc:
        raise RecipeError(path, [("", f"cannot read the file: {exc}")]) from exc


def parse_recipe(data: dict[str, Any], file: Path | None = None) -> Recipe:
    """Validate raw recipe data against the schema.

    Args:
        data: The parsed TOML table.
        file: Where the data came from, named in errors.

    Returns:
        The validated recipe (parameters not yet checked against the family).

    Raises:
        RecipeError: naming the file, the key path, what was received and expected.
    """
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(file, located_problems(exc, Recipe, data)) from None


def located_problems(
    exc: ValidationError, schema: type[BaseModel], data: Any, prefix: str = ""
) -> list[tuple[str, str]]:
    """Turn a pydantic error into ``(key path, message)`` pairs a person can act on."""
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(filter(None, [prefix, *loc]))
        if err["type"] == "extra_forbidden":
            allowed = allowed_keys(schema, err["loc"][:-1])
            msg = f"unknown key {loc[-1]!r}; expected one of: {', '.join(sorted(allowed))}."
            msg += did_you_mean(loc[-1], allowed)
        elif err["type"] == "missing":
            msg = "required key is missing; add it to the recipe."
        elif err["type"] == "value_error":
            msg = err["msg"].removeprefix("Value error, ") + "."
        else:
            text = err["msg"].replace("Input should be", "expected")
            msg = f"{text[0].lower()}{text[1:]}; received {describe(_dig(data, err['loc']))}."
        problems.append((key, msg))
    return problems


def allowed_keys(schema: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names accepted at ``loc`` inside ``schema`` (dict keys are skipped)."""
    annotation: Any = schema
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            annotation = field.annotation if field else None
        elif typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated``/``Optional`` wrappers from a type annotation."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        else:
            return annotation


def _dig(data: Any, loc: tuple[Any, ...]) -> Any:
    """Follow ``loc`` into raw data; return the received value (or the deepest found)."""
    for part in loc:
        in_dict = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and part < len(data)
        if in_dict or in_list:
            data = data[part]
        else:
            return data
    return data


def parse_overrides(items: Sequence[str] | None) -> dict[str, Any]:
    """``["num_classes=5", "pooling=gap"]`` → ``{"num_classes": 5, "pooling": "gap"}``.

    Values are read as TOML (``5``, ``1e-3``, ``true``, ``[32, 64]``, ``"text"``); anything
    that is not valid TOML is taken as a plain string.
    """
    overrides: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ZooError(f"--set {item!r}: expected KEY=VALUE, e.g. --set num_classes=5.")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        overrides[key.strip()] = value
    return overrides

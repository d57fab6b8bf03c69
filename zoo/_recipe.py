"""Recipe schema, loading and located errors.

A recipe is one TOML file per named model (file name = model name). It is plain
data: the family that builds it, a description, tags, the I/O contract (named
inputs and outputs), the family's parameters and the export formats. Loading never
imports TensorFlow. The parts that need no schema (names, TOML reading, formats,
overrides) live in :mod:`zoo._recipe_base`, so listing models never imports pydantic.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from zoo._recipe_base import (
    FORMAT_GROUPS,
    FORMAT_VARIANTS,
    KNOWN_FORMATS,
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    expand_formats,
    non_finite,
    parse_overrides,
    read_toml,
)
from zoo.errors import RecipeError, describe, did_you_mean

__all__ = [
    "FORMAT_GROUPS",
    "FORMAT_VARIANTS",
    "KNOWN_FORMATS",
    "NAME_PATTERN",
    "ExportSpec",
    "InputSpec",
    "OutputSpec",
    "Recipe",
    "TrainSpec",
    "allowed_keys",
    "expand_formats",
    "located_problems",
    "parse_overrides",
    "parse_recipe",
    "read_toml",
]

Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=MAX_NAME_LENGTH)]
#: The largest size of one axis of an input or output (16 Mi: 17 minutes of 16 kHz audio).
MAX_DIM = 1 << 24
#: The most values in one example of one input or output (256 Mi: 1 GiB as float32).
MAX_ELEMENTS = 1 << 28
#: The most axes of an input or output (without the batch axis).
MAX_RANK = 8
Dim = Annotated[int, Field(ge=1, le=MAX_DIM)]
Shape = Annotated[list[Dim], Field(min_length=1, max_length=MAX_RANK)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


def _plain(text: str) -> str:
    """Refuse control characters (terminal escapes) other than newline and tab."""
    for at, char in enumerate(text):
        if (char < " " and char not in "\n\t") or "\x7f" <= char <= "\x9f":
            raise ValueError(
                f"control character {char!r} at position {at}; free text is printed by "
                "`zoo show`, so terminal escapes are not allowed: remove it"
            )
    return text


#: Free text (descriptions): at most 2000 characters, no control characters.
Text = Annotated[str, Field(max_length=2000), AfterValidator(_plain)]
DType = Literal["float32", "float16", "int32", "int64", "uint8", "string"]
#: What an output is, which decides the task metric quantized exports are held to:
#: ``classification`` (class probabilities: top-1 agreement with Keras) or
#: ``reconstruction`` (values in [0, 1] reproducing an input: PSNR drop against Keras) or
#: ``embedding`` (a vector compared by cosine: cosine similarity and retrieval recall@1
#: against Keras).
Task = Literal["classification", "reconstruction", "embedding"]
#: The ``[low, high]`` a ``range`` of each numeric dtype must lie in (the high end of an
#: integer range is exclusive).
DTYPE_RANGES: dict[str, tuple[float, float]] = {
    "float32": (-3.4028234663852886e38, 3.4028234663852886e38),
    "float16": (-65504.0, 65504.0),
    "int32": (-(2.0**31), 2.0**31),
    "int64": (-(2.0**63), 2.0**63),
    "uint8": (0.0, 256.0),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class InputSpec(_Strict):
    """One named model input, without the batch axis."""

    shape: Shape
    dtype: DType = "float32"
    range: list[Finite] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="[low, high) of realistic values; used to draw validation inputs.",
    )
    description: Text = ""

    @field_validator("shape")
    @classmethod
    def _shape_size(cls, value: list[int]) -> list[int]:
        return _check_size(value)

    @field_validator("range")
    @classmethod
    def _low_below_high(cls, value: list[float] | None, info: ValidationInfo) -> list[float] | None:
        if value is None:
            return value
        if not value[0] < value[1]:
            raise ValueError(f"low must be below high, received [{value[0]}, {value[1]}]")
        dtype = info.data.get("dtype")
        if dtype in DTYPE_RANGES:
            low, high = DTYPE_RANGES[dtype]
            if value[0] < low or value[1] > high:
                raise ValueError(
                    f"[{value[0]:g}, {value[1]:g}] does not fit dtype {dtype} (values in "
                    f"[{low:g}, {high:g}]); use a range the dtype can hold"
                )
        return value


class OutputSpec(_Strict):
    """One named model output, without the batch axis."""

    shape: Shape
    dtype: DType = "float32"
    task: Task | None = Field(
        default=None,
        description="classification | reconstruction | embedding: quantized exports' task metric.",
    )
    description: Text = ""

    @field_validator("shape")
    @classmethod
    def _shape_size(cls, value: list[int]) -> list[int]:
        return _check_size(value)


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


class TrainSpec(_Strict):
    """Training defaults of ``zoo fit`` / :func:`zoo.fit` (flags and arguments win).

    The transfer schedule: stage 1 trains with the base as the recipe builds it (frozen
    for the transfer families) for ``epochs``; stage 2, when ``fine_tune_layers`` > 0,
    unfreezes that many top blocks of the base (BatchNormalization stays frozen and in
    inference mode) and trains ``fine_tune_epochs`` more at ``fine_tune_learning_rate``.
    """

    data: Annotated[Text, Field(min_length=1, max_length=4096)] | None = Field(
        default=None, description="default data source, e.g. 'digits'"
    )
    epochs: Annotated[int, Field(ge=1, le=1_000_000)] = 10
    batch_size: Annotated[int, Field(ge=1, le=1 << 20)] = 32
    learning_rate: Annotated[Finite, Field(gt=0.0)] | None = None
    val_split: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    patience: Annotated[int, Field(ge=1, le=1_000_000)] = 3
    fine_tune_layers: Annotated[int, Field(ge=0, le=10_000)] = 0
    fine_tune_epochs: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    fine_tune_learning_rate: Annotated[Finite, Field(gt=0.0)] = 1e-5


class Recipe(_Strict):
    """The schema of a recipe file."""

    family: Name
    description: Text = Field(min_length=1)
    tags: list[Name] = Field(default_factory=list, max_length=64)
    inputs: dict[Name, InputSpec] = Field(min_length=1, max_length=64)
    outputs: dict[Name, OutputSpec] = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    export: ExportSpec = Field(default_factory=ExportSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)

    @field_validator("tags")
    @classmethod
    def _tags_unique(cls, value: list[str]) -> list[str]:
        repeated = sorted({t for t in value if value.count(t) > 1})
        if repeated:
            raise ValueError(f"tags must not repeat, received {repeated} more than once")
        return value


def _check_size(shape: list[int]) -> list[int]:
    """Refuse a shape holding more than :data:`MAX_ELEMENTS` values per example."""
    size = 1
    for dim in shape:
        size *= dim
    if size > MAX_ELEMENTS:
        raise ValueError(
            f"{shape} holds {size:.3g} values per example, above the limit of "
            f"{MAX_ELEMENTS} ({MAX_ELEMENTS * 4 >> 30} GiB as float32); use a smaller shape"
        )
    return shape


def parse_recipe(data: dict[str, Any], file: Path | None = None) -> Recipe:
    """Validate raw recipe data against the schema.

    Args:
        data: The parsed TOML table.
        file: Where the data came from, named in errors.

    Returns:
        The validated recipe (parameters not yet checked against the family).

    Raises:
        RecipeError: naming the file, the key path, what was received and expected.

    Example:
        >>> data = {"family": "cnn_lstm_fusion", "description": "A demo.",
        ...         "inputs": {"tokens": {"shape": [8], "dtype": "int32"}},
        ...         "outputs": {"probabilities": {"shape": [2]}}}
        >>> parse_recipe(data).export.formats
        ['keras', 'saved_model', 'tflite', 'onnx']
        >>> parse_recipe({**data, "tagz": ["x"]}, Path("my_model.toml"))
        Traceback (most recent call last):
        ...
        zoo.errors.RecipeError: invalid recipe
          my_model.toml: tagz: unknown key 'tagz'; expected one of: ... Did you mean 'tags'?
    """
    if not isinstance(data, dict):
        raise RecipeError(file, [("", f"expected a TOML table, received {describe(data)}.")])
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(file, located_problems(exc, Recipe, data)) from None
    problems = non_finite(data)
    problems += [
        (
            f"outputs.{name}",
            f"{name!r} names both an input and an output; exported signatures (ONNX, LiteRT) "
            "need distinct tensor names: rename the output.",
        )
        for name in sorted(set(recipe.inputs) & set(recipe.outputs))
    ]
    if problems:
        raise RecipeError(file, problems)
    return recipe


def located_problems(
    exc: ValidationError, schema: type[BaseModel], data: Any, prefix: str = ""
) -> list[tuple[str, str]]:
    """Turn a pydantic error into ``(key path, message)`` pairs a person can act on."""
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = [_short(str(p)) for p in err["loc"]]
        received = _dig(data, err["loc"])
        if loc and loc[-1] == "[key]":  # a table key (an input or output name) is wrong
            loc, received = loc[:-1], err["input"]
        key = ".".join(filter(None, [prefix, *loc]))
        if err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") in (
            NAME_PATTERN,
            f"^{NAME_PATTERN}$",
        ):
            msg = (
                "expected a name of lowercase ASCII letters, digits and '_', starting with a "
                f"letter, e.g. 'image_features'; received {describe(received)}"
            )
            odd = [c for c in str(received) if not c.isascii()][:1]
            msg += f" (it holds the non-ASCII {odd[0]!r}, U+{ord(odd[0]):04X})." if odd else "."
        elif err["type"] == "extra_forbidden":
            allowed = allowed_keys(schema, err["loc"][:-1])
            msg = f"unknown key {loc[-1]!r}; expected one of: {', '.join(sorted(allowed))}."
            msg += did_you_mean(loc[-1], allowed)
        elif err["type"] == "missing":
            msg = "required key is missing; add it to the recipe."
        elif err["type"] == "value_error":
            msg = err["msg"].removeprefix("Value error, ") + "."
        else:
            text = err["msg"].replace("Input should be", "expected")
            msg = f"{text[0].lower()}{text[1:]}; received {describe(received)}."
        problems.append((key, msg))
    return problems


def _short(key: str, limit: int = 80) -> str:
    """A key as shown in messages: at most ``limit`` characters."""
    return key if len(key) <= limit else key[: limit - 3] + "..."


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

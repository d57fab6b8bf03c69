"""What is exported: the Keras model, its I/O contract and where its inputs come from.

A :class:`Subject` is built from a registered model name (built here), from a model that
:func:`zoo.get` returned (its recipe is remembered in ``model.zoo_origin``, so a trained
model keeps its recipe's contract, family and tolerances), or from any Keras functional
model with named outputs. Its :meth:`Subject.samples` gives the inputs validation and int8
calibration run on: rows of the user's real ``data`` when given, else the family's
realistic synthetic inputs, else uniform draws from each input's recipe ``range``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from zoo.exporters._base import Arrays
from zoo.exporters.validate import sample_inputs

from zoo.errors import ZooError, describe
from zoo.registry import InputSpec, OutputSpec


@dataclass(frozen=True)
class Subject:
    """The model to export with its name, family, I/O contract and input source.

    Attributes:
        draw: ``(batch, seed) -> inputs``; use :meth:`samples`.
        targets: ``(inputs) -> {output: ground truth}`` of reconstruction outputs.
        source: Where inputs come from, for the manifest: ``"data (N rows)"``,
            ``"family samples"`` or ``"recipe ranges"``.
    """

    model: Any
    name: str
    family: str | None
    inputs: dict[str, InputSpec]
    outputs: dict[str, OutputSpec]
    recipe: dict[str, Any] | None
    params: Any = None
    extra_signatures: Any = None
    draw: Callable[[int, int], Arrays] | None = field(default=None, repr=False)
    targets: Callable[[Arrays], Arrays] | None = field(default=None, repr=False)
    source: str = "recipe ranges"

    def samples(self, batch: int, seed: int) -> Arrays:
        """``batch`` realistic input rows (the same seed gives the same rows)."""
        if self.draw is not None:
            return self.draw(batch, seed)
        return sample_inputs(self.inputs, batch, seed=seed)

    def calibration(self, count: int) -> Iterator[Arrays]:
        """``count`` single-example input dicts for int8 calibration (never all zeros)."""
        for i in range(count):
            yield self.samples(1, 50_000 + i)

    @property
    def tasks(self) -> dict[str, str | None]:
        """Output name → declared task (``classification``, ``reconstruction`` or None)."""
        return {name: spec.task for name, spec in self.outputs.items()}


def subject_for(
    model_or_name: Any,
    *,
    seed: int | None,
    data: Arrays | None = None,
    **overrides: Any,
) -> Subject:
    """Describe what to export; build it first if it is a registered name.

    Raises:
        ZooError: overrides given with a built model, unnamed outputs, or ``data`` that
            does not fit the model's inputs.
    """
    from zoo.registry import origin

    if isinstance(model_or_name, str):
        import zoo

        model = zoo.get(model_or_name, seed=seed, **overrides)
        return _from_recipe(model, model_or_name, overrides, data)
    if overrides:
        raise ZooError("overrides apply to a model name, not to a built model; received both.")
    found = origin(model_or_name)
    if found is not None:
        return _from_recipe(model_or_name, found.name, found.overrides, data)
    return _from_model(model_or_name, data)


def _from_recipe(model: Any, name: str, overrides: dict[str, Any], data: Arrays | None) -> Subject:
    import zoo
    from zoo.registry import REGISTRY

    entry = REGISTRY.get(name)
    params, inputs, outputs = entry.resolve_io(overrides)
    family = entry.family
    draw, source = _data_draw(data, inputs) if data is not None else (None, "recipe ranges")
    if draw is None and family.samples is not None:
        samples = family.samples

        def draw(batch: int, seed: int) -> Arrays:
            return samples(params, inputs, batch, np.random.default_rng(seed))

        source = "family samples"
    targets = None
    if family.targets is not None:
        make = family.targets

        def targets(x: Arrays) -> Arrays:
            return make(params, x)

    extra = family.signatures
    return Subject(
        model,
        export_name(entry.name, getattr(params, "part", None), getattr(entry.params, "part", None)),
        family.name,
        inputs,
        outputs,
        zoo.info(name, **overrides),
        params=params,
        extra_signatures=(lambda m: extra(m, params)) if extra is not None else None,
        draw=draw,
        targets=targets,
        source=source,
    )


def export_name(name: str, part: str | None, recipe_part: str | None) -> str:
    """The folder name of an export: the model name, plus ``.PART`` for a part by override.

    So a dual encoder's towers and its pair model export side by side.

    Example:
        >>> export_name("image_text_dual_encoder", "image_tower", "pair")
        'image_text_dual_encoder.image_tower'
        >>> export_name("cnn_lstm_fusion", None, None)
        'cnn_lstm_fusion'
    """
    return name if part == recipe_part else f"{name}.{part}"


def _from_model(model: Any, data: Arrays | None) -> Subject:
    inputs = {
        t.name: InputSpec.model_validate(
            {"shape": [int(d) for d in t.shape[1:]], "dtype": str(t.dtype)}
        )
        for t in model.inputs
    }
    outs = model.output if isinstance(model.output, dict) else None
    if outs is None:
        raise ZooError(
            f"model {model.name!r} has unnamed outputs ({type(model.output).__name__}); "
            "expected a functional model built with outputs={name: tensor}."
        )
    outputs = {
        k: OutputSpec.model_validate(
            {"shape": [int(d) for d in v.shape[1:]], "dtype": str(v.dtype)}
        )
        for k, v in outs.items()
    }
    draw, source = _data_draw(data, inputs) if data is not None else (None, "recipe ranges")
    return Subject(model, model.name, None, inputs, outputs, None, draw=draw, source=source)


def _data_draw(
    data: Arrays, inputs: dict[str, InputSpec]
) -> tuple[Callable[[int, int], Arrays], str]:
    """Check real example rows against the inputs; return a seeded row sampler."""
    if not isinstance(data, dict) or set(data) != set(inputs):
        got = sorted(data) if isinstance(data, dict) else describe(data)
        raise ZooError(
            f"data: expected a dict with exactly the model inputs {sorted(inputs)}, received "
            f"{got}; pass {{input name: array of example rows}}."
        )
    arrays = {k: np.asarray(v) for k, v in data.items()}
    rows = {k: a.shape[0] if a.ndim else 0 for k, a in arrays.items()}
    if len(set(rows.values())) != 1 or min(rows.values()) < 1:
        raise ZooError(
            f"data: every input needs the same number (≥ 1) of example rows on axis 0, "
            f"received {rows}."
        )
    for name, spec in inputs.items():
        shape = list(arrays[name].shape[1:])
        if shape != list(spec.shape):
            raise ZooError(
                f"data[{name!r}]: rows of shape {shape}, expected {spec.shape} (the model "
                f"input without the batch axis); received array shape "
                f"{list(arrays[name].shape)}."
            )
        arrays[name] = arrays[name].astype(spec.dtype, copy=False)
        integer = np.issubdtype(arrays[name].dtype, np.integer)
        if integer and spec.range is not None and arrays[name].size:
            low, high = int(arrays[name].min()), int(arrays[name].max())
            if low < 0 or high >= spec.range[1]:  # the low end may be a synthetic-draw bound
                raise ZooError(
                    f"data[{name!r}]: values in [{low}, {high}], expected ids in "
                    f"[0, {spec.range[1]:g}) (the input's range ends at {spec.range[1]:g}, "
                    "e.g. the vocabulary size); map them into it or fix the recipe's range."
                )
    count = next(iter(rows.values()))

    def draw(batch: int, seed: int) -> Arrays:
        pick = np.random.default_rng(seed).choice(count, size=batch, replace=batch > count)
        return {k: a[pick] for k, a in arrays.items()}

    return draw, f"data ({count} rows)"

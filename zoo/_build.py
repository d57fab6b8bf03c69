"""Build a registered model and check it against its recipe's I/O contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zoo._recipe import InputSpec, OutputSpec
from zoo._registry import Entry
from zoo.errors import ContractError


@dataclass(frozen=True)
class Origin:
    """Which recipe (and overrides) a model was built from: ``model.zoo_origin``.

    :func:`zoo.exporters.export_model` reads it, so a model from :func:`zoo.get` that was trained
    afterwards exports with its recipe's I/O contract, family and tolerances.
    """

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None


def build(entry: Entry, overrides: dict[str, Any], *, seed: int | None) -> Any:
    """Build ``entry`` with ``overrides`` into a checked Keras functional model."""
    params, inputs, outputs = entry.resolve_io(overrides)
    import keras

    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    model = entry.family.build(params, inputs, entry.name)
    check_contract(model, inputs, outputs, where=f"family {entry.family.name!r}")
    model.zoo_origin = Origin(entry.name, dict(overrides), seed)
    return model


def origin(model: Any) -> Origin | None:
    """The recipe a model was built from by :func:`zoo.get`, or ``None``."""
    found = getattr(model, "zoo_origin", None)
    return found if isinstance(found, Origin) else None


def check_contract(
    model: Any,
    inputs: dict[str, InputSpec],
    outputs: dict[str, OutputSpec],
    *,
    where: str = "model",
) -> None:
    """Check names, then shapes, then dtypes of a model's inputs and outputs.

    Raises:
        ContractError: listing every mismatch.
    """
    problems: list[str] = []
    got_in = {t.name: t for t in model.inputs}
    got_out = model.output if isinstance(model.output, dict) else None
    if got_out is None:
        problems.append(
            f"outputs: expected a dict of named outputs {sorted(outputs)}, received "
            f"{type(model.output).__name__}"
        )
        got_out = {}
    for kind, want, got in (("inputs", inputs, got_in), ("outputs", outputs, got_out)):
        if set(want) != set(got):
            problems.append(f"{kind}: expected names {sorted(want)}, received {sorted(got)}")
            continue
        for name, spec in want.items():
            shape = [d for d in got[name].shape[1:]]
            if shape != list(spec.shape):
                problems.append(f"{kind}.{name}.shape: expected {spec.shape}, received {shape}")
            if got[name].dtype != spec.dtype:
                problems.append(
                    f"{kind}.{name}.dtype: expected {spec.dtype}, received {got[name].dtype}"
                )
    if problems:
        raise ContractError(
            f"{where} built a model that breaks its recipe contract:\n  " + "\n  ".join(problems)
        )

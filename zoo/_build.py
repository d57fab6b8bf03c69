"""Build a registered model and check it against its recipe's I/O contract.

Before a model is built for real, its parameter count is estimated by a dry build (see
:func:`estimate_params`): a model above :func:`max_params` is refused before any weight
is allocated.
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zoo._recipe import InputSpec, OutputSpec
from zoo._registry import Entry, builtin_recipe_dir
from zoo.errors import ContractError, ModelTooLargeError, ZooError

if TYPE_CHECKING:
    from zoo._family import Params

#: Environment variable overriding :data:`DEFAULT_MAX_PARAMS`.
MAX_PARAMS_ENV = "ZOO_MAX_PARAMS"
#: The most parameters a built model may hold unless ``$ZOO_MAX_PARAMS`` says otherwise:
#: 2e9 (8 GB as float32; the largest built-in model holds 51 million).
DEFAULT_MAX_PARAMS = 2_000_000_000

#: Dry-build estimates by (family, params, inputs): ``(total, [(weight path, size), ...])``.
_ESTIMATES: dict[str, tuple[int, list[tuple[str, int]]]] = {}


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
    """Build ``entry`` with ``overrides`` into a checked Keras functional model.

    Raises:
        ModelTooLargeError: the model would hold more than :func:`max_params` parameters
            (checked before any weight is allocated; built-in recipes without overrides
            are trusted and not checked).
        ContractError: the family built a model that breaks the recipe's I/O contract.
    """
    params, inputs, outputs = entry.resolve_io(overrides)
    if overrides or entry.source.parent != builtin_recipe_dir():
        check_size(entry, params, inputs, overrides)
    import keras

    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    model = entry.family.build(params, inputs, entry.name)
    check_contract(model, inputs, outputs, where=f"family {entry.family.name!r}")
    model.zoo_origin = Origin(entry.name, dict(overrides), seed)
    return model


def max_params() -> int:
    """The parameter limit of :func:`build`: ``$ZOO_MAX_PARAMS`` or :data:`DEFAULT_MAX_PARAMS`.

    Raises:
        ZooError: ``$ZOO_MAX_PARAMS`` is not a positive whole number.

    Example:
        >>> max_params() == int(os.environ.get("ZOO_MAX_PARAMS", DEFAULT_MAX_PARAMS))
        True
    """
    raw = os.environ.get(MAX_PARAMS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PARAMS
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not (math.isfinite(value) and value >= 1 and value == int(value)):
        raise ZooError(
            f"{MAX_PARAMS_ENV}={raw!r}: expected a positive whole number of parameters, "
            f"e.g. {MAX_PARAMS_ENV}=5000000000 or 5e9; fix or unset it."
        )
    return int(raw) if raw.isdigit() else int(value)


def check_size(
    entry: Entry, params: Params, inputs: dict[str, InputSpec], overrides: dict[str, Any]
) -> int:
    """Refuse a model above :func:`max_params` parameters before allocating it.

    Returns:
        The estimated parameter count.

    Raises:
        ModelTooLargeError: with the estimate, the largest weights, the limit and the fix.
    """
    limit = max_params()
    total, biggest = estimate_params(entry, params, inputs)
    what = f"{entry.name} (recipe {entry.source}"
    what += f", overrides {overrides})" if overrides else ")"
    if total < 0:
        raise ModelTooLargeError(
            f"{what}: building the model ran out of memory before any weight was allocated "
            f"({biggest[0][0]}): a size in the recipe's [params] (or the overrides) is too "
            "large for this machine; lower it."
        )
    if total <= limit:
        return total
    largest = ", ".join(f"{path} {size:.3g}" for path, size in biggest[:3])
    raise ModelTooLargeError(
        f"{what}: the model would hold about {total:.3g} parameters "
        f"({total * 4 / 1e9:.3g} GB as float32), above the limit of {limit:.3g} parameters; "
        f"largest weights: {largest}. Lower the sizes behind them in the recipe's [params] "
        f"(or the overrides), or raise the limit with the environment variable "
        f"{MAX_PARAMS_ENV}=N (N >= {total}) if this machine can hold such a model."
    )


def estimate_params(
    entry: Entry, params: Params, inputs: dict[str, InputSpec]
) -> tuple[int, list[tuple[str, int]]]:
    """Count the parameters ``entry`` would hold, allocating none of them.

    The family builds the model inside ``keras.StatelessScope``, where Keras defers the
    initialization of every variable created with an initializer: shapes are known, no
    value is allocated. The build stops at the first variable that needs a value (the
    optimizer of ``compile``, pretrained weights being loaded), by then every layer of the
    graph holds its weights; those deferred variables are counted and dropped. Keras'
    auto-naming counters are restored, so the real build that follows names its layers as
    if no dry build happened. Results are cached by (family, params, inputs).

    Returns:
        The total and the weights from largest to smallest as ``(path, size)``; or ``-1``
        and ``[(error, 0)]`` when the build ran out of memory (a family's constant, e.g.
        a DFT basis, sized by the params).
    """
    key = json.dumps(
        [
            entry.family.name,
            params.model_dump(mode="json"),
            {k: v.model_dump(mode="json") for k, v in inputs.items()},
        ],
        sort_keys=True,
        default=str,
    )
    if key not in _ESTIMATES:
        _ESTIMATES[key] = _dry_build(entry, params, inputs)
    return _ESTIMATES[key]


def _dry_build(
    entry: Entry, params: Params, inputs: dict[str, InputSpec]
) -> tuple[int, list[tuple[str, int]]]:
    """Build under ``keras.StatelessScope``; return the sizes of the deferred variables."""
    import keras
    from keras.src.backend.common import global_state

    uids = global_state.get_global_attribute("object_name_uids")
    saved_uids = copy.copy(uids)
    pending = global_state.get_global_attribute("uninitialized_variables")
    global_state.set_global_attribute("uninitialized_variables", [])
    out_of_memory = ""
    try:
        with keras.StatelessScope(initialize_variables=False):
            entry.family.build(params, inputs, entry.name)
    except MemoryError as exc:
        out_of_memory = f"MemoryError: {exc}"
    except Exception:  # the dry build ends at the first variable needing a value; the
        pass  # real build reports any other error
    finally:
        created = global_state.get_global_attribute("uninitialized_variables") or []
        global_state.set_global_attribute("uninitialized_variables", pending)
        global_state.set_global_attribute("object_name_uids", saved_uids)
    if out_of_memory:
        return -1, [(out_of_memory, 0)]
    sizes = []
    for variable in created:
        size = 1
        for dim in variable.shape:
            size *= int(dim)
        sizes.append((str(variable.path), size))
    sizes.sort(key=lambda item: -item[1])
    return sum(size for _, size in sizes), sizes


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

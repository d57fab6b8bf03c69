"""Model families: a builder function plus the typed parameters it accepts.

A family module declares a :class:`Params` subclass (typed fields with defaults), a
pure-Python ``outputs`` function that derives the output shapes from the params and
input specs (so recipes are checked without TensorFlow), and a ``build`` function that
imports Keras lazily and returns a functional model. The built-in family modules
(:mod:`zoo.families`) are imported on first use: :func:`find_family`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from zoo.errors import ZooError

if TYPE_CHECKING:
    from zoo._recipe import InputSpec

    OutputsFn = Callable[[Any, dict[str, InputSpec]], dict[str, list[int]]]
    BuildFn = Callable[[Any, dict[str, InputSpec], str], Any]
    SignaturesFn = Callable[[Any, Any], dict[str, Any]]
    PreprocessorFn = Callable[[Any, dict[str, InputSpec]], Any]
    SamplesFn = Callable[[Any, dict[str, InputSpec], int, Any], dict[str, Any]]
    TargetsFn = Callable[[Any, dict[str, Any]], dict[str, Any]]
    FineTuneFn = Callable[[Any, int], list[str]]
    PartInputsFn = Callable[[Any], tuple[str, ...]]


class Params(BaseModel):
    """Base class of family parameters: strict types, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SpecProblem(Exception):
    """Raised by a family's ``outputs`` function when the I/O spec does not fit.

    Args:
        key: Dotted recipe key the problem is about, e.g. ``inputs.tokens.range``.
        message: What was received, what was expected, how to fix it.
    """

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True)
class Family:
    """A registered model family."""

    name: str
    params: type[Params]
    outputs: OutputsFn
    build: BuildFn
    description: str = ""
    signatures: SignaturesFn | None = None
    preprocessor: PreprocessorFn | None = None
    samples: SamplesFn | None = None
    targets: TargetsFn | None = None
    fine_tune: FineTuneFn | None = None
    part_inputs: PartInputsFn | None = None


#: Registered families by name. Built-in families appear once imported: look them up with
#: :func:`find_family` / :func:`family_names`, which import them as needed.
FAMILIES: dict[str, Family] = {}


def find_family(name: str) -> Family | None:
    """The family registered as ``name``, importing its built-in module on first use.

    Returns:
        The family, or ``None`` if no module registers it.
    """
    if name not in FAMILIES:
        from zoo import families

        if not families.load(name):
            families.load_all()  # a built-in module may register another name
    return FAMILIES.get(name)


def family_names() -> list[str]:
    """Every family name, built-in (all imported) and user-registered, sorted."""
    from zoo import families

    families.load_all()
    return sorted(FAMILIES)


def register_family(
    name: str,
    *,
    params: type[Params],
    outputs: OutputsFn,
    description: str = "",
    signatures: SignaturesFn | None = None,
    preprocessor: PreprocessorFn | None = None,
    samples: SamplesFn | None = None,
    targets: TargetsFn | None = None,
    fine_tune: FineTuneFn | None = None,
    part_inputs: PartInputsFn | None = None,
) -> Callable[[BuildFn], BuildFn]:
    """Register a family builder under ``name`` (decorator).

    Args:
        name: Family name used in recipes (``family = "..."``).
        params: The :class:`Params` subclass listing accepted parameters.
        outputs: ``(params, inputs) -> {output name: shape}``; raises
            :class:`SpecProblem` when the inputs do not suit the family.
        description: One line shown by ``zoo show``.
        signatures: Optional ``(model, params) -> {name: tf.function}`` of extra SavedModel
            serving signatures (e.g. a raw-string input); called only at export time.
        preprocessor: Optional ``(params, inputs) -> callable`` returning the step that turns
            raw data (e.g. a list of strings) into the model's named inputs; what
            :func:`zoo.preprocessor` returns. May import TensorFlow (called on demand only).
        samples: Optional ``(params, inputs, batch, rng) -> {input name: array}`` drawing
            realistic synthetic inputs (e.g. packed token rows with padding) for
            validation and int8 calibration, where uniform draws from each input's
            ``range`` are not realistic. ``rng`` is a ``numpy.random.Generator``.
        targets: Optional ``(params, inputs) -> {output name: array}``: the ground truth
            of reconstruction outputs for a batch of inputs (what the model should give
            back), used for the PSNR-drop check of quantized exports.
        fine_tune: Optional ``(model, n) -> [unfrozen block names]``: unfreeze the top
            ``n`` blocks of a transfer model's pretrained base (BatchNormalization kept
            frozen), for stage 2 of the transfer schedule of :func:`zoo.fit`.
        part_inputs: Optional ``(params) -> input names``: the recipe inputs the params'
            ``part`` reads. A recipe declares the inputs of its whole model; an override
            ``part="image_tower"`` then builds the tower alone on the inputs it reads
            (:meth:`zoo._registry.Entry.resolve_io`). Without it, a part reads them all.

    Returns:
        A decorator that registers and returns the build function.

    Example:
        >>> @register_family("my_mlp", params=MyParams, outputs=my_outputs)  # doctest: +SKIP
        ... def build(params, inputs, name):
        ...     ...
    """

    def decorator(build: BuildFn) -> BuildFn:
        if name not in FAMILIES and build.__module__ != f"zoo.families.{name}":
            from zoo import families

            families.load(name)  # a clash with a built-in family fails here, not later
        if name in FAMILIES and FAMILIES[name].build is not build:
            raise ZooError(
                f"family {name!r} is already registered by {FAMILIES[name].build.__module__}; "
                "choose another family name."
            )
        FAMILIES[name] = Family(
            name,
            params,
            outputs,
            build,
            description,
            signatures,
            preprocessor,
            samples,
            targets,
            fine_tune,
            part_inputs,
        )
        return build

    return decorator

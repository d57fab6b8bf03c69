"""``hub_transfer``: a TF Hub model or a local SavedModel as backbone, with a classifier head.

Architecture: the recipe's single input (an image ``[H, W, C]``, or any one tensor) →
optional scaling inside the graph (``preprocessing``: ``"scale_0_1"`` is ``x / 255``,
``"scale_-1_1"`` is ``x / 127.5 - 1``, so exports carry it) → the backbone, a
``keras.layers.TFSMLayer`` calling the SavedModel's ``endpoint`` (a serving signature, by
default ``serving_default``, or a saved function such as ``serve`` or ``__call__``) and taking
its ``output_key`` output → global average pooling when that output still has spatial or
sequence axes → Dense(``head_units``, relu) when ``head_units > 0`` → Dropout(``dropout``) →
Dense(``num_classes``) with softmax (sigmoid for one class); output ``probabilities``.

``backbone`` is ``"tfhub:<handle or URL>"`` (resolved with ``tensorflow_hub.resolve``, which
honours ``$TFHUB_CACHE_DIR``: offline, the model must already be in that cache) or the path of
a SavedModel folder; see :mod:`zoo.hub`. The backbone is frozen unless ``trainable = true``
(its endpoint's trainable variables are then fine-tuned; a serving signature runs in
inference mode, so BatchNormalization statistics never move).

The built model keeps the SavedModel's path, not its graph: a ``.keras`` file of it reloads
only where that folder exists and only with ``keras.saving.load_model(path,
safe_mode=False)`` (``TFSMLayer`` refuses safe mode). SavedModel, LiteRT and ONNX exports are
self-contained.

Example recipe (``recipes/mobilenet_v2_hub.toml``; the model must be in the TF Hub cache
or downloadable)::

    family = "hub_transfer"
    description = "MobileNetV2 feature vector from TF Hub + a softmax head."
    tags = ["image", "classification", "transfer"]

    [inputs.image]
    shape = [224, 224, 3]
    dtype = "float32"
    range = [0.0, 255.0]

    [outputs.probabilities]
    shape = [5]

    [params]
    backbone = "tfhub:google/imagenet/mobilenet_v2_100_224/feature_vector/5"
    preprocessing = "scale_0_1"
    num_classes = 5
    dropout = 0.2

    [export]
    formats = ["saved_model", "tflite", "onnx"]
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from zoo import hub
from zoo._family import Params, SpecProblem, register_family
from zoo._recipe import InputSpec
from zoo.errors import did_you_mean
from zoo.families._common import compile_classifier, probabilities

HEAD_LEARNING_RATE = 1e-3
FINE_TUNE_LEARNING_RATE = 1e-5
#: Name of the TFSMLayer inside the built model.
BACKBONE_NAME = "backbone"
#: ``preprocessing`` → (scale, offset) applied to the input inside the graph.
SCALINGS: dict[str, tuple[float, float]] = {
    "scale_0_1": (1.0 / 255.0, 0.0),
    "scale_-1_1": (1.0 / 127.5, -1.0),
}
#: Rank of the backbone output (batch axis included) → pooling layer down to [batch, features].
POOLING: dict[int, str] = {3: "GlobalAveragePooling1D", 4: "GlobalAveragePooling2D"}
_DTYPES = ("float32", "uint8")


class HubTransferParams(Params):
    """Parameters of the ``hub_transfer`` family."""

    backbone: str = Field(
        description="'tfhub:<handle or URL>' (TF Hub, through $TFHUB_CACHE_DIR) or the path "
        "of a SavedModel folder (holding saved_model.pb)."
    )
    endpoint: str = Field(
        default="serving_default",
        min_length=1,
        description="SavedModel signature (or saved function, e.g. 'serve') to call.",
    )
    output_key: str | None = Field(
        default=None,
        description="Which output of the endpoint to use; required when it has several.",
    )
    preprocessing: Literal["none", "scale_0_1", "scale_-1_1"] = "none"
    trainable: bool = False
    num_classes: Annotated[int, Field(ge=1)] = 10
    head_units: Annotated[int, Field(ge=0)] = 0
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    learning_rate: Annotated[float, Field(gt=0.0)] | None = None

    @field_validator("backbone", mode="before")
    @classmethod
    def _plain_string(cls, value: Any) -> Any:
        """A ``pathlib.Path`` → its string (Python callers); strings are stripped."""
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        return value.strip() if isinstance(value, str) else value


def outputs(p: HubTransferParams, inputs: dict[str, InputSpec]) -> dict[str, list[int]]:
    """Check the I/O spec and params; return the output name and shape (no TensorFlow).

    The backbone's feature width is known only once it is loaded; the output, one
    probability per class, does not depend on it.
    """
    problem = hub.spec_problem(p.backbone)
    if problem is not None:
        raise SpecProblem("params.backbone", problem)
    if p.output_key is not None and not p.output_key.strip():
        raise SpecProblem(
            "params.output_key",
            "received an empty string; expected the name of one output of the endpoint, or "
            "leave it out when the endpoint has a single output.",
        )
    _check_input(inputs, p.preprocessing)
    return {"probabilities": [p.num_classes]}


def _check_input(inputs: dict[str, InputSpec], preprocessing: str) -> None:
    if len(inputs) != 1:
        raise SpecProblem(
            "inputs",
            f"expected exactly one input (the backbone's), received {sorted(inputs)}; "
            "declare one, e.g. [inputs.image].",
        )
    ((name, spec),) = inputs.items()
    if spec.dtype not in _DTYPES:
        raise SpecProblem(
            f"inputs.{name}.dtype",
            f"expected one of {list(_DTYPES)}, received {spec.dtype!r}.",
        )
    if spec.range is None:
        raise SpecProblem(
            f"inputs.{name}.range",
            "required key is missing: declare the values the model takes, e.g. "
            "range = [0.0, 255.0] for raw pixels with preprocessing = 'scale_0_1', or "
            "[0.0, 1.0] for a TF Hub image model fed with preprocessing = 'none'.",
        )
    low, high = spec.range
    if preprocessing != "none" and (low < 0.0 or high > 256.0 or high <= 1.0):
        raise SpecProblem(
            f"inputs.{name}.range",
            f"preprocessing={preprocessing!r} scales raw pixels in 0–255, received range "
            f"{[low, high]}; use range = [0.0, 255.0] (uint8: [0, 256]), or "
            "preprocessing = 'none' for inputs already in the backbone's range.",
        )


@register_family(
    "hub_transfer",
    params=HubTransferParams,
    outputs=outputs,
    description="TF Hub handle or SavedModel folder (TFSMLayer) + pooled Dense head.",
)
def build(p: HubTransferParams, inputs: dict[str, InputSpec], name: str) -> Any:
    """Build the functional model (imports Keras); resolves and loads the backbone."""
    import keras
    from keras import layers

    resolved = hub.resolve(p.backbone)
    backbone = hub.wrap(resolved, endpoint=p.endpoint, trainable=p.trainable, name=BACKBONE_NAME)
    ((input_name, spec),) = inputs.items()
    x_in = keras.Input(shape=tuple(spec.shape), dtype=spec.dtype, name=input_name)
    x = _preprocess(x_in, p.preprocessing, backbone, spec)
    features = _call_backbone(backbone, x, p, resolved)
    rank = len(features.shape)
    if rank != 2:
        if rank not in POOLING:
            raise hub.BackboneError(
                f"backbone={p.backbone!r}: the output of endpoint {p.endpoint!r} has shape "
                f"{tuple(features.shape)}; expected [batch, features], [batch, steps, "
                "features] or [batch, height, width, features]. Choose another output_key."
            )
        features = getattr(layers, POOLING[rank])(name="avg_pool")(features)
    h = features
    if p.head_units:
        h = layers.Dense(p.head_units, activation="relu", name="head_dense")(h)
    if p.dropout:
        h = layers.Dropout(p.dropout, name="head_dropout")(h)
    probs = probabilities(h, p.num_classes)
    model = keras.Model(inputs={input_name: x_in}, outputs={"probabilities": probs}, name=name)
    model.zoo_weights = resolved
    lr = p.learning_rate or (FINE_TUNE_LEARNING_RATE if p.trainable else HEAD_LEARNING_RATE)
    return compile_classifier(model, learning_rate=lr, num_classes=p.num_classes)


def _preprocess(x: Any, mode: str, backbone: Any, spec: InputSpec) -> Any:
    """Scale inside the graph; cast to the dtype the endpoint takes; check its shape."""
    from keras import layers

    want = hub.input_spec(backbone)
    want_dtype = want.dtype.name if want is not None else "float32"
    if want is not None and want.shape.rank is not None:
        wanted = want.shape[1:]
        fits = len(wanted) == len(spec.shape) and all(
            w is None or w == s for w, s in zip(wanted, spec.shape, strict=True)
        )
        if not fits:
            raise hub.BackboneError(
                f"backbone endpoint {backbone.call_endpoint!r} of {backbone.filepath} takes "
                f"shape {[None, *wanted]}, the recipe's input is {[None, *spec.shape]}; "
                f"declare shape = {list(wanted)} for the input (None: any size)."
            )
    if mode in SCALINGS:
        scale, offset = SCALINGS[mode]
        x = layers.Rescaling(scale, offset=offset, name="backbone_preprocess")(x)
        current = "float32"
    else:
        current = spec.dtype
    if current != want_dtype:
        if want_dtype != "float32":
            fix = (
                "declare dtype = 'uint8' and preprocessing = 'none'"
                if want_dtype in _DTYPES
                else f"hub_transfer feeds {' or '.join(_DTYPES)} only; choose another endpoint"
            )
            raise hub.BackboneError(
                f"backbone endpoint {backbone.call_endpoint!r} of {backbone.filepath} takes "
                f"{want_dtype}, the model feeds it {current} (input dtype {spec.dtype!r}, "
                f"preprocessing {mode!r}); {fix}."
            )
        x = layers.Rescaling(1.0, name="backbone_cast")(x)  # uint8 → float32
    return x


def _call_backbone(
    backbone: Any, x: Any, p: HubTransferParams, resolved: hub.ResolvedBackbone
) -> Any:
    """Call the backbone symbolically and pick ``output_key`` from its outputs."""
    try:
        out = backbone(x)
    except (ValueError, TypeError) as exc:
        raise hub.BackboneError(
            f"backbone={p.backbone!r}: calling endpoint {p.endpoint!r} of {resolved.path} on "
            f"{tuple(x.shape)} {x.dtype} failed: {str(exc).strip().splitlines()[0]}. Expected "
            "the input shape and dtype the endpoint was saved with; check the recipe's input "
            "and preprocessing, or choose another endpoint."
        ) from exc
    where = f"backbone={p.backbone!r}: endpoint {p.endpoint!r}"
    if not isinstance(out, dict):
        if p.output_key is not None:
            raise hub.BackboneError(
                f"{where} returns a single tensor, but output_key={p.output_key!r} is set; "
                "remove output_key."
            )
        return out
    keys = sorted(out)
    if p.output_key is None:
        if len(keys) != 1:
            raise hub.BackboneError(
                f"{where} has {len(keys)} outputs {keys}; set params.output_key to the "
                "feature output to use."
            )
        return out[keys[0]]
    if p.output_key not in out:
        raise hub.BackboneError(
            f"{where} has no output {p.output_key!r}; its outputs are {keys}. Set "
            f"params.output_key to one of them.{did_you_mean(p.output_key, keys)}"
        )
    return out[p.output_key]

"""``resnet50_transfer``: a ResNet50 base with a transfer-learning head (or an embedding).

Architecture: raw RGB pixels (0–255, float32 or uint8) →
"caffe" preprocessing inside the graph (RGB→BGR, minus the ImageNet mean;
:func:`zoo.layers.caffe_preprocessing`) → ``keras.applications.ResNet50(include_top=False)``
called with ``training=False`` → GlobalAveragePooling2D → then either

- ``head = "classifier"``: Dense(``head_units``, relu) → Dropout(``dropout``) →
  Dense(``num_classes``) with softmax, or sigmoid for ``num_classes = 1``; output
  ``probabilities``;
- ``head = "embedding"``: the 2048-d pooled features (optionally L2-normalised); output
  ``embedding``.

The base is frozen; ``trainable_stages = N`` unfreezes its last N stages (``conv5`` first,
then ``conv4`` … ``conv1``, the stem) for fine-tuning. BatchNormalization layers stay frozen
and, because the base is called with ``training=False``, in inference mode (the Keras
transfer-learning guide's practice), so fine-tuning never updates their statistics.

Weights (``weights``): ``"none"`` (random), ``"imagenet"`` (the Keras file, from the Keras
cache or downloaded) or a path to a ``.weights.h5``/``.h5`` file of the base; see
:mod:`zoo.weights`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from zoo import weights as zoo_weights
from zoo._family import Params, SpecProblem, register_family
from zoo._recipe import InputSpec
from zoo.errors import ZooError
from zoo.families._common import compile_classifier, probabilities

#: ResNet50 stages in network order; ``trainable_stages = N`` unfreezes the last N.
STAGES: tuple[str, ...] = ("conv1", "conv2", "conv3", "conv4", "conv5")
#: Width of the pooled ResNet50 features (the ``embedding`` output).
FEATURES = 2048
#: Smallest image side ``keras.applications.ResNet50(include_top=False)`` accepts.
MIN_SIDE = 32
#: Name of the nested base model inside the built model.
BASE_NAME = "resnet50"
HEAD_LEARNING_RATE = 1e-3
FINE_TUNE_LEARNING_RATE = 1e-5
_CLASSIFIER_ONLY = ("num_classes", "head_units", "dropout")


class ResNet50TransferParams(Params):
    """Parameters of the ``resnet50_transfer`` family."""

    weights: str = Field(
        default=zoo_weights.NONE,
        description="'none' (random; None means the same), 'imagenet' (Keras cache or "
        "download) or a path to a .weights.h5/.h5 file of the ResNet50 base "
        "(include_top=False).",
    )
    head: Literal["classifier", "embedding"] = "classifier"
    num_classes: Annotated[int, Field(ge=1)] = 10
    head_units: Annotated[int, Field(ge=0)] = 1024
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    l2_normalize: bool = False
    trainable_stages: Annotated[int, Field(ge=0, le=len(STAGES))] = 0
    learning_rate: Annotated[float, Field(gt=0.0)] | None = None

    @field_validator("weights", mode="before")
    @classmethod
    def _plain_string(cls, value: Any) -> Any:
        """``None`` → ``"none"``; a ``pathlib.Path`` → its string (Python callers)."""
        return zoo_weights.plain_value(value)


def outputs(p: ResNet50TransferParams, inputs: dict[str, InputSpec]) -> dict[str, list[int]]:
    """Check the I/O spec and params; return the output name and shape (no TensorFlow)."""
    _check_image(inputs)
    problem = zoo_weights.spec_problem(p.weights)
    if problem is not None:
        raise SpecProblem("params.weights", problem)
    if p.head == "embedding":
        misplaced = sorted(set(_CLASSIFIER_ONLY) & p.model_fields_set)
        if misplaced:
            raise SpecProblem(
                f"params.{misplaced[0]}",
                f"{', '.join(misplaced)} only apply to head='classifier', received "
                "head='embedding'; remove them or set head='classifier'.",
            )
        return {"embedding": [FEATURES]}
    if p.l2_normalize:
        raise SpecProblem(
            "params.l2_normalize",
            "l2_normalize applies to head='embedding', received head='classifier'; remove it "
            "or set head='embedding'.",
        )
    return {"probabilities": [p.num_classes]}


def _check_image(inputs: dict[str, InputSpec]) -> None:
    if set(inputs) != {"image"}:
        raise SpecProblem(
            "inputs",
            f"expected exactly one input named 'image', received {sorted(inputs)}; "
            "declare [inputs.image].",
        )
    image = inputs["image"]
    if len(image.shape) != 3 or image.shape[2] != 3:
        raise SpecProblem(
            "inputs.image.shape",
            f"expected [height, width, 3] (RGB, channels last), received {image.shape}.",
        )
    if min(image.shape[:2]) < MIN_SIDE:
        raise SpecProblem(
            "inputs.image.shape",
            f"ResNet50 needs height and width of at least {MIN_SIDE}, received "
            f"{image.shape[:2]}; use a larger image.",
        )
    if image.dtype not in ("float32", "uint8"):
        raise SpecProblem(
            "inputs.image.dtype", f"expected 'float32' or 'uint8', received {image.dtype!r}."
        )
    low, high = image.range if image.range is not None else (0.0, 255.0)
    if low < 0.0 or high > 256.0 or high <= 1.0:
        raise SpecProblem(
            "inputs.image.range",
            f"the model takes raw RGB pixels in 0–255 (preprocessing is inside the graph), "
            f"received range {[low, high]}; use range = [0.0, 255.0] (uint8: [0, 256]).",
        )


def set_trainable_stages(model: Any, n: int) -> Any:
    """Freeze a ResNet50 base except its last ``n`` stages; BatchNormalization stays frozen.

    Works on the base or on a model built by this family (its nested ``resnet50``). Call
    ``model.compile(...)`` again afterwards (Keras reads trainability at compile time),
    typically with a low learning rate.

    Args:
        model: A ``keras.applications.ResNet50`` base, or a model containing one.
        n: How many stages to unfreeze, from the top: 0 (frozen) … 5 (all, stem included).

    Returns:
        The base whose layers were set.

    Raises:
        ZooError: ``n`` out of range, no ResNet50 base found, or a weighted layer whose name
            belongs to no known stage.

    Example:
        >>> model = zoo.get("resnet50_transfer", weights="imagenet")  # doctest: +SKIP
        >>> model.fit(images, labels, epochs=5)  # train the head only  # doctest: +SKIP
        >>> set_trainable_stages(model, 1)  # then fine-tune conv5  # doctest: +SKIP
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=model.loss)  # doctest: +SKIP
    """
    import keras

    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= len(STAGES):
        raise ZooError(
            f"trainable_stages: expected an integer 0–{len(STAGES)}, received {n!r}; "
            "0 freezes the base, 1 unfreezes conv5, 5 unfreezes every stage."
        )
    base = _find_base(model)
    unfrozen = set(STAGES[len(STAGES) - n :])
    base.trainable = n > 0
    if n == 0:
        return base
    for layer in base.layers:
        stage = _stage_of(layer.name)
        if stage is None and layer.weights:
            raise ZooError(
                f"layer {layer.name!r} of {base.name!r} belongs to none of the stages {STAGES}; "
                "this Keras version names ResNet50 layers differently than zoo expects."
            )
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = stage in unfrozen and not is_bn
    return base


def _find_base(model: Any) -> Any:
    import keras

    if model.name == BASE_NAME or not any(isinstance(x, keras.Model) for x in model.layers):
        return model
    try:
        return model.get_layer(BASE_NAME)
    except ValueError:
        raise ZooError(
            f"model {model.name!r} holds no nested {BASE_NAME!r} base; pass the ResNet50 "
            "base or a model built by the resnet50_transfer family."
        ) from None


def _stage_of(layer_name: str) -> str | None:
    """``conv3_block1_1_conv`` → ``conv3``; the stem's ``pool1_*`` layers → ``conv1``."""
    prefix = layer_name.split("_", 1)[0]
    if prefix == "pool1":
        return "conv1"
    return prefix if prefix in STAGES else None


def fine_tune(model: Any, n: int) -> list[str]:
    """Stage 2 of the transfer schedule: unfreeze the top ``n`` stages (BatchNorm frozen).

    Returns:
        The unfrozen stage names, top first, e.g. ``["conv5"]``.
    """
    set_trainable_stages(model, n)
    return list(reversed(STAGES[len(STAGES) - n :]))


@register_family(
    "resnet50_transfer",
    params=ResNet50TransferParams,
    outputs=outputs,
    description="ResNet50 base (caffe preprocessing inside) + GAP → Dense head or embedding.",
    fine_tune=fine_tune,
)
def build(p: ResNet50TransferParams, inputs: dict[str, InputSpec], name: str) -> Any:
    """Build the functional model (imports Keras); resolves and loads the base weights."""
    import keras

    from zoo.layers import caffe_preprocessing

    resolved = zoo_weights.resolve(p.weights, keras_file=zoo_weights.KERAS_FILES["resnet50_notop"])
    spec = inputs["image"]
    image = keras.Input(shape=spec.shape, dtype=spec.dtype, name="image")
    base = keras.applications.ResNet50(
        include_top=False, weights=None, input_shape=tuple(spec.shape), name=BASE_NAME
    )
    zoo_weights.load_into(base, resolved, what="the ResNet50 base (include_top=False)")
    set_trainable_stages(base, p.trainable_stages)

    x = caffe_preprocessing(spec.shape, dtype=spec.dtype, name="resnet50_preprocess")(image)
    x = base(x, training=False)
    if p.head == "embedding":
        model = _embedding_model(image, x, p, name)
    else:
        model = _classifier_model(image, x, p, name)
    model.zoo_weights = resolved
    return model


def _embedding_model(image: Any, features: Any, p: ResNet50TransferParams, name: str) -> Any:
    import keras
    from keras import layers

    if p.l2_normalize:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(features)
        x = layers.UnitNormalization(name="embedding")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="embedding")(features)
    model = keras.Model(inputs={"image": image}, outputs={"embedding": x}, name=name)
    # A feature extractor: no loss of its own (add a head, or a contrastive loss, to train).
    model.compile(optimizer=keras.optimizers.Adam(_learning_rate(p)))
    return model


def _classifier_model(image: Any, features: Any, p: ResNet50TransferParams, name: str) -> Any:
    import keras
    from keras import layers

    x = layers.GlobalAveragePooling2D(name="avg_pool")(features)
    if p.head_units:
        x = layers.Dense(p.head_units, activation="relu", name="head_dense")(x)
    if p.dropout:
        x = layers.Dropout(p.dropout, name="head_dropout")(x)
    probs = probabilities(x, p.num_classes)
    model = keras.Model(inputs={"image": image}, outputs={"probabilities": probs}, name=name)
    return compile_classifier(model, learning_rate=_learning_rate(p), num_classes=p.num_classes)


def _learning_rate(p: ResNet50TransferParams) -> float:
    """Explicit ``learning_rate``, else 1e-3 for a frozen base and 1e-5 when fine-tuning."""
    if p.learning_rate is not None:
        return p.learning_rate
    return FINE_TUNE_LEARNING_RATE if p.trainable_stages else HEAD_LEARNING_RATE

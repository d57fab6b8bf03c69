"""``image_text_dual_encoder``: an image tower and a text tower into one embedding space.

Architecture (seed models §5): the image tower is a small CNN (raw 0–255 pixels rescaled
inside; Conv2D('same', relu) + MaxPool(2) per ``conv_filters`` entry → global average
pooling → optional Dense) or a ResNet50 base (``image_backbone = "resnet50"``: caffe
preprocessing inside, ``resnet_weights`` as in ``resnet50_transfer``); the text tower is
Embedding → LSTM over word ids or the pretrained MiniLM-L6 encoder (frozen, mean-pooled).
Each ends in Dense(embedding_dim) → ``UnitNormalization``.

============ =============================== ==========================================
part         inputs                          outputs
============ =============================== ==========================================
pair         image + text inputs             image_embedding, text_embedding, similarity
image_tower  image                           image_embedding
text_tower   tokens (or the 3 BERT inputs)   text_embedding
============ =============================== ==========================================

``similarity`` is the cosine of each row's image and text embeddings. Train with
:func:`zoo.training.contrastive.fit_pairs` (objective from the recipe); classify with a
support set through :func:`zoo.training.contrastive.matching_probabilities`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from zoo import weights as zoo_weights
from zoo._family import SpecProblem, register_family
from zoo._recipe import InputSpec
from zoo.families._dual import (
    DualEncoderParams,
    PositiveInt,
    build_parts,
    check_names,
    check_text,
    conv_side,
    conv_tower,
    pair_samples,
    reads,
)

Part = Literal["pair", "image_tower", "text_tower"]
#: Smallest image side the ResNet50 base accepts.
_RESNET_MIN_SIDE = 32


class ImageTextDualEncoderParams(DualEncoderParams):
    """Parameters of ``image_text_dual_encoder`` (text tower and training: see the base).

    Attributes:
        part: Which graph to build (see the module table).
        image_backbone: ``"cnn"`` (trained from scratch) or ``"resnet50"`` (a ResNet50
            base, frozen, with ``resnet_weights``).
        conv_filters: Filters of each CNN block (``cnn``).
        kernel_size: CNN kernel size.
        image_dense_units: Dense(relu) after the pooled CNN features; 0 for none.
        image_scale: Pixel scale applied inside the CNN tower (raw 0–255 → 0–1).
        resnet_weights: ``"none"``, ``"imagenet"`` or a weights file (``resnet50``).
    """

    part: Part = "pair"
    image_backbone: Literal["cnn", "resnet50"] = "cnn"
    conv_filters: list[PositiveInt] = Field(default=[32, 64, 128], min_length=1, max_length=6)
    kernel_size: PositiveInt = 3
    image_dense_units: Annotated[int, Field(ge=0)] = 256
    image_scale: float = 1.0 / 255.0
    resnet_weights: str = zoo_weights.NONE

    @field_validator("resnet_weights", mode="before")
    @classmethod
    def _plain_string(cls, value: Any) -> Any:
        """``None`` → ``"none"``; a ``pathlib.Path`` → its string (Python callers)."""
        return zoo_weights.plain_value(value)


def part_inputs(p: ImageTextDualEncoderParams) -> tuple[str, ...]:
    """Input names the params' part reads."""
    return reads(p, "image")[p.part]


def outputs(p: ImageTextDualEncoderParams, inputs: dict[str, InputSpec]) -> dict[str, list[int]]:
    """Check the inputs the part reads and return its output shapes.

    Example:
        >>> spec = {"image": InputSpec(shape=[16, 16, 3]), "tokens": InputSpec(
        ...     shape=[6], dtype="int32", range=[0, 50])}
        >>> outputs(ImageTextDualEncoderParams(vocab_size=50, embedding_dim=8), spec)
        {'image_embedding': [8], 'text_embedding': [8], 'similarity': [1]}
    """
    check_names(p.part, reads(p, "image"), inputs)
    found: dict[str, list[int]] = {}
    if "image" in inputs:
        _check_image(p, inputs["image"])
        found["image_embedding"] = [p.embedding_dim]
    if p.part != "image_tower":
        check_text(p, inputs)
        found["text_embedding"] = [p.embedding_dim]
    if p.part == "pair":
        found["similarity"] = [1]
    return found


def _check_image(p: ImageTextDualEncoderParams, spec: InputSpec) -> None:
    if len(spec.shape) != 3 or spec.dtype not in ("float32", "uint8"):
        raise SpecProblem(
            "inputs.image",
            f"expected shape [height, width, channels] with dtype float32 or uint8, received "
            f"shape {spec.shape} dtype {spec.dtype!r}.",
        )
    side = min(spec.shape[:2])
    if p.image_backbone == "resnet50":
        problem = zoo_weights.spec_problem(p.resnet_weights)
        if problem is not None:
            raise SpecProblem("params.resnet_weights", problem)
        if side < _RESNET_MIN_SIDE or spec.shape[2] != 3:
            raise SpecProblem(
                "inputs.image.shape",
                f"the resnet50 image tower needs RGB images of at least {_RESNET_MIN_SIDE}×"
                f"{_RESNET_MIN_SIDE}, received {spec.shape}.",
            )
    elif conv_side(side, p.conv_filters, p.kernel_size) < 1:
        raise SpecProblem(
            "inputs.image.shape",
            f"{spec.shape[:2]} is too small for {len(p.conv_filters)} conv blocks (each "
            "halves the side); use a larger image or fewer conv_filters.",
        )


@register_family(
    "image_text_dual_encoder",
    params=ImageTextDualEncoderParams,
    outputs=outputs,
    description="Image tower + text tower → one L2-normalised embedding space (CLIP-style).",
    part_inputs=part_inputs,
    samples=pair_samples,
)
def build(p: ImageTextDualEncoderParams, inputs: dict[str, InputSpec], name: str) -> Any:
    """Build the functional model of ``p.part`` (imports Keras)."""
    return build_parts(p, inputs, name, "image", _image_tower)


def _image_tower(p: ImageTextDualEncoderParams, spec: InputSpec) -> tuple[dict[str, Any], Any]:
    import keras
    from keras import layers

    image = keras.Input(shape=spec.shape, dtype=spec.dtype, name="image")
    if p.image_backbone == "resnet50":
        from zoo.layers import caffe_preprocessing

        resolved = zoo_weights.resolve(
            p.resnet_weights, keras_file=zoo_weights.KERAS_FILES["resnet50_notop"]
        )
        base = keras.applications.ResNet50(
            include_top=False, weights=None, input_shape=tuple(spec.shape), name="resnet50"
        )
        zoo_weights.load_into(base, resolved, what="the ResNet50 base (include_top=False)")
        base.trainable = False
        x = caffe_preprocessing(spec.shape, dtype=spec.dtype, name="image_preprocess")(image)
        x = layers.GlobalAveragePooling2D(name="image_gap")(base(x, training=False))
    else:
        x = layers.Rescaling(p.image_scale, name="image_rescale")(image)
        x = conv_tower(x, p.conv_filters, p.kernel_size, "image")
    if p.image_dense_units:
        x = layers.Dense(p.image_dense_units, activation="relu", name="image_dense")(x)
    return {"image": image}, x

"""``cross_modal_mapping``: encode one modality into a small ``z``, decode the other's vector.

Architecture: z = encoder(x) in a ``latent_dim``-wide space (the Dense layer named ``z``);
ŷ = decoder(z), an MLP (``decoder_units``, relu) → Dense(``target_dim``) named
``decoder_output``. The ``direction`` picks the encoder and the output:

============= ====================== ===================================== ==================
direction     input                  encoder                               output
============= ====================== ===================================== ==================
image_to_text ``image`` [H, W, C],   Rescaling → (Conv2D + MaxPool) per    ``text_embedding``
              raw 0–255 pixels       ``conv_filters`` → GAP → Dense ``z``
text_to_image ``tokens`` [T] int ids Embedding → LSTM → Dense ``z``        ``image_features``
============= ====================== ===================================== ==================

``loss="cosine"`` L2-normalises the output inside the model (``UnitNormalization``, builtin
in TFLite and ONNX) and trains with ``keras.losses.CosineSimilarity``: the output is an
embedding compared by cosine (recipe task ``embedding``). ``loss="mse"`` leaves the output
as the Dense gives it (an identity layer carries the output name, so the weighted layers are
the same under both losses). Metrics: MSE, MAE and cosine similarity.

``part="encoder"`` builds x → ``z`` only, on the same inputs; layer names are the same in
both parts, so weights move from a mapping model to a standalone encoder by layer name,
and :func:`parts` cuts an encoder that shares a built mapping model's weights. Real
targets on the handwritten digits (MiniLM-L6 word embeddings, class-mean images) and the
held-out retrieval score are in :mod:`zoo.data.digit_targets`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from zoo._family import Params, SpecProblem, register_family
from zoo._recipe import InputSpec
from zoo.errors import ZooError
from zoo.families._common import check_tokens, image_conv_stack

PositiveInt = Annotated[int, Field(ge=1)]
Direction = Literal["image_to_text", "text_to_image"]

#: The input and the output name of each direction.
DIRECTIONS: dict[str, tuple[str, str]] = {
    "image_to_text": ("image", "text_embedding"),
    "text_to_image": ("tokens", "image_features"),
}
#: The latent layer (and the encoder part's output).
LATENT = "z"


class CrossModalMappingParams(Params):
    """Parameters of the ``cross_modal_mapping`` family.

    Attributes:
        direction: ``"image_to_text"`` (input ``image``) or ``"text_to_image"``
            (input ``tokens``).
        part: ``"mapping"`` (x → ŷ) or ``"encoder"`` (x → ``z``).
        image_scale: In-graph rescaling of raw pixels (image_to_text).
        conv_filters: One Conv2D(relu, same padding) + MaxPool(2) block per entry.
        kernel_size: Conv kernel side.
        vocab_size: Token ids lie in ``[0, vocab_size)`` (text_to_image; 0 = padding).
        embedding_dim: Width of the token embedding.
        lstm_units: Width of the LSTM state.
        lstm_unroll: Unroll the LSTM (TFLite then needs no Flex ops at dynamic batch).
        latent_dim: Width of ``z``.
        latent_activation: Activation of the ``z`` Dense.
        decoder_units: Hidden Dense(relu) widths of the decoder MLP (may be empty).
        target_dim: Width of the output vector.
        loss: ``"cosine"`` (L2-normalised output) or ``"mse"`` (plain output).
        learning_rate: Adam learning rate.
    """

    direction: Direction = "image_to_text"
    part: Literal["mapping", "encoder"] = "mapping"
    image_scale: float = 1.0 / 255.0
    conv_filters: list[PositiveInt] = Field(default=[32, 64], min_length=1, max_length=6)
    kernel_size: PositiveInt = 3
    vocab_size: Annotated[int, Field(ge=2)] = 32
    embedding_dim: PositiveInt = 32
    lstm_units: PositiveInt = 64
    lstm_unroll: bool = False
    latent_dim: PositiveInt = 32
    latent_activation: Literal["linear", "relu", "tanh"] = "linear"
    decoder_units: list[PositiveInt] = Field(default=[128], max_length=4)
    target_dim: PositiveInt = 384
    loss: Literal["cosine", "mse"] = "cosine"
    learning_rate: Annotated[float, Field(gt=0.0)] = 1e-3


# --------------------------------------------------------------------------- I/O contract


def outputs(p: CrossModalMappingParams, inputs: dict[str, InputSpec]) -> dict[str, list[int]]:
    """Check the direction's input and return the part's output shape.

    Raises:
        SpecProblem: the inputs are not the direction's, an image is too small for the
            conv blocks or not float32, token ids exceed the vocabulary, or the cosine
            loss is asked of a 1-wide output.

    Example:
        >>> outputs(CrossModalMappingParams(), {"image": InputSpec(shape=[32, 32, 3])})
        {'text_embedding': [384]}
        >>> outputs(CrossModalMappingParams(direction="text_to_image", target_dim=64,
        ...         part="encoder"), {"tokens": InputSpec(shape=[4], dtype="int32")})
        {'z': [32]}
    """
    name, output = DIRECTIONS[p.direction]
    if set(inputs) != {name}:
        other = next(d for d in DIRECTIONS if d != p.direction)
        raise SpecProblem(
            "inputs",
            f"direction {p.direction!r} takes exactly the input [{name!r}], received "
            f"{sorted(inputs)}; declare [inputs.{name}] alone, or set params.direction = "
            f"{other!r} (input {DIRECTIONS[other][0]!r}).",
        )
    if name == "image":
        _check_image(p, inputs["image"])
    else:
        check_tokens(inputs["tokens"], p.vocab_size)
    if p.loss == "cosine" and p.target_dim < 2:
        raise SpecProblem(
            "params.target_dim",
            f"the cosine loss compares directions, which a {p.target_dim}-wide vector does "
            "not have; received target_dim = 1, expected >= 2, or set params.loss = 'mse'.",
        )
    if p.part == "encoder":
        return {LATENT: [p.latent_dim]}
    return {output: [p.target_dim]}


def _check_image(p: CrossModalMappingParams, image: InputSpec) -> None:
    if len(image.shape) != 3:
        raise SpecProblem(
            "inputs.image.shape", f"expected [height, width, channels], received {image.shape}."
        )
    if image.dtype != "float32":
        raise SpecProblem(
            "inputs.image.dtype",
            f"expected 'float32' (raw 0–255 pixels, rescaled inside), received {image.dtype!r}.",
        )
    step = 2 ** len(p.conv_filters)
    if min(image.shape[:2]) < step:
        raise SpecProblem(
            "inputs.image.shape",
            f"{image.shape[:2]} is too small for {len(p.conv_filters)} conv blocks (each "
            f"halves the sides: at least {step}×{step} needed); use a larger image or fewer "
            "params.conv_filters.",
        )


# --------------------------------------------------------------------------- graph


@register_family(
    "cross_modal_mapping",
    params=CrossModalMappingParams,
    outputs=outputs,
    description="Image CNN or text LSTM → latent z → MLP decoder → the other modality's vector.",
)
def build(p: CrossModalMappingParams, inputs: dict[str, InputSpec], name: str) -> Any:
    """Build the chosen part as a compiled functional model (imports Keras).

    Example:
        >>> model = zoo.get("cross_modal_mapping_tiny", seed=0)  # calls this  # doctest: +SKIP
        >>> sorted(model.output)  # doctest: +SKIP
        ['text_embedding']
    """
    import keras

    key, output = DIRECTIONS[p.direction]
    x = keras.Input(shape=inputs[key].shape, dtype=inputs[key].dtype, name=key)
    z = _encoder(p, x)
    outs = {LATENT: z} if p.part == "encoder" else {output: _decoder(p, z, output)}
    model = keras.Model(inputs={key: x}, outputs=outs, name=name)
    _compile(model, p)
    return model


def _encoder(p: CrossModalMappingParams, x: Any) -> Any:
    from keras import layers

    if p.direction == "image_to_text":
        h = image_conv_stack(
            x, scale=p.image_scale, filters=p.conv_filters, kernel_size=p.kernel_size
        )
        h = layers.GlobalAveragePooling2D(name="image_gap")(h)
    else:
        h = layers.Embedding(p.vocab_size, p.embedding_dim, name="token_embedding")(x)
        h = layers.LSTM(p.lstm_units, unroll=p.lstm_unroll, name="text_lstm")(h)
    return layers.Dense(p.latent_dim, activation=p.latent_activation, name=LATENT)(h)


def _decoder(p: CrossModalMappingParams, z: Any, output: str) -> Any:
    from keras import layers

    h = z
    for i, units in enumerate(p.decoder_units, start=1):
        h = layers.Dense(units, activation="relu", name=f"decoder_dense{i}")(h)
    y = layers.Dense(p.target_dim, name="decoder_output")(h)
    if p.loss == "cosine":
        return layers.UnitNormalization(name=output)(y)
    return layers.Identity(name=output)(y)


def _compile(model: Any, p: CrossModalMappingParams) -> None:
    """Adam; cosine or MSE loss; MSE, MAE and cosine similarity as metrics."""
    import keras

    key = next(iter(model.output))
    loss = (
        keras.losses.CosineSimilarity() if p.loss == "cosine" else keras.losses.MeanSquaredError()
    )
    metrics = ["mse", "mae", keras.metrics.CosineSimilarity(name="cosine_similarity")]
    model.compile(
        optimizer=keras.optimizers.Adam(p.learning_rate),
        loss={key: loss},
        metrics={key: metrics},
    )


# --------------------------------------------------------------------------- parts


def parts(model: Any) -> dict[str, Any]:
    """The encoder of a built mapping model, sharing its layers (and so its weights).

    Args:
        model: A ``cross_modal_mapping`` model with ``part="mapping"``.

    Returns:
        ``{"encoder": keras.Model}``: the mapping's input → ``z``, not compiled, with the
        same I/O names as a ``part="encoder"`` model of the same recipe.

    Raises:
        ZooError: ``model`` is not a cross-modal mapping model.

    Example:
        >>> model = zoo.get("cross_modal_mapping_tiny", seed=0)  # doctest: +SKIP
        >>> parts(model)["encoder"].output_shape  # doctest: +SKIP
        {'z': (None, 8)}
    """
    import keras

    names = {layer.name for layer in getattr(model, "layers", [])}
    inputs = [t.name for t in getattr(model, "inputs", [])]
    outs = sorted(getattr(model, "output", {}) or {}) if isinstance(model.output, dict) else []
    known = {out: key for key, out in DIRECTIONS.values()}
    if LATENT not in names or len(inputs) != 1 or len(outs) != 1 or outs[0] not in known:
        raise ZooError(
            f"parts: expected a cross_modal_mapping model (one input, a layer {LATENT!r}, one "
            f"output among {sorted(known)}), received model {getattr(model, 'name', model)!r} "
            f"with inputs {inputs} and outputs {outs}; build it with "
            "zoo.get('cross_modal_mapping...') and part='mapping'."
        )
    x = model.inputs[0]
    encoder = keras.Model(
        {x.name: x}, {LATENT: model.get_layer(LATENT).output}, name=f"{model.name}_encoder"
    )
    return {"encoder": encoder}

"""``cnn_lstm_fusion``: an image CNN tower and a text LSTM tower, concatenated, dense head.

Architecture: raw 0–255 pixels are rescaled inside the
graph, then one Conv2D+MaxPool block per entry of ``conv_filters``, Flatten (or global
average pooling) and an optional Dense; token ids go through Embedding → LSTM; both are
concatenated → Dense(relu) → Dense(num_classes) with sigmoid (one class) or softmax.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from zoo._family import Params, SpecProblem, register_family
from zoo._recipe import InputSpec
from zoo.families._common import check_tokens, compile_classifier, probabilities

PositiveInt = Annotated[int, Field(ge=1)]


class CnnLstmFusionParams(Params):
    """Parameters of the ``cnn_lstm_fusion`` family."""

    conv_filters: list[PositiveInt] = Field(default=[64], min_length=1, max_length=6)
    kernel_size: PositiveInt = 3
    pooling: Literal["flatten", "gap"] = "flatten"
    image_dense_units: Annotated[int, Field(ge=0)] = 0
    image_scale: float = 1.0 / 255.0
    vocab_size: PositiveInt = 5000
    embedding_dim: PositiveInt = 128
    lstm_units: PositiveInt = 64
    lstm_unroll: bool = False
    dense_units: PositiveInt = 64
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    num_classes: PositiveInt = 1
    learning_rate: Annotated[float, Field(gt=0.0)] = 1e-3


def outputs(p: CnnLstmFusionParams, inputs: dict[str, InputSpec]) -> dict[str, list[int]]:
    """Check the I/O spec and return ``{"probabilities": [num_classes]}``."""
    expected = {"image", "tokens"}
    if set(inputs) != expected:
        raise SpecProblem(
            "inputs",
            f"expected exactly the inputs {sorted(expected)}, received {sorted(inputs)}; "
            "rename or add [inputs.image] and [inputs.tokens].",
        )
    image, tokens = inputs["image"], inputs["tokens"]
    if len(image.shape) != 3:
        raise SpecProblem(
            "inputs.image.shape",
            f"expected [height, width, channels], received {image.shape}.",
        )
    side = min(image.shape[:2])
    for _ in p.conv_filters:
        side = (side - p.kernel_size + 1) // 2
    if side < 1:
        raise SpecProblem(
            "inputs.image.shape",
            f"{image.shape[:2]} is too small for {len(p.conv_filters)} conv blocks with "
            f"kernel {p.kernel_size}; use a larger image or fewer conv_filters.",
        )
    if image.dtype not in ("float32", "uint8"):
        raise SpecProblem(
            "inputs.image.dtype", f"expected float32 or uint8, received {image.dtype!r}."
        )
    check_tokens(tokens, p.vocab_size)
    return {"probabilities": [p.num_classes]}


@register_family(
    "cnn_lstm_fusion",
    params=CnnLstmFusionParams,
    outputs=outputs,
    description="Image CNN + text LSTM, concatenated, dense classifier head.",
)
def build(p: CnnLstmFusionParams, inputs: dict[str, InputSpec], name: str) -> Any:
    """Build the functional model (imports Keras)."""
    import keras
    from keras import layers

    image = keras.Input(shape=inputs["image"].shape, dtype=inputs["image"].dtype, name="image")
    tokens = keras.Input(shape=inputs["tokens"].shape, dtype=inputs["tokens"].dtype, name="tokens")

    x = layers.Rescaling(p.image_scale, name="image_rescale")(image)
    for i, filters in enumerate(p.conv_filters, start=1):
        x = layers.Conv2D(filters, p.kernel_size, activation="relu", name=f"image_conv{i}")(x)
        x = layers.MaxPooling2D(2, name=f"image_pool{i}")(x)
    if p.pooling == "gap":
        x = layers.GlobalAveragePooling2D(name="image_gap")(x)
    else:
        x = layers.Flatten(name="image_flatten")(x)
    if p.image_dense_units:
        x = layers.Dense(p.image_dense_units, activation="relu", name="image_dense")(x)

    t = layers.Embedding(p.vocab_size, p.embedding_dim, name="text_embedding")(tokens)
    t = layers.LSTM(p.lstm_units, unroll=p.lstm_unroll, name="text_lstm")(t)

    h = layers.Concatenate(name="fusion")([x, t])
    h = layers.Dense(p.dense_units, activation="relu", name="fusion_dense")(h)
    if p.dropout:
        h = layers.Dropout(p.dropout, name="fusion_dropout")(h)
    probs = probabilities(h, p.num_classes)

    model = keras.Model(
        inputs={"image": image, "tokens": tokens}, outputs={"probabilities": probs}, name=name
    )
    return compile_classifier(model, learning_rate=p.learning_rate, num_classes=p.num_classes)

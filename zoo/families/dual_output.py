"""``dual_output``: an image tower and a text tower, each with its own sigmoid score.

Seed model §8, the simplest cross-modal sketch of the notes: one model, two inputs, two
outputs, no fusion. Raw 0–255 pixels are rescaled inside the graph, then one Conv2D(relu,
same) + MaxPool(2) block per entry of ``conv_filters``, global average pooling and an
optional Dense(relu) → Dense(1, sigmoid) named ``image_score``. Token ids go through
Embedding → LSTM (``text_encoder = "lstm"``) or the mean of the embeddings (``"mean"``),
an optional Dense(relu) → Dense(1, sigmoid) named ``text_score``.

Each output has its own binary cross-entropy (weighted by ``image_loss_weight`` /
``text_loss_weight``) and its own metrics: binary accuracy, precision, recall and AUC. The
towers share nothing, so each score depends on its own input only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from zoo._family import Params, SpecProblem, register_family
from zoo._recipe import InputSpec
from zoo.families._common import check_tokens, image_conv_stack

PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
#: The two outputs, one per tower.
OUTPUTS = ("image_score", "text_score")


class DualOutputParams(Params):
    """Parameters of the ``dual_output`` family."""

    conv_filters: list[PositiveInt] = Field(default=[32, 64], min_length=1, max_length=6)
    kernel_size: PositiveInt = 3
    image_dense_units: NonNegativeInt = 64
    image_scale: float = 1.0 / 255.0
    vocab_size: PositiveInt = 5000
    embedding_dim: PositiveInt = 64
    text_encoder: Literal["lstm", "mean"] = "lstm"
    lstm_units: PositiveInt = 64
    text_dense_units: NonNegativeInt = 0
    image_loss_weight: Annotated[float, Field(ge=0.0)] = 1.0
    text_loss_weight: Annotated[float, Field(ge=0.0)] = 1.0
    learning_rate: Annotated[float, Field(gt=0.0)] = 1e-3


def outputs(p: DualOutputParams, inputs: dict[str, InputSpec]) -> dict[str, list[int]]:
    """Check the I/O spec and return ``{"image_score": [1], "text_score": [1]}``.

    Example:
        >>> spec = {"image": InputSpec(shape=[16, 16, 3]),
        ...         "tokens": InputSpec(shape=[8], dtype="int32", range=[0, 50])}
        >>> outputs(DualOutputParams(), spec)
        {'image_score': [1], 'text_score': [1]}
    """
    expected = {"image", "tokens"}
    if set(inputs) != expected:
        raise SpecProblem(
            "inputs",
            f"expected exactly the inputs {sorted(expected)}, received {sorted(inputs)}; "
            "declare [inputs.image] (pixels [H, W, C]) and [inputs.tokens] (ids [T]).",
        )
    image = inputs["image"]
    if len(image.shape) != 3 or image.dtype not in ("float32", "uint8"):
        raise SpecProblem(
            "inputs.image",
            f"expected shape [height, width, channels] with dtype float32/uint8 (raw 0–255 "
            f"pixels), received shape {image.shape} dtype {image.dtype!r}.",
        )
    blocks = len(p.conv_filters)
    if min(image.shape[:2]) < 2**blocks:
        raise SpecProblem(
            "inputs.image.shape",
            f"{blocks} conv blocks halve the image {blocks} times, received {image.shape}; use "
            f"an image of at least {2**blocks}×{2**blocks} or fewer conv_filters.",
        )
    check_tokens(inputs["tokens"], p.vocab_size)
    return {name: [1] for name in OUTPUTS}


@register_family(
    "dual_output",
    params=DualOutputParams,
    outputs=outputs,
    description="Image CNN → image_score and text tower → text_score: two sigmoid outputs, "
    "a loss and metrics each.",
)
def build(p: DualOutputParams, inputs: dict[str, InputSpec], name: str) -> Any:
    """Build the compiled functional model (imports Keras).

    Example:
        >>> model = zoo.get("dual_output_tiny", seed=0)  # calls this  # doctest: +SKIP
        >>> sorted(model.output)  # doctest: +SKIP
        ['image_score', 'text_score']
    """
    import keras
    from keras import layers

    image = keras.Input(shape=inputs["image"].shape, dtype=inputs["image"].dtype, name="image")
    tokens = keras.Input(shape=inputs["tokens"].shape, dtype=inputs["tokens"].dtype, name="tokens")

    x = image_conv_stack(
        image, scale=p.image_scale, filters=p.conv_filters, kernel_size=p.kernel_size
    )
    x = layers.GlobalAveragePooling2D(name="image_gap")(x)
    if p.image_dense_units:
        x = layers.Dense(p.image_dense_units, activation="relu", name="image_dense")(x)
    image_score = layers.Dense(1, activation="sigmoid", name="image_score")(x)

    t = layers.Embedding(p.vocab_size, p.embedding_dim, name="text_embedding")(tokens)
    if p.text_encoder == "lstm":
        t = layers.LSTM(p.lstm_units, name="text_lstm")(t)
    else:
        t = layers.GlobalAveragePooling1D(name="text_mean")(t)
    if p.text_dense_units:
        t = layers.Dense(p.text_dense_units, activation="relu", name="text_dense")(t)
    text_score = layers.Dense(1, activation="sigmoid", name="text_score")(t)

    model = keras.Model(
        inputs={"image": image, "tokens": tokens},
        outputs={"image_score": image_score, "text_score": text_score},
        name=name,
    )
    return _compile(model, p)


def _compile(model: Any, p: DualOutputParams) -> Any:
    """Adam; per output: binary cross-entropy (weighted) and its own metric objects."""
    import keras

    def metrics() -> list[Any]:
        return [
            keras.metrics.BinaryAccuracy(name="binary_accuracy"),
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
            keras.metrics.AUC(name="auc"),
        ]

    model.compile(
        optimizer=keras.optimizers.Adam(p.learning_rate),
        loss={name: "binary_crossentropy" for name in OUTPUTS},
        loss_weights={"image_score": p.image_loss_weight, "text_score": p.text_loss_weight},
        metrics={name: metrics() for name in OUTPUTS},
    )
    return model

"""Pieces families share: image conv stack, classifier head and compile setup, token checks.

Like every family module, nothing here imports Keras at module level.
"""

from __future__ import annotations

from typing import Any

from zoo._family import SpecProblem
from zoo._recipe import InputSpec


def probabilities(x: Any, num_classes: int) -> Any:
    """Final Dense named ``probabilities``: sigmoid for one class, softmax otherwise."""
    from keras import layers

    activation = "sigmoid" if num_classes == 1 else "softmax"
    return layers.Dense(num_classes, activation=activation, name="probabilities")(x)


def compile_classifier(model: Any, *, learning_rate: float, num_classes: int) -> Any:
    """Compile with the default classification setup and return the model.

    Adam, binary (one class) or categorical cross-entropy, accuracy, precision, recall
    and macro F1 (``keras.metrics.F1Score``), all on the output named ``probabilities``.
    """
    import keras

    binary = num_classes == 1
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={"probabilities": "binary_crossentropy" if binary else "categorical_crossentropy"},
        metrics={
            "probabilities": [
                "binary_accuracy" if binary else "categorical_accuracy",
                keras.metrics.Precision(name="precision"),
                keras.metrics.Recall(name="recall"),
                keras.metrics.F1Score(
                    average="macro", threshold=0.5 if binary else None, name="f1"
                ),
            ]
        },
    )
    return model


def check_tokens(tokens: InputSpec, vocab_size: int) -> None:
    """A token-id input: shape [sequence_length], int dtype, range inside the vocabulary.

    Raises:
        SpecProblem: naming the recipe key, what was received and the fix.
    """
    if len(tokens.shape) != 1 or tokens.dtype not in ("int32", "int64"):
        raise SpecProblem(
            "inputs.tokens",
            f"expected shape [sequence_length] with dtype int32/int64, received shape "
            f"{tokens.shape} dtype {tokens.dtype!r}.",
        )
    if tokens.range is not None and (tokens.range[0] < 0 or tokens.range[1] > vocab_size):
        raise SpecProblem(
            "inputs.tokens.range",
            f"token ids must lie in [0, vocab_size={vocab_size}), received "
            f"{list(tokens.range)}; lower the range or raise params.vocab_size.",
        )


def image_conv_stack(image: Any, *, scale: float, filters: list[int], kernel_size: int) -> Any:
    """``Rescaling`` then one same-padded ReLU ``Conv2D`` + 2×2 max pool per entry of ``filters``.

    Layer names (``image_rescale``, ``image_conv{i}``, ``image_pool{i}``) are the same in
    every family that uses it, so weights load by name across them.
    """
    from keras import layers

    x = layers.Rescaling(scale, name="image_rescale")(image)
    for i, n in enumerate(filters, start=1):
        x = layers.Conv2D(n, kernel_size, padding="same", activation="relu", name=f"image_conv{i}")(
            x
        )
        x = layers.MaxPooling2D(2, name=f"image_pool{i}")(x)
    return x

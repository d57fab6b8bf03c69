"""``multimodal_autoencoder``: image + token ids → shared latent → both reconstructions.

Architecture: raw 0–255 pixels are rescaled inside the
graph, then one Conv2D(relu, padding="same") + MaxPool(2) block per entry of
``conv_filters`` and Flatten; token ids go through Embedding → LSTM. Both are concatenated
→ Dense(latent_dim, relu), the layer named ``latent``. From the latent:

- the image decoder mirrors the encoder: Dense → Reshape to (H/2ⁿ, W/2ⁿ, last filters) →
  per block (in reverse) Conv2DTranspose(stride 2) or UpSampling2D + Conv2D → Conv2D(C,
  sigmoid), exactly the input shape again, values in 0–1;
- the text decoder is Dense(vocab_size, softmax): a distribution over the vocabulary that
  reconstructs the input's bag of words (see :func:`bag_of_words_targets`).

The ``part`` parameter picks which graph a recipe builds; each has its own I/O contract:

============== =================== ==================================================
part           inputs              outputs
============== =================== ==================================================
autoencoder    image, tokens       image_reconstruction [H, W, C], bag_of_words [V]
encoder        image, tokens       latent [latent_dim]
image_encoder  image               image_features [H/2ⁿ · W/2ⁿ · last filters]
text_encoder   tokens              text_features [lstm_units]
decoder        latent              image_reconstruction [H, W, C], bag_of_words [V]
============== =================== ==================================================

A single-modality *latent* is not defined by this architecture (the latent Dense reads
both towers), so ``image_encoder``/``text_encoder`` end at their tower's features. Layer
names are the same in every part, so weights move between a full model and a standalone
part by layer name; :func:`parts` returns sub-models that share the full model's weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from zoo._family import Params, SpecProblem, register_family
from zoo._recipe import InputSpec
from zoo.errors import ZooError
from zoo.families._common import check_tokens, image_conv_stack

if TYPE_CHECKING:
    import numpy as np

PositiveInt = Annotated[int, Field(ge=1)]
Part = Literal["autoencoder", "encoder", "image_encoder", "text_encoder", "decoder"]

#: Input names each part takes, in model order.
PART_INPUTS: dict[str, tuple[str, ...]] = {
    "autoencoder": ("image", "tokens"),
    "encoder": ("image", "tokens"),
    "image_encoder": ("image",),
    "text_encoder": ("tokens",),
    "decoder": ("latent",),
}

#: Output names of the reconstruction heads (full autoencoder and decoder part).
RECONSTRUCTIONS = ("image_reconstruction", "bag_of_words")

#: Prefix of the image decoder's hidden layers (a chain from ``latent`` to the output conv).
_DECODER_PREFIX = "image_decoder_"


class MultimodalAutoencoderParams(Params):
    """Parameters of the ``multimodal_autoencoder`` family."""

    part: Part = "autoencoder"
    image_shape: list[PositiveInt] | None = Field(default=None, min_length=3, max_length=3)
    image_scale: float = 1.0 / 255.0
    conv_filters: list[PositiveInt] = Field(default=[32, 64], min_length=1, max_length=4)
    kernel_size: PositiveInt = 3
    upsampling: Literal["transpose", "upsample"] = "transpose"
    vocab_size: Annotated[int, Field(ge=2)] = 10_000
    embedding_dim: PositiveInt = 128
    lstm_units: PositiveInt = 64
    lstm_unroll: bool = False
    latent_dim: PositiveInt = 128
    text_loss_weight: Annotated[float, Field(ge=0.0)] = 1.0
    learning_rate: Annotated[float, Field(gt=0.0)] = 1e-3


# --------------------------------------------------------------------------- I/O contract


def outputs(p: MultimodalAutoencoderParams, inputs: dict[str, InputSpec]) -> dict[str, list[int]]:
    """Check the inputs the chosen ``part`` takes and return its output shapes.

    Example:
        >>> spec = {"latent": InputSpec(shape=[16])}
        >>> outputs(MultimodalAutoencoderParams(part="decoder", latent_dim=16,
        ...         vocab_size=200, image_shape=[16, 16, 3]), spec)
        {'image_reconstruction': [16, 16, 3], 'bag_of_words': [200]}
    """
    _check_input_names(p.part, inputs)
    if "tokens" in inputs:
        check_tokens(inputs["tokens"], p.vocab_size)
    if "latent" in inputs:
        _check_latent(p, inputs["latent"])
    shape = image_shape(p, inputs)
    if p.part in ("autoencoder", "decoder"):
        return {"image_reconstruction": list(shape), "bag_of_words": [p.vocab_size]}
    if p.part == "encoder":
        return {"latent": [p.latent_dim]}
    if p.part == "image_encoder":
        return {"image_features": [_image_features(p, shape)]}
    return {"text_features": [p.lstm_units]}


def image_shape(p: MultimodalAutoencoderParams, inputs: dict[str, InputSpec]) -> list[int]:
    """The image shape a part works on: ``inputs.image.shape``, else ``params.image_shape``.

    Returns an empty list for ``text_encoder`` (no image involved).

    Raises:
        SpecProblem: the shape is not [H, W, C] with H and W divisible by 2 ** blocks, the
            decoder has no ``params.image_shape``, or the param disagrees with the input.

    Example:
        >>> image_shape(MultimodalAutoencoderParams(), {"image": InputSpec(shape=[32, 32, 3])})
        [32, 32, 3]
    """
    if "image" in inputs:
        spec = inputs["image"]
        _check_image_shape(p, spec.shape, "inputs.image.shape")
        if spec.dtype != "float32":
            raise SpecProblem(
                "inputs.image.dtype",
                f"expected 'float32' (raw 0–255 pixel values), received {spec.dtype!r}.",
            )
        if p.image_shape is not None and p.image_shape != spec.shape:
            raise SpecProblem(
                "params.image_shape",
                f"received {p.image_shape} but inputs.image.shape is {spec.shape}; remove "
                "params.image_shape (only the decoder part, which has no image input, needs it).",
            )
        return list(spec.shape)
    if p.part == "decoder":
        if p.image_shape is None:
            raise SpecProblem(
                "params.image_shape",
                "the decoder part has no image input, so it needs the shape to reconstruct; "
                "received nothing; add image_shape = [height, width, channels] to [params].",
            )
        _check_image_shape(p, p.image_shape, "params.image_shape")
        return list(p.image_shape)
    return []


def _check_input_names(part: str, inputs: dict[str, InputSpec]) -> None:
    want = PART_INPUTS[part]
    if set(inputs) != set(want):
        others = "; ".join(f"{k}: {', '.join(v)}" for k, v in PART_INPUTS.items() if k != part)
        hint = " ([inputs.latent] shape = [latent_dim], float32)" if part == "decoder" else ""
        raise SpecProblem(
            "inputs",
            f"part {part!r} takes exactly the inputs {list(want)}, received {sorted(inputs)}; "
            f"declare those tables{hint} or choose the part that fits the inputs ({others}).",
        )


def _check_image_shape(p: MultimodalAutoencoderParams, shape: list[int], key: str) -> None:
    step = 2 ** len(p.conv_filters)
    if len(shape) != 3:
        raise SpecProblem(key, f"expected [height, width, channels], received {shape}.")
    height, width, _ = shape
    if height % step or width % step:
        raise SpecProblem(
            key,
            f"height and width must be multiples of {step} (2 ** {len(p.conv_filters)} conv "
            f"blocks) so the decoder reaches the input shape exactly, received {shape}; use "
            f"e.g. [{_round_up(height, step)}, {_round_up(width, step)}, {shape[2]}] or fewer "
            "conv_filters.",
        )


def _round_up(value: int, step: int) -> int:
    return max(step, -(-value // step) * step)


def _check_latent(p: MultimodalAutoencoderParams, latent: InputSpec) -> None:
    if latent.shape != [p.latent_dim] or latent.dtype != "float32":
        raise SpecProblem(
            "inputs.latent",
            f"expected shape [latent_dim={p.latent_dim}] with dtype 'float32', received shape "
            f"{latent.shape} dtype {latent.dtype!r}; make them agree with params.latent_dim.",
        )


def _image_features(p: MultimodalAutoencoderParams, shape: list[int]) -> int:
    step = 2 ** len(p.conv_filters)
    return (shape[0] // step) * (shape[1] // step) * p.conv_filters[-1]


# --------------------------------------------------------------------------- targets


def bag_of_words_targets(tokens: Any, vocab_size: int) -> np.ndarray:
    """The target of the ``bag_of_words`` head: normalised token counts per example.

    Row ``i`` counts how often each id occurs in ``tokens[i]``, leaving out the padding
    id 0, divided by the number of non-padding tokens, so it sums to 1. A row of only
    padding gives all zeros (it then adds nothing to the cross-entropy).

    Args:
        tokens: Integer token ids, shape ``[batch, sequence_length]``.
        vocab_size: Size of the vocabulary (ids must lie in ``[0, vocab_size)``).

    Returns:
        ``float32`` array of shape ``[batch, vocab_size]``.

    Raises:
        ZooError: ``tokens`` is not a 2-D integer array or holds an id out of range.

    Example:
        >>> import numpy as np
        >>> bag_of_words_targets(np.array([[3, 1, 3, 0]]), 5).round(3)
        array([[0.   , 0.333, 0.   , 0.667, 0.   ]], dtype=float32)
    """
    import numpy as np

    ids = np.asarray(tokens)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ZooError(
            f"bag_of_words_targets: expected integer token ids of shape [batch, "
            f"sequence_length], received dtype {ids.dtype} shape {list(ids.shape)}; pass the "
            "same int array you feed to the model's 'tokens' input."
        )
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ZooError(
            f"bag_of_words_targets: token ids must lie in [0, vocab_size={vocab_size}), "
            f"received ids from {ids.min()} to {ids.max()}; pass the model's vocab_size."
        )
    rows = np.repeat(np.arange(ids.shape[0]), ids.shape[1])
    counts = np.zeros((ids.shape[0], vocab_size), dtype=np.float64)
    np.add.at(counts, (rows, ids.ravel()), 1.0)
    counts[:, 0] = 0.0
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0).astype(np.float32)


def autoencoder_targets(
    inputs: dict[str, Any], *, vocab_size: int, image_scale: float = 1.0 / 255.0
) -> dict[str, np.ndarray]:
    """Training targets of the full autoencoder for a batch of its inputs.

    Args:
        inputs: ``{"image": raw pixels [batch, H, W, C], "tokens": ids [batch, seq]}``.
        vocab_size: The model's ``vocab_size``.
        image_scale: The model's ``image_scale`` (the in-graph rescaling).

    Returns:
        ``{"image_reconstruction": image * image_scale, "bag_of_words": ...}`` as float32.

    Example:
        >>> y = autoencoder_targets(x, vocab_size=200)  # doctest: +SKIP
        >>> model.fit(x, y, epochs=3)  # doctest: +SKIP
    """
    import numpy as np

    image = np.asarray(inputs["image"], dtype=np.float32) * np.float32(image_scale)
    return {
        "image_reconstruction": image,
        "bag_of_words": bag_of_words_targets(inputs["tokens"], vocab_size),
    }


def reconstruction_targets(
    p: MultimodalAutoencoderParams, inputs: dict[str, Any]
) -> dict[str, np.ndarray]:
    """Ground truth of the reconstruction outputs (the family's ``targets`` hook).

    Only the full autoencoder reconstructs its inputs; the encoders have no reconstruction
    outputs and the decoder alone (input ``latent``) has no input to compare against.
    """
    if p.part != "autoencoder":
        return {}
    return autoencoder_targets(inputs, vocab_size=p.vocab_size, image_scale=p.image_scale)


# --------------------------------------------------------------------------- graph


@register_family(
    "multimodal_autoencoder",
    params=MultimodalAutoencoderParams,
    outputs=outputs,
    targets=reconstruction_targets,
    description="Image CNN + text LSTM → shared latent → image and bag-of-words reconstructions.",
)
def build(p: MultimodalAutoencoderParams, inputs: dict[str, InputSpec], name: str) -> Any:
    """Build the chosen part as a compiled functional model (imports Keras).

    Example:
        >>> model = zoo.get("multimodal_autoencoder_tiny", seed=0)  # calls this  # doctest: +SKIP
        >>> sorted(model.output)  # doctest: +SKIP
        ['bag_of_words', 'image_reconstruction']
    """
    import keras

    tensors = {
        key: keras.Input(shape=inputs[key].shape, dtype=inputs[key].dtype, name=key)
        for key in PART_INPUTS[p.part]
    }
    model = keras.Model(
        inputs=tensors, outputs=_graph(p, tensors, image_shape(p, inputs)), name=name
    )
    _compile(model, p)
    return model


def _graph(p: MultimodalAutoencoderParams, x: dict[str, Any], shape: list[int]) -> dict[str, Any]:
    if p.part == "image_encoder":
        return {"image_features": _image_tower(p, x["image"])}
    if p.part == "text_encoder":
        return {"text_features": _text_tower(p, x["tokens"])}
    if p.part == "decoder":
        return _decoder(p, x["latent"], shape)
    latent = _latent(p, _image_tower(p, x["image"]), _text_tower(p, x["tokens"]))
    if p.part == "encoder":
        return {"latent": latent}
    return _decoder(p, latent, shape)


def _image_tower(p: MultimodalAutoencoderParams, image: Any) -> Any:
    from keras import layers

    x = image_conv_stack(
        image, scale=p.image_scale, filters=p.conv_filters, kernel_size=p.kernel_size
    )
    return layers.Flatten(name="image_flatten")(x)


def _text_tower(p: MultimodalAutoencoderParams, tokens: Any) -> Any:
    from keras import layers

    t = layers.Embedding(p.vocab_size, p.embedding_dim, name="text_embedding")(tokens)
    return layers.LSTM(p.lstm_units, unroll=p.lstm_unroll, name="text_lstm")(t)


def _latent(p: MultimodalAutoencoderParams, image_features: Any, text_features: Any) -> Any:
    from keras import layers

    h = layers.Concatenate(name="fusion")([image_features, text_features])
    return layers.Dense(p.latent_dim, activation="relu", name="latent")(h)


def _decoder(p: MultimodalAutoencoderParams, latent: Any, shape: list[int]) -> dict[str, Any]:
    from keras import layers

    step = 2 ** len(p.conv_filters)
    grid = (shape[0] // step, shape[1] // step, p.conv_filters[-1])
    pre = _DECODER_PREFIX
    x = layers.Dense(grid[0] * grid[1] * grid[2], activation="relu", name=f"{pre}dense")(latent)
    x = layers.Reshape(grid, name=f"{pre}reshape")(x)
    for i, filters in enumerate(reversed(p.conv_filters), start=1):
        if p.upsampling == "transpose":
            x = layers.Conv2DTranspose(
                filters,
                p.kernel_size,
                strides=2,
                padding="same",
                activation="relu",
                name=f"{pre}deconv{i}",
            )(x)
        else:
            x = layers.UpSampling2D(2, name=f"{pre}up{i}")(x)
            x = layers.Conv2D(
                filters, p.kernel_size, padding="same", activation="relu", name=f"{pre}conv{i}"
            )(x)
    image = layers.Conv2D(
        shape[2], p.kernel_size, padding="same", activation="sigmoid", name="image_reconstruction"
    )(x)
    words = layers.Dense(p.vocab_size, activation="softmax", name="bag_of_words")(latent)
    return {"image_reconstruction": image, "bag_of_words": words}


def _compile(model: Any, p: MultimodalAutoencoderParams) -> None:
    """Reconstruction parts: MSE + cross-entropy; encoder parts: MSE to given vectors."""
    import keras

    optimizer = keras.optimizers.Adam(p.learning_rate)
    if p.part in ("autoencoder", "decoder"):
        model.compile(
            optimizer=optimizer,
            loss={"image_reconstruction": "mse", "bag_of_words": "categorical_crossentropy"},
            loss_weights={"image_reconstruction": 1.0, "bag_of_words": p.text_loss_weight},
            metrics={"image_reconstruction": ["mse", "mae"]},
        )
    else:
        model.compile(optimizer=optimizer, loss={key: "mse" for key in model.output})


# --------------------------------------------------------------------------- parts


def parts(model: Any) -> dict[str, Any]:
    """Sub-models of a built full autoencoder that share its layers (and so its weights).

    Training the full model trains every part; the parts are functional models (not
    compiled) that export like any other: ``zoo.export(parts(m)["encoder"], "out/")``.

    Args:
        model: A full autoencoder (``part="autoencoder"``), freshly built or reloaded.

    Returns:
        ``{"encoder", "image_encoder", "text_encoder", "decoder"}`` → ``keras.Model``, with
        the same I/O names as the matching ``part`` recipes.

    Raises:
        ZooError: ``model`` is not a full multimodal autoencoder.

    Example:
        >>> model = zoo.get("multimodal_autoencoder_tiny", seed=0)  # doctest: +SKIP
        >>> encoder = parts(model)["encoder"]  # doctest: +SKIP
        >>> encoder(inputs)["latent"].shape  # doctest: +SKIP
        TensorShape([2, 16])
    """
    import keras

    _require_full(model)
    inputs = {t.name: t for t in model.inputs}
    latent = model.get_layer("latent").output
    name = model.name
    latent_in = keras.Input(shape=latent.shape[1:], dtype=latent.dtype, name="latent")
    return {
        "encoder": keras.Model(inputs, {"latent": latent}, name=f"{name}_encoder"),
        "image_encoder": keras.Model(
            {"image": inputs["image"]},
            {"image_features": model.get_layer("image_flatten").output},
            name=f"{name}_image_encoder",
        ),
        "text_encoder": keras.Model(
            {"tokens": inputs["tokens"]},
            {"text_features": model.get_layer("text_lstm").output},
            name=f"{name}_text_encoder",
        ),
        "decoder": keras.Model(
            {"latent": latent_in}, _reapply_decoder(model, latent_in), name=f"{name}_decoder"
        ),
    }


def _require_full(model: Any) -> None:
    names = {layer.name for layer in getattr(model, "layers", [])}
    needed = {"image_flatten", "text_lstm", "latent", *RECONSTRUCTIONS}
    inputs = {t.name for t in getattr(model, "inputs", [])}
    if not needed <= names or inputs != {"image", "tokens"}:
        raise ZooError(
            f"parts: expected a full multimodal autoencoder (inputs image and tokens, layers "
            f"{sorted(needed)}), received model {getattr(model, 'name', model)!r} with inputs "
            f"{sorted(inputs)} and without {sorted(needed - names)}; build it with "
            "zoo.get('multimodal_autoencoder...') and part='autoencoder'."
        )


def _reapply_decoder(model: Any, latent: Any) -> dict[str, Any]:
    """Call the full model's decoder layers (the same objects) on a new ``latent`` input."""
    x = latent
    for layer in model.layers:  # topological order: the image decoder is a chain
        if layer.name.startswith(_DECODER_PREFIX):
            x = layer(x)
    return {
        "image_reconstruction": model.get_layer("image_reconstruction")(x),
        "bag_of_words": model.get_layer("bag_of_words")(latent),
    }

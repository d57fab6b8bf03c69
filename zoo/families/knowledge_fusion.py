"""``knowledge_fusion``: N modality modules, each projected to one space, then a fusion layer.

Seed model §7: ``h_i = module_i(x_i)`` for ``i = 0 … N-1`` (N ≥ 2), ``y = head(fusion([h_0, …,
h_{N-1}]))``. The recipe lists the modules (``[[params.modules]]`` tables); each names the
recipe input it reads (two modules may read the same input), its kind and its sizes:

========== ======================= ===========================================================
kind       input                   graph (every module ends in Dense(fusion_dim), linear)
========== ======================= ===========================================================
cnn        image [H, W, C]         Rescaling (raw 0–255 in) → Conv2D+MaxPool blocks → GAP or
                                   Flatten
rnn        token ids [T]           Embedding → LSTM
attention  token ids [T]           Embedding + learned position embedding → one Transformer
                                   encoder block (MultiHeadAttention, residual, LayerNorm,
                                   FFN, residual, LayerNorm) → mean over positions
mlp        numbers [F]             Dense(relu) blocks
========== ======================= ===========================================================

Fusion (``fusion``):

- ``concat``: Concatenate the h_i.
- ``gated``: per-modality sigmoid gates ``g = σ(W [h_0; …; h_{N-1}] + b)`` (one scalar per
  module), output ``Σ g_i h_i``.
- ``attention``: the h_i as N tokens; keys ``k_i = tanh(W h_i + b)``, a learned query ``q``
  scores them, ``a = softmax_i(q · k_i)``, output ``Σ a_i h_i``.

Then Dense(fusion_units, relu) (skipped for 0), optional Dropout and the classifier
``probabilities``. Layers are named ``m{i}_{kind}_…`` (``i`` is the module's position in
``params.modules``, as in error keys) and ``fusion_…``. Built from stock Keras layers and
``keras.ops`` only (no Lambda, no custom class): ``.keras`` files load with
``safe_mode=True`` and the graph converts to SavedModel, LiteRT and ONNX.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from zoo._family import Params, SpecProblem, register_family
from zoo._recipe import InputSpec
from zoo.errors import closest, did_you_mean
from zoo.families._common import compile_classifier, probabilities

PositiveInt = Annotated[int, Field(ge=1)]
InputName = Annotated[str, Field(min_length=1, max_length=64)]
_INT_DTYPES = ("int32", "int64")
_IMAGE_DTYPES = ("float32", "uint8")
_FLOAT_DTYPES = ("float32", "float16")


class _Module(Params):
    """Fields every module has; unknown keys are rejected naming the keys its kind takes."""

    input: InputName

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = list(cls.model_fields)
            unknown = sorted(str(k) for k in set(data) - set(allowed))
            if unknown:
                hits = closest(unknown[0], allowed)
                hint = f" (did you mean {hits[0]!r}?)" if hits else ""
                raise ValueError(  # no final period: the recipe error adds one
                    f"unknown key {unknown[0]!r} in a module of kind {data.get('kind')!r}{hint}; "
                    f"expected one of: {', '.join(sorted(allowed))}"
                )
        return data


class CnnModule(_Module):
    """An image CNN: raw pixels rescaled, Conv2D(relu, same)+MaxPool(2) blocks, pooled."""

    kind: Literal["cnn"]
    conv_filters: list[PositiveInt] = Field(default=[32, 64], min_length=1, max_length=6)
    kernel_size: PositiveInt = 3
    pooling: Literal["gap", "flatten"] = "gap"
    image_scale: float = 1.0 / 255.0


class RnnModule(_Module):
    """Token ids → Embedding → LSTM (last state)."""

    kind: Literal["rnn"]
    vocab_size: PositiveInt | None = Field(default=None, description="default: params.vocab_size")
    embedding_dim: PositiveInt = 64
    units: PositiveInt = 64


class AttentionModule(_Module):
    """Token ids → Embedding + positions → one Transformer encoder block → mean pooling."""

    kind: Literal["attention"]
    vocab_size: PositiveInt | None = Field(default=None, description="default: params.vocab_size")
    embedding_dim: PositiveInt = 64
    num_heads: PositiveInt = 4
    ff_dim: PositiveInt = 128
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


class MlpModule(_Module):
    """A numeric vector → Dense(relu) blocks."""

    kind: Literal["mlp"]
    hidden_units: list[PositiveInt] = Field(default=[64], max_length=6)


Module = Annotated[CnnModule | RnnModule | AttentionModule | MlpModule, Field(discriminator="kind")]


def _default_modules() -> list[Any]:
    return [
        CnnModule(input="image", kind="cnn"),
        RnnModule(input="tokens", kind="rnn"),
        AttentionModule(input="tokens", kind="attention"),
    ]


class KnowledgeFusionParams(Params):
    """Parameters of the ``knowledge_fusion`` family."""

    modules: list[Module] = Field(default_factory=_default_modules, min_length=1, max_length=8)
    fusion: Literal["concat", "gated", "attention"] = "attention"
    fusion_dim: PositiveInt = 64
    fusion_units: Annotated[int, Field(ge=0)] = 64
    vocab_size: PositiveInt = 1000
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    num_classes: PositiveInt = 1
    learning_rate: Annotated[float, Field(gt=0.0)] = 1e-3


# --------------------------------------------------------------------------- I/O contract


def outputs(p: KnowledgeFusionParams, inputs: dict[str, InputSpec]) -> dict[str, list[int]]:
    """Check the modules against the inputs and return ``{"probabilities": [num_classes]}``.

    Raises:
        SpecProblem: fewer than two modules; a module reading an undeclared input or one of
            the wrong shape/dtype for its kind; an input no module reads.

    Example:
        >>> spec = {"image": InputSpec(shape=[32, 32, 3]),
        ...         "tokens": InputSpec(shape=[16], dtype="int32", range=[0, 100])}
        >>> outputs(KnowledgeFusionParams(vocab_size=100), spec)
        {'probabilities': [1]}
        >>> outputs(KnowledgeFusionParams(modules=[{"input": "image", "kind": "cnn"}]), spec)
        Traceback (most recent call last):
        ...
        zoo._family.SpecProblem: params.modules: knowledge fusion needs at least 2 modules, ...
    """
    if len(p.modules) < 2:
        raise SpecProblem(
            "params.modules",
            f"knowledge fusion needs at least 2 modules, received {len(p.modules)} "
            f"({_kinds(p)}); add a [[params.modules]] table per modality (e.g. kind = 'rnn' "
            "reading the tokens), or use a single-modality family.",
        )
    for i, module in enumerate(p.modules):
        if module.input not in inputs:
            raise SpecProblem(
                f"params.modules.{i}.input",
                f"module {i} ({module.kind}) reads input {module.input!r}, which the recipe "
                f"does not declare (inputs: {sorted(inputs)}); set input to one of them or "
                f"add [inputs.{module.input}].{did_you_mean(module.input, inputs)}",
            )
        _check_module(p, i, module, inputs[module.input])
    unread = sorted(set(inputs) - {m.input for m in p.modules})
    if unread:
        raise SpecProblem(
            f"inputs.{unread[0]}",
            f"no module reads input {unread[0]!r} (modules read "
            f"{sorted({m.input for m in p.modules})}); add a [[params.modules]] table with "
            f"input = {unread[0]!r} or remove [inputs.{unread[0]}].",
        )
    return {"probabilities": [p.num_classes]}


def _kinds(p: KnowledgeFusionParams) -> str:
    return ", ".join(f"{m.kind}({m.input})" for m in p.modules) or "none"


def _check_module(p: KnowledgeFusionParams, i: int, module: Any, spec: InputSpec) -> None:
    key = f"params.modules.{i}"
    got = f"input {module.input!r} has shape {spec.shape} dtype {spec.dtype!r}"
    if isinstance(module, CnnModule):
        if len(spec.shape) != 3 or spec.dtype not in _IMAGE_DTYPES:
            raise SpecProblem(
                f"{key}.kind",
                f"a 'cnn' module reads an image [height, width, channels] of float32/uint8 "
                f"pixels, but {got}; point it at an image input, or use kind 'rnn'/'attention' "
                "for token ids and 'mlp' for a vector of numbers.",
            )
        blocks = len(module.conv_filters)
        if min(spec.shape[:2]) < 2**blocks:
            raise SpecProblem(
                f"{key}.conv_filters",
                f"{blocks} conv blocks halve the image {blocks} times, but {got}; use at most "
                f"{max(min(spec.shape[:2]).bit_length() - 1, 0)} blocks or a larger image.",
            )
    elif isinstance(module, (RnnModule, AttentionModule)):
        if len(spec.shape) != 1 or spec.dtype not in _INT_DTYPES:
            raise SpecProblem(
                f"{key}.kind",
                f"an {module.kind!r} module reads token ids [sequence_length] of int32/int64, "
                f"but {got}; point it at a token input, or use kind 'cnn' for images and "
                "'mlp' for a vector of numbers.",
            )
        vocab = module.vocab_size or p.vocab_size
        if spec.range is not None and (spec.range[0] < 0 or spec.range[1] > vocab):
            raise SpecProblem(
                f"inputs.{module.input}.range",
                f"module {i} ({module.kind}) embeds ids in [0, vocab_size={vocab}), received "
                f"range {list(spec.range)}; lower the range or raise the vocab_size.",
            )
        if isinstance(module, AttentionModule) and module.embedding_dim % module.num_heads:
            raise SpecProblem(
                f"{key}.num_heads",
                f"embedding_dim {module.embedding_dim} must split evenly over num_heads, "
                f"received num_heads={module.num_heads}; use a divisor of embedding_dim.",
            )
    elif len(spec.shape) != 1 or spec.dtype not in _FLOAT_DTYPES:
        raise SpecProblem(
            f"{key}.kind",
            f"an 'mlp' module reads a vector [features] of float32/float16, but {got}; point "
            "it at a numeric input, or use kind 'cnn' for images and 'rnn'/'attention' for ids.",
        )


# --------------------------------------------------------------------------- graph


@register_family(
    "knowledge_fusion",
    params=KnowledgeFusionParams,
    outputs=outputs,
    description="N modality modules (CNN / LSTM / self-attention / MLP) → concat, gated or "
    "attention fusion → classifier.",
)
def build(p: KnowledgeFusionParams, inputs: dict[str, InputSpec], name: str) -> Any:
    """Build the compiled functional model (imports Keras).

    Example:
        >>> model = zoo.get("knowledge_fusion_tiny", seed=0)  # calls this  # doctest: +SKIP
        >>> [layer.name for layer in model.layers if layer.name.endswith("_proj")]  # doctest: +SKIP
        ['m0_cnn_proj', 'm1_rnn_proj', 'm2_attention_proj']
    """
    import keras
    from keras import layers

    tensors = {
        key: keras.Input(shape=spec.shape, dtype=spec.dtype, name=key)
        for key, spec in inputs.items()
    }
    features = [
        _module(p, i, module, tensors[module.input], inputs[module.input])
        for i, module in enumerate(p.modules)
    ]
    h = _fuse(p, features)
    if p.fusion_units:
        h = layers.Dense(p.fusion_units, activation="relu", name="fusion_dense")(h)
    if p.dropout:
        h = layers.Dropout(p.dropout, name="fusion_dropout")(h)
    probs = probabilities(h, p.num_classes)
    model = keras.Model(inputs=tensors, outputs={"probabilities": probs}, name=name)
    return compile_classifier(model, learning_rate=p.learning_rate, num_classes=p.num_classes)


def _module(p: KnowledgeFusionParams, i: int, module: Any, x: Any, spec: InputSpec) -> Any:
    """``h_i``: the module's features projected to ``fusion_dim``."""
    from keras import layers

    pre = f"m{i}_{module.kind}_"
    if isinstance(module, CnnModule):
        h = _cnn(module, x, pre)
    elif isinstance(module, RnnModule):
        t = layers.Embedding(
            module.vocab_size or p.vocab_size, module.embedding_dim, name=f"{pre}embedding"
        )(x)
        h = layers.LSTM(module.units, name=f"{pre}lstm")(t)
    elif isinstance(module, AttentionModule):
        h = _encoder_block(module, x, module.vocab_size or p.vocab_size, spec.shape[0], pre)
    else:
        h = x
        for j, units in enumerate(module.hidden_units, start=1):
            h = layers.Dense(units, activation="relu", name=f"{pre}dense{j}")(h)
    return layers.Dense(p.fusion_dim, name=f"{pre}proj")(h)


def _cnn(module: CnnModule, image: Any, pre: str) -> Any:
    from keras import layers

    x = layers.Rescaling(module.image_scale, name=f"{pre}rescale")(image)
    for j, filters in enumerate(module.conv_filters, start=1):
        x = layers.Conv2D(
            filters, module.kernel_size, padding="same", activation="relu", name=f"{pre}conv{j}"
        )(x)
        x = layers.MaxPooling2D(2, name=f"{pre}pool{j}")(x)
    if module.pooling == "gap":
        return layers.GlobalAveragePooling2D(name=f"{pre}gap")(x)
    return layers.Flatten(name=f"{pre}flatten")(x)


def _encoder_block(module: AttentionModule, tokens: Any, vocab: int, length: int, pre: str) -> Any:
    """Embedding + learned positions → post-norm Transformer encoder block → mean pooling.

    Position ids are ``cumsum(ones_like(tokens)) - 1`` (0 … T-1 per row): built from the
    input with ``keras.ops``, so the graph needs no constant tensor or custom layer. The ops
    sit in a nested model named ``m{i}_attention_positions``, as :mod:`zoo.layers` blocks
    do, so the model's own layer names stay stable (ops get counter-numbered names).
    """
    import keras
    from keras import layers, ops

    dim = module.embedding_dim
    words = layers.Embedding(vocab, dim, name=f"{pre}embedding")(tokens)
    ids = keras.Input(shape=(length,), dtype=tokens.dtype, name=f"{pre}positions_tokens")
    count = keras.Model(ids, ops.cumsum(ops.ones_like(ids), axis=1) - 1, name=f"{pre}positions")
    where = layers.Embedding(length, dim, name=f"{pre}position_embedding")(count(tokens))
    x = layers.Add(name=f"{pre}embed_add")([words, where])
    a = layers.MultiHeadAttention(
        module.num_heads, dim // module.num_heads, dropout=module.dropout, name=f"{pre}mha"
    )(x, x)
    x = layers.LayerNormalization(name=f"{pre}norm1")(layers.Add(name=f"{pre}residual1")([x, a]))
    f = layers.Dense(module.ff_dim, activation="relu", name=f"{pre}ffn1")(x)
    f = layers.Dense(dim, name=f"{pre}ffn2")(f)
    if module.dropout:
        f = layers.Dropout(module.dropout, name=f"{pre}ffn_dropout")(f)
    x = layers.LayerNormalization(name=f"{pre}norm2")(layers.Add(name=f"{pre}residual2")([x, f]))
    return layers.GlobalAveragePooling1D(name=f"{pre}mean")(x)


def _fuse(p: KnowledgeFusionParams, features: list[Any]) -> Any:
    """Concatenation, gated sum or attention-weighted sum of the ``h_i``."""
    from keras import layers

    if p.fusion == "concat":
        return layers.Concatenate(name="fusion_concat")(features)
    n, dim = len(features), p.fusion_dim
    rows = [layers.Reshape((1, dim), name=f"fusion_token{i}")(h) for i, h in enumerate(features)]
    stack = layers.Concatenate(axis=1, name="fusion_stack")(rows)  # [batch, N, dim]
    if p.fusion == "gated":
        joined = layers.Concatenate(name="fusion_concat")(features)
        gates = layers.Dense(n, activation="sigmoid", name="fusion_gates")(joined)
        weights = layers.Reshape((n, 1), name="fusion_weights")(gates)
    else:
        keys = layers.Dense(dim, activation="tanh", name="fusion_keys")(stack)
        scores = layers.Dense(1, use_bias=False, name="fusion_query")(keys)  # q · k_i
        weights = layers.Softmax(axis=1, name="fusion_weights")(scores)  # [batch, N, 1]
    summed = layers.Dot(axes=1, name="fusion_weighted_sum")([weights, stack])  # [batch, 1, dim]
    return layers.Reshape((dim,), name="fusion_vector")(summed)

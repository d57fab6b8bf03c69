"""Pieces of the dual-encoder families: towers, the shared embedding space, parts.

A dual encoder maps two modalities into one L2-normalised embedding space with two
*towers*, f(x) and g(y). The inference graph is plain: each tower ends in a Dense
projection and a ``UnitNormalization`` layer named ``<modality>_embedding``; the pair
model also gives ``similarity``, the cosine of the two embeddings of each row (a
``Dot`` of unit vectors). The training objective (in-batch softmax, contrastive pairs,
triplet) never enters this graph: it lives in :mod:`zoo.training.contrastive`.

Every tower is a *part*: ``zoo.get(name, part="image_tower")`` builds that tower alone
on the inputs it reads, with the same layer names as in the pair model, so weights move
between them by name and a retrieval index is built with one tower while the other runs
on a device.

Like every family module, nothing here imports Keras at module level.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import Field

from zoo._family import Params, SpecProblem
from zoo._recipe import InputSpec
from zoo.families._bert_sources import KNOWN_LIMITS, MINILM
from zoo.families._bert_text import INPUT_NAMES as BERT_INPUTS
from zoo.families._common import check_tokens

PositiveInt = Annotated[int, Field(ge=1)]
Objective = Literal["softmax", "contrastive", "triplet"]
TextBackbone = Literal["lstm", "minilm"]

#: Objectives a dual encoder trains with (recipe ``objective``), see
#: :mod:`zoo.training.contrastive`.
OBJECTIVES: tuple[str, ...] = ("softmax", "contrastive", "triplet")


#: Margin of each distance objective when the recipe gives none. Random unit vectors in
#: the embedding space sit about √2 apart, so a contrastive margin below that pushes no
#: negative (measured: margin 0.5 stalled at 0.36 recall@1 on the tiny recipe).
DEFAULT_MARGINS: dict[str, float] = {"contrastive": 1.2, "triplet": 0.5}


class DualEncoderParams(Params):
    """Parameters both dual-encoder families share: the space, the text tower, training.

    Attributes:
        embedding_dim: Width of the shared, L2-normalised embedding space.
        text_backbone: ``"lstm"`` (token ids → Embedding → LSTM, input ``tokens``) or
            ``"minilm"`` (a pretrained BERT encoder, frozen, mean-pooled; inputs
            ``token_ids``, ``padding_mask``, ``segment_ids`` from :func:`zoo.preprocessor`).
        vocab_size: Word vocabulary of the LSTM text tower.
        token_embedding_dim: Token embedding width of the LSTM text tower.
        lstm_units: LSTM width.
        bert_backbone: The BERT encoder of the ``minilm`` text tower (as ``bert_classifier``).
        objective: Training objective: ``"softmax"`` (in-batch softmax over the
            similarity matrix, learnable temperature), ``"contrastive"`` (Siamese pairs:
            pull matching pairs together, push others beyond ``margin``) or
            ``"triplet"`` (anchor, positive, negative with ``margin``).
        temperature: Initial softmax temperature (learned when ``learn_temperature``).
        learn_temperature: Learn the temperature (CLIP) or keep it fixed.
        margin: Distance margin of the contrastive and triplet objectives (unit vectors:
            distances lie in [0, 2]); default :data:`DEFAULT_MARGINS` of the objective.
        learning_rate: Adam learning rate.
    """

    embedding_dim: PositiveInt = 128
    text_backbone: TextBackbone = "lstm"
    vocab_size: Annotated[int, Field(ge=2)] = 5000
    token_embedding_dim: PositiveInt = 128
    lstm_units: PositiveInt = 128
    bert_backbone: str = Field(default=MINILM, min_length=1)
    objective: Objective = "softmax"
    temperature: Annotated[float, Field(gt=0.0, le=10.0)] = 0.1
    learn_temperature: bool = True
    margin: Annotated[float, Field(gt=0.0, le=2.0)] | None = None
    learning_rate: Annotated[float, Field(gt=0.0)] = 1e-3


def text_inputs(p: DualEncoderParams) -> tuple[str, ...]:
    """The input names of the text tower."""
    return tuple(BERT_INPUTS) if p.text_backbone == "minilm" else ("tokens",)


def reads(p: DualEncoderParams, modality: str) -> dict[str, tuple[str, ...]]:
    """Input names each part reads: ``pair``, ``<modality>_tower``, ``text_tower``.

    Example:
        >>> reads(DualEncoderParams(), "image")["pair"]
        ('image', 'tokens')
    """
    text = text_inputs(p)
    return {"pair": (modality, *text), f"{modality}_tower": (modality,), "text_tower": text}


def check_text(p: DualEncoderParams, inputs: dict[str, InputSpec]) -> None:
    """Check the text tower's inputs (token ids, or the three BERT inputs).

    Raises:
        SpecProblem: naming the recipe key, what was received and the fix.
    """
    if p.text_backbone == "lstm":
        check_tokens(inputs["tokens"], p.vocab_size)
        return
    lengths = {n: inputs[n].shape for n in BERT_INPUTS}
    if len({tuple(s) for s in lengths.values()}) != 1 or len(lengths["token_ids"]) != 1:
        raise SpecProblem(
            "inputs.token_ids",
            f"the minilm text tower takes token_ids, padding_mask and segment_ids of one "
            f"shape [sequence_length], received {lengths}; give all three the same shape.",
        )
    for n in BERT_INPUTS:
        if inputs[n].dtype != "int32":
            raise SpecProblem(
                f"inputs.{n}.dtype", f"expected 'int32', received {inputs[n].dtype!r}."
            )
    limits = KNOWN_LIMITS.get(p.bert_backbone)
    if limits is not None and lengths["token_ids"][0] > limits.max_sequence_length:
        raise SpecProblem(
            "inputs.token_ids.shape",
            f"{lengths['token_ids']} exceeds the backbone's {limits.max_sequence_length} "
            "positions; shorten the sequence.",
        )


def check_names(part: str, reads: dict[str, tuple[str, ...]], inputs: dict[str, InputSpec]) -> None:
    """The recipe's inputs are exactly what ``part`` reads.

    Raises:
        SpecProblem: listing the inputs each part reads.
    """
    want = reads[part]
    if set(inputs) != set(want):
        others = "; ".join(f"{k}: {', '.join(v)}" for k, v in reads.items())
        raise SpecProblem(
            "inputs",
            f"part {part!r} reads exactly the inputs {list(want)}, received {sorted(inputs)}; "
            f"declare those [inputs.NAME] tables (inputs per part: {others}).",
        )


def conv_side(side: int, filters: list[int], kernel_size: int) -> int:
    """Spatial size after ``len(filters)`` blocks of Conv2D('same') + MaxPool(2)."""
    for _ in filters:
        side //= 2
    return side


# ------------------------------------------------------------------------- Keras parts


def conv_tower(x: Any, filters: list[int], kernel_size: int, prefix: str) -> Any:
    """Conv2D('same', relu) + BatchNorm-free MaxPool(2) blocks → global average pooling."""
    from keras import layers

    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(
            f, kernel_size, padding="same", activation="relu", name=f"{prefix}_conv{i}"
        )(x)
        x = layers.MaxPooling2D(2, name=f"{prefix}_pool{i}")(x)
    return layers.GlobalAveragePooling2D(name=f"{prefix}_gap")(x)


def text_tower(p: DualEncoderParams, inputs: dict[str, InputSpec]) -> tuple[dict[str, Any], Any]:
    """The text tower's Keras inputs and its pooled features (before the projection)."""
    import keras
    from keras import layers

    if p.text_backbone == "lstm":
        spec = inputs["tokens"]
        tokens = keras.Input(shape=spec.shape, dtype=spec.dtype, name="tokens")
        t = layers.Embedding(p.vocab_size, p.token_embedding_dim, name="text_token_embedding")(
            tokens
        )
        return {"tokens": tokens}, layers.LSTM(p.lstm_units, name="text_lstm")(t)
    from zoo.families._bert_sources import load_backbone
    from zoo.families.bert_classifier import _pool

    backbone = load_backbone(p.bert_backbone, dropout=0.0)
    backbone.trainable = False
    x = {n: keras.Input(shape=inputs[n].shape, dtype="int32", name=n) for n in BERT_INPUTS}
    return x, _pool(backbone(x)["sequence_output"], x["padding_mask"], "mean")


def project(features: Any, dim: int, modality: str) -> Any:
    """Dense projection into the shared space, L2-normalised: ``<modality>_embedding``."""
    from keras import layers

    x = layers.Dense(dim, name=f"{modality}_projection")(features)
    return layers.UnitNormalization(axis=-1, name=f"{modality}_embedding")(x)


def build_parts(
    p: Any,
    inputs: dict[str, InputSpec],
    name: str,
    modality: str,
    tower: Any,
) -> Any:
    """The model of ``p.part``: the ``modality`` tower, the text tower, or both paired.

    Args:
        p: The family's params (``part``, ``embedding_dim``, the text tower's).
        inputs: The recipe inputs the part reads.
        name: Model name.
        modality: ``"image"`` or ``"audio"``: the first tower's input and output prefix.
        tower: ``(p, spec) -> (Keras inputs, pooled features)`` of the first tower.
    """
    towers: dict[str, tuple[dict[str, Any], Any]] = {}
    if p.part in ("pair", f"{modality}_tower"):
        first_in, features = tower(p, inputs[modality])
        towers[modality] = (first_in, project(features, p.embedding_dim, modality))
    if p.part in ("pair", "text_tower"):
        text_in, features = text_tower(p, inputs)
        towers["text"] = (text_in, project(features, p.embedding_dim, "text"))
    return assemble(p.part, towers, p, name)


def assemble(
    part: str,
    towers: dict[str, tuple[dict[str, Any], Any]],
    p: DualEncoderParams,
    name: str,
) -> Any:
    """The functional model of ``part`` from the towers' inputs and embeddings.

    Args:
        part: ``"pair"`` or ``"<modality>_tower"``.
        towers: modality → (Keras inputs, embedding), exactly the towers ``part`` needs,
            the non-text one first.
        p: The params (learning rate).
        name: Model name.
    """
    import keras
    from keras import layers

    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for modality, (tower_inputs, embedding) in towers.items():
        inputs.update(tower_inputs)
        outputs[f"{modality}_embedding"] = embedding
    if part == "pair":
        first, second = (e for _, e in towers.values())
        outputs["similarity"] = layers.Dot(axes=-1, name="similarity")([first, second])
    model = keras.Model(inputs=inputs, outputs=outputs, name=name)
    # An encoder has no loss of its own: zoo.training.contrastive trains it (the objective
    # stays out of the exported graph); compiling gives zoo.get's usual compiled model.
    model.compile(optimizer=keras.optimizers.Adam(p.learning_rate))
    return model


# ------------------------------------------------------------------- realistic samples


def pair_samples(p: DualEncoderParams, inputs: dict[str, InputSpec], batch: int, rng: Any) -> Any:
    """Realistic inputs for validation and int8 calibration: real digits, real texts.

    Each row draws a digit; ``image`` is a scikit-learn digit of it (upsampled to the
    input shape, 0–255), ``audio`` a synthesized clip of its word (``espeak-ng``),
    ``tokens`` a text naming it ("number seven", "7", …). Where the data cannot be had
    (scikit-learn or espeak-ng missing) that input falls back to uniform draws from its
    recipe range; the BERT inputs always do.
    """
    import numpy as np

    from zoo.samples import sample_inputs

    digits = rng.integers(0, 10, size=batch)
    out = sample_inputs(inputs, batch, seed=int(rng.integers(0, 2**31 - 1)))
    if "image" in inputs:
        images = _digit_images(digits, inputs["image"], rng)
        if images is not None:
            out["image"] = images
    if "audio" in inputs:
        clips = _digit_clips(digits, inputs["audio"], rng, getattr(p, "sample_rate", 16_000))
        if clips is not None:
            out["audio"] = clips
    if "tokens" in inputs:
        from zoo.data.digit_targets import digit_text, tokenize
        from zoo.data.pairs import PAIR_TEMPLATES

        templates = (PAIR_TEMPLATES[int(rng.integers(len(PAIR_TEMPLATES)))] for _ in digits)
        texts = [digit_text(t, int(d)) for t, d in zip(templates, digits, strict=True)]
        ids = tokenize(texts, inputs["tokens"].shape[0])
        ids[ids >= getattr(p, "vocab_size", np.iinfo(np.int32).max)] = 1
        out["tokens"] = ids.astype(inputs["tokens"].dtype)
    return out


def _digit_images(digits: Any, spec: InputSpec, rng: Any) -> Any:
    from zoo.data.digits import to_rgb

    pool = _image_pool()
    if pool is None:
        return None
    picks = _picks(pool[1], digits, rng)
    images = to_rgb(pool[0][picks], (spec.shape[0], spec.shape[1]))[..., : spec.shape[2]]
    return images.astype(spec.dtype)


def _digit_clips(digits: Any, spec: InputSpec, rng: Any, sample_rate: int) -> Any:
    pool = _clip_pool(sample_rate, spec.shape[0])
    if pool is None:
        return None
    return pool[0][_picks(pool[1], digits, rng)].astype(spec.dtype)


def _picks(labels: Any, digits: Any, rng: Any) -> list[int]:
    """A random row of each requested digit."""
    import numpy as np

    return [int(rng.choice(np.flatnonzero(labels == d))) for d in digits]


# Validation and int8 calibration draw samples many times per export (one call per
# calibration row): the pools are loaded once per process.
@functools.lru_cache(maxsize=1)
def _image_pool() -> tuple[Any, Any] | None:
    """(images, labels) of half the digits, or None without scikit-learn."""
    from zoo.data.digits import digits as load_digits
    from zoo.errors import ZooError

    try:
        pool = load_digits(test_fraction=0.5, seed=0).test
    except ZooError:
        return None
    return pool.images, pool.labels


@functools.lru_cache(maxsize=4)
def _clip_pool(sample_rate: int, samples: int) -> tuple[Any, Any] | None:
    """(waveforms, labels) of the spoken digits at this length, or None without espeak-ng."""
    import numpy as np

    from zoo.errors import ZooError

    try:
        from zoo.data.speech import spoken_digits

        clips = spoken_digits(sample_rate=sample_rate, seconds=samples / sample_rate)
    except (ZooError, ImportError):
        return None
    if clips.waveforms.shape[1] != samples:
        return None
    return clips.waveforms, np.asarray(clips.labels)

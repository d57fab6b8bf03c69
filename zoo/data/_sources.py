"""Data sources by name or path: what each holds (cheap) and its examples, split.

A source string is a built-in name (:data:`SOURCES`), an image folder (one subfolder per
class) or a ``.csv`` / ``.jsonl`` / ``.json`` file of texts with labels. :func:`resolve`
checks it and its options; :func:`describe` says what it holds without loading it;
:func:`load_raw` returns its examples as train / val / test :class:`Split` objects in a
fixed, seeded order, class-stratified. No TensorFlow here except for image folders
(``keras.utils.image_dataset_from_directory`` lists them).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.data import _keras_sets as ks
from zoo.data._image_folder import folder_classes, images_in, index_folder
from zoo.data._split import _limited, stratified_split
from zoo.data._text_files import label_indices, read_rows
from zoo.errors import ZooError, did_you_mean

#: The built-in sources, by name.
SOURCES = ("digits", "sentiment", "digit-pairs", "cifar10", "imdb")
TEXT_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}
#: Options each kind of source accepts, with their defaults.
OPTIONS: dict[str, dict[str, Any]] = {
    "digits": {},
    "sentiment": {"min_abs_rating": 1.0},
    "digit-pairs": {},
    "cifar10": {"download": False},
    "imdb": {"download": False},
    "directory": {},
    "csv": {"text_column": "text", "label_column": "label"},
    "jsonl": {"text_column": "text", "label_column": "label"},
}
#: Options that change how data is fetched, not what it is (left out of fingerprints).
FETCH_OPTIONS = frozenset({"download"})
MODALITIES = {
    "digits": ("image",),
    "sentiment": ("text",),
    "digit-pairs": ("image", "text"),
    "cifar10": ("image",),
    "imdb": ("text",),
    "directory": ("image",),
    "csv": ("text",),
    "jsonl": ("text",),
}
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: How digit-pairs names a digit: ``w`` is its word, ``d`` its numeral.
PAIR_TEMPLATES = (
    "{w}",
    "{d}",
    "number {w}",
    "the digit {w}",
    "a {w}",
    "digit {d}",
    "the number {d}",
    "this is a {w}",
)
PAIR_CLASSES = ("mismatch", "match")


@dataclass(frozen=True)
class Resolved:
    """A checked source: its kind, the string given, its path (files) and full options."""

    kind: str
    given: str
    path: Path | None
    options: dict[str, Any]


@dataclass
class Split:
    """One split's examples in their fixed order (one row per example).

    Attributes:
        labels: int64 ``[n]`` class indices.
        images: ``[n, h, w, c]`` pixels 0–255 at the source's size, or ``None``.
        texts: The texts, or ``None``.
        paths: Image files (image folders), or ``None``.
        keys: Which source item each row came from (image index, text), for checks.
    """

    labels: Any
    images: Any = None
    texts: list[str] | None = None
    paths: list[str] | None = None
    keys: list[Any] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class Raw:
    """A source's examples, split, and what identifies them."""

    class_names: tuple[str, ...]
    train: Split
    val: Split | None
    test: Split
    resize: str  # how images are resized: nearest | bilinear
    content: str  # sha256 of the examples or files
    info: dict[str, Any]  # package versions, files, how the test split was made


def resolve(source: str | os.PathLike[str], options: dict[str, Any]) -> Resolved:
    """Check a source string (or path) and its options.

    Raises:
        ZooError: an unknown name or a missing path (listing the accepted sources), a file
            of another type, or an option the source does not take.
    """
    given = os.fspath(source)
    if not isinstance(given, str) or not given:
        raise ZooError(f"source={source!r}; expected a name ({_accepted()}) or a path.")
    if given in SOURCES:
        kind, path = given, None
    else:
        path = Path(given).expanduser()
        if path.is_dir():
            kind = "directory"
        elif path.is_file() and path.suffix.lower() in TEXT_SUFFIXES:
            kind = TEXT_SUFFIXES[path.suffix.lower()]
        elif path.is_file():
            raise ZooError(
                f"source {given!r} is a {path.suffix or 'suffix-less'} file; expected a "
                f".csv, .jsonl or .json (one JSON object per line) file of texts with labels, "
                "or an image folder with one subfolder per class."
            )
        else:
            raise ZooError(
                f"unknown source {given!r}: not a built-in name and no such file or folder; "
                f"expected {_accepted()}.{did_you_mean(given, SOURCES)}"
            )
        path = path.resolve()
    allowed = OPTIONS[kind]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = ", ".join(f"{k}={v!r}" for k, v in allowed.items()) or "no options"
        raise ZooError(
            f"source {given!r} ({kind}) takes {takes}; received unknown option(s) "
            f"{', '.join(unknown)}.{did_you_mean(unknown[0], allowed)}"
        )
    return Resolved(kind, given, path, {**allowed, **options})


def _accepted() -> str:
    names = ", ".join(repr(s) for s in SOURCES)
    return f"one of {names}, an image folder (one subfolder per class) or a .csv/.jsonl file"


def describe(src: Resolved) -> tuple[tuple[str, ...], str]:
    """Class names and a one-line description, without loading the examples (no TF)."""
    kind = src.kind
    if kind == "digits":
        return tuple(str(d) for d in range(10)), (
            "scikit-learn handwritten digits: 1,797 grey 8x8 images, classes 0-9"
        )
    if kind == "sentiment":
        return ("negative", "positive"), "VADER lexicon words rated negative or positive"
    if kind == "digit-pairs":
        return PAIR_CLASSES, (
            "digit image + a text naming a digit ('seven', '7', 'the digit seven', ...); "
            "match if the text names the image's digit, balanced"
        )
    if kind == "cifar10":
        return ks.CIFAR10_CLASSES, (
            f"CIFAR-10: 60,000 RGB 32x32 images, 10 classes (Keras cache: {ks.cifar10_status()})"
        )
    if kind == "imdb":
        return ks.IMDB_CLASSES, (
            f"IMDB movie reviews as text, negative/positive (Keras cache: {ks.imdb_status()})"
        )
    assert src.path is not None
    if kind == "directory":
        classes = folder_classes(src.path)
        n = sum(len(images_in(src.path / c)) for c in classes)
        return classes, f"image folder {src.path}: {n} images in {len(classes)} class folders"
    rows = read_rows(src)
    names, _ = label_indices(src, [r[1] for r in rows])
    return names, f"{kind} file {src.path}: {len(rows)} texts, {len(names)} classes"


# --------------------------------------------------------------------------- loading


def load_raw(
    src: Resolved,
    *,
    val_split: float,
    test_split: float,
    seed: int,
    limit: int | None,
    image: tuple[tuple[int, int], int] | None,
) -> Raw:
    """The examples of a source, split; ``image`` = ((H, W), channels) for image folders."""
    kind = src.kind
    if kind in ("digits", "digit-pairs"):
        raw = _digits(kind, val_split, test_split, seed)
    elif kind == "sentiment":
        raw = _sentiment(src.options, val_split, test_split, seed)
    elif kind == "cifar10":
        raw = _cifar10(src.options, val_split, seed)
    elif kind == "imdb":
        raw = _imdb(src.options, val_split, seed)
    elif kind == "directory":
        assert image is not None and src.path is not None
        raw = _directory(src.path, image, val_split, test_split, seed)
    else:
        raw = _text_file(src, val_split, test_split, seed)
    for name in ("train", "val", "test"):
        split = getattr(raw, name)
        if split is not None:
            setattr(raw, name, _limit(split, limit, len(raw.class_names), seed))
    return raw


def _digits(kind: str, val_split: float, test_split: float, seed: int) -> Raw:
    import numpy as np

    from zoo.data.digits import digits

    data = digits(test_fraction=test_split, seed=seed)
    images = {"train": data.train.images, "test": data.test.images}
    labels = {"train": data.train.labels, "test": data.test.labels}
    index = {"train": data.train.index, "test": data.test.index}
    rows = _carve(labels["train"].tolist(), 10, val_split, test_split, seed)
    parts: dict[str, Split] = {}
    for name, (pool, keep) in {
        "train": ("train", rows[0]),
        "val": ("train", rows[1]),
        "test": ("test", list(range(len(labels["test"])))),
    }.items():
        keep_a = np.asarray(keep, dtype=np.int64)
        imgs, labs, idx = images[pool][keep_a], labels[pool][keep_a], index[pool][keep_a]
        parts[name] = Split(labs, imgs[..., None], keys=idx.tolist())
    if kind == "digit-pairs":
        parts = {n: _pairs(s, seed, i) for i, (n, s) in enumerate(parts.items())}
    digest = hashlib.sha256()
    for arr in (data.train.images, data.train.labels, data.test.images, data.test.labels):
        digest.update(np.ascontiguousarray(arr).tobytes())
    info = {"versions": {"scikit-learn": data.source["version"]}, "test": "stratified"}
    names = PAIR_CLASSES if kind == "digit-pairs" else tuple(str(d) for d in range(10))
    return Raw(names, parts["train"], _or_none(parts["val"], val_split), parts["test"],
               "nearest", digest.hexdigest(), info)  # fmt: skip


def _pairs(split: Split, seed: int, salt: int) -> Split:
    """Two examples per image: one text naming its digit (match), one another (mismatch)."""
    import numpy as np

    rng = random.Random(seed * 7919 + salt)
    rows = []
    for j, digit in enumerate(split.labels.tolist()):
        other = rng.choice([d for d in range(10) if d != digit])
        for named, match in ((digit, 1), (other, 0)):
            text = rng.choice(PAIR_TEMPLATES).format(w=DIGIT_WORDS[named], d=named)
            rows.append((j, text, match))
    rng.shuffle(rows)
    take = np.asarray([j for j, _, _ in rows], dtype=np.int64)
    return Split(
        np.asarray([m for _, _, m in rows], dtype=np.int64),
        split.images[take],
        texts=[t for _, t, _ in rows],
        keys=[split.keys[j] for j in take.tolist()],
    )


def _sentiment(options: dict[str, Any], val_split: float, test_split: float, seed: int) -> Raw:
    from zoo.data.sentiment import CLASS_NAMES, sentiment_lexicon

    data = sentiment_lexicon(
        min_abs_rating=float(options["min_abs_rating"]), test_fraction=test_split, seed=seed
    )
    train, val = _carve(list(data.train.labels), 2, val_split, test_split, seed)
    texts, labels = list(data.train.texts), list(data.train.labels)
    parts = [
        _text_split([texts[i] for i in rows], [labels[i] for i in rows]) for rows in (train, val)
    ]
    test = _text_split(list(data.test.texts), list(data.test.labels))
    content = hashlib.sha256(
        json.dumps([texts, labels, data.test.texts, data.test.labels]).encode()
    )
    info = {"versions": {"vadersentiment": data.source["version"]}, "test": "stratified"}
    return Raw(CLASS_NAMES, parts[0], _or_none(parts[1], val_split), test, "bilinear",
               content.hexdigest(), info)  # fmt: skip


def _cifar10(options: dict[str, Any], val_split: float, seed: int) -> Raw:
    x_train, y_train, x_test, y_test, record = ks.load_cifar10(download=bool(options["download"]))
    train, val = _carve(y_train.tolist(), 10, val_split, 0.0, seed)
    parts = [Split(y_train[rows], x_train[rows], keys=rows) for rows in (train, val)]
    test = Split(y_test, x_test, keys=list(range(len(y_test))))
    info = {"files": record["files"], "test": "official test batch", **_keras_version()}
    return Raw(ks.CIFAR10_CLASSES, parts[0], _or_none(parts[1], val_split), test, "bilinear",
               record["sha256"], info)  # fmt: skip


def _imdb(options: dict[str, Any], val_split: float, seed: int) -> Raw:
    texts, y_train, texts_test, y_test, record = ks.load_imdb(download=bool(options["download"]))
    train, val = _carve(y_train.tolist(), 2, val_split, 0.0, seed)
    parts = [_text_split([texts[i] for i in rows], y_train[rows].tolist()) for rows in (train, val)]
    test = _text_split(texts_test, y_test.tolist())
    info = {"files": record["files"], "test": "official test set", **_keras_version()}
    return Raw(ks.IMDB_CLASSES, parts[0], _or_none(parts[1], val_split), test, "bilinear",
               record["sha256"], info)  # fmt: skip


def _keras_version() -> dict[str, Any]:
    from importlib import metadata

    return {"versions": {"keras": metadata.version("keras")}}


def _text_file(src: Resolved, val_split: float, test_split: float, seed: int) -> Raw:
    rows = read_rows(src)
    names, labels = label_indices(src, [r[1] for r in rows])
    texts = [r[0] for r in rows]
    parts = _split3(labels, len(names), val_split, test_split, seed)
    train, val, test = (_text_split([texts[i] for i in p], [labels[i] for i in p]) for p in parts)
    assert src.path is not None
    content = hashlib.sha256(src.path.read_bytes()).hexdigest()
    info = {"file": str(src.path), "test": "stratified"}
    return Raw(names, train, _or_none(val, val_split), test, "bilinear", content, info)


def _directory(
    path: Path, image: tuple[tuple[int, int], int], val_split: float, test_split: float, seed: int
) -> Raw:
    import numpy as np

    names, paths, labels, content = index_folder(path, image)
    parts = _split3(labels, len(names), val_split, test_split, seed)
    splits = [
        Split(np.asarray([labels[i] for i in p], np.int64), paths=[paths[i] for i in p], keys=p)
        for p in parts
    ]
    info = {"folder": str(path), "test": "stratified", **_keras_version()}
    return Raw(names, splits[0], _or_none(splits[1], val_split), splits[2], "bilinear",
               content, info)  # fmt: skip


# --------------------------------------------------------------------------- splitting


def _split3(
    labels: list[int], classes: int, val_split: float, test_split: float, seed: int
) -> tuple[list[int], list[int], list[int]]:
    """Row indices of train, val and test: class-stratified, seeded."""
    pool, test = _stratified(list(range(len(labels))), labels, classes, test_split, seed)
    rest = [labels[i] for i in pool]
    train, val = _carve(rest, classes, val_split, test_split, seed)
    return [pool[i] for i in train], [pool[i] for i in val], test


def _carve(
    labels: list[int], classes: int, val_split: float, test_split: float, seed: int
) -> tuple[list[int], list[int]]:
    """Positions of train and val within a training pool.

    Val is ``val_split`` of all rows (of the pool when the source has its own test split:
    ``test_split=0``).
    """
    if val_split == 0:
        return list(range(len(labels))), []
    fraction = min(val_split / (1.0 - test_split), 0.99)
    return _stratified(list(range(len(labels))), labels, classes, fraction, seed + 1)


def _stratified(
    rows: list[int], labels: list[int], classes: int, fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    by_class = [[r for r, y in zip(rows, labels, strict=True) if y == c] for c in range(classes)]
    keep, held = stratified_split(by_class, test_fraction=fraction, seed=seed, limit=None)
    return [r for r, _ in keep], [r for r, _ in held]


def _limit(split: Split, limit: int | None, classes: int, seed: int) -> Split:
    """At most ``limit`` rows, class shares kept, in a seeded order."""
    import numpy as np

    if limit is None or len(split) <= limit:
        return split
    pairs = [(i, int(y)) for i, y in enumerate(split.labels.tolist())]
    kept = _limited(pairs, limit, classes)
    random.Random(seed).shuffle(kept)
    rows = [i for i, _ in kept]
    take = np.asarray(rows, dtype=np.int64)
    return Split(
        split.labels[take],
        None if split.images is None else split.images[take],
        None if split.texts is None else [split.texts[i] for i in rows],
        None if split.paths is None else [split.paths[i] for i in rows],
        [split.keys[i] for i in rows] if split.keys else [],
    )


def _text_split(texts: list[str], labels: list[int]) -> Split:
    import numpy as np

    return Split(np.asarray(labels, dtype=np.int64), texts=list(texts), keys=list(texts))


def _or_none(split: Split, val_split: float) -> Split | None:
    return split if val_split > 0 else None

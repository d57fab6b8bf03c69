"""Data matched to a model's contract: :func:`splits`, :func:`load`, :func:`peek`.

``splits(SOURCE, for_model=NAME_OR_MODEL)`` returns :class:`ModelData`: batched, prefetched
``tf.data.Dataset`` s for train (reshuffled every epoch, seeded), val and test whose
elements are ``(inputs, targets)``, dicts keyed by the model's input and output names.
Images are resized to the input's height and width, their channels matched, scaled to the
input's range and cast to its dtype; text is tokenized with the model's preprocessor
(BERT) or with a word vocabulary of the training split (``tokens`` inputs); targets follow
each output: one-hot classes for softmax, ``[n, 1]`` floats for one sigmoid unit, ints for
a ``sparse_*`` loss, reconstructions from the family's ``targets`` hook.

Sources: ``"digits"``, ``"sentiment"``, ``"digit-pairs"``, ``"cifar10"``, ``"imdb"``, an
image folder (one subfolder per class) or a ``.csv`` / ``.jsonl`` file of texts and labels.
Importing this module does not import TensorFlow; :func:`peek` never does.

Example:
    >>> from zoo.data import peek
    >>> peek("digit-pairs").class_names
    ('mismatch', 'match')
    >>> data = splits("digits", for_model="resnet50_transfer_tiny",  # doctest: +SKIP
    ...               model_overrides={"num_classes": 10}, limit=64)
    >>> data.train.element_spec[0]["image"]  # doctest: +SKIP
    TensorSpec(shape=(None, 64, 64, 3), dtype=tf.float32, name=None)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from zoo.data import _sources
from zoo.data._contract import Contract, contract
from zoo.data._sources import MODALITIES, SOURCES, Resolved
from zoo.errors import ZooError, describe

__all__ = ["SOURCES", "ModelData", "SourceInfo", "load", "peek", "splits"]

#: Channels of the images of each in-memory image source.
_CHANNELS = {"digits": 1, "digit-pairs": 1, "cifar10": 3}
#: Sources to suggest for each set of modalities a model takes.
_SUGGEST = {
    ("image",): "'digits', 'cifar10' or an image folder",
    ("text",): "'sentiment', 'imdb' or a .csv/.jsonl file of texts",
    ("image", "text"): "'digit-pairs'",
}


@dataclass(frozen=True)
class SourceInfo:
    """What a source holds, from :func:`peek`.

    Attributes:
        kind: ``digits``, ``sentiment``, ``digit-pairs``, ``cifar10``, ``imdb``,
            ``directory``, ``csv`` or ``jsonl``.
        modalities: ``("image",)``, ``("text",)`` or ``("image", "text")``.
        class_names: Label ``i`` is ``class_names[i]``.
        description: One line for people.
    """

    kind: str
    modalities: tuple[str, ...]
    class_names: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class ModelData:
    """A source split and matched to one model.

    Attributes:
        train: ``tf.data.Dataset`` of ``(inputs, targets)`` batches, reshuffled each epoch
            (seeded), prefetched.
        val: The validation batches in a fixed order, or ``None`` when ``val_split=0``.
        test: The held-out batches in a fixed order; no example (for image sources: no
            image) of it is in train or val.
        class_names: Label ``i`` is ``class_names[i]``; ``None`` if the model has no
            classification output.
        counts: Examples per split.
        fingerprint: SHA-256 over the source's identity and content, its options, the
            split settings and the model contract: equal arguments give an equal
            fingerprint; changed file content gives another.
        source: JSON-ready record: source, kind, options, split settings, content hash,
            package versions, and ``kwargs`` to rebuild it:
            ``splits(**source["kwargs"], for_model=model)``.
        vocabulary: Word ``i`` of a ``tokens`` input's ids (0 padding ``""``, 1 unknown
            ``"[UNK]"``), built from the training split; ``None`` without word inputs.
    """

    train: Any
    val: Any | None
    test: Any
    class_names: tuple[str, ...] | None
    counts: dict[str, int]
    fingerprint: str
    source: dict[str, Any]
    vocabulary: tuple[str, ...] | None
    _plan: Any = field(default=None, repr=False, compare=False)

    def arrays(self, split: str, limit: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Unbatched NumPy ``(inputs, targets)`` of a split, in its fixed order.

        Args:
            split: ``"train"`` (not shuffled here), ``"val"`` or ``"test"``.
            limit: Only the first this many rows.

        Example:
            >>> x, y = data.arrays("test", limit=8)  # doctest: +SKIP
            >>> x["image"].shape, y["probabilities"].shape  # doctest: +SKIP
            ((8, 64, 64, 3), (8, 10))
        """
        import numpy as np

        n = len(self._plan.split(split))
        rows = n if limit is None else max(0, min(int(limit), n))
        batches = -(-rows // self._plan.batch_size)
        xs: dict[str, list[Any]] = {}
        ys: dict[str, list[Any]] = {}
        for x, y in self._plan.dataset(split, shuffle=False).take(batches):
            for out, part in ((xs, x), (ys, y)):
                for key, value in part.items():
                    out.setdefault(key, []).append(value.numpy())
        inputs = {k: np.concatenate(v)[:rows] for k, v in xs.items()}
        return inputs, {k: np.concatenate(v)[:rows] for k, v in ys.items()}

    def labels(self, split: str) -> Any:
        """The int64 class labels of a split, in the order of :meth:`arrays`.

        Example:
            >>> data.labels("test")[:4]  # doctest: +SKIP
            array([3, 7, 7, 0])
        """
        return self._plan.split(split).labels.copy()


def peek(source: str | os.PathLike[str], **options: Any) -> SourceInfo:
    """What a source holds (kind, modalities, class names), without loading it or TensorFlow.

    Args:
        source: A built-in name (:data:`SOURCES`), an image folder or a text file.
        **options: The source's options, e.g. ``label_column="sentiment"``.

    Raises:
        ZooError: an unknown source or option, or an unreadable text file.

    Example:
        >>> info = peek("digits")
        >>> info.modalities, len(info.class_names)
        (('image',), 10)
    """
    src = _sources.resolve(source, options)
    names, text = _sources.describe(src)
    return SourceInfo(src.kind, MODALITIES[src.kind], names, text)


def load(
    source: str | os.PathLike[str], *, for_model: Any, split: str = "train", **kwargs: Any
) -> Any:
    """One split of :func:`splits` (same arguments): a batched ``tf.data.Dataset``.

    Example:
        >>> ds = load("sentiment", for_model="bert_classifier_tiny", split="val")  # doctest: +SKIP
        >>> sorted(ds.element_spec[0])  # doctest: +SKIP
        ['padding_mask', 'segment_ids', 'token_ids']
    """
    if split not in ("train", "val", "test"):
        raise ZooError(f"split={split!r}; expected 'train', 'val' or 'test'.")
    found = getattr(splits(source, for_model=for_model, **kwargs), split)
    if found is None:
        raise ZooError("split='val' but val_split=0 gives no val split; pass val_split > 0.")
    return found


def splits(
    source: str | os.PathLike[str],
    *,
    for_model: Any,
    batch_size: int = 32,
    val_split: float = 0.1,
    test_split: float = 0.2,
    seed: int = 0,
    limit: int | None = None,
    model_overrides: dict[str, Any] | None = None,
    **options: Any,
) -> ModelData:
    """Train / val / test pipelines of a source whose elements fit ``for_model``.

    Splits are class-stratified and seeded. ``digits``, ``digit-pairs`` and ``sentiment``
    hold out ``test_split`` per class as their loaders do; ``cifar10`` and ``imdb`` keep
    their official test sets; files and folders are split here. ``val_split`` of all
    examples (of the official training set for cifar10/imdb) is carved from training.

    Args:
        source: ``"digits"``, ``"sentiment"``, ``"digit-pairs"``, ``"cifar10"``,
            ``"imdb"``, an image folder (one subfolder per class) or a ``.csv`` /
            ``.jsonl`` / ``.json`` file of texts and labels.
        for_model: A registered model name (its recipe: nothing is built) or a Keras model
            (its inputs, outputs and loss; its recipe too if it came from ``zoo.get``).
        batch_size: Examples per batch.
        val_split: Share held out for validation, in [0, 1); 0 gives no val split.
        test_split: Share held out for testing, in (0, 1).
        seed: Seed of the splits, of the word vocabulary's split and of the shuffling.
        limit: At most this many examples per split (class shares kept), for quick runs.
        model_overrides: Recipe overrides when ``for_model`` is a name, as in ``zoo.get``.
        **options: Source options: ``text_column``/``label_column`` (text files),
            ``min_abs_rating`` (sentiment), ``download`` (cifar10, imdb; default False).

    Returns:
        The splits, class names, counts, fingerprint, a source record and the vocabulary.

    Raises:
        ZooError: naming the input or output and what was expected when the source does
            not fit the model (modalities, channels, more classes than ``num_classes``),
            for an unknown source, option or column, an empty source, or missing files.

    Example:
        >>> data = splits(  # doctest: +SKIP
        ...     "digit-pairs", for_model="cnn_lstm_fusion_tiny", limit=64
        ... )
        >>> model = zoo.get("cnn_lstm_fusion_tiny", seed=0)  # doctest: +SKIP
        >>> model.fit(data.train, validation_data=data.val, epochs=1)  # doctest: +SKIP
    """
    settings = _check_settings(batch_size, val_split, test_split, seed, limit)
    src = _sources.resolve(source, options)
    con = contract(for_model, model_overrides)
    _check_fit(src, con)
    image = next((i for i in con.inputs.values() if i.kind == "image"), None)
    shape = ((image.shape[0], image.shape[1]), image.shape[2]) if image else None
    raw = _sources.load_raw(
        src, val_split=val_split, test_split=test_split, seed=seed, limit=limit, image=shape
    )
    _check_classes(src, con, raw.class_names)
    for name in ("train", "val", "test"):
        part = getattr(raw, name)
        if part is not None and len(part) == 0:
            raise ZooError(
                f"source {src.given!r}: the {name} split is empty (counts: train "
                f"{len(raw.train)}, test {len(raw.test)}); expected enough examples for "
                "every split: add examples, or lower val_split/test_split."
            )
    plan = _plan(con, raw, batch_size, seed)
    record = _record(src, con, raw, settings)
    return ModelData(
        train=plan.dataset("train", shuffle=True),
        val=plan.dataset("val", shuffle=False) if raw.val is not None else None,
        test=plan.dataset("test", shuffle=False),
        class_names=raw.class_names if con.classification else None,
        counts={n: len(getattr(raw, n) or ()) for n in ("train", "val", "test")},
        fingerprint=_fingerprint(record),
        source=record,
        vocabulary=plan.vocabulary,
        _plan=plan,
    )


def _check_settings(
    batch_size: int, val_split: float, test_split: float, seed: int, limit: int | None
) -> dict[str, Any]:
    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    problems = []
    if not whole(batch_size) or batch_size < 1:
        problems.append(f"batch_size={describe(batch_size)}; expected an integer >= 1")
    if not isinstance(val_split, (int, float)) or not 0 <= val_split < 1:
        problems.append(f"val_split={describe(val_split)}; expected a share in [0, 1), e.g. 0.1")
    if not isinstance(test_split, (int, float)) or not 0 < test_split < 1:
        problems.append(f"test_split={describe(test_split)}; expected a share in (0, 1), e.g. 0.2")
    elif not problems and val_split + test_split >= 1:
        problems.append(
            f"val_split + test_split = {val_split + test_split:g}; expected below 1 so "
            "examples are left for training"
        )
    if not whole(seed):
        problems.append(f"seed={describe(seed)}; expected an integer")
    if limit is not None and (not whole(limit) or limit < 1):
        problems.append(f"limit={describe(limit)}; expected None or an integer >= 1")
    if problems:
        raise ZooError("splits: " + "; ".join(problems) + ".")
    return {
        "batch_size": batch_size,
        "val_split": float(val_split),
        "test_split": float(test_split),
        "seed": seed,
        "limit": limit,
    }


def _check_fit(src: Resolved, con: Contract) -> None:
    """The source's modalities feed the model's inputs; its images' channels can fit."""
    for spec in con.inputs.values():
        if spec.kind == "other":
            raise ZooError(
                f"{con.label}: input {spec.name!r} (shape {list(spec.shape)}, {spec.dtype}) "
                "cannot be filled from a data source; expected image inputs [H, W, C] and "
                "text inputs (token ids). Feed such a model arrays directly."
            )
    have, want = MODALITIES[src.kind], con.modalities
    if set(have) != set(want):
        takes = ", ".join(
            f"{s.name!r} ({'image' if s.kind == 'image' else 'text'} {list(s.shape)} {s.dtype})"
            for s in con.inputs.values()
        )
        raise ZooError(
            f"source {src.given!r} holds {' + '.join(have)}, but {con.label} takes {takes}: "
            f"expected a source with {' + '.join(want) or 'nothing'}, e.g. "
            f"{_SUGGEST.get(tuple(want), 'none of the built-in sources')}."
        )
    from zoo.data._pipeline import check_channels

    for spec in con.inputs.values():
        if spec.kind == "image" and src.kind in _CHANNELS:
            check_channels(spec, _CHANNELS[src.kind], src.given)


def _check_classes(src: Resolved, con: Contract, names: tuple[str, ...]) -> None:
    for out in con.classification:
        room = 2 if out.encoding == "binary" else out.num_classes
        if len(names) > room:
            what = "one sigmoid unit (2 classes)" if room == 2 and out.num_classes == 1 else (
                f"{out.num_classes} classes"
            )  # fmt: skip
            raise ZooError(
                f"output {out.name!r} of {con.label} has {what}, but source {src.given!r} has "
                f"{len(names)} classes ({', '.join(names[:10])}{' …' if len(names) > 10 else ''}); "
                f"expected at most {room}. Rebuild the model with num_classes={len(names)} "
                f"(zoo.get(name, num_classes={len(names)}) / --set num_classes={len(names)})."
            )


def _plan(con: Contract, raw: Any, batch_size: int, seed: int) -> Any:
    from zoo.data import _pipeline as pl

    parts = {n: p for n in ("train", "val", "test") if (p := getattr(raw, n)) is not None}
    tokens: dict[str, dict[str, Any]] = {n: {} for n in parts}
    word_inputs = [i for i in con.inputs.values() if i.kind == "words"]
    vocab = None
    if word_inputs:
        assert con.vocab_cap is not None and raw.train.texts is not None
        vocab = pl.vocabulary(raw.train.texts, con.vocab_cap)
        for n, part in parts.items():
            tokens[n].update(
                {i.name: pl.word_ids(part.texts, vocab, i.shape[0]) for i in word_inputs}
            )
    bert = [i.name for i in con.inputs.values() if i.kind == "bert"]
    if bert:
        import zoo

        pre = zoo.preprocessor(con.recipe or "", **con.overrides)
        for n, part in parts.items():
            tokens[n].update(pl.preprocessed(pre, part.texts, bert))
    hooked, copied = _reconstructions(con)
    return pl.Plan(con, raw, batch_size, seed, vocab, tokens, hooked, copied)


def _reconstructions(con: Contract) -> tuple[tuple[str, ...], dict[str, str]]:
    """Outputs the family's targets hook fills, and outputs copied from a same-shape input."""
    import numpy as np

    rest = [o for o in con.outputs.values() if o.task != "classification"]
    hooked: tuple[str, ...] = ()
    if rest and con.targets_hook is not None:
        probe = {n: np.zeros((1, *i.shape), dtype=i.dtype) for n, i in con.inputs.items()}
        given = con.targets_hook(probe)
        hooked = tuple(o.name for o in rest if o.name in given)
    copied = {}
    for out in rest:
        if out.name in hooked:
            continue
        same = [i.name for i in con.inputs.values() if i.shape == out.shape]
        if not same:
            raise ZooError(
                f"output {out.name!r} of {con.label} (shape {list(out.shape)}, task "
                f"{out.task}) has no targets: a source gives class labels for classification "
                "outputs, and reconstruction outputs need a family targets hook or an input "
                "of the same shape. Expected a classifier or an autoencoder."
            )
        copied[out.name] = same[0]
    return hooked, copied


def _record(src: Resolved, con: Contract, raw: Any, settings: dict[str, Any]) -> dict[str, Any]:
    given = {k: v for k, v in src.options.items() if v != _sources.OPTIONS[src.kind][k]}
    where = str(src.path) if src.path is not None else src.given
    return {
        "source": src.given,
        "kind": src.kind,
        "path": str(src.path) if src.path is not None else None,
        "options": dict(src.options),
        **settings,
        "content_sha256": raw.content,
        "versions": raw.info.get("versions", {}),
        "test": raw.info.get("test"),
        "model": con.summary(),
        "kwargs": {"source": where, **settings, **given},
    }


def _fingerprint(record: dict[str, Any]) -> str:
    """SHA-256 of what decides the examples: not the batch size, path or fetch options."""
    builtin = record["kind"] in SOURCES
    ident = {
        "source": record["source"] if builtin else None,
        "kind": record["kind"],
        "content_sha256": record["content_sha256"],
        "options": {k: v for k, v in record["options"].items() if k not in _sources.FETCH_OPTIONS},
        **{k: record[k] for k in ("val_split", "test_split", "seed", "limit", "versions", "model")},
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()

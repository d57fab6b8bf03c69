"""Handwritten digits (8×8 grey, 10 classes) from scikit-learn's bundled copy, offline.

scikit-learn ships the UCI "optical recognition of handwritten digits" test set (1,797
images, 8×8 pixels, values 0–16) inside the package (``sklearn/datasets/data``), so
:func:`sklearn.datasets.load_digits` reads it without a network. :func:`digits` scales the
pixels to 0–255 and splits per class; :func:`to_rgb` upsamples to an image model's input
size and repeats the grey channel three times. NumPy and scikit-learn are imported only
when called.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

from zoo.data._split import check_split_args, stratified_split
from zoo.errors import ZooError

#: The pip requirement the digits need (also in the ``zoo[data]`` extra).
REQUIREMENT = "scikit-learn>=1.9.1,<2"
#: How to install it, named in errors.
INSTALL_HINT = f'pip install "{REQUIREMENT}" (or the zoo extra: pip install "zoo[data]")'
#: Label ``i`` is the digit ``i``.
CLASS_NAMES = tuple(str(d) for d in range(10))
#: Pixel values in the source data run from 0 to this.
SOURCE_MAX = 16.0


@dataclass(frozen=True)
class LabelledImages:
    """Grey images with integer labels.

    Attributes:
        images: float32 ``[n, 8, 8]``, pixel values 0–255.
        labels: int64 ``[n]``, the digit shown.
        index: int64 ``[n]``, each image's row in scikit-learn's dataset.
    """

    images: Any
    labels: Any
    index: Any

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[str, int]:
        """Images per class name."""
        return {name: int((self.labels == i).sum()) for i, name in enumerate(CLASS_NAMES)}


@dataclass(frozen=True)
class Digits:
    """A train/test split of the digits and where it came from."""

    train: LabelledImages
    test: LabelledImages
    source: dict[str, Any] = field(default_factory=dict)


def digits(*, test_fraction: float = 0.2, seed: int = 0, limit: int | None = None) -> Digits:
    """The 1,797 scikit-learn digits, class-stratified into train and test.

    Args:
        test_fraction: Share of each class held out, in (0, 1).
        seed: Seed of the shuffle; the same arguments give the same splits.
        limit: At most this many images per split (class shares kept, at least one each).

    Raises:
        ZooError: scikit-learn is not installed (the message gives the pip command) or an
            argument is out of range.

    Example:
        >>> data = digits()
        >>> len(data.train), len(data.test), float(data.test.images.max())
        (1438, 359, 255.0)
    """
    import numpy as np

    check_split_args("digits", test_fraction, limit, len(CLASS_NAMES))
    images, labels, info = _load()
    by_class = [np.flatnonzero(labels == c).tolist() for c in range(len(CLASS_NAMES))]
    splits = stratified_split(by_class, test_fraction=test_fraction, seed=seed, limit=limit)
    train, test = (_labelled(images, labels, [i for i, _ in s]) for s in splits)
    source = {**info, "test_fraction": test_fraction, "seed": seed, "limit": limit}
    return Digits(train, test, source)


def to_rgb(images: Any, size: tuple[int, int]) -> Any:
    """Nearest-neighbour upsample ``[n, h, w]`` grey images to ``[n, H, W, 3]`` float32.

    Example:
        >>> to_rgb(digits().test.images[:2], (224, 224)).shape
        (2, 224, 224, 3)
    """
    import numpy as np

    images = np.asarray(images, dtype=np.float32)
    rows = np.arange(size[0]) * images.shape[1] // size[0]
    cols = np.arange(size[1]) * images.shape[2] // size[1]
    big = images[:, rows][:, :, cols]
    return np.repeat(big[..., None], 3, axis=-1)


def _load() -> tuple[Any, Any, dict[str, Any]]:
    import numpy as np

    if importlib.util.find_spec("sklearn") is None:
        raise ZooError(
            "the digits come from scikit-learn (its bundled copy of the UCI handwritten "
            f"digits), which is not installed; install it with: {INSTALL_HINT}"
        )
    from importlib import metadata

    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float32) * (255.0 / SOURCE_MAX)
    info = {
        "package": "scikit-learn",
        "version": metadata.version("scikit-learn"),
        "dataset": "sklearn.datasets.load_digits (UCI optical digits, 8x8)",
        "images": len(images),
    }
    return images, np.asarray(bunch.target, dtype=np.int64), info


def _labelled(images: Any, labels: Any, index: list[int]) -> LabelledImages:
    import numpy as np

    rows = np.asarray(index, dtype=np.int64)
    return LabelledImages(images[rows], labels[rows], rows)

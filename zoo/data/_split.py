"""Deterministic, class-stratified train/test splits shared by the loaders (no NumPy)."""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from typing import TypeVar

from zoo.errors import ZooError

T = TypeVar("T", bound=Hashable)


def check_split_args(where: str, test_fraction: float, limit: int | None, classes: int) -> None:
    """Raise a :class:`ZooError` naming a bad ``test_fraction`` or ``limit``."""
    if not 0 < test_fraction < 1:
        raise ZooError(
            f"{where}: test_fraction={test_fraction!r}; expected a value in (0, 1), e.g. 0.2."
        )
    bad = isinstance(limit, bool) or not isinstance(limit, int) or limit < classes
    if limit is not None and bad:
        raise ZooError(
            f"{where}: limit={limit!r}; expected None or an integer >= {classes} (at least "
            "one example per class)."
        )


def stratified_split(
    by_class: Sequence[list[T]], *, test_fraction: float, seed: int, limit: int | None
) -> tuple[list[tuple[T, int]], list[tuple[T, int]]]:
    """Split each class's items into train and test, in the same proportions.

    Each class (label = its position in ``by_class``) is shuffled with ``seed`` and
    ``round(n * test_fraction)`` of it (at least 1, leaving at least 1 for training) goes
    to the test split. With ``limit``, each split keeps at most that many items, each
    class in its share (largest remainder, at least one). Both splits are then shuffled.

    Returns:
        ``(train, test)``: lists of ``(item, label)``.

    Example:
        >>> stratified_split([["a", "b", "c"], ["x", "y"]], test_fraction=0.4, seed=0,
        ...                  limit=None)[1]
        [('a', 0), ('y', 1)]
    """
    rng = random.Random(seed)
    train: list[tuple[T, int]] = []
    test: list[tuple[T, int]] = []
    for label, items in enumerate(by_class):
        items = list(items)
        rng.shuffle(items)
        n_test = min(max(1, round(len(items) * test_fraction)), len(items) - 1)
        test += [(t, label) for t in items[:n_test]]
        train += [(t, label) for t in items[n_test:]]
    splits = [_limited(s, limit, len(by_class)) for s in (train, test)]
    for split in splits:
        rng.shuffle(split)
    return splits[0], splits[1]


def _limited(split: list[tuple[T, int]], limit: int | None, classes: int) -> list[tuple[T, int]]:
    """At most ``limit`` items, each class in its share of the split (at least one)."""
    if limit is None or len(split) <= limit:
        return list(split)
    groups = [[x for x in split if x[1] == c] for c in range(classes)]
    exact = [limit * len(g) / len(split) for g in groups]
    quota = [max(1, int(e)) if g else 0 for e, g in zip(exact, groups, strict=True)]
    by_remainder = sorted(range(classes), key=lambda c: exact[c] - int(exact[c]), reverse=True)
    for c in by_remainder:
        if sum(quota) >= limit:
            break
        if quota[c] < len(groups[c]):
            quota[c] += 1
    while sum(quota) > limit:  # the at-least-one floor overshot: trim the largest class
        c = max(range(classes), key=lambda k: quota[k])
        quota[c] -= 1
    return [x for c, g in enumerate(groups) for x in g[: quota[c]]]

"""Word-level sentiment from the VADER lexicon: real human ratings, offline.

The PyPI package ``vadersentiment`` ships ``vader_lexicon.txt``: about 7,500 English words,
phrases, slang and emoticons, each rated by 10 people from −4 (extremely negative) to +4
(extremely positive). One line per entry, tab-separated: token, mean rating, standard
deviation, the 10 raw ratings. :func:`sentiment_lexicon` keeps the word-like entries, labels
those whose mean is at least ``min_abs_rating`` away from neutral, and splits them into a
deterministic, class-stratified train/test pair. Nothing here imports TensorFlow or NumPy.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import re
from dataclasses import dataclass, field
from typing import Any

from zoo.data._split import check_split_args, stratified_split
from zoo.errors import ZooError

#: Module name of the ``vadersentiment`` distribution.
VADER_MODULE = "vaderSentiment"
#: The lexicon file inside that package.
VADER_FILE = "vader_lexicon.txt"
#: The pip requirement the lexicon comes from (a zoo dependency).
REQUIREMENT = "vadersentiment>=3.3.2,<4"
#: How to install it, named in errors.
INSTALL_HINT = f'pip install "{REQUIREMENT}"'
#: Label ``i`` is ``CLASS_NAMES[i]``.
CLASS_NAMES = ("negative", "positive")
#: Word-like: lowercase ASCII letters, optionally joined by one apostrophe, hyphen or space
#: ("can't stand", "self-confident"). Emoticons, digits and punctuation tokens fail it.
WORD = re.compile(r"[a-z]+(?:['\- ][a-z]+)*\Z")
#: Emoticons spelled with letters only (X-D, X-P), which the pattern above would keep.
LETTER_EMOTICONS = frozenset({"xd", "xp", "x-d", "x-p"})
#: The rating scale of the lexicon.
MAX_RATING = 4.0


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with integer class labels (``CLASS_NAMES[label]``), in a fixed order.

    Attributes:
        texts: The examples.
        labels: One label per text: 0 = negative, 1 = positive.
        ratings: The lexicon's mean human rating of each text (−4 … +4).
    """

    texts: tuple[str, ...]
    labels: tuple[int, ...]
    ratings: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def counts(self) -> dict[str, int]:
        """Examples per class name, e.g. ``{"negative": 630, "positive": 487}``."""
        return {name: self.labels.count(i) for i, name in enumerate(CLASS_NAMES)}


@dataclass(frozen=True)
class SentimentLexicon:
    """A train/test split of the lexicon and where it came from.

    Attributes:
        train: Training examples.
        test: Held-out examples; no text occurs in both splits.
        source: Package, file, version, filtering and split settings, counts.
    """

    train: LabelledTexts
    test: LabelledTexts
    source: dict[str, Any] = field(default_factory=dict)


def sentiment_lexicon(
    *,
    min_abs_rating: float = 1.0,
    test_fraction: float = 0.2,
    seed: int = 0,
    limit: int | None = None,
) -> SentimentLexicon:
    """Positive vs negative English words from the VADER lexicon, split train/test.

    Entries that are not word-like (emoticons such as ``:-)``, tokens with digits or
    punctuation) are dropped; a token listed twice gets the mean of all its ratings. A
    word is positive (label 1) if its mean rating is ``>= min_abs_rating``, negative
    (label 0) if ``<= -min_abs_rating``; the words in between are left out. Each class is
    shuffled with ``seed`` and ``test_fraction`` of it goes to the test split, so both
    splits keep the class proportions. The same arguments give the same splits.

    Args:
        min_abs_rating: Distance from neutral (0) a mean rating needs, in (0, 4].
        test_fraction: Share of each class held out, in (0, 1).
        seed: Seed of the shuffle.
        limit: At most this many examples per split (class proportions kept), e.g. for
            quick runs; ``None`` keeps all.

    Returns:
        The two splits and a ``source`` record (package version, file, counts).

    Raises:
        ZooError: ``vadersentiment`` is not installed (the message gives the pip
            command), its lexicon file is missing or malformed, or an argument is out
            of range.

    Example:
        >>> data = sentiment_lexicon(min_abs_rating=1.0, test_fraction=0.2, seed=0)
        >>> len(data.train), len(data.test)
        (4468, 1117)
        >>> data.test.counts()
        {'negative': 630, 'positive': 487}
    """
    _check_args(min_abs_rating, test_fraction, limit)
    ratings, info = read_vader_lexicon()
    by_class: list[list[str]] = [[], []]
    for token in sorted(ratings):
        if not is_word_like(token):
            continue
        mean = ratings[token]
        if mean >= min_abs_rating:
            by_class[1].append(token)
        elif mean <= -min_abs_rating:
            by_class[0].append(token)
    for label, tokens in enumerate(by_class):
        if len(tokens) < 2:
            raise ZooError(
                f"sentiment_lexicon: only {len(tokens)} {CLASS_NAMES[label]} words have "
                f"|mean rating| >= {min_abs_rating}; expected at least 2 per class. Lower "
                "min_abs_rating."
            )
    splits = stratified_split(by_class, test_fraction=test_fraction, seed=seed, limit=limit)
    source = {
        **info,
        "word_like": sum(1 for t in ratings if is_word_like(t)),
        "kept": {name: len(by_class[i]) for i, name in enumerate(CLASS_NAMES)},
        "min_abs_rating": min_abs_rating,
        "test_fraction": test_fraction,
        "seed": seed,
        "limit": limit,
    }
    train_set, test_set = (_labelled(s, ratings) for s in splits)
    return SentimentLexicon(train_set, test_set, source)


def is_word_like(token: str) -> bool:
    """Whether a lexicon token is a word or short phrase (not an emoticon or symbol).

    Example:
        >>> [is_word_like(t) for t in ("abandon", "can't stand", ":-)", "<3", "xd")]
        [True, True, False, False, False]
    """
    return bool(WORD.match(token)) and token not in LETTER_EMOTICONS


def read_vader_lexicon() -> tuple[dict[str, float], dict[str, Any]]:
    """Every token of the installed VADER lexicon with its mean rating.

    A token listed more than once gets the mean of all its raw ratings.

    Returns:
        ``{token: mean rating}`` and a record of the file (package, version, path, line
        and token counts).

    Raises:
        ZooError: the package is not installed, the file is missing, or a line does not
            have the expected four tab-separated fields.

    Example:
        >>> ratings, info = read_vader_lexicon()
        >>> ratings["good"], info["version"]
        (1.9, '3.3.2')
    """
    text, info = _lexicon_text()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    lines = [line for line in text.splitlines() if line.strip()]
    for number, line in enumerate(lines, start=1):
        token, mean, count = _parse_line(line, number, info["path"])
        sums[token] = sums.get(token, 0.0) + mean * count
        counts[token] = counts.get(token, 0) + count
    ratings = {t: round(sums[t] / counts[t], 4) for t in sums}
    return ratings, {**info, "lines": len(lines), "tokens": len(ratings)}


def _lexicon_text() -> tuple[str, dict[str, Any]]:
    if importlib.util.find_spec(VADER_MODULE) is None:
        raise ZooError(
            f"the sentiment data comes from the PyPI package 'vadersentiment' (module "
            f"{VADER_MODULE!r}), which is not installed; install it with: {INSTALL_HINT}"
        )
    resource = importlib.resources.files(VADER_MODULE) / VADER_FILE
    if not resource.is_file():
        raise ZooError(
            f"the installed 'vadersentiment' package has no {VADER_FILE} ({resource}); "
            f"reinstall it with: {INSTALL_HINT} --force-reinstall"
        )
    from importlib import metadata

    dists = metadata.packages_distributions().get(VADER_MODULE) or []
    version = metadata.version(dists[0]) if dists else "unknown"
    info = {"package": "vadersentiment", "version": version, "path": str(resource)}
    return resource.read_text(encoding="utf-8"), info


def _parse_line(line: str, number: int, path: str) -> tuple[str, float, int]:
    """One line (token, mean, std, raw ratings; tab-separated) → token, mean, rating count."""
    parts = line.split("\t")
    try:
        if len(parts) != 4:
            raise ValueError(f"{len(parts)} tab-separated fields")
        raw = json.loads(parts[3])
        if not isinstance(raw, list) or not raw:
            raise ValueError("no list of raw ratings")
        return parts[0], float(parts[1]), len(raw)
    except ValueError as exc:
        raise ZooError(
            f"{path}: line {number} {line[:60]!r}: {exc}; expected token, mean, std and a "
            f"list of ratings separated by tabs. Reinstall with: {INSTALL_HINT} "
            "--force-reinstall"
        ) from None


def _check_args(min_abs_rating: float, test_fraction: float, limit: int | None) -> None:
    if not 0 < min_abs_rating <= MAX_RATING:
        raise ZooError(
            f"sentiment_lexicon: min_abs_rating={min_abs_rating!r}; expected a value in "
            f"(0, {MAX_RATING:g}] (ratings run from -4 to +4), e.g. 1.0."
        )
    check_split_args("sentiment_lexicon", test_fraction, limit, len(CLASS_NAMES))


def _labelled(split: list[tuple[str, int]], ratings: dict[str, float]) -> LabelledTexts:
    return LabelledTexts(
        tuple(t for t, _ in split),
        tuple(label for _, label in split),
        tuple(ratings[t] for t, _ in split),
    )

"""Error types raised by zoo.

Every error says what was received, what was expected and how to fix it. All of
them derive from :class:`ZooError` (a ``ValueError``) so callers can catch one type.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class ZooError(ValueError):
    """Base class of every error zoo raises on bad input."""


class RecipeError(ZooError):
    """A recipe file is malformed or inconsistent.

    Attributes:
        file: The recipe file (or ``None`` for a recipe given as data).
        key: Dotted key path inside the recipe, e.g. ``params.lstm_units``.
        problems: One line per problem found.
    """

    def __init__(self, file: Path | str | None, problems: list[tuple[str, str]]):
        self.file = Path(file) if file is not None else None
        self.problems = problems
        self.key = problems[0][0] if problems else ""
        where = str(self.file) if self.file is not None else "<recipe>"
        lines = [f"{where}: {key or '<top level>'}: {msg}" for key, msg in problems]
        super().__init__("invalid recipe\n  " + "\n  ".join(lines))


class OverrideError(ZooError):
    """An override passed to ``zoo.get``/``zoo.info`` (or ``--set``) is invalid."""


class UnknownModelError(ZooError, KeyError):
    """No registered model has the requested name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class DuplicateModelError(ZooError):
    """Two recipe files declare the same model name."""


class ModelTooLargeError(ZooError):
    """A model would hold more parameters than the limit (refused before allocation)."""


class ContractError(ZooError):
    """A built model does not match the I/O contract of its recipe."""


class InputContractError(ZooError):
    """Inputs given to a loaded artifact do not match its input contract.

    Attributes:
        problems: One line per mismatch (missing or unexpected names, dtype, rank, dims).
    """

    def __init__(self, message: str, problems: list[str]):
        super().__init__(message)
        self.problems = problems


class UnsupportedVersionError(ZooError, ImportError):
    """An installed library is older than the oldest release zoo accepts.

    Raised by ``import zoo`` (see :mod:`zoo.versions`), so it is an ``ImportError`` too.

    Attributes:
        package: Distribution name, e.g. ``keras``.
        installed: The installed version.
        minimum: The oldest accepted version.
    """

    def __init__(self, message: str, *, package: str, installed: str, minimum: str):
        super().__init__(message)
        self.package = package
        self.installed = installed
        self.minimum = minimum


def closest(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` of ``choices`` that look like ``word`` (best first)."""
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=0.5)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` or an empty string."""
    hits = closest(word, choices)
    if not hits:
        return ""
    return " Did you mean " + " or ".join(repr(h) for h in hits) + "?"


def describe(value: Any) -> str:
    """Short ``repr`` of a received value with its type, for error messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"

"""Names a package exports but imports on first access (PEP 562), so importing it stays cheap.

Example:
    >>> __getattr__, __dir__ = lazy_names(__name__, {"Params": "zoo._family"})  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_names(
    module: str, homes: dict[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A module's ``__getattr__`` and ``__dir__`` for names defined in other modules.

    Args:
        module: The module the names belong to (its ``__name__``).
        homes: Name → the module that defines it; imported when the name is first used,
            then kept in ``module``'s globals so later lookups are plain attribute reads.

    Returns:
        ``(__getattr__, __dir__)`` to assign at the module's top level.
    """

    def getattr_(name: str) -> object:
        if name not in homes:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(homes[name]), name)
        setattr(sys.modules[module], name, value)
        return value

    def dir_() -> list[str]:
        return sorted({*vars(sys.modules[module]), *homes})

    return getattr_, dir_

"""The terminal console every zoo command and report prints through."""

from __future__ import annotations

import sys
from typing import Any


def console() -> Any:
    """A rich console; 160 columns when stdout is not a terminal (logs, CI, pipes)."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)

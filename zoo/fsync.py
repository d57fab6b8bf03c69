"""Flush written files and folders to disk before an ``os.replace`` makes them visible.

Shared by the export folders (:mod:`zoo.exporters`) and the ``zoo fit`` run folders.

Example:
    >>> from zoo.fsync import fsync_tree
    >>> fsync_tree(Path("runs/.my-run.staging-123"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_tree(path: Path) -> None:
    """Fsync every file and folder under ``path`` (and ``path`` itself)."""
    for p in [*(path.rglob("*") if path.is_dir() else []), path]:
        fsync_one(p)


def fsync_one(path: Path) -> None:
    """Fsync one file or folder."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Atomic artifact folders: stage, fsync, swap with ``os.replace``, manifest last.

``OUT/NAME`` is only ever a complete artifact set: a new set is written into a
staging folder next to it (same filesystem), then swapped in. A run killed before
the swap leaves the previous set; killed during the swap, the previous set is kept
as ``.NAME.old-*`` and restored by the next export.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.fsync import fsync_one, fsync_tree

MANIFEST = "manifest.json"


def sha256_path(path: Path) -> str:
    """sha256 of a file, or of a folder (sorted relative paths and file contents)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def size_bytes(path: Path) -> int:
    """Size on disk of a file or of all files in a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Staging:
    """Context for writing ``OUT/NAME`` atomically.

    Example:
        >>> with Staging(out, "my_model") as stage:  # doctest: +SKIP
        ...     write_artifacts(stage.path)
        ...     stage.commit(manifest.to_json())
    """

    def __init__(self, out: Path, name: str):
        self.out = Path(out)
        self.name = name
        self.final = self.out / name
        self.path = self.out / f".{name}.staging-{uuid.uuid4().hex[:8]}"
        self.committed = False

    def __enter__(self) -> Staging:
        self.out.mkdir(parents=True, exist_ok=True)
        self._recover()
        if self.final.exists() and not (self.final / MANIFEST).is_file():
            raise ZooError(
                f"{self.final} exists and is not a zoo export (no {MANIFEST}); nothing was "
                "written. Choose another output folder or remove it."
            )
        self.path.mkdir()
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)

    def _recover(self) -> None:
        """Restore a previous set left by an interrupted swap; drop stale staging folders."""
        olds = sorted(self.out.glob(f".{self.name}.old-*"))
        if not self.final.exists() and olds and (olds[-1] / MANIFEST).is_file():
            os.replace(olds[-1], self.final)
            olds = olds[:-1]
        for stale in [*olds, *self.out.glob(f".{self.name}.staging-*")]:
            shutil.rmtree(stale, ignore_errors=True)

    def commit(self, manifest: str) -> Path:
        """Write the manifest last, fsync, and swap the staging folder into place.

        Args:
            manifest: The text of ``manifest.json`` (see
                :meth:`zoo.exporters.manifest.Manifest.to_json`).
        """
        tmp = self.path / (MANIFEST + ".tmp")
        tmp.write_text(manifest)
        os.replace(tmp, self.path / MANIFEST)
        fsync_tree(self.path)
        old = None
        if self.final.exists():
            old = self.out / f".{self.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(self.final, old)
        os.replace(self.path, self.final)
        fsync_one(self.out)
        self.committed = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final

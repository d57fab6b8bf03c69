"""Atomic artifact folders: stage, fsync, swap with ``os.replace``, manifest last.

``OUT/NAME`` is only ever a complete artifact set: a new set is written into a staging
folder next to it (same filesystem), then swapped in. A run killed before the swap leaves
the previous set; killed during the swap, the previous set is kept as ``.NAME.old-*`` and
restored by the next export.

Several processes may export into the same folder at once; both finish and the folder
holds the last complete set. Two ``flock`` locks make that safe, and neither leaves a file:

- the output folder ``OUT`` itself is locked while a process recovers leftovers, creates its
  staging folder and swaps a set in, so swaps are serial;
- each staging folder is locked by the process writing it, for as long as that process
  lives. The kernel drops a lock when its process dies, even by ``SIGKILL``: a staging
  folder that can be locked belongs to a dead process and is removed, a live one is never
  touched. (Process ids are not used: they are reused.)

Where ``fcntl`` is missing (Windows) there is no locking: one export per folder at a time.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.fsync import fsync_one, fsync_tree

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MANIFEST = "manifest.json"

#: Export folder names: what a registry name (and ``NAME.PART``) or a Keras model name may
#: be to become ``OUT/NAME``. No separators, no leading dot, nothing path-like.
FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")

#: ``errno`` values that mean the output cannot take more bytes or cannot be written.
WRITE_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for this filesystem or process limit",
    errno.EROFS: "the filesystem is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
#: The same conditions as TensorFlow's C++ writers report them (text, not ``errno``).
_WRITE_TEXTS = (
    "No space left on device",
    "Disk quota exceeded",
    "File too large",
    "Read-only file system",
)


class OutputNotWritable(ZooError):
    """The output folder cannot be written (full, read-only, no permission).

    Nothing was written: the staging folder is removed and the previous set is kept.
    """


class OutputFolderError(ZooError):
    """``OUT/NAME`` exists and is not an export this name may replace, or is path-like."""


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


def write_error(exc: BaseException) -> str | None:
    """Why ``exc`` means the output cannot be written, or ``None`` if it means something else.

    Recognizes ``OSError`` errno values (:data:`WRITE_ERRNOS`) and TensorFlow's text for the
    same conditions, also on an exception's ``__cause__``/``__context__``.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in WRITE_ERRNOS:
            return f"{WRITE_ERRNOS[current.errno]} ([Errno {current.errno}] {current.strerror})"
        text = str(current)
        for phrase in _WRITE_TEXTS:
            if phrase in text:
                return phrase.lower()
        current = current.__cause__ or current.__context__
    return None


def free_mb(path: Path) -> float | None:
    """Free space of the filesystem holding ``path`` in MB (``None`` if unknown)."""
    try:
        return shutil.disk_usage(path).free / 1e6
    except OSError:
        return None


def check_writable(out: Path) -> Path:
    """Create ``out`` if needed and prove a file can be written there; return it resolved.

    Raises:
        OutputNotWritable: naming the folder, the reason and the fix, before any work.
    """
    out = Path(out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".zoo-write-probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        with probe.open("wb") as fh:
            fh.write(b"zoo")
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
    except OSError as exc:
        reason = write_error(exc) or f"{type(exc).__name__}: {exc}"
        raise OutputNotWritable(
            f"cannot write to the output folder {out}: {reason}. Nothing was written. "
            "Choose a writable --out folder with free space."
        ) from exc
    if not out.is_dir():
        raise OutputFolderError(f"--out {out} is a file, not a folder; choose a folder.")
    return out.resolve()


def folder_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name ``OUT/NAME``, or ``None`` if it can."""
    if FOLDER_NAME.fullmatch(name) and name not in (".", ".."):
        return None
    return (
        f"received {name!r}; an export folder name is 1-128 letters, digits, '_', '.' or "
        "'-', starting with a letter or digit (no path separators, no leading dot). Rename "
        "the model (keras.Model(..., name='my_model')) or register a recipe for it."
    )


class _DirLock:
    """An exclusive ``flock`` on a folder, held until :meth:`release` or process exit."""

    def __init__(self, folder: Path, *, block: bool = True):
        self.fd: int | None = os.open(folder, os.O_RDONLY)
        self.held = True
        if fcntl is None:  # pragma: no cover - Windows
            return
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        except BlockingIOError:
            self.held = False
            self.release()

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor drops the lock
            self.fd = None


@contextlib.contextmanager
def _folder_lock(out: Path) -> Iterator[None]:
    """Hold the lock of ``OUT``: recovery, staging creation and swaps there are serial."""
    lock = _DirLock(out)
    try:
        yield
    finally:
        lock.release()


def _is_stale(staging: Path) -> bool:
    """A staging folder whose writer is gone: its lock is free (call with ``OUT`` locked).

    A staging folder is created and locked in one step under the ``OUT`` lock, so under
    that lock an unlocked one has no live writer.
    """
    try:
        probe = _DirLock(staging, block=False)
    except OSError:
        return False  # vanished or unreadable: leave it alone
    probe.release()
    return probe.held


class Staging:
    """Context for writing ``OUT/NAME`` atomically, safe against kills and concurrent writers.

    Example:
        >>> with Staging(out, "my_model") as stage:  # doctest: +SKIP
        ...     write_artifacts(stage.path)
        ...     stage.commit(manifest.to_json())
    """

    def __init__(self, out: Path, name: str):
        problem = folder_name_problem(name)
        if problem is not None:
            raise OutputFolderError(f"export folder name: {problem}")
        self.out = Path(out).expanduser()
        self.name = name
        self.final = self.out / name
        self.path = self.out / f".{name}.staging-{uuid.uuid4().hex[:8]}"
        self.committed = False
        self._lock: _DirLock | None = None

    def __enter__(self) -> Staging:
        self.out = check_writable(self.out)
        self.final = self.out / self.name
        self.path = self.out / self.path.name
        try:
            with _folder_lock(self.out):
                self.recover()
                self._check_replaceable()
                self.path.mkdir()
                self._lock = _DirLock(self.path)
        except BaseException:
            self._release()
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _check_replaceable(self) -> None:
        """Refuse to replace a symlink, a file, a non-zoo folder or another model's export."""
        final = self.final
        if final.is_symlink():
            raise OutputFolderError(
                f"{final} is a symbolic link (to {os.readlink(final)}); zoo writes only inside "
                "the output folder and never through links. Nothing was written. Remove the "
                "link or choose another --out."
            )
        if not final.exists():
            return
        manifest = final / MANIFEST
        if not final.is_dir() or not manifest.is_file():
            raise OutputFolderError(
                f"{final} exists and is not a zoo export (no {MANIFEST}); nothing was "
                "written. Choose another output folder or remove it."
            )
        import json

        try:
            owner = json.loads(manifest.read_text(encoding="utf-8")).get("name")
        except (OSError, ValueError, AttributeError):
            owner = None
        if owner != self.name:
            raise OutputFolderError(
                f"{final} holds an export of {owner!r} (per its {MANIFEST}), not of "
                f"{self.name!r}; nothing was written. Choose another --out or remove it."
            )

    def recover(self) -> list[Path]:
        """Restore a set left by an interrupted swap; remove dead processes' staging folders.

        Call with the folder lock held. Returns the folders removed.
        """
        removed = []
        olds = sorted(self.out.glob(f".{self.name}.old-*"), key=lambda p: p.stat().st_mtime)
        if not self.final.exists() and olds and (olds[-1] / MANIFEST).is_file():
            os.replace(olds[-1], self.final)
            olds = olds[:-1]
        stale = [p for p in self.out.glob(f".{self.name}.staging-*") if _is_stale(p)]
        for folder in [*olds, *stale]:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        return removed

    def commit(self, manifest: str) -> Path:
        """Write the manifest last, fsync, and swap the staging folder into place.

        Args:
            manifest: The text of ``manifest.json`` (see
                :meth:`zoo.exporters.manifest.Manifest.to_json`).
        """
        tmp = self.path / (MANIFEST + ".tmp")
        tmp.write_text(manifest)
        os.replace(tmp, self.path / MANIFEST)
        with _folder_lock(self.out):
            self._check_replaceable()  # another process may have written meanwhile
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
        self._release()
        return self.final

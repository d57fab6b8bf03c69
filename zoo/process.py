"""Facts about this process and machine: memory, protobuf runtime, CPU flags; heap trimming.

Shared by the exporters (memory per export stage) and the benchmark worker (memory per
backend). Linux reads ``/proc/self``; elsewhere the figures fall back or are ``None``.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_mb(field: str) -> float | None:
    """A ``/proc/self/status`` memory field (kB) in MB, or ``None`` off Linux."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def rss_mb() -> float | None:
    """Resident memory of this process now, in MB (``None`` where it cannot be read)."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB, since exec or the last :func:`reset_peak`.

    ``VmHWM`` of ``/proc/self/status`` belongs to the process's own address space, which
    ``exec`` replaces. ``getrusage(...).ru_maxrss`` is kept across ``fork`` + ``exec``, so a
    benchmark worker spawned by a parent holding 12 GB reported 12 GB for every backend; it
    is the fallback where ``/proc`` is missing.
    """
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, kB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale / 1024


def reset_peak() -> bool:
    """Reset this process's high-water mark to its current RSS; ``False`` if unsupported."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def protobuf_runtime() -> str:
    """The protobuf runtime of this process (``"upb"``, ``"python"`` or ``"cpp"``).

    It changes how much memory the converters need (they hold graphs as protobuf
    messages), so the export records it next to its memory figures.
    """
    from google.protobuf.internal import api_implementation

    return str(api_implementation.Type())


def trim_heap() -> None:
    """Collect garbage cycles, then give freed heap memory back to the system.

    TensorFlow's traced functions, graphs and export archives sit in reference cycles that
    hold them (and whatever buffers they own) until the cyclic collector runs; a converter
    also frees gigabytes of small blocks that glibc keeps mapped (``malloc_trim`` returns
    them; a no-op off glibc). Without both, the next stage starts from a higher floor.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def read_cpuinfo(path: Path = Path("/proc/cpuinfo")) -> tuple[str, set[str]]:
    """The CPU model name and feature flags from ``/proc/cpuinfo`` (first CPU listed).

    Shared by ``zoo doctor`` and the benchmark fingerprint. Off Linux (no such file) the
    model is ``""`` and the flags are empty.

    Example:
        >>> model, flags = read_cpuinfo()
        >>> isinstance(model, str) and isinstance(flags, set)
        True
    """
    model, flags = "", set[str]()
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return model, flags

"""Process-level helpers that keep a long export lean."""

from __future__ import annotations

import contextlib
import ctypes


def protobuf_runtime() -> str:
    """The protobuf runtime of this process (``"upb"``, ``"python"`` or ``"cpp"``).

    It changes how much memory the converters need (they hold graphs as protobuf
    messages), so the export records it next to its memory figures.
    """
    from google.protobuf.internal import api_implementation

    return str(api_implementation.Type())


def trim_heap() -> None:
    """Give freed heap memory back to the system (glibc ``malloc_trim``; no-op elsewhere).

    A converter frees gigabytes of small blocks that glibc keeps mapped; without a trim the
    next stage starts from that higher floor.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)

"""Process-level helpers that keep a long export lean."""

from __future__ import annotations

import contextlib
import ctypes
import gc


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

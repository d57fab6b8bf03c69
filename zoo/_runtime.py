"""Process-level settings that keep a conversion lean: protobuf runtime, heap trimming.

TensorFlow and tf2onnx hold graphs as protobuf messages. With protobuf's default upb
runtime, every tf2onnx optimizer pass copies each constant tensor into a message arena that
is not given back until the whole graph is freed: converting the full-size
``cnn_lstm_fusion`` (205 MB of weights) peaked at 13.4 GB. With the pure-Python runtime the
same conversion peaks at +1.1 GB and runs faster, because tensor bytes stay Python
``bytes`` objects shared between messages. The runtime is chosen once per process, when
protobuf is first imported, so only a program that owns its process (the ``zoo`` command,
the test suite) can choose it; :func:`prefer_python_protobuf` does, and leaves the
environment of child processes as it found it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

_VARIABLE = "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"


def prefer_python_protobuf() -> str:
    """Select protobuf's pure-Python runtime for this process, if protobuf is not loaded yet.

    The choice is not passed on to child processes (benchmark workers keep the default
    runtime, so their load times are those users see).

    Returns:
        The runtime in effect: ``"python"``, or ``"upb"``/``"cpp"`` when protobuf was
        imported before this call or the user chose another runtime.

    Example:
        >>> prefer_python_protobuf()
        'python'
    """
    if "google.protobuf" not in sys.modules and _VARIABLE not in os.environ:
        os.environ[_VARIABLE] = "python"
        try:
            from google.protobuf.internal import api_implementation  # noqa: F401
        finally:
            del os.environ[_VARIABLE]
    return protobuf_runtime()


def protobuf_runtime() -> str:
    """The protobuf runtime of this process (``"python"``, ``"upb"`` or ``"cpp"``)."""
    from google.protobuf.internal import api_implementation

    return str(api_implementation.Type())


def trim_heap() -> None:
    """Give freed heap memory back to the system (glibc ``malloc_trim``; no-op elsewhere).

    A converter frees gigabytes of small blocks that glibc keeps mapped; without a trim the
    next stage starts from that higher floor.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)

"""Seconds and peak resident memory per export stage (``manifest.json`` ``export_stats``).

The peak of a stage is the process's high-water mark (``VmHWM``) over that stage alone:
on Linux the mark is reset at the start of each stage (``/proc/self/clear_refs``), so a
converter that peaks and frees its memory is charged to its own stage, not to the next
one. Where the reset is not available the figure is the process peak so far, and
``peak_scope`` says so. Every stage starts with the heap trimmed
(:func:`zoo.process.trim_heap`), so a stage does not inherit its predecessor's freed but
still mapped memory. All conversions run in the exporting process, so its peak is the
peak of the whole export.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from zoo.process import peak_rss_mb, protobuf_runtime, reset_peak, rss_mb, trim_heap


class ExportStats:
    """Collects one entry per stage: seconds, peak RSS over the stage, RSS at its end.

    Example:
        >>> stats = ExportStats()
        >>> with stats.stage("build"):  # e.g. building the model
        ...     squares = [i * i for i in range(1000)]
        >>> stats.as_dict()["stages"]["build"]["seconds"]
        0.0...
    """

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, Any]] = {}
        self.scoped = True
        self.process_peak = 0.0

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        """Measure the block as stage ``name`` (repeated names add up)."""
        self.process_peak = max(self.process_peak, peak_rss_mb())
        trim_heap()
        self.scoped = reset_peak() and self.scoped
        entry = self.stages.setdefault(name, {"seconds": 0.0, "peak_rss_mb": 0.0})
        start = time.perf_counter()
        try:
            yield entry
        finally:
            entry["seconds"] = round(entry["seconds"] + time.perf_counter() - start, 3)
            peak = peak_rss_mb()
            self.process_peak = max(self.process_peak, peak)
            entry["peak_rss_mb"] = round(max(entry["peak_rss_mb"], peak), 1)
            now = rss_mb()
            if now is not None:
                entry["end_rss_mb"] = round(now, 1)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the manifest."""
        return {
            "peak_rss_mb": round(max(self.process_peak, peak_rss_mb()), 1),
            "peak_scope": "stage" if self.scoped else "process",
            "protobuf": protobuf_runtime(),
            "stages": self.stages,
        }

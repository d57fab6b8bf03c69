"""Latency of one model across backends, measured the same way for each.

:func:`run` exports the model (validated, every declared format plus the Keras file), then
for every backend × batch size × thread count starts a fresh worker process that loads the
artifact, runs it once (cold start), warms up and times calls until the median is known
within ±2%, and compares outputs with Keras. Results go to ``runs/<timestamp>-<name>/``.
The names below load on first use, so ``import zoo.benchmarks`` stays cheap.

Example:
    >>> from zoo.benchmarks import run
    >>> result = run("cnn_lstm_fusion_tiny", quick=True)  # doctest: +SKIP
    >>> result.recommended["fp32"]  # doctest: +SKIP
    'onnx:fp32'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.lazy import lazy_names

if TYPE_CHECKING:
    from zoo.benchmarks._rows import BenchResult, Plan, Row
    from zoo.benchmarks._run import recommend, run
    from zoo.benchmarks._stats import summarize

__all__ = ["BenchResult", "Plan", "Row", "recommend", "run", "summarize"]

_HOMES = {
    "BenchResult": "zoo.benchmarks._rows",
    "Plan": "zoo.benchmarks._rows",
    "Row": "zoo.benchmarks._rows",
    "recommend": "zoo.benchmarks._run",
    "run": "zoo.benchmarks._run",
    "summarize": "zoo.benchmarks._stats",
}


__getattr__, __dir__ = lazy_names(__name__, _HOMES)

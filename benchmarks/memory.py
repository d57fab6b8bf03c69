"""Does memory leak? Resident memory slope over repeated build/load-and-drop cycles.

:func:`rss_slope` calls a function ``n`` times, collecting garbage and trimming the heap
after each call, records the process's resident memory (RSS) after each one and fits a
least-squares line through the iterations after a short warm-up: the slope in MB per
iteration is what a leak adds per call (a flat line, ~0, is what dropping must give).

``python -m zoo.benchmarks.memory NAME`` exports a registered model (keras, saved_model,
tflite:fp32, onnx:fp32, unvalidated) into a scratch folder and measures, each in a fresh
process so runtimes do not share an allocator: building the model and dropping it
(``keras.backend.clear_session()`` between builds), then loading, running once and dropping
each artifact in its runtime (Keras ``.keras`` file, TensorFlow SavedModel, LiteRT,
onnxruntime, OpenVINO on the ONNX file).

Example:
    >>> from zoo.benchmarks.memory import rss_slope
    >>> rss_slope(lambda: None, n=10, warmup=2).slope_mb < LEAK_BOUNDS_MB["litert"]
    True
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.process import rss_mb, trim_heap

#: Runtime → the export format whose artifact it loads (``None``: builds from the recipe).
RUNTIMES: dict[str, str | None] = {
    "keras_build": None,
    "keras_file": "keras",
    "saved_model": "saved_model",
    "litert": "tflite:fp32",
    "onnxruntime": "onnx:fp32",
    "openvino": "onnx:fp32",
}

#: Runtime → the RSS slope (MB per iteration) above which its cycle is called a leak.
#: Calibrated on cnn_lstm_fusion_tiny (README, "Memory"): the measured slopes are at most
#: 0.04 MB/iteration, while keeping every loaded artifact alive (a cache that never lets go)
#: grows LiteRT by 1.1, onnxruntime by 0.71, SavedModel by 5.5 and the .keras file by
#: 0.37 MB/iteration, and keeping every built model by 0.10: each bound is under that.
LEAK_BOUNDS_MB: dict[str, float] = {
    "keras_build": 0.07,
    "keras_file": 0.25,
    "saved_model": 0.25,
    "litert": 0.25,
    "onnxruntime": 0.25,
    "openvino": 0.25,
}


@dataclass(frozen=True)
class SlopeResult:
    """RSS after each call of a repeated cycle and the fitted growth per call.

    Attributes:
        name: What was repeated.
        slope_mb: Least-squares slope of RSS over the iterations after the warm-up, MB per
            iteration.
        rss_mb: RSS after each iteration (warm-up included), MB.
        warmup: Leading iterations left out of the fit.
        seconds: Wall time of all iterations.
    """

    name: str
    slope_mb: float
    rss_mb: list[float] = field(repr=False)
    warmup: int
    seconds: float

    @property
    def growth_mb(self) -> float:
        """RSS change from the first fitted iteration to the last, MB."""
        return self.rss_mb[-1] - self.rss_mb[self.warmup]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"growth_mb": self.growth_mb}


def least_squares_slope(values: Sequence[float]) -> float:
    """Slope of the least-squares line through ``(i, values[i])``.

    Example:
        >>> least_squares_slope([1.0, 3.0, 5.0])
        2.0
    """
    n = len(values)
    if n < 2:
        raise ZooError(f"a slope needs at least 2 points, received {n}; raise n or lower warmup.")
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    cov = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    var = sum((i - mean_x) ** 2 for i in range(n))
    return cov / var


def rss_slope(
    fn: Callable[[], Any], n: int = 50, warmup: int = 5, *, name: str = ""
) -> SlopeResult:
    """Call ``fn`` ``n`` times and fit RSS growth per call after ``warmup`` calls.

    After each call, garbage cycles are collected and freed heap is returned to the system
    (:func:`zoo.process.trim_heap`), so the curve shows memory still referenced, not
    allocator slack. Whatever ``fn`` returns is dropped at once.

    Args:
        fn: One cycle: build or load something, use it, let it go.
        n: Iterations in total.
        warmup: Leading iterations left out of the fit (caches, lazy imports, pools).
        name: Label of the result.

    Returns:
        A :class:`SlopeResult`.

    Raises:
        ZooError: fewer than 2 iterations left to fit, or RSS cannot be read here.

    Example:
        >>> hoard = []
        >>> leak = rss_slope(lambda: hoard.append(b"x" * 2**20), n=12, warmup=2)
        >>> leak.slope_mb > 0.5
        True
    """
    if n - warmup < 2 or warmup < 0:
        raise ZooError(
            f"rss_slope: n={n}, warmup={warmup}; expected warmup >= 0 and at least 2 "
            "iterations after it, e.g. n=50, warmup=5."
        )
    if rss_mb() is None:
        raise ZooError("rss_slope: resident memory cannot be read here (no /proc/self/status).")
    samples: list[float] = []
    start = time.perf_counter()
    for _ in range(n):
        fn()
        trim_heap()
        samples.append(rss_mb() or 0.0)
    seconds = time.perf_counter() - start
    slope = least_squares_slope(samples[warmup:])
    return SlopeResult(name, slope, samples, warmup, seconds)


# ------------------------------------------------------------------ one cycle per runtime


def _manifest(folder: Path) -> dict[str, Any]:
    from zoo.exporters import MANIFEST

    data: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    return data


def artifact_path(folder: Path, fmt: str) -> Path:
    """The artifact of format ``fmt`` in the export folder ``folder`` (from its manifest)."""
    return Path(folder) / _manifest(folder)["artifacts"][fmt]["path"]


def example_inputs(folder: Path, batch: int = 2) -> dict[str, Any]:
    """Random inputs (seed 0) matching the contract in ``folder``'s manifest."""
    import types

    from zoo.samples import sample_inputs

    spec = _manifest(folder)["inputs"]
    return sample_inputs({k: types.SimpleNamespace(**v) for k, v in spec.items()}, batch)


def cycle(runtime: str, folder: Path | None, *, model: str) -> Callable[[], None]:
    """One build-or-load, run once, drop cycle of ``runtime`` (see :data:`RUNTIMES`).

    Args:
        runtime: A key of :data:`RUNTIMES`.
        folder: Export folder (``OUT/NAME``) holding the artifact; unused by ``keras_build``.
        model: Registered model name (``keras_build`` builds it).
    """
    if runtime not in RUNTIMES:
        raise ZooError(f"unknown runtime {runtime!r}; expected one of {sorted(RUNTIMES)}.")
    if runtime == "keras_build":
        import keras

        import zoo

        def build() -> None:
            zoo.get(model, seed=0)
            keras.backend.clear_session()

        return build
    if folder is None:
        raise ZooError(f"runtime {runtime!r} loads an artifact: pass the export folder.")
    from zoo.exporters import FORMATS, load_runner, run_once

    fmt = str(RUNTIMES[runtime])
    artifact = artifact_path(folder, fmt)
    inputs = example_inputs(folder)
    if runtime == "openvino":
        import openvino as ov

        def openvino() -> None:
            compiled = ov.Core().compile_model(str(artifact), "CPU")
            compiled(inputs)

        return openvino
    if runtime == "keras_file":
        import keras

        def keras_file() -> None:
            run_once(FORMATS["keras"].load(artifact), inputs)
            keras.backend.clear_session()

        return keras_file

    def load() -> None:
        run_once(load_runner(fmt, artifact), inputs)

    return load


def measure(
    runtime: str, folder: Path | None, *, model: str, n: int = 50, warmup: int = 5
) -> SlopeResult:
    """:func:`rss_slope` of one runtime's cycle, in this process."""
    return rss_slope(cycle(runtime, folder, model=model), n, warmup, name=runtime)


def measure_isolated(
    runtimes: Sequence[str],
    folder: Path | None,
    *,
    model: str,
    n: int = 50,
    warmup: int = 5,
    timeout: float = 900,
) -> list[SlopeResult]:
    """:func:`measure` of each runtime in turn, in one fresh Python process.

    The process has its own allocator and runtime state; runtimes measured together share
    it (e.g. the TensorFlow ones, to import TensorFlow once), each fitted on its own
    iterations.

    Raises:
        ZooError: the worker failed or timed out; the message carries its last output line.
    """
    cmd = [sys.executable, "-m", "zoo.benchmarks.memory", model, "--worker", ",".join(runtimes)]
    cmd += ["--n", str(n), "--warmup", str(warmup)]
    if folder is not None:
        cmd += ["--folder", str(folder)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        raise ZooError(f"memory worker {runtimes} took over {timeout:.0f} s; lower --n.") from exc
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ZooError(f"memory worker {runtimes} failed (exit {proc.returncode}): {tail}")
    results = []
    for data in json.loads(lines[-1]):
        data.pop("growth_mb", None)
        results.append(SlopeResult(**data))
    return results


def export_for_memory(model: str, out: Path) -> Path:
    """Export ``model``'s fp32 artifacts (unvalidated) under ``out``; the folder ``OUT/NAME``."""
    from zoo.exporters import export_model

    formats = sorted({f for f in RUNTIMES.values() if f is not None})
    return Path(export_model(model, out, formats=formats, validate=False).path)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m zoo.benchmarks.memory",
        description="RSS slope (MB per iteration) of build/load-and-drop cycles per runtime.",
    )
    p.add_argument("model", help="registered model name, e.g. cnn_lstm_fusion_tiny")
    p.add_argument("--n", type=int, default=50, help="iterations per runtime (default 50)")
    p.add_argument("--warmup", type=int, default=5, help="iterations left out of the fit")
    p.add_argument("--runtimes", help=f"comma-separated, default all: {', '.join(RUNTIMES)}")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--worker", metavar="RUNTIME", help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m zoo.benchmarks.memory NAME``: a table of slopes, one fresh process each."""
    args = _parser().parse_args(argv)
    if args.worker:
        found = [
            measure(r, args.folder, model=args.model, n=args.n, warmup=args.warmup)
            for r in args.worker.split(",")
        ]
        print(json.dumps([r.as_dict() for r in found]))
        return 0
    runtimes = args.runtimes.split(",") if args.runtimes else list(RUNTIMES)
    unknown = sorted(set(runtimes) - set(RUNTIMES))
    if unknown:
        raise ZooError(f"--runtimes: unknown {unknown}; expected some of {', '.join(RUNTIMES)}.")
    results: list[SlopeResult] = []
    with tempfile.TemporaryDirectory(prefix="zoo-memory-") as scratch:
        folder = export_for_memory(args.model, Path(scratch))
        for runtime in runtimes:  # one fresh process each
            results += measure_isolated(
                [runtime], folder, model=args.model, n=args.n, warmup=args.warmup
            )
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        _print_table(args.model, results)
    return 0 if all(r.slope_mb < LEAK_BOUNDS_MB[r.name] for r in results) else 1


def _print_table(model: str, results: list[SlopeResult]) -> None:
    print(f"{model}: RSS slope of build/load, run once, drop cycles (one process per runtime)")
    head = ("runtime", "n", "slope MB/it", "bound", "growth MB", "RSS MB", "seconds")
    print(
        f"{head[0]:<12} {head[1]:>3} {head[2]:>11} {head[3]:>6} {head[4]:>9} "
        f"{head[5]:>7} {head[6]:>7}"
    )
    for r in results:
        bound = LEAK_BOUNDS_MB[r.name]
        print(
            f"{r.name:<12} {len(r.rss_mb):>3} {r.slope_mb:>11.3f} {bound:>6.2f} "
            f"{r.growth_mb:>9.1f} {r.rss_mb[-1]:>7.0f} {r.seconds:>7.1f}  "
            + ("ok" if r.slope_mb < bound else "LEAK")
        )


if __name__ == "__main__":
    sys.exit(main())

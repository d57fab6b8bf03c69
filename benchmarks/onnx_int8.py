"""Measure int8 choices for the ONNX export: static QDQ against ``quantize_dynamic``.

Quantizes one fp32 ONNX graph several ways and times each with onnxruntime (the
``onnx`` runner: ORT_ENABLE_ALL, same thread count) at batch 1. The variants are timed in
interleaved rounds so that load from other processes spreads evenly over them; warm-up
calls are discarded; the table gives p50/p90 and the largest difference from the fp32 graph
on realistic inputs. This is how :data:`zoo.exporters.formats.onnx.INT8_SETTINGS` was chosen.

Example:
    $ python -m zoo.benchmarks.onnx_int8 cnn_lstm_fusion
    $ python -m zoo.benchmarks.onnx_int8 cnn_lstm_fusion \
        --fp32 out/cnn_lstm_fusion/model.onnx
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from zoo.exporters import sample_inputs
from zoo.exporters.formats.onnx import INT8_SETTINGS, OnnxRunner, QuantSettings, quantize

#: Choice name → settings (``None`` for the fp32 graph itself).
CHOICES: dict[str, QuantSettings | None] = {
    "fp32": None,
    "static_qdq (default)": INT8_SETTINGS,
    "static_qdq conv/matmul/gemm only": replace(INT8_SETTINGS, op_types=("Conv", "MatMul", "Gemm")),
    "dynamic conv/matmul/gemm": QuantSettings(
        method="dynamic", op_types=("Conv", "MatMul", "Gemm")
    ),
    "dynamic all supported ops": QuantSettings(method="dynamic", op_types=()),
}


def time_int8_choices(
    name: str,
    fp32: Path,
    workdir: Path,
    *,
    runs: int = 50,
    warmup: int = 10,
    rounds: int = 5,
    threads: int | None = None,
) -> list[dict[str, float | str]]:
    """Quantize ``fp32`` every way in :data:`CHOICES` and time each at batch 1.

    Args:
        name: Registered model whose recipe inputs drive calibration and timing.
        fp32: The fp32 ONNX file (as ``onnx:fp32`` writes it).
        workdir: Where the quantized files go.
        runs: Timed calls per variant (split evenly over ``rounds``).
        warmup: Untimed calls per variant before timing.
        rounds: Interleaved rounds.
        threads: ``intra_op_num_threads``; ``None`` for ``os.cpu_count()``.

    Returns:
        One row per variant: name, p50_ms, p90_ms, max_abs_vs_fp32, quantize_s, mb.

    Example:
        >>> compare(  # doctest: +SKIP
        ...     "cnn_lstm_fusion", Path("out/cnn_lstm_fusion/model.onnx"), Path("/tmp/q"))
    """
    from zoo.registry import REGISTRY

    inputs = REGISTRY.get(name).recipe.inputs
    dtypes = {k: v.dtype for k, v in inputs.items()}
    paths, seconds = {}, {}
    for label, settings in CHOICES.items():
        if settings is None:
            paths[label], seconds[label] = fp32, 0.0
            continue
        paths[label] = workdir / f"{len(paths)}.onnx"
        start = time.perf_counter()
        quantize(
            fp32,
            paths[label],
            settings=settings,
            calibration=lambda n: (sample_inputs(inputs, 1, seed=50_000 + i) for i in range(n)),
            dtypes=dtypes,
        )
        seconds[label] = time.perf_counter() - start
    runners = {k: OnnxRunner(p, intra_op_num_threads=threads) for k, p in paths.items()}
    times = _time(runners, sample_inputs(inputs, 1, seed=11), runs, warmup, rounds)
    check = sample_inputs(inputs, 32, seed=12)
    ref = runners["fp32"].run(runners["fp32"].prepare(check))
    rows: list[dict[str, float | str]] = []
    for label, runner in runners.items():
        got = runner.run(runner.prepare(check))
        deciles = statistics.quantiles(times[label], n=10)
        rows.append(
            {
                "variant": label,
                "p50_ms": statistics.median(times[label]),
                "p90_ms": deciles[8],
                "max_abs_vs_fp32": max(float(np.abs(got[k] - ref[k]).max()) for k in ref),
                "quantize_s": seconds[label],
                "mb": paths[label].stat().st_size / 1e6,
            }
        )
    return rows


def _time(
    runners: dict[str, OnnxRunner], x: dict[str, np.ndarray], runs: int, warmup: int, rounds: int
) -> dict[str, list[float]]:
    """Milliseconds per call, variants interleaved round by round."""
    prepared = {k: r.prepare(x) for k, r in runners.items()}
    for k, runner in runners.items():
        for _ in range(warmup):
            runner.run(prepared[k])
    times: dict[str, list[float]] = {k: [] for k in runners}
    per_round = max(1, runs // rounds)
    for _ in range(rounds):
        for k, runner in runners.items():
            for _ in range(per_round):
                start = time.perf_counter_ns()
                runner.run(prepared[k])
                times[k].append((time.perf_counter_ns() - start) / 1e6)
    return times


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m zoo.benchmarks.onnx_int8 NAME [--fp32 FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m zoo.benchmarks.onnx_int8", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("name", help="registered model name, e.g. cnn_lstm_fusion")
    parser.add_argument("--fp32", type=Path, help="existing model.onnx (else exported, seed 0)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zoo-onnx-bench-") as tmp:
        fp32 = args.fp32
        if fp32 is None:
            from zoo.exporters import export_model

            result = export_model(args.name, Path(tmp), formats=["onnx:fp32"], seed=0)
            fp32 = result.path / "model.onnx"
        rows = time_int8_choices(
            args.name, fp32, Path(tmp), runs=args.runs, warmup=args.warmup, threads=args.threads
        )
    threads = args.threads or os.cpu_count()
    print(f"{args.name}: batch 1, {args.runs} runs after {args.warmup} warm-up, {threads} threads")
    print(f"{'variant':34s} {'p50 ms':>8s} {'p90 ms':>8s} {'x fp32':>7s} {'max|d|':>9s} {'MB':>7s}")
    base = float(rows[0]["p50_ms"])
    for r in rows:
        print(
            f"{r['variant']:34s} {r['p50_ms']:8.2f} {r['p90_ms']:8.2f} "
            f"{base / float(r['p50_ms']):6.2f}x {r['max_abs_vs_fp32']:9.3g} {r['mb']:7.1f}"
        )


if __name__ == "__main__":
    main()

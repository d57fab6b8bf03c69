"""Why onnxruntime fp32 trails OpenVINO f32 on the same ONNX file, setting by setting.

Runs one ONNX artifact of an export folder in one process, interleaved round by round so
machine load hits every variant alike: onnxruntime with the session settings zoo uses and
with one setting changed at a time (graph optimization level, spinning, execution mode,
inter-op threads), next to OpenVINO f32 with the latency hint. Each round times every
variant with the shared adaptive loop; the table reports the median over rounds of each
variant's p50 and its ratio to zoo's onnxruntime session.

Usage:
    python -m zoo.benchmarks.ort_tuning artifacts/resnet50_transfer [--threads 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from zoo.benchmarks._measure import adaptive
from zoo.benchmarks._stats import summarize
from zoo.exporters import sample_inputs
from zoo.exporters.manifest import load_manifest

from zoo.errors import ZooError

Candidate = tuple[str, Callable[[Path, int], Any]]


class _Session:
    """A minimal onnxruntime runner with the given session option changes."""

    def __init__(self, path: Path, threads: int, **changes: Any):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        for key, value in changes.items():
            if key.startswith("config:"):
                options.add_session_config_entry(key.removeprefix("config:"), value)
            else:
                setattr(options, key, value)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = [o.name for o in self.session.get_outputs()]
        self.dtypes = {i.name: i.type for i in self.session.get_inputs()}

    def prepare(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: np.ascontiguousarray(inputs[k]) for k in self.dtypes}

    def run(self, prepared: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.names, self.session.run(self.names, prepared), strict=True))


def _ort(**changes: Any) -> Callable[[Path, int], Any]:
    return lambda path, threads: _Session(path, threads, **changes)


def _openvino(path: Path, threads: int) -> Any:
    from zoo.benchmarks._backends import OpenVinoRunner

    return OpenVinoRunner(path, precision="f32", threads=threads)


def candidates() -> list[Candidate]:
    """The ORT session zoo uses, one change at a time, and OpenVINO f32 (first is the baseline)."""
    import onnxruntime as ort

    level = ort.GraphOptimizationLevel
    return [
        ("ort: zoo session (ENABLE_ALL, intra=threads)", _ort()),
        (
            "ort: ENABLE_EXTENDED (no NCHWc layout)",
            _ort(graph_optimization_level=level.ORT_ENABLE_EXTENDED),
        ),
        ("ort: ENABLE_BASIC", _ort(graph_optimization_level=level.ORT_ENABLE_BASIC)),
        ("ort: no spinning", _ort(**{"config:session.intra_op.allow_spinning": "0"})),
        ("ort: denormals as zero", _ort(**{"config:session.set_denormal_as_zero": "1"})),
        ("ort: inter_op=1, sequential", _ort(inter_op_num_threads=1)),
        ("ort: no memory arena", _ort(enable_cpu_mem_arena=False)),
        ("openvino: f32, LATENCY", _openvino),
    ]


def run(
    folder: Path, *, threads: int, rounds: int, batch: int, max_seconds: float
) -> list[dict[str, Any]]:
    """Time every variant on ``folder``'s ``model.onnx``; rows in :func:`variants` order."""
    manifest = load_manifest(folder)
    if "onnx:fp32" not in manifest.artifacts:
        raise ZooError(
            f"{folder}: the export has no onnx:fp32 artifact; export it with --format onnx."
        )
    path = folder / manifest.artifacts["onnx:fp32"].path
    inputs = sample_inputs(manifest.inputs, batch, seed=0)
    loaded = [(label, make(path, threads)) for label, make in candidates()]
    prepared = [(label, r, r.prepare(inputs)) for label, r in loaded]
    reference = prepared[0][1].run(prepared[0][2])
    p50s: dict[str, list[float]] = {label: [] for label, _ in loaded}
    diffs: dict[str, float] = {}
    for _ in range(rounds):
        for label, runner, x in prepared:
            ns = adaptive(
                runner, x, warmup=5, min_iters=20, max_iters=2000, max_seconds=max_seconds
            )
            p50s[label].append(summarize(ns, batch).p50_ms)
            out = runner.run(x)
            diffs[label] = max(float(np.max(np.abs(out[k] - reference[k]))) for k in reference)
    base = float(np.median(p50s[prepared[0][0]]))
    return [
        {
            "variant": label,
            "p50_ms": float(np.median(values)),
            "p50_per_round_ms": [round(v, 3) for v in values],
            "ratio_to_zoo_session": float(np.median(values)) / base,
            "max_abs_vs_zoo_session": diffs[label],
        }
        for label, values in p50s.items()
    ]


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: print the table as Markdown and, with ``--json``, write the rows."""
    parser = argparse.ArgumentParser(
        prog="python -m zoo.benchmarks.ort_tuning", description=__doc__.splitlines()[0]
    )
    parser.add_argument("folder", type=Path, help="an export folder with model.onnx")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    rows = run(
        args.folder,
        threads=args.threads,
        rounds=args.rounds,
        batch=args.batch,
        max_seconds=args.max_seconds,
    )
    print(
        f"{args.folder.name}: batch {args.batch}, {args.threads} threads, "
        f"{args.rounds} interleaved rounds\n"
    )
    print("| variant | p50 ms (median of rounds) | per round | vs zoo session | max abs vs zoo |")
    print("|---|---:|---|---:|---:|")
    for r in rows:
        rounds = ", ".join(f"{v:.2f}" for v in r["p50_per_round_ms"])
        print(
            f"| {r['variant']} | {r['p50_ms']:.3f} | {rounds} | {r['ratio_to_zoo_session']:.2f}× "
            f"| {r['max_abs_vs_zoo_session']:.2e} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

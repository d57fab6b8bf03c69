"""One measurement in a fresh process: cold start, timing, peak RSS, outputs.

Run by the benchmark as ``python -m zoo.benchmarks._worker JOB.json``; the job names the
backend, artifact, batch, thread count and timing plan; the result is written as JSON to
the path the job gives, the outputs of the first call to an ``.npz`` file. A fresh process
per measurement makes thread settings real (TensorFlow fixes its pools at start-up), and
gives cold start and peak memory per backend.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from zoo.process import peak_rss_mb


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Execute one job (see module docstring); returns the result dict."""
    import numpy as np
    from zoo.benchmarks._backends import NotApplicable, backends_for, configure_tensorflow
    from zoo.benchmarks._measure import adaptive, bare_loop_ms

    backend = {b.name: b for b in backends_for(job["formats"])}[job["backend"]]
    if backend.uses_tensorflow and job.get("configure_threads", True):
        configure_tensorflow(job["threads"])  # only possible before TF starts: fresh process
    with np.load(job["inputs"]) as data:
        inputs = {k: data[k] for k in data.files}
    try:
        runner = backend.make(Path(job["artifact"]), job["threads"])
    except NotApplicable as exc:
        return {"skipped": str(exc)}
    loaded = time.time_ns()
    prepared = runner.prepare(inputs)
    outputs = runner.run(prepared)
    first = time.time_ns()
    arrays: dict[str, Any] = {k: np.asarray(v) for k, v in outputs.items()}
    np.savez(job["outputs"], **arrays)
    result: dict[str, Any] = {
        "cold_start_ms": {
            "load": (loaded - job["spawn_ns"]) / 1e6,
            "first_inference": (first - loaded) / 1e6,
            "total": (first - job["spawn_ns"]) / 1e6,
        },
        "samples_ns": [],
        "self_check": None,
    }
    if job["max_iters"] > 0:
        samples = adaptive(
            runner,
            prepared,
            warmup=job["warmup"],
            min_iters=job["min_iters"],
            max_iters=job["max_iters"],
            max_seconds=job["max_seconds"],
            target_ci=job["target_ci"],
        )
        result["samples_ns"] = samples
        if job.get("self_check"):
            calls = len(samples)
            runner_mean = sum(samples) / calls / 1e6
            bare = bare_loop_ms(runner, prepared, calls)
            result["self_check"] = {
                "calls": calls,
                "bare_loop_mean_ms": bare,
                "runner_mean_ms": runner_mean,
                "ratio": runner_mean / bare,
            }
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def main(argv: list[str]) -> int:
    """Entry point: ``python -m zoo.benchmarks._worker JOB.json``."""
    job = json.loads(Path(argv[0]).read_text())
    result = run_job(job)
    Path(job["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

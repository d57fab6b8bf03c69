"""One measurement in a fresh process: cold start, timing, peak RSS, outputs.

Run by the benchmark as ``python -m zoo.benchmarks._worker JOB.json``; the job names the
backend, artifact, batch, thread count and timing plan; the result is written as JSON to
the path the job gives, the outputs of the first call to an ``.npz`` file. A fresh process
per measurement makes thread settings real (TensorFlow fixes its pools at start-up), and
gives cold start and peak memory per backend.

The parent starts a worker with :func:`launch`: in a session (process group) of its own,
output to a log file rather than a pipe (a pipe fills up and blocks a chatty worker, and a
grandchild holding it open would block the reader), with a timeout. On timeout, on an
interrupt of the parent (Ctrl-C) and after every exit the whole group is killed with
``SIGKILL``, so helper processes a runtime started cannot outlive the
measurement; how the worker ended comes back as a reason for the report row.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
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


def command(job_path: Path) -> list[str]:
    """The command that runs one job: ``python -m zoo.benchmarks._worker JOB.json``."""
    return [sys.executable, "-m", "zoo.benchmarks._worker", str(job_path)]


def launch(job_path: Path, *, env: Mapping[str, str], timeout: float, log: Path) -> str | None:
    """Run the worker for ``job_path`` in its own process group; ``None`` if it succeeded.

    Args:
        job_path: The job file the worker reads.
        env: The worker's environment.
        timeout: Seconds before the worker's process group is killed.
        log: File that receives the worker's stdout and stderr.

    Returns:
        ``None`` for exit status 0, else why it failed, e.g.
        ``"timeout after 60 s (process group killed)"``,
        ``"killed by signal SIGSEGV (11): <last 3 lines of its output>"``,
        ``"exit 1: <last 3 lines of its output>"``.

    Raises:
        KeyboardInterrupt: re-raised after the worker's group was killed.
    """
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command(job_path),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )
    try:
        code = _wait(proc, timeout)
    except subprocess.TimeoutExpired:
        return f"timeout after {timeout:g} s (process group killed)"
    finally:  # on timeout, on Ctrl-C, and after a normal exit: no process of the group stays
        _kill_group(proc)
    if code == 0:
        return None
    if code < 0:
        try:
            reason = f"killed by signal {signal.Signals(-code).name} ({-code})"
        except ValueError:
            reason = f"killed by signal {-code}"
    else:
        reason = f"exit {code}"
    tail = log_tail(log)
    return f"{reason}: {tail}" if tail else reason


#: poll() takes at most 2**31 - 1 ms (24.8 days); a longer timeout waits this long.
_MAX_POLL_S = 2_000_000.0


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """``proc``'s exit status; raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds.

    Sleeps in the kernel on a pidfd (Linux) rather than ``Popen.wait(timeout)``'s polling
    loop, so the parent does not wake 20 times a second beside a worker being timed.
    """
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux ≥ 5.3
        return proc.wait(timeout=timeout)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(math.ceil(min(timeout, _MAX_POLL_S) * 1000)):
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(fd)
    return proc.wait()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL every process of ``proc``'s group, then reap ``proc``.

    The group id is the worker's pid (``start_new_session``). Linux keeps that number out of
    reuse while any member of the group lives, so killing it after the worker was reaped
    reaches only its own leftover children.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):  # empty: nothing left
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def log_tail(log: Path, lines: int = 3, max_bytes: int = 64 * 1024) -> str:
    """The last non-empty ``lines`` of ``log`` joined with `` | ``; reads at most ``max_bytes``."""
    try:
        with log.open("rb") as fh:
            fh.seek(max(0, log.stat().st_size - max_bytes))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def main(argv: list[str]) -> int:
    """Entry point: ``python -m zoo.benchmarks._worker JOB.json``."""
    job = json.loads(Path(argv[0]).read_text())
    result = run_job(job)
    Path(job["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

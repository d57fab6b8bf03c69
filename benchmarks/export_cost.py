"""What an export costs: wall time and peak memory of the whole process tree, per format.

Runs ``zoo export NAME`` as a child process (the command users run) and samples the
resident memory of that process and all its descendants with psutil from this process,
every ``--interval`` seconds, so a converter that holds the GIL or peaks inside C++ is
still seen. Afterwards it prints the export's own per-stage figures from the manifest's
``export_stats`` (seconds and the high-water mark of each stage) next to the sampled tree
peak and wall time.

``/usr/bin/time -v`` is not a fair judge of a zoo export: the export resets the kernel's
high-water mark at the start of each stage to attribute peaks to stages, and the
``ru_maxrss`` that ``time`` reports then covers only the last stage. Use this script, or
``export_stats.peak_rss_mb`` in the manifest.

Usage:
    python -m zoo.benchmarks.export_cost cnn_lstm_fusion [--format all] [--json cost.json]
    python -m zoo.benchmarks.export_cost cnn_lstm_fusion resnet50_transfer   # several models
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

#: Seconds between two memory samples of the process tree.
INTERVAL = 0.02


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB (0 once it has exited)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def measure(name: str, *, formats: str = "all", interval: float = INTERVAL) -> dict[str, Any]:
    """Export ``name`` in a child ``zoo export`` and measure it.

    Returns:
        ``wall_seconds``, ``tree_peak_rss_mb`` (sampled), the exit code, and the manifest's
        ``export_stats`` and per-format sizes when the export succeeded.

    Raises:
        ZooError: the export failed (its last output lines are in the message), or its
            manifest could not be read.
    """
    from zoo.exporters.manifest import load_manifest

    exe = shutil.which("zoo", path=str(Path(sys.executable).parent)) or "zoo"
    with tempfile.TemporaryDirectory(prefix="zoo-export-cost-") as tmp:
        cmd = [exe, "export", name, "--format", formats, "--out", tmp]
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        peak = [0.0]

        def sample() -> None:
            while proc.poll() is None:
                peak[0] = max(peak[0], tree_rss_mb(proc.pid))
                time.sleep(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        output, _ = proc.communicate()
        wall = time.perf_counter() - start
        sampler.join()
        if proc.returncode != 0:
            tail = "\n".join(output.decode(errors="replace").splitlines()[-15:])
            raise ZooError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{tail}")
        manifest = load_manifest(Path(tmp) / name)
    if manifest.export_stats is None or manifest.formats_requested is None:
        raise ZooError(
            f"{' '.join(cmd)} wrote a manifest without export_stats or formats_requested; "
            "expected the manifest of a current `zoo export`. Reinstall zoo (`pip install -e .`)."
        )
    return {
        "name": name,
        "formats": formats,
        "wall_seconds": round(wall, 1),
        "tree_peak_rss_mb": round(peak[0], 1),
        "interval_seconds": interval,
        "export_stats": manifest.export_stats.model_dump(mode="json", exclude_unset=True),
        "order": ["build", "reference", *manifest.formats_requested],
        "bytes": {f: a.bytes for f, a in manifest.artifacts.items()},
    }


def table(result: dict[str, Any]) -> str:
    """A Markdown table of one measurement: one row per stage, then the totals."""
    stats = result["export_stats"]
    lines = [
        f"### {result['name']} (`--format {result['formats']}`)",
        "",
        "| stage | seconds | peak RSS GB | size MB |",
        "|---|---:|---:|---:|",
    ]
    stages = stats["stages"]
    for stage in sorted(
        stages, key=lambda s: result["order"].index(s) if s in result["order"] else 99
    ):
        entry = stages[stage]
        size = result["bytes"].get(stage)
        lines.append(
            f"| {stage} | {entry['seconds']:.1f} | {entry['peak_rss_mb'] / 1024:.2f} | "
            f"{'' if size is None else f'{size / 1e6:.1f}'} |"
        )
    lines += [
        f"| **whole command** | **{result['wall_seconds']:.1f}** | "
        f"**{result['tree_peak_rss_mb'] / 1024:.2f}** (tree, sampled every "
        f"{result['interval_seconds'] * 1000:.0f} ms) | |",
        "",
        f"Process peak from the manifest: {stats['peak_rss_mb'] / 1024:.2f} GB "
        f"(protobuf runtime: {stats['protobuf']}).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m zoo.benchmarks.export_cost NAME [NAME ...]``."""
    parser = argparse.ArgumentParser(prog="python -m zoo.benchmarks.export_cost")
    parser.add_argument("names", nargs="+", help="registered model names")
    parser.add_argument("--format", default="all", help="formats to export (default all)")
    parser.add_argument("--interval", type=float, default=INTERVAL, help="sampling period, s")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args(argv)
    results = []
    try:
        for name in args.names:
            results.append(measure(name, formats=args.format, interval=args.interval))
            print(table(results[-1]), end="\n\n", flush=True)
    except ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

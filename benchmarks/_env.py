"""Environment fingerprint recorded with every benchmark result."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def cpu_info() -> dict[str, Any]:
    """CPU model and the SIMD flags that matter for inference speed."""
    from zoo.process import read_cpuinfo

    found, flags = read_cpuinfo()
    model = found or platform.processor() or "unknown"
    wanted = ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"]
    return {"model": model, "flags": [f for f in wanted if f in flags], "cores": os.cpu_count()}


def git_commit() -> str:
    """Current git commit of the working tree, or ``unknown``."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fingerprint() -> dict[str, Any]:
    """CPU, OS, Python, library versions, thread settings and git commit."""
    from zoo.exporters import library_versions

    return {
        "cpu": cpu_info(),
        "os": platform.platform(),
        "versions": library_versions(),
        "threads": {
            k: os.environ.get(k, "")
            for k in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
        },
        "git_commit": git_commit(),
    }

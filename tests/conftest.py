"""Shared fixtures: registry names, isolation of user recipe folders, subprocess helper."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import zoo
from zoo._registry import ENV_VAR, REGISTRY

ROOT = Path(__file__).resolve().parents[1]
ALL_MODELS = zoo.list()
TINY_MODELS = [n for n in ALL_MODELS if n.endswith("_tiny")]
FULL_MODELS = [n for n in ALL_MODELS if not n.endswith("_tiny")]


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch):
    """Each test starts with only the built-in recipes."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    saved = list(REGISTRY._extra_dirs)
    REGISTRY._extra_dirs.clear()
    REGISTRY._entries = None
    yield
    REGISTRY._extra_dirs[:] = saved
    REGISTRY._entries = None


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: int = 600
):
    """Run the installed ``zoo`` command; return the CompletedProcess."""
    exe = Path(sys.executable).with_name("zoo")
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=full_env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )

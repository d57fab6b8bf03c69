"""Golden vectors and ``zoo verify``: re-check an export folder against what it promised.

Every export writes ``golden.npz`` next to its manifest: the validation inputs (batch 3)
and the Keras outputs for them. :func:`verify` checks each artifact's sha256 against the
manifest (tampering, corruption), re-runs it in its own runtime on the golden inputs and
compares with the golden outputs under the artifact's tolerance.

The artifacts are loaded in a child process, never in the caller: a runtime given a hostile
or corrupt file may crash natively (segfault, abort), which must not take the caller down.
One child checks every artifact of the folder and reports each result as a JSON line; if it
dies (a signal, an exit without results, or the timeout, after which its process group is
killed) each artifact it did not report is re-checked in a child of its own, so the one that
crashes is named with the reason (``the loader process died with signal SIGSEGV``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from zoo.exporters._atomic import sha256_path
from zoo.exporters._base import Arrays
from zoo.exporters.manifest import load_manifest

from zoo.errors import ZooError

GOLDEN = "golden.npz"

#: Seconds one artifact may take to load and run in the verifying child process.
TIMEOUT_PER_ARTIFACT = 600.0

#: What the child runs: ``python -c CHILD_CODE JOB.json``.
_CHILD_CODE = "import sys; from zoo.exporters.verify import _child_main; _child_main(sys.argv[1])"


def write_golden(path: Path, inputs: Arrays, outputs: Arrays) -> None:
    """Store inputs and reference outputs as ``input/<name>`` and ``output/<name>`` arrays."""
    arrays: dict[str, Any] = {f"input/{k}": v for k, v in inputs.items()}
    arrays.update({f"output/{k}": np.asarray(v) for k, v in outputs.items()})
    with path.open("wb") as fh:
        np.savez(fh, **arrays)


def read_golden(path: Path) -> tuple[Arrays, Arrays]:
    """Inverse of :func:`write_golden`."""
    with np.load(path, allow_pickle=False) as data:
        inputs = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("input/")}
        outputs = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("output/")}
    return inputs, outputs


@dataclass
class ArtifactCheck:
    """Outcome of verifying one artifact.

    Attributes:
        format: Format name, e.g. ``tflite:fp32``.
        path: Artifact path inside the export folder.
        hash_ok: Its sha256 matches the manifest.
        max_abs: Largest absolute difference from the golden outputs (``None`` if it did
            not run).
        atol: The artifact's tolerance.
        error: Why it did not run: ``loader error: <type>: <message>`` or what happened to
            the loader process (``the loader process died with signal SIGSEGV ...``).
    """

    format: str
    path: str
    hash_ok: bool
    max_abs: float | None = None
    atol: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.hash_ok
            and self.error is None
            and self.max_abs is not None
            and (self.atol is None or self.max_abs <= self.atol)
        )

    @property
    def reason(self) -> str:
        """``ok``, or the file and every reason it failed, in one line.

        Example:
            >>> ArtifactCheck("onnx:fp32", "model.onnx", hash_ok=False).reason
            'model.onnx: sha256 differs from the manifest; did not run'
        """
        if self.ok:
            return "ok"
        why = [] if self.hash_ok else ["sha256 differs from the manifest"]
        if self.error is not None:
            why.append(self.error)
        elif self.max_abs is None:
            why.append("did not run")
        elif self.atol is not None and not self.max_abs <= self.atol:
            why.append(f"max |diff| {self.max_abs:.3g} vs golden exceeds atol {self.atol:g}")
        return f"{self.path}: " + "; ".join(why)


@dataclass
class VerifyReport:
    """All checks of one export folder."""

    folder: Path
    golden_ok: bool
    checks: list[ArtifactCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.golden_ok and all(c.ok for c in self.checks)

    def problems(self) -> list[str]:
        """One line per failed check (:attr:`ArtifactCheck.reason`), golden file first."""
        head = [] if self.golden_ok else [f"{GOLDEN}: sha256 differs from the manifest"]
        return head + [c.reason for c in self.checks if not c.ok]


def verify(
    folder: str | Path,
    *,
    formats: list[str] | None = None,
    isolate: bool = True,
    timeout: float = TIMEOUT_PER_ARTIFACT,
) -> VerifyReport:
    """Check hashes and re-run every artifact of an export folder against ``golden.npz``.

    Args:
        folder: A folder written by ``zoo export`` (holds ``manifest.json``).
        formats: Only these formats (default: all in the manifest).
        isolate: Load and run the artifacts in a child process (default), so a runtime
            that crashes on a corrupt file cannot take the caller down. ``False`` runs them
            in this process: faster when the runtimes are already imported, for files
            you trust.
        timeout: Seconds per artifact before its child's process group is killed.

    Returns:
        A report; ``report.ok`` is false if any hash differs, an artifact fails to load or
        run (the reason names the file), or any output is off by more than the artifact's
        tolerance.

    Raises:
        ZooError: no readable manifest (see :func:`zoo.exporters.manifest.load_manifest`),
            no readable golden vectors, or a requested format the manifest does not hold.

    Example:
        >>> report = verify("artifacts/cnn_lstm_fusion")  # doctest: +SKIP
        >>> report.ok, report.problems()  # doctest: +SKIP
        (True, [])
    """
    folder = Path(folder)
    manifest = load_manifest(folder)
    golden = manifest.golden
    if golden is None or not (folder / golden.path).is_file():
        raise ZooError(f"{folder}: no {GOLDEN}; re-export to get golden vectors.")
    unknown = sorted(set(formats or []) - set(manifest.artifacts))
    if unknown:
        raise ZooError(
            f"{folder}: formats {unknown} are not in its manifest; it holds "
            f"{sorted(manifest.artifacts)}. Pick from those, or export the missing formats."
        )
    golden_ok = sha256_path(folder / golden.path) == golden.sha256
    try:
        inputs, expected = read_golden(folder / golden.path)
    except Exception as exc:  # a truncated or foreign file: zipfile, numpy or OS errors
        raise ZooError(
            f"{folder / golden.path}: unreadable ({type(exc).__name__}: {exc}); expected the "
            f"{GOLDEN} written by `zoo export`. Re-export the model."
        ) from None
    report = VerifyReport(folder, golden_ok)
    paths = {
        fmt: art.path
        for fmt, art in manifest.artifacts.items()
        if formats is None or fmt in formats
    }
    if isolate:
        results = _run_isolated(folder, golden.path, paths, timeout=timeout)
    else:
        results = {fmt: _check(fmt, folder / p, inputs, expected) for fmt, p in paths.items()}
    for fmt, rel in paths.items():
        path = folder / rel
        art = manifest.artifacts[fmt]
        check = ArtifactCheck(fmt, rel, hash_ok=path.exists() and sha256_path(path) == art.sha256)
        check.atol = art.tolerance.atol
        check.max_abs, check.error = results[fmt]
        report.checks.append(check)
    return report


Outcome = tuple[float | None, str | None]


def _check(fmt: str, path: Path, inputs: Arrays, expected: Arrays) -> Outcome:
    """Load and run one artifact: ``(max |diff| vs golden, None)`` or ``(None, error)``."""
    from zoo.exporters import FORMATS

    try:
        runner = FORMATS[fmt].load(path)
        got = runner.run(runner.prepare(inputs))
        return (
            max(
                float(np.max(np.abs(np.asarray(got[k], np.float64) - expected[k])))
                for k in expected
            ),
            None,
        )
    except Exception as exc:  # any runtime failure is a verification failure
        return None, f"loader error: {type(exc).__name__}: {exc}"


def _run_isolated(
    folder: Path, golden: str, paths: dict[str, str], *, timeout: float
) -> dict[str, Outcome]:
    """Check ``paths`` in one child; re-check in a child each what a dead child left."""
    if not paths:
        return {}
    with tempfile.TemporaryDirectory(prefix="zoo-verify-") as tmp:
        job = {"folder": str(folder), "golden": golden}
        results, death = _child(job, paths, Path(tmp) / "all", timeout * len(paths))
        left = [fmt for fmt in paths if fmt not in results]
        if death is not None and len(paths) == 1:
            results.update({fmt: (None, death) for fmt in left})
        elif death is not None or left:
            for i, fmt in enumerate(left):
                one, why = _child(job, {fmt: paths[fmt]}, Path(tmp) / str(i), timeout)
                results[fmt] = one.get(fmt, (None, why or "the loader process gave no result"))
    return results


def _child(
    job: dict[str, str], paths: dict[str, str], scratch: Path, timeout: float
) -> tuple[dict[str, Outcome], str | None]:
    """Run :func:`_child_main` on ``paths`` in a new process group.

    Returns:
        The results it reported, and ``None`` if it exited cleanly, else what happened
        to it (signal, exit status or timeout, with the last line it printed to stderr).
    """
    scratch.mkdir()
    job_file = scratch / "job.json"
    result = scratch / "results.jsonl"
    job_file.write_text(json.dumps({**job, "paths": paths, "result": str(result)}))
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ}
    with (scratch / "stderr.txt").open("w+b") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD_CODE, str(job_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            start_new_session=True,  # its own process group, killed as a whole
        )
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        err.seek(0)
        tail = _last_line(err.read()[-4000:])
    results = _read_results(result)
    if code is None:
        return results, f"the loader process did not finish within {timeout:g} s; it was killed"
    if code < 0:
        name = signal.Signals(-code).name
        return results, f"the loader process died with signal {name}{tail}"
    if code != 0 or len(results) < len(paths):
        return results, f"the loader process exited with status {code}{tail}"
    return results, None


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return f" (its last stderr line: {lines[-1][:300]})" if lines else ""


def _read_results(path: Path) -> dict[str, Outcome]:
    """The ``{"format", "max_abs", "error"}`` lines a child wrote (a torn last line ignored)."""
    out: dict[str, Outcome] = {}
    if not path.is_file():
        return out
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError, KeyError):
            row = json.loads(line)
            out[row["format"]] = (row["max_abs"], row["error"])
    return out


def _child_main(job_file: str) -> None:
    """Child process: check each artifact of the job, one JSON line per result, flushed."""
    job = json.loads(Path(job_file).read_text())
    folder = Path(job["folder"])
    inputs, expected = read_golden(folder / job["golden"])
    with open(job["result"], "a") as out:
        for fmt, rel in job["paths"].items():
            max_abs, error = _check(fmt, folder / rel, inputs, expected)
            out.write(json.dumps({"format": fmt, "max_abs": max_abs, "error": error}) + "\n")
            out.flush()

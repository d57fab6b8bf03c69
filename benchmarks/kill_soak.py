"""Kill ``zoo export`` at random points and at every step of its swap; race two exports.

``python -m zoo.benchmarks.kill_soak [--kills 50] [--concurrent 2]`` exports a tiny model
into a scratch folder once (the previous set), then, ``--kills`` times, starts a new export
of it with another seed and kills it with ``SIGKILL``: half the time after a random delay
drawn over the length of a whole export (build, conversions, validation, commit), half the
time at one of the file-system steps of the commit (:data:`SWAP_STEPS`), where a kill at
a random time almost never lands. After every kill the folder must hold a complete set
(the previous one or the new one: manifest present, every artifact's sha256 equal to the
manifest's) or nothing (killed between the two renames of the swap; the next export
restores the previous set). The run ends with an export that is not killed: it must clean
every dead process's staging folder and leave one set that ``zoo verify`` passes.

``--concurrent N`` then starts N exports of the model into the same folder at once: all must
finish (commits are serialized by a lock) and leave one verified set.

Exports run in processes forked from this one after TensorFlow is imported and before it
runs anything, so a kill costs an export, not an interpreter start (fork is Linux/macOS).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from zoo.exporters import MANIFEST, sha256_path, verify

#: Points of the commit at which the child kills itself: after the manifest is renamed into
#: the staging folder, after the old set is moved aside, after the new set is moved in,
#: and halfway through deleting the old set.
SWAP_STEPS = ("after_manifest", "after_old_moved", "after_new_moved", "during_old_cleanup")

DEFAULT_MODEL = "cnn_lstm_fusion_tiny"
DEFAULT_FORMATS = ("keras", "tflite:fp32", "onnx:fp32")


@dataclass
class KillRecord:
    """One killed export: how it was killed and what the folder held afterwards."""

    index: int
    how: str  # "random" or a SWAP_STEPS entry
    delay_s: float | None
    outcome: str  # "previous set", "new set", "nothing (recoverable)", "torn: ..."
    leftovers: int  # staging/old folders next to the set after the kill


@dataclass
class SoakResult:
    """The outcome of a soak run (``torn == 0`` and ``verified`` is what must hold)."""

    model: str
    formats: list[str]
    export_seconds: float
    kills: list[KillRecord] = field(default_factory=list)
    final_leftovers: int = -1
    final_error: str | None = None
    verified: bool = False
    concurrent: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def torn(self) -> int:
        return sum(k.outcome.startswith("torn") for k in self.kills)

    @property
    def failed_exports(self) -> int:
        return sum(k.outcome.startswith("export failed") for k in self.kills)

    @property
    def ok(self) -> bool:
        concurrent_ok = not self.concurrent or self.concurrent.get("ok", False)
        return (
            self.torn == 0
            and self.failed_exports == 0
            and self.verified
            and self.final_leftovers == 0
            and concurrent_ok
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["torn"] = self.torn
        data["failed_exports"] = self.failed_exports
        data["outcomes"] = dict(Counter(k.outcome for k in self.kills))
        data["ok"] = self.ok
        return data


def folder_state(out: Path, name: str) -> tuple[str, str | None]:
    """(``"complete"`` | ``"nothing"`` | ``"torn: why"``, the set's golden sha256 or None)."""
    final = out / name
    if not final.exists():
        olds = [p for p in out.glob(f".{name}.old-*") if (p / MANIFEST).is_file()]
        return ("nothing" if olds else "torn: no set and nothing to restore"), None
    try:
        manifest = json.loads((final / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        return f"torn: manifest unreadable ({type(exc).__name__})", None
    entries = [*manifest["artifacts"].values(), manifest["golden"]]
    for entry in entries:
        path = final / entry["path"]
        if not path.exists():
            return f"torn: {entry['path']} missing", None
        if sha256_path(path) != entry["sha256"]:
            return f"torn: {entry['path']} hash differs from the manifest", None
    return "complete", str(manifest["golden"]["sha256"])


def _leftovers(out: Path, name: str) -> int:
    return len([*out.glob(f".{name}.staging-*"), *out.glob(f".{name}.old-*")])


def _self_kill_at(step: str) -> None:
    """In the child: SIGKILL this process at ``step`` of the commit (patches ``os.replace``)."""
    real_replace, real_rmtree = os.replace, shutil.rmtree

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    moved_aside: list[str] = []  # the old set this export's own swap moved aside

    def replace(src: Any, dst: Any) -> None:
        real_replace(src, dst)
        src_name, dst_name = Path(src).name, Path(dst).name
        if ".old-" in dst_name:
            moved_aside.append(dst_name)
        if step == "after_manifest" and dst_name == MANIFEST:
            die()
        if step == "after_old_moved" and ".old-" in dst_name:
            die()
        if step == "after_new_moved" and ".staging-" in src_name:
            die()

    def rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        # Not a stale old set the recovery removes (left by an earlier kill): this swap's own.
        if step == "during_old_cleanup" and Path(path).name in moved_aside:
            files = sorted(p for p in Path(path).rglob("*") if p.is_file())
            for f in files[: max(1, len(files) // 2)]:
                f.unlink()
            die()
        real_rmtree(path, *args, **kwargs)

    os.replace = replace  # type: ignore[assignment]
    shutil.rmtree = rmtree  # type: ignore[assignment]


def _fork_export(name: str, out: Path, formats: Sequence[str], seed: int, step: str | None) -> int:
    """Fork a child that exports ``name`` (killing itself at ``step``); return its pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # the child: never returns
        import zoo

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        if step is not None:
            _self_kill_at(step)
        zoo.export(name, out, formats=list(formats), seed=seed)
        code = 0
    except BaseException as exc:  # reported by the parent (see _child_error)
        _error_file(out, os.getpid()).write_text(f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        os._exit(code)


def _error_file(out: Path, pid: int) -> Path:
    return out.parent / f".{out.name}.soak-error-{pid}"


def _child_error(out: Path, pid: int) -> str | None:
    """The error a child export died of (``None`` if it wrote none), removing its file."""
    path = _error_file(out, pid)
    if not path.is_file():
        return None
    text = path.read_text().strip().splitlines()
    path.unlink()
    return text[-1] if text else "unknown error"


def _wait(pid: int) -> int:
    """Wait for ``pid``; its exit code, or ``-signal`` if a signal ended it."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def soak(
    kills: int = 50,
    *,
    name: str = DEFAULT_MODEL,
    formats: Sequence[str] = DEFAULT_FORMATS,
    out: Path | None = None,
    concurrent: int = 0,
    seed: int = 0,
    progress: bool = False,
) -> SoakResult:
    """Kill ``kills`` exports of ``name`` (see the module docstring) and check every outcome.

    Args:
        kills: Exports to kill; even indices at a random time, odd ones at a swap step.
        name: A registered model (a tiny one: each kill costs up to one export).
        formats: Formats each export writes.
        out: Output folder (default: a temporary folder, removed afterwards).
        concurrent: Then start this many simultaneous exports into the folder (0: none).
        seed: Seed of the random delays and steps.
        progress: Print one line per kill to stderr.

    Returns:
        Every kill's outcome, the final cleanup and verification, the concurrent result.
    """
    # Imported (not run) before forking, so each child starts warm; TensorFlow must not run
    # an op in this process before the last fork.
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    import zoo

    zoo.info(name)  # the registry, the recipe and the family module

    rng = random.Random(seed)
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="zoo-kill-soak-")) if out is None else Path(out)
    try:
        t0 = time.perf_counter()
        pid = _fork_export(name, scratch, formats, 0, None)
        first = _wait(pid)
        export_seconds = time.perf_counter() - t0
        if first != 0:
            raise RuntimeError(
                f"the first (unkilled) export of {name} failed (exit {first}): "
                f"{_child_error(scratch, pid) or 'no error text'}"
            )
        result = SoakResult(name, list(formats), round(export_seconds, 2))
        _, previous = folder_state(scratch, name)
        for i in range(kills):
            how = "random" if i % 2 == 0 else SWAP_STEPS[(i // 2) % len(SWAP_STEPS)]
            delay = rng.uniform(0.0, export_seconds * 1.1) if how == "random" else None
            pid = _fork_export(name, scratch, formats, i + 1, None if delay else how)
            if delay is not None:
                time.sleep(delay)
                with contextlib.suppress(ProcessLookupError):  # it may have finished
                    os.kill(pid, signal.SIGKILL)
            code = _wait(pid)
            error = _child_error(scratch, pid)
            state, golden = folder_state(scratch, name)
            if error is not None:
                outcome = f"export failed: {error}"
            elif state == "complete":
                outcome = "previous set" if golden == previous else "new set"
                previous = golden
            elif state == "nothing":
                outcome = "nothing (recoverable)"
            else:
                outcome = state
            if code == 0 and delay is not None:
                outcome += " (finished before the kill)"
            leftovers = _leftovers(scratch, name)
            rounded = None if delay is None else round(delay, 3)
            result.kills.append(KillRecord(i, how, rounded, outcome, leftovers))
            if progress:
                print(f"kill {i + 1}/{kills}: {how} → {outcome}", file=sys.stderr)
        pid = _fork_export(name, scratch, formats, kills + 1, None)
        code = _wait(pid)
        result.final_error = _child_error(scratch, pid)
        result.final_leftovers = _leftovers(scratch, name) if code == 0 else -1
        if concurrent:
            result.concurrent = _race(name, scratch, formats, concurrent)
        # Verified last: zoo.verify runs the artifacts, which starts TensorFlow here.
        result.verified = code == 0 and verify(scratch / name).ok
        result.seconds = round(time.perf_counter() - started, 1)
        return result
    finally:
        if out is None:
            shutil.rmtree(scratch, ignore_errors=True)


def _race(name: str, out: Path, formats: Sequence[str], n: int) -> dict[str, Any]:
    """``n`` simultaneous exports into ``out``: exit codes, final state, leftovers."""
    t0 = time.perf_counter()
    pids = [_fork_export(name, out, formats, 100 + k, None) for k in range(n)]
    codes = [_wait(pid) for pid in pids]
    errors = [e for e in (_child_error(out, pid) for pid in pids) if e]
    state, _ = folder_state(out, name)
    leftovers = _leftovers(out, name)
    return {
        "exports": n,
        "exit_codes": codes,
        "errors": errors,
        "state": state,
        "leftovers": leftovers,
        "seconds": round(time.perf_counter() - t0, 2),
        "ok": all(c == 0 for c in codes) and state == "complete" and leftovers == 0,
    }


def render(result: SoakResult) -> str:
    """A plain-text summary of a soak run."""
    data = result.as_dict()
    by_how: dict[str, Counter[str]] = {}
    for k in result.kills:
        by_how.setdefault(k.how, Counter())[k.outcome] += 1
    lines = [
        f"kill soak: {len(result.kills)} SIGKILLed exports of {result.model} "
        f"({', '.join(result.formats)}; one export takes {result.export_seconds:.1f} s)",
        *(f"  {how:<20} {dict(c)}" for how, c in by_how.items()),
        f"  torn sets: {data['torn']}; exports that failed instead of dying: "
        f"{data['failed_exports']}",
        f"  leftover staging/old folders after the next export: {result.final_leftovers}",
        f"  zoo verify of the final set: {'passed' if result.verified else 'FAILED'}",
    ]
    if result.concurrent:
        c = result.concurrent
        lines.append(
            f"  {c['exports']} concurrent exports: exit codes {c['exit_codes']}, final set "
            f"{c['state']}, leftovers {c['leftovers']}, {c['seconds']:.1f} s"
        )
    lines.append(f"  {'OK' if result.ok else 'FAILED'} in {result.seconds:.0f} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m zoo.benchmarks.kill_soak``: exit 0 if no set was torn and all verified."""
    parser = argparse.ArgumentParser(prog="python -m zoo.benchmarks.kill_soak", description=__doc__)
    parser.add_argument("--kills", type=int, default=50, help="exports to kill (default 50)")
    parser.add_argument("--concurrent", type=int, default=2, help="simultaneous exports (0: none)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"default {DEFAULT_MODEL}")
    parser.add_argument("--formats", default=",".join(DEFAULT_FORMATS))
    parser.add_argument("--out", type=Path, help="output folder (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if not hasattr(os, "fork"):
        print("error: the kill soak forks exports; this platform has no fork.", file=sys.stderr)
        return 2
    result = soak(
        args.kills,
        name=args.model,
        formats=args.formats.split(","),
        out=args.out,
        concurrent=args.concurrent,
        seed=args.seed,
        progress=not args.json,
    )
    print(json.dumps(result.as_dict(), indent=2) if args.json else render(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())

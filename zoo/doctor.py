"""``zoo doctor``: this machine's libraries and CPU, and which formats and runtimes work here.

Every export format is really converted from a tiny model (:data:`DOCTOR_MODEL`), loaded in
its own runtime and run at batch sizes 1 and 3 (:func:`zoo.exporters.check_export`, the
``zoo export --check`` machinery, in a scratch folder); OpenVINO runs the ONNX artifact too.
Each check is timed and reported ``ok`` or ``FAILED`` with the first line of its error.

Example:
    >>> from zoo.doctor import diagnose
    >>> report = diagnose(formats=["keras", "onnx:fp32"])  # doctest: +SKIP
    >>> [(c.name, c.ok) for c in report.checks]  # doctest: +SKIP
    [('keras', True), ('onnx:fp32', True), ('openvino', True)]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import types
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import zoo
from zoo.console import console
from zoo.versions import MINIMUM_VERSIONS, library_versions, version_problems

#: The model every format is converted from: tiny, and declaring every format group.
DOCTOR_MODEL = "cnn_lstm_fusion_tiny"

#: Distributions whose versions the report lists.
LIBRARIES = (
    "zoo",
    "keras",
    "tensorflow",
    "onnx",
    "onnxruntime",
    "ai-edge-litert",
    "openvino",
    "numpy",
    "protobuf",
)

#: ``/proc/cpuinfo`` flag → the name of the CPU feature inference runtimes use.
CPU_FEATURES = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512F",
    "avx512_vnni": "AVX-512 VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "avx_vnni": "AVX-VNNI",
    "amx_tile": "AMX",
    "amx_bf16": "AMX-BF16",
    "amx_int8": "AMX-INT8",
}

#: Name and runtime label of the OpenVINO check (it runs the ONNX artifact).
OPENVINO, OPENVINO_RUNTIME = "openvino", "openvino (CPU, f32)"


@dataclass
class Check:
    """One format (converted, loaded, run) or runtime (loaded, run) tried on this machine.

    Attributes:
        name: Format variant (``tflite:int8``) or runtime (``openvino``).
        runtime: The runtime that loaded and ran the artifact.
        ok: Whether every step worked.
        seconds: Wall time of the check.
        error: First line of the error (``Type: message``), ``None`` if ok.
    """

    name: str
    runtime: str
    ok: bool
    seconds: float
    error: str | None = None


@dataclass
class Report:
    """What :func:`diagnose` found: the environment and one :class:`Check` per item."""

    environment: dict[str, Any]
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every check passed and no library is below its minimum."""
        return all(c.ok for c in self.checks) and not self.environment["version_problems"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "environment": self.environment,
            "checks": [asdict(c) | {"seconds": round(c.seconds, 3)} for c in self.checks],
        }


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """CPU model, inference-relevant features and core counts.

    Args:
        cpuinfo: Where to read the model name and flags (Linux); elsewhere the model comes
            from :mod:`platform` and the features are unknown (empty).

    Returns:
        ``{"model", "machine", "features": {name: bool}, "cores", "usable_cores"}``.

    Example:
        >>> sorted(cpu_info())
        ['cores', 'features', 'machine', 'model', 'usable_cores']
    """
    from zoo.process import read_cpuinfo

    model, flags = read_cpuinfo(cpuinfo)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "model": model or platform.processor() or "unknown",
        "machine": platform.machine(),
        "features": {name: flag in flags for flag, name in CPU_FEATURES.items()} if flags else {},
        "cores": os.cpu_count(),
        "usable_cores": usable,
    }


def environment() -> dict[str, Any]:
    """Python, OS, library versions, minimum-version problems, CPU and memory (no TF import)."""
    import psutil

    memory = psutil.virtual_memory()
    return {
        "python": platform.python_version(),
        "os": platform.platform(),
        "versions": library_versions(LIBRARIES),
        "minimum_versions": {d: m.version for d, m in MINIMUM_VERSIONS.items()},
        "version_problems": [str(p) for p in version_problems()],
        "cpu": cpu_info(),
        "memory_gb": {
            "total": round(memory.total / 2**30, 2),
            "available": round(memory.available / 2**30, 2),
        },
    }


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


def check_formats(model: str = DOCTOR_MODEL, formats: list[str] | None = None) -> list[Check]:
    """Convert ``model`` to each format in a scratch folder, load and run it, timed.

    A format that fails (or a build that fails) is a failed :class:`Check`, never an
    exception.

    Args:
        model: Registered model name.
        formats: Format names or groups (default: every format the recipe declares).

    Raises:
        ZooError: an unknown format name (before anything is converted).
    """
    from zoo.exporters import FORMATS, check_export, declared_formats, parse_formats

    wanted = parse_formats(formats, declared_formats(model))  # a bad name raises ZooError
    start = time.perf_counter()
    try:
        findings = check_export(model, formats=wanted, seed=0)
    except Exception as exc:  # the build or the setup failed: every format fails with it
        error = _first_line(f"{type(exc).__name__}: {exc}")
        seconds = time.perf_counter() - start
        return [Check(f, _runtime(FORMATS, f), False, seconds, error) for f in wanted]
    return [
        Check(
            f.format,
            _runtime(FORMATS, f.format),
            f.ok,
            f.seconds,
            None if f.ok else _first_line(f.error or "failed"),
        )
        for f in findings
    ]


def _runtime(formats: dict[str, Any], name: str) -> str:
    fmt = formats.get(name)
    return fmt.runtime if fmt is not None and fmt.runtime else "?"


def check_openvino(model: str = DOCTOR_MODEL) -> Check:
    """OpenVINO (CPU, f32) loads and runs ``model``'s ONNX artifact at batch 1 and 3.

    The ONNX file is exported (unvalidated) into a scratch folder first; ``seconds`` is the
    OpenVINO part only (read, compile, two runs). Never raises.
    """
    from zoo.exporters import export_model
    from zoo.samples import sample_inputs

    with tempfile.TemporaryDirectory(prefix="zoo-doctor-") as scratch:
        try:
            result = export_model(model, Path(scratch), formats=["onnx:fp32"], validate=False)
        except Exception as exc:
            error = _first_line(f"ONNX export for OpenVINO: {type(exc).__name__}: {exc}")
            return Check(OPENVINO, OPENVINO_RUNTIME, False, 0.0, error)
        manifest = result.manifest
        path = result.path / manifest["artifacts"]["onnx:fp32"]["path"]
        start = time.perf_counter()
        try:
            import openvino as ov

            core = ov.Core()
            compiled = core.compile_model(
                core.read_model(str(path)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
            )
            specs = {n: types.SimpleNamespace(**s) for n, s in manifest["inputs"].items()}
            for batch in (1, 3):
                out = compiled(sample_inputs(specs, batch, seed=batch))
                got = {p.get_any_name(): tuple(out[p].shape) for p in compiled.outputs}
                want = {n: (batch, *s["shape"]) for n, s in manifest["outputs"].items()}
                if got != want:
                    raise ValueError(f"output shapes {got} at batch {batch}, expected {want}")
        except Exception as exc:
            error = _first_line(f"{type(exc).__name__}: {exc}")
            return Check(OPENVINO, OPENVINO_RUNTIME, False, time.perf_counter() - start, error)
    return Check(OPENVINO, OPENVINO_RUNTIME, True, time.perf_counter() - start)


def diagnose(
    *, model: str = DOCTOR_MODEL, formats: list[str] | None = None, checks: bool = True
) -> Report:
    """The environment, and (``checks``) every format and OpenVINO tried for real.

    Args:
        model: Registered model the checks convert (a tiny one: seconds per format).
        formats: Format variants to check (default: all the recipe declares); OpenVINO
            is checked when an ``onnx`` variant is.
        checks: ``False`` reports the environment only (no TensorFlow import).

    Returns:
        A :class:`Report`; ``report.ok`` is what ``zoo doctor``'s exit status says.

    Example:
        >>> diagnose(checks=False).environment["versions"]["zoo"]
        '0.1.0'
    """
    report = Report(environment())
    if checks:
        report.checks = check_formats(model, formats)
        if any(c.name.split(":")[0] == "onnx" for c in report.checks):
            report.checks.append(check_openvino(model))  # OpenVINO runs the ONNX file
    return report


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``zoo doctor``'s arguments to ``p``."""
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--format",
        help=f"comma-separated formats to check (default: all of {DOCTOR_MODEL}'s)",
    )
    p.add_argument(
        "--no-checks",
        action="store_true",
        help="environment only: no conversions (and no TensorFlow import)",
    )


def run_command(args: argparse.Namespace) -> int:
    """Run ``zoo doctor``; exit status 0 if everything works here, 1 otherwise."""
    formats = [f.strip() for f in args.format.split(",")] if args.format else None
    report = diagnose(formats=formats, checks=not args.no_checks)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print_report(report)
    return 0 if report.ok else 1


def print_report(report: Report) -> None:
    """The report as text: versions, CPU, memory, then one row per check."""
    from rich.markup import escape
    from rich.table import Table

    env, out = report.environment, console()
    out.print(f"zoo {zoo.__version__} on Python {env['python']} ({escape(env['os'])})")
    versions = "  ".join(f"{k} {v}" for k, v in env["versions"].items() if k != "python")
    out.print(escape(versions))
    for problem in env["version_problems"]:
        out.print(f"[red]{escape(problem)}[/red]")
    cpu, mem = env["cpu"], env["memory_gb"]
    have = [name for name, present in cpu["features"].items() if present]
    out.print(
        f"CPU: {escape(cpu['model'])} ({cpu['machine']}), {cpu['usable_cores']} usable of "
        f"{cpu['cores']} cores; features: {', '.join(have) or 'none found'}"
    )
    out.print(f"memory: {mem['available']:.1f} GB available of {mem['total']:.1f} GB")
    if not report.checks:
        return
    table = Table(title=f"formats and runtimes ({DOCTOR_MODEL})", title_justify="left")
    for col in ("check", "runtime", "result", "seconds", "error"):
        table.add_column(col)
    for c in report.checks:
        result = "ok" if c.ok else "[red]FAILED[/red]"
        table.add_row(c.name, escape(c.runtime), result, f"{c.seconds:.2f}", escape(c.error or ""))
    out.print(table)
    verdict = "all formats and runtimes work here" if report.ok else "[red]some checks failed[/red]"
    out.print(verdict)

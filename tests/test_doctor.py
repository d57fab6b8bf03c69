"""``zoo doctor``: versions, CPU, and a real conversion and run per format, timed."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

from zoo.cli import main
from zoo.doctor import DOCTOR_MODEL, LIBRARIES, Check, Report, cpu_info, environment, print_report


def _doctor(capsys, *args: str) -> tuple[int, dict]:
    code = main(["doctor", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_every_format_and_runtime_works_here(capsys):
    from zoo.exporters import declared_formats, parse_formats

    code, report = _doctor(capsys)
    checks = {c["name"]: c for c in report["checks"]}
    variants = parse_formats(None, declared_formats(DOCTOR_MODEL))
    assert len(variants) >= 4 and list(checks) == [*variants, "openvino"]
    for name, check in checks.items():
        assert check["ok"] and check["error"] is None, check
        assert check["seconds"] > 0, name
    assert code == 0 and report["ok"] is True
    env = report["environment"]
    assert set(env["versions"]) == {"python", *LIBRARIES}
    assert env["version_problems"] == []
    assert env["cpu"]["cores"] >= 1 and env["memory_gb"]["total"] > 0


def test_a_broken_format_is_reported_failed(capsys, monkeypatch):
    from zoo.exporters import FORMATS

    def broken(model, path, ctx):
        raise RuntimeError("converter exploded\nsecond line of detail")

    monkeypatch.setitem(
        FORMATS, "onnx:fp32", dataclasses.replace(FORMATS["onnx:fp32"], write=broken)
    )
    code, report = _doctor(capsys, "--format", "keras,onnx:fp32")
    checks = {c["name"]: c for c in report["checks"]}
    assert code == 1 and report["ok"] is False
    assert checks["keras"]["ok"] is True
    assert checks["onnx:fp32"]["ok"] is False
    assert checks["onnx:fp32"]["error"] == "RuntimeError: converter exploded"  # first line only
    assert checks["onnx:fp32"]["runtime"] == "onnxruntime"
    assert checks["openvino"]["ok"] is False  # it runs the ONNX file, which cannot be made
    assert "converter exploded" in checks["openvino"]["error"]


def test_environment_only_never_imports_tensorflow():
    code = (
        "import sys, json, contextlib, io\n"
        "from zoo.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    status = main(['doctor', '--no-checks', '--json'])\n"
        "report = json.loads(out.getvalue())\n"
        "assert status == 0 and report['checks'] == [], (status, report)\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'onnxruntime', 'openvino')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print(report['environment']['versions']['keras'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()[0].isdigit()


def test_an_unknown_format_is_a_usage_error(capsys):
    assert main(["doctor", "--format", "onnx:fp64"]) == 2
    assert "onnx:fp64" in capsys.readouterr().err


def test_cpu_features_come_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse avx2 avx512f amx_tile\n"
        "processor\t: 1\nmodel name\t: Test CPU 9000\nflags\t\t: fpu\n"
    )
    info = cpu_info(cpuinfo)
    assert info["model"] == "Test CPU 9000"
    have = {name for name, present in info["features"].items() if present}
    assert have == {"AVX2", "AVX-512F", "AMX"}
    missing = cpu_info(tmp_path / "no-such-file")
    assert missing["features"] == {} and missing["model"]


def test_text_report_shows_failures(capsys):
    report = Report(
        environment(),
        [
            Check("keras", "keras (safe_mode)", True, 1.5),
            Check("tflite:fp32", "ai_edge_litert", False, 0.25, "ValueError: Flex ops"),
        ],
    )
    assert report.ok is False
    print_report(report)
    out = capsys.readouterr().out
    assert "FAILED" in out and "ValueError: Flex ops" in out and "CPU:" in out
    assert "some checks failed" in out


def test_text_environment_report(capsys):
    assert main(["doctor", "--no-checks"]) == 0
    out = capsys.readouterr().out
    assert "keras " in out and "memory:" in out and "CPU:" in out

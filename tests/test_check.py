"""``zoo export --check``: conversion feasibility in a scratch folder, nothing written."""

from __future__ import annotations

from conftest import run_cli
from zoo.exporters import FORMATS, check_export

NAME = "cnn_lstm_fusion_tiny"


def test_check_reports_every_declared_format_as_feasible():
    findings = check_export(NAME, formats=["keras", "saved_model"])
    assert [f.format for f in findings] == ["keras", "saved_model"]
    assert all(f.ok and f.error is None and f.seconds > 0 for f in findings)


def test_a_failing_format_is_a_finding_not_a_crash(monkeypatch):
    original = FORMATS["saved_model"]

    def broken(model, path, ctx):
        raise RuntimeError("converter says: op FlexTensorListReserve is not supported")

    monkeypatch.setitem(
        FORMATS,
        "saved_model",
        original.__class__(
            "saved_model", original.artifact, broken, original.load, original.runtime
        ),
    )
    findings = check_export(NAME, formats=["saved_model", "keras"])
    assert [f.ok for f in findings] == [False, True]
    assert "FlexTensorListReserve" in findings[0].error


def test_cli_check_writes_nothing(tmp_path):
    proc = run_cli(
        "export",
        NAME,
        "--format",
        "saved_model",
        "--check",
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "saved_model" in proc.stdout and "yes" in proc.stdout
    assert list(tmp_path.iterdir()) == []

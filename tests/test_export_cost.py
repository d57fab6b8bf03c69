"""Per-format results and costs: export_stats, on_failure="record", shared conversions."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from zoo.exporters import FORMATS, ValidationFailed, export_model
from zoo.exporters import verify as verify_folder
from zoo.exporters.formats import _onnx_graph, _tflite_convert

from zoo import ZooError
from zoo import exporters as export

NAME = "cnn_lstm_fusion_tiny"


@pytest.fixture
def exported(fusion_export):
    """NAME exported in all its formats: conftest's one shared, read-only export."""
    return fusion_export


def test_manifest_has_seconds_and_peak_rss_per_stage(exported):
    stats = json.loads((exported.path / "manifest.json").read_text())["export_stats"]
    assert set(stats["stages"]) == {"build", "reference", *exported.manifest["artifacts"]}
    for name, stage in stats["stages"].items():
        assert stage["seconds"] > 0, name
        assert 100 < stage["peak_rss_mb"] <= stats["peak_rss_mb"], name
    for fmt in exported.manifest["artifacts"]:
        assert 0 < stats["stages"][fmt]["write_seconds"] <= stats["stages"][fmt]["seconds"]
    assert stats["peak_scope"] == "stage"  # Linux: the high-water mark is reset per stage
    assert stats["protobuf"] in {"python", "upb", "cpp"}
    assert exported.status == dict.fromkeys(exported.manifest["artifacts"], "ok")
    assert exported.manifest["failed"] == {}


def test_the_fp32_onnx_graph_is_converted_once_whichever_variant_comes_first(tmp_path, monkeypatch):
    from zoo.exporters._export import _context
    from zoo.exporters._subject import subject_for
    from zoo.exporters.formats import onnx as onnx_format

    calls = []
    real = _onnx_graph.convert
    monkeypatch.setattr(_onnx_graph, "convert", lambda *a, **k: calls.append(1) or real(*a, **k))
    subject = subject_for(NAME, seed=0)
    ctx = _context(subject)
    int8 = onnx_format.write_int8(subject.model, tmp_path / "model_int8.onnx", ctx)
    onnx_format.write_fp32(subject.model, tmp_path / "model.onnx", ctx)
    assert len(calls) == 1 and int8["fp32_graph_reused"] is False
    workspace = ctx.work._root
    assert workspace is not None and workspace.is_dir()
    ctx.work.close()
    assert not workspace.exists()


def test_heavy_formats_run_first_and_the_manifest_keeps_the_requested_order(tmp_path, monkeypatch):
    # A temp folder of its own: other processes (a parallel worker) make and remove theirs.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    formats = ["keras", "onnx:int8", "tflite:fp32", "onnx:fp32"]
    workspaces = set(Path(tempfile.gettempdir()).glob("zoo-export-*"))
    result = export_model(NAME, tmp_path, formats=formats, seed=0)
    assert list(result.manifest["artifacts"]) == formats == list(result.status)
    assert result.manifest["formats_requested"] == formats
    assert result.manifest["artifacts"]["onnx:int8"]["fp32_graph_reused"] is True
    assert set(Path(tempfile.gettempdir()).glob("zoo-export-*")) == workspaces  # removed


def test_the_tflite_variants_share_one_trace(tmp_path, monkeypatch):
    traced = []
    real = _tflite_convert.trace_saved_model
    monkeypatch.setattr(
        _tflite_convert,
        "trace_saved_model",
        lambda *a, **k: traced.append(k["batch"]) or real(*a, **k),
    )
    result = export_model(NAME, tmp_path, formats=["tflite"], seed=0)
    assert traced == [None]  # one dynamic-batch trace for the four variants
    assert len(result.manifest["artifacts"]) == 4


def _impossible_atol(fmt):
    real = export._export.tolerance

    def patched(name, family):
        tol = real(name, family)
        return dataclasses.replace(tol, atol=0.0) if name == fmt else tol

    return patched


def test_keep_going_keeps_the_good_formats_and_drops_the_failed_one(tmp_path, monkeypatch):
    monkeypatch.setattr(export._export, "tolerance", _impossible_atol("onnx:int8"))
    formats = ["keras", "onnx:fp32", "onnx:int8", "tflite:fp32"]
    result = export_model(NAME, tmp_path, formats=formats, seed=0, on_failure="record")

    assert result.status == {
        "keras": "ok",
        "onnx:fp32": "ok",
        "onnx:int8": "failed",
        "tflite:fp32": "ok",
    }
    failed = result.manifest["failed"]["onnx:int8"]
    assert failed["stage"] == "validate" and failed["error_type"] == "ValidationFailed"
    assert "onnx:int8" in failed["error"] and failed["parity"]
    assert failed["seconds"] > 0 and failed["peak_rss_mb"] > 0
    assert result.failed == result.manifest["failed"]
    assert not (result.path / FORMATS["onnx:int8"].artifact).exists()
    assert sorted(result.manifest["artifacts"]) == ["keras", "onnx:fp32", "tflite:fp32"]
    for fmt in result.manifest["artifacts"]:
        assert (result.path / FORMATS[fmt].artifact).exists()
    assert verify_folder(result.path).ok


def test_a_write_error_is_recorded_with_its_stage(tmp_path, monkeypatch):
    def broken(model, path, ctx):
        path.write_bytes(b"half-written")
        raise RuntimeError("converter crashed (simulated)")

    monkeypatch.setitem(
        FORMATS, "tflite:fp16", dataclasses.replace(FORMATS["tflite:fp16"], write=broken)
    )
    result = export_model(
        NAME, tmp_path, formats=["keras", "tflite:fp16"], seed=0, on_failure="record"
    )
    failed = result.failed["tflite:fp16"]
    assert (failed["stage"], failed["error_type"]) == ("write", "RuntimeError")
    assert "simulated" in failed["error"]
    assert not (result.path / FORMATS["tflite:fp16"].artifact).exists()


def test_raise_is_the_default_and_keeps_the_previous_set(tmp_path, monkeypatch):
    first = export_model(NAME, tmp_path, formats=["keras"], seed=0)
    before = sorted(p.name for p in first.path.iterdir())
    monkeypatch.setattr(export._export, "tolerance", _impossible_atol("onnx:int8"))
    with pytest.raises(ValidationFailed) as info:
        export_model(NAME, tmp_path, formats=["keras", "onnx:int8"], seed=0)
    assert info.value.format == "onnx:int8"
    assert sorted(p.name for p in first.path.iterdir()) == before


def test_every_format_failing_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(export._export, "tolerance", _impossible_atol("onnx:int8"))
    with pytest.raises(ZooError, match=r"every requested format failed.*onnx:int8"):
        export_model(NAME, tmp_path, formats=["onnx:int8"], seed=0, on_failure="record")
    assert not (tmp_path / NAME).exists()


def test_on_failure_must_be_raise_or_record(tmp_path):
    with pytest.raises(ZooError, match=r"on_failure must be one of \['raise', 'record'\].*'skip'"):
        export_model(NAME, tmp_path, on_failure="skip")
    assert list(tmp_path.iterdir()) == []


def test_external_tensors_are_inlined_and_unknown_ones_refused():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    tensor = numpy_helper.from_array(value, "w")
    blob = tensor.raw_data
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="w_0")
    node = helper.make_node("Identity", ["w"], ["y"])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    proto = helper.make_model(helper.make_graph([node], "g", [], [out], [tensor]))

    broken = onnx.ModelProto()
    broken.CopyFrom(proto)
    with pytest.raises(ZooError, match="'w_0'"):
        _onnx_graph.inline_external(broken, {})

    blobs = {"w_0": blob}
    _onnx_graph.inline_external(proto, blobs)
    assert blobs == {}
    got = proto.graph.initializer[0]
    assert got.data_location == TensorProto.DEFAULT and not got.external_data
    np.testing.assert_array_equal(numpy_helper.to_array(got), value)


def test_cli_keep_going_writes_the_good_formats_and_exits_1(tmp_path, monkeypatch, capsys):
    from zoo.cli import main

    monkeypatch.setattr(export._export, "tolerance", _impossible_atol("onnx:int8"))
    args = ["export", NAME, "--format", "keras,onnx:int8", "--out", str(tmp_path)]
    assert main([*args, "--keep-going"]) == 1
    out, err = capsys.readouterr()
    assert "FAILED" in out and "peak RSS" in out
    assert "1 format(s) failed and were left out: onnx:int8" in err
    manifest = json.loads((tmp_path / NAME / "manifest.json").read_text())
    assert list(manifest["artifacts"]) == ["keras"] and list(manifest["failed"]) == ["onnx:int8"]

    assert main(args) == 2  # without --keep-going the first failure stops the export
    assert "onnx:int8" in capsys.readouterr().err

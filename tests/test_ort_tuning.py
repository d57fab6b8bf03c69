"""The ORT-vs-OpenVINO investigation runs every variant on one artifact and agrees on values."""

from __future__ import annotations

import json

import pytest
from zoo.benchmarks import ort_tuning
from zoo.exporters import export_model

from zoo import ZooError


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return export_model(
        "cnn_lstm_fusion_tiny", tmp_path_factory.mktemp("ort"), formats=["onnx:fp32"], seed=0
    ).path


def test_every_variant_is_timed_and_computes_the_same(folder, tmp_path, capsys):
    out = tmp_path / "rows.json"
    assert (
        ort_tuning.main([str(folder), "--rounds", "1", "--max-seconds", "0.2", "--json", str(out)])
        == 0
    )
    rows = json.loads(out.read_text())
    assert [r["variant"] for r in rows] == [label for label, _ in ort_tuning.candidates()]
    assert rows[0]["ratio_to_zoo_session"] == 1.0
    for r in rows:
        assert r["p50_ms"] > 0 and len(r["p50_per_round_ms"]) == 1
        assert r["max_abs_vs_zoo_session"] <= 1e-4, r
    printed = capsys.readouterr().out
    assert printed.count("\n| ") == len(rows) + 1  # header + one line per variant


def test_a_folder_without_onnx_is_refused(tmp_path):
    with pytest.raises(ZooError, match=r"no manifest\.json"):
        ort_tuning.run(tmp_path, threads=1, rounds=1, batch=1, max_seconds=0.1)

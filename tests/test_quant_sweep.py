"""Quantization sweep: real-data accuracy, agreement, size and latency of every export.

One end-to-end run of ``python -m zoo.benchmarks.quant_sweep`` on the tiny BERT recipe (a
random backbone, so its accuracy is near chance: the tests check what the numbers are and
that they are consistent, never a figure), plus unit tests of the pieces.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_cli
from zoo.benchmarks._sweep_tasks import load_task, predict, train_head
from zoo.benchmarks.quant_sweep import sweep_formats

import zoo
from zoo import ZooError
from zoo._recipe import expand_formats

TINY = "bert_classifier_tiny"
LIMIT = 40
FP32 = ("keras", "saved_model", "tflite:fp32", "onnx:fp32")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The CLI run: its process, run folder and quant_sweep.json."""
    out = tmp_path_factory.mktemp("sweep")
    cmd = [sys.executable, "-m", "zoo.benchmarks.quant_sweep", TINY, "--quick", "--out", str(out)]
    cmd += ["--limit", str(LIMIT), "--epochs", "5"]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = out.iterdir()
    return proc, run_dir, json.loads((run_dir / "quant_sweep.json").read_text())


def _rows(result):
    return {r["format"]: r for r in result["rows"]}


def test_run_writes_its_folder_report_and_table(run):
    proc, run_dir, result = run
    assert re.fullmatch(rf"\d{{8}}-\d{{6}}-{TINY}-quant", run_dir.name)
    assert result["name"] == TINY
    assert result["columns"][0] == "format"
    md = (run_dir / "quant_sweep.md").read_text()
    assert f"# Quantization sweep: {TINY}" in md
    assert "| " + " | ".join(result["columns"]) + " |" in md
    assert f"quantization sweep {TINY}" in proc.stdout
    for fmt in sweep_formats(TINY)[0]:
        marked = re.findall(rf"^\| {re.escape(fmt)}( \([a-z ,]+\))? \|", md, re.M)
        assert len(marked) == 1, fmt
        assert fmt in proc.stdout
    for row in result["rows"]:
        assert row["validation"] in ("passed", "failed")
        if row["validation"] == "failed":
            wanted = f"export validation FAILED for {row['format']}"
            assert any(wanted in note for note in result["notes"])


def test_one_row_per_format_variant_declared_ones_marked(run):
    """Every variant zoo implements is measured; those the recipe leaves out are marked."""
    from zoo.exporters import FORMATS

    _, run_dir, result = run
    declared = {"keras", *expand_formats(zoo.info(TINY)["formats"])}
    formats = [r["format"] for r in result["rows"]]
    assert formats[0] == "keras"
    assert sorted(formats) == sorted(FORMATS)
    assert len(formats) == len(set(formats))
    for row in result["rows"]:
        assert row["declared"] == (row["format"] in declared), row["format"]
        folder = "artifacts" if row["declared"] else "artifacts-not-in-recipe"
        folder += "-failed-validation" if row["validation"] == "failed" else ""
        assert Path(row["artifact"]).parent.parent == run_dir / folder
        assert Path(row["artifact"]).exists()
    assert result["settings"]["declared_formats"] == [f for f in formats if f in declared]


def test_accuracies_are_fractions_and_the_columns_agree(run):
    _, _, result = run
    keras_acc = result["keras"]["test_accuracy"]
    n = result["keras"]["test_rows"]
    assert 0.0 <= keras_acc <= 1.0
    assert 0.0 <= result["keras"]["train_accuracy"] <= 1.0
    assert n == sum(result["data"]["test"].values()) == LIMIT
    for row in result["rows"]:
        assert 0.0 <= row["accuracy"] <= 1.0
        assert 0.0 <= row["agreement"] <= 1.0
        assert row["delta_points"] == pytest.approx((row["accuracy"] - keras_acc) * 100)
        assert row["disagreements"] == round((1 - row["agreement"]) * n)
        # accuracy can move by at most the share of flipped predictions
        assert abs(row["accuracy"] - keras_acc) <= 1 - row["agreement"] + 1e-9


def test_fp32_formats_agree_with_keras_on_every_test_row(run):
    _, _, result = run
    rows = _rows(result)
    for fmt in FP32:
        assert rows[fmt]["agreement"] == 1.0, fmt
        assert rows[fmt]["disagreements"] == 0
        assert rows[fmt]["accuracy"] == result["keras"]["test_accuracy"]


def test_accuracy_is_reproduced_from_the_artifacts_and_the_test_split(run):
    """Reload two quantized artifacts and score them on the same split, independently."""
    from zoo.exporters import load_runner, run_once

    from zoo.data import sentiment_lexicon

    _, _, result = run
    data = sentiment_lexicon(seed=result["settings"]["seed"], limit=LIMIT)
    x = zoo.preprocessor(TINY)(list(data.test.texts))
    labels = np.asarray(data.test.labels)
    rows = _rows(result)
    for fmt in ("tflite:int8", "onnx:int8"):
        probs = run_once(load_runner(fmt, Path(rows[fmt]["artifact"])), x)["probabilities"]
        assert probs.shape == (LIMIT, 2)
        assert float(np.mean(probs.argmax(1) == labels)) == pytest.approx(rows[fmt]["accuracy"])


def test_sizes_are_the_artifacts_on_disk(run):
    _, _, result = run
    for row in result["rows"]:
        path = Path(row["artifact"])
        manifest = json.loads((path.parent / "manifest.json").read_text())
        assert manifest["artifacts"][row["format"]]["bytes"] == row["size_bytes"]
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        assert row["size_bytes"] == sum(p.stat().st_size for p in files) > 0, row["format"]
    rows = _rows(result)
    assert rows["tflite:int8"]["size_bytes"] < rows["tflite:fp16"]["size_bytes"]
    assert rows["tflite:fp16"]["size_bytes"] < rows["tflite:fp32"]["size_bytes"]


def test_latency_comes_from_the_benchmark_runs(run):
    _, run_dir, result = run
    timed = {}
    for bench_dir in map(Path, result["settings"]["bench_runs"]):
        assert bench_dir.parent.parent == run_dir
        bench = json.loads((bench_dir / "results.json").read_text())
        assert bench["settings"]["batches"] == [1]
        timed.update({r["backend"]: r for r in bench["rows"] if r["stats"]})
    rows = _rows(result)
    for fmt, row in rows.items():
        backend = "keras_call" if fmt == "keras" else fmt
        assert row["p50_ms"] == timed[backend]["stats"]["p50_ms"] > 0, fmt
        group = fmt.partition(":")[0]
        base = rows.get(f"{group}:fp32", row)["p50_ms"]
        assert row["speedup_vs_fp32"] == pytest.approx(base / row["p50_ms"])
    for fmt in FP32:
        assert rows[fmt]["speedup_vs_fp32"] == 1.0


def test_the_exported_model_is_the_trained_one(run):
    """The .keras artifact has a trained head on the untouched frozen backbone."""
    from zoo.exporters import load_runner

    _, _, result = run
    exported = load_runner("keras", Path(_rows(result)["keras"]["artifact"])).model
    fresh = zoo.get(TINY, seed=result["settings"]["seed"], **result["settings"]["overrides"])
    for want, got in zip(
        fresh.get_layer("backbone").get_weights(),
        exported.get_layer("backbone").get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)
    for layer in ("head_dense", "probabilities"):
        assert not np.array_equal(
            fresh.get_layer(layer).get_weights()[0], exported.get_layer(layer).get_weights()[0]
        ), layer
    assert result["training"]["head_layers"] == ["head_dense", "head_dropout", "probabilities"]


# --- pieces -----------------------------------------------------------------------------


def test_a_failed_format_is_exported_apart_and_the_rest_validated(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from zoo.benchmarks import quant_sweep
    from zoo.benchmarks._sweep_tasks import SweepDataset

    from zoo import exporters as export

    calls = []

    def fake_export(model, out, *, formats, data, validate=True, on_failure="raise"):
        calls.append((out.name, list(formats), validate, on_failure))
        failed = {}
        if validate and "tflite:int8" in formats:
            failed["tflite:int8"] = {
                "error_type": "ValidationFailed",
                "error": "tflite:int8: artifact does not match Keras:\n  ...",
            }
        passed = {f: {} for f in formats if f not in failed}
        return SimpleNamespace(path=out / "m", manifest={"artifacts": passed}, failed=failed)

    monkeypatch.setattr(export, "export_model", fake_export)
    x = {"token_ids": np.zeros((5, 4), np.int32)}
    task = SweepDataset("t", ("a", "b"), x, np.zeros(5, int), x, np.zeros(5, int))
    formats = ["keras", "tflite:fp32", "tflite:int8", "onnx:fp32"]
    passed, failed = quant_sweep._export(None, tmp_path / "artifacts", task, formats)
    assert calls == [  # one validated export keeps the others; no re-export loop
        ("artifacts", formats, True, "record"),
        ("artifacts-failed-validation", ["tflite:int8"], False, "raise"),
    ]
    assert passed.status == dict.fromkeys(["keras", "tflite:fp32", "onnx:fp32"], "passed")
    assert failed.status == {"tflite:int8": "failed"}
    assert passed.declared and failed.declared
    assert any("export validation FAILED for tflite:int8" in n for n in failed.notes)


def test_a_format_failing_outside_validation_stops_the_sweep(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from zoo.benchmarks import quant_sweep
    from zoo.benchmarks._sweep_tasks import SweepDataset

    from zoo import exporters as export

    def fake_export(model, out, *, formats, data, validate=True, on_failure="raise"):
        failed = {"onnx:int8": {"error_type": "RuntimeError", "error": "quantizer crashed"}}
        return SimpleNamespace(path=out, manifest={"artifacts": {"keras": {}}}, failed=failed)

    monkeypatch.setattr(export, "export_model", fake_export)
    x = {"token_ids": np.zeros((5, 4), np.int32)}
    task = SweepDataset("t", ("a", "b"), x, np.zeros(5, int), x, np.zeros(5, int))
    with pytest.raises(ZooError, match=r"failed outside validation.*quantizer crashed"):
        quant_sweep._export(None, tmp_path / "artifacts", task, ["keras", "onnx:int8"])


class _FixedBatch:
    """A fake runner that accepts only multiples of ``size`` rows and echoes row ids."""

    def __init__(self, size):
        self.size = size
        self.calls = []

    def prepare(self, inputs):
        return inputs

    def run(self, prepared):
        rows = len(prepared["x"])
        assert rows % self.size == 0
        self.calls.append(rows)
        ids = prepared["x"][:, 0].astype(np.float64)
        return {"probabilities": np.stack([ids, -ids], axis=1)}


@pytest.mark.parametrize(("fixed", "batch", "calls"), [(None, 4, [4, 4, 2]), (3, 4, [3] * 4)])
def test_predict_chunks_pads_and_keeps_row_order(fixed, batch, calls):
    runner = _FixedBatch(fixed or 1)
    x = {"x": np.arange(10, dtype=np.int32)[:, None]}
    probs = predict(runner, x, batch=batch, fixed_batch=fixed)
    np.testing.assert_array_equal(probs[:, 0], np.arange(10))
    assert runner.calls == calls


def test_train_head_trains_the_models_own_head_only():
    task = load_task(TINY, limit=32)
    assert task.overrides == {"num_classes": 2}  # the recipe has 3 classes, the data 2
    model = zoo.get(TINY, seed=0, **task.overrides)
    backbone = [w.copy() for w in model.get_layer("backbone").get_weights()]
    head = model.get_layer("head_dense").get_weights()[0].copy()
    training = train_head(model, task, epochs=3)
    for want, got in zip(backbone, model.get_layer("backbone").get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(model.get_layer("head_dense").get_weights()[0], head)
    assert 0.0 <= training.train_accuracy <= 1.0
    assert training.feature_shape == [32]  # the tiny backbone's hidden size


def test_train_head_refuses_a_trainable_backbone():
    task = load_task(TINY, limit=8)
    model = zoo.get(TINY, seed=0, trainable_backbone=True, **task.overrides)
    with pytest.raises(ZooError, match="frozen backbone"):
        train_head(model, task, epochs=1)


def test_digits_task_fits_the_image_model_contract():
    task = load_task("resnet50_transfer_tiny", limit=20)
    assert task.overrides == {"num_classes": 10}  # the tiny recipe has 3 classes
    for x, y in ((task.x_train, task.y_train), (task.x_test, task.y_test)):
        assert list(x) == ["image"]
        assert x["image"].shape == (20, 64, 64, 3) and x["image"].dtype == np.float32
        assert 0.0 == x["image"].min() < x["image"].max() == 255.0
        assert set(y.tolist()) <= set(range(10)) and len(set(y.tolist())) == 10
    assert any("random-init" in note for note in task.notes)


def test_family_without_a_dataset_is_refused_with_the_supported_ones():
    with pytest.raises(ZooError, match=r"no real dataset .* bert_classifier, resnet50_transfer"):
        load_task("cnn_lstm_fusion_tiny")


def test_zoo_bench_quant_sweep_flags_are_checked():
    proc = run_cli("bench", TINY, "--quant-sweep", "--backends", "onnx:fp32")
    assert proc.returncode == 2
    assert "--quant-sweep takes a model name" in proc.stderr
    assert "--backends" in proc.stderr
    proc = run_cli("bench", TINY, "--limit", "5")
    assert proc.returncode == 2
    assert "--limit applies to --quant-sweep only" in proc.stderr

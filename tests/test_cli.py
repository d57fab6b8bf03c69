"""The ``zoo`` command, run as a user would: in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli

import zoo

NAME = "cnn_lstm_fusion_tiny"


def test_list():
    proc = run_cli("list")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == zoo.list()


def test_list_pattern_and_json():
    proc = run_cli("list", "*_tiny", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == zoo.list("*_tiny")


def test_show_prints_the_contract_without_building():
    proc = run_cli("show", NAME, "--no-build")
    assert proc.returncode == 0, proc.stderr
    for text in ("tokens", "[batch, 16]", "[batch, 32, 32, 3]", "probabilities", "lstm_units"):
        assert text in proc.stdout
    assert "parameters:" not in proc.stdout


def test_show_builds_for_parameters_and_flops():
    proc = run_cli("show", NAME, "--json")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)["stats"]
    model = zoo.get(NAME, seed=0)
    assert stats["parameters"]["total"] == model.count_params()
    assert stats["flops_per_example"] > 2 * stats["parameters"]["total"] // 10
    assert "random" in stats["weights"]


def test_show_json_with_override():
    proc = run_cli("show", NAME, "--json", "--no-build", "--set", "num_classes=5")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["outputs"]["probabilities"]["shape"] == [5]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("show", "cnn_lstm_fuson"), "Did you mean 'cnn_lstm_fusion'"),
        (("show", NAME, "--set", "num_classes=zero"), "'zero' (str)"),
        (("show", NAME, "--set", "num_classes"), "expected KEY=VALUE"),
        (("build", NAME, "--out", "model.h5"), "ending in .keras"),
        (("export", NAME, "--format", "tflitee", "--out", "unused"), "unknown export format"),
    ],
)
def test_bad_input_exits_2_with_a_message(args, fragment, tmp_path):
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_build_writes_a_loadable_keras_file(tmp_path):
    out = tmp_path / "model.keras"
    proc = run_cli("build", NAME, "--out", str(out), "--set", "num_classes=4", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    import keras

    model = keras.saving.load_model(out, safe_mode=True)
    assert model.output["probabilities"].shape == (None, 4)
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_export_saved_model(tmp_path):
    proc = run_cli("export", NAME, "--format", "saved_model", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / NAME / "manifest.json").read_text())
    assert list(manifest["artifacts"]) == ["saved_model"]
    assert "saved_model" in proc.stdout


def test_bench_prints_table_and_writes_report(tmp_path):
    proc = run_cli(
        "bench",
        NAME,
        "--quick",
        "--backends",
        "keras_predict,saved_model",
        "--iters",
        "3",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    for text in ("keras_predict", "saved_model", "p50 ms", "export parity", "recommended"):
        assert text in proc.stdout
    (run_dir,) = [p for p in tmp_path.iterdir() if p.name != ".exports"]
    for name in ("results.json", "results.csv", "report.md"):
        assert (run_dir / name).is_file()


def test_bench_rejects_bad_batch_list(tmp_path):
    proc = run_cli("bench", NAME, "--batch", "1,x", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "expected comma-separated integers" in proc.stderr


def test_python_m_benchmarks(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            NAME,
            "--quick",
            "--backends",
            "saved_model",
            "--iters",
            "2",
            "--warmup",
            "0",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "saved_model" in proc.stdout
    assert "keras_call" not in proc.stdout


def test_card_writes_a_model_card(tmp_path):
    out = tmp_path / "MODEL_CARD.md"
    proc = run_cli("card", NAME, "--runs", str(tmp_path / "no-runs"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "no benchmark run found" in proc.stdout
    text = out.read_text()
    assert text.startswith(f"# Model card: {NAME}")
    assert f"{zoo.get(NAME, seed=0).count_params():,}" in text

"""python -m zoo.benchmarks.transfer_proof: every experiment is a real zoo.fit call; one
failure is recorded without losing the others."""

from __future__ import annotations

import json

import pytest
from zoo.benchmarks import transfer_proof

import zoo


def test_experiments_name_registered_models_and_sources():
    from zoo.data import peek

    for what, kwargs, _ in transfer_proof.EXPERIMENTS.values():
        assert kwargs["model_or_name"] in zoo.list(), what
        assert peek(kwargs["data"]).class_names


def test_a_failed_experiment_is_recorded_and_the_others_kept(tmp_path):
    def runner(name, *, quick, out):
        if name == "bert_random":
            raise RuntimeError("out of memory")
        return {
            "rows": {"test": 10},
            "accuracy": 0.9,
            "accuracy_ci95": [0.6, 0.98],
            "f1_macro": 0.88,
            "majority_accuracy": 0.5,
            "chance": 0.5,
            "seconds": 1.0,
        }

    folder = transfer_proof.main(["--out", str(tmp_path), "--quick"], runner=runner)
    results = json.loads((folder / "proof.json").read_text())
    assert results["bert_random"] == {"error": "RuntimeError: out of memory"}
    assert results["bert_pretrained"]["accuracy"] == 0.9
    table = (folder / "proof.md").read_text()
    assert "| bert_pretrained | 10 | 0.900 (0.600–0.980) | 0.880 | 0.500 | 0.500 | 1.0 |" in table
    assert "| bert_random | failed: RuntimeError: out of memory" in table


@pytest.mark.heavy
def test_quick_run_of_one_experiment_trains_for_real(tmp_path):
    folder = transfer_proof.main(["--out", str(tmp_path), "--quick", "--only", "fusion_pairs"])
    result = json.loads((folder / "proof.json").read_text())["fusion_pairs"]
    assert result["rows"]["test"] > 0 and 0.0 <= result["accuracy"] <= 1.0
    assert (tmp_path / folder.name).is_dir() and json.loads(
        (next(folder.glob("*-fit")) / "run.json").read_text()
    )["model"]["name"] == "cnn_lstm_fusion_tiny"

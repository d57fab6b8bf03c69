"""Golden vectors and ``zoo verify``: tampering and drift are detected."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import run_cli
from zoo.exporters import export_model, verify
from zoo.exporters.verify import GOLDEN, read_golden

import zoo
from zoo import ZooError
from zoo._recipe import expand_formats
from zoo._registry import REGISTRY

NAME = "cnn_lstm_fusion_tiny"


@pytest.fixture
def pristine(fusion_export):
    """NAME exported in all its formats: conftest's one shared export, copied per test."""
    return fusion_export.path


@pytest.fixture
def exported(pristine, tmp_path):
    copy = tmp_path / NAME
    shutil.copytree(pristine, copy)
    return copy


def test_golden_holds_inputs_and_keras_outputs(exported):
    inputs, outputs = read_golden(exported / GOLDEN)
    assert set(inputs) == set(zoo.info(NAME)["inputs"])
    assert set(outputs) == set(zoo.info(NAME)["outputs"])
    model = zoo.get(NAME, seed=0)
    np.testing.assert_allclose(
        np.asarray(model(inputs, training=False)["probabilities"]),
        outputs["probabilities"],
        atol=1e-6,
    )


def test_fresh_export_verifies(exported):
    report = verify(exported)
    assert report.ok
    assert sorted(c.format for c in report.checks) == sorted(
        expand_formats(REGISTRY.get(NAME).recipe.export.formats)
    )
    assert all(c.hash_ok and c.max_abs <= c.atol for c in report.checks)


def test_swapped_weights_are_detected(exported, tmp_path):
    other = export_model(NAME, tmp_path / "other", formats=["keras"], seed=99).path
    shutil.copy(other / "model.keras", exported / "model.keras")
    report = verify(exported)
    assert not report.ok
    (check,) = [c for c in report.checks if c.format == "keras"]
    assert not check.hash_ok
    assert check.max_abs > check.atol


def test_tampered_golden_is_detected(exported):
    inputs, outputs = read_golden(exported / GOLDEN)
    outputs["probabilities"] = outputs["probabilities"] + 0.5
    from zoo.exporters.verify import write_golden

    write_golden(exported / GOLDEN, inputs, outputs)
    report = verify(exported)
    assert not report.golden_ok
    assert not report.ok


def test_cli_verify_exit_codes(exported):
    ok = run_cli("verify", str(exported))
    assert ok.returncode == 0, ok.stderr
    assert "golden.npz hash: ok" in ok.stdout
    variables = next((exported / "saved_model" / "variables").glob("variables.data*"))
    data = bytearray(variables.read_bytes())
    data[-1] ^= 0xFF
    variables.write_bytes(bytes(data))
    bad = run_cli("verify", str(exported))
    assert bad.returncode == 1
    assert "DIFFERS" in bad.stdout


def test_verify_rejects_a_folder_that_is_not_an_export(tmp_path):
    with pytest.raises(ZooError, match=r"no manifest\.json"):
        verify(tmp_path)

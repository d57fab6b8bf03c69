"""Export folders are atomic, validated, and described by their manifest."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from zoo.exporters import (
    FORMATS,
    ValidationFailed,
    export_model,
    load_runner,
    run_once,
    sample_inputs,
)
from zoo.exporters._atomic import sha256_path
from zoo.exporters.tolerances import TOLERANCES, Tolerance

import zoo
from zoo import ZooError
from zoo._recipe import expand_formats
from zoo._registry import REGISTRY

NAME = "cnn_lstm_fusion_tiny"


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp")
    return export_model(NAME, out, seed=0)


def test_layout_and_manifest(exported):
    folder = exported.path
    assert folder.name == NAME
    manifest = json.loads((folder / "manifest.json").read_text())
    declared = expand_formats(REGISTRY.get(NAME).recipe.export.formats)
    assert sorted(manifest["artifacts"]) == sorted(declared)
    for art in manifest["artifacts"].values():
        assert (folder / art["path"]).exists()
        assert art["sha256"] == sha256_path(folder / art["path"])
        assert art["bytes"] > 0
    assert manifest["recipe"]["params"]["num_classes"] == 3
    assert manifest["build"]["seed"] == 0
    assert {"python", "tensorflow", "keras", "numpy"} <= set(manifest["versions"])
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []


def test_saved_model_signature_has_recipe_names_and_dynamic_batch(exported):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(exported.path / "saved_model"))
    sig = loaded.signatures["serving_default"]
    _, specs = sig.structured_input_signature
    info = zoo.info(NAME)
    assert set(specs) == set(info["inputs"])
    for name, spec in specs.items():
        assert spec.shape[0] is None
        assert list(spec.shape[1:]) == info["inputs"][name]["shape"]
    assert set(sig.structured_outputs) == set(info["outputs"])
    x = sample_inputs(REGISTRY.get(NAME).recipe.inputs, 5, seed=3)
    out = sig(**{k: tf.constant(v) for k, v in x.items()})
    assert out["probabilities"].shape == (5, 3)


def test_reloaded_artifacts_agree_with_each_other(exported):
    manifest = json.loads((exported.path / "manifest.json").read_text())
    x = sample_inputs(REGISTRY.get(NAME).recipe.inputs, 4, seed=9)
    outs = {
        fmt: run_once(load_runner(fmt, exported.path / art["path"]), x)["probabilities"]
        for fmt, art in manifest["artifacts"].items()
    }
    np.testing.assert_allclose(
        outs["keras"], outs["saved_model"], atol=TOLERANCES["saved_model"].atol
    )


def test_failed_validation_keeps_previous_set(exported, monkeypatch):
    before = _snapshot(exported.path)
    monkeypatch.setitem(TOLERANCES, "saved_model", Tolerance(-1.0))
    with pytest.raises(ValidationFailed) as exc:
        export_model(NAME, exported.path.parent, seed=1)
    message = str(exc.value)
    assert exc.value.format == "saved_model"
    assert "output 'probabilities' at batch 1, element [" in message
    assert "> tolerance -1" in message
    assert _snapshot(exported.path) == before
    assert [p.name for p in exported.path.parent.iterdir()] == [NAME]


def test_crash_while_writing_keeps_previous_set(exported, monkeypatch):
    before = _snapshot(exported.path)

    def broken_write(model, path, ctx):
        path.mkdir()
        (path / "partial.pb").write_bytes(b"half")
        raise KeyboardInterrupt("killed")

    monkeypatch.setitem(
        FORMATS,
        "saved_model",
        FORMATS["saved_model"].__class__(
            "saved_model", "saved_model", broken_write, FORMATS["saved_model"].load, "tensorflow"
        ),
    )
    with pytest.raises(KeyboardInterrupt):
        export_model(NAME, exported.path.parent, seed=2)
    assert _snapshot(exported.path) == before
    assert [p.name for p in exported.path.parent.iterdir()] == [NAME]


def test_interrupted_swap_is_recovered(tmp_path):
    first = export_model(NAME, tmp_path, formats=["keras"], seed=0)
    before = _snapshot(first.path)
    os.replace(first.path, tmp_path / f".{NAME}.old-deadbeef")  # killed between the two renames
    with pytest.raises(ZooError):
        export_model(NAME, tmp_path, formats=["no_such_format"], seed=0)
    assert not first.path.exists()  # argument errors come before touching the folder
    export_model(NAME, tmp_path, formats=["keras"], seed=0, validate=False)
    assert first.path.exists()
    assert _snapshot(first.path).keys() == before.keys()
    assert [p.name for p in tmp_path.iterdir()] == [NAME]


def test_refuses_to_replace_a_folder_that_is_not_an_export(tmp_path):
    foreign = tmp_path / NAME
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ZooError, match="is not a zoo export"):
        export_model(NAME, tmp_path, formats=["keras"], seed=0)
    assert (foreign / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME]


def test_unknown_format_suggests_a_known_one(tmp_path):
    with pytest.raises(ZooError, match="Did you mean 'saved_model'"):
        export_model(NAME, tmp_path, formats=["savedmodel"])
    assert list(tmp_path.iterdir()) == []


def test_exports_a_user_built_functional_model(tmp_path):
    import keras

    x = keras.Input((4,), name="features")
    y = keras.layers.Dense(2, activation="softmax", name="scores")(x)
    model = keras.Model({"features": x}, {"scores": y}, name="my_model")
    result = export_model(model, tmp_path, formats=["saved_model"])
    assert result.path == tmp_path / "my_model"
    assert result.manifest["family"] is None
    assert all(r.max_abs <= TOLERANCES["saved_model"].atol for r in result.parity["saved_model"])


def test_model_with_unnamed_outputs_is_rejected(tmp_path):
    import keras

    x = keras.Input((4,), name="features")
    model = keras.Model(x, keras.layers.Dense(2)(x), name="plain")
    with pytest.raises(ZooError, match="unnamed outputs"):
        export_model(model, tmp_path)

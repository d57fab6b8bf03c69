"""``.keras`` files from strangers: safe mode, an opt-in for code, recorded hashes checked."""

from __future__ import annotations

import json
import zipfile

import keras
import pytest
from zoo.exporters import FORMATS

import zoo
from zoo.cli import main
from zoo.keras_files import ModelFileError, UnsafeModelError, load_keras
from zoo.training.run import MODEL_FILE, RUN_FILE, FitRun, RunFolder
from zoo.weights import file_digest

NAME = "cnn_lstm_fusion_tiny"


def _lambda_model_file(tmp_path):
    x = keras.Input((4,), name="x")
    y = keras.layers.Lambda(lambda t: t * 2.0, name="double")(x)
    path = tmp_path / "lambda.keras"
    keras.Model({"x": x}, {"y": y}).save(path)
    return path


def _plain_model_file(tmp_path, name="plain.keras", units=2):
    x = keras.Input((4,), name="x")
    path = tmp_path / name
    keras.Model({"x": x}, {"y": keras.layers.Dense(units, name="d")(x)}).save(path)
    return path


def test_lambda_layer_is_refused_with_the_way_to_opt_in(tmp_path):
    path = _lambda_model_file(tmp_path)
    with pytest.raises(UnsafeModelError) as exc:
        load_keras(path)
    message = str(exc.value)
    assert str(path) in message and "Lambda" in message
    assert "--trust-code" in message and "trust_code=True" in message
    model = load_keras(path, trust_code=True)  # the opt-in really loads it
    assert model.get_layer("double") is not None


def test_keras_artifacts_load_in_safe_mode(tmp_path):
    path = _lambda_model_file(tmp_path)
    with pytest.raises(UnsafeModelError):
        FORMATS["keras"].load(path)


def test_config_naming_a_non_keras_callable_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    source = _plain_model_file(tmp_path)
    with zipfile.ZipFile(source) as zin:
        members = {n: zin.read(n) for n in zin.namelist()}
    config = json.loads(members["config.json"])
    layer = config["config"]["layers"][1]
    layer.update(module="os", class_name="system", registered_name=None)
    layer["config"] = {"command": f"touch {marker}"}
    members["config.json"] = json.dumps(config).encode()
    evil = tmp_path / "evil.keras"
    with zipfile.ZipFile(evil, "w") as zout:
        for n, data in members.items():
            zout.writestr(n, data)
    with pytest.raises((ModelFileError, UnsafeModelError)) as exc:
        load_keras(evil)
    assert str(evil) in str(exc.value)
    assert not marker.exists()


@pytest.mark.parametrize("cut", [0, 100, -200])
def test_damaged_keras_file_is_a_clear_error(tmp_path, cut):
    data = _plain_model_file(tmp_path).read_bytes()
    bad = tmp_path / "bad.keras"
    bad.write_bytes(data[:cut] if cut else b"")
    with pytest.raises(ModelFileError) as exc:
        load_keras(bad)
    assert str(bad) in str(exc.value)


def test_recorded_hash_is_checked_before_loading(tmp_path):
    path = _plain_model_file(tmp_path)
    digest = file_digest(path)
    assert load_keras(path, sha256=digest) is not None
    _plain_model_file(tmp_path, name="plain.keras", units=3)  # replaced by another model
    with pytest.raises(ModelFileError) as exc:
        load_keras(path, sha256=digest, what="the run's model")
    message = str(exc.value)
    assert digest in message and file_digest(path) in message
    assert "the run's model" in message and "changed after it was written" in message


def test_run_records_its_model_hash_and_export_from_checks_it(tmp_path):
    run = RunFolder.create(tmp_path, NAME)
    zoo.get(NAME).save(run.staging / MODEL_FILE)
    run.write_json(RUN_FILE, {"schema_version": 1, "model": {"name": NAME}})
    folder = run.commit()
    record = json.loads((folder / RUN_FILE).read_text())
    assert record["model_sha256"] == file_digest(folder / MODEL_FILE)
    assert FitRun(folder, record).load_model() is not None
    zoo.get(NAME, seed=7).save(folder / MODEL_FILE)  # swapped for other weights
    with pytest.raises(ModelFileError, match="differs from the recorded"):
        FitRun(folder, record).load_model()


def test_cli_export_from_lambda_file_refuses_and_names_the_flag(tmp_path, capsys):
    path = _lambda_model_file(tmp_path)
    code = main(["export", NAME, "--from", str(path), "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "Lambda" in err and "--trust-code" in err
    assert not (tmp_path / "out").exists()


def test_trust_code_without_from_is_an_error(tmp_path, capsys):
    code = main(["export", NAME, "--trust-code", "--out", str(tmp_path)])
    assert code == 2
    assert "--trust-code applies to the file given with --from" in capsys.readouterr().err


def test_weights_file_pinned_by_sha256(tmp_path):
    from zoo.weights import WeightsError, resolve

    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Dense(2)(x))
    path = tmp_path / "base.weights.h5"
    model.save_weights(path)
    digest = file_digest(path)
    assert resolve(f"{path}#sha256={digest}").sha256 == digest
    assert "pinned" in resolve(f"{path}#sha256={digest.upper()}").source
    wrong = "0" * 64
    with pytest.raises(WeightsError) as exc:
        resolve(f"{path}#sha256={wrong}")
    assert (
        digest in str(exc.value)
        and wrong in str(exc.value)
        and "Nothing was loaded" in str(exc.value)
    )
    with pytest.raises(WeightsError, match="64 hex digits"):
        resolve(f"{path}#sha256=abc")
    with pytest.raises(WeightsError, match="local weights file only"):
        resolve(f"imagenet#sha256={digest}")

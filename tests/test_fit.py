"""zoo.fit / zoo fit: stages, run folder, held-out metrics, export --from, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli as _run_cli

import zoo
from zoo.errors import ZooError
from zoo.training import load_run
from zoo.training.report import classification_report, wilson_interval


def run_cli(args: list[str]) -> tuple[int, str, str]:
    proc = _run_cli(*args)
    return proc.returncode, proc.stdout, proc.stderr


RUN_FILES = {
    "model.keras",
    "run.json",
    "metrics.json",
    "report.txt",
    "confusion_matrix.png",
    "learning_curves.png",
    "history.csv",
    "recipe.toml",
}


@pytest.fixture(scope="module")
def pairs_run(tmp_path_factory):
    """cnn_lstm_fusion_tiny trained a few epochs on the digit image–word pairs."""
    out = tmp_path_factory.mktemp("runs")
    result = zoo.fit("cnn_lstm_fusion_tiny", "digit-pairs", epochs=3, limit=240, out=out, verbose=0)
    return result


def test_run_folder_holds_every_file(pairs_run):
    files = {p.name for p in pairs_run.run_dir.iterdir()}
    assert RUN_FILES | {"vocabulary.txt"} <= files
    assert not list(pairs_run.run_dir.parent.glob(".*staging*"))  # staging renamed away
    record = json.loads((pairs_run.run_dir / "run.json").read_text())
    assert record["model"]["name"] == "cnn_lstm_fusion_tiny"
    # digit-pairs has two classes (mismatch, match): num_classes followed the data
    assert record["model"]["overrides"] == {"num_classes": 2}
    assert record["data"]["fingerprint"] == pairs_run.data.fingerprint
    assert record["data"]["class_names"] == ["mismatch", "match"]
    assert record["stages"][0]["stage"] == "train"
    assert set(record["versions"]) >= {"tensorflow", "keras", "python"}


def test_metrics_are_computed_on_the_test_split(pairs_run):
    metrics = json.loads((pairs_run.run_dir / "metrics.json").read_text())["test"]
    report = metrics["probabilities"]
    labels = pairs_run.data.labels("test")
    assert report["rows"] == len(labels) == pairs_run.data.counts["test"]
    # recompute from the saved model's predictions: the report is not a made-up number
    model = load_run(pairs_run.run_dir).load_model()
    inputs, _ = pairs_run.data.arrays("test")
    predicted = model.predict(inputs, verbose=0)["probabilities"].argmax(1)
    again = classification_report(labels, predicted, ["mismatch", "match"])
    assert again["accuracy"] == pytest.approx(report["accuracy"])
    assert again["f1_macro"] == pytest.approx(report["f1_macro"])
    assert np.sum(report["confusion_matrix"]) == len(labels)
    assert metrics["keras"]["f1"] == pytest.approx(report["f1_macro"], abs=1e-5)


def test_training_lowers_the_held_out_loss(pairs_run):
    fresh = zoo.get("cnn_lstm_fusion_tiny", seed=0, num_classes=2)
    before = fresh.evaluate(pairs_run.data.test, verbose=0, return_dict=True)["loss"]
    after = pairs_run.metrics["keras"]["loss"]
    assert after < before


def test_history_and_plots(pairs_run):
    assert len(pairs_run.history["loss"]) == 3
    assert "val_loss" in pairs_run.history and "val_f1" in pairs_run.history
    for png in ("confusion_matrix.png", "learning_curves.png"):
        assert (pairs_run.run_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (pairs_run.run_dir / "history.csv").read_text().count("\n") == 4  # header + 3


def test_export_from_run_uses_its_validation_rows(pairs_run, tmp_path):
    code, _, err = run_cli(
        [
            "export",
            "cnn_lstm_fusion_tiny",
            "--from",
            str(pairs_run.run_dir),
            "--format",
            "keras,tflite:fp32",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0, err
    manifest = json.loads((tmp_path / "cnn_lstm_fusion_tiny" / "manifest.json").read_text())
    val_rows = pairs_run.data.counts["val"]
    assert manifest["validation_inputs"] == f"data ({val_rows} rows)"
    assert manifest["outputs"]["probabilities"]["shape"] == [2]


def test_export_from_run_of_another_model_is_refused(pairs_run, tmp_path):
    code, _, err = run_cli(
        [
            "export",
            "resnet50_transfer_tiny",
            "--from",
            str(pairs_run.run_dir),
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "trained 'cnn_lstm_fusion_tiny', not 'resnet50_transfer_tiny'" in err


def test_export_from_a_folder_that_is_no_run(tmp_path):
    code, _, err = run_cli(["export", "cnn_lstm_fusion_tiny", "--from", str(tmp_path)])
    assert code == 2 and "expected a run folder written by `zoo fit`" in err


@pytest.mark.heavy
def test_two_stage_transfer_schedule(tmp_path):
    """Stage 1 trains the head only; stage 2 unfreezes conv5 and nothing below it."""
    result = zoo.fit(
        "resnet50_transfer_tiny",
        "digits",
        epochs=1,
        fine_tune_layers=1,
        fine_tune_epochs=1,
        limit=60,
        batch_size=16,
        out=None,
        verbose=0,
    )
    stages = {s["stage"]: s for s in result.stages}
    assert stages["head"]["trainable_parameters"] < stages["fine_tune"]["trainable_parameters"]
    assert stages["fine_tune"]["unfrozen"] == ["conv5"]
    assert stages["fine_tune"]["learning_rate"] == pytest.approx(1e-5)
    base = result.model.get_layer("resnet50")
    trainable = {w.path.split("/")[0] for w in base.trainable_weights}
    assert trainable and all(name.startswith("conv5") for name in trainable)
    assert not any("_bn" in w.path for w in base.trainable_weights)  # BatchNorm frozen
    assert result.model.output["probabilities"].shape[-1] == 10  # num_classes from the data


def test_fine_tune_needs_a_transfer_family():
    with pytest.raises(ZooError, match="no pretrained base to unfreeze"):
        zoo.fit(
            "cnn_lstm_fusion_tiny",
            "digit-pairs",
            epochs=1,
            fine_tune_layers=1,
            fine_tune_epochs=1,
            limit=40,
            out=None,
            verbose=0,
        )


def test_failed_fit_leaves_no_run_folder(tmp_path, monkeypatch):
    from zoo.training import _trainer

    def boom(*args, **kwargs):
        raise RuntimeError("evaluation failed")

    monkeypatch.setattr(_trainer, "evaluate", boom)
    with pytest.raises(RuntimeError, match="evaluation failed"):
        zoo.fit("cnn_lstm_fusion_tiny", "digit-pairs", epochs=1, limit=40, out=tmp_path, verbose=0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs=0: expected an integer >= 1"),
        ({"val_split": 1.5}, "val_split=1.5: expected a fraction in [0, 1)"),
        ({"fine_tune_layers": 2}, "fine_tune_epochs=0"),
        ({"strategy": "ring"}, "ring"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ZooError, match=message.replace("[", r"\[").replace(")", r"\)")):
        zoo.fit("cnn_lstm_fusion_tiny", "digit-pairs", out=None, **kwargs)


def test_no_data_names_the_sources():
    with pytest.raises(ZooError, match="no data: pass a source"):
        zoo.fit("multimodal_autoencoder_tiny", out=None)


def test_strategy_with_a_built_model_is_refused():
    model = zoo.get("cnn_lstm_fusion_tiny", num_classes=2)
    with pytest.raises(ZooError, match="inside the strategy's scope"):
        zoo.fit(model, "digit-pairs", strategy="mirrored", out=None)


def test_fit_cli_prints_the_held_out_metrics(tmp_path):
    code, out, err = run_cli(
        [
            "fit",
            "cnn_lstm_fusion_tiny",
            "--data",
            "digit-pairs",
            "--epochs",
            "1",
            "--limit",
            "60",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0, err
    assert "F1 (macro)" in out and "run folder:" in out
    (run,) = tmp_path.iterdir()
    assert load_run(run).name == "cnn_lstm_fusion_tiny"


def test_wilson_interval_covers_the_estimate():
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and 0.1 < high < 0.2
    low, high = wilson_interval(20, 20)
    assert high == 1.0 and 0.8 < low < 0.9


@pytest.mark.heavy
def test_bert_run_exports_from_a_fresh_process(tmp_path):
    """The exact-GELU backbone class loads in a process that only runs `zoo export --from`."""
    result = zoo.fit(
        "bert_classifier_tiny", "sentiment", epochs=1, limit=60, out=tmp_path, verbose=0
    )
    code, _, err = run_cli(
        [
            "export",
            "bert_classifier_tiny",
            "--from",
            str(result.run_dir),
            "--format",
            "keras,onnx:fp32",
            "--out",
            str(tmp_path / "artifacts"),
        ]
    )
    assert code == 0, err
    manifest = json.loads((tmp_path / "artifacts/bert_classifier_tiny/manifest.json").read_text())
    assert set(manifest["artifacts"]) == {"keras", "onnx:fp32"}
    assert manifest["validation_inputs"] == f"data ({result.data.counts['val']} rows)"


def test_custom_loop_callbacks_keep_the_best_epoch_and_stop_early(tmp_path):
    """Multi-worker runs (no Keras callbacks): CSV log, best weights, patience per stage."""
    from types import SimpleNamespace

    from zoo.training._trainer import _EpochEnd

    class Model:
        def __init__(self):
            self.epoch = 0

        def get_weights(self):
            return [np.full(2, self.epoch)]

    model = Model()
    trainer = SimpleNamespace(
        run=SimpleNamespace(staging=tmp_path),
        monitor="val_loss",
        model=model,
        best_value=float("inf"),
        best_weights=None,
        s=SimpleNamespace(patience=2),
    )
    stage = _EpochEnd(trainer, first_epoch=0)
    stops = []
    for epoch, value in enumerate([1.0, 0.8, 0.9, 0.95]):
        model.epoch = epoch
        stops.append(stage(epoch, {"loss": 2.0 - epoch, "val_loss": value}))
    assert stops == [False, False, False, True]  # 2 epochs without a better val_loss
    assert trainer.best_value == 0.8 and trainer.best_weights[0].tolist() == [1, 1]
    stage2 = _EpochEnd(trainer, first_epoch=4)  # stage 2: patience restarts, best spans both
    model.epoch = 4
    assert stage2(0, {"loss": 0.5, "val_loss": 0.85}) is False
    assert trainer.best_weights[0].tolist() == [1, 1]
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert lines[0] == "epoch,loss,val_loss" and len(lines) == 6
    assert lines[-1].startswith("4,0.5,0.85")


def test_custom_fit_stops_when_the_callback_says_so():
    import keras

    from zoo.training.distribute import custom_fit, make_strategy

    strategy = make_strategy("none")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((np.ones((8, 3), "float32"), np.ones((8, 1)))).batch(
        4
    )
    seen = []
    history = custom_fit(
        model,
        data,
        strategy=strategy,
        epochs=5,
        callbacks_on_epoch_end=lambda e, logs: seen.append(e) or e == 1,
    )
    assert seen == [0, 1] and len(history["loss"]) == 2


def test_export_from_a_bare_keras_file(tmp_path):
    """A .keras file with no run next to it exports with its recipe's contract."""
    model = zoo.get("cnn_lstm_fusion_tiny", seed=0)
    model.save(tmp_path / "trained.keras")
    code, _, err = run_cli(
        [
            "export",
            "cnn_lstm_fusion_tiny",
            "--from",
            str(tmp_path / "trained.keras"),
            "--format",
            "keras",
            "--out",
            str(tmp_path / "artifacts"),
        ]
    )
    assert code == 0, err
    manifest = json.loads((tmp_path / "artifacts/cnn_lstm_fusion_tiny/manifest.json").read_text())
    assert manifest["name"] == "cnn_lstm_fusion_tiny" and set(manifest["artifacts"]) == {"keras"}
    # a file that breaks the recipe's contract is refused, naming what differs
    zoo.get("cnn_lstm_fusion_tiny", num_classes=5).save(tmp_path / "other.keras")
    code, _, err = run_cli(
        ["export", "cnn_lstm_fusion_tiny", "--from", str(tmp_path / "other.keras")]
    )
    assert code == 2 and "outputs.probabilities.shape: expected [3], received [5]" in err

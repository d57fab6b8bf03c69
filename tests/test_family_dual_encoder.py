"""Dual encoders: parts, the plain inference graph, objectives that learn, audio parity."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from zoo.exporters import export_model, sample_inputs
from zoo.exporters.tolerances import tolerance
from zoo.exporters.validate import ValidationFailed, compare_outputs, raise_on_failure

import zoo
from zoo._registry import REGISTRY
from zoo.errors import OverrideError, RecipeError, ZooError
from zoo.training.contrastive import (
    chance_recall,
    fit_pairs,
    matching_probabilities,
    pair_loss,
    recall_at_1,
)

TINY = "image_text_dual_encoder_tiny"
AUDIO_TINY = "audio_text_dual_encoder_tiny"
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (.ci/run installs it)"
)


def _by_name(model):
    return {w.path: w for w in model.weights}


def test_towers_reuse_the_pair_models_weights_by_layer_name():
    pair = zoo.get(TINY, seed=0)
    data = sample_inputs(REGISTRY.get(TINY).recipe.inputs, 4, seed=3)
    want = pair(data, training=False)
    for part, output, inputs in (
        ("image_tower", "image_embedding", ["image"]),
        ("text_tower", "text_embedding", ["tokens"]),
    ):
        tower = zoo.get(TINY, part=part, seed=1)  # other random weights until copied
        assert sorted(t.name for t in tower.inputs) == inputs
        assert list(tower.output) == [output]
        source = {layer.name: layer for layer in pair.layers}
        for layer in tower.layers:
            if layer.weights:
                layer.set_weights(source[layer.name].get_weights())
        got = tower({k: data[k] for k in inputs}, training=False)[output]
        np.testing.assert_allclose(np.asarray(got), np.asarray(want[output]), atol=1e-6)


def test_similarity_is_the_cosine_of_the_two_unit_embeddings():
    pair = zoo.get(TINY, seed=0)
    data = sample_inputs(REGISTRY.get(TINY).recipe.inputs, 5, seed=4)
    out = {k: np.asarray(v) for k, v in pair(data, training=False).items()}
    for key in ("image_embedding", "text_embedding"):
        np.testing.assert_allclose(np.linalg.norm(out[key], axis=1), 1.0, atol=1e-5)
    cosine = np.sum(out["image_embedding"] * out["text_embedding"], axis=1, keepdims=True)
    np.testing.assert_allclose(out["similarity"], cosine, atol=1e-6)


def test_the_inference_graph_holds_no_objective():
    """The loss (and its temperature) live in the training wrapper, not in the model."""
    pair = zoo.get(TINY, seed=0)
    kinds = {type(layer).__name__ for layer in pair.layers}
    assert kinds <= {
        "InputLayer", "Rescaling", "Conv2D", "MaxPooling2D", "GlobalAveragePooling2D",
        "Dense", "Embedding", "LSTM", "UnitNormalization", "Dot",
    }, kinds  # fmt: skip
    assert not any("scale" in w.path for w in pair.weights)


def test_part_overrides_and_their_errors(tmp_path):
    assert list(zoo.info(TINY, part="text_tower")["inputs"]) == ["tokens"]
    assert list(zoo.info(TINY, part="image_tower")["outputs"]) == ["image_embedding"]
    with pytest.raises(OverrideError, match="part") as exc:
        zoo.info(TINY, part="audio_tower")
    assert "image_tower" in str(exc.value)
    # A recipe for one tower must not declare inputs that tower never reads.
    recipe = REGISTRY.get(TINY).source.read_text()
    recipe = recipe.replace("[params]\n", '[params]\npart = "image_tower"\n')
    recipe = recipe.split("[outputs.text_embedding]")[0] + "[params]" + recipe.split("[params]")[1]
    (tmp_path / "tower_with_tokens.toml").write_text(recipe)
    with pytest.raises(RecipeError, match=r"inputs\.tokens: the model this recipe builds"):
        zoo.add_recipes(tmp_path)
        zoo.info("tower_with_tokens")


def test_objectives_prefer_aligned_pairs():
    rng = np.random.default_rng(0)
    labels = np.arange(8) % 4
    centers = rng.normal(size=(4, 16))
    u = centers[labels] + 0.05 * rng.normal(size=(8, 16))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    shuffled = u[rng.permutation(8)]
    for objective in ("softmax", "contrastive", "triplet"):
        kw = {"objective": objective, "scale": 10.0, "margin": 1.0}
        aligned = float(pair_loss(u.astype("float32"), u.astype("float32"), labels, **kw))
        mixed = float(pair_loss(u.astype("float32"), shuffled.astype("float32"), labels, **kw))
        assert aligned < mixed, (objective, aligned, mixed)
    # Classes 1.4+ apart with positives ~0.07 apart: no triplet violates a 0.5 margin.
    assert float(pair_loss(u, u, labels, objective="triplet", margin=0.5)) == 0.0
    with pytest.raises(ZooError, match="unknown objective"):
        pair_loss(u, u, labels, objective="hinge")


def test_retrieval_metrics():
    labels = np.array([0, 0, 1, 1])
    e = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    assert recall_at_1(e, e[::-1], labels, labels[::-1]) == 1.0
    assert recall_at_1(e, e[::-1], labels, labels) == 0.0
    assert chance_recall(labels, labels) == 0.5
    probs = matching_probabilities(e, e, labels, num_classes=2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs.argmax(axis=1) == labels).all()


def test_fit_pairs_refuses_a_tower():
    from zoo.data.pairs import digit_texts

    data = digit_texts(image_shape=(16, 16, 3), sequence_length=6)
    with pytest.raises(ZooError, match="pair model"):
        fit_pairs(zoo.get(TINY, part="image_tower"), data, epochs=1)
    with pytest.raises(ZooError, match="shape"):
        fit_pairs(TINY, digit_texts(image_shape=(8, 8, 3), sequence_length=6), epochs=1)


# Held-out recall@1 on the digit image–text pairs (1,222 train, 359 test images, 10 classes:
# chance 0.10), tiny recipe, measured on this machine over seeds 0, 1, 2 (image→text;
# text→image; matching network):
#   softmax,     15 epochs: 0.788 0.802 0.774; 1.00 1.00 0.813; 0.794 0.808 0.777
#   triplet,     15 epochs: 0.797 0.825 0.816; 0.961 1.00 1.00; 0.799 0.825 0.822
#   contrastive, 25 epochs: 0.716 0.699 0.758; 0.905 1.00 1.00; 0.713 0.708 0.758
# Contrastive sits on a plateau for its first epochs (margin 1.2): after 15 it gave only
# 0.44-0.62, too close to the bound, so it trains 25. The bound 0.4 (4× chance) leaves
# room for BLAS/thread nondeterminism; a model that does not learn stays near 0.1 (the
# untrained tiny encoder scores 0.10 image→text).
EPOCHS = {"softmax": 15, "triplet": 15, "contrastive": 25}


@pytest.mark.parametrize("objective", ["softmax", "contrastive", "triplet"])
def test_each_objective_learns_the_digit_pairs(objective):
    from zoo.data.pairs import digit_texts

    data = digit_texts(image_shape=(16, 16, 3), sequence_length=6)
    result = fit_pairs(TINY, data, objective=objective, epochs=EPOCHS[objective], seed=0)
    assert result.chance == pytest.approx(0.1, abs=0.01)
    assert result.recall["image→text"] >= 0.4, result.recall
    assert result.recall["text→image"] >= 0.4, result.recall
    assert result.matching_accuracy >= 0.4, result.matching_accuracy
    assert result.history["loss"][-1] < result.history["loss"][0]
    if objective == "softmax":
        assert result.temperature != pytest.approx(0.1)  # learned, not fixed


def test_untrained_encoder_is_near_chance():
    """The bound above means something: without training, recall@1 stays low."""
    from zoo.data.pairs import digit_texts
    from zoo.training.contrastive import score_pairs

    data = digit_texts(image_shape=(16, 16, 3), sequence_length=6)
    recall, _, _ = score_pairs(zoo.get(TINY, seed=0), data)
    assert recall["image→text"] < 0.3, recall


# Spoken digits (espeak-ng, 360 clips at 8 kHz, 70 held out), softmax, batch 32, seeds 0, 1,
# 2: after 25 epochs audio→text 0.771 0.500 0.400, text→audio 0.929 0.629 0.514 (chance
# 0.10). The loss leaves its plateau around epoch 10: after 15 epochs the same seeds gave
# only 0.19-0.33, so 15 would sit on the bound. Bound: 3× chance, at seed 0.
@needs_espeak
def test_audio_text_pairs_learn():
    from zoo.data.pairs import spoken_digit_texts

    data = spoken_digit_texts(sequence_length=6, sample_rate=8000, seconds=1.0)
    assert data.train.inputs["audio"].shape[1:] == (8000,)
    result = fit_pairs(AUDIO_TINY, data, epochs=25, batch_size=32, seed=0)
    assert result.recall["audio→text"] >= 0.3, result.recall
    assert result.recall["text→audio"] >= 0.3, result.recall


@needs_espeak
def test_audio_tower_matches_keras_on_real_speech(tmp_path):
    """The default 16 kHz raw-waveform tower, validated on synthesized speech clips."""
    from zoo.data.speech import spoken_digits

    clips = spoken_digits().waveforms
    result = export_model(
        "audio_text_dual_encoder",
        tmp_path,
        formats=["saved_model", "tflite:fp32", "onnx:fp32"],
        seed=0,
        data={"audio": clips},
        part="audio_tower",
    )
    assert result.path.name == "audio_text_dual_encoder.audio_tower"
    for fmt in ("saved_model", "tflite:fp32", "onnx:fp32"):
        for r in result.parity[fmt]:
            assert r.ok and r.max_abs <= tolerance(fmt).atol, (fmt, r)


def test_embedding_validation_catches_a_drifting_artifact():
    rng = np.random.default_rng(0)
    keras_rows = rng.normal(size=(100, 16))
    keras_rows /= np.linalg.norm(keras_rows, axis=1, keepdims=True)
    noisy = keras_rows + 0.3 * rng.normal(size=keras_rows.shape)
    tol = tolerance("tflite:int8")
    good = compare_outputs(
        {"e": keras_rows}, {"e": keras_rows + 1e-4}, tol=tol, batch=100,
        tasks={"e": "embedding"}, atol_gated=False,
    )  # fmt: skip
    assert good[0].ok and good[0].cosine_mean > 0.999 and good[0].recall_at_1 == 1.0
    bad = compare_outputs(
        {"e": keras_rows},
        {"e": noisy},
        tol=tol,
        batch=100,
        tasks={"e": "embedding"},
        atol_gated=False,
    )
    assert not bad[0].ok and bad[0].cosine_mean < tol.min_cosine
    with pytest.raises(
        ValidationFailed, match=r"mean cosine with Keras 0\.\d+ < required 0\.99 \(worst row"
    ):
        raise_on_failure("tflite:int8", bad)


def test_zoo_fit_trains_a_pair_model_and_export_from_uses_its_validation_pairs(tmp_path):
    from zoo.data.pairs import pair_data_for
    from zoo.training.run import load_run

    result = zoo.fit(TINY, epochs=2, out=tmp_path)  # data from the recipe: digit-texts
    m = result.metrics["embedding"]
    assert set(m["recall_at_1"]) == {"image→text", "text→image"}
    assert m["chance"] == pytest.approx(0.1, abs=0.01) and m["objective"] == "softmax"
    files = {p.name for p in result.run_dir.iterdir()}
    assert {"model.keras", "metrics.json", "run.json", "history.csv", "recipe.toml"} <= files
    run = load_run(result.run_dir)
    model = run.load_model()
    rows = run.export_rows(model)
    val = pair_data_for("digit-texts", model, val_fraction=0.1, test_fraction=0.2).val
    np.testing.assert_array_equal(rows["tokens"], val.inputs["tokens"][: len(rows["tokens"])])
    exported = zoo.export(model, tmp_path / "art", formats=["tflite:fp32"], data=rows)
    assert all(r.ok for r in exported.parity["tflite:fp32"])
    with pytest.raises(ZooError, match="one device"):
        zoo.fit(TINY, epochs=1, out=None, strategy="mirrored")
    with pytest.raises(ZooError, match="no pairs to learn"):
        zoo.fit(TINY, epochs=1, out=None, part="image_tower")
    with pytest.raises(ZooError, match="pairs audio"):
        zoo.fit(TINY, "spoken-digits", epochs=1, out=None)

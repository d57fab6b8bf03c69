"""cross_modal_mapping: contracts per direction and part, shared weights, real digit targets.

Export parity of ``cross_modal_mapping_tiny`` is covered by tests/test_models.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file
from test_bert_reference import reference_embeddings
from zoo.exporters import sample_inputs

import zoo
from zoo import OverrideError, RecipeError, SpecProblem, ZooError
from zoo._recipe import InputSpec
from zoo._registry import REGISTRY
from zoo.data import digit_targets as dt
from zoo.data._sources import DIGIT_WORDS, PAIR_TEMPLATES
from zoo.families import cross_modal_mapping as cmm
from zoo.families._bert_sources import minilm_folder

TINY = "cross_modal_mapping_tiny"
TEXT = "cross_modal_mapping_text_to_image"
#: Test-size overrides of the text → image recipe (same graph as its default).
SMALL_TEXT = {"embedding_dim": 8, "lstm_units": 8, "latent_dim": 8, "decoder_units": [16]}
IMAGE = {"image": InputSpec(shape=[16, 16, 3], range=[0.0, 255.0])}
TOKENS = {"tokens": InputSpec(shape=[4], dtype="int32", range=[0, 28])}


def _params(**update):
    return REGISTRY.get(TINY).params.model_copy(update=update)


def _np(outputs) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in outputs.items()}


def _build(name: str, **overrides):
    extra = SMALL_TEXT if name == TEXT else {}
    return zoo.get(name, seed=0, **extra, **overrides)


# --------------------------------------------------------------------- I/O contract


@pytest.mark.parametrize(
    ("update", "inputs", "want"),
    [
        ({}, IMAGE, {"text_embedding": [384]}),
        ({"part": "encoder"}, IMAGE, {"z": [8]}),
        ({"direction": "text_to_image", "target_dim": 64}, TOKENS, {"image_features": [64]}),
        ({"direction": "text_to_image", "part": "encoder"}, TOKENS, {"z": [8]}),
        ({"loss": "mse", "target_dim": 1}, IMAGE, {"text_embedding": [1]}),
    ],
)
def test_outputs_per_direction_and_part(update, inputs, want):
    assert cmm.outputs(_params(**update), inputs) == want


@pytest.mark.parametrize(
    ("update", "inputs", "key", "needle"),
    [
        ({}, TOKENS, "inputs", "set params.direction = 'text_to_image'"),
        ({"direction": "text_to_image"}, IMAGE, "inputs", "received ['image']"),
        ({}, {**IMAGE, **TOKENS}, "inputs", "takes exactly the input ['image']"),
        ({}, {"image": InputSpec(shape=[16, 16])}, "inputs.image.shape", "[16, 16]"),
        ({}, {"image": InputSpec(shape=[16, 16, 3], dtype="uint8")}, "inputs.image.dtype", "uint8"),
        ({"conv_filters": [2] * 5}, IMAGE, "inputs.image.shape", "at least 32×32"),
        ({"direction": "text_to_image", "vocab_size": 20}, TOKENS, "inputs.tokens.range", "=20"),
        ({"target_dim": 1}, IMAGE, "params.target_dim", "set params.loss = 'mse'"),
    ],
)
def test_spec_problems_name_key_received_and_fix(update, inputs, key, needle):
    with pytest.raises(SpecProblem) as err:
        cmm.outputs(_params(**update), inputs)
    assert err.value.key == key
    assert needle in err.value.message


def test_override_to_the_other_direction_says_what_to_declare():
    with pytest.raises(OverrideError, match=r"takes exactly the input \['tokens'\]"):
        zoo.info(TINY, direction="text_to_image")


def test_recipe_problem_is_located_in_the_file(tmp_path):
    recipe = REGISTRY.get(TINY).source.read_text()
    (tmp_path / "my_mapping.toml").write_text(recipe.replace("shape = [384]", "shape = [300]"))
    with pytest.raises(RecipeError) as err:
        zoo.add_recipes(tmp_path)
    assert err.value.key == "outputs.text_embedding.shape"
    assert "my_mapping.toml" in str(err.value)


# --------------------------------------------------------------------- graphs and losses


@pytest.mark.parametrize(
    ("name", "key", "dim"), [(TINY, "text_embedding", 384), (TEXT, "image_features", 64)]
)
@pytest.mark.parametrize("loss", ["cosine", "mse"])
def test_both_directions_build_and_compile_each_loss(name, key, dim, loss):
    import keras

    model = _build(name, loss=loss)
    inputs = REGISTRY.get(name).recipe.inputs
    assert [t.name for t in model.inputs] == list(inputs)
    assert list(model.output) == [key]
    assert model.get_layer("z").units == (8 if name == TEXT else _params().latent_dim)
    want_loss = keras.losses.CosineSimilarity if loss == "cosine" else keras.losses.MeanSquaredError
    assert isinstance(model.loss[key], want_loss)
    x = sample_inputs(inputs, 6, seed=1)
    y = np.random.default_rng(0).normal(size=(6, dim)).astype(np.float32)
    history = model.fit(x, {key: y}, epochs=1, batch_size=6, verbose=0).history
    assert {"loss", "mse", "mae", "cosine_similarity"} <= set(history), sorted(history)
    out = _np(model(x))[key]
    norms = np.linalg.norm(out, axis=1)
    if loss == "cosine":
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    else:  # a plain Dense output: its norm is whatever the weights make it
        assert np.abs(norms - 1.0).max() > 1e-2


def test_weighted_layers_are_the_same_under_both_losses():
    def weighted(model):
        return sorted(layer.name for layer in model.layers if layer.weights)

    assert weighted(_build(TINY, loss="cosine")) == weighted(_build(TINY, loss="mse"))


# --------------------------------------------------------------------- the encoder part


@pytest.mark.parametrize("name", [TINY, TEXT])
def test_encoder_part_takes_the_mappings_weights_by_layer_name(name):
    mapping = _build(name)
    encoder = _build(name, part="encoder")
    assert list(encoder.output) == ["z"]
    assert [t.name for t in encoder.inputs] == [t.name for t in mapping.inputs]
    weighted = [layer for layer in encoder.layers if layer.weights]
    assert [layer.name for layer in weighted][-1] == "z"
    for layer in weighted:
        layer.set_weights(mapping.get_layer(layer.name).get_weights())
    shared = cmm.parts(mapping)["encoder"]
    assert {id(v) for v in shared.weights} <= {id(v) for v in mapping.weights}
    x = sample_inputs(REGISTRY.get(name).recipe.inputs, 3, seed=2)
    want, got = _np(shared(x))["z"], _np(encoder(x))["z"]
    assert want.shape == (3, encoder.get_layer("z").units)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert np.abs(want).max() > 1e-3  # a real signal, not a vector of zeros


def test_parts_rejects_a_model_that_is_not_a_mapping():
    with pytest.raises(ZooError, match="expected a cross_modal_mapping model"):
        cmm.parts(_build(TINY, part="encoder"))


# --------------------------------------------------------------------- targets and data


@pytest.fixture(scope="module")
def words():
    return dt.minilm_digit_embeddings()


def test_digit_word_targets_are_the_pretrained_minilm(words):
    assert words.shape == (10, 384) and words.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(words, axis=1), 1.0, rtol=1e-5)
    cos = words @ words.T
    # Measured: off-diagonal cosines 0.40-0.82 (neighbours such as "two"/"three" highest).
    assert cos[~np.eye(10, dtype=bool)].max() < 0.9
    numerals = dt.embed_sentences([str(d) for d in range(10)])
    # Pretrained semantics: "7" is close to "seven" (measured 0.93) but not the same
    # sentence, and every numeral's nearest word is its own (10/10 measured); a random
    # BERT would have no reason to rank them so.
    seven = float(numerals[7] @ words[7])
    assert 0.5 < seven < 0.999
    assert dt.retrieval_accuracy(numerals, np.arange(10), words) == 1.0
    # And it is the checkpoint's function: an independent NumPy forward pass from the
    # shipped tensors (tests/test_bert_reference.py), mean-pooled and normalised.
    folder = minilm_folder()
    config = json.loads((folder / "config.json").read_text())
    features = dt.minilm_features(list(DIGIT_WORDS), sequence_length=4)
    assert features["padding_mask"].sum(1).tolist() == [3] * 10  # [CLS] word [SEP]
    ref = reference_embeddings(
        load_file(str(folder / "model.safetensors")), config, features, activation="gelu"
    )
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(words, ref, atol=1e-5)


def test_digit_word_embeddings_are_cached_and_copied(words):
    before = dt._cached_digit_embeddings.cache_info().hits
    again = dt.minilm_digit_embeddings()
    assert dt._cached_digit_embeddings.cache_info().hits == before + 1
    again[:] = 0.0  # the caller's copy: the cache keeps its values
    np.testing.assert_array_equal(dt.minilm_digit_embeddings(), words)


def test_tokenize_left_pads_and_marks_unknown_words():
    ids = dt.tokenize(["seven", "the number 7", "Digit 3", "a zebra"], 4)
    vocab = dt.WORD_VOCABULARY
    assert ids.dtype == np.int32 and ids.shape == (4, 4)
    assert [vocab[i] for i in ids[1]] == ["[pad]", "the", "number", "7"]
    assert [vocab[i] for i in ids[2]] == ["[pad]", "[pad]", "digit", "3"]
    assert ids[3, -1] == 1 and ids[0].tolist() == [0, 0, 0, vocab.index("seven")]
    assert len(vocab) <= REGISTRY.get(TEXT).params.vocab_size
    assert REGISTRY.get(TEXT).recipe.inputs["tokens"].range == [0, len(vocab)]
    with pytest.raises(ZooError, match="wrap one text"):
        dt.tokenize("seven")


def test_class_mean_images_and_their_errors():
    images = np.zeros((20, 8, 8), np.float32)
    images[np.arange(20) % 10 == 3] = 255.0
    means = dt.class_mean_images(images, np.arange(20) % 10)
    assert means.shape == (10, 64)
    assert means[3].min() == 1.0 and np.delete(means, 3, axis=0).max() == 0.0
    with pytest.raises(ZooError, match=r"no image of digit\(s\) \[9\]"):
        dt.class_mean_images(images[:9], np.arange(9))
    with pytest.raises(ZooError, match="labels \\[3\\]"):
        dt.class_mean_images(images, np.arange(3))


def test_retrieval_accuracy_by_metric_and_its_errors():
    targets = np.eye(10)
    pred = 5.0 * targets[[1, 2, 2]]  # far in distance, right in direction
    assert dt.retrieval_accuracy(pred, np.array([1, 2, 3]), targets) == pytest.approx(2 / 3)
    near_zero = np.full((1, 10), 0.1)
    near_zero[0, 4] = 0.2
    assert dt.retrieval_accuracy(near_zero, np.array([4]), targets, metric="euclidean") == 1.0
    with pytest.raises(ZooError, match="same dim"):
        dt.retrieval_accuracy(np.ones((2, 3)), np.zeros(2), targets)
    with pytest.raises(ZooError, match="metric='dot'"):
        dt.retrieval_accuracy(pred, np.array([1, 2, 3]), targets, metric="dot")


def test_text_to_image_test_texts_are_new_combinations_of_seen_words():
    data = dt.text_to_image_data()
    assert set(dt.TEST_TEMPLATES) < set(PAIR_TEMPLATES)
    train_texts = set(data.train.texts) | set(data.val.texts)
    assert not train_texts & set(data.test.texts)
    seen = set(data.train.inputs["tokens"].ravel().tolist())
    assert set(data.test.inputs["tokens"].ravel().tolist()) <= seen
    assert 1 not in seen  # no [unk]: every word is in the vocabulary
    np.testing.assert_array_equal(
        data.test.targets["image_features"], data.class_targets[data.test.labels]
    )
    assert data.class_targets.min() >= 0.0 and data.class_targets.max() <= 1.0


# --------------------------------------------------------------------- learning on real digits


def test_tiny_learns_to_map_unseen_digit_images_to_their_words():
    data = dt.image_to_text_data((16, 16))
    assert len(data.test) == 359 and set(data.test.labels.tolist()) == set(range(10))
    model = zoo.get(TINY, seed=0, learning_rate=3e-3)
    key = "text_embedding"

    def accuracy() -> float:
        pred = model.predict(data.test.inputs, verbose=0)[key]
        return dt.evaluate(pred, data.test, data)["accuracy"]

    before = accuracy()
    model.fit(data.train.inputs, data.train.targets, epochs=8, batch_size=16, verbose=0)
    after = accuracy()
    # Untrained, every prediction points about the same way: accuracy 0.100 (seed 0).
    # After 8 epochs (7-18 s on 2 shared cores), over seeds 0-4: 0.59, 0.67, 0.45, 0.66,
    # 0.60 held out (chance 0.1). The word targets are close to each other (cosines up to
    # 0.82), so the first epochs only find their mean direction; 0.3 is 3× chance and
    # 0.15 below the worst seed.
    assert before < 0.2, before
    assert after > 0.3, after


def test_text_to_image_maps_unseen_phrasings_to_the_digits_mean_image():
    data = dt.text_to_image_data(4)
    model = _build(TEXT, learning_rate=1e-2)
    model.fit(data.train.inputs, data.train.targets, epochs=6, batch_size=32, verbose=0)
    pred = model.predict(data.test.inputs, verbose=0)["image_features"]
    report = dt.evaluate(pred, data.test, data)
    # Measured at this size (6 epochs, 2.5-5.5 s), seeds 0-4: accuracy 1.0 on the held-out
    # templates every time, MSE 0.0011-0.0035 against 0.031 for predicting the mean image
    # (after 3 epochs: 0.55-0.90, still learning). The digit word or numeral alone decides
    # the target, so a model that reads it is exact on all 10 digits; the bounds leave a
    # margin for a slower seed: 0.9 and a third of the worst measured ratio (9×).
    assert report["accuracy"] >= 0.9, report
    assert report["mse"] < report["baseline_mse"] / 3, report

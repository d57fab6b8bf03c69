"""multimodal_autoencoder: per-part contracts, exact-shape decoder, shared weights, training."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from zoo.exporters import export_model, sample_inputs

import zoo
from zoo import OverrideError, RecipeError, SpecProblem, ZooError
from zoo._build import check_contract
from zoo._recipe import InputSpec
from zoo._registry import REGISTRY
from zoo.families import multimodal_autoencoder as ae

TINY = "multimodal_autoencoder_tiny"
PARTS = ("encoder", "image_encoder", "text_encoder", "decoder")


def _params(**update):
    return REGISTRY.get(TINY).params.model_copy(update=update)


def _inputs(part: str) -> dict[str, InputSpec]:
    """The I/O spec a tiny part takes, cut from the tiny autoencoder recipe."""
    full = REGISTRY.get(TINY).recipe.inputs
    if part == "decoder":
        return {"latent": InputSpec(shape=[_params().latent_dim], range=[0.0, 2.0])}
    return {k: full[k] for k in ae.PART_INPUTS[part]}


def _build_part(part: str):
    update = {"part": part}
    if part == "decoder":
        update["image_shape"] = REGISTRY.get(TINY).recipe.inputs["image"].shape
    p, inputs = _params(**update), _inputs(part)
    model = ae.build(p, inputs, f"standalone_{part}")
    return model, inputs


def _np(outputs) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in outputs.items()}


@pytest.fixture(scope="module")
def full():
    return zoo.get(TINY, seed=0)


# --------------------------------------------------------------------- bag-of-words targets


def _reference_bow(row: np.ndarray, vocab: int) -> np.ndarray:
    counts = Counter(int(t) for t in row if t != 0)
    out = np.zeros(vocab)
    for token, n in counts.items():
        out[token] = n / sum(counts.values())
    return out


def test_bag_of_words_targets_match_counting_reference():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 12, size=(6, 9))
    tokens[2] = 0  # all padding
    tokens[4, :5] = 0  # partly padding
    got = ae.bag_of_words_targets(tokens, 12)
    assert got.shape == (6, 12) and got.dtype == np.float32
    for row, want in zip(tokens, got, strict=True):
        np.testing.assert_allclose(want, _reference_bow(row, 12), rtol=1e-6)
    assert not got[2].any()
    assert not got[:, 0].any()
    np.testing.assert_allclose(np.delete(got, 2, axis=0).sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("tokens", "needle"),
    [
        (np.zeros((2, 3), dtype=np.float32), "integer token ids"),
        (np.zeros(3, dtype=np.int32), "[batch, sequence_length]"),
        (np.array([[1, 12]]), "from 1 to 12"),
        (np.array([[-1, 2]]), "[0, vocab_size=12)"),
    ],
)
def test_bag_of_words_targets_rejects_bad_tokens(tokens, needle):
    with pytest.raises(ZooError, match="bag_of_words_targets") as err:
        ae.bag_of_words_targets(tokens, 12)
    assert needle in str(err.value)


def test_autoencoder_targets_rescale_the_image_like_the_model():
    x = sample_inputs(REGISTRY.get(TINY).recipe.inputs, 2, seed=3)
    y = ae.autoencoder_targets(x, vocab_size=200)
    np.testing.assert_allclose(y["image_reconstruction"], x["image"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y["bag_of_words"], ae.bag_of_words_targets(x["tokens"], 200))


# --------------------------------------------------------------------- I/O contract per part


def test_each_part_has_its_own_contract():
    p = _params()
    step = 2 ** len(p.conv_filters)
    want = {
        "autoencoder": {"image_reconstruction": [16, 16, 3], "bag_of_words": [p.vocab_size]},
        "encoder": {"latent": [p.latent_dim]},
        "image_encoder": {"image_features": [(16 // step) ** 2 * p.conv_filters[-1]]},
        "text_encoder": {"text_features": [p.lstm_units]},
        "decoder": {"image_reconstruction": [16, 16, 3], "bag_of_words": [p.vocab_size]},
    }
    for part, shapes in want.items():
        extra = {"image_shape": [16, 16, 3]} if part == "decoder" else {}
        assert ae.outputs(_params(part=part, **extra), _inputs(part)) == shapes, part


@pytest.mark.parametrize(
    ("part", "inputs", "update", "key", "needle"),
    [
        ("decoder", "autoencoder", {}, "inputs", "takes exactly the inputs ['latent']"),
        ("image_encoder", "autoencoder", {}, "inputs", "received ['image', 'tokens']"),
        ("autoencoder", "decoder", {}, "inputs", "['image', 'tokens']"),
        ("decoder", "decoder", {}, "params.image_shape", "add image_shape"),
        ("decoder", "decoder", {"latent_dim": 8}, "inputs.latent", "latent_dim=8"),
        ("decoder", "decoder", {"image_shape": [18, 16, 3]}, "params.image_shape", "[20, 16, 3]"),
        ("autoencoder", "autoencoder", {"image_shape": [8, 8, 3]}, "params.image_shape", "[16"),
        ("encoder", "encoder", {"vocab_size": 100}, "inputs.tokens.range", "vocab_size=100"),
    ],
)
def test_contract_problems_name_the_key(part, inputs, update, key, needle):
    with pytest.raises(SpecProblem) as err:
        ae.outputs(_params(part=part, **update), _inputs(inputs))
    assert err.value.key == key
    assert needle in err.value.message


@pytest.mark.parametrize(
    ("hw", "blocks", "ok"),
    [((32, 32), 2, True), ((28, 12), 2, True), ((30, 32), 2, False), ((24, 16), 3, True)],
)
def test_image_sides_must_divide_by_two_per_block(hw, blocks, ok):
    p = _params(conv_filters=[2] * blocks)
    inputs = {**_inputs("autoencoder"), "image": InputSpec(shape=[*hw, 3], range=[0.0, 255.0])}
    if ok:
        assert ae.outputs(p, inputs)["image_reconstruction"] == [*hw, 3]
    else:
        with pytest.raises(SpecProblem, match="multiples of 4"):
            ae.outputs(p, inputs)


@pytest.mark.parametrize("upsampling", ["transpose", "upsample"])
@pytest.mark.parametrize(("shape", "filters"), [([12, 20, 3], [2, 4]), ([24, 8, 1], [2, 2, 4])])
def test_decoder_reaches_exactly_the_input_shape(shape, filters, upsampling):
    p = _params(conv_filters=filters, upsampling=upsampling)
    inputs = {**_inputs("autoencoder"), "image": InputSpec(shape=shape, range=[0.0, 255.0])}
    model = ae.build(p, inputs, "odd_shape")
    check_contract(model, inputs, _specs(ae.outputs(p, inputs)))
    out = _np(model(sample_inputs(inputs, 2, seed=0)))
    assert out["image_reconstruction"].shape == (2, *shape)
    assert out["image_reconstruction"].min() >= 0.0 and out["image_reconstruction"].max() <= 1.0
    np.testing.assert_allclose(out["bag_of_words"].sum(axis=1), 1.0, rtol=1e-5)


def _specs(shapes):
    from zoo._recipe import OutputSpec

    return {k: OutputSpec(shape=v) for k, v in shapes.items()}


def test_recipe_problem_is_located_in_the_file(tmp_path):
    recipe = (REGISTRY.get("multimodal_autoencoder_decoder_tiny").source).read_text()
    (tmp_path / "my_decoder.toml").write_text(recipe.replace("image_shape = [16, 16, 3]", ""))
    with pytest.raises(RecipeError) as err:
        zoo.add_recipes(tmp_path)
    assert err.value.key == "params.image_shape"
    assert "my_decoder.toml" in str(err.value)


def test_override_to_a_part_with_other_inputs_says_what_to_declare():
    with pytest.raises(OverrideError, match=r"takes exactly the inputs \['latent'\]"):
        zoo.info(TINY, part="decoder")
    with pytest.raises(OverrideError, match=r"text_encoder: tokens"):
        zoo.info("multimodal_autoencoder_encoder_tiny", part="image_encoder")


def test_override_part_encoder_on_the_full_recipe_builds_a_standalone_encoder():
    model = zoo.get(TINY, part="encoder", seed=0)
    assert sorted(model.output) == ["latent"]


# --------------------------------------------------------------------- parts and shared weights


def test_parts_share_the_full_models_variables(full):
    owned = {id(v) for v in full.weights}
    subs = ae.parts(full)
    assert sorted(subs) == sorted(PARTS)
    for name, sub in subs.items():
        assert sub.weights, name
        assert {id(v) for v in sub.weights} <= owned, name
    assert subs["encoder"].get_layer("latent") is full.get_layer("latent")
    assert subs["decoder"].get_layer("bag_of_words") is full.get_layer("bag_of_words")
    total = sum(subs[p].count_params() for p in ("encoder", "decoder"))
    assert total == full.count_params()


def test_parts_have_the_part_recipes_io_names(full):
    for part, sub in ae.parts(full).items():
        p = _params(part=part, image_shape=[16, 16, 3] if part == "decoder" else None)
        assert sorted(t.name for t in sub.inputs) == sorted(ae.PART_INPUTS[part]), part
        shapes = {k: [int(d) for d in v.shape[1:]] for k, v in sub.output.items()}
        assert shapes == ae.outputs(p, _inputs(part)), part


def test_decoder_of_encoder_is_the_full_model(full):
    subs = ae.parts(full)
    x = sample_inputs(REGISTRY.get(TINY).recipe.inputs, 3, seed=4)
    z = _np(subs["encoder"](x))["latent"]
    want = _np(full(x))
    got = _np(subs["decoder"]({"latent": z}))
    for key in ae.RECONSTRUCTIONS:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("part", PARTS)
def test_standalone_part_takes_the_full_models_weights_by_layer_name(full, part):
    standalone, inputs = _build_part(part)
    shared = ae.parts(full)[part]
    weighted = [layer for layer in standalone.layers if layer.weights]
    assert weighted
    for layer in weighted:
        layer.set_weights(full.get_layer(layer.name).get_weights())
    x = sample_inputs(inputs, 2, seed=5)
    want, got = _np(shared(x)), _np(standalone(x))
    assert sorted(want) == sorted(got)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6)


def test_parts_rejects_a_model_that_is_not_a_full_autoencoder():
    encoder = zoo.get("multimodal_autoencoder_encoder_tiny", seed=0)
    with pytest.raises(ZooError, match="expected a full multimodal autoencoder"):
        ae.parts(encoder)


@pytest.mark.parametrize("part", ["decoder", "image_encoder"])
def test_shared_part_exports_to_keras_and_saved_model_with_parity(full, part, tmp_path):
    result = export_model(ae.parts(full)[part], tmp_path, formats=["keras", "saved_model"])
    for fmt, report in result.parity.items():
        assert {r.batch for r in report} == {1, 3}, fmt
        assert all(r.ok for r in report), (fmt, report)


# --------------------------------------------------------------------- training


def test_training_lowers_both_losses_and_trains_the_parts():
    model = zoo.get(TINY, seed=0, learning_rate=1e-2)
    rng = np.random.default_rng(0)
    # Learnable structure: each example's colour and words come from one of 4 "topics".
    topic = rng.integers(0, 4, size=48)
    x = sample_inputs(REGISTRY.get(TINY).recipe.inputs, 48, seed=6)
    x["image"] = (x["image"] * 0.2 + topic[:, None, None, None] * 50.0).astype(np.float32)
    x["tokens"] = (x["tokens"] % 20 + topic[:, None] * 40 + 1).astype(np.int32)
    x["tokens"][:, -4:] = 0
    y = ae.autoencoder_targets(x, vocab_size=200)
    encoder = ae.parts(model)["encoder"]
    before = _np(encoder(x))["latent"]
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0, shuffle=False).history
    for key in ("loss", "image_reconstruction_loss", "bag_of_words_loss"):
        assert history[key][-1] < history[key][0], (key, history[key])
    assert {"image_reconstruction_mse", "image_reconstruction_mae"} <= set(history)
    after = _np(encoder(x))["latent"]
    assert not np.allclose(before, after)

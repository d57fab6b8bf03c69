"""knowledge_fusion: module/input contract, 2-4 modalities × every fusion, exports, learning."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from conftest import toml_value
from zoo.exporters import export_model, sample_inputs

import zoo
from zoo import RecipeError, SpecProblem
from zoo._recipe import InputSpec
from zoo._registry import REGISTRY
from zoo.families import knowledge_fusion as kf

TINY = "knowledge_fusion_tiny"
FUSIONS = ("concat", "gated", "attention")

# Test graphs of 2, 3 and 4 modules of mixed kinds, each with the inputs it reads. Two token
# inputs in the 4-module graph; a numeric vector ("mlp") in the 3- and 4-module graphs.
IMAGE = {"shape": [12, 12, 3], "dtype": "float32", "range": [0.0, 255.0]}
TOKENS = {"shape": [6], "dtype": "int32", "range": [0, 20]}
WORDS = {"shape": [5], "dtype": "int64", "range": [0, 20]}
FEATURES = {"shape": [7], "dtype": "float32", "range": [-1.0, 1.0]}
CNN = {"kind": "cnn", "conv_filters": [4], "pooling": "flatten"}
RNN = {"kind": "rnn", "embedding_dim": 4, "units": 4}
ATTENTION = {"kind": "attention", "embedding_dim": 4, "num_heads": 2, "ff_dim": 8}
MLP = {"kind": "mlp", "hidden_units": [8]}
GRAPHS = {
    2: ({"image": IMAGE, "tokens": TOKENS}, [("image", CNN), ("tokens", ATTENTION)]),
    3: (
        {"tokens": TOKENS, "features": FEATURES},
        [("tokens", RNN), ("tokens", ATTENTION), ("features", MLP)],
    ),
    4: (
        {"image": IMAGE, "tokens": TOKENS, "words": WORDS, "features": FEATURES},
        [("image", CNN), ("tokens", RNN), ("words", ATTENTION), ("features", MLP)],
    ),
}


def _recipe_text(n: int, fusion: str) -> str:
    inputs, modules = GRAPHS[n]
    lines = [
        'family = "knowledge_fusion"',
        f'description = "{n} modules, {fusion} fusion (test)."',
    ]
    for name, spec in inputs.items():
        lines += ["", f"[inputs.{name}]", *(f"{k} = {toml_value(v)}" for k, v in spec.items())]
    lines += ["", "[outputs.probabilities]", "shape = [3]", 'task = "classification"']
    lines += ["", "[params]", f'fusion = "{fusion}"', "fusion_dim = 6", "fusion_units = 8"]
    lines += ["vocab_size = 20", "num_classes = 3"]
    for source, module in modules:
        lines += ["", "[[params.modules]]", f'input = "{source}"']
        lines += [f"{k} = {toml_value(v)}" for k, v in module.items()]
    lines += ["", "[export]", 'formats = ["keras", "tflite", "onnx"]']
    return "\n".join(lines) + "\n"


def _register(tmp_path, n: int, fusion: str) -> str:
    folder = tmp_path / "recipes"
    folder.mkdir(exist_ok=True)
    name = f"kf{n}_{fusion}"
    (folder / f"{name}.toml").write_text(_recipe_text(n, fusion))
    assert zoo.add_recipes(folder) == [name]
    return name


def _weights(model) -> dict[str, np.ndarray]:
    return {v.path: np.asarray(v).copy() for v in model.trainable_variables}


# --------------------------------------------------------------------- shipped recipes


def test_shipped_recipes_have_three_modules_over_two_inputs():
    for name in ("knowledge_fusion", TINY):
        entry = REGISTRY.get(name)
        kinds = [(m.input, m.kind) for m in entry.params.modules]
        assert kinds == [("image", "cnn"), ("tokens", "rnn"), ("tokens", "attention")], name
        assert entry.params.fusion == "attention"
        assert entry.recipe.train.data == "digit-pairs"
        assert zoo.info(name)["outputs"]["probabilities"]["shape"] == [1]


def test_layer_names_are_stable_unique_and_prefixed_per_module():
    first, second = zoo.get(TINY, seed=0), zoo.get(TINY, seed=1)
    names = [layer.name for layer in first.layers]
    assert names == [layer.name for layer in second.layers]  # no counter-numbered names
    assert len(set(names)) == len(names)
    inner = [n for n in names if n not in ("image", "tokens", "probabilities")]
    prefixes = ("m0_cnn_", "m1_rnn_", "m2_attention_", "fusion_")
    assert all(n.startswith(prefixes) for n in inner), inner
    for i, kind in enumerate(("cnn", "rnn", "attention")):
        assert f"m{i}_{kind}_proj" in names


# --------------------------------------------------------------------- 2-4 modalities × fusion


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("n", sorted(GRAPHS))
def test_modalities_and_fusion_build(tmp_path, n, fusion):
    name = _register(tmp_path, n, fusion)
    model = zoo.get(name, seed=0)
    kinds = [m["kind"] for _, m in GRAPHS[n][1]]
    for i, kind in enumerate(kinds):
        assert model.get_layer(f"m{i}_{kind}_proj").output.shape == (None, 6)
    x = sample_inputs(REGISTRY.get(name).recipe.inputs, 4, seed=1)
    probs = np.asarray(model(x, training=False)["probabilities"])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


# Training and exporting cost 10-13 s per graph: each module count once, each fusion once.
@pytest.mark.parametrize(("n", "fusion"), list(zip(sorted(GRAPHS), FUSIONS, strict=True)))
def test_modalities_and_fusion_train_and_export(tmp_path, n, fusion):
    name = _register(tmp_path, n, fusion)
    model = zoo.get(name, seed=0)
    x = sample_inputs(REGISTRY.get(name).recipe.inputs, 16, seed=1)
    y = np.eye(3, dtype=np.float32)[np.random.default_rng(1).integers(0, 3, 16)]
    before = _weights(model)
    history = model.fit(x, {"probabilities": y}, batch_size=8, epochs=1, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and 0.0 < losses[-1] < 10.0
    after = _weights(model)
    # Every trainable variable moved: the fusion passes gradients to every module.
    frozen = [k for k in before if np.array_equal(before[k], after[k])]
    assert not frozen, frozen
    result = export_model(model, tmp_path / "out", formats=["tflite:fp32", "onnx:fp32"])
    for fmt in ("tflite:fp32", "onnx:fp32"):
        reports = result.parity[fmt]
        assert {r.batch for r in reports} >= {1, 3}
        assert all(r.ok for r in reports), reports


def test_gate_and_attention_weights_behave():
    """Gates lie in (0, 1) per module; attention weights are a softmax over the modules."""
    import keras

    for fusion, check in (("gated", "gates"), ("attention", "softmax")):
        model = zoo.get(TINY, fusion=fusion, seed=0)
        x = sample_inputs(REGISTRY.get(TINY).recipe.inputs, 4, seed=2)
        probe = keras.Model(model.inputs, model.get_layer("fusion_weights").output)
        w = np.asarray(probe(x))
        assert w.shape == (4, 3, 1)
        assert np.all((w > 0) & (w < 1))
        if check == "softmax":
            np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)


# --------------------------------------------------------------------- contract problems


def _spec(**inputs: dict) -> dict[str, InputSpec]:
    return {k: InputSpec(**v) for k, v in inputs.items()}


def _params(*modules: dict, **update) -> kf.KnowledgeFusionParams:
    return kf.KnowledgeFusionParams.model_validate(
        {"modules": list(modules), "vocab_size": 20, **update}
    )


@pytest.mark.parametrize(
    ("modules", "inputs", "key", "needles"),
    [
        (  # a module reading an input the recipe does not declare
            [{"input": "image", **CNN}, {"input": "token", **RNN}],
            {"image": IMAGE, "tokens": TOKENS},
            "params.modules.1.input",
            ["reads input 'token'", "inputs: ['image', 'tokens']", "Did you mean 'tokens'"],
        ),
        (  # an input no module reads
            [{"input": "image", **CNN}, {"input": "tokens", **RNN}],
            {"image": IMAGE, "tokens": TOKENS, "features": FEATURES},
            "inputs.features",
            ["no module reads input 'features'", "input = 'features'"],
        ),
        (  # a CNN on token ids
            [{"input": "tokens", **CNN}, {"input": "tokens", **RNN}],
            {"tokens": TOKENS},
            "params.modules.0.kind",
            ["'cnn' module reads an image", "shape [6] dtype 'int32'"],
        ),
        (  # an RNN on an image
            [{"input": "image", **CNN}, {"input": "image", **RNN}],
            {"image": IMAGE},
            "params.modules.1.kind",
            ["token ids [sequence_length]", "shape [12, 12, 3]"],
        ),
        (  # an MLP on token ids
            [{"input": "tokens", **MLP}, {"input": "tokens", **RNN}],
            {"tokens": TOKENS},
            "params.modules.0.kind",
            ["'mlp' module reads a vector"],
        ),
        (  # one module only
            [{"input": "tokens", **RNN}],
            {"tokens": TOKENS},
            "params.modules",
            ["at least 2 modules, received 1", "rnn(tokens)"],
        ),
        (  # ids beyond the module's vocabulary
            [{"input": "tokens", **RNN, "vocab_size": 10}, {"input": "tokens", **ATTENTION}],
            {"tokens": TOKENS},
            "inputs.tokens.range",
            ["vocab_size=10", "[0.0, 20.0]"],
        ),
        (  # heads that do not divide the embedding
            [{"input": "tokens", **RNN}, {"input": "tokens", **ATTENTION, "num_heads": 3}],
            {"tokens": TOKENS},
            "params.modules.1.num_heads",
            ["embedding_dim 4", "num_heads=3"],
        ),
        (  # more conv blocks than the image can halve
            [{"input": "image", **CNN, "conv_filters": [2, 2, 2, 2]}, {"input": "tokens", **RNN}],
            {"image": IMAGE, "tokens": TOKENS},
            "params.modules.0.conv_filters",
            ["4 conv blocks", "at most 3 blocks"],
        ),
    ],
)
def test_bad_specs_name_the_key(modules, inputs, key, needles):
    with pytest.raises(SpecProblem) as err:
        kf.outputs(_params(*modules), _spec(**inputs))
    assert err.value.key == key
    for needle in needles:
        assert needle in err.value.message


def test_unknown_module_key_names_the_module_and_the_keys_it_takes(tmp_path):
    text = _recipe_text(2, "gated").replace('pooling = "flatten"', 'poolng = "flatten"')
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "kf_bad.toml").write_text(text)
    with pytest.raises(RecipeError) as err:
        zoo.add_recipes(folder)
    assert err.value.key == "params.modules.0.cnn"
    message = str(err.value)
    assert "kf_bad.toml" in message
    assert "unknown key 'poolng' in a module of kind 'cnn' (did you mean 'pooling'?)" in message
    assert (
        "expected one of: conv_filters, image_scale, input, kernel_size, kind, pooling." in message
    )


def test_recipe_with_one_module_fails_naming_file_and_key(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "kf_one.toml").write_text(
        textwrap.dedent(
            """
            family = "knowledge_fusion"
            description = "One module only."
            [inputs.tokens]
            shape = [6]
            dtype = "int32"
            [outputs.probabilities]
            shape = [1]
            [params]
            vocab_size = 20
            [[params.modules]]
            input = "tokens"
            kind = "rnn"
            """
        )
    )
    with pytest.raises(RecipeError) as err:
        zoo.add_recipes(folder)
    assert err.value.key == "params.modules"
    assert "kf_one.toml" in str(err.value) and "at least 2 modules" in str(err.value)


# --------------------------------------------------------------------- learning


def test_tiny_learns_digit_pairs_matching_held_out():
    """Image–text matching on real digits: the label needs both modalities (chance 0.5).

    Neither input alone says anything about the label (each image comes once with a text
    naming its digit and once with another), so the modules must first align: training
    sits near 0.5 until the fusion finds the image–text interaction, after a number of
    epochs that depends on the initial weights.
    """
    result = zoo.fit(TINY, "digit-pairs", epochs=8, patience=8, seed=1, out=None, verbose=0)
    metrics = result.metrics["probabilities"]
    assert metrics["chance"] == 0.5 and metrics["majority_accuracy"] == 0.5
    # Measured held-out accuracy after these 8 epochs, seeds 0-5: 0.596, 0.837, 0.826, 0.813,
    # 0.858, 0.494: seeds 0 and 5 are still on the plateau at epoch 8. Seed 1 leaves it at
    # epoch 3 (val 0.57, 0.70, 0.71, 0.81, ...) and gave 0.837 twice on 2 threads and 0.843
    # on 1 thread (as under xdist), so 0.7 leaves room for thread-order noise while a model
    # that does not fuse the modalities stays near 0.5. The default recipe reaches 0.954
    # held out after 30 epochs (a one-off run, too slow for a test).
    assert metrics["accuracy"] >= 0.7

"""The ``resnet50_transfer`` family: head shapes, freezing, weights, in-graph preprocessing.

Every model here is the tiny recipe (64×64, the full ResNet50 graph), built with random
weights or with weights files the tests write themselves; nothing is downloaded: the
ImageNet tests point the Keras cache at a temporary folder and the download at a closed
local port.
"""

from __future__ import annotations

import hashlib
import textwrap
import warnings

import numpy as np
import pytest
from conftest import toml_value

import zoo
from zoo import OverrideError, RecipeError, weights
from zoo._registry import load_entry
from zoo.families import resnet50_transfer as family
from zoo.layers import IMAGENET_BGR_MEAN, caffe_preprocessing

TINY = "resnet50_transfer_tiny"
SIDE = 64
#: A URL that refuses connections at once, so a "download" fails without the network.
UNREACHABLE = "http://127.0.0.1:9/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"


def _pixels(batch: int, seed: int = 0, dtype: str = "float32") -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(batch, SIDE, SIDE, 3)).astype(dtype)


def _arrays(variables) -> list[np.ndarray]:
    return [np.asarray(v) for v in variables]


def _assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def tiny():
    """The tiny recipe as shipped (seed 0). Tests must not mutate it."""
    return zoo.get(TINY, seed=0)


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache, and ImageNet downloads that fail at once (no network)."""
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    real = weights.KERAS_FILES["resnet50_notop"]
    monkeypatch.setitem(
        weights.KERAS_FILES,
        "resnet50_notop",
        weights.KerasWeightsFile(real.fname, UNREACHABLE, real.file_hash),
    )
    return home


def _write_legacy_h5(model, path) -> None:
    """Write weights in the legacy HDF5 layout the Keras ImageNet files use."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, model)


def _recipe(tmp_path, name: str, body: str):
    folder = tmp_path / "recipes"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(textwrap.dedent(body))
    return path


TINY_RECIPE = """
family = "resnet50_transfer"
description = "test recipe"

[inputs.image]
shape = [64, 64, 3]
dtype = "{dtype}"
range = {range}

[outputs.{output}]
shape = [{width}]

[params]
{params}
"""


def _tiny_recipe(tmp_path, name, *, dtype="float32", rng="[0.0, 255.0]", **params):
    """Write a 64×64 recipe (classifier: Dense(32) → 3 classes unless overridden)."""
    if params.get("head") == "embedding":
        output, width = "embedding", family.FEATURES
    else:
        params = {"head_units": 32, "num_classes": 3, **params}
        output, width = "probabilities", params["num_classes"]
    lines = "\n".join(f"{k} = {toml_value(v)}" for k, v in params.items())
    text = TINY_RECIPE.format(dtype=dtype, range=rng, output=output, width=width, params=lines)
    return _recipe(tmp_path, name, text)


# --- shapes, head, training setup ------------------------------------------------------


def test_classifier_shapes_and_training_setup(tiny):
    assert tiny.output["probabilities"].shape == (None, 3)
    assert tiny.get_layer("probabilities").activation.__name__ == "softmax"
    out = tiny({"image": _pixels(2)})["probabilities"].numpy()
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert tiny.loss == {"probabilities": "categorical_crossentropy"}
    assert type(tiny.optimizer).__name__ == "Adam"
    assert float(tiny.optimizer.learning_rate) == pytest.approx(family.HEAD_LEARNING_RATE)


def test_binary_head_is_one_sigmoid_unit():
    model = zoo.get(TINY, num_classes=1, dropout=0.5, seed=0)
    assert model.output["probabilities"].shape == (None, 1)
    assert model.get_layer("probabilities").activation.__name__ == "sigmoid"
    assert model.loss == {"probabilities": "binary_crossentropy"}
    assert model.get_layer("head_dropout").rate == 0.5
    out = model({"image": _pixels(3)})["probabilities"].numpy()
    assert out.shape == (3, 1)
    assert np.all((out >= 0) & (out <= 1))


def test_embedding_head_is_the_pooled_base_features(tmp_path):
    _tiny_recipe(tmp_path, "rn_embed_tiny", head="embedding")
    zoo.add_recipes(tmp_path / "recipes")
    model = zoo.get("rn_embed_tiny", seed=0)
    assert sorted(model.output) == ["embedding"]
    assert model.output["embedding"].shape == (None, family.FEATURES)
    x = _pixels(2)
    emb = model({"image": x})["embedding"].numpy()
    feats = model.get_layer("resnet50")(model.get_layer("resnet50_preprocess")(x), training=False)
    np.testing.assert_allclose(emb, np.asarray(feats).mean(axis=(1, 2)), rtol=1e-5, atol=1e-5)

    unit = zoo.get("rn_embed_tiny", l2_normalize=True, seed=0)
    emb_unit = unit({"image": x})["embedding"].numpy()
    np.testing.assert_allclose(np.linalg.norm(emb_unit, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(
        emb_unit, emb / np.linalg.norm(emb, axis=1, keepdims=True), rtol=1e-4, atol=1e-6
    )


# --- freezing and fine-tuning ----------------------------------------------------------


def test_base_is_frozen_by_default_and_only_the_head_trains(tiny):
    base = tiny.get_layer("resnet50")
    assert not base.trainable
    assert all(not w.trainable for w in base.weights)
    trainable = {w.path.split("/")[0] for w in tiny.trainable_weights}
    assert trainable == {"head_dense", "probabilities"}
    (node,) = next(x for x in tiny.get_config()["layers"] if x["name"] == "resnet50")[
        "inbound_nodes"
    ]
    assert node["kwargs"]["training"] is False  # the guide's base(x, training=False)
    head_params = (2048 * 32 + 32) + (32 * 3 + 3)
    assert sum(int(np.prod(w.shape)) for w in tiny.trainable_weights) == head_params


def test_trainable_stages_unfreezes_the_last_stages_and_keeps_bn_in_inference():
    import keras

    model = zoo.get(TINY, trainable_stages=2, seed=0)
    base = model.get_layer("resnet50")
    bn_type = keras.layers.BatchNormalization
    for layer in base.layers:
        if not layer.weights:
            continue
        stage = layer.name.split("_")[0]
        want = stage in ("conv4", "conv5") and not isinstance(layer, bn_type)
        assert layer.trainable == want, layer.name
    assert float(model.optimizer.learning_rate) == pytest.approx(family.FINE_TUNE_LEARNING_RATE)

    def snapshot():
        return {w.path: np.array(w) for w in base.weights}

    before = snapshot()
    x, y = _pixels(2), np.eye(3, dtype="float32")[[0, 2]]
    _eager_train_step(model, x, y)
    after = snapshot()
    changed = {p for p in before if not np.array_equal(before[p], after[p])}
    assert "conv5_block3_3_conv/kernel" in changed
    assert "conv4_block1_1_conv/kernel" in changed
    assert not any(p.startswith(("conv1", "pool1", "conv2", "conv3")) for p in changed)
    # BatchNormalization: neither its scale/offset nor its moving statistics moved.
    assert not any("_bn/" in p for p in changed), sorted(p for p in changed if "_bn/" in p)
    # Inference-mode BN: a training-mode call gives the same output (no dropout here).
    np.testing.assert_allclose(
        model({"image": x}, training=True)["probabilities"],
        model({"image": x}, training=False)["probabilities"],
        rtol=1e-5,
        atol=1e-6,
    )

    family.set_trainable_stages(model, 0)
    assert {w.path.split("/")[0] for w in model.trainable_weights} == {
        "head_dense",
        "probabilities",
    }
    family.set_trainable_stages(model, 5)
    stem = base.get_layer("conv1_conv")
    assert stem.trainable and not base.get_layer("conv1_bn").trainable


def _eager_train_step(model, x, y) -> None:
    """One optimizer step as ``Model.train_step`` does it, without tracing a tf.function."""
    import keras
    import tensorflow as tf

    with tf.GradientTape() as tape:
        probs = model({"image": x}, training=True)["probabilities"]
        loss = keras.ops.mean(keras.losses.categorical_crossentropy(y, probs))
    grads = tape.gradient(loss, model.trainable_variables)
    model.optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))


@pytest.mark.parametrize("bad", [-1, 6, 1.5, True, "2"])
def test_set_trainable_stages_rejects_bad_counts(tiny, bad):
    with pytest.raises(zoo.ZooError, match=r"expected an integer 0–5, received"):
        family.set_trainable_stages(tiny, bad)


def test_learning_rate_override_wins():
    params, _ = zoo._registry.REGISTRY.get(TINY).resolve(
        {"trainable_stages": 1, "learning_rate": 3e-4}
    )
    assert family._learning_rate(params) == 3e-4


# --- seeds -----------------------------------------------------------------------------


def test_same_seed_same_weights_other_seed_other_head(tiny):
    again = zoo.get(TINY, seed=0)
    _assert_same(_arrays(tiny.weights), _arrays(again.weights))
    other = zoo.get(TINY, seed=1)
    head = tiny.get_layer("head_dense").kernel
    assert not np.array_equal(np.asarray(head), np.asarray(other.get_layer("head_dense").kernel))


# --- weights ---------------------------------------------------------------------------


def test_weights_from_a_local_file_load_exactly(tiny, tmp_path):
    path = tmp_path / "base.weights.h5"
    tiny.get_layer("resnet50").save_weights(path)
    model = zoo.get(TINY, weights=str(path), seed=1)  # another seed: the file must win
    _assert_same(
        _arrays(tiny.get_layer("resnet50").weights), _arrays(model.get_layer("resnet50").weights)
    )
    info = model.zoo_weights
    assert info.kind == "file"
    assert info.path == path.resolve()
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert str(path.resolve()) in info.source
    assert tiny.zoo_weights.kind == "none"


def test_imagenet_from_the_keras_cache_without_network(tiny, keras_home, monkeypatch):
    """The file Keras would download, put in the cache by hand, is used as is."""
    real = weights.KERAS_FILES["resnet50_notop"]
    cached = keras_home / "models" / real.fname
    cached.parent.mkdir(parents=True)
    _write_legacy_h5(tiny.get_layer("resnet50"), cached)  # same layout as the Keras file
    md5 = hashlib.md5(cached.read_bytes()).hexdigest()
    monkeypatch.setitem(
        weights.KERAS_FILES,
        "resnet50_notop",
        weights.KerasWeightsFile(real.fname, UNREACHABLE, md5),
    )
    model = zoo.get(TINY, weights="imagenet", seed=1)
    _assert_same(
        _arrays(tiny.get_layer("resnet50").weights), _arrays(model.get_layer("resnet50").weights)
    )
    assert model.zoo_weights.kind == "imagenet"
    assert model.zoo_weights.path == cached


def test_imagenet_offline_fails_with_the_file_name_and_the_fix(keras_home):
    fname = weights.KERAS_FILES["resnet50_notop"].fname
    with pytest.raises(weights.WeightsError) as info:
        zoo.get(TINY, weights="imagenet")
    message = str(info.value)
    assert isinstance(info.value, zoo.ZooError)
    assert fname in message
    assert str(keras_home / "models" / fname) in message  # where to put it
    assert f"weights='/path/to/{fname}'" in message  # or pass it
    assert "downloading failed" in message and "127.0.0.1:9" in message  # what went wrong
    assert "weights='none'" in message
    assert not (keras_home / "models" / fname).exists()


def test_imagenet_cache_file_with_a_wrong_hash_is_reported_and_kept(keras_home):
    fname = weights.KERAS_FILES["resnet50_notop"].fname
    cached = keras_home / "models" / fname
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not the ImageNet weights")
    with pytest.raises(weights.WeightsError, match="is not the Keras ImageNet file") as info:
        weights.resolve("imagenet", keras_file=weights.KERAS_FILES["resnet50_notop"])
    assert hashlib.md5(b"not the ImageNet weights").hexdigest() in str(info.value)
    assert f"weights={str(cached)!r}" in str(info.value)
    assert cached.read_bytes() == b"not the ImageNet weights"  # Keras would have deleted it


def test_imagenet_without_download_only_looks_in_the_cache(keras_home):
    with pytest.raises(weights.WeightsError, match="not downloading"):
        weights.resolve(
            "imagenet", keras_file=weights.KERAS_FILES["resnet50_notop"], download=False
        )


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("{tmp}/missing.weights.h5", "no such file"),
        ("{tmp}/folder.h5", "is a folder, not a file"),
    ],
)
def test_local_file_problems_name_the_path(tmp_path, spec, fragment):
    (tmp_path / "folder.h5").mkdir()
    value = spec.format(tmp=tmp_path)
    with pytest.raises(weights.WeightsError, match=fragment) as info:
        zoo.get(TINY, weights=value)
    assert value in str(info.value)


def test_a_file_of_another_model_is_a_clear_error(tmp_path):
    import keras

    x = keras.Input((4,))
    small = keras.Model(x, keras.layers.Dense(2)(x))
    path = tmp_path / "small.weights.h5"
    small.save_weights(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns once per layer it cannot fill
        with pytest.raises(weights.WeightsError, match="could not load") as info:
            zoo.get(TINY, weights=str(path))
    assert "ResNet50 base (include_top=False)" in str(info.value)
    assert "conv1_conv" in str(info.value)  # Keras' own reason is kept


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("imagnet", "Did you mean 'imagenet'"),
        ("random", "Use 'none' for random initialisation"),
        ("model.keras", "A .keras file is a whole model"),
        ("weights.npz", "ending in .weights.h5 or .h5"),
    ],
)
def test_malformed_weights_strings_fail_before_building(value, fragment):
    with pytest.raises(OverrideError, match="weights") as info:
        zoo.info(TINY, weights=value)
    assert fragment in str(info.value)
    assert repr(value) in str(info.value)


def test_python_none_means_random_and_paths_become_strings(tmp_path):
    assert zoo.info(TINY, weights=None)["params"]["weights"] == "none"
    path = tmp_path / "base.weights.h5"
    assert zoo.info(TINY, weights=path)["params"]["weights"] == str(path)
    assert weights.resolve(None).kind == "none"


def test_keras_file_constants_match_the_installed_keras():
    from keras.src.applications import resnet

    known = weights.KERAS_FILES["resnet50_notop"]
    assert known.fname == "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert known.origin == resnet.BASE_WEIGHTS_PATH + known.fname
    assert known.file_hash == resnet.WEIGHTS_HASHES["resnet50"][1]


def test_keras_cache_dir_follows_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert weights.keras_cache_dir() == tmp_path / "kh" / "models"


# --- preprocessing inside the graph ----------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_caffe_preprocessing_matches_keras_preprocess_input(dtype):
    import keras

    x = _pixels(3, seed=4, dtype=dtype)
    want = keras.applications.resnet50.preprocess_input(x.astype("float32"))
    got = np.asarray(caffe_preprocessing((SIDE, SIDE, 3), dtype=dtype)(x))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    rgb = x.astype("float32")  # written out: channel 0 of the output is blue minus its mean
    np.testing.assert_array_equal(got[..., 0], rgb[..., 2] - np.float32(IMAGENET_BGR_MEAN[0]))
    np.testing.assert_array_equal(got[..., 2], rgb[..., 0] - np.float32(IMAGENET_BGR_MEAN[2]))


def test_model_takes_raw_pixels_through_its_preprocessing_layer(tiny):
    import keras

    assert [layer.name for layer in tiny.layers][:3] == ["image", "resnet50_preprocess", "resnet50"]
    x = _pixels(2, seed=5)
    by_hand = keras.applications.resnet50.preprocess_input(x.copy())
    feats = tiny.get_layer("resnet50")(by_hand, training=False)
    h = tiny.get_layer("head_dense")(tiny.get_layer("avg_pool")(feats))
    want = np.asarray(tiny.get_layer("probabilities")(h))
    got = tiny({"image": x})["probabilities"].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_uint8_input_recipe_gives_the_float_model_outputs(tiny, tmp_path):
    _tiny_recipe(tmp_path, "rn_uint8_tiny", dtype="uint8", rng="[0, 256]")
    zoo.add_recipes(tmp_path / "recipes")
    model = zoo.get("rn_uint8_tiny", seed=0)
    assert model.inputs[0].dtype == "uint8"
    x = _pixels(2, seed=6, dtype="uint8")
    got = model({"image": x})["probabilities"].numpy()
    want = tiny({"image": x.astype("float32")})["probabilities"].numpy()
    np.testing.assert_array_equal(got, want)


# --- recipe checks (no TensorFlow needed) ----------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "key", "fragment"),
    [
        ({"head": "embedding", "num_classes": 4}, "params.num_classes", "only apply to head"),
        ({"l2_normalize": True}, "params.l2_normalize", "applies to head='embedding'"),
        ({"rng": "[0.0, 1.0]"}, "inputs.image.range", "raw RGB pixels in 0–255"),
        ({"dtype": "int32", "rng": "[0, 256]"}, "inputs.image.dtype", "'float32' or 'uint8'"),
        ({"weights": "imagnet"}, "params.weights", "Did you mean 'imagenet'"),
        ({"trainable_stages": 6}, "params.trainable_stages", "less than or equal to 5"),
    ],
)
def test_recipe_problems_are_located(tmp_path, kwargs, key, fragment):
    path = _tiny_recipe(tmp_path, "rn_bad", **kwargs)
    with pytest.raises(RecipeError) as info:
        load_entry(path)
    assert info.value.key == key
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("shape", "fragment"),
    [("[16, 16, 3]", "at least 32"), ("[64, 64, 1]", "[height, width, 3]")],
)
def test_image_shape_problems_are_located(tmp_path, shape, fragment):
    path = _tiny_recipe(tmp_path, "rn_shape")
    path.write_text(path.read_text().replace("[64, 64, 3]", shape))
    with pytest.raises(RecipeError, match=r"inputs\.image\.shape") as info:
        load_entry(path)
    assert fragment in str(info.value)


def test_shipped_recipes_declare_their_contract():
    assert zoo.info("resnet50_transfer")["outputs"]["probabilities"]["shape"] == [10]
    assert zoo.info("resnet50_embedding")["outputs"]["embedding"]["shape"] == [2048]
    for name in ("resnet50_transfer", "resnet50_transfer_tiny", "resnet50_embedding"):
        info = zoo.info(name)
        assert info["params"]["weights"] == "none"  # builds offline
        assert info["inputs"]["image"]["range"] == [0.0, 255.0]
        assert info["formats"] == ["keras", "saved_model", "tflite", "onnx"]

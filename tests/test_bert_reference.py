"""The BERT backbone computes the function its checkpoint defines, checked against NumPy.

The reference is an independent float64 forward pass in plain NumPy (no TensorFlow, no
torch, no keras-hub) straight from the Hugging Face ``model.safetensors`` tensors and
``config.json``: word + position + token-type embeddings, LayerNorm, then per layer
self-attention (padding keys masked out), residual + LayerNorm, the feed-forward block with
the checkpoint's activation, residual + LayerNorm; mean pooling over real tokens.

keras-hub's ``BertBackbone`` hard-codes the tanh GELU; MiniLM was trained with the exact
(erf) GELU, and the tanh form is off by ~1.4e-3. zoo's backbone must match the reference
to float32 precision (1e-5), the tanh one must not (> 1e-4).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from _hf_bert import hugging_face_bert
from conftest import ROOT
from safetensors.numpy import load_file
from scipy.special import erf

import zoo
from zoo import ZooError
from zoo.families._bert_sources import load_backbone, minilm_folder

#: Max |zoo − reference| on mean-pooled embeddings (float32 model vs float64 reference).
ATOL = 1e-5
#: The tanh GELU must miss the reference by more than this (it misses by ~1.4e-3).
TANH_MIN_ERROR = 1e-4

# Real sentences, 4 to ~40 word pieces; the first two are paraphrases, the third unrelated.
SENTENCES = [
    "A man is playing a guitar.",
    "Someone plays the guitar.",
    "The stock market fell sharply today.",
    "Hi!",
    "Could you tell me how to get to the nearest train station from here, please?",
    "The committee postponed its decision on the new budget until after the holidays, "
    "citing a lack of reliable revenue forecasts and several unresolved legal questions.",
    "Cats sleep for most of the day.",
    "Heavy rain is expected across the northern region tonight.",
]

ACTIVATIONS = {
    "gelu": lambda x: 0.5 * x * (1.0 + erf(x / math.sqrt(2.0))),
    "gelu_approximate": lambda x: (
        0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    ),
    "relu": lambda x: np.maximum(x, 0.0),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
}


def _layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def reference_embeddings(tensors, config, features, *, activation):
    """Mean-pooled BERT outputs ``[batch, hidden]`` in float64, from Hugging Face tensors."""
    t = {k: v.astype(np.float64) for k, v in tensors.items()}
    eps = config.get("layer_norm_eps", 1e-12)
    heads = config["num_attention_heads"]
    ids, mask, segments = (features[k] for k in ("token_ids", "padding_mask", "segment_ids"))
    batch, n = ids.shape
    h = (
        t["embeddings.word_embeddings.weight"][ids]
        + t["embeddings.position_embeddings.weight"][:n][None]
        + t["embeddings.token_type_embeddings.weight"][segments]
    )
    h = _layer_norm(h, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], eps)
    keep = mask.astype(bool)[:, None, None, :]  # [batch, 1, 1, keys]: padding is never attended
    gelu = ACTIVATIONS[activation]
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def dense(x, key, p=p):
            return x @ t[f"{p}{key}.weight"].T + t[f"{p}{key}.bias"]

        def heads_first(x):
            return x.reshape(batch, n, heads, -1).transpose(0, 2, 1, 3)

        q, k, v = (heads_first(dense(h, f"attention.self.{w}")) for w in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1])
        scores = np.where(keep, scores, -np.inf)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        context = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, n, -1)
        h = _layer_norm(
            h + dense(context, "attention.output.dense"),
            t[f"{p}attention.output.LayerNorm.weight"],
            t[f"{p}attention.output.LayerNorm.bias"],
            eps,
        )
        ffn = dense(gelu(dense(h, "intermediate.dense")), "output.dense")
        h = _layer_norm(
            h + ffn, t[f"{p}output.LayerNorm.weight"], t[f"{p}output.LayerNorm.bias"], eps
        )
    real = mask[..., None].astype(np.float64)
    return (h * real).sum(1) / real.sum(1)


def pooled(backbone, features):
    """Mean-pooled ``sequence_output`` of a Keras backbone, in float64."""
    seq = np.asarray(backbone(features, training=False)["sequence_output"], np.float64)
    real = features["padding_mask"][..., None].astype(np.float64)
    return (seq * real).sum(1) / real.sum(1)


def _cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- the pretrained MiniLM-L6 ----------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm():
    """Features of SENTENCES, the shipped tensors and config, the erf reference."""
    folder = minilm_folder()
    tensors = load_file(str(folder / "model.safetensors"))
    config = json.loads((folder / "config.json").read_text())
    features = zoo.preprocessor("bert_classifier")(SENTENCES)
    want = reference_embeddings(tensors, config, features, activation="gelu")
    return features, tensors, config, want


def test_minilm_backbone_equals_the_numpy_reference(minilm):
    features, _, config, want = minilm
    assert config["hidden_act"] == "gelu"
    lengths = features["padding_mask"].sum(1)
    assert lengths.min() <= 5 and 30 <= lengths.max() < 128  # short and long, all padded
    got = pooled(load_backbone("minilm-l6"), features)
    error = np.abs(got - want).max(axis=1)
    assert error.max() <= ATOL, dict(zip(SENTENCES, error.tolist(), strict=True))


def test_tanh_gelu_backbone_misses_the_reference(minilm):
    """keras-hub's stock backbone (tanh GELU) fails the gate, so the gate can fail.

    The same tanh network computed by the reference passes it: the miss is the activation
    alone, not a slack reference.
    """
    import keras_hub

    features, tensors, config, want = minilm
    stock = keras_hub.models.BertBackbone.from_preset(str(minilm_folder()), dtype="float32")
    got = pooled(stock, features)
    assert np.abs(got - want).max() > TANH_MIN_ERROR
    tanh = reference_embeddings(tensors, config, features, activation="gelu_approximate")
    assert np.abs(got - tanh).max() <= ATOL


def test_reference_ranks_a_paraphrase_above_unrelated_sentences(minilm):
    *_, emb = minilm
    paraphrase = _cosine(emb[0], emb[1])
    for other in range(2, len(SENTENCES)):
        assert paraphrase > max(_cosine(emb[0], emb[other]), _cosine(emb[1], emb[other]))


def test_classifier_embeds_like_the_reference(minilm):
    """The bert_classifier model's pooled vector (what feeds its head) is the reference's."""
    import keras

    features, _, _, want = minilm
    model = zoo.get("bert_classifier", seed=0)
    embed = keras.Model(model.inputs, model.get_layer("head_dense").input)
    np.testing.assert_allclose(np.asarray(embed(features), np.float64), want, rtol=0, atol=ATOL)


# --- Hugging Face folders: hidden_act decides ---------------------------------------------------


def _hf_folder(folder, *, hidden_act, vocab=64, hidden=16, layers=2, heads=2, inter=32):
    """A small random BERT in Hugging Face layout; returns (tensors, config).

    Weights are large enough (std 0.5) that the feed-forward inputs reach |x| > 2, where
    the activations differ: tanh vs erf GELU by up to ~1e-3 per unit.
    """
    extra = {"layer_norm_eps": 1e-12}
    if hidden_act is not None:
        extra["hidden_act"] = hidden_act
    return hugging_face_bert(
        folder,
        vocab_lines=[f"w{i}" for i in range(vocab)],
        hidden=hidden,
        layers=layers,
        heads=heads,
        inter=inter,
        positions=32,
        scale=0.5,
        unit_norms=True,
        config=extra,
    )


def _features(vocab=64, n=12):
    """Three rows with 12, 7 and 3 real tokens, then padding."""
    rng = np.random.default_rng(1)
    lengths = np.array([n, 7, 3])
    mask = (np.arange(n)[None] < lengths[:, None]).astype(np.int32)
    ids = np.where(mask == 1, rng.integers(1, vocab, (3, n)), 0).astype(np.int32)
    segments = np.zeros_like(ids)
    segments[0, 6:] = 1  # a second segment in the full row
    return {"token_ids": ids, "padding_mask": mask, "segment_ids": segments}


@pytest.mark.parametrize(
    ("hidden_act", "activation"),
    [
        (None, "gelu"),  # absent: transformers' BertConfig default, "gelu"
        ("gelu", "gelu"),
        ("gelu_new", "gelu_approximate"),
        ("gelu_pytorch_tanh", "gelu_approximate"),
        ("relu", "relu"),
        ("silu", "silu"),
    ],
)
def test_hugging_face_folder_follows_hidden_act(tmp_path, hidden_act, activation):
    tensors, config = _hf_folder(tmp_path / "hf", hidden_act=hidden_act)
    backbone = load_backbone(str(tmp_path / "hf"))
    x = _features()
    got = pooled(backbone, x)
    np.testing.assert_allclose(
        got, reference_embeddings(tensors, config, x, activation=activation), rtol=0, atol=ATOL
    )
    for other in ACTIVATIONS.keys() - {activation}:  # the folder is sensitive to the choice
        wrong = reference_embeddings(tensors, config, x, activation=other)
        assert np.abs(got - wrong).max() > TANH_MIN_ERROR, other
    declared = backbone.get_config().get("activation", "gelu_approximate")
    assert declared == activation


def test_unknown_hidden_act_names_value_file_and_choices(tmp_path):
    _hf_folder(tmp_path / "hf", hidden_act="quick_gelu")
    with pytest.raises(ZooError) as exc:
        load_backbone(str(tmp_path / "hf"))
    message = str(exc.value)
    assert "'quick_gelu'" in message
    assert str(tmp_path / "hf" / "config.json") in message
    for accepted in ("'gelu'", "'gelu_new'", "'gelu_pytorch_tanh'", "'relu'"):
        assert accepted in message


def test_random_tiny_uses_the_exact_gelu():
    import keras

    backbone = load_backbone("random-tiny")
    assert backbone.get_config()["activation"] == "gelu"
    for layer in backbone.transformer_layers:
        assert layer.activation is keras.activations.gelu  # what its config reports
        dense = layer._feedforward_intermediate_dense
        x = np.linspace(-6.0, 6.0, 121, dtype=np.float32)
        np.testing.assert_allclose(
            np.asarray(dense.activation(x)), ACTIVATIONS["gelu"](x.astype(np.float64)), atol=1e-6
        )


# --- the activation survives saving --------------------------------------------------------------

FRESH_LOAD = """
import sys
import numpy as np
from zoo.exporters import load_runner
x = dict(np.load(sys.argv[2]))
out = load_runner("keras", sys.argv[1]).run(x)
np.save(sys.argv[3], out["pooled"])
"""


def test_activation_survives_keras_file_and_preset(tmp_path):
    """A .keras file (reloaded in a fresh process by zoo's loader) and a keras-hub preset
    folder keep the exact GELU: both still equal the reference."""
    import keras

    tensors, config = _hf_folder(tmp_path / "hf", hidden_act="gelu")
    backbone = load_backbone(str(tmp_path / "hf"))
    x = _features()
    want = reference_embeddings(tensors, config, x, activation="gelu")

    backbone.save_to_preset(str(tmp_path / "preset"))
    preset = json.loads((tmp_path / "preset" / "config.json").read_text())
    assert preset["registered_name"] == "zoo>ZooBertBackbone"
    assert preset["config"]["activation"] == "gelu"
    np.testing.assert_allclose(
        pooled(load_backbone(str(tmp_path / "preset")), x), want, rtol=0, atol=ATOL
    )

    inputs = {k: keras.Input((None,), dtype="int32", name=k) for k in x}
    seq = backbone(inputs)["sequence_output"]
    mask = keras.ops.expand_dims(keras.ops.cast(inputs["padding_mask"], seq.dtype), -1)
    mean = keras.ops.sum(seq * mask, axis=1) / keras.ops.sum(mask, axis=1)
    keras.Model(inputs, {"pooled": mean}).save(tmp_path / "m.keras")
    np.savez(tmp_path / "x.npz", **x)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", FRESH_LOAD, *(str(tmp_path / f) for f in ("m.keras", "x.npz", "y"))],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=0, atol=ATOL)

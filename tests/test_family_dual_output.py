"""dual_output: two towers, two sigmoid outputs, a loss and metrics each; a real learning check.

Export parity of the tiny recipe is covered by tests/test_models.py (registry-wide).
"""

from __future__ import annotations

import numpy as np
import pytest
from zoo.exporters import sample_inputs

import zoo
from zoo import SpecProblem
from zoo._recipe import InputSpec
from zoo._registry import REGISTRY
from zoo.data import digits, to_rgb
from zoo.data._pipeline import vocabulary, word_ids
from zoo.data._sources import DIGIT_WORDS, PAIR_TEMPLATES
from zoo.families import dual_output as do

TINY = "dual_output_tiny"
OUTPUTS = ("image_score", "text_score")
METRICS = ("binary_accuracy", "precision", "recall", "auc")


def _inputs(batch: int, seed: int) -> dict[str, np.ndarray]:
    return sample_inputs(REGISTRY.get(TINY).recipe.inputs, batch, seed=seed)


def _targets(batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.integers(0, 2, (batch, 1)).astype(np.float32) for k in OUTPUTS}


@pytest.fixture(scope="module")
def tiny():
    """The tiny recipe as shipped (seed 0). Tests must not train or mutate it."""
    return zoo.get(TINY, seed=0)


def test_two_inputs_two_sigmoid_outputs(tiny):
    assert sorted(t.name for t in tiny.inputs) == ["image", "tokens"]
    assert sorted(tiny.output) == list(OUTPUTS)
    out = tiny(_inputs(5, seed=1), training=False)
    for name in OUTPUTS:
        p = np.asarray(out[name])
        assert p.shape == (5, 1)
        assert np.all((p > 0) & (p < 1))
    assert zoo.info(TINY)["outputs"]["image_score"]["task"] == "classification"


def test_each_score_depends_on_its_own_input_only(tiny):
    a, b = _inputs(4, seed=1), _inputs(4, seed=2)
    base = tiny(a, training=False)
    new_text = tiny({"image": a["image"], "tokens": b["tokens"]}, training=False)
    new_image = tiny({"image": b["image"], "tokens": a["tokens"]}, training=False)
    np.testing.assert_array_equal(base["image_score"], new_text["image_score"])
    np.testing.assert_array_equal(base["text_score"], new_image["text_score"])
    assert not np.allclose(base["text_score"], new_text["text_score"])
    assert not np.allclose(base["image_score"], new_image["image_score"])


def test_compile_has_a_loss_and_metrics_per_output(tiny):
    config = tiny.get_compile_config()
    assert config["loss"] == {name: "binary_crossentropy" for name in OUTPUTS}
    assert config["loss_weights"] == {"image_score": 1.0, "text_score": 1.0}
    metrics = config["metrics"]
    assert sorted(metrics) == list(OUTPUTS)
    for name in OUTPUTS:
        assert [m["config"]["name"] for m in metrics[name]] == list(METRICS)


def test_each_output_is_scored_against_its_own_targets():
    """Targets that agree with one output and contradict the other give accuracies 1 and 0."""
    model = zoo.get(TINY, seed=0)
    x = _inputs(8, seed=5)
    out = model.predict(x, verbose=0)
    y = {
        "image_score": (out["image_score"] > 0.5).astype(np.float32),
        "text_score": (out["text_score"] <= 0.5).astype(np.float32),
    }
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["image_score_binary_accuracy"] == 1.0
    assert logs["text_score_binary_accuracy"] == 0.0
    assert logs["image_score_loss"] < logs["text_score_loss"]


def test_fit_step_logs_both_losses_and_metrics_and_weights_move():
    model = zoo.get(TINY, seed=0)
    before = [np.asarray(v).copy() for v in model.trainable_variables]
    history = model.fit(_inputs(16, 3), _targets(16, 3), batch_size=8, epochs=1, verbose=0)
    logs = {k: v[-1] for k, v in history.history.items()}
    want = (
        {"loss"} | {f"{o}_loss" for o in OUTPUTS} | {f"{o}_{m}" for o in OUTPUTS for m in METRICS}
    )
    assert want <= set(logs), sorted(logs)
    assert all(np.isfinite(v) for v in logs.values())
    after = [np.asarray(v) for v in model.trainable_variables]
    assert all(not np.array_equal(x, y) for x, y in zip(before, after, strict=True))


@pytest.mark.parametrize(("image_w", "text_w"), [(1.0, 0.0), (0.25, 2.0)])
def test_loss_weights_come_from_params(image_w, text_w):
    model = zoo.get(TINY, seed=0, image_loss_weight=image_w, text_loss_weight=text_w)
    logs = model.evaluate(_inputs(8, 4), _targets(8, 4), verbose=0, return_dict=True)
    want = image_w * logs["image_score_loss"] + text_w * logs["text_score_loss"]
    assert logs["loss"] == pytest.approx(want, rel=1e-5)


def test_mean_text_encoder_has_no_lstm():
    model = zoo.get(TINY, seed=0, text_encoder="mean")
    names = {layer.name for layer in model.layers}
    assert "text_mean" in names and "text_lstm" not in names


@pytest.mark.parametrize(
    ("inputs", "update", "key", "needle"),
    [
        ({"image": [16, 16, 3]}, {}, "inputs", "received ['image']"),
        ({"image": [16, 16], "tokens": [8]}, {}, "inputs.image", "received shape [16, 16]"),
        ({"image": [16, 16, 3], "tokens": [8]}, {"vocab_size": 20}, "inputs.tokens.range", "20"),
        (
            {"image": [16, 16, 3], "tokens": [8]},
            {"conv_filters": [2] * 5},
            "inputs.image.shape",
            "at least 32×32",
        ),
    ],
)
def test_contract_problems_name_the_key(inputs, update, key, needle):
    spec = {
        n: InputSpec(shape=s, range=[0.0, 255.0])
        if n == "image"
        else InputSpec(shape=s, dtype="int32", range=[0, 50])
        for n, s in inputs.items()
    }
    params = REGISTRY.get(TINY).params.model_copy(update=update)
    with pytest.raises(SpecProblem) as err:
        do.outputs(params, spec)
    assert err.value.key == key
    assert needle in err.value.message


# --------------------------------------------------------------------- learning on real digits


def _rows(split, rng, vocab=None):
    """Model rows from real digits, each target a function of its own input only.

    ``image_score``: the image shows a digit >= 5. ``text_score``: the text (a digit-pairs
    template: "seven", "7", "the digit seven", ...) names an even digit; the named digit is
    drawn independently of the image, so neither input says anything about the other target.
    """
    spec = REGISTRY.get(TINY).recipe.inputs
    named = rng.integers(0, 10, len(split.labels))
    texts = [
        PAIR_TEMPLATES[rng.integers(len(PAIR_TEMPLATES))].format(w=DIGIT_WORDS[d], d=d)
        for d in named
    ]
    vocab = vocab or vocabulary(texts, int(spec["tokens"].range[1]))
    x = {
        "image": to_rgb(split.images, tuple(spec["image"].shape[:2])),
        "tokens": word_ids(texts, vocab, spec["tokens"].shape[0]),
    }
    y = {
        "image_score": (split.labels >= 5).astype(np.float32)[:, None],
        "text_score": (named % 2 == 0).astype(np.float32)[:, None],
    }
    return x, y, vocab


def test_learns_both_scores_on_real_digits():
    data = digits(seed=0)  # 1,438 train / 359 held-out images, class-stratified
    rng = np.random.default_rng(0)
    x_train, y_train, vocab = _rows(data.train, rng)
    x_test, y_test, _ = _rows(data.test, rng, vocab)
    model = zoo.get(TINY, seed=0)
    model.fit(x_train, y_train, batch_size=32, epochs=6, verbose=0)
    logs = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    # Chance is about 0.5 for both (digits >= 5: 0.50 of the test images; even digits: 0.5).
    # Measured held-out accuracy after 6 epochs, seeds 0-5 of the weights: image 0.93-0.97
    # (seed 0: 0.953), text 1.0 every time (the text target is a lookup of one word). The
    # bounds leave room for thread-order noise but fail a tower that learned nothing.
    assert logs["image_score_binary_accuracy"] >= 0.85
    assert logs["text_score_binary_accuracy"] >= 0.95

"""Overrides are validated like recipe params; ``seed`` makes weights reproducible."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo import OverrideError

NAME = "cnn_lstm_fusion_tiny"


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


def test_same_seed_gives_identical_weights():
    a, b = _weights(zoo.get(NAME, seed=7)), _weights(zoo.get(NAME, seed=7))
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_different_seed_gives_different_weights():
    a, b = _weights(zoo.get(NAME, seed=1)), _weights(zoo.get(NAME, seed=2))
    assert any(not np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_override_changes_the_built_model_and_the_contract():
    model = zoo.get(NAME, num_classes=5, seed=0)
    assert model.output["probabilities"].shape == (None, 5)
    assert zoo.info(NAME, num_classes=5)["outputs"]["probabilities"]["shape"] == [5]
    assert zoo.info(NAME)["outputs"]["probabilities"]["shape"] == [3]


def test_override_switches_architecture_options():
    model = zoo.get(NAME, conv_filters=[4, 8], pooling="gap", image_dense_units=8, seed=0)
    names = {layer.name for layer in model.layers}
    assert {"image_conv2", "image_gap", "image_dense"} <= names
    assert "image_flatten" not in names


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"num_clases": 5}, ["num_clases", "Did you mean 'num_classes'"]),
        ({"num_classes": "five"}, ["num_classes", "'five' (str)", "integer"]),
        ({"num_classes": 0}, ["num_classes", "0 (int)", "greater than or equal to 1"]),
        ({"num_classes": 2.5}, ["num_classes", "2.5 (float)"]),
        ({"lstm_unroll": "yes"}, ["lstm_unroll", "'yes' (str)", "boolean"]),
        ({"pooling": "max"}, ["pooling", "'flatten' or 'gap'", "'max' (str)"]),
        ({"conv_filters": []}, ["conv_filters", "at least 1"]),
        ({"vocab_size": 50}, ["inputs.tokens.range", "vocab_size=50"]),
        ({"conv_filters": [8, 8, 8, 8]}, ["inputs.image.shape", "too small"]),
    ],
)
def test_bad_override_is_rejected_with_key_and_received_value(overrides, fragments):
    with pytest.raises(OverrideError) as exc:
        zoo.info(NAME, **overrides)
    message = str(exc.value)
    assert NAME in message
    for fragment in fragments:
        assert fragment in message


def test_get_validates_overrides_before_importing_anything_heavy():
    with pytest.raises(OverrideError, match="Did you mean 'lstm_units'"):
        zoo.get(NAME, lstm_unit=3)


def test_unknown_model_suggests_close_names():
    with pytest.raises(zoo.UnknownModelError) as exc:
        zoo.get("cnn_lstm_fuson")
    assert isinstance(exc.value, KeyError)
    assert "Did you mean 'cnn_lstm_fusion'" in str(exc.value)

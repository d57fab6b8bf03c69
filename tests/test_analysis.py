"""Parameter and FLOP counts of built models."""

from __future__ import annotations

import zoo
from zoo._analysis import count_params, flops_per_example
from zoo._registry import REGISTRY

NAME = "cnn_lstm_fusion_tiny"


def test_param_counts_add_up():
    model = zoo.get(NAME, seed=0)
    counts = count_params(model)
    assert counts["total"] == model.count_params()
    assert counts["trainable"] + counts["non_trainable"] == counts["total"]


def test_flops_count_every_lstm_time_step():
    inputs = REGISTRY.get(NAME).recipe.inputs
    looped = flops_per_example(zoo.get(NAME, seed=0), inputs)
    unrolled = flops_per_example(zoo.get(NAME, lstm_unroll=True, seed=0), inputs)
    assert looped == unrolled
    longer = flops_per_example(zoo.get(NAME, lstm_units=16, seed=0), inputs)
    assert longer > looped


def test_flops_match_a_hand_count_for_dense_layers():
    import keras

    x = keras.Input((10,), name="x")
    y = keras.layers.Dense(4, name="y")(x)
    model = keras.Model({"x": x}, {"y": y})
    spec = zoo._recipe.InputSpec(shape=[10])
    # MatMul 2*10*4 plus bias add 4
    assert flops_per_example(model, {"x": spec}) == 2 * 10 * 4 + 4

"""Numbers about a built model: parameter counts and FLOPs per example (imports TF lazily)."""

from __future__ import annotations

import warnings
from typing import Any

from zoo._recipe import InputSpec


def count_params(model: Any) -> dict[str, int]:
    """Total, trainable and non-trainable parameter counts."""
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    non_trainable = sum(int(w.numpy().size) for w in model.non_trainable_weights)
    return {
        "total": trainable + non_trainable,
        "trainable": trainable,
        "non_trainable": non_trainable,
    }


def _unrolled(model: Any) -> Any:
    """A copy of ``model`` whose top-level recurrent layers are unrolled (same FLOPs, no loop).

    The TF profiler counts the body of a ``while`` loop once, so a recurrent layer that runs
    as a loop would be undercounted by its number of time steps.
    """
    import keras

    rnn_types = (keras.layers.RNN, keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN)
    if not any(isinstance(layer, rnn_types) for layer in model.layers):
        return model

    def clone(layer: Any) -> Any:
        if isinstance(layer, rnn_types):
            return layer.__class__.from_config({**layer.get_config(), "unroll": True})
        return layer

    return keras.models.clone_model(model, clone_function=clone)


def flops_per_example(model: Any, inputs: dict[str, InputSpec]) -> int:
    """Floating-point operations of one example (batch 1), counted on the frozen TF graph.

    Counted by the TensorFlow profiler (multiply and add count as two operations) over the
    graph of ``model`` at batch 1, with recurrent layers unrolled so every time step counts.

    Example:
        >>> flops_per_example(zoo.get("cnn_lstm_fusion_tiny"), inputs)  # doctest: +SKIP
        485282
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    target = _unrolled(model)
    specs = {
        name: tf.TensorSpec([1, *spec.shape], spec.dtype, name=name)
        for name, spec in inputs.items()
    }
    concrete = tf.function(lambda x: target(x, training=False)).get_concrete_function(specs)
    graph_def = convert_variables_to_constants_v2(concrete).graph.as_graph_def()
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel("ERROR")  # the v1 profiler logs a deprecation notice on every call
    with tf.Graph().as_default() as graph, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tf.graph_util.import_graph_def(graph_def, name="")
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        profile = tf.compat.v1.profiler.profile(
            graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options
        )
    logger.setLevel(level)
    return int(profile.total_float_ops)


def weights_source(params: dict[str, Any], model: Any = None) -> str:
    """Where a model's weights come from.

    The model's resolved weights if it carries them (``model.zoo_weights``, set by families
    that load files), else its ``weights``/``backbone`` params.
    """
    resolved = getattr(model, "zoo_weights", None)
    if resolved is not None:
        return resolved.source
    parts = [f"{key}={params[key]}" for key in ("backbone", "weights") if key in params]
    return ", ".join(parts) if parts else "random initialisation (seeded with --seed / seed=)"

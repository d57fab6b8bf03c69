"""The custom training loop of :func:`zoo.training.distribute.custom_fit` (see there)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from zoo.errors import ZooError, describe


def custom_fit(
    model: Any,
    train: Any,
    *,
    strategy: Any,
    epochs: int,
    steps_per_epoch: int | None = None,
    val: Any = None,
    callbacks_on_epoch_end: Callable[[int, dict[str, float]], bool | None] | None = None,
) -> dict[str, list[float]]:
    """Train a compiled Keras model with ``strategy.run``: Keras ``fit`` numerics, any strategy.

    Args:
        model: A compiled Keras model created inside ``strategy.scope()``; its optimizer and
            its loss (a dict ``{output name: loss}``, or one loss for a one-output model) are
            used. Loss weights and compiled metrics are not.
        train: ``tf.data.Dataset`` of ``(inputs dict, targets dict)`` (targets may be one
            tensor for a one-output model) batched with the GLOBAL batch size; every worker
            of a cluster passes the same dataset and takes its slice of each batch
            (auto-shard policy DATA).
        strategy: The strategy the model was built under (:func:`make_strategy`).
        epochs: Number of epochs, at least 1.
        steps_per_epoch: Batches per epoch. ``None``: until ``train`` ends. Otherwise, as in
            Keras, one iterator runs across epochs and an epoch ends early if it runs out.
        val: Optional validation dataset, batched like ``train``; gives ``val_loss``.
        callbacks_on_epoch_end: Called with ``(epoch, logs)`` after each epoch; returning
            ``True`` stops training (early stopping). ``logs`` are all-reduced, the same on
            every worker, so a decision taken on them is the same everywhere.

    Returns:
        Keras-style history: ``{"loss": [...], "val_loss": [...]}`` (``val_loss`` only with
        ``val``), one value per epoch, the same on every worker.

    Raises:
        ZooError: bad ``epochs``/``steps_per_epoch``, an uncompiled model, a loss for an
            output the model does not have, or a model built outside ``strategy.scope()``.

    Example:
        >>> from zoo.training.distribute import custom_fit, make_strategy
        >>> strategy = make_strategy("mirrored")  # doctest: +SKIP
        >>> with strategy.scope():  # doctest: +SKIP
        ...     model = zoo.get("cnn_lstm_fusion_tiny", seed=0)
        >>> history = custom_fit(model, train, strategy=strategy, epochs=2)  # doctest: +SKIP
        >>> sorted(history)  # doctest: +SKIP
        ['loss']
    """
    _check_counts(epochs, steps_per_epoch)
    losses = _loss_objects(model)
    _check_scope(model, strategy)
    with strategy.scope():
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
    train_step, test_step = _step_functions(model, losses, strategy)
    train_dist = strategy.experimental_distribute_dataset(_data_sharded(train))
    val_dist = None if val is None else strategy.experimental_distribute_dataset(_data_sharded(val))
    history: dict[str, list[float]] = {"loss": []}
    if val_dist is not None:
        history["val_loss"] = []
    iterator = None
    for epoch in range(epochs):
        carried = steps_per_epoch is not None and iterator is not None
        if not carried:
            iterator = iter(train_dist)
        total, count = 0.0, 0.0
        for step in range(steps_per_epoch or 2**62):
            batch = _next(iterator)
            if batch is None and step == 0 and carried:  # the data ended with the last epoch
                iterator = iter(train_dist)
                batch = _next(iterator)
            if batch is None:
                if steps_per_epoch is not None:
                    _warn_ran_out(epoch, step, steps_per_epoch)
                iterator = None
                break
            loss_sum, n = train_step(batch)
            total, count = total + float(loss_sum), count + float(n)
        logs = {"loss": total / max(count, 1.0)}
        if val_dist is not None:
            logs["val_loss"] = _evaluate(val_dist, test_step)
        for key, value in logs.items():
            history[key].append(value)
        if callbacks_on_epoch_end is not None and callbacks_on_epoch_end(epoch, logs):
            break
    return history


def _check_counts(epochs: Any, steps_per_epoch: Any) -> None:
    for name, value, optional in (
        ("epochs", epochs, False),
        ("steps_per_epoch", steps_per_epoch, True),
    ):
        if optional and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ZooError(
                f"custom_fit: received {name}={describe(value)}; expected an int >= 1"
                + (" or None (until the data ends)." if optional else ".")
            )


def _check_scope(model: Any, strategy: Any) -> None:
    """Raise a ZooError unless the model's variables belong to ``strategy``."""
    strange = [
        v.path
        for v in model.trainable_variables
        if not strategy.extended.variable_created_in_scope(getattr(v, "value", v))
    ]
    if strange:
        raise ZooError(
            f"custom_fit: the variables of model {model.name!r} (e.g. {strange[0]!r}) were not "
            f"created under the strategy passed ({type(strategy).__name__}); expected a model "
            "built and compiled inside `with strategy.scope():`. Build it there."
        )


def _loss_objects(model: Any) -> dict[str, Any]:
    """``{output name: per-example loss function}`` from the model's compiled loss."""
    import keras

    if getattr(model, "optimizer", None) is None or getattr(model, "loss", None) is None:
        raise ZooError(
            f"custom_fit: model {getattr(model, 'name', '?')!r} is not compiled (no optimizer "
            "or loss); expected a model compiled with e.g. "
            "loss={'probabilities': 'categorical_crossentropy'}. Call model.compile() first."
        )
    names = _output_names(model)
    given = model.loss if isinstance(model.loss, dict) else None
    if given is None:
        if len(names) != 1:
            raise ZooError(
                f"custom_fit: model has outputs {names} but one loss {model.loss!r}; expected a "
                "dict {output name: loss}. Compile with loss={name: ...} per output."
            )
        given = {names[0]: model.loss}
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ZooError(
            f"custom_fit: loss for unknown output(s) {unknown}; the model's outputs are "
            f"{names}. Compile with loss={{output name: loss}}."
        )
    out = {}
    for name, identifier in given.items():
        if identifier is None:
            continue
        if str(identifier).lower() in ("crossentropy", "ce"):
            raise ZooError(
                f"custom_fit: loss {identifier!r} for output {name!r} is ambiguous here; "
                "expected an explicit name such as 'categorical_crossentropy'."
            )
        loss = keras.losses.get(identifier)
        out[name] = loss.call if isinstance(loss, keras.losses.Loss) else loss  # unreduced
    return out


def _data_sharded(dataset: Any) -> Any:
    """``dataset`` with auto-shard policy DATA: worker k takes its share of every batch."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _step_functions(model: Any, losses: dict[str, Any], strategy: Any) -> tuple[Any, Any]:
    """The distributed ``tf.function`` train and test steps: ``batch -> (loss sum, count)``."""
    import tensorflow as tf

    sum_ = tf.distribute.ReduceOp.SUM

    def replica_loss(x: Any, y: Any, *, training: bool) -> tuple[Any, Any]:
        outputs = _by_name(model, model(x, training=training))
        targets = y if isinstance(y, dict) else {_output_names(model)[0]: y}
        first = next(iter(tf.nest.flatten(x)))
        local_n = tf.cast(tf.shape(first)[0], tf.float32)
        global_n = tf.distribute.get_replica_context().all_reduce(sum_, local_n)
        global_n = tf.cast(tf.maximum(global_n, 1.0), tf.int64)  # what compute_average_loss takes
        loss = tf.constant(0.0)
        for name, fn in losses.items():
            y_pred = outputs[name]
            per_item = fn(tf.cast(targets[name], y_pred.dtype), y_pred)
            if per_item.shape.rank and per_item.shape.rank > 1:  # e.g. per time step
                per_item = tf.reduce_mean(per_item, axis=list(range(1, per_item.shape.rank)))
            loss += tf.nn.compute_average_loss(
                tf.cast(per_item, tf.float32), global_batch_size=global_n
            )
        if model.losses:
            loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        return loss, local_n

    def train_replica(x: Any, y: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            loss, local_n = replica_loss(x, y, training=True)
            scaled = model.optimizer.scale_loss(loss)
        weights = model.trainable_variables
        model.optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights, strict=True))
        return loss, local_n

    def test_replica(x: Any, y: Any) -> tuple[Any, Any]:
        return replica_loss(x, y, training=False)

    def distributed(replica_fn: Callable[..., Any]) -> Any:
        @tf.function(reduce_retracing=True)
        def step(batch: Any) -> tuple[Any, Any]:
            loss, local_n = strategy.run(replica_fn, args=batch)
            n = strategy.reduce(sum_, local_n, axis=None)
            return strategy.reduce(sum_, loss, axis=None) * n, n

        return step

    return distributed(train_replica), distributed(test_replica)


def _output_names(model: Any) -> list[str]:
    """Output names of a functional model; a Sequential model's is its last layer's name."""
    names = getattr(model, "output_names", None)
    return list(names) if names else [model.layers[-1].name]


def _by_name(model: Any, outputs: Any) -> dict[str, Any]:
    """Model outputs as ``{output name: tensor}`` (dict, list or single tensor)."""
    if isinstance(outputs, dict):
        return dict(outputs)
    if isinstance(outputs, (list, tuple)):
        return dict(zip(_output_names(model), outputs, strict=True))
    return {_output_names(model)[0]: outputs}


def _next(iterator: Any) -> Any:
    """The next distributed batch, or ``None`` at the end of the data."""
    import tensorflow as tf

    try:
        return next(iterator)
    except (StopIteration, tf.errors.OutOfRangeError):
        return None


def _evaluate(val_dist: Any, test_step: Any) -> float:
    total, count = 0.0, 0.0
    for batch in val_dist:
        loss_sum, n = test_step(batch)
        total, count = total + float(loss_sum), count + float(n)
    return total / max(count, 1.0)


def _warn_ran_out(epoch: int, step: int, steps_per_epoch: int) -> None:
    warnings.warn(
        f"custom_fit: the training data ran out at epoch {epoch}, step {step} of "
        f"{steps_per_epoch}; the next epoch starts the data again. Pass a dataset with at "
        "least steps_per_epoch * epochs batches (.repeat()) or steps_per_epoch=None.",
        stacklevel=3,
    )

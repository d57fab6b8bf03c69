"""tf.distribute for zoo training: one device, MirroredStrategy, MultiWorkerMirroredStrategy.

Distribution is TensorFlow's own (``tf.distribute``); this module only picks a strategy and,
where Keras ``fit`` cannot run under it, trains with a plain ``strategy.run`` loop.

- ``"none"``: the default strategy (one device).
- ``"mirrored"``: :class:`tf.distribute.MirroredStrategy` over the GPUs, or on a CPU-only host
  over logical CPU devices (:func:`configure_cpu_devices`), so the synchronous data-parallel
  path is exercised without a GPU. Keras ``fit`` works under it as is.
- ``"multiworker"``: :class:`tf.distribute.MultiWorkerMirroredStrategy` from ``TF_CONFIG``.

Why :func:`custom_fit`: Keras 3 ``fit`` under MultiWorkerMirroredStrategy crashes with
TensorFlow 2.21 / Keras 3.15 (open upstream bug keras-team/keras#20585). Checked here with two
workers on 127.0.0.1 and ``cnn_lstm_fusion_tiny``: ``fit`` fails before its first step, in
``_maybe_symbolic_build`` (``keras/src/backend/tensorflow/trainer.py``), whose
``strategy.reduce("MEAN", batch)`` of the distributed input batch raises ``ValueError: Attempt
to convert a value ({'image': PerReplica:{0: <tf.Tensor ...>}, 'tokens': PerReplica:{...}})
with an unsupported type (<class 'dict'>) to a Tensor.`` MirroredStrategy is not affected.
:func:`uses_custom_loop` says which strategies need the loop and follows the strategy type
only: once Keras is fixed, making it return ``False`` is the whole change, and
``tests/test_distributed.py`` checks that the crash still happens.

:func:`custom_fit` does what Keras ``fit`` does on one device, distributed: per-replica loss =
sum of the per-example losses / global batch size (:func:`tf.nn.compute_average_loss`) plus
the model's own losses scaled by the replica count, ``strategy.run`` inside a ``tf.function``,
the optimizer's all-reduce of the gradients, ``strategy.reduce`` (SUM) of the loss. The epoch
loss is the example-weighted mean of the step losses, as Keras reports it. Dividing by the
global count also keeps a last batch that splits unevenly over the replicas exact, where
Keras ``fit`` under MirroredStrategy weights each replica's mean equally: 21 examples in
batches of 8 on 2 replicas (last batch 3 + 2), a Dense model with Adam, ended 0.017 (max abs
weight) away from one device with Keras ``fit``, 3e-8 with :func:`custom_fit`.

Nothing here imports TensorFlow at import time.

Example:
    >>> from zoo.training.distribute import STRATEGIES
    >>> STRATEGIES
    ('none', 'mirrored', 'multiworker')
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from typing import Any

from zoo.errors import ZooError, describe, did_you_mean

STRATEGIES = ("none", "mirrored", "multiworker")

#: A valid ``TF_CONFIG`` for worker 0 of two, shown in error messages.
TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["127.0.0.1:12345", "127.0.0.1:12346"]}, '
    '"task": {"type": "worker", "index": 0}}'
)


def configure_cpu_devices(n: int = 2) -> None:
    """Split the physical CPU into ``n`` logical devices, for MirroredStrategy without a GPU.

    Must run before TensorFlow initialises its devices (before the first op or model).
    Calling it again with the same ``n`` is a no-op, before or after initialisation.

    Args:
        n: Number of logical CPU devices, at least 1.

    Raises:
        ZooError: ``n`` is not a positive int, or TensorFlow already initialised a different
            number of CPU devices (call this first, or run in a fresh process).

    Example:
        >>> from zoo.training.distribute import configure_cpu_devices
        >>> configure_cpu_devices(2)  # doctest: +SKIP
        >>> import tensorflow as tf  # doctest: +SKIP
        >>> len(tf.config.list_logical_devices("CPU"))  # doctest: +SKIP
        2
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ZooError(
            f"configure_cpu_devices: received n={describe(n)}; expected an int >= 1 "
            "(the number of logical CPU devices), e.g. configure_cpu_devices(2)."
        )
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )
        return
    except RuntimeError:  # devices already initialised: fine if the count is right
        pass
    have = len(tf.config.list_logical_devices("CPU"))
    if have != n:
        raise ZooError(
            f"configure_cpu_devices({n}): TensorFlow already initialised its devices with "
            f"{have} logical CPU device(s); expected {n}. Call configure_cpu_devices() before "
            "any TensorFlow op or model is created (or run `zoo fit --strategy mirrored` in a "
            "fresh process)."
        )


def make_strategy(kind: str, *, cpu_devices: int = 2) -> Any:
    """A ``tf.distribute`` strategy by name: one of :data:`STRATEGIES`.

    Args:
        kind: ``"none"`` (the default strategy: one device), ``"mirrored"`` (MirroredStrategy
            over the GPUs, else over ``cpu_devices`` logical CPUs) or ``"multiworker"``
            (MultiWorkerMirroredStrategy from the ``TF_CONFIG`` environment variable; create
            it before any other TensorFlow op, as TensorFlow requires).
        cpu_devices: Logical CPU devices for ``"mirrored"`` on a host without GPU.

    Returns:
        A ``tf.distribute.Strategy``; build and compile the model inside its ``scope()``.

    Raises:
        ZooError: unknown ``kind``; ``TF_CONFIG`` unset or invalid for ``"multiworker"``;
            devices or collectives already initialised by earlier TensorFlow work.

    Example:
        >>> from zoo.training.distribute import make_strategy
        >>> make_strategy("mirorred")
        Traceback (most recent call last):
        ...
        zoo.errors.ZooError: unknown strategy 'mirorred' (str); expected one of ...
        >>> strategy = make_strategy("mirrored")  # doctest: +SKIP
        >>> strategy.num_replicas_in_sync  # doctest: +SKIP
        2
    """
    if kind not in STRATEGIES:
        raise ZooError(
            f"unknown strategy {describe(kind)}; expected one of {', '.join(STRATEGIES)}."
            + did_you_mean(str(kind), STRATEGIES)
        )
    if kind == "multiworker":
        _check_tf_config(os.environ.get("TF_CONFIG"))
    import tensorflow as tf

    if kind == "none":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        if tf.config.list_physical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        configure_cpu_devices(cpu_devices)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][:cpu_devices]
        return tf.distribute.MirroredStrategy(devices=devices)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:  # "Collective ops must be configured at program startup"
        raise ZooError(
            f"MultiWorkerMirroredStrategy could not start: {error}. Create it with "
            "make_strategy('multiworker') before any other TensorFlow op or model, in a fresh "
            "process per worker."
        ) from error


def _check_tf_config(raw: str | None) -> None:
    """Raise a ZooError unless ``raw`` is a usable multi-worker ``TF_CONFIG``."""
    fix = f"Set TF_CONFIG per worker, e.g. TF_CONFIG='{TF_CONFIG_EXAMPLE}'."
    if not raw:
        raise ZooError(f"strategy 'multiworker' needs the TF_CONFIG environment variable. {fix}")
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ZooError(f"TF_CONFIG is not valid JSON ({error}): {raw[:80]!r}. {fix}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    problem = ""
    if not isinstance(cluster, dict) or not cluster:
        problem = "no 'cluster' mapping of task type to addresses"
    elif not isinstance(task, dict) or "type" not in task or "index" not in task:
        problem = "no 'task' with 'type' and 'index'"
    else:
        addresses = cluster.get(task["type"])
        index = task["index"]
        if not isinstance(addresses, list) or not addresses:
            problem = f"task type {task['type']!r} is not in the cluster ({sorted(cluster)})"
        elif not isinstance(index, int) or not 0 <= index < len(addresses):
            problem = f"task index {index!r} is out of range for {len(addresses)} address(es)"
    if problem:
        raise ZooError(f"TF_CONFIG is invalid: {problem}; received {raw[:200]!r}. {fix}")


def _cluster_task(strategy: Any) -> tuple[str, int, dict[str, Any]] | None:
    """``(task type, task index, cluster spec)`` of a multi-worker strategy, else ``None``."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return None
    spec = resolver.cluster_spec().as_dict()
    if not spec or resolver.task_type is None:
        return None
    return str(resolver.task_type), int(resolver.task_id or 0), spec


def is_chief(strategy: Any) -> bool:
    """Whether this process writes outputs: the chief, or worker 0 of a cluster without chief.

    Always ``True`` outside multi-worker training.

    Example:
        >>> from zoo.training.distribute import is_chief, make_strategy
        >>> is_chief(make_strategy("none"))  # doctest: +SKIP
        True
    """
    task = _cluster_task(strategy)
    if task is None:
        return True
    task_type, index, spec = task
    if task_type == "chief":
        return True
    return task_type == "worker" and index == 0 and "chief" not in spec


def uses_custom_loop(strategy: Any) -> bool:
    """Whether Keras ``fit`` cannot train under ``strategy``, so :func:`custom_fit` must.

    ``True`` for MultiWorkerMirroredStrategy (keras-team/keras#20585), ``False`` otherwise.

    Example:
        >>> from zoo.training.distribute import make_strategy, uses_custom_loop
        >>> uses_custom_loop(make_strategy("none"))  # doctest: +SKIP
        False
    """
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


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

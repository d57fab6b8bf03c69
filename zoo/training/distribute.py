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
from typing import Any

from zoo.errors import ZooError, describe, did_you_mean
from zoo.training._loop import custom_fit

__all__ = [
    "STRATEGIES",
    "TF_CONFIG_EXAMPLE",
    "configure_cpu_devices",
    "custom_fit",
    "is_chief",
    "make_strategy",
    "uses_custom_loop",
]

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

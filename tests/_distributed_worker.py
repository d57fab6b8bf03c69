"""Worker process for tests/test_distributed.py (not collected: no ``test_`` prefix).

``python tests/_distributed_worker.py MODE OUT_DIR [--epochs E --steps S --batch B]``

Trains ``cnn_lstm_fusion_tiny`` (seed 0, no dropout) on real data: scikit-learn digits as
32×32 RGB images, 16 tokens from two pixel rows, label = digit % 3. Fixed order, no shuffle.
Writes ``<name>.npz`` (initial weights ``init_*`` and final weights ``w_*``) and ``<name>.json``
(history, replicas, is_chief, uses_custom_loop) per run into ``OUT_DIR``.

Modes:
    mirrored     2 logical CPUs: Keras fit and custom_fit under MirroredStrategy, and both on
                 one device (default strategy) for reference.
    single       reference for multiworker: custom_fit and Keras fit on one device.
    multiworker  custom_fit under MultiWorkerMirroredStrategy from TF_CONFIG.
    keras_fit    Keras fit under MultiWorkerMirroredStrategy (keras-team/keras#20585 canary).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def data(batch: int, steps: int):
    """``(inputs dict, targets dict)`` numpy arrays for ``batch * steps`` examples."""
    import numpy as np

    import zoo.data

    n = batch * steps
    digits = zoo.data.digits(limit=max(n, 10)).train
    images = zoo.data.to_rgb(digits.images[:n], (32, 32))
    tokens = (np.asarray(digits.images[:n])[:, 3:5].reshape(n, 16) * 99 / 255).astype("int32")
    labels = np.eye(3, dtype="float32")[np.asarray(digits.labels[:n]) % 3]
    return {"image": images, "tokens": tokens}, {"probabilities": labels}


def dataset(batch: int, steps: int):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(data(batch, steps)).batch(batch)


def build(strategy):
    import zoo

    with strategy.scope():
        model = zoo.get("cnn_lstm_fusion_tiny", seed=0)
    return model, [v.numpy() for v in model.weights]


def save(out: Path, name: str, model, init, history, strategy, **extra) -> None:
    import numpy as np

    from zoo.training.distribute import is_chief, uses_custom_loop

    arrays = {f"init_{i}": w for i, w in enumerate(init)}
    arrays |= {f"w_{i}": v.numpy() for i, v in enumerate(model.weights)}
    np.savez(out / f"{name}.npz", **arrays)
    info = {
        "history": {k: [float(v) for v in vs] for k, vs in history.items()},
        "replicas": int(strategy.num_replicas_in_sync),
        "is_chief": is_chief(strategy),
        "uses_custom_loop": uses_custom_loop(strategy),
        **extra,
    }
    (out / f"{name}.json").write_text(json.dumps(info))


def keras_fit(strategy, args, out: Path, name: str) -> None:
    x, y = data(args.batch, args.steps)
    model, init = build(strategy)
    history = model.fit(
        x,
        y,
        batch_size=args.batch,
        epochs=args.epochs,
        shuffle=False,
        verbose=0,
        validation_data=(x, y),
    ).history
    save(out, name, model, init, history, strategy)


def regularised(strategy, out: Path, name: str, *, keras_fit: bool) -> None:
    """Dense softmax classifier with an L2 penalty on digits; 21 examples, batch 8: the last
    batch (5) splits unevenly over 2 replicas. The target is a tensor, not a dict. Plain SGD,
    so a wrongly scaled gradient shows in the weights (Adam would normalise it away)."""
    import keras
    import numpy as np

    import zoo.data
    from zoo.training.distribute import custom_fit

    digits = zoo.data.digits(limit=30).train
    x = np.asarray(digits.images[:21], dtype="float32").reshape(21, 64) / 255
    y = np.eye(10, dtype="float32")[np.asarray(digits.labels[:21])]
    keras.utils.set_random_seed(0)
    with strategy.scope():
        inputs = keras.Input((64,), name="pixels")
        l2 = keras.regularizers.L2(1e-2)
        hidden = keras.layers.Dense(16, activation="relu", kernel_regularizer=l2)(inputs)
        outputs = keras.layers.Dense(10, activation="softmax", name="digit")(hidden)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="categorical_crossentropy")
    init = [v.numpy() for v in model.weights]
    if keras_fit:
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    else:
        import tensorflow as tf

        train = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
        history = custom_fit(model, train, strategy=strategy, epochs=2)
    save(out, name, model, init, history, strategy)


def seen(strategy, args) -> list[list[int]]:
    """Indices of the examples this worker gets per step, sharded as custom_fit shards."""
    import tensorflow as tf

    from zoo.training._loop import _data_sharded

    ids = tf.data.Dataset.range(args.batch * args.steps).batch(args.batch)
    batches = strategy.experimental_distribute_dataset(_data_sharded(ids))
    local = strategy.experimental_local_results
    return [[int(i) for part in local(b) for i in part.numpy()] for b in batches]


def custom(strategy, args, out: Path, name: str, **extra) -> None:
    from zoo.training.distribute import custom_fit

    model, init = build(strategy)
    train = dataset(args.batch, args.steps)
    history = custom_fit(
        model, train, strategy=strategy, epochs=args.epochs, steps_per_epoch=args.steps, val=train
    )
    save(out, name, model, init, history, strategy, **extra)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["mirrored", "single", "multiworker", "keras_fit"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    from zoo.training.distribute import configure_cpu_devices, make_strategy

    if args.mode == "mirrored":
        configure_cpu_devices(2)
        mirrored = make_strategy("mirrored")
        keras_fit(mirrored, args, args.out, "mirrored_keras")
        custom(mirrored, args, args.out, "mirrored_custom")
        keras_fit(make_strategy("none"), args, args.out, "single_keras")
        custom(make_strategy("none"), args, args.out, "single_custom")
        regularised(make_strategy("none"), args.out, "reg_single_keras", keras_fit=True)
        regularised(mirrored, args.out, "reg_mirrored_custom", keras_fit=False)
    elif args.mode == "single":
        custom(make_strategy("none"), args, args.out, "single_custom")
        keras_fit(make_strategy("none"), args, args.out, "single_keras")
    elif args.mode == "multiworker":
        strategy = make_strategy("multiworker")  # first: collectives start before any op
        index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
        custom(strategy, args, args.out, f"worker{index}", seen=seen(strategy, args))
    else:
        strategy = make_strategy("multiworker")
        index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
        import keras

        keras.config.disable_traceback_filtering()  # to record where in Keras it fails
        try:
            keras_fit(strategy, args, args.out, f"keras_fit{index}")
        except Exception as error:  # the bug: keep where it happened and the message's ends
            frames = [f for f in traceback.extract_tb(error.__traceback__) if "keras" in f.filename]
            text = f"{type(error).__name__}: {error}"
            where = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames]
            summary = {"error": text[:200] + " ... " + text[-120:], "where": where}
            (args.out / f"keras_fit{index}.error").write_text(json.dumps(summary))
            sys.exit(3)


if __name__ == "__main__":
    main()

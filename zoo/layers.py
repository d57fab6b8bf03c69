"""In-graph preprocessing blocks, made of built-in Keras layers and ops only.

Each block is a small nested functional model, so it shows up as one named layer in the
model that uses it, and a ``.keras`` file holding it loads with ``safe_mode=True`` in any
Keras 3 process, with or without zoo installed (no custom class to register first).
Keras is imported inside the functions, never at module level.

Example:
    >>> from zoo.layers import caffe_preprocessing
    >>> pre = caffe_preprocessing((224, 224, 3))  # doctest: +SKIP
    >>> pre(raw_rgb_0_255)  # == resnet50.preprocess_input(raw_rgb_0_255)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Per-channel ImageNet mean in BGR order, as ``keras.applications`` "caffe" mode uses it.
IMAGENET_BGR_MEAN: tuple[float, float, float] = (103.939, 116.779, 123.68)


def caffe_preprocessing(
    shape: Sequence[int],
    *,
    dtype: str = "float32",
    mean: Sequence[float] = IMAGENET_BGR_MEAN,
    name: str = "caffe_preprocess",
) -> Any:
    """ResNet50/VGG "caffe" preprocessing as a nested Keras model.

    Raw RGB pixels in 0–255 are reversed to BGR (``keras.ops.flip`` on the channel axis)
    and the per-channel mean is subtracted (``Rescaling(1.0, offset=-mean)``), with no
    scaling: the same arithmetic as ``keras.applications.resnet50.preprocess_input``,
    bit for bit in float32. ``uint8`` pixels are cast to float32 by the ``Rescaling`` layer.

    Args:
        shape: Image shape without the batch axis, channels last (``[H, W, 3]``).
        dtype: ``"float32"`` or ``"uint8"`` pixels.
        mean: Per-channel mean in BGR order (the order after the flip).
        name: Name of the block (its layer name in the enclosing model).

    Returns:
        A ``keras.Model`` from ``[batch, *shape]`` pixels to float32 ``[batch, *shape]``.

    Example:
        >>> pre = caffe_preprocessing((64, 64, 3), dtype="uint8")  # doctest: +SKIP
        >>> pre.output.dtype  # doctest: +SKIP
        'float32'
    """
    import keras

    if len(mean) != shape[-1]:
        from zoo.errors import ZooError

        raise ZooError(
            f"caffe_preprocessing: mean has {len(mean)} values but the image has "
            f"{shape[-1]} channels (shape {list(shape)}); pass one mean per channel."
        )
    pixels = keras.Input(shape=tuple(shape), dtype=dtype, name=f"{name}_pixels")
    bgr = keras.ops.flip(pixels, axis=-1)
    centered = keras.layers.Rescaling(
        1.0, offset=[-float(m) for m in mean], name=f"{name}_subtract_mean"
    )(bgr)
    return keras.Model(pixels, centered, name=name)

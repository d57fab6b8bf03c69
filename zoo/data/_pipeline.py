"""Split examples → batched ``tf.data`` pipelines of a model's named inputs and targets.

Images stay at the source's size in memory and are resized per batch (nearest for the 8×8
digits, as :func:`zoo.data.to_rgb` does; bilinear, as Keras image folders do, otherwise),
their channels matched, then scaled to the input's value range and cast to its dtype. Word
inputs get ids from a vocabulary of the training split (0 padding, 1 unknown); BERT inputs
come from the recipe's preprocessor, run once per split (not traced into every pipeline).
Targets follow the outputs: class labels one-hot, ``[n, 1]`` floats for one sigmoid unit or
ints for sparse losses; reconstructions from the family's ``targets`` hook or the matching
input. TensorFlow is imported only when a pipeline is built.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from zoo.data._contract import Contract, In
from zoo.data._sources import Raw, Split
from zoo.errors import ZooError

#: Words: runs of letters or digits, keeping an inner apostrophe ("can't").
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")
#: Ids 0 and 1 of a word vocabulary (as Keras ``TextVectorization`` names them).
PAD, UNKNOWN = "", "[UNK]"


def words(text: str) -> list[str]:
    """Lower-cased words of a text.

    Example:
        >>> words("Can't stand it, 7 times!")
        ["can't", 'stand', 'it', '7', 'times']
    """
    return WORD.findall(text.lower())


def vocabulary(texts: list[str], cap: int) -> tuple[str, ...]:
    """``("", "[UNK]", most frequent words…)``: at most ``cap`` entries, ties alphabetical.

    Example:
        >>> vocabulary(["b a", "a c", "a b"], 4)
        ('', '[UNK]', 'a', 'b')
    """
    counts = Counter(w for t in texts for w in words(t))
    ranked = sorted(counts, key=lambda w: (-counts[w], w))[: max(cap - 2, 0)]
    return (PAD, UNKNOWN, *ranked)


def word_ids(texts: list[str], vocab: tuple[str, ...], length: int) -> Any:
    """Word ids of each text as int32 ``[n, length]``, padded and cut at the front.

    Unknown words get 1. As in ``keras.utils.pad_sequences`` (``padding="pre"``,
    ``truncating="pre"``), zeros go before the words and a long text keeps its last
    ``length`` words: a recurrent layer without masking then ends its sequence on the
    words. Padded at the end instead, the last state of ``cnn_lstm_fusion``'s LSTM had run
    over a dozen padding steps and the digit-pairs matching stayed at chance.

    Example:
        >>> word_ids(["b a", "a c a b"], ("", "[UNK]", "a", "b"), 3).tolist()
        [[0, 3, 2], [1, 2, 3]]
    """
    import numpy as np

    index = {w: i for i, w in enumerate(vocab) if i >= 2}
    out = np.zeros((len(texts), length), dtype=np.int32)
    for row, text in enumerate(texts):
        ids = [index.get(w, 1) for w in words(text)][-length:] if length else []
        out[row, length - len(ids) :] = ids
    return out


@dataclass
class Plan:
    """Everything needed to build a split's pipeline again (train shuffled or not)."""

    contract: Contract
    raw: Raw
    batch_size: int
    seed: int
    vocabulary: tuple[str, ...] | None
    tokens: dict[str, dict[str, Any]]  # split → text input (words or bert) → int ids
    hooked: tuple[str, ...]  # outputs the family targets hook fills
    copied: dict[str, str]  # output → the input it reconstructs

    def split(self, name: str) -> Split:
        found = getattr(self.raw, name, None) if name in ("train", "val", "test") else None
        if found is None:
            raise ZooError(
                f"split {name!r}: expected 'train', 'val' or 'test'"
                + (" (there is no val split: val_split=0)" if name == "val" else "")
                + "."
            )
        return found

    def dataset(self, name: str, *, shuffle: bool) -> Any:
        """The batched, prefetched pipeline of split ``name``."""
        import numpy as np
        import tensorflow as tf

        split = self.split(name)
        cols: dict[str, Any] = {"label": split.labels}
        if split.images is not None:
            cols["image"] = split.images
        if split.paths is not None:
            cols["path"] = np.asarray(split.paths, dtype=str)
        for key, ids in self.tokens.get(name, {}).items():
            cols[f"ids/{key}"] = ids
        ds = tf.data.Dataset.from_tensor_slices(cols)
        if shuffle:
            ds = ds.shuffle(len(split), seed=self.seed, reshuffle_each_iteration=True)
        if split.paths is not None:
            ds = ds.map(self._decode, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(self.batch_size).map(self._encode, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)

    # ----------------------------------------------------------------------- inputs

    def _decode(self, cols: dict[str, Any]) -> dict[str, Any]:
        """One image file → ``[H, W, C]`` float32, as ``image_dataset_from_directory`` does."""
        import tensorflow as tf

        spec = self._image_input()
        height, width, channels = spec.shape
        image = tf.io.decode_image(
            tf.io.read_file(cols.pop("path")), channels=channels, expand_animations=False
        )
        image = tf.image.resize(image, (height, width), method="bilinear")
        image.set_shape((height, width, channels))
        return {**cols, "image": image}

    def _image_input(self) -> In:
        return next(i for i in self.contract.inputs.values() if i.kind == "image")

    def _encode(self, cols: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        import tensorflow as tf

        inputs: dict[str, Any] = {}
        for name, spec in self.contract.inputs.items():
            if spec.kind == "image":
                inputs[name] = image_tensor(cols["image"], spec, self.raw.resize)
            else:
                inputs[name] = tf.cast(cols[f"ids/{name}"], spec.dtype)
        return inputs, self._targets(cols["label"], inputs)

    # ----------------------------------------------------------------------- targets

    def _targets(self, labels: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        import tensorflow as tf

        targets: dict[str, Any] = {}
        for out in self.contract.classification:
            if out.encoding == "binary":
                targets[out.name] = tf.cast(labels, tf.float32)[:, None]
            elif out.encoding == "sparse":
                targets[out.name] = tf.cast(labels, tf.int32)
            else:
                targets[out.name] = tf.one_hot(labels, out.num_classes, dtype=tf.float32)
        if self.hooked:
            targets.update(self._hooked(inputs))
        for out_name, in_name in self.copied.items():
            targets[out_name] = tf.cast(inputs[in_name], tf.float32)
        return targets

    def _hooked(self, inputs: dict[str, Any]) -> dict[str, Any]:
        import numpy as np
        import tensorflow as tf

        names = list(inputs)
        hook = self.contract.targets_hook

        def run(*arrays: Any) -> list[Any]:
            found = hook(dict(zip(names, arrays, strict=True)))
            return [np.asarray(found[o], dtype=np.float32) for o in self.hooked]

        values = tf.numpy_function(
            run, [inputs[n] for n in names], [tf.float32] * len(self.hooked), stateful=False
        )
        out = {}
        for name, value in zip(self.hooked, values, strict=True):
            value.set_shape((None, *self.contract.outputs[name].shape))
            out[name] = value
        return out


def image_tensor(images: Any, spec: In, resize: str) -> Any:
    """A batch ``[b, h, w, c]`` (0–255) → ``[b, H, W, C]`` in the input's range and dtype."""
    import tensorflow as tf

    height, width, channels = spec.shape
    x = tf.cast(images, tf.float32)
    if tuple(x.shape[1:3]) != (height, width):
        if resize == "nearest":  # the index rule of zoo.data.to_rgb
            h, w = int(x.shape[1]), int(x.shape[2])
            x = tf.gather(x, [r * h // height for r in range(height)], axis=1)
            x = tf.gather(x, [c * w // width for c in range(width)], axis=2)
        else:
            x = tf.image.resize(x, (height, width), method="bilinear")
    have = int(x.shape[-1])
    if have == 1 and channels == 3:
        x = tf.repeat(x, 3, axis=-1)
    elif have == 3 and channels == 1:
        x = tf.image.rgb_to_grayscale(x)
    low, high = spec.range if spec.range is not None else (0.0, 255.0)
    if (low, high) != (0.0, 255.0):
        x = low + x * ((high - low) / 255.0)
    if spec.dtype.startswith(("int", "uint")):
        x = tf.clip_by_value(tf.round(x), low, high)
    x = tf.cast(x, spec.dtype)
    x.set_shape((None, height, width, channels))
    return x


def preprocessed(pre: Any, texts: list[str], names: list[str], chunk: int = 4096) -> dict[str, Any]:
    """A family preprocessor's inputs for many texts, computed a chunk at a time."""
    import numpy as np

    parts = [pre(texts[i : i + chunk]) for i in range(0, len(texts), chunk)]
    return {n: np.concatenate([p[n] for p in parts]) for n in names}


def check_channels(spec: In, have: int, source: str) -> None:
    """Raise unless a ``have``-channel source can feed image input ``spec``."""
    want = spec.shape[-1]
    if want == have or (have, want) in ((1, 3), (3, 1)):
        return
    kind = {1: "grey", 3: "RGB", 4: "RGBA"}.get(have, f"{have}-channel")
    raise ZooError(
        f"input {spec.name!r} takes images of shape {list(spec.shape)} ({want} channels); "
        f"source {source!r} has {kind} images ({have} channel{'s' if have > 1 else ''}). "
        "Expected an input with 1 (grey) or 3 (RGB) channels; build the model with such an "
        "input, or use an image folder (decoded as grey, RGB or RGBA to fit)."
    )

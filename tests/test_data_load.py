"""zoo.data.splits / load / peek: tf.data pipelines matched to a model's named inputs and outputs.

Real data throughout: scikit-learn digits, the VADER lexicon, and tiny files written in the
exact formats of an image folder, a CSV/JSONL file, the CIFAR-10 python batches and the
Keras IMDB archive, read through the same code path as the real downloads.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest

import zoo
from zoo import ZooError
from zoo.data import SOURCES, ModelData, load, peek, splits, to_rgb
from zoo.data._keras_sets import CIFAR10_CLASSES, CIFAR10_URL, IMDB_BASE
from zoo.data._sources import DIGIT_WORDS

# ----------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def fusion():
    return zoo.get("cnn_lstm_fusion_tiny", seed=0)


@pytest.fixture(scope="module")
def digit_index():
    """Every scikit-learn digit, keyed by the bytes of its to_rgb image at a size → label."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, np.float32) * (255.0 / 16.0)

    def index(size):
        big = to_rgb(images, (size, size))
        return {img.tobytes(): int(label) for img, label in zip(big, bunch.target, strict=True)}

    return index


def _text_model(*, length=8, vocab=50, classes=2, loss="sparse_categorical_crossentropy"):
    """A plain Keras model (no zoo recipe): word ids → Embedding → softmax."""
    import keras

    tokens = keras.Input((length,), dtype="int32", name="tokens")
    h = keras.layers.Embedding(vocab, 4)(tokens)
    h = keras.layers.GlobalAveragePooling1D()(h)
    out = keras.layers.Dense(classes, activation="softmax", name="probabilities")(h)
    model = keras.Model({"tokens": tokens}, {"probabilities": out})
    model.compile(optimizer="adam", loss={"probabilities": loss})
    return model


def _image_model(shape, classes=2):
    import keras

    image = keras.Input(shape, name="image")
    h = keras.layers.GlobalAveragePooling2D()(image)
    out = keras.layers.Dense(classes, activation="softmax", name="probabilities")(h)
    model = keras.Model({"image": image}, {"probabilities": out})
    model.compile(optimizer="adam", loss={"probabilities": "categorical_crossentropy"})
    return model


def _write_csv(path, rows, header=("text", "label")):
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _rows_set(array):
    return {row.tobytes() for row in array}


# ----------------------------------------------------------------------------- peek


def test_peek_says_what_each_source_holds_without_tensorflow(tmp_path):
    _write_csv(tmp_path / "t.csv", [("good", "pos"), ("bad", "neg"), ("meh", "neutral")])
    (tmp_path / "imgs" / "dog").mkdir(parents=True)
    (tmp_path / "imgs" / "cat").mkdir()
    code = (
        "import json, sys\n"
        "from zoo.data import SOURCES, peek\n"
        f"found = {{s: peek(s) for s in [*SOURCES, {str(tmp_path / 't.csv')!r}, "
        f"{str(tmp_path / 'imgs')!r}]}}\n"
        "print(json.dumps({k: [v.kind, v.modalities, v.class_names] for k, v in found.items()}))\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules))\n"
        "print(found['cifar10'].description)\n"
    )
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "empty")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.splitlines()
    found = json.loads(out[0])
    assert found["digits"] == ["digits", ["image"], [str(d) for d in range(10)]]
    assert found["sentiment"] == ["sentiment", ["text"], ["negative", "positive"]]
    assert found["digit-pairs"] == ["digit-pairs", ["image", "text"], ["mismatch", "match"]]
    assert found["cifar10"] == ["cifar10", ["image"], list(CIFAR10_CLASSES)]
    assert found["imdb"] == ["imdb", ["text"], ["negative", "positive"]]
    assert found[str(tmp_path / "t.csv")] == ["csv", ["text"], ["neg", "neutral", "pos"]]
    assert found[str(tmp_path / "imgs")] == ["directory", ["image"], ["cat", "dog"]]
    assert out[1] == "[]"
    assert out[2].endswith("(Keras cache: missing)")


# ----------------------------------------------------------------------------- contracts

CASES = {
    "resnet50_transfer_tiny": ("digits", {"num_classes": 10}),
    "cnn_lstm_fusion_tiny": ("digit-pairs", {}),
    "bert_classifier_tiny": ("sentiment", {}),
    "multimodal_autoencoder_tiny": ("digit-pairs", {}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_elements_match_the_model_and_keras_fit_runs(name):
    source, overrides = CASES[name]
    model = zoo.get(name, seed=0, **overrides)
    data = splits(source, for_model=model, batch_size=4, limit=16, seed=0)
    x_spec, y_spec = data.train.element_spec
    assert set(x_spec) == {t.name for t in model.inputs}
    for tensor in model.inputs:
        assert tuple(x_spec[tensor.name].shape) == (None, *tensor.shape[1:])
        assert x_spec[tensor.name].dtype.name == tensor.dtype
    assert set(y_spec) == set(model.output)
    for out, tensor in model.output.items():
        assert tuple(y_spec[out].shape) == (None, *tensor.shape[1:])
    for split in (data.val, data.test):
        assert split.element_spec == data.train.element_spec
    # The recipe alone (nothing built) gives the same contract, so the same data.
    by_name = splits(source, for_model=name, model_overrides=overrides, batch_size=4, limit=16)
    assert by_name.train.element_spec == data.train.element_spec
    assert by_name.fingerprint == data.fingerprint
    history = model.fit(data.train, epochs=1, steps_per_epoch=2, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_digits_are_scikit_learn_images_upsampled_like_to_rgb(digit_index):
    data = splits(
        "digits",
        for_model="resnet50_transfer_tiny",
        model_overrides={"num_classes": 10},
        limit=40,
    )
    index = digit_index(64)
    for split in ("train", "val", "test"):
        x, y = data.arrays(split)
        assert x["image"].dtype == np.float32 and x["image"].shape[1:] == (64, 64, 3)
        labels = [index[img.tobytes()] for img in x["image"]]  # KeyError: not a digit image
        assert labels == data.labels(split).tolist()
        assert y["probabilities"].argmax(axis=1).tolist() == labels
        assert (y["probabilities"].sum(axis=1) == 1).all()
    assert data.class_names == tuple(str(d) for d in range(10))
    assert data.counts == {"train": 40, "val": 40, "test": 40}
    assert data.vocabulary is None


def test_test_split_shares_no_image_or_text_with_train_and_val():
    images = splits(
        "digits", for_model="resnet50_transfer_tiny", model_overrides={"num_classes": 10}
    )
    seen = {s: _rows_set(images.arrays(s)[0]["image"]) for s in ("train", "val", "test")}
    assert sum(len(v) for v in seen.values()) == 1797  # every digit once
    assert not seen["test"] & (seen["train"] | seen["val"]) and not seen["train"] & seen["val"]
    texts = splits("sentiment", for_model="bert_classifier_tiny", limit=300)
    rows = {s: _rows_set(texts.arrays(s)[0]["token_ids"]) for s in ("train", "val", "test")}
    assert len(rows["test"]) == texts.counts["test"] == 300
    assert not rows["test"] & (rows["train"] | rows["val"]) and not rows["train"] & rows["val"]


def test_same_arguments_same_data_another_seed_another_order():
    def make(seed):
        return splits("digit-pairs", for_model="cnn_lstm_fusion_tiny", limit=48, seed=seed)

    a, b, c = make(0), make(0), make(1)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    for split in ("train", "val", "test"):
        xa, ya = a.arrays(split)
        xb, yb = b.arrays(split)
        for key in xa:
            np.testing.assert_array_equal(xa[key], xb[key])
        np.testing.assert_array_equal(ya["probabilities"], yb["probabilities"])
    assert a.vocabulary == b.vocabulary
    assert not np.array_equal(a.arrays("train")[0]["tokens"], c.arrays("train")[0]["tokens"])

    def epoch(data):
        return np.concatenate([x["tokens"].numpy() for x, _ in data.train])

    first, second = epoch(a), epoch(a)
    assert _rows_set(first) == _rows_set(second) and not np.array_equal(first, second)
    np.testing.assert_array_equal(epoch(b), first)  # same seed: same first epoch
    assert not np.array_equal(first, a.arrays("train")[0]["tokens"])  # train is shuffled


def test_digit_pairs_label_says_whether_the_text_names_the_image_digit(digit_index):
    data = splits("digit-pairs", for_model="cnn_lstm_fusion_tiny", limit=200)
    index = digit_index(32)
    numerals = {str(d): d for d in range(10)} | {w: d for d, w in enumerate(DIGIT_WORDS)}
    assert data.class_names == ("mismatch", "match")
    images = {}
    for split in ("train", "val", "test"):
        x, _ = data.arrays(split)
        labels = data.labels(split)
        assert labels.mean() == 0.5  # balanced
        for image, tokens, label in zip(x["image"], x["tokens"], labels, strict=True):
            named = [numerals[data.vocabulary[t]] for t in tokens if data.vocabulary[t] in numerals]
            assert len(named) == 1
            assert label == int(named[0] == index[image.tobytes()])
        images[split] = _rows_set(x["image"])
    assert not images["test"] & (images["train"] | images["val"])  # split by image


def test_word_vocabulary_comes_from_the_training_split_only(tmp_path):
    # Every row: a shared word, a word of its own, and every fourth row one more word.
    rows = [
        (f"common unique{i}" + (" filler" if i % 4 == 0 else ""), "ab"[i % 2]) for i in range(40)
    ]
    path = _write_csv(tmp_path / "texts.csv", rows)
    model = _text_model(length=4, vocab=1000)
    data = splits(path, for_model=model, val_split=0.2, test_split=0.2)
    vocab = data.vocabulary
    assert vocab[:4] == ("", "[UNK]", "common", "filler")  # most frequent first
    assert sum(w.startswith("unique") for w in vocab) == data.counts["train"] == 24
    x, _ = data.arrays("train")
    tokens = x["tokens"]
    assert (tokens[tokens > 0] >= 2).all()  # every training word is known
    assert (tokens[:, 0] == 0).all() and (tokens[:, -2:] > 0).all()  # padded at the front
    for split in ("val", "test"):
        x, _ = data.arrays(split)
        for row in x["tokens"]:
            assert row[row > 0][:2].tolist() == [2, 1]  # common, then unseen: [UNK]
    # Capped by the Embedding's input_dim when the model has no recipe.
    small = splits(path, for_model=_text_model(length=4, vocab=5))
    assert small.vocabulary[:4] == ("", "[UNK]", "common", "filler")
    assert len(small.vocabulary) == 5 and small.vocabulary[4].startswith("unique")
    assert small.arrays("train")[0]["tokens"].max() == 4


def test_labels_follow_the_loss_one_hot_binary_or_sparse(tmp_path):
    binary = splits(
        "digit-pairs", for_model="cnn_lstm_fusion_tiny", model_overrides={"num_classes": 1}
    )
    _, y = binary.arrays("test")
    assert y["probabilities"].shape == (binary.counts["test"], 1)
    assert y["probabilities"].dtype == np.float32
    np.testing.assert_array_equal(y["probabilities"][:, 0], binary.labels("test"))
    rows = [(f"text {i}", "ab"[i % 2]) for i in range(20)]
    sparse = splits(_write_csv(tmp_path / "t.csv", rows), for_model=_text_model())
    _, y = sparse.arrays("train")
    assert y["probabilities"].dtype == np.int32 and y["probabilities"].ndim == 1
    np.testing.assert_array_equal(y["probabilities"], sparse.labels("train"))
    one_hot = splits(tmp_path / "t.csv", for_model=_text_model(loss="categorical_crossentropy"))
    _, y = one_hot.arrays("train")
    np.testing.assert_array_equal(y["probabilities"], np.eye(2)[one_hot.labels("train")])


def test_autoencoder_targets_come_from_the_family_hook():
    from zoo.families.multimodal_autoencoder import bag_of_words_targets

    data = splits("digit-pairs", for_model="multimodal_autoencoder_tiny", limit=12)
    x, y = data.arrays("train")
    assert data.class_names is None
    np.testing.assert_allclose(y["image_reconstruction"], x["image"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y["bag_of_words"], bag_of_words_targets(x["tokens"], 200))
    assert (y["bag_of_words"].sum(axis=1) > 0.99).all()


def test_bert_inputs_are_the_recipe_preprocessor_output(tmp_path):
    texts = [f"film number {i} was {'great' if i % 2 else 'dull'}" for i in range(30)]
    rows = [(t, "positive" if i % 2 else "negative") for i, t in enumerate(texts)]
    path = tmp_path / "reviews.jsonl"
    path.write_text("".join(json.dumps({"review": t, "y": lab}) + "\n" for t, lab in rows))
    data = splits(path, for_model="bert_classifier_tiny", text_column="review", label_column="y")
    expected = zoo.preprocessor("bert_classifier_tiny")(texts)
    by_row = {
        expected["token_ids"][i].tobytes(): (i, "positive" if i % 2 else "negative")
        for i in range(len(texts))
    }
    assert data.class_names == ("negative", "positive")
    for split in ("train", "val", "test"):
        x, _ = data.arrays(split)
        for row, label in zip(x["token_ids"], data.labels(split), strict=True):
            assert data.class_names[label] == by_row[row.tobytes()][1]
        positions = [by_row[row.tobytes()][0] for row in x["token_ids"]]
        np.testing.assert_array_equal(x["padding_mask"], expected["padding_mask"][positions])
        assert x["padding_mask"].dtype == np.int32


# ----------------------------------------------------------------------------- records


def test_the_source_record_rebuilds_the_same_data_and_content_changes_the_fingerprint(
    tmp_path, fusion
):
    import keras

    rows = [(f"word{i % 7} and more", ["x", "y", "z"][i % 3]) for i in range(30)]
    path = _write_csv(tmp_path / "t.csv", rows, header=("body", "kind"))
    options = {"text_column": "body", "label_column": "kind"}
    model = zoo.get("bert_classifier_tiny", seed=0)
    data = splits(path, for_model=model, seed=3, limit=20, **options)
    record = json.loads(json.dumps(data.source))  # JSON-ready
    assert record["kind"] == "csv" and record["seed"] == 3 and record["options"] == options
    again = splits(**record["kwargs"], for_model=model)
    assert again.fingerprint == data.fingerprint
    np.testing.assert_array_equal(
        again.arrays("test")[0]["token_ids"], data.arrays("test")[0]["token_ids"]
    )
    # A model saved and loaded again (with its recipe) gives the same fingerprint.
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    loaded.zoo_origin = model.zoo_origin
    assert splits(**record["kwargs"], for_model=loaded).fingerprint == data.fingerprint
    _write_csv(path, [*rows[:-1], ("changed text", "x")], header=("body", "kind"))
    assert splits(**record["kwargs"], for_model=model).fingerprint != data.fingerprint
    # Fingerprints differ by split settings, not by batch size.
    assert (
        splits("digit-pairs", for_model=fusion, batch_size=5).fingerprint
        == splits("digit-pairs", for_model=fusion, batch_size=7).fingerprint
    )
    assert (
        splits("digit-pairs", for_model=fusion, val_split=0.2).fingerprint
        != splits("digit-pairs", for_model=fusion).fingerprint
    )


def test_load_returns_one_split_and_no_val_split_is_none(fusion):
    data = splits("digit-pairs", for_model=fusion, val_split=0, limit=10)
    assert data.val is None and data.counts["val"] == 0
    val = load("digit-pairs", for_model=fusion, split="val", limit=10)
    assert val.element_spec == data.train.element_spec
    with pytest.raises(ZooError, match="val_split=0"):
        load("digit-pairs", for_model=fusion, split="val", val_split=0)
    with pytest.raises(ZooError, match="'train', 'val' or 'test'"):
        load("digit-pairs", for_model=fusion, split="holdout")
    with pytest.raises(ZooError, match="no val split"):
        data.arrays("val")
    assert isinstance(data, ModelData)


# ----------------------------------------------------------------------------- image folders


def _write_folder(root, sizes):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for cls, shapes in sizes.items():
        (root / cls).mkdir(parents=True)
        for i, shape in enumerate(shapes):
            pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
            (root / cls / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    return root


def test_image_folder_matches_keras_image_dataset_from_directory(tmp_path):
    import keras

    shapes = [(20, 30, 3), (40, 40, 3), (9, 16, 3), (33, 21, 3), (64, 64, 3)]
    root = _write_folder(tmp_path / "pets", {"dog": shapes, "cat": shapes[::-1]})
    for channels, mode in ((3, "rgb"), (1, "grayscale")):
        model = _image_model((24, 24, channels))
        data = splits(root, for_model=model, val_split=0.2, test_split=0.2)
        assert data.class_names == ("cat", "dog")
        reference = keras.utils.image_dataset_from_directory(
            root, image_size=(24, 24), color_mode=mode, batch_size=None, shuffle=False
        )
        want = {img.numpy().tobytes(): int(label) for img, label in reference}
        total = 0
        for split in ("train", "val", "test"):
            x, y = data.arrays(split)
            assert x["image"].shape[1:] == (24, 24, channels)
            got = [want[img.tobytes()] for img in x["image"]]
            assert got == data.labels(split).tolist() == y["probabilities"].argmax(1).tolist()
            total += len(got)
        assert total == 10
    with pytest.raises(ZooError, match="has 2 channels"):
        splits(root, for_model=_image_model((8, 8, 2)))
    (root / "dog" / "0.png").write_bytes((root / "dog" / "1.png").read_bytes())
    assert splits(root, for_model=model).fingerprint != data.fingerprint


# ----------------------------------------------------------------------------- keras datasets


def _cifar_batch(rng, n):
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    return {b"batch_label": b"tiny", b"labels": labels, b"data": data, b"filenames": [b"x"] * n}


def _write_cifar(home, *, train_per_batch=4, test=6):
    """A cifar-10-python.tar.gz like the real one: cifar-10-batches-py/ pickled dicts.

    The real batches are Python 2 pickles (keys and pixel data as byte strings); Python 3
    writes byte strings that way from protocol 3 on (protocol 2 would route them through
    ``_codecs.encode``, which the restricted unpickler rightly refuses).
    """
    rng = np.random.default_rng(1)
    batches = {f"data_batch_{i}": _cifar_batch(rng, train_per_batch) for i in range(1, 6)}
    batches["test_batch"] = _cifar_batch(rng, test)
    # Each class twice in the training batches, so each has one val example.
    for i in range(5):
        batches[f"data_batch_{i + 1}"][b"labels"] = [2 * i, 2 * i + 1] * (train_per_batch // 2)
    (home / "datasets").mkdir(parents=True)
    with tarfile.open(home / "datasets" / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, batch in batches.items():
            raw = pickle.dumps(batch, protocol=3)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return batches


def test_cifar10_reads_the_keras_cache_format(tmp_path, monkeypatch):
    import tensorflow as tf

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    batches = _write_cifar(tmp_path)
    model = _image_model((16, 16, 3), classes=10)
    data = splits("cifar10", for_model=model, val_split=0.3)
    assert data.class_names == CIFAR10_CLASSES
    assert data.counts == {"train": 10, "val": 10, "test": 6}  # official test batch
    test = batches["test_batch"]
    images = test[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    x, _ = data.arrays("test")
    want = tf.image.resize(images.astype(np.float32), (16, 16)).numpy()
    np.testing.assert_array_equal(x["image"], want)
    assert data.labels("test").tolist() == test[b"labels"]
    extracted = tmp_path / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    assert sorted(p.name for p in extracted.iterdir())[0] == "data_batch_1"
    (tmp_path / "datasets" / "cifar-10-python.tar.gz").unlink()  # the extracted copy is enough
    assert splits("cifar10", for_model=model, val_split=0.3).fingerprint == data.fingerprint


def test_imdb_reviews_are_decoded_with_the_word_index(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    index = {"the": 1, "movie": 2, "was": 3, "great": 4, "awful": 5, "plot": 6}
    words = {i: w for w, i in index.items()}
    rng = np.random.default_rng(2)
    seqs = {k: [list(rng.integers(1, 8, size=rng.integers(2, 9))) for _ in range(n)]
            for k, n in (("train", 12), ("test", 5))}  # fmt: skip
    labels = {"train": np.array([0, 1] * 6), "test": np.array([1, 0, 0, 1, 1])}
    (tmp_path / "datasets").mkdir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for split in ("train", "test"):
            for key, value in ((f"x_{split}", seqs[split]), (f"y_{split}", labels[split])):
                arr = np.empty(len(value), dtype=object) if key.startswith("x") else value
                if key.startswith("x"):
                    arr[:] = [list(map(int, s)) for s in value]
                member = io.BytesIO()
                np.lib.format.write_array(member, arr, allow_pickle=True)
                archive.writestr(f"{key}.npy", member.getvalue())
    (tmp_path / "datasets" / "imdb.npz").write_bytes(buffer.getvalue())
    (tmp_path / "datasets" / "imdb_word_index.json").write_text(json.dumps(index))
    data = splits("imdb", for_model="bert_classifier_tiny", val_split=0.2)
    texts = [" ".join(words[w] for w in s if w in words) for s in seqs["test"]]  # 7: unknown
    want = zoo.preprocessor("bert_classifier_tiny")(texts)
    x, _ = data.arrays("test")
    np.testing.assert_array_equal(x["token_ids"], want["token_ids"])
    assert data.labels("test").tolist() == labels["test"].tolist()
    assert data.counts["test"] == 5 and data.counts["train"] + data.counts["val"] == 12


def test_missing_keras_datasets_name_the_file_and_folder(tmp_path, monkeypatch):
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    folder = str(tmp_path / "datasets")
    with pytest.raises(ZooError) as exc:
        splits("cifar10", for_model="resnet50_transfer_tiny", model_overrides={"num_classes": 10})
    assert CIFAR10_URL in str(exc.value) and folder in str(exc.value)
    assert "download=True" in str(exc.value)
    with pytest.raises(ZooError) as exc:
        splits("imdb", for_model="bert_classifier_tiny")
    assert f"{IMDB_BASE}imdb.npz" in str(exc.value) and folder in str(exc.value)
    assert "missing" in peek("imdb").description

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: Name or service not known")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(ZooError, match="Name or service not known") as exc:
        splits("cifar10", for_model=_image_model((8, 8, 3), 10), download=True)
    assert CIFAR10_URL in str(exc.value)


# ----------------------------------------------------------------------------- errors


def test_a_source_of_the_wrong_modality_names_the_inputs_and_fitting_sources(tmp_path):
    with pytest.raises(ZooError, match=r"'image'.*expected a source with image.*'digits'"):
        splits("sentiment", for_model="resnet50_transfer_tiny")
    with pytest.raises(ZooError, match=r"holds image \+ text.*'digits'"):
        splits("digit-pairs", for_model="resnet50_transfer_tiny")
    with pytest.raises(ZooError, match=r"'tokens'.*'digit-pairs'"):
        splits("digits", for_model="cnn_lstm_fusion_tiny")
    (tmp_path / "a").mkdir()
    with pytest.raises(ZooError, match=r"'token_ids'.*'sentiment'"):
        splits(tmp_path, for_model="bert_classifier_tiny")
    with pytest.raises(ZooError, match=r"input 'latent'.*cannot be filled"):
        splits("digits", for_model="multimodal_autoencoder_decoder_tiny")


def test_more_classes_than_the_output_says_how_to_rebuild(tmp_path):
    with pytest.raises(ZooError) as exc:
        splits("digits", for_model="resnet50_transfer_tiny")
    message = str(exc.value)
    assert "'probabilities'" in message and "3 classes" in message and "10 classes" in message
    assert "num_classes=10" in message and "--set num_classes=10" in message
    three = _write_csv(tmp_path / "3.csv", [(f"t{i}", "abc"[i % 3]) for i in range(9)])
    with pytest.raises(ZooError, match=r"one sigmoid unit.*num_classes=3"):
        splits(three, for_model="bert_classifier_tiny", model_overrides={"num_classes": 1})
    ints = _write_csv(tmp_path / "i.csv", [(f"t{i}", i % 5) for i in range(10)])
    with pytest.raises(ZooError, match=r"has 3 classes.*5 classes.*num_classes=5"):
        splits(ints, for_model="bert_classifier_tiny")


def test_images_with_impossible_channels_name_the_input():
    with pytest.raises(ZooError, match=r"input 'image'.*\[8, 8, 2\].*2 channels.*grey"):
        splits("digits", for_model=_image_model((8, 8, 2), 10))


def test_unknown_column_lists_the_columns_found(tmp_path):
    path = _write_csv(tmp_path / "t.csv", [("nice", "a"), ("bad", "b")], header=("txt", "y"))
    with pytest.raises(ZooError, match=r"no column 'text'.*\['txt', 'y'\].*text_column"):
        splits(path, for_model="bert_classifier_tiny")
    with pytest.raises(ZooError, match=r"no column 'lbl'.*label_column"):
        peek(path, text_column="txt", label_column="lbl")


def test_empty_sources_and_bad_arguments_are_errors(tmp_path):
    empty = _write_csv(tmp_path / "e.csv", [])
    with pytest.raises(ZooError, match="no rows"):
        splits(empty, for_model="bert_classifier_tiny")
    (tmp_path / "imgs" / "a").mkdir(parents=True)
    with pytest.raises(ZooError, match="holds no images"):
        splits(tmp_path / "imgs", for_model=_image_model((8, 8, 3)))
    few = _write_csv(tmp_path / "few.csv", [("one", "a"), ("two", "b")])
    with pytest.raises(ZooError, match="split is empty"):
        splits(few, for_model="bert_classifier_tiny")
    with pytest.raises(
        ZooError, match=r"unknown source 'digts'.*'digit-pairs'.*Did you mean 'digits'"
    ):
        splits("digts", for_model="resnet50_transfer_tiny")
    (tmp_path / "x.parquet").write_bytes(b"")
    with pytest.raises(ZooError, match=r"\.parquet file; expected a \.csv"):
        peek(tmp_path / "x.parquet")
    with pytest.raises(ZooError, match=r"takes no options; received unknown option\(s\) text_col"):
        peek("digits", text_column="x")
    for bad, match in (
        ({"test_split": 0}, "test_split=0"),
        ({"val_split": 0.5, "test_split": 0.5}, "below 1"),
        ({"limit": 0}, "limit=0"),
        ({"batch_size": 0}, "batch_size=0"),
    ):
        with pytest.raises(ZooError, match=match):
            splits("digits", for_model="resnet50_transfer_tiny", **bad)
    with pytest.raises(ZooError, match="model_overrides"):
        splits("digits", for_model=_image_model((8, 8, 3), 10), model_overrides={"x": 1})
    with pytest.raises(zoo.UnknownModelError):
        splits("digits", for_model="no_such_model")
    assert set(SOURCES) == {"digits", "sentiment", "digit-pairs", "cifar10", "imdb"}


def test_text_files_as_json_array_with_integer_labels_and_bad_labels(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"text": f"t{i}", "label": i % 3} for i in range(12)]))
    info = peek(path)
    assert (info.kind, info.class_names) == ("jsonl", ("0", "1", "2"))
    data = splits(path, for_model="bert_classifier_tiny", val_split=0)
    assert sorted(data.labels("train").tolist() + data.labels("test").tolist()) == sorted(
        i % 3 for i in range(12)
    )
    path.write_text(json.dumps([{"text": "a", "label": -1}, {"text": "b", "label": 0}]))
    with pytest.raises(ZooError, match="class index -1; expected indices >= 0"):
        peek(path)
    path.write_text(json.dumps([{"text": "a", "label": 1.5}]))
    with pytest.raises(ZooError, match=r"line 1: 'label' is 1.5; expected a class name"):
        peek(path)
    path.write_text('{"text": "a", "label": "x"}\nnot json\n')
    with pytest.raises(ZooError, match=r"line 2: not JSON"):
        peek(path)

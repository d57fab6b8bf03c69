"""zoo.data: the VADER sentiment lexicon loader (offline, deterministic, stratified)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from zoo import ZooError
from zoo.data import CLASS_NAMES, read_vader_lexicon, sentiment_lexicon
from zoo.data import sentiment as sentiment_module
from zoo.data.sentiment import INSTALL_HINT, is_word_like


@pytest.fixture(scope="module")
def default():
    return sentiment_lexicon()


def _pairs(split):
    return list(zip(split.texts, split.labels, strict=True))


def test_same_arguments_give_the_same_split_and_another_seed_another(default):
    again = sentiment_lexicon()
    assert _pairs(again.train) == _pairs(default.train)
    assert _pairs(again.test) == _pairs(default.test)
    other = sentiment_lexicon(seed=1)
    assert set(other.test.texts) != set(default.test.texts)
    # Same pool of words, split differently.
    pool = set(default.train.texts) | set(default.test.texts)
    assert set(other.train.texts) | set(other.test.texts) == pool


def test_train_and_test_do_not_overlap_and_hold_no_duplicates(default):
    assert not set(default.train.texts) & set(default.test.texts)
    for split in (default.train, default.test):
        assert len(set(split.texts)) == len(split.texts)
        assert len(split.texts) == len(split.labels) == len(split.ratings) == len(split)


def test_labels_follow_the_sign_of_the_mean_human_rating(default):
    ratings, _ = read_vader_lexicon()
    for split in (default.train, default.test):
        for text, label, rating in zip(split.texts, split.labels, split.ratings, strict=True):
            assert rating == ratings[text]
            if label == 1:
                assert rating >= 1.0, text
            else:
                assert label == 0
                assert rating <= -1.0, text
    # Every word-like entry past the threshold is used, and nothing else.
    wanted = {t for t, r in ratings.items() if is_word_like(t) and abs(r) >= 1.0}
    assert set(default.train.texts) | set(default.test.texts) == wanted


def test_both_splits_keep_the_class_proportions(default):
    kept = default.source["kept"]
    total = sum(kept.values())
    assert len(default.test) == pytest.approx(0.2 * total, abs=2)
    for name in CLASS_NAMES:
        share_all = kept[name] / total
        for split in (default.train, default.test):
            assert split.counts()[name] / len(split) == pytest.approx(share_all, abs=0.005)
        assert default.test.counts()[name] == round(0.2 * kept[name])


def test_only_word_like_entries_are_kept(default):
    texts = set(default.train.texts) | set(default.test.texts)
    assert all(re.fullmatch(r"[a-z]+(?:['\- ][a-z]+)*", t) for t in texts)
    ratings, _ = read_vader_lexicon()
    for emoticon in (":)", ":-(", "<3", ":D", "xd", "x-d"):
        assert emoticon in ratings  # the lexicon has them ...
        assert emoticon not in texts  # ... the dataset does not
    assert "good" in texts and "horrible" in texts


def test_a_token_listed_twice_gets_the_mean_of_all_its_ratings():
    ratings, info = read_vader_lexicon()
    assert info["lines"] > info["tokens"]  # the shipped file lists some tokens twice
    # 'lol' is listed with means 2.9 and 1.8 (10 ratings each).
    assert ratings["lol"] == pytest.approx((2.9 + 1.8) / 2)


def test_threshold_and_test_fraction_shape_the_splits(default):
    strict = sentiment_lexicon(min_abs_rating=2.0, test_fraction=0.5)
    assert 0 < len(strict.train) + len(strict.test) < len(default.train) + len(default.test)
    assert all(abs(r) >= 2.0 for r in strict.train.ratings + strict.test.ratings)
    assert abs(len(strict.train) - len(strict.test)) <= 2


def test_limit_caps_each_split_and_keeps_both_classes(default):
    small = sentiment_lexicon(limit=50)
    for split, full in ((small.train, default.train), (small.test, default.test)):
        assert len(split) == 50
        assert set(split.texts) <= set(full.texts)
        assert all(count > 0 for count in split.counts().values())
    assert not set(small.train.texts) & set(small.test.texts)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"min_abs_rating": 0.0}, "min_abs_rating=0.0; expected a value in (0, 4]"),
        ({"min_abs_rating": 5}, "min_abs_rating=5"),
        ({"test_fraction": 1.0}, "test_fraction=1.0; expected a value in (0, 1)"),
        ({"limit": 1}, "limit=1; expected None or an integer >= 2"),
        ({"min_abs_rating": 4.0}, "expected at least 2 per class"),
    ],
)
def test_bad_arguments_are_named(kwargs, fragment):
    with pytest.raises(ZooError) as exc:
        sentiment_lexicon(**kwargs)
    assert fragment in str(exc.value)


def test_missing_package_error_gives_the_pip_command(monkeypatch):
    monkeypatch.setattr(sentiment_module, "VADER_MODULE", "vader_not_installed_here")
    with pytest.raises(ZooError) as exc:
        sentiment_lexicon()
    message = str(exc.value)
    assert "'vadersentiment'" in message
    assert "vader_not_installed_here" in message
    assert INSTALL_HINT in message
    assert 'pip install "vadersentiment>=3.3.2,<4"' in message
    assert ".venv" not in message


def _fake_package(tmp_path, name, lexicon=None):
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    if lexicon is not None:
        (package / "vader_lexicon.txt").write_text(lexicon, encoding="utf-8")
    return package


def test_package_without_the_lexicon_file_says_to_reinstall(monkeypatch, tmp_path):
    _fake_package(tmp_path, "vader_without_file")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sentiment_module, "VADER_MODULE", "vader_without_file")
    with pytest.raises(ZooError, match=r"has no vader_lexicon\.txt") as exc:
        sentiment_lexicon()
    assert "--force-reinstall" in str(exc.value)


def test_malformed_line_is_reported_with_its_number(monkeypatch, tmp_path):
    good = "good\t1.9\t0.9\t[2, 2, 1, 3, 2, 2, 2, 1, 2, 2]\n"
    _fake_package(tmp_path, "vader_broken", good + "bad line without tabs\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sentiment_module, "VADER_MODULE", "vader_broken")
    with pytest.raises(ZooError, match=r"line 2 'bad line without tabs': 1 tab-separated"):
        read_vader_lexicon()


def test_a_small_lexicon_is_read_and_split(monkeypatch, tmp_path):
    rows = [("great", 3.1), ("fine", 0.8), ("awful", -3.0), ("bad", -2.5), ("nice", 1.8)]
    rows += [("sad", -2.0), (":-)", 1.3), ("sweet<3", 2.0)]
    text = "".join(f"{t}\t{m}\t0.5\t[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" for t, m in rows)
    _fake_package(tmp_path, "vader_small", text)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sentiment_module, "VADER_MODULE", "vader_small")
    data = sentiment_lexicon(test_fraction=0.5)
    assert data.source["version"] == "unknown"  # not an installed distribution
    assert sorted(data.train.texts + data.test.texts) == ["awful", "bad", "great", "nice", "sad"]
    texts, labels = data.train.texts + data.test.texts, data.train.labels + data.test.labels
    labels = dict(zip(texts, labels, strict=True))
    assert labels == {"great": 1, "nice": 1, "awful": 0, "bad": 0, "sad": 0}
    assert data.test.counts() == {"negative": 2, "positive": 1}


def test_loading_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from zoo.data import sentiment_lexicon\n"
        "data = sentiment_lexicon()\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print(len(data.train), len(data.test))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


# --- digits (scikit-learn's bundled 8x8 images) -------------------------------------------


@pytest.fixture(scope="module")
def digit_split():
    from zoo.data import digits

    return digits()


def test_digits_split_is_deterministic_disjoint_and_complete(digit_split):
    import numpy as np

    from zoo.data import digits

    again = digits()
    np.testing.assert_array_equal(again.train.index, digit_split.train.index)
    np.testing.assert_array_equal(again.test.index, digit_split.test.index)
    assert not set(digit_split.train.index) & set(digit_split.test.index)
    every = sorted([*digit_split.train.index, *digit_split.test.index])
    assert every == list(range(digit_split.source["images"]))
    assert not np.array_equal(digits(seed=1).test.index, digit_split.test.index)


def test_digits_labels_and_pixels_are_the_source_data(digit_split):
    import numpy as np
    from sklearn.datasets import load_digits

    source = load_digits()
    for split in (digit_split.train, digit_split.test):
        np.testing.assert_array_equal(split.labels, source.target[split.index])
        np.testing.assert_allclose(split.images, source.images[split.index] * 255 / 16)
        assert split.images.dtype == np.float32
        assert split.images.min() == 0.0 and split.images.max() == 255.0


def test_digits_split_is_stratified(digit_split):
    import numpy as np
    from sklearn.datasets import load_digits

    from zoo.data import digits

    target = load_digits().target
    for label, name in enumerate(digit_split.test.counts()):
        assert digit_split.test.counts()[name] == round(0.2 * np.sum(target == label))
    limited = digits(limit=25)
    for split in (limited.train, limited.test):
        assert len(split) == 25
        assert all(count >= 2 for count in split.counts().values())


def test_to_rgb_upsamples_by_nearest_neighbour_into_three_equal_channels(digit_split):
    import numpy as np

    from zoo.data import to_rgb

    images = digit_split.test.images[:3]
    rgb = to_rgb(images, (24, 16))
    assert rgb.shape == (3, 24, 16, 3) and rgb.dtype == np.float32
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    np.testing.assert_array_equal(rgb[:, ::3, ::2, 1], images)


def test_digits_without_scikit_learn_gives_the_pip_command(monkeypatch):
    import importlib.util

    from zoo.data import digits

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a)
    )
    with pytest.raises(ZooError) as exc:
        digits()
    assert 'pip install "scikit-learn>=1.9.1,<2"' in str(exc.value)
    assert 'pip install "zoo[data]"' in str(exc.value)
    assert ".venv" not in str(exc.value)


def test_digits_bad_arguments_are_named():
    from zoo.data import digits

    with pytest.raises(ZooError, match=r"limit=5; expected None or an integer >= 10"):
        digits(limit=5)
    with pytest.raises(ZooError, match=r"test_fraction=0; expected a value in \(0, 1\)"):
        digits(test_fraction=0)

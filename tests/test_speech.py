"""Spoken digits synthesized with espeak-ng: shapes, loudness, determinism, cache, errors.

The clips are synthetic speech; the last test checks they carry the word: a linear model
on log-mel features names the digit for voices and speeds it never saw.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from zoo import ZooError
from zoo.data import speech
from zoo.families._audio import log_mel_numpy

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)
SMALL = {"voices": ["en-us"], "speeds": [160, 200], "pitches": [50]}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("zoo-cache")
        mp.setenv(speech.CACHE_ENV, str(folder))
        yield folder


@pytest.fixture(scope="module")
def data(cache_dir):
    """The default grid: 10 words x 4 voices x 3 speeds x 3 pitches (about 5 s to make)."""
    return speech.spoken_digits()


@needs_espeak
def test_default_grid_shapes_and_balanced_labels(data):
    n = 10 * 4 * 3 * 3
    assert data.waveforms.shape == (n, 16000) and data.waveforms.dtype == np.float32
    assert data.labels.shape == (n,) and data.labels.dtype == np.int64
    assert data.counts() == dict.fromkeys(speech.CLASS_NAMES, 36)
    assert data.words == [speech.CLASS_NAMES[i] for i in data.labels]
    assert data.settings[0] == ("en-us", 120, 25) and len(set(data.settings)) == 36
    assert data.sample_rate == 16000 and data.source["synthetic"] is True
    assert "1.5" in data.source["synthesizer"]  # espeak-ng's version is recorded


@needs_espeak
def test_clips_are_loud_peak_normalised_and_centred(data):
    w = data.waveforms
    np.testing.assert_allclose(np.abs(w).max(axis=1), 1.0)
    # Clip RMS measured 0.062-0.21; a silent or badly scaled clip is far below 0.03.
    assert np.sqrt((w**2).mean(axis=1)).min() > 0.03
    # Centred: the silence before and after the word differs by at most one sample.
    voiced = [np.flatnonzero(np.abs(row) > 0) for row in w]
    lead = np.array([v[0] for v in voiced])
    trail = np.array([len(row) - 1 - v[-1] for row, v in zip(w, voiced, strict=True)])
    assert np.abs(lead - trail).max() <= 1 and lead.min() > 0  # every word fits in 1 s


@needs_espeak
def test_voice_speed_and_pitch_change_the_audio(data):
    """Every setting is heard: espeak-ng would silently ignore, e.g., a variant it lacks.

    RMS of the difference between two settings of one word, measured at least 0.072
    across voices, 0.139 across pitches 25/75 and 0.135 across speeds 120/200 (the same
    settings give 0.0).
    """
    pairs = zip(data.settings, data.labels, strict=True)
    index = {(s, int(label)): i for i, (s, label) in enumerate(pairs)}

    def gap(a, b):
        return min(
            np.sqrt(np.mean((data.waveforms[index[a, w]] - data.waveforms[index[b, w]]) ** 2))
            for w in range(10)
        )

    voices = speech.DEFAULT_VOICES
    for i, va in enumerate(voices):
        for vb in voices[i + 1 :]:
            assert gap((va, 160, 50), (vb, 160, 50)) > 0.03, (va, vb)
    assert gap(("en-us", 160, 25), ("en-us", 160, 75)) > 0.03
    assert gap(("en-us", 120, 50), ("en-us", 200, 50)) > 0.03


@needs_espeak
def test_same_settings_give_identical_arrays(data):
    first = speech.spoken_digits(**SMALL, cache=False)
    second = speech.spoken_digits(**SMALL, cache=False)
    np.testing.assert_array_equal(first.waveforms, second.waveforms)
    # ... and the same rows as the (cached) default grid holds for those settings.
    rows = [data.settings.index(s) for s in first.settings[::10]]
    picked = np.concatenate([data.waveforms[r : r + 10] for r in rows])
    np.testing.assert_array_equal(first.waveforms, picked)


@needs_espeak
def test_cache_is_reused_and_a_corrupt_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv(speech.CACHE_ENV, str(tmp_path))
    made = speech.spoken_digits(**SMALL)
    files = list((tmp_path / "speech").iterdir())
    assert [f.suffix for f in files] == [".npz"]  # one file, no temporary left behind
    assert made.source["cache"] == str(files[0])

    def fail(*args, **kwargs):
        raise AssertionError("synthesized although the cache holds the clips")

    with monkeypatch.context() as mp:
        mp.setattr(speech, "_clip", fail)
        again = speech.spoken_digits(**SMALL)
    np.testing.assert_array_equal(made.waveforms, again.waveforms)
    files[0].write_bytes(b"not an npz")
    rebuilt = speech.spoken_digits(**SMALL)
    np.testing.assert_array_equal(made.waveforms, rebuilt.waveforms)
    assert files[0].stat().st_size > 100_000


def test_missing_espeak_names_the_install_command(monkeypatch):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(ZooError, match=r"espeak-ng.*not on PATH.*apt-get install espeak-ng"):
        speech.spoken_digits(**SMALL)


@needs_espeak
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"voices": ["en-us+nosuchvariant"]}, "unknown espeak-ng voice variant"),
        ({"voices": ["xx-nosuchvoice"]}, "voice does not exist"),
        ({"voices": "en-us"}, "non-empty list"),
        ({"speeds": [40]}, r"speeds must be .* \[80, 450\]"),
        ({"pitches": [50.0]}, r"pitches must be"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ZooError, match=match):
        speech.spoken_digits(**{**SMALL, **kwargs}, cache=False)


def test_parse_wav_refuses_what_it_cannot_read():
    with pytest.raises(ZooError, match="RIFF/WAVE"):
        speech.parse_wav(b"ID3 not a wav at all")
    fmt = (1).to_bytes(2, "little") + (2).to_bytes(2, "little") + bytes(10) + b"\x10\x00"
    stereo = b"RIFF\0\0\0\0WAVEfmt " + (16).to_bytes(4, "little") + fmt + b"data\0\0\0\0"
    with pytest.raises(ZooError, match="2 channel"):
        speech.parse_wav(stereo)


@needs_espeak
def test_words_are_recognisable_across_unseen_voices_and_speeds(data):
    """Log-mel statistics + logistic regression, trained without the held-out setting.

    Features: per-band mean and standard deviation over time of LogMelSpectrogram's
    log-mel (NumPy reference), 80 values per clip. Accuracy (chance 10%) measured:
    held-out voice en-gb 0.99, en-gb-scotland 1.0, en-us 1.0, en-us+f3 0.40 (the one
    female voice, learnt from three male ones); held-out speed 120 wpm 0.83, 160 1.0,
    200 0.94. Bounds: every fold at least 3x chance, the voice mean at least 0.75.
    """
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    logmel = log_mel_numpy(data.waveforms)
    x = np.concatenate([logmel.mean(axis=1), logmel.std(axis=1)], axis=1)
    voices = np.array([s[0] for s in data.settings])
    speeds = np.array([s[1] for s in data.settings])

    def held_out(groups):
        scores = {}
        for g in np.unique(groups):
            train, test = groups != g, groups == g
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            model.fit(x[train], data.labels[train])
            scores[g.item()] = model.score(x[test], data.labels[test])
        return scores

    by_voice, by_speed = held_out(voices), held_out(speeds)
    assert min(by_voice.values()) >= 0.3, by_voice
    assert np.mean(list(by_voice.values())) >= 0.75, by_voice
    assert min(by_speed.values()) >= 0.6, by_speed

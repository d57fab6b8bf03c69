"""LogMelSpectrogram: agrees with keras.layers.MelSpectrogram, batch-independent, exports.

And the trap it avoids: the stock layer's ONNX export keeps TensorFlow's RFFT, which
onnxruntime refuses; zoo must say so (op, cause, fix), not pass or dump a raw traceback.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from zoo.exporters import export_model
from zoo.exporters.formats.onnx import UnsupportedOnnxOps
from zoo.exporters.formats.onnx import load as load_onnx

from zoo import ZooError
from zoo.families import _audio as audio

SR = 16000
#: MelSpectrogram configured as LogMelSpectrogram's defaults (power, no dB).
STOCK = {
    "fft_length": 512,
    "sequence_length": 400,
    "sequence_stride": 160,
    "sampling_rate": SR,
    "num_mel_bins": 40,
    "min_freq": 20.0,
    "power_to_db": False,
}
#: Max |ours - stock| over the linear mel power, relative to the example's peak power.
#: Measured 3.1e-6 (log sine sweeps) and 1.1e-6-2.1e-6 (the ten en-us digit words):
#: float32 rounding of a 400-tap sum against TF's float32 RFFT. The layer against the
#: float64 NumPy reference: at most 1.1e-6. 1e-5 leaves 3x headroom; a wrong window,
#: frame offset or filterbank is off by 1e-3 or more (an odd-length window: 4e-3).
REL_TOL = 1e-5
no_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng): no spoken digits",
)


def _sweep(n: int = 1) -> np.ndarray:
    """Log sine sweeps 50 Hz → 7.9 kHz, amplitude 0.5, each with a different phase."""
    t = np.arange(SR) / SR
    k = np.log(7900 / 50)
    rows = [0.5 * np.sin(2 * np.pi * 50 / k * (np.exp(k * t) - 1) + i) for i in range(n)]
    return np.stack(rows).astype(np.float32)


def _audio_rows(n: int, seed: int) -> np.ndarray:
    """Waveforms in [-1, 1]: sweeps plus noise, for export validation and calibration."""
    rng = np.random.default_rng(seed)
    x = _sweep(n) * rng.uniform(0.2, 1.5, (n, 1)) + rng.normal(0, 0.05, (n, SR))
    return np.clip(x, -1, 1).astype(np.float32)


def _spoken() -> np.ndarray:
    from zoo.data.speech import spoken_digits

    return spoken_digits(voices=["en-us"], speeds=[160], pitches=[50], cache=False).waveforms


def _relative_error(ours_log: np.ndarray, stock_power: np.ndarray) -> np.ndarray:
    """Per example: max |exp(ours) - offset - stock| / max(stock)."""
    ours = np.exp(ours_log.astype(np.float64)) - 1e-6
    diff = np.abs(ours - stock_power).reshape(len(ours), -1).max(axis=1)
    return diff / stock_power.reshape(len(ours), -1).max(axis=1)


def _stock(x: np.ndarray, **kw) -> np.ndarray:
    import keras

    out = keras.layers.MelSpectrogram(**{**STOCK, **kw})(x)
    return np.swapaxes(np.asarray(out), 1, 2)  # [batch, mels, frames] → [batch, frames, mels]


@pytest.mark.parametrize(
    "source", ["sweep", pytest.param("spoken", marks=no_espeak)], ids=["sweep", "spoken"]
)
def test_matches_keras_mel_spectrogram(source):
    x = _sweep(2) if source == "sweep" else _spoken()
    ours = np.asarray(audio.log_mel_spectrogram()(x))
    assert ours.shape == (len(x), 101, 40, 1)
    stock = _stock(x)
    assert stock.shape == ours.shape[:3]  # same frames (center=True framing) and bands
    rel = _relative_error(ours[..., 0], stock)
    assert rel.max() <= REL_TOL, rel
    # The NumPy float64 reference is the same computation: closer still to the layer.
    ref = np.exp(audio.log_mel_numpy(x))
    rel_ref = np.abs(np.exp(ours[..., 0]) - ref).max(axis=(1, 2)) / ref.max(axis=(1, 2))
    assert rel_ref.max() <= REL_TOL, rel_ref


@pytest.mark.parametrize(
    ("frame", "step", "fft"), [(200, 80, 256), (200, 80, 255), (200, 100, 300)]
)
def test_matches_keras_for_other_settings(frame, step, fft):
    """8 kHz, no fmin, odd and non-power-of-two DFT sizes: framing and filterbank agree.

    Measured max relative error 1.4e-6-1.7e-6. (Odd frame lengths are left out on
    purpose: TensorFlow's periodic Hann window falls back to the symmetric one there, see
    the module docs of zoo.families._audio.)
    """
    x = _sweep(2)[:, ::2].copy()  # 8000 samples
    layer = audio.log_mel_spectrogram(
        sample_rate=8000,
        frame_length=frame,
        frame_step=step,
        fft_length=fft,
        num_mel_bins=24,
        fmin=0.0,
    )
    ours = np.asarray(layer(x))
    stock = _stock(
        x,
        fft_length=fft,
        sequence_length=frame,
        sequence_stride=step,
        sampling_rate=8000,
        num_mel_bins=24,
        min_freq=0.0,
    )
    assert ours.shape[1] == audio.frames_for(8000, frame, step, fft_length=fft) == stock.shape[1]
    assert _relative_error(ours[..., 0], stock).max() <= REL_TOL


def test_rows_do_not_depend_on_their_batch():
    """Each row equals the row computed alone; the stock dB output does not (top_db clip)."""
    loud = _sweep(1)[0]
    rows = np.stack([loud, 1e-3 * loud, _audio_rows(1, 0)[0]])
    layer = audio.log_mel_spectrogram()
    together = np.asarray(layer(rows))
    for i in range(len(rows)):
        alone = np.asarray(layer(rows[i : i + 1]))[0]
        assert np.abs(together[i] - alone).max() <= 1e-6  # measured 0.0
    # The trap this avoids: MelSpectrogram(power_to_db=True) clips at one max over the
    # batch, so the quiet row (60 dB down) changes when the loud one joins it.
    import keras

    db = keras.layers.MelSpectrogram(**{**STOCK, "power_to_db": True, "top_db": 40.0})
    quiet_alone = np.asarray(db(rows[1:2]))[0]
    quiet_batched = np.asarray(db(rows[:2]))[1]
    assert np.abs(quiet_alone - quiet_batched).max() > 1.0  # dB


@pytest.mark.parametrize(
    ("samples", "frame", "step", "fft", "center"),
    [(16000, 400, 160, 512, True), (16000, 400, 160, 512, False), (8000, 201, 80, 255, True)],
)
def test_frames_for_is_the_layer_output_length(samples, frame, step, fft, center):
    layer = audio.log_mel_spectrogram(
        frame_length=frame, frame_step=step, fft_length=fft, center=center
    )
    out = layer(np.zeros((1, samples), np.float32) + 0.1)
    expected = audio.frames_for(samples, frame, step, fft_length=fft, center=center)
    assert out.shape[1] == expected
    assert layer.compute_output_shape((None, samples)) == (None, expected, 40, 1)


def test_keras_file_round_trip_is_exact(tmp_path):
    import keras

    from zoo.families import register_keras_objects

    register_keras_objects()
    assert keras.saving.get_registered_object("zoo>LogMelSpectrogram") is audio.log_mel_class()
    model = _tiny_model(audio.log_mel_spectrogram(num_mel_bins=32, fmin=0.0, name="log_mel"))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = {"audio": _audio_rows(3, 1)}
    for a, b in zip(model(x).values(), loaded(x).values(), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    config = loaded.get_layer("log_mel").get_config()
    assert config["num_mel_bins"] == 32 and config["fmin"] == 0.0 and config["fmax"] is None
    assert audio.log_mel_class().from_config(config).get_config() == config
    assert model.count_params() == loaded.count_params()  # the constants are not weights


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"frame_length": 600, "fft_length": 512}, "fft_length=512"),
        ({"fmax": 9000.0}, "fmax"),
        ({"num_mel_bins": 0}, "num_mel_bins"),
        ({"log_offset": 0.0}, "log_offset"),
    ],
)
def test_bad_settings_name_the_argument(kwargs, named):
    with pytest.raises(ZooError, match=named):
        audio.log_mel_spectrogram(**kwargs)


def test_too_short_or_unknown_length_fails_at_build():
    import keras

    with pytest.raises(ZooError, match="too few"):
        audio.log_mel_spectrogram()(keras.Input((150,)))
    with pytest.raises(ZooError, match="fixed number of samples"):
        audio.log_mel_spectrogram()(keras.Input((None,)))


def _tiny_model(front_end, *, channel_axis: bool = True):
    """waveform → front end → Conv2D → GAP → Dense(3, softmax) named ``probabilities``."""
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((SR,), name="audio")
    h = front_end(x)
    if not channel_axis:  # MelSpectrogram: [batch, mels, frames] → add the channel axis
        h = keras.layers.Reshape((*h.shape[1:], 1))(h)
    h = keras.layers.Conv2D(4, 3, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(3, activation="softmax", name="probabilities")(h)
    return keras.Model({"audio": x}, {"probabilities": out}, name="tiny_audio")


def test_tiny_audio_model_exports_everywhere(tmp_path):
    """SavedModel, LiteRT fp32 and ONNX fp32 reproduce Keras at batch 1 and 3.

    Measured max |diff| of the probabilities: saved_model 0.0, tflite:fp32 6e-8,
    onnx:fp32 2.4e-7 (tolerances 1e-5, 1e-4, 1e-5).
    """
    model = _tiny_model(audio.log_mel_spectrogram(name="log_mel"))
    formats = ["saved_model", "tflite:fp32", "onnx:fp32"]
    result = export_model(
        model, tmp_path, formats=formats, seed=None, data={"audio": _audio_rows(8, 2)}
    )
    assert result.status == dict.fromkeys(formats, "ok")
    for fmt in formats:
        reports = result.parity[fmt]
        assert {r.batch for r in reports} == {1, 3}
        assert all(r.ok and r.max_abs <= r.atol for r in reports), (fmt, reports)
    ops = result.manifest["artifacts"]["onnx:fp32"]["op_types"]
    assert "Conv" in ops and not {"RFFT", "Real", "Imag"} & set(ops)


def test_stock_mel_spectrogram_onnx_export_fails_clearly(tmp_path):
    import keras

    stock = keras.layers.MelSpectrogram(**STOCK)
    model = _tiny_model(stock, channel_axis=False)
    with pytest.raises(UnsupportedOnnxOps) as caught:
        export_model(model, tmp_path, formats=["onnx:fp32"], seed=None)
    message = str(caught.value)
    assert "RFFT" in caught.value.ops
    for part in ("RFFT", "onnxruntime", "strided convolution", "LogMelSpectrogram"):
        assert part in message, message
    assert not (tmp_path / model.name).exists()  # nothing committed


def test_stock_mel_spectrogram_exports_to_saved_model_and_litert(tmp_path):
    """The trap is ONNX only: SavedModel and LiteRT (builtin RFFT2D) take the stock layer.

    Measured max |diff|: saved_model 0.0, tflite:fp32 9e-26 (on linear mel power the
    random-weight softmax saturates, so this shows the formats load and run, not more).
    """
    import keras

    model = _tiny_model(keras.layers.MelSpectrogram(**STOCK), channel_axis=False)
    ok = export_model(model, tmp_path, formats=["saved_model", "tflite:fp32"], seed=None)
    assert ok.status == {"saved_model": "ok", "tflite:fp32": "ok"}
    assert all(r.ok for reports in ok.parity.values() for r in reports)


def test_onnx_runner_names_unsupported_ops_of_a_foreign_file(tmp_path):
    """A file onnxruntime refuses because of an op it lacks: the error names the op."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("RFFT", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5])],
    )
    path = tmp_path / "fft.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(UnsupportedOnnxOps, match=r"RFFT.*LogMelSpectrogram") as caught:
        load_onnx(path)
    assert caught.value.__cause__ is not None  # onnxruntime's own error stays attached

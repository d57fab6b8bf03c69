"""An in-model log-mel spectrogram that exports to SavedModel, LiteRT and ONNX.

``keras.layers.MelSpectrogram`` computes its STFT with TensorFlow's ``RFFT``: SavedModel
and LiteRT (builtin ``RFFT2D``) take it, but tf2onnx keeps ``RFFT``/``Real``/``Imag``
in the ONNX graph and onnxruntime refuses the file ("No Op registered for RFFT"). Its
``power_to_db`` also clips at one maximum over the whole batch, so an example's output
depends on its batch-mates.

:class:`LogMelSpectrogram` (from :func:`log_mel_class`, Keras name
``"zoo>LogMelSpectrogram"``) computes the same spectrogram with ops every format has:

1. ``center=True`` (default): reflect-pad the waveform so frame ``t`` is centred on sample
   ``t * frame_step``, exactly as ``MelSpectrogram`` (``keras.ops.stft(center=True)``)
   frames it.
2. A strided 1-D convolution (``keras.ops.conv``) whose ``frame_length``-tap kernels are
   the periodic-Hann-windowed cosine and sine rows of a DFT zero-padded to ``fft_length``
   (the two sine rows that are identically zero, DC and Nyquist, are left out).
3. Power ``re² + im²`` (squares of the conv output), then one matmul with the HTK mel
   filterbank ``MelSpectrogram`` uses (the same formula, built in NumPy).
4. Natural log: ``log(mel_power + log_offset)``. No batch-wide max, no clip: every row
   of a batch is computed on its own.

Input ``[batch, samples]`` float32; output ``[batch, frames, num_mel_bins, 1]`` (a
trailing channel axis, ready for ``Conv2D``), ``frames`` = :func:`frames_for`. The
constants (DFT kernel, filterbank) are rebuilt in NumPy from the layer config, so the
layer has no weights and a ``.keras`` file reproduces it exactly. Against
``MelSpectrogram(power_to_db=False)`` configured the same way the mel power agrees within
~5e-6 of each example's peak (``tests/test_audio.py``). One deliberate difference: for
an odd ``frame_length`` TensorFlow's ``hann_window(periodic=True)`` falls back to the
symmetric window (denominator ``N - 1``); this layer uses the periodic window
``0.5 - 0.5 cos(2πn / N)`` for every length, as SciPy and PyTorch do (the stock layer on
the TensorFlow backend then differs by ~0.5% of the peak).

Nothing here imports Keras (or NumPy) at module level.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError

if TYPE_CHECKING:
    import numpy as np

#: HTK mel scale, as ``keras.layers.MelSpectrogram``: ``mel(f) = 1127 ln(1 + f / 700)``.
MEL_BREAK_HZ = 700.0
MEL_HIGH_Q = 1127.0

#: Default configuration: 16 kHz, 25 ms frames every 10 ms, 512-point DFT, 40 mel bands.
DEFAULTS: dict[str, Any] = {
    "sample_rate": 16000,
    "frame_length": 400,
    "frame_step": 160,
    "fft_length": 512,
    "num_mel_bins": 40,
    "fmin": 20.0,
    "fmax": None,
    "log_offset": 1e-6,
    "center": True,
}


def frames_for(
    samples: int,
    frame_length: int = 400,
    frame_step: int = 160,
    *,
    fft_length: int = 512,
    center: bool = True,
) -> int:
    """Number of frames :class:`LogMelSpectrogram` gives for ``samples`` input samples.

    Pure Python, for a family's ``outputs()``. With ``center`` the waveform is
    reflect-padded as ``keras.ops.stft(center=True)`` pads it (``fft_length // 2`` on each
    side), so the count is ``1 + (samples + 2 * (fft_length // 2) - fft_length) //
    frame_step``; without, ``1 + (samples - frame_length) // frame_step``.

    Raises:
        ZooError: the waveform is too short for one frame (or for the reflect padding).

    Example:
        >>> frames_for(16000, 400, 160)
        101
        >>> frames_for(16000, 400, 160, center=False)
        98
    """
    left, right = _padding(frame_length, fft_length, center)
    least = max(frame_length - left - right, max(left, right) + 1, 1)
    if samples < least:
        raise ZooError(
            f"LogMelSpectrogram: {samples} input samples are too few for frame_length="
            f"{frame_length}, fft_length={fft_length}, center={center}; expected at least "
            f"{least}. Use a longer waveform or a shorter frame_length."
        )
    return 1 + (samples + left + right - frame_length) // frame_step


def _padding(frame_length: int, fft_length: int, center: bool) -> tuple[int, int]:
    """Reflect padding (left, right) that frames like ``keras.ops.stft(center=True)``.

    ``stft`` pads ``fft_length // 2`` on each side and puts the window at offset
    ``(fft_length - frame_length) // 2`` of each ``fft_length`` frame; dropping the padded
    samples the window never covers leaves these widths.
    """
    if not center:
        return 0, 0
    half = fft_length // 2
    l_pad = (fft_length - frame_length) // 2
    r_pad = fft_length - frame_length - l_pad
    return half - l_pad, half - r_pad


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate a :class:`LogMelSpectrogram` configuration; return it with ``fmax`` set.

    Raises:
        ZooError: naming the argument, the value received and what is expected.

    Example:
        >>> check_config({**DEFAULTS})["fmax"]
        8000.0
    """
    cfg = {**DEFAULTS, **config}
    for key in ("sample_rate", "frame_length", "frame_step", "fft_length", "num_mel_bins"):
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ZooError(
                f"LogMelSpectrogram: {key} must be a positive integer, received {value!r}."
            )
    if cfg["fft_length"] < cfg["frame_length"]:
        raise ZooError(
            f"LogMelSpectrogram: fft_length={cfg['fft_length']} is shorter than frame_length="
            f"{cfg['frame_length']}; expected fft_length >= frame_length (e.g. the next power "
            "of two)."
        )
    nyquist = cfg["sample_rate"] / 2
    fmax = nyquist if cfg["fmax"] is None else float(cfg["fmax"])
    fmin = float(cfg["fmin"])
    if not 0.0 <= fmin < fmax <= nyquist:
        raise ZooError(
            f"LogMelSpectrogram: expected 0 <= fmin < fmax <= sample_rate / 2 = {nyquist:g}, "
            f"received fmin={cfg['fmin']!r}, fmax={cfg['fmax']!r}."
        )
    if not float(cfg["log_offset"]) > 0.0:
        raise ZooError(
            f"LogMelSpectrogram: log_offset must be > 0 (log of silence), received "
            f"{cfg['log_offset']!r}."
        )
    return {**cfg, "fmin": fmin, "fmax": fmax, "log_offset": float(cfg["log_offset"])}


def mel_filterbank(
    *,
    num_mel_bins: int,
    fft_length: int,
    sample_rate: int,
    fmin: float,
    fmax: float,
) -> np.ndarray:
    """HTK triangular mel filters, ``[fft_length // 2 + 1, num_mel_bins]`` float64.

    The formula of ``keras.layers.MelSpectrogram.linear_to_mel_weight_matrix`` (peak 1.0,
    DC row zero), computed in float64.

    Example:
        >>> mel_filterbank(num_mel_bins=40, fft_length=512, sample_rate=16000,
        ...                fmin=20.0, fmax=8000.0).shape
        (257, 40)
    """
    import numpy as np

    bins = fft_length // 2 + 1

    def to_mel(hz: Any) -> Any:
        return MEL_HIGH_Q * np.log1p(hz / MEL_BREAK_HZ)

    freqs_mel = to_mel(np.linspace(0.0, sample_rate / 2, bins)[1:])[:, None]
    edges = np.linspace(to_mel(np.float64(fmin)), to_mel(np.float64(fmax)), num_mel_bins + 2)
    lower, center, upper = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    rising = (freqs_mel - lower) / (center - lower)
    falling = (upper - freqs_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.pad(weights, [(1, 0), (0, 0)])


def stft_kernel(*, frame_length: int, fft_length: int) -> tuple[np.ndarray, np.ndarray]:
    """The windowed DFT basis as conv kernels, and the bin each kernel column measures.

    Column ``j`` holds ``w[m] · cos(2π k (m + o) / N)`` (the real part of bin ``k``) or
    ``-w[m] · sin(...)`` (its imaginary part), with ``w`` the periodic Hann window of
    ``frame_length``, ``N = fft_length`` and ``o = (N - frame_length) // 2`` the window's
    offset in the zero-padded frame (as ``keras.ops.stft`` places it). Sine columns of
    DC and Nyquist are identically zero and left out.

    Returns:
        ``kernel`` float64 ``[frame_length, 1, columns]`` and ``bins`` int64 ``[columns]``.

    Example:
        >>> kernel, bins = stft_kernel(frame_length=400, fft_length=512)
        >>> kernel.shape, int(bins.max())
        ((400, 1, 512), 256)
    """
    import numpy as np

    m = np.arange(frame_length)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * m / frame_length)
    cos_bins = np.arange(fft_length // 2 + 1)
    sin_bins = np.arange(1, (fft_length + 1) // 2)
    offset = (fft_length - frame_length) // 2
    phase = 2.0 * np.pi * np.outer(m + offset, np.concatenate([cos_bins, sin_bins])) / fft_length
    basis = np.concatenate(
        [np.cos(phase[:, : len(cos_bins)]), -np.sin(phase[:, len(cos_bins) :])], axis=1
    )
    kernel = (window[:, None] * basis)[:, None, :]
    return kernel, np.concatenate([cos_bins, sin_bins])


def constants(config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The layer's float32 constants: conv kernel and per-column mel matrix.

    The mel matrix has one row per kernel column (``re²`` and ``im²`` of a bin share its
    filterbank row), so ``log(square(conv(x)) @ mel + log_offset)`` is the log-mel.

    Example:
        >>> kernel, mel = constants(check_config({}))
        >>> kernel.shape, mel.shape
        ((400, 1, 512), (512, 40))
    """
    import numpy as np

    cfg = check_config(config)
    kernel, bins = stft_kernel(frame_length=cfg["frame_length"], fft_length=cfg["fft_length"])
    bank = mel_filterbank(
        num_mel_bins=cfg["num_mel_bins"],
        fft_length=cfg["fft_length"],
        sample_rate=cfg["sample_rate"],
        fmin=cfg["fmin"],
        fmax=cfg["fmax"],
    )
    return kernel.astype(np.float32), bank[bins].astype(np.float32)


def log_mel_numpy(waveforms: np.ndarray, **config: Any) -> np.ndarray:
    """The layer's computation in NumPy (float64): ``[n, samples]`` → ``[n, frames, mels]``.

    For features outside a model (e.g. a quick classifier) and as a reference; the same
    constants and padding as :class:`LogMelSpectrogram`, no channel axis.

    Example:
        >>> import numpy as np
        >>> log_mel_numpy(np.zeros((2, 16000), np.float32)).shape
        (2, 101, 40)
    """
    import numpy as np

    cfg = check_config(config)
    x = np.asarray(waveforms, dtype=np.float64)
    frames = frames_for(
        x.shape[-1],
        cfg["frame_length"],
        cfg["frame_step"],
        fft_length=cfg["fft_length"],
        center=cfg["center"],
    )
    left, right = _padding(cfg["frame_length"], cfg["fft_length"], cfg["center"])
    x = np.pad(x, [(0, 0), (left, right)], mode="reflect")
    taps = np.arange(frames)[:, None] * cfg["frame_step"] + np.arange(cfg["frame_length"])
    kernel, mel = (c.astype(np.float64) for c in constants(cfg))
    out = np.empty((len(x), frames, cfg["num_mel_bins"]))
    for i in range(0, len(x), 64):  # 2-D matmuls in chunks: fast, bounded memory
        windows = x[i : i + 64, taps].reshape(-1, cfg["frame_length"])
        power = np.square(windows @ kernel[:, 0, :])
        out[i : i + 64] = (power @ mel).reshape(-1, frames, cfg["num_mel_bins"])
    return np.log(out + cfg["log_offset"])


@functools.cache
def log_mel_class() -> Any:
    """``LogMelSpectrogram``, defined and registered (``"zoo>LogMelSpectrogram"``) on first call.

    Arguments (all keyword, also the layer config): ``sample_rate=16000``,
    ``frame_length=400`` (25 ms), ``frame_step=160`` (10 ms), ``fft_length=512``,
    ``num_mel_bins=40``, ``fmin=20.0``, ``fmax=None`` (``sample_rate / 2``),
    ``log_offset=1e-6``, ``center=True``; plus the usual layer keywords (``name``, ...).

    Example:
        >>> cls = log_mel_class()  # doctest: +SKIP
        >>> cls(num_mel_bins=40)(np.zeros((2, 16000), "float32")).shape  # doctest: +SKIP
        TensorShape([2, 101, 40, 1])
    """
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="zoo")
    class LogMelSpectrogram(keras.layers.Layer):
        """Waveform ``[batch, samples]`` → log-mel ``[batch, frames, mels, 1]``, no FFT op."""

        def __init__(
            self,
            sample_rate: int = 16000,
            frame_length: int = 400,
            frame_step: int = 160,
            fft_length: int = 512,
            num_mel_bins: int = 40,
            fmin: float = 20.0,
            fmax: float | None = None,
            log_offset: float = 1e-6,
            center: bool = True,
            **kwargs: Any,
        ) -> None:
            super().__init__(**kwargs)
            given: dict[str, Any] = {
                "sample_rate": sample_rate,
                "frame_length": frame_length,
                "frame_step": frame_step,
                "fft_length": fft_length,
                "num_mel_bins": num_mel_bins,
                "fmin": fmin,
                "fmax": fmax,
                "log_offset": log_offset,
                "center": bool(center),
            }
            check_config(given)  # fails here, with the argument named
            self.settings = given
            self._kernel, self._mel = constants(given)
            self._pad = _padding(frame_length, fft_length, bool(center))

        def build(self, input_shape: Any) -> None:
            samples = input_shape[-1] if len(input_shape) == 2 else None
            if samples is None:
                raise ZooError(
                    f"LogMelSpectrogram {self.name!r}: expected input shape [batch, samples] "
                    f"with a fixed number of samples, received {tuple(input_shape)}; build "
                    "the model with keras.Input(shape=(samples,))."
                )
            self.frames_out(int(samples))  # too short a waveform fails at build time
            super().build(input_shape)

        def frames_out(self, samples: int) -> int:
            s = self.settings
            return frames_for(
                samples,
                s["frame_length"],
                s["frame_step"],
                fft_length=s["fft_length"],
                center=s["center"],
            )

        def call(self, inputs: Any) -> Any:
            x = ops.cast(inputs, "float32")
            if any(self._pad):
                x = ops.pad(x, [[0, 0], list(self._pad)], mode="reflect")
            x = ops.expand_dims(x, -1)  # [batch, samples, 1]
            parts = ops.conv(x, self._kernel, strides=self.settings["frame_step"])
            mel = ops.matmul(ops.square(parts), self._mel)  # [batch, frames, mels]
            return ops.expand_dims(ops.log(mel + self.settings["log_offset"]), -1)

        def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
            frames = self.frames_out(int(input_shape[-1]))
            return (input_shape[0], frames, self.settings["num_mel_bins"], 1)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), **self.settings}

    return LogMelSpectrogram


def log_mel_spectrogram(**kwargs: Any) -> Any:
    """A new :class:`LogMelSpectrogram` layer (imports Keras); arguments as the layer's.

    Example:
        >>> layer = log_mel_spectrogram(num_mel_bins=40, name="log_mel")  # doctest: +SKIP
    """
    return log_mel_class()(**kwargs)

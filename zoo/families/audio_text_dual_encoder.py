"""``audio_text_dual_encoder``: a raw-waveform audio tower and a text tower, one space.

Architecture (seed models §5): the audio tower takes the **raw waveform** (default 16 kHz,
1 s: ``[16000]`` float32 in [-1, 1]) and computes a log-mel spectrogram inside the model
with :mod:`zoo.families._audio` (an STFT as a strided convolution over a windowed DFT
basis, so SavedModel, LiteRT and ONNX all carry it; ``keras.layers.MelSpectrogram``
would leave RFFT ops that onnxruntime refuses), normalises it per example (mean and
variance over time and mel bands), then Conv2D('same', relu) + MaxPool(2) blocks → global
average pooling → optional Dense; the text tower is as in ``image_text_dual_encoder``.
Both end in Dense(embedding_dim) → ``UnitNormalization``.

============ =============================== ==========================================
part         inputs                          outputs
============ =============================== ==========================================
pair         audio + text inputs             audio_embedding, text_embedding, similarity
audio_tower  audio                           audio_embedding
text_tower   tokens (or the 3 BERT inputs)   text_embedding
============ =============================== ==========================================
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from zoo._family import SpecProblem, register_family
from zoo._recipe import InputSpec
from zoo.errors import ZooError
from zoo.families._dual import (
    DualEncoderParams,
    PositiveInt,
    build_parts,
    check_names,
    check_text,
    conv_side,
    conv_tower,
    pair_samples,
    reads,
)

Part = Literal["pair", "audio_tower", "text_tower"]


class AudioTextDualEncoderParams(DualEncoderParams):
    """Parameters of ``audio_text_dual_encoder`` (text tower and training: see the base).

    Attributes:
        part: Which graph to build (see the module table).
        sample_rate: Samples per second of the waveform input.
        frame_length: STFT window, samples (default 25 ms).
        frame_step: STFT hop, samples (default 10 ms).
        fft_length: DFT size (≥ frame_length).
        num_mel_bins: Mel bands.
        fmin: Lowest mel band edge, Hz.
        fmax: Highest mel band edge, Hz (None: sample_rate / 2).
        conv_filters: Filters of each CNN block over the spectrogram.
        kernel_size: CNN kernel size.
        audio_dense_units: Dense(relu) after the pooled CNN features; 0 for none.
    """

    part: Part = "pair"
    sample_rate: Annotated[int, Field(ge=1000, le=96_000)] = 16_000
    frame_length: Annotated[int, Field(ge=1, le=8192)] = 400
    frame_step: PositiveInt = 160
    fft_length: Annotated[int, Field(ge=1, le=8192)] = 512  # DFT kernel: 8192 → 268 MB
    num_mel_bins: Annotated[int, Field(ge=2, le=256)] = 40
    fmin: Annotated[float, Field(ge=0.0)] = 20.0
    fmax: Annotated[float, Field(gt=0.0)] | None = None
    conv_filters: list[PositiveInt] = Field(default=[32, 64, 128], min_length=1, max_length=6)
    kernel_size: PositiveInt = 3
    audio_dense_units: Annotated[int, Field(ge=0)] = 128


def part_inputs(p: AudioTextDualEncoderParams) -> tuple[str, ...]:
    """Input names the params' part reads."""
    return reads(p, "audio")[p.part]


def spectrogram_shape(p: AudioTextDualEncoderParams, samples: int) -> tuple[int, int]:
    """(frames, mel bins) of the in-model spectrogram for ``samples`` input samples.

    Raises:
        SpecProblem: the waveform is too short, or the STFT settings are inconsistent.

    Example:
        >>> spectrogram_shape(AudioTextDualEncoderParams(), 16000)
        (101, 40)
    """
    from zoo.families._audio import check_config, frames_for

    try:
        check_config(_mel_config(p))
        return frames_for(
            samples, p.frame_length, p.frame_step, fft_length=p.fft_length
        ), p.num_mel_bins
    except ZooError as exc:
        raise SpecProblem("params", f"{exc}") from None


def _mel_config(p: AudioTextDualEncoderParams) -> dict[str, Any]:
    return {
        "sample_rate": p.sample_rate,
        "frame_length": p.frame_length,
        "frame_step": p.frame_step,
        "fft_length": p.fft_length,
        "num_mel_bins": p.num_mel_bins,
        "fmin": p.fmin,
        "fmax": p.fmax,
        "log_offset": 1e-6,
        "center": True,
    }


def outputs(p: AudioTextDualEncoderParams, inputs: dict[str, InputSpec]) -> dict[str, list[int]]:
    """Check the inputs the part reads and return its output shapes.

    Example:
        >>> spec = {"audio": InputSpec(shape=[16000], range=[-1.0, 1.0])}
        >>> outputs(AudioTextDualEncoderParams(part="audio_tower", embedding_dim=8), spec)
        {'audio_embedding': [8]}
    """
    check_names(p.part, reads(p, "audio"), inputs)
    found: dict[str, list[int]] = {}
    if "audio" in inputs:
        spec = inputs["audio"]
        if len(spec.shape) != 1 or spec.dtype != "float32":
            raise SpecProblem(
                "inputs.audio",
                f"expected a raw waveform: shape [samples] (e.g. [{p.sample_rate}] for 1 s "
                f"at params.sample_rate) and dtype float32, received shape {spec.shape} "
                f"dtype {spec.dtype!r}.",
            )
        frames, mels = spectrogram_shape(p, spec.shape[0])
        if conv_side(min(frames, mels), p.conv_filters, p.kernel_size) < 1:
            raise SpecProblem(
                "params.conv_filters",
                f"the {frames}×{mels} spectrogram is too small for {len(p.conv_filters)} "
                "conv blocks (each halves it); use fewer conv_filters or more mel bins.",
            )
        found["audio_embedding"] = [p.embedding_dim]
    if p.part != "audio_tower":
        check_text(p, inputs)
        found["text_embedding"] = [p.embedding_dim]
    if p.part == "pair":
        found["similarity"] = [1]
    return found


@register_family(
    "audio_text_dual_encoder",
    params=AudioTextDualEncoderParams,
    outputs=outputs,
    description="Raw-waveform audio tower (log-mel inside) + text tower → one embedding space.",
    part_inputs=part_inputs,
    samples=pair_samples,
)
def build(p: AudioTextDualEncoderParams, inputs: dict[str, InputSpec], name: str) -> Any:
    """Build the functional model of ``p.part`` (imports Keras)."""
    return build_parts(p, inputs, name, "audio", _audio_tower)


def _audio_tower(p: AudioTextDualEncoderParams, spec: InputSpec) -> tuple[dict[str, Any], Any]:
    import keras
    from keras import layers

    from zoo.families._audio import log_mel_spectrogram

    audio = keras.Input(shape=spec.shape, dtype=spec.dtype, name="audio")
    x = log_mel_spectrogram(**_mel_config(p), name="audio_log_mel")(audio)
    # Per-example standardisation over time and mel bands: loudness and recording level
    # vary between voices; a LayerNormalization over those axes has no batch dependence.
    x = layers.LayerNormalization(axis=[1, 2], name="audio_norm")(x)
    x = conv_tower(x, p.conv_filters, p.kernel_size, "audio")
    if p.audio_dense_units:
        x = layers.Dense(p.audio_dense_units, activation="relu", name="audio_dense")(x)
    return {"audio": audio}, x

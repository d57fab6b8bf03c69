"""Parity tolerances: one table, keyed by format and optionally by family.

An artifact passes when, for every output and batch, ``max |artifact - keras| <= atol``
and, where ``min_top1_agreement`` is set (quantized formats), the share of examples whose
predicted class (argmax, or ``p > 0.5`` for a single sigmoid unit) equals Keras' is at
least that value on :data:`export.validate.AGREEMENT_SAMPLES` realistic inputs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    """How close an artifact must be to Keras."""

    atol: float
    min_top1_agreement: float | None = None


#: format → tolerance against the Keras model.
TOLERANCES: dict[str, Tolerance] = {
    "keras": Tolerance(1e-6),
    "saved_model": Tolerance(1e-5),
    # tflite: worst max |Δ| measured over every *_tiny recipe (3 seeds; 40 for
    # cnn_lstm_fusion_tiny) and full-size cnn_lstm_fusion: fp32 1e-6, fp16 3.3e-4,
    # dynamic_int8 4.6e-3, int8 0.055 (0.066 on a trained model). A mis-calibrated int8
    # model is off by 0.21-0.99. No top-1 gate on random weights: near-ties flip argmax
    # (int8 failed 99% in 6 of 40 seeds at 1e-2 error, bag_of_words at 1e-5); the 99%
    # agreement is checked on a trained classifier in tests/test_export_tflite.py.
    "tflite:fp32": Tolerance(1e-4),
    "tflite:fp16": Tolerance(1e-2),
    "tflite:dynamic_int8": Tolerance(0.05),
    "tflite:int8": Tolerance(0.1),
    "onnx:fp32": Tolerance(1e-5),
    # int8 QDQ: a loose bound in output units (probabilities here). Measured on
    # cnn_lstm_fusion_tiny over 40 random-weight seeds: worst |diff| 0.009 at batch 1/3 and
    # 0.055 over 64 inputs; full-size cnn_lstm_fusion 0.021. No top-1 requirement: on random
    # weights near-uniform probabilities flip (6 of 40 seeds under 99%, worst 96.9%); the
    # issue's ">= 99% top-1 agreement" is tested on a trained classifier instead
    # (tests/test_export_onnx.py).
    "onnx:int8": Tolerance(0.1),
}

#: (family, format) → tolerance, where a family needs its own.
FAMILY_TOLERANCES: dict[tuple[str, str], Tolerance] = {}


def tolerance(fmt: str, family: str | None = None) -> Tolerance:
    """The tolerance for ``fmt`` (and ``family`` if it has its own entry)."""
    if family is not None and (family, fmt) in FAMILY_TOLERANCES:
        return FAMILY_TOLERANCES[(family, fmt)]
    if fmt not in TOLERANCES:
        raise KeyError(f"no tolerance for format {fmt!r}; add one to export/tolerances.py")
    return TOLERANCES[fmt]

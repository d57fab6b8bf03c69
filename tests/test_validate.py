"""Task metrics of quantized exports, and where validation inputs come from."""

from __future__ import annotations

import json

import numpy as np
import pytest
from zoo.exporters import ValidationFailed, export_model
from zoo.exporters._subject import subject_for
from zoo.exporters.tolerances import TOLERANCES, Tolerance
from zoo.exporters.validate import (
    AGREEMENT_SAMPLES,
    compare_outputs,
    psnr_drop,
    raise_on_failure,
    task_summary,
    top1_agreement,
    worst_gated_error,
)

import zoo
from zoo import ZooError
from zoo.families.bert_classifier import CLS_ID, PAD_ID, SEP_ID

TASK = Tolerance(0.5, min_top1_agreement=0.99, top1_margin=0.1, max_psnr_drop_db=1.0)


def test_top1_agreement_counts_decided_rows_only():
    want = np.array([[0.9, 0.1], [0.52, 0.48], [0.2, 0.8], [0.3, 0.7]])
    got = np.array([[0.8, 0.2], [0.48, 0.52], [0.6, 0.4], [0.3, 0.7]])
    agreement, rows, agreement_all = top1_agreement(want, got, margin=0.1)
    assert rows == 3  # the 0.52/0.48 row is a near-tie
    assert agreement == pytest.approx(2 / 3)  # the 0.2/0.8 row flipped: decided, counted
    assert agreement_all == pytest.approx(2 / 4)


def test_top1_agreement_of_one_sigmoid_unit_uses_p_above_half():
    want = np.array([[0.9], [0.45], [0.1]])
    got = np.array([[0.4], [0.55], [0.2]])
    agreement, rows, agreement_all = top1_agreement(want, got, margin=0.2)
    assert rows == 2 and agreement == 0.5  # |2p-1|: 0.8, 0.1 (tie), 0.8
    assert agreement_all == pytest.approx(1 / 3)


def test_top1_agreement_is_none_without_decided_rows_or_for_other_shapes():
    flat = np.full((4, 3), 1 / 3)
    assert top1_agreement(flat, flat, margin=0.05) == (None, 0, 1.0)
    image = np.zeros((2, 4, 4, 3))
    assert top1_agreement(image, image) == (None, 0, None)


def test_psnr_drop_in_decibels():
    target = np.zeros((2, 4))
    keras = np.full((2, 4), 0.1)  # MSE 0.01 -> 20 dB
    artifact = np.full((2, 4), 0.2)  # MSE 0.04 -> 13.98 dB
    assert psnr_drop(target, keras, artifact) == pytest.approx(20 * np.log10(2))
    assert psnr_drop(target, keras, keras) == 0.0
    assert psnr_drop(target, artifact, keras) < 0  # the artifact is closer


def test_a_flipped_decided_row_fails_and_names_the_agreement():
    want = {"p": np.array([[0.9, 0.1], [0.3, 0.7]])}
    got = {"p": np.array([[0.6, 0.4], [0.6, 0.4]])}  # within atol 0.5, one decided flip
    report = compare_outputs(want, got, tol=TASK, batch=2, tasks={"p": "classification"})
    assert report[0].top1_agreement == 0.5 and not report[0].ok
    with pytest.raises(ValidationFailed, match=r"top-1 agreement 50\.0% on 2 decided rows"):
        raise_on_failure("tflite:int8", report)


def test_psnr_drop_over_bound_fails_and_without_task_nothing_is_gated():
    target = np.zeros((3, 2, 2, 1))
    want = {"r": np.full_like(target, 0.01)}
    got = {"r": np.full_like(target, 0.1)}  # 20 dB worse, |diff| 0.09 < atol
    report = compare_outputs(
        want, got, tol=TASK, batch=3, tasks={"r": "reconstruction"}, targets={"r": target}
    )
    assert report[0].psnr_drop_db == pytest.approx(20.0) and not report[0].ok
    with pytest.raises(ValidationFailed, match="PSNR drop 20 dB > allowed 1 dB"):
        raise_on_failure("onnx:int8", report)
    plain = compare_outputs(want, got, tol=TASK, batch=3)
    assert plain[0].ok and plain[0].psnr_drop_db is None and plain[0].top1_agreement is None


def test_task_sample_reports_values_without_gating_them():
    want = {"p": np.array([[0.99, 0.01]])}
    got = {"p": np.array([[0.2, 0.8]])}
    tol = Tolerance(0.1, min_top1_agreement=0.0)
    gated = compare_outputs(want, got, tol=tol, batch=1, tasks={"p": "classification"})
    free = compare_outputs(
        want, got, tol=tol, batch=1, tasks={"p": "classification"}, atol_gated=False
    )
    assert not gated[0].ok and free[0].ok and free[0].max_abs == pytest.approx(0.79)


def test_bert_family_samples_are_packed_rows():
    subject = subject_for("bert_classifier_tiny", seed=0)
    x = subject.samples(64, seed=3)
    ids, mask = x["token_ids"], x["padding_mask"]
    lengths = mask.sum(axis=1)
    assert subject.source == "family samples"
    assert (ids[:, 0] == CLS_ID).all()
    assert (ids[np.arange(64), lengths - 1] == SEP_ID).all()
    assert ((ids == PAD_ID) == (mask == 0)).all()
    assert lengths.min() >= 3 and lengths.max() <= 16 and len(set(lengths)) > 3
    assert (x["segment_ids"] == 0).all()
    np.testing.assert_array_equal(ids, subject.samples(64, seed=3)["token_ids"])


def test_a_trained_zoo_model_exports_with_its_recipe_and_real_rows(tmp_path):
    model = zoo.get("cnn_lstm_fusion_tiny", seed=0)
    rng = np.random.default_rng(0)
    data = {
        "image": rng.integers(0, 256, size=(7, 32, 32, 3)).astype(np.float32),
        "tokens": rng.integers(0, 100, size=(7, 16)).astype(np.int32),
    }
    result = export_model(model, tmp_path, formats=["onnx:int8"], data=data)
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert result.path.name == "cnn_lstm_fusion_tiny"
    assert manifest["family"] == "cnn_lstm_fusion"
    assert manifest["validation_inputs"] == "data (7 rows)"
    parity = manifest["artifacts"]["onnx:int8"]["parity"]
    task = [p for p in parity if p["batch"] == AGREEMENT_SAMPLES]
    assert task and task[0]["top1_rows"] is not None and task[0]["ok"]


def test_bad_data_is_refused_before_anything_is_written(tmp_path):
    model = zoo.get("cnn_lstm_fusion_tiny", seed=0)
    wrong = {"image": np.zeros((2, 16, 16, 3), np.float32), "tokens": np.zeros((2, 16), np.int32)}
    with pytest.raises(ZooError, match=r"data\['image'\]: rows of shape \[16, 16, 3\], expected"):
        export_model(model, tmp_path, formats=["keras"], data=wrong)
    with pytest.raises(ZooError, match=r"exactly the model inputs \['image', 'tokens'\]"):
        export_model(model, tmp_path, formats=["keras"], data={"image": wrong["image"]})
    ids = {"image": np.zeros((2, 32, 32, 3), np.float32), "tokens": np.full((2, 16), 169)}
    expected = r"data\['tokens'\]: values in \[169, 169\], expected ids in \[0, 100\)"
    with pytest.raises(ZooError, match=expected):
        export_model(model, tmp_path, formats=["keras"], data=ids)
    uneven = {**wrong, "image": np.zeros((3, 32, 32, 3), np.float32)}
    with pytest.raises(ZooError, match="same number"):
        export_model(model, tmp_path, formats=["keras"], data=uneven)
    assert list(tmp_path.iterdir()) == []


def test_overrides_with_a_built_model_are_refused(tmp_path):
    model = zoo.get("cnn_lstm_fusion_tiny", seed=0)
    with pytest.raises(ZooError, match="overrides apply to a model name"):
        export_model(model, tmp_path, formats=["keras"], num_classes=4)


def test_int8_tolerances_carry_the_task_metrics():
    for fmt in ("tflite:int8", "tflite:dynamic_int8", "onnx:int8"):
        tol = TOLERANCES[fmt]
        assert tol.min_top1_agreement == 0.99 and tol.max_psnr_drop_db is not None, fmt
    assert TOLERANCES["onnx:fp32"].min_top1_agreement is None


def test_summaries_read_the_manifest_entries():
    parity = [
        {"output": "p", "batch": 1, "max_abs": 0.01, "atol_gated": True},
        {"output": "p", "batch": 3, "max_abs": 0.02, "atol_gated": True},
        {
            "output": "p",
            "batch": AGREEMENT_SAMPLES,
            "max_abs": 0.3,
            "atol_gated": False,
            "top1_agreement": 0.98,
            "top1_rows": 50,
            "top1_agreement_all": 0.97,
        },
        {
            "output": "r",
            "batch": AGREEMENT_SAMPLES,
            "max_abs": 0.1,
            "atol_gated": False,
            "psnr_drop_db": 0.25,
        },
    ]
    assert worst_gated_error(parity) == 0.02
    assert worst_gated_error([]) is None
    assert task_summary(parity) == (
        "p: top-1 98.0% of 50 decided rows (97.0% of all); r: PSNR drop 0.25 dB"
    )

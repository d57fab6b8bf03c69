"""Registry-wide contract: every recipe builds, round-trips and exports within tolerance.

Parametrized from the registry, so a new recipe is covered without new test code.
Tiny recipes get the full treatment; full-size recipes get one build smoke test each.
"""

from __future__ import annotations

import json
from typing import get_args

import numpy as np
import pytest
from conftest import ALL_MODELS, FULL_MODELS, TINY_MODELS
from zoo.exporters import FORMATS, export_model, sample_inputs
from zoo.exporters._atomic import sha256_path
from zoo.exporters.tolerances import tolerance
from zoo.exporters.validate import AGREEMENT_SAMPLES, BATCH_SIZES

import zoo
from zoo._recipe import FORMAT_VARIANTS, expand_formats
from zoo._registry import REGISTRY

FORMAT_CASES = [
    (name, fmt)
    for name in TINY_MODELS
    for fmt in expand_formats(REGISTRY.get(name).recipe.export.formats)
]


def _other_parts(name: str) -> list[str]:
    """The parts a tiny recipe's family builds by override (``part=``) besides its own."""
    entry = REGISTRY.get(name)
    if entry.family.part_inputs is None:
        return []
    field = entry.family.params.model_fields["part"]
    return [p for p in get_args(field.annotation) if p != entry.params.part]


#: Each tower of a family with parts (dual encoders) exports and validates on its own.
PART_CASES = [
    (name, part, fmt)
    for name in TINY_MODELS
    for part in _other_parts(name)
    for fmt in expand_formats(REGISTRY.get(name).recipe.export.formats)
]


def _outputs(model, inputs):
    return {k: np.asarray(v) for k, v in model(inputs, training=False).items()}


def test_registry_is_not_empty_and_has_tiny_variants():
    assert "cnn_lstm_fusion" in ALL_MODELS
    families = {REGISTRY.get(n).family.name for n in ALL_MODELS}
    tiny_families = {REGISTRY.get(n).family.name for n in TINY_MODELS}
    assert families == tiny_families, (
        f"families without a *_tiny recipe: {families - tiny_families}"
    )


def test_format_variants_match_export_package():
    assert list(FORMATS) == list(FORMAT_VARIANTS)


@pytest.mark.parametrize("name", TINY_MODELS)
def test_tiny_builds_with_named_io(name):
    import keras

    info = zoo.info(name)
    model = zoo.get(name, seed=0)
    assert isinstance(model, keras.Model)
    assert type(model).__name__ == "Functional"
    assert sorted(t.name for t in model.inputs) == sorted(info["inputs"])
    assert sorted(model.output) == sorted(info["outputs"])
    out = _outputs(model, sample_inputs(REGISTRY.get(name).recipe.inputs, 2, seed=1))
    for oname, spec in info["outputs"].items():
        assert out[oname].shape == (2, *spec["shape"])
        assert np.all(np.isfinite(out[oname]))


@pytest.mark.full_size
@pytest.mark.parametrize("name", FULL_MODELS)
def test_full_size_smoke(name):
    model = zoo.get(name, seed=0)
    info = zoo.info(name)
    out = _outputs(model, sample_inputs(REGISTRY.get(name).recipe.inputs, 1, seed=1))
    for oname, spec in info["outputs"].items():
        assert out[oname].shape == (1, *spec["shape"])
        assert np.all(np.isfinite(out[oname]))


@pytest.mark.parametrize("name", TINY_MODELS)
def test_keras_roundtrip_same_outputs(name, tmp_path):
    import keras

    model = zoo.get(name, seed=0)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    inputs = sample_inputs(REGISTRY.get(name).recipe.inputs, 3, seed=2)
    want, got = _outputs(model, inputs), _outputs(reloaded, inputs)
    assert sorted(want) == sorted(got)
    for key in want:
        np.testing.assert_array_equal(want[key], got[key])


@pytest.mark.parametrize(("name", "fmt"), FORMAT_CASES)
def test_export_parity_at_two_batch_sizes(name, fmt, tmp_path):
    result = export_model(name, tmp_path, formats=[fmt], seed=0)
    report = result.parity[fmt]
    tol = tolerance(fmt, REGISTRY.get(name).family.name)
    assert set(BATCH_SIZES) <= {r.batch for r in report}
    assert {r.output for r in report} == set(zoo.info(name)["outputs"])
    for r in report:
        assert r.ok, r
        if r.batch in BATCH_SIZES:
            assert r.atol_gated and r.max_abs <= tol.atol, r
    # Quantized formats are held to each declared task on AGREEMENT_SAMPLES more inputs.
    tasks = {o: s.get("task") for o, s in zoo.info(name)["outputs"].items()}
    many = {r.output: r for r in report if r.batch == AGREEMENT_SAMPLES}
    for output, task in tasks.items():
        if task == "classification" and tol.min_top1_agreement is not None:
            r = many[output]
            assert r.top1_rows is not None and r.top1_agreement_all is not None, r
            if r.top1_rows:
                assert r.top1_agreement >= tol.min_top1_agreement, r
        if task == "embedding" and tol.min_cosine is not None:
            r = many[output]
            assert r.cosine_mean is not None and r.cosine_mean >= tol.min_cosine, r
            assert r.recall_rows is not None and r.recall_at_1_all is not None, r
            if r.recall_rows:
                assert r.keras_recall_at_1 - r.recall_at_1 <= tol.max_recall_drop, r
        if task == "reconstruction" and tol.max_psnr_drop_db is not None:
            if output in _targets(result.model):
                assert many[output].psnr_drop_db is not None, many[output]
            else:  # nothing to reconstruct against (the decoder alone): no PSNR entry
                assert output not in many or many[output].psnr_drop_db is None
    if not any(t for t in tasks.values()) or tol.min_top1_agreement is None:
        assert AGREEMENT_SAMPLES not in {r.batch for r in report}
    manifest = json.loads((result.path / "manifest.json").read_text())
    art = manifest["artifacts"][fmt]
    assert art["sha256"] == sha256_path(result.path / art["path"])
    assert art["tolerance"]["atol"] == tol.atol
    assert manifest["inputs"].keys() == zoo.info(name)["inputs"].keys()


def _targets(model):
    """Output names the model's family gives ground truth for (its ``targets`` hook)."""
    from zoo.exporters._subject import subject_for

    subject = subject_for(model, seed=0)
    return set(subject.targets(subject.samples(2, 0))) if subject.targets else set()


def test_families_with_parts_have_part_cases():
    """A family declaring parts gets its towers exported too (the list is not empty)."""
    with_parts = {REGISTRY.get(n).family.name for n in TINY_MODELS if _other_parts(n)}
    assert {"image_text_dual_encoder", "audio_text_dual_encoder"} <= with_parts
    assert {(n, p) for n, p, _ in PART_CASES} >= {
        ("image_text_dual_encoder_tiny", "image_tower"),
        ("image_text_dual_encoder_tiny", "text_tower"),
    }


@pytest.mark.parametrize(("name", "part", "fmt"), PART_CASES)
def test_part_export_parity_at_two_batch_sizes(name, part, fmt, tmp_path):
    result = export_model(name, tmp_path, formats=[fmt], seed=0, part=part)
    info = zoo.info(name, part=part)
    assert result.path.name == f"{name}.{part}"
    tol = tolerance(fmt, REGISTRY.get(name).family.name)
    report = result.parity[fmt]
    assert set(BATCH_SIZES) <= {r.batch for r in report}
    assert {r.output for r in report} == set(info["outputs"])
    for r in report:
        assert r.ok, r
        if r.batch in BATCH_SIZES:
            assert r.atol_gated and r.max_abs <= tol.atol, r
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["inputs"].keys() == info["inputs"].keys()
    assert len(info["inputs"]) < len(zoo.info(name)["inputs"])  # a tower reads fewer inputs

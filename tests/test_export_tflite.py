"""The tflite formats: builtin ops only, named I/O, runs without TensorFlow, int8 quality."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from conftest import ROOT
from zoo.exporters import FORMATS, export_model, load_runner, run_once, sample_inputs
from zoo.exporters._base import ExportContext
from zoo.exporters.formats import _tflite_convert as conv
from zoo.exporters.formats._tflite_flatbuffer import custom_ops, op_types
from zoo.exporters.formats.tflite import VARIANTS, TFLiteRunner
from zoo.exporters.tolerances import tolerance

import zoo
from zoo import ZooError
from zoo._registry import REGISTRY

NAME = "cnn_lstm_fusion_tiny"
TFLITE = [f"tflite:{v.name}" for v in VARIANTS]


def _context(name=NAME, calibration=None):
    entry = REGISTRY.get(name)
    _, outputs = entry.resolve({})
    inputs = dict(entry.recipe.inputs)
    return ExportContext(
        name,
        entry.family.name,
        inputs,
        outputs,
        calibration=calibration
        or (lambda n: (sample_inputs(inputs, 1, seed=50_000 + i) for i in range(n))),
    )


def _keras(model, inputs):
    return {k: np.asarray(v) for k, v in model(inputs, training=False).items()}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_model(NAME, tmp_path_factory.mktemp("tfl"), formats=["tflite"], seed=0)


@pytest.fixture(scope="module")
def inputs3():
    return sample_inputs(REGISTRY.get(NAME).recipe.inputs, 3, seed=21)


def test_every_variant_exports_and_validates_at_batch_1_and_3(exported):
    manifest = json.loads((exported.path / "manifest.json").read_text())
    assert sorted(manifest["artifacts"]) == sorted(TFLITE)
    for fmt in TFLITE:
        art = manifest["artifacts"][fmt]
        report = exported.parity[fmt]
        assert {1, 3} <= {r.batch for r in report}
        assert all(r.ok for r in report), report
        assert art["fixed_batch"] is None  # the batch axis stayed dynamic
        assert art["rnn_unrolled"] == ["text_lstm"]
        assert art["converter"]["supported_ops"] == ["TFLITE_BUILTINS"]
    assert manifest["artifacts"]["tflite:int8"]["converter"]["representative_samples"] > 0
    # Full int8 computes every op in integer; fp16 and dynamic-range kernels stay float.
    assert manifest["artifacts"]["tflite:int8"]["float_compute_ops"] == []
    for fmt in ("tflite:fp16", "tflite:dynamic_int8"):
        assert "CONV_2D" in manifest["artifacts"][fmt]["float_compute_ops"]


def test_quantized_files_are_smaller(exported):
    size = {fmt: (exported.path / FORMATS[fmt].artifact).stat().st_size for fmt in TFLITE}
    assert size["tflite:fp16"] < size["tflite:fp32"]
    assert size["tflite:dynamic_int8"] < size["tflite:fp16"]


def test_lstm_model_has_builtin_ops_only(exported):
    for fmt in TFLITE:
        blob = (exported.path / FORMATS[fmt].artifact).read_bytes()
        assert custom_ops(blob) == []
        ops = op_types(blob)
        assert not [op for op in ops if op.startswith("Flex")]
        assert "WHILE" not in ops  # the LSTM was unrolled, no loop left
        assert {"CONV_2D", "FULLY_CONNECTED", "GATHER"} <= set(ops)


def test_flex_ops_are_detected_and_refused(tmp_path):
    """Without unrolling, the dynamic-batch LSTM needs Flex TensorList ops (known trap).

    Allowing Flex ops shows the flatbuffer reader finds them and the standalone interpreter
    cannot run them; with builtins only, the converter failure becomes a ZooError naming them.
    """
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    ctx = _context()
    model = zoo.get(NAME, seed=0)
    traced = conv.trace_saved_model(model, ctx, tmp_path / "sm", batch=None, unroll=False)
    assert traced.unrolled == []
    assert traced.loops  # a While loop over time steps

    with pytest.raises(conv.NeedsFlexOps) as exc:
        conv.convert_saved_model(tmp_path / "sm", conv.TfliteSettings("fp32"), ctx=ctx)
    assert isinstance(exc.value, ZooError)
    assert any(op.startswith("TensorList") for op in exc.value.ops)
    assert "TensorListReserve" in str(exc.value)
    assert "builtin" in str(exc.value)

    flex = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "sm"))
    flex.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    flex._experimental_lower_tensor_list_ops = False
    blob = flex.convert()
    assert any(op.startswith("FlexTensorList") for op in custom_ops(blob))
    interpreter = Interpreter(model_content=blob)
    with pytest.raises(RuntimeError):
        interpreter.allocate_tensors()


def test_int8_is_refused_on_a_graph_with_a_loop():
    with pytest.raises(ZooError, match="loop"):
        conv.refuse_loops(["While"])
    conv.refuse_loops([])


def test_int8_warns_when_inputs_have_no_range():
    from zoo.exporters.formats.tflite import _warn_without_ranges

    from zoo._recipe import InputSpec

    ctx = _context()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_without_ranges(ctx)  # recipe inputs carry ranges: silent
    bare = {k: InputSpec(shape=v.shape, dtype=v.dtype) for k, v in ctx.inputs.items()}
    with pytest.warns(UserWarning, match="no recipe range"):
        _warn_without_ranges(ExportContext(NAME, None, bare, ctx.outputs, calibration=None))


def test_runs_without_tensorflow_in_a_subprocess(exported, inputs3, tmp_path):
    np.savez(tmp_path / "inputs.npz", **inputs3)
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from zoo.exporters.formats.tflite import load

        inputs = dict(np.load({str(tmp_path / "inputs.npz")!r}))
        outputs = {{}}
        for fmt, path in {[(f, str(exported.path / FORMATS[f].artifact)) for f in TFLITE]!r}:
            runner = load(path, num_threads=1)
            for name, value in runner.run(runner.prepare(inputs)).items():
                outputs[fmt + "/" + name] = value
        np.savez({str(tmp_path / "outputs.npz")!r}, **outputs)
        heavy = [m for m in ("tensorflow", "keras", "tf_keras") if m in sys.modules]
        assert heavy == [], heavy
        """
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = dict(np.load(tmp_path / "outputs.npz"))
    want = _keras(exported.model, inputs3)["probabilities"]
    for fmt in TFLITE:
        assert got[f"{fmt}/probabilities"].shape == want.shape
        np.testing.assert_allclose(
            got[f"{fmt}/probabilities"], want, atol=tolerance(fmt, "cnn_lstm_fusion").atol
        )


def test_inputs_are_matched_by_name_not_position(exported, inputs3):
    runner = load_runner("tflite:fp32", exported.path / "model_fp32.tflite")
    forward = {k: inputs3[k] for k in ("image", "tokens")}
    backward = {k: inputs3[k] for k in ("tokens", "image")}
    a, b = run_once(runner, forward), run_once(runner, backward)
    np.testing.assert_array_equal(a["probabilities"], b["probabilities"])
    want = _keras(exported.model, inputs3)["probabilities"]
    np.testing.assert_allclose(a["probabilities"], want, atol=tolerance("tflite:fp32").atol)
    with pytest.raises(ZooError, match="expects"):
        runner.prepare({"image": inputs3["image"], "text": inputs3["tokens"]})
    with pytest.raises(ZooError, match="batch sizes"):
        runner.prepare({"image": inputs3["image"], "tokens": inputs3["tokens"][:2]})


def test_runner_threads_default_to_cpu_count(exported):
    path = exported.path / "model_fp32.tflite"
    assert TFLiteRunner(path).num_threads == os.cpu_count()
    assert TFLiteRunner(path, num_threads=1).num_threads == 1


def test_fixed_batch_fallback_loops_over_rows(tmp_path, inputs3, monkeypatch):
    """A graph that needs Flex ops at a dynamic batch is retried at batch 1."""
    real = conv.convert_saved_model

    def flex_at_dynamic_batch(folder, variant, *, ctx):
        if "dynamic" in folder.name:
            raise conv.NeedsFlexOps("needs Flex at a dynamic batch (simulated)", ["Fake"])
        return real(folder, variant, ctx=ctx)

    monkeypatch.setattr(conv, "convert_saved_model", flex_at_dynamic_batch)
    model = zoo.get(NAME, seed=0)
    converted = conv.convert(model, _context(), conv.TfliteSettings("fp32"))
    assert converted.fixed_batch == 1
    assert converted.attempts == ["batch dynamic: needs ['Fake']"]

    path = tmp_path / "fixed.tflite"
    path.write_bytes(converted.blob)
    runner = TFLiteRunner(path)
    assert runner.fixed_batch == 1
    assert len(runner.prepare(inputs3)) == 3
    got = run_once(runner, inputs3)["probabilities"]
    want = _keras(model, inputs3)["probabilities"]
    np.testing.assert_allclose(got, want, atol=tolerance("tflite:fp32").atol)


def test_flex_at_every_batch_is_an_error(monkeypatch):
    def always_flex(folder, variant, *, ctx):
        raise conv.NeedsFlexOps("needs Flex (simulated)", ["Fake"])

    monkeypatch.setattr(conv, "convert_saved_model", always_flex)
    monkeypatch.setattr(conv, "trace_saved_model", lambda *a, **k: conv.Traced([], []))
    with pytest.raises(conv.NeedsFlexOps, match=r"simulated.*Tried: batch dynamic.*; batch 1"):
        conv.convert(object(), _context(), conv.TfliteSettings("fp32"))


def _generated(n, seed):
    """Images and tokens with a learnable 3-class rule.

    Class 0: a dark image (mean brightness below 128). Otherwise the tokens decide:
    class 1 if they come from the lower half of the vocabulary, class 2 from the upper
    half. Brightness near the threshold is left out so the classes are separable.
    """
    rng = np.random.default_rng(seed)
    dark = rng.random(n) < 1 / 3
    level = np.where(dark, rng.uniform(20, 100, n), rng.uniform(156, 235, n))
    noise = rng.normal(0.0, 20.0, (n, 32, 32, 3))
    image = np.clip(level[:, None, None, None] + noise, 0, 255).astype("float32")
    low = rng.random(n) < 0.5
    tokens = np.where(
        low[:, None], rng.integers(1, 50, (n, 16)), rng.integers(50, 100, (n, 16))
    ).astype("int32")
    label = np.where(dark, 0, np.where(low, 1, 2))
    return {"image": image, "tokens": tokens}, np.eye(3, dtype="float32")[label]


@pytest.fixture(scope="module")
def trained():
    """cnn_lstm_fusion_tiny trained on the generated rule, and 200 held-out examples."""
    model = zoo.get(NAME, seed=0)
    x, y = _generated(1500, seed=1)
    model.fit(x, {"probabilities": y}, epochs=4, batch_size=32, verbose=0)
    held_x, held_y = _generated(200, seed=2)
    want = _keras(model, held_x)["probabilities"]
    assert np.mean(want.argmax(1) == held_y.argmax(1)) >= 0.9, "the classifier did not learn"
    return model, held_x, want


@pytest.mark.parametrize("fmt", ["tflite:int8", "tflite:dynamic_int8"])
def test_int8_keeps_top1_of_a_trained_classifier(trained, fmt, tmp_path):
    model, held_x, want = trained
    spec = FORMATS[fmt]
    path = tmp_path / spec.artifact
    spec.write(model, path, _context())  # calibrated on the recipe's input ranges
    got = run_once(spec.load(path), held_x)["probabilities"]
    agreement = np.mean(got.argmax(1) == want.argmax(1))
    assert agreement >= 0.99, f"{fmt} top-1 agreement with Keras {agreement:.1%} < 99%"

"""ONNX export (``onnx:fp32``, ``onnx:int8``): contract, parity, standalone run, int8 accuracy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT
from zoo.exporters import FORMATS, export_model, load_runner, run_once, sample_inputs
from zoo.exporters._base import ExportContext
from zoo.exporters.formats import _onnx_graph
from zoo.exporters.formats import onnx as onnx_format
from zoo.exporters.formats._onnx_quant import CalibrationFeed, QuantSettings, quantize
from zoo.exporters.tolerances import tolerance
from zoo.exporters.validate import BATCH_SIZES

import zoo
from zoo import ZooError
from zoo._registry import REGISTRY

NAME = "cnn_lstm_fusion_tiny"
VARIANTS = ("onnx:fp32", "onnx:int8")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_model(NAME, tmp_path_factory.mktemp("onnx"), formats=["onnx"], seed=0)


@pytest.fixture(scope="module")
def manifest(exported):
    return json.loads((exported.path / "manifest.json").read_text())


def _artifact(exported, fmt):
    return exported.path / FORMATS[fmt].artifact


@pytest.mark.parametrize("fmt", VARIANTS)
def test_both_variants_validate_at_two_batch_sizes(exported, manifest, fmt):
    tol = tolerance(fmt, "cnn_lstm_fusion")
    report = exported.parity[fmt]
    assert {r.batch for r in report} >= set(BATCH_SIZES)
    assert {r.output for r in report} == {"probabilities"}
    assert all(r.max_abs <= tol.atol for r in report), report
    art = manifest["artifacts"][fmt]
    assert art["validated"] is True
    assert art["tolerance"]["atol"] == tol.atol
    assert all(p["ok"] for p in art["parity"])


@pytest.mark.parametrize("fmt", VARIANTS)
def test_graph_passes_full_check_with_recipe_names_and_symbolic_batch(exported, fmt):
    import onnx

    proto = onnx.load(str(_artifact(exported, fmt)))
    onnx.checker.check_model(proto, full_check=True)
    info = zoo.info(NAME)
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    assert opsets["ai.onnx"] == _onnx_graph.OPSET
    for values, specs in (
        (proto.graph.input, info["inputs"]),
        (proto.graph.output, info["outputs"]),
    ):
        assert sorted(v.name for v in values) == sorted(specs)
        for value in values:
            dims = value.type.tensor_type.shape.dim
            assert not dims[0].HasField("dim_value"), f"{value.name}: fixed batch {dims[0]}"
            assert dims[0].dim_param == _onnx_graph.BATCH_DIM
            assert [d.dim_value for d in dims[1:]] == specs[value.name]["shape"]
    dtypes = {
        v.name: _onnx_graph.ELEM_TYPES[v.type.tensor_type.elem_type] for v in proto.graph.input
    }
    assert dtypes == {name: spec["dtype"] for name, spec in info["inputs"].items()}


def test_runner_answers_at_a_third_batch_size(exported):
    x = sample_inputs(REGISTRY.get(NAME).recipe.inputs, 7, seed=21)
    want = exported.model(x, training=False)["probabilities"].numpy()
    got = run_once(load_runner("onnx:fp32", _artifact(exported, "onnx:fp32")), x)
    assert got["probabilities"].shape == (7, 3)
    np.testing.assert_allclose(got["probabilities"], want, atol=tolerance("onnx:fp32").atol)


def test_manifest_records_opset_ops_and_quantization(exported, manifest):
    import onnx

    fp32, int8 = manifest["artifacts"]["onnx:fp32"], manifest["artifacts"]["onnx:int8"]
    for art, fmt in ((fp32, "onnx:fp32"), (int8, "onnx:int8")):
        assert art["opset"] == _onnx_graph.OPSET
        assert art["runtime"] == "onnxruntime"
        assert art["converter"].startswith("tf2onnx")
        nodes = onnx.load(str(_artifact(exported, fmt))).graph.node
        assert sum(art["op_types"].values()) == len(nodes)
        assert art["graph"]["inputs"]["tokens"] == {"shape": ["batch", 16], "dtype": "int32"}
    assert "QuantizeLinear" not in fp32["op_types"]
    assert int8["op_types"]["QuantizeLinear"] > 0 and int8["op_types"]["DequantizeLinear"] > 0
    quant = int8["quantization"]
    assert quant["method"] == "static" and quant["format"] == "QDQ" and quant["per_channel"]
    assert quant["calibration_samples"] == onnx_format.INT8_SETTINGS.calibration_samples
    assert (
        int8["op_types"]["LSTM"] == 1 and int8["op_types"]["Gather"] == fp32["op_types"]["Gather"]
    )
    assert int8["fp32_graph_reused"] is True
    assert int8["bytes"] < fp32["bytes"]


def test_int8_quantizes_the_conv_and_keeps_the_lstm_float(exported):
    import onnx

    graph = onnx.load(str(_artifact(exported, "onnx:int8"))).graph
    producers = {out: node for node in graph.node for out in node.output}

    def dequantized_inputs(node):
        return [
            i for i in node.input if getattr(producers.get(i), "op_type", "") == "DequantizeLinear"
        ]

    by_type = {n.op_type: n for n in graph.node}
    assert len(dequantized_inputs(by_type["Conv"])) >= 2  # activation and weight
    lstm_weights = [producers.get(i) for i in by_type["LSTM"].input[1:3]]
    assert all(p is None or p.op_type != "DequantizeLinear" for p in lstm_weights)


def test_artifact_runs_without_tensorflow(exported, tmp_path):
    x = sample_inputs(REGISTRY.get(NAME).recipe.inputs, 5, seed=33)
    want = exported.model(x, training=False)["probabilities"].numpy()
    np.savez(tmp_path / "case.npz", want=want, **x)
    cases = [(f, str(_artifact(exported, f)), tolerance(f).atol) for f in VARIANTS]
    code = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from pathlib import Path
        from zoo.exporters import load_runner, run_once
        case = np.load({str(tmp_path / "case.npz")!r})
        x = {{"image": case["image"], "tokens": case["tokens"]}}
        for fmt, path, atol in {cases!r}:
            got = run_once(load_runner(fmt, Path(path)), x)["probabilities"]
            err = float(np.abs(got - case["want"]).max())
            assert got.shape == (5, 3) and err <= atol, (fmt, got.shape, err)
        heavy = [m for m in ("tensorflow", "keras", "tf2onnx") if m in sys.modules]
        assert not heavy, heavy
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")


def test_runner_names_missing_inputs_and_casts_dtypes(exported):
    runner = onnx_format.load(_artifact(exported, "onnx:fp32"), intra_op_num_threads=1)
    x = sample_inputs(REGISTRY.get(NAME).recipe.inputs, 2, seed=4)
    with pytest.raises(ZooError, match=r"missing \['tokens'\]"):
        runner.prepare({"image": x["image"]})
    prepared = runner.prepare(
        {"image": x["image"].astype("float64"), "tokens": x["tokens"].astype("int64")}
    )
    assert prepared["image"].dtype == np.float32 and prepared["tokens"].dtype == np.int32
    assert runner.threads == 1
    with pytest.raises(ZooError, match="intra_op_num_threads must be a positive integer"):
        onnx_format.load(_artifact(exported, "onnx:fp32"), intra_op_num_threads=0)


def test_int8_converts_afresh_when_the_weights_changed(tmp_path):
    model = zoo.get(NAME, seed=3)
    entry = REGISTRY.get(NAME)
    ctx = _context(
        entry, lambda n: (sample_inputs(entry.recipe.inputs, 1, seed=i) for i in range(n))
    )
    onnx_format.write_fp32(model, tmp_path / "model.onnx", ctx)
    kernel = model.get_layer("probabilities").kernel
    kernel.assign(kernel.numpy() * 2.0)
    extra = onnx_format.write_int8(model, tmp_path / "model_int8.onnx", ctx)
    assert extra["fp32_graph_reused"] is False
    x = sample_inputs(entry.recipe.inputs, 16, seed=5)
    got = run_once(onnx_format.load(tmp_path / "model_int8.onnx"), x)["probabilities"]
    want = model(x, training=False)["probabilities"].numpy()
    assert np.abs(got - want).max() <= tolerance("onnx:int8").atol


def test_dynamic_setting_quantizes_matmuls_without_calibration(exported, tmp_path):
    import onnx

    settings = QuantSettings(method="dynamic", op_types=("MatMul", "Gemm"))

    def no_calibration(count):
        raise AssertionError("dynamic quantization must not ask for calibration data")

    path = tmp_path / "dynamic.onnx"
    dtypes = {"image": "float32", "tokens": "int32"}
    info = quantize(
        _artifact(exported, "onnx:fp32"),
        path,
        settings=settings,
        calibration=no_calibration,
        dtypes=dtypes,
    )
    assert info["method"] == "dynamic" and "calibration_samples" not in info
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "MatMulInteger" in ops and "QuantizeLinear" not in ops and "LSTM" in ops
    x = sample_inputs(REGISTRY.get(NAME).recipe.inputs, 8, seed=6)
    want = exported.model(x, training=False)["probabilities"].numpy()
    got = run_once(onnx_format.load(path), x)["probabilities"]
    assert np.abs(got - want).max() <= tolerance("onnx:int8").atol


def test_quant_settings_reject_impossible_values():
    with pytest.raises(ZooError, match="calibration_samples >= 1, received 0"):
        QuantSettings(calibration_samples=0)
    with pytest.raises(ZooError, match="'static' or 'dynamic', received 'weekly'"):
        QuantSettings(method="weekly")


def _context(entry, calibration):
    return ExportContext(
        NAME,
        entry.family.name,
        dict(entry.recipe.inputs),
        dict(entry.outputs),
        calibration=calibration,
        params=entry.params,
    )


def test_calibration_feed_keeps_integer_inputs_and_names_missing_ones():
    examples = iter([{"image": np.ones((1, 2), "float64"), "tokens": np.ones((1, 2), "int64")}])
    feed = CalibrationFeed(examples, {"image": "float32", "tokens": "int32"})
    first = feed.get_next()
    assert first["image"].dtype == np.float32 and first["tokens"].dtype == np.int32
    assert feed.get_next() is None and feed.count == 1
    bad = CalibrationFeed(
        iter([{"image": np.ones((1, 2))}]), {"image": "float32", "tokens": "int32"}
    )
    with pytest.raises(ZooError, match="tokens"):
        bad.get_next()


def _tiny_graph(output_name, *, batch_dim=None):
    """A one-node ONNX graph Identity(x) -> output_name, built without TensorFlow."""
    from onnx import TensorProto, helper

    first = batch_dim if batch_dim is not None else "N"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [first, 2])
    y = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [first, 2])
    node = helper.make_node("Relu", ["x"], [output_name])
    graph = helper.make_graph([node], "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", _onnx_graph.OPSET)])


def _spec(shape):
    return REGISTRY.get(NAME).recipe.inputs["image"].model_copy(update={"shape": shape})


def test_conform_renames_outputs_and_names_the_batch_axis():
    proto = _onnx_graph.conform(_tiny_graph("Identity:0"), {"x": _spec([2])}, {"y": _spec([2])})
    assert [o.name for o in proto.graph.output] == ["y"]
    assert proto.graph.node[0].output[0] == "y"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_conform_rejects_a_fixed_batch_and_foreign_inputs():
    with pytest.raises(ZooError, match="fixed leading dimension 1"):
        _onnx_graph.conform(_tiny_graph("y", batch_dim=1), {"x": _spec([2])}, {"y": _spec([2])})
    with pytest.raises(ZooError, match=r"expected the recipe inputs \['image'\]"):
        _onnx_graph.conform(_tiny_graph("y"), {"image": _spec([2])}, {"y": _spec([2])})


def test_rename_refuses_to_shadow_an_existing_tensor():
    proto = _tiny_graph("y")
    with pytest.raises(ZooError, match="already has a tensor named 'x'"):
        _onnx_graph.rename_value(proto.graph, "y", "x")


# --- int8 accuracy on a trained classifier --------------------------------------------------

TRAIN, HELD_OUT = 1536, 200


def _rule_data(count, seed):
    """Images and tokens whose class is decided by brightness and by the last token.

    Class 0: dark image. Class 1: bright image, last token below 50. Class 2: bright image,
    last token 50 or above. Pixels are noisy (0-255), the other tokens are random.
    """
    rng = np.random.default_rng(seed)
    bright = rng.random(count) < 2 / 3
    base = np.where(bright, 170.0, 70.0)[:, None, None, None]
    image = np.clip(base + rng.normal(0, 40, size=(count, 32, 32, 3)), 0, 255).astype("float32")
    tokens = rng.integers(1, 100, size=(count, 16)).astype("int32")
    label = np.where(bright, 1 + (tokens[:, -1] >= 50), 0)
    return {"image": image, "tokens": tokens}, label


@pytest.fixture(scope="module")
def trained():
    import keras

    model = zoo.get(NAME, seed=0, learning_rate=3e-3)
    x, y = _rule_data(TRAIN, seed=0)
    model.fit(
        x, {"probabilities": keras.utils.to_categorical(y, 3)}, epochs=12, batch_size=32, verbose=0
    )
    return model


def test_int8_top1_agrees_with_keras_on_a_trained_classifier(trained, tmp_path):
    entry = REGISTRY.get(NAME)
    x, y = _rule_data(HELD_OUT, seed=1)
    keras_top1 = trained.predict(x, verbose=0)["probabilities"].argmax(axis=1)
    assert np.mean(keras_top1 == y) >= 0.9, "the classifier did not learn the rule"

    def calibration(count):  # realistic inputs from the same generator, not the held-out set
        data, _ = _rule_data(count, seed=2)
        return ({k: v[i : i + 1] for k, v in data.items()} for i in range(count))

    path = tmp_path / "model_int8.onnx"
    onnx_format.write_int8(trained, path, _context(entry, calibration))
    int8 = run_once(onnx_format.load(path), x)["probabilities"]
    agreement = float(np.mean(int8.argmax(axis=1) == keras_top1))
    assert agreement >= 0.99, f"int8 top-1 agreement {agreement:.1%} on {HELD_OUT} examples"

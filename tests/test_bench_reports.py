"""Benchmark reports: plots, run comparison with a noise-aware verdict, model cards.

Synthetic ``results.json`` data is made by :func:`make_results`, which follows the schema
written by ``zoo bench`` (schema_version 1) key for key.
"""

from __future__ import annotations

import copy
import json
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

NAME = "cnn_lstm_fusion_tiny"

#: backend → (runtime, precision, description, p50 ms at batch 1 and 1 thread)
BACKENDS: dict[str, tuple[str, str, str, float]] = {
    "keras_predict": ("keras", "fp32", "model.predict", 42.0),
    "keras_call": ("keras", "fp32", "direct call", 6.5),
    "tf_function": ("tensorflow", "fp32", "tf.function, reduce_retracing", 2.4),
    "xla": ("tensorflow", "fp32", "tf.function(jit_compile=True)", 1.9),
    "saved_model": ("tensorflow", "fp32", "reloaded serving_default", 2.7),
    "tflite:fp32": ("litert", "fp32", "LiteRT interpreter", 0.9),
    "tflite:fp16": ("litert", "fp16", "LiteRT interpreter, fp16 weights", 1.0),
    "tflite:int8": ("litert", "int8", "LiteRT interpreter, full int8", 0.45),
    "onnx:fp32": ("onnxruntime", "fp32", "onnxruntime, ORT_ENABLE_ALL", 0.7),
    "onnx:int8": ("onnxruntime", "int8", "onnxruntime, static QDQ", 0.4),
    "openvino:f32": ("openvino", "fp32", "OpenVINO CPU, f32 hint", 0.8),
    "openvino:bf16": ("openvino", "bf16", "OpenVINO CPU, bf16 hint", 0.6),
}


def make_stats(p50: float, *, batch: int, spread: float = 0.02, n: int = 120) -> dict[str, Any]:
    """Stats of one timed series whose 95% CI of the median is ``p50 · (1 ± spread)``."""
    return {
        "n": n,
        "p50_ms": p50,
        "p90_ms": p50 * 1.1,
        "p99_ms": p50 * 1.35,
        "mean_ms": p50 * 1.03,
        "std_ms": p50 * 0.08,
        "ci95_low_ms": p50 * (1 - spread),
        "ci95_high_ms": p50 * (1 + spread),
        "items_per_s": batch * 1000.0 / p50,
    }


def make_row(
    backend: str,
    *,
    batch: int = 1,
    threads: int = 1,
    p50: float | None = None,
    spread: float = 0.02,
    skipped: str | None = None,
    parity_ok: bool = True,
) -> dict[str, Any]:
    """One row of results.json; ``p50`` defaults to a plausible value for the backend."""
    runtime, precision, description, base = BACKENDS[backend]
    if p50 is None:
        p50 = base * batch**0.7 / threads**0.6
    timed = skipped is None
    return {
        "backend": backend,
        "runtime": runtime,
        "precision": precision,
        "description": description,
        "batch": batch,
        "threads": threads,
        "stats": make_stats(p50, batch=batch, spread=spread) if timed else None,
        "cold_start_ms": {"load": 350.0, "first_inference": 12.0, "total": 362.0}
        if timed
        else None,
        "peak_rss_mb": 180.5 if timed else None,
        "size_bytes": 204_800 if timed and backend not in ("keras_call", "tf_function") else None,
        "max_abs_vs_keras": (0.0 if parity_ok else 0.3) if timed else None,
        "parity_ok": parity_ok if timed else None,
        "speedup_vs_predict": None,  # filled by make_results
        "self_check": {"bare_loop_mean_ms": p50, "runner_mean_ms": p50 * 1.003, "ratio": 0.997}
        if timed and backend == "onnx:fp32"
        else None,
        "skipped": skipped,
    }


def make_results(
    *,
    name: str = NAME,
    batches: tuple[int, ...] = (1,),
    threads: tuple[int, ...] = (1,),
    backends: tuple[str, ...] = tuple(BACKENDS),
    skipped: dict[str, str] | None = None,
    parity_fail: tuple[str, ...] = (),
    cpu: str = "AMD EPYC 7B13 64-Core Processor",
    rows: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A complete results.json dict (schema_version 1); ``rows`` replaces the generated rows."""
    skipped = {"openvino:bf16": "CPU has no avx512_bf16"} if skipped is None else skipped
    if rows is None:
        rows = [
            make_row(b, batch=n, threads=t, skipped=skipped.get(b), parity_ok=b not in parity_fail)
            for b in backends
            for n in batches
            for t in threads
        ]
    predict = {
        (r["batch"], r["threads"]): r["stats"]["p50_ms"]
        for r in rows
        if r["backend"] == "keras_predict" and r["stats"]
    }
    for r in rows:
        if r["stats"] and (r["batch"], r["threads"]) in predict:
            r["speedup_vs_predict"] = predict[(r["batch"], r["threads"])] / r["stats"]["p50_ms"]
    return {
        "schema_version": 1,
        "name": name,
        "created": "2026-11-24T19:30:00+00:00",
        "settings": {
            "batches": list(batches),
            "threads": list(threads),
            "quick": False,
            "seed": 0,
            "max_seconds": 5.0,
            "target_ci": 0.02,
            "target": name,
        },
        "environment": {
            "cpu": {"model": cpu, "flags": ["avx2", "fma"], "cores": 2},
            "os": "Linux-6.1-x86_64",
            "versions": {"python": "3.11.7", "tensorflow": "2.21.0", "onnxruntime": "1.32.0"},
            "threads": {"OMP_NUM_THREADS": ""},
            "git_commit": "abc1234",
        },
        "export": {
            "path": f"runs/20261124-193000-{name}/artifacts/{name}",
            "parity": {"saved_model": 0.0, "tflite:fp32": 1.2e-7},
        },
        "rows": rows,
        "recommended": {"fp32": "onnx:fp32", "int8": "onnx:int8", "fp16": "tflite:fp16"},
    }


def timed(results: dict[str, Any], backend: str, **where: int) -> dict[str, Any]:
    """The row of ``backend`` (at ``batch``/``threads`` if given) in ``results``."""
    for row in results["rows"]:
        if row["backend"] == backend and all(row[k] == v for k, v in where.items()):
            return row
    raise KeyError((backend, where))


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file, after checking its signature and header."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# --- plots ---------------------------------------------------------------------------


def test_plots_for_a_sweep_are_valid_pngs(tmp_path):
    from matplotlib.image import imread
    from zoo.benchmarks.plots import write_plots

    backends = ("keras_predict", "saved_model", "tflite:int8", "onnx:fp32", "openvino:bf16")
    results = make_results(
        backends=backends, batches=(1, 8, 32), threads=(1, 2), parity_fail=("tflite:int8",)
    )
    paths = write_plots(results, tmp_path / "run")
    assert [p.name for p in paths] == ["latency.png", "batch_sweep.png", "threads_sweep.png"]
    for path in paths:
        width, height = png_size(path)
        assert width >= 600 and height >= 300
        assert path.stat().st_size > 10_000
        assert imread(path).shape[:2] == (height, width)  # decodes completely
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(p.name for p in paths)


def test_one_batch_one_thread_count_gives_only_the_latency_plot(tmp_path):
    from zoo.benchmarks.plots import write_plots

    paths = write_plots(make_results(batches=(1,), threads=(2,)), tmp_path)
    assert [p.name for p in paths] == ["latency.png"]
    png_size(paths[0])


def test_latency_bars_fastest_first_at_batch_1_and_most_threads():
    from zoo.benchmarks.plots import latency_bars

    results = make_results(batches=(1, 8), threads=(1, 2), parity_fail=("onnx:int8",))
    batch, threads, bars = latency_bars(results)
    assert (batch, threads) == (1, 2)
    assert "openvino:bf16" not in {b.backend for b in bars}  # skipped
    assert len(bars) == len(BACKENDS) - 1
    p50 = [b.p50_ms for b in bars]
    assert p50 == sorted(p50)
    for bar in bars:
        row = timed(results, bar.backend, batch=1, threads=2)
        assert (bar.p50_ms, bar.p99_ms) == (row["stats"]["p50_ms"], row["stats"]["p99_ms"])
    flagged = [b.backend for b in bars if "parity FAIL" in b.label]
    assert flagged == ["onnx:int8"]


def test_all_backends_skipped_writes_no_plot(tmp_path):
    from zoo.benchmarks.plots import write_plots

    results = make_results(
        backends=("openvino:bf16", "xla"), skipped={"xla": "no XLA", "openvino:bf16": "no bf16"}
    )
    assert write_plots(results, tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_plots_reject_data_that_is_not_results(tmp_path):
    from zoo.benchmarks.plots import write_plots

    from zoo import ZooError

    with pytest.raises(ZooError, match="'rows' list"):
        write_plots({"name": "x"}, tmp_path)


# --- compare -------------------------------------------------------------------------


def with_p50(results: dict[str, Any], backend: str, p50: float, *, spread: float = 0.02):
    """A copy of ``results`` where ``backend`` (batch 1, threads 1) has median ``p50``."""
    out = copy.deepcopy(results)
    timed(out, backend, batch=1, threads=1)["stats"] = make_stats(p50, batch=1, spread=spread)
    return out


def pair(p50_a: float, p50_b: float, *, spread: float) -> tuple[dict, dict]:
    base = make_results(backends=("keras_predict", "onnx:fp32"))
    return (
        with_p50(base, "onnx:fp32", p50_a, spread=spread),
        with_p50(base, "onnx:fp32", p50_b, spread=spread),
    )


def test_clearly_faster():
    from zoo.benchmarks.compare import compare_runs

    result = compare_runs(*pair(1.0, 0.5, spread=0.02))
    row = next(r for r in result.rows if r.backend == "onnx:fp32")
    assert (row.verdict, row.ratio, row.regression) == ("faster", 0.5, False)
    assert result.exit_code == 0
    assert next(r for r in result.rows if r.backend == "keras_predict").verdict == "same"


def test_clearly_slower_beyond_threshold_is_a_regression_and_exits_1():
    from zoo.benchmarks.compare import compare_runs

    result = compare_runs(*pair(1.0, 1.5, spread=0.02), threshold=0.10)
    row = next(r for r in result.rows if r.backend == "onnx:fp32")
    assert (row.verdict, row.regression) == ("slower", True)
    assert row.ratio == pytest.approx(1.5)
    assert result.regressions == [row]
    assert result.exit_code == 1


@pytest.mark.parametrize(
    ("p50_b", "spread", "threshold", "verdict", "regression"),
    [
        # CIs [0.7, 1.3] and [0.875, 1.625] overlap: noise, whatever the ratio says
        (1.25, 0.30, 0.10, "same", False),
        # tight CIs that do not overlap, but the change is under threshold / 2
        (1.04, 0.001, 0.10, "same", False),
        (0.96, 0.001, 0.10, "same", False),
        # beyond noise and beyond threshold / 2, yet not beyond the threshold
        (1.07, 0.001, 0.10, "slower", False),
        # the same change with a tighter threshold is a regression
        (1.07, 0.001, 0.05, "slower", True),
        (0.90, 0.001, 0.10, "faster", False),
    ],
)
def test_verdict_is_noise_aware(p50_b, spread, threshold, verdict, regression):
    from zoo.benchmarks.compare import compare_runs

    result = compare_runs(*pair(1.0, p50_b, spread=spread), threshold=threshold)
    row = next(r for r in result.rows if r.backend == "onnx:fp32")
    assert (row.verdict, row.regression) == (verdict, regression)
    assert row.ratio == pytest.approx(p50_b)
    assert result.exit_code == int(regression)


def test_rows_only_in_one_run_and_skipped_rows():
    from zoo.benchmarks.compare import compare_runs

    a = make_results(backends=("keras_predict", "onnx:fp32", "tflite:fp32", "openvino:bf16"))
    b = make_results(
        backends=("keras_predict", "onnx:fp32", "onnx:int8", "openvino:bf16"),
        batches=(1, 8),
        skipped={"openvino:bf16": "CPU has no avx512_bf16", "onnx:fp32": "onnxruntime missing"},
    )
    result = compare_runs(a, b)
    verdicts = {(r.backend, r.batch): r.verdict for r in result.rows}
    assert verdicts[("tflite:fp32", 1)] == "only in A"
    assert verdicts[("onnx:int8", 1)] == "only in B"
    assert verdicts[("keras_predict", 8)] == "only in B"
    assert verdicts[("onnx:fp32", 1)] == "skipped"
    assert verdicts[("openvino:bf16", 1)] == "skipped"
    skipped = next(r for r in result.rows if r.backend == "onnx:fp32" and r.batch == 1)
    assert "B: onnxruntime missing" in skipped.note and skipped.ratio is None
    assert [r.backend for r in result.rows][:4] == [r["backend"] for r in a["rows"]]
    assert result.exit_code == 0


def test_parity_change_and_other_cpu_are_reported():
    from zoo.benchmarks.compare import compare_runs

    a = make_results(backends=("keras_predict", "onnx:int8"))
    b = make_results(
        backends=("keras_predict", "onnx:int8"), parity_fail=("onnx:int8",), cpu="Intel Xeon"
    )
    result = compare_runs(a, b)
    row = next(r for r in result.rows if r.backend == "onnx:int8")
    assert row.note.startswith("parity now fails")
    assert any("CPU differs" in w and "Intel Xeon" in w for w in result.warnings)
    assert not compare_runs(a, copy.deepcopy(a)).warnings


def test_render_compare_lists_every_row_and_the_regression():
    from rich.console import Console
    from zoo.benchmarks.compare import compare_runs, render_compare

    result = compare_runs(*pair(1.0, 1.5, spread=0.02))
    table = render_compare(result)
    assert table.row_count == len(result.rows) == 2
    console = Console(record=True, width=200, color_system=None)
    console.print(table)
    text = console.export_text()
    assert "onnx:fp32" in text and "REGRESSION" in text and "1.500" in text
    assert "±2%" in text  # half-width of the CI, as a share of the median


def test_rows_moving_both_ways_beyond_noise_warn_of_machine_drift():
    from zoo.benchmarks.compare import compare_runs

    backends = ("keras_predict", "saved_model", "onnx:fp32", "onnx:int8", "tflite:fp32")
    a = make_results(backends=backends)
    b = copy.deepcopy(a)
    for backend, factor in (("saved_model", 0.5), ("onnx:fp32", 0.6), ("onnx:int8", 1.5)):
        b = with_p50(b, backend, timed(a, backend)["stats"]["p50_ms"] * factor)
    one_way = compare_runs(a, b)
    assert not any("load probably differed" in w for w in one_way.warnings)  # 2 faster, 1 slower
    b = with_p50(b, "tflite:fp32", timed(a, "tflite:fp32")["stats"]["p50_ms"] * 2)
    both_ways = compare_runs(a, b)
    assert any("2 rows got faster and 2 slower" in w for w in both_ways.warnings)
    assert both_ways.exit_code == 1  # a warning, not a change of verdict


@pytest.mark.parametrize("threshold", [0, -0.1, float("nan"), "10%", True])
def test_compare_rejects_a_bad_threshold(threshold):
    from zoo.benchmarks.compare import compare_runs

    from zoo import ZooError

    with pytest.raises(ZooError, match="threshold"):
        compare_runs(make_results(), make_results(), threshold=threshold)


# --- load_run ------------------------------------------------------------------------


def write_run(folder: Path, results: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = results if isinstance(results, str) else json.dumps(results)
    (folder / "results.json").write_text(text)
    return folder


def test_load_run_takes_a_folder_or_the_file(tmp_path):
    from zoo.benchmarks.compare import load_run

    results = make_results()
    run = write_run(tmp_path / "20261124-193000-x", results)
    assert load_run(run).as_data() == results
    assert load_run(run / "results.json").as_data() == results
    assert load_run(str(run)).as_data() == results


def test_load_run_errors_name_what_was_received(tmp_path):
    from zoo.benchmarks.compare import load_run

    from zoo import ZooError

    with pytest.raises(ZooError, match=r"nowhere: no such file or folder; expected a run folder"):
        load_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ZooError, match=r"empty is a folder without results.json"):
        load_run(tmp_path / "empty")
    with pytest.raises(ZooError, match=r"not valid JSON"):
        load_run(write_run(tmp_path / "broken", '{"schema": 1, "rows": ['))
    old = {"name": "x", "rows": [], "export_parity_max_abs": {}}  # the pre-schema format
    with pytest.raises(ZooError, match=r"schema None; expected schema 1"):
        load_run(write_run(tmp_path / "old", old))
    with pytest.raises(ZooError, match=r"expected a JSON object"):
        load_run(write_run(tmp_path / "list", "[]"))


def test_load_run_rejects_malformed_rows(tmp_path):
    from zoo.benchmarks.compare import load_run

    from zoo import ZooError

    twice = make_results(backends=("onnx:fp32",))
    twice["rows"].append(copy.deepcopy(twice["rows"][0]))
    with pytest.raises(ZooError, match=r"rows\[1\] repeats backend 'onnx:fp32' at batch 1"):
        load_run(write_run(tmp_path / "twice", twice))
    no_threads = make_results(backends=("onnx:fp32",))
    del no_threads["rows"][0]["threads"]
    with pytest.raises(ZooError, match=r"results.json: rows\[0\]\.threads is missing"):
        load_run(write_run(tmp_path / "threads", no_threads))
    zero = make_results(backends=("onnx:fp32",))
    zero["rows"][0]["stats"]["p50_ms"] = 0.0
    with pytest.raises(ZooError, match=r"stats.p50_ms is 0.0; expected a positive number"):
        load_run(write_run(tmp_path / "zero", zero))


# --- model card ----------------------------------------------------------------------


def card_table_row(card: str, first_cell: str, second_cell: str | None = None) -> list[str]:
    """Cells of the Markdown table row whose first (and second) cell are given."""
    for line in card.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        wanted = cells[0] == first_cell and second_cell in (None, cells[1])
        if line.startswith("|") and wanted:
            return cells
    raise AssertionError(f"no table row {first_cell} {second_cell or ''} in the card")


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """A run folder of NAME: synthetic results.json and a real (keras-only) export."""
    from zoo.exporters import export_model

    run = tmp_path_factory.mktemp("runs") / f"20261124-193000-{NAME}"
    results = make_results(threads=(1, 2), parity_fail=("tflite:int8",))
    write_run(run, results)
    export_model(NAME, run / "artifacts", formats=["keras"], seed=0)
    return run, results


@pytest.fixture
def fake_graphviz(monkeypatch):
    """``dot`` "found" and ``plot_model`` replaced by a stub writing a tiny PNG."""
    import keras

    calls = []

    def plot_model(model, to_file, **kwargs):
        calls.append({"model": model.name, "to_file": to_file, **kwargs})
        Path(to_file).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)

    monkeypatch.setattr("shutil.which", lambda cmd, *a, **k: f"/fake/bin/{cmd}")
    monkeypatch.setattr(keras.utils, "plot_model", plot_model)
    return calls


def test_model_card_sections_and_numbers(bench_run, fake_graphviz):
    import zoo
    from zoo._analysis import count_params, flops_per_example
    from zoo._registry import REGISTRY
    from zoo.cards import write_model_card

    run, results = bench_run
    path = write_model_card(NAME, run_dir=run)
    assert path == run / "MODEL_CARD.md"
    card = path.read_text()
    headings = [
        f"# Model card: {NAME}",
        "## Inputs and outputs",
        "## Recipe parameters",
        "## Size and compute",
        "## Architecture",
        "## Exported formats",
        "## Benchmark",
    ]
    for heading in headings:
        assert f"\n{heading}\n" in f"\n{card}"
    info = zoo.info(NAME)
    assert info["description"] in card
    assert "`tiny`" in card and "`fusion`" in card
    for kind, specs in (("input", info["inputs"]), ("output", info["outputs"])):
        for io_name, spec in specs.items():
            cells = card_table_row(card, kind, f"`{io_name}`")
            assert cells[2:4] == [str(spec["shape"]), spec["dtype"]]

    model = zoo.get(NAME, seed=0)
    counts = count_params(model)
    flops = flops_per_example(model, REGISTRY.get(NAME).recipe.inputs)
    assert card_table_row(card, f"{counts['total']:,}") == [
        f"{counts['total']:,}",
        f"{counts['trainable']:,}",
        f"{counts['non_trainable']:,}",
        f"{flops:,}",
    ]
    assert "random initialisation" in card  # weights source of a recipe without weights

    # diagram: plot_model was called and its PNG sits next to the card
    assert [c["model"] for c in fake_graphviz] == [NAME]
    assert f"]({NAME}_architecture.png)" in card
    assert (run / f"{NAME}_architecture.png").is_file()
    assert not list(run.glob(".*tmp*"))

    # exported formats: from the real manifest of the run's export
    manifest = json.loads((run / "artifacts" / NAME / "manifest.json").read_text())
    art = manifest["artifacts"]["keras"]
    cells = card_table_row(card, "`keras`")
    assert cells[4] == f"{max(p['max_abs'] for p in art['parity']):.1e}"
    assert cells[5] == f"atol {art['tolerance']['atol']:g}"
    assert cells[7] == "pass"

    # benchmark: every timed batch-1 row, numbers as in results.json
    for row in results["rows"]:
        if row["batch"] != 1 or row["stats"] is None:
            continue
        s = row["stats"]
        cells = card_table_row(card, f"`{row['backend']}`", str(row["threads"]))
        assert cells[2:5] == [f"{s['p50_ms']:.3f}", f"{s['p90_ms']:.3f}", f"{s['items_per_s']:.1f}"]
        assert cells[6] == f"{row['speedup_vs_predict']:.1f}×"
        assert ("over tolerance" in cells[5]) == (row["parity_ok"] is False)
    assert "skipped `openvino:bf16`: CPU has no avx512_bf16" in card
    for precision, backend in results["recommended"].items():
        assert f"{precision}: `{backend}`" in card
    assert results["environment"]["cpu"]["model"] in card


def test_model_card_without_graphviz_falls_back_to_the_text_summary(tmp_path, monkeypatch):
    import zoo._analysis
    from zoo.cards import write_model_card

    monkeypatch.setattr("shutil.which", lambda cmd, *a, **k: None)
    monkeypatch.setattr(zoo._analysis, "flops_per_example", lambda model, inputs: 123)
    monkeypatch.chdir(tmp_path)
    path = write_model_card(NAME)
    assert path == tmp_path / "MODEL_CARD.md"
    card = path.read_text()
    assert "graphviz" in card and "apt-get install graphviz" in card
    assert "`dot` program was not found" in card
    assert "text_lstm (LSTM)" in card and "Total params: 30,563" in card
    assert not list(tmp_path.glob("*.png"))
    assert "No benchmark results (no run folder given)" in card
    assert "No export manifest found" in card


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
def test_model_card_draws_a_real_diagram_with_graphviz(tmp_path, monkeypatch):
    import zoo._analysis
    from zoo.cards import write_model_card

    monkeypatch.setattr(zoo._analysis, "flops_per_example", lambda model, inputs: 123)
    path = write_model_card(NAME, out=tmp_path / "cards" / "tiny.md")
    assert path == tmp_path / "cards" / "tiny.md"
    width, height = png_size(tmp_path / "cards" / f"{NAME}_architecture.png")
    assert width > 200 and height > 200
    assert f"]({NAME}_architecture.png)" in path.read_text()


def test_model_card_refuses_a_run_of_another_model(tmp_path):
    from zoo import UnknownModelError, ZooError
    from zoo.cards import write_model_card

    run = write_run(tmp_path / "20261124-193000-other", make_results(name="other"))
    with pytest.raises(ZooError, match=r"is a run of 'other'; expected a run of"):
        write_model_card(NAME, run_dir=run)
    with pytest.raises(ZooError, match=r"is not a folder"):
        write_model_card(NAME, run_dir=tmp_path / "missing")
    with pytest.raises(UnknownModelError):
        write_model_card("no_such_model", run_dir=run)


def test_latest_run_picks_the_newest_finished_run_of_that_model(tmp_path):
    from zoo.cards import latest_run

    assert latest_run(NAME, tmp_path / "nothing") is None
    write_run(tmp_path / f"20261124-100000-{NAME}", make_results())
    newest = write_run(tmp_path / f"20261125-090000-{NAME}", make_results())
    write_run(tmp_path / f"20261126-090000-{NAME}_deep", make_results())  # another model
    (tmp_path / f"20261127-090000-{NAME}").mkdir()  # interrupted: no results.json
    write_run(tmp_path / f"2026-{NAME}", make_results())  # not a run folder name
    assert latest_run(NAME, tmp_path) == newest
    assert latest_run("cnn_lstm_fusion", tmp_path) is None

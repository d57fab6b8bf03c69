"""Model cards: one Markdown page per model from its recipe, the built model and a run.

``MODEL_CARD.md`` holds the description and tags, the I/O contract, the recipe params,
parameter count and FLOPs per example, where the weights come from, an architecture
diagram (``keras.utils.plot_model``, needs pydot and graphviz' ``dot``; else the text
summary with a note), the exported formats with their measured parity (from the run's
``artifacts/<name>/manifest.json``) and the batch-1 benchmark table (from ``results.json``).

Example:
    >>> from zoo.cards import latest_run, write_model_card
    >>> write_model_card("cnn_lstm_fusion", run_dir=latest_run("cnn_lstm_fusion"))  # doctest: +SKIP
    PosixPath('runs/20261124-193000-cnn_lstm_fusion/MODEL_CARD.md')
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError
from zoo.exporters.validate import task_summary, worst_gated_error

if TYPE_CHECKING:
    from zoo.benchmarks.results import ResultRow, Results
    from zoo.exporters.manifest import ArtifactRecord, Manifest, ToleranceRecord

CARD = "MODEL_CARD.md"
RESULTS = "results.json"
MANIFEST = "manifest.json"
GRAPHVIZ_INSTALL = "apt-get install graphviz"
#: Width of the text summary used when no diagram can be drawn.
SUMMARY_WIDTH = 110
_RUN_NAME = re.compile(r"^(?P<stamp>\d{8}-\d{6})-(?P<name>.+)$")


def latest_run(name: str, runs: Path = Path("runs")) -> Path | None:
    """The newest finished run folder of ``name`` under ``runs``, or ``None``.

    Run folders are ``<YYYYmmdd-HHMMSS>-<name>/``; the name must match exactly (so
    ``cnn_lstm_fusion`` does not pick up ``cnn_lstm_fusion_tiny``) and the folder must
    hold a ``results.json`` (an interrupted run does not count).

    Example:
        >>> latest_run("cnn_lstm_fusion")  # doctest: +SKIP
        PosixPath('runs/20261124-193000-cnn_lstm_fusion')
    """
    runs = Path(runs)
    if not runs.is_dir():
        return None
    found = []
    for folder in runs.iterdir():
        match = _RUN_NAME.match(folder.name)
        if match and match["name"] == name and (folder / RESULTS).is_file():
            found.append((match["stamp"], folder))
    return max(found)[1] if found else None


def write_model_card(name: str, *, run_dir: Path | None = None, out: Path | None = None) -> Path:
    """Write ``MODEL_CARD.md`` for a registered model (builds it with seed 0).

    Args:
        name: Registered model name.
        run_dir: A ``zoo bench`` run folder of this model: adds the exported formats with
            their parity and the benchmark table. Without it the card has neither.
        out: Folder for ``MODEL_CARD.md``, or a file path ending in ``.md``. Default:
            ``run_dir`` if given, else the current folder. The architecture diagram
            (``<name>_architecture.png``) goes next to the card.

    Returns:
        The path of the card.

    Raises:
        UnknownModelError: ``name`` is not registered.
        ZooError: ``run_dir`` is not a folder, its ``results.json`` is invalid, or it is a
            run of another model.

    Example:
        >>> write_model_card("cnn_lstm_fusion_tiny", out=Path("cards"))  # doctest: +SKIP
        PosixPath('cards/MODEL_CARD.md')
    """
    import zoo

    info = zoo.info(name)  # unknown names fail here, before any TensorFlow import
    results = _results(name, run_dir)
    card = _card_path(run_dir, out)
    card.parent.mkdir(parents=True, exist_ok=True)
    model = zoo.get(name, seed=0)
    lines = [
        *_header(info),
        *_io_section(info),
        *_params_section(info),
        *_size_section(model, name, info),
        *_architecture_section(model, card.with_name(f"{name}_architecture.png")),
        *_formats_section(_manifest(name, run_dir, results), results, base=card.parent),
        *_bench_section(results, run_dir),
        *_footer(),
    ]
    _write_text(card, "\n".join(lines))
    return card


# --- inputs --------------------------------------------------------------------------


def _card_path(run_dir: Path | None, out: Path | None) -> Path:
    if out is not None:
        out = Path(out)
        return out if out.suffix.lower() == ".md" else out / CARD
    return (Path(run_dir) if run_dir is not None else Path.cwd()) / CARD


def _results(name: str, run_dir: Path | None) -> Results | None:
    """The run's results (checked), ``None`` without a run or without results.json."""
    if run_dir is None:
        return None
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ZooError(
            f"run_dir {str(run_dir)!r} is not a folder; expected a run folder written by "
            f"`zoo bench {name}` (runs/<stamp>-{name}/), or no run_dir."
        )
    if not (run_dir / RESULTS).is_file():
        return None
    from zoo.benchmarks.compare import load_run

    results = load_run(run_dir)
    if results.name != name:
        raise ZooError(
            f"{run_dir / RESULTS} is a run of {results.name!r}; expected a run of "
            f"{name!r}. Pass that model's run folder (see latest_run({name!r}))."
        )
    return results


def _manifest(
    name: str, run_dir: Path | None, results: Results | None
) -> tuple[Path, Manifest] | None:
    """The export manifest: ``run_dir/artifacts/<name>/`` or the folder the run timed.

    Raises:
        ZooError: a manifest is there but cannot be read (see
            :func:`zoo.exporters.manifest.load_manifest`).
    """
    from zoo.exporters.manifest import load_manifest

    candidates = []
    if run_dir is not None:
        candidates.append(Path(run_dir) / "artifacts" / name / MANIFEST)
    export_path = results.export.path if results is not None and results.export else None
    if export_path:
        candidates.append(Path(export_path) / MANIFEST)
    for path in candidates:
        if path.is_file():
            return path, load_manifest(path)
    return None


# --- sections ------------------------------------------------------------------------


def _header(info: dict[str, Any]) -> list[str]:
    tags = ", ".join(f"`{t}`" for t in info["tags"]) or "none"
    return [
        f"# Model card: {info['name']}",
        "",
        info["description"],
        "",
        f"- **Family:** `{info['family']}`",
        f"- **Tags:** {tags}",
        f"- **Recipe:** `{Path(info['source']).name}`",
        f"- **Build:** `zoo.get({info['name']!r}, seed=0)`",
        "",
    ]


def _io_section(info: dict[str, Any]) -> list[str]:
    lines = [
        "## Inputs and outputs",
        "",
        "Shapes are per example; every tensor has a leading batch axis.",
        "",
        "| | name | shape | dtype | range | description |",
        "|---|---|---|---|---|---|",
    ]
    for kind, specs in (("input", info["inputs"]), ("output", info["outputs"])):
        for io_name, spec in specs.items():
            value_range = spec.get("range")
            shown = f"[{value_range[0]:g}, {value_range[1]:g})" if value_range else ""
            cells = (kind, f"`{io_name}`", str(spec["shape"]), spec["dtype"], shown)
            lines.append(_row(*cells, spec.get("description", "")))
    return [*lines, ""]


def _params_section(info: dict[str, Any]) -> list[str]:
    lines = ["## Recipe parameters", "", "| parameter | value |", "|---|---|"]
    lines += [_row(f"`{k}`", f"`{json.dumps(v)}`") for k, v in info["params"].items()]
    return [*lines, ""]


def _size_section(model: Any, name: str, info: dict[str, Any]) -> list[str]:
    from zoo._analysis import count_params, weights_source

    counts = count_params(model)
    return [
        "## Size and compute",
        "",
        "| parameters | trainable | non-trainable | FLOPs per example |",
        "|---:|---:|---:|---:|",
        _row(
            f"{counts['total']:,}",
            f"{counts['trainable']:,}",
            f"{counts['non_trainable']:,}",
            _flops(model, name),
        ),
        "",
        "FLOPs: TensorFlow profiler over the frozen batch-1 graph, recurrent layers unrolled "
        "(a multiply-add counts as two).",
        "",
        f"**Weights:** {weights_source(info['params'], model)}",
        "",
    ]


def _flops(model: Any, name: str) -> str:
    from zoo._analysis import flops_per_example
    from zoo.registry import REGISTRY

    try:
        return f"{flops_per_example(model, REGISTRY.get(name).recipe.inputs):,}"
    except Exception as exc:  # the profiler fails in many ways; the card still gets written
        return f"not measured ({type(exc).__name__}: {exc})".replace("\n", " ")[:200]


def _architecture_section(model: Any, diagram: Path) -> list[str]:
    lines = ["## Architecture", ""]
    missing = _graphviz_missing()
    if missing is None:
        failure = _plot(model, diagram)
        if failure is None:
            return [*lines, f"![architecture of {model.name}]({diagram.name})", ""]
        missing = f"`keras.utils.plot_model` failed ({failure})"
    return [
        *lines,
        f"> Architecture diagram not drawn: {missing}. Install graphviz "
        f"(`{GRAPHVIZ_INSTALL}`; `brew install graphviz` on macOS) and re-run to get "
        f"`{diagram.name}`. Text summary instead:",
        "",
        "```",
        _summary_text(model),
        "```",
        "",
    ]


def _graphviz_missing() -> str | None:
    """Why a diagram cannot be drawn (``None`` when pydot and ``dot`` are both there)."""
    if importlib.util.find_spec("pydot") is None:
        return "pydot is not installed (`pip install pydot`)"
    if shutil.which("dot") is None:
        return "graphviz' `dot` program was not found on PATH"
    return None


def _plot(model: Any, diagram: Path) -> str | None:
    """Draw the diagram atomically; the error text if drawing failed, else ``None``."""
    import keras
    import pydot

    tmp = diagram.with_name(f".{diagram.stem}.tmp.png")
    try:
        keras.utils.plot_model(
            model, to_file=str(tmp), show_shapes=True, show_layer_names=True, dpi=96
        )
        os.replace(tmp, diagram)
    except (ImportError, OSError, pydot.PydotException) as exc:
        return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:200]
    finally:
        tmp.unlink(missing_ok=True)
    return None


def _summary_text(model: Any) -> str:
    """``model.summary()`` as text, at a fixed width whatever the terminal's.

    Keras sizes the table from the terminal and rich crops it to ``$COLUMNS``, so both
    read the same ``COLUMNS`` value here; the card is the same on every machine.
    """
    lines: list[str] = []

    def collect(text: str, **_: Any) -> None:
        lines.append(text)

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(SUMMARY_WIDTH)
    try:
        model.summary(print_fn=collect)
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(lines).rstrip()


def _formats_section(
    found: tuple[Path, Manifest] | None, results: Results | None, *, base: Path
) -> list[str]:
    lines = ["## Exported formats", ""]
    if found is None:
        parity = results.export.parity if results is not None and results.export else {}
        if not parity:
            return [*lines, "No export manifest found (pass a `zoo bench` run folder).", ""]
        lines += ["Parity from `results.json` (manifest not found):", ""]
        lines += ["| format | max abs error vs Keras |", "|---|---:|"]
        return [*lines, *(_row(f"`{k}`", _sci(v)) for k, v in parity.items()), ""]
    path, manifest = found
    lines += [
        f"From `{_shown(path, base)}`: each artifact reloaded in its own runtime and "
        f"compared with Keras at batch sizes {manifest.batch_sizes_validated}.",
        "",
        "| format | file | runtime | size | max abs error | tolerance | task metric | check |",
        "|---|---|---|---:|---:|---|---:|---|",
    ]
    for fmt, art in manifest.artifacts.items():
        lines.append(_artifact_row(fmt, art))
    return [*lines, ""]


def _artifact_row(fmt: str, art: ArtifactRecord) -> str:
    parity = art.parity_data()
    if not art.was_validated:
        check = "not validated"
    else:
        check = "pass" if all(p.ok for p in art.parity) else "**FAIL**"
    return _row(
        f"`{fmt}`",
        f"`{art.path}`",
        art.runtime,
        _size(art.bytes),
        _sci(worst_gated_error(parity)),
        _tolerance(art.tolerance),
        task_summary(parity),
        check,
    )


def _bench_section(results: Results | None, run_dir: Path | None) -> list[str]:
    lines = ["## Benchmark", ""]
    if results is None:
        where = f"in `{run_dir}`" if run_dir is not None else "(no run folder given)"
        return [*lines, f"No benchmark results {where}; run `zoo bench` first.", ""]
    rows = [r for r in results.rows if r.timed]
    batch = 1 if any(r.batch == 1 for r in rows) else min((r.batch for r in rows), default=1)
    shown = sorted(
        (r for r in rows if r.batch == batch),
        key=lambda r: (-r.threads, r.stats.p50_ms if r.stats else 0.0),
    )
    lines += [
        f"Run `{Path(run_dir or '.').resolve().name}` ({results.created}), "
        f"batch {batch}; latencies in ms. "
        "Timings on a shared machine are noisy: compare backends as ratios within one run "
        "(`zoo bench compare A B` for two runs).",
        "",
        "| backend | threads | p50 ms | p90 ms | items/s | max abs vs Keras | × predict |",
        "|---|---:|---:|---:|---:|---|---:|",
        *(_bench_row(r) for r in shown),
        "",
    ]
    skipped = [r for r in results.rows if r.skipped]
    if skipped:
        lines += [f"- skipped `{r.backend}`: {r.skipped}" for r in _first_per_backend(skipped)]
        lines.append("")
    recommended = results.recommended
    if recommended:
        picks = ", ".join(f"{precision}: `{backend}`" for precision, backend in recommended.items())
        lines += [f"**Recommended backends:** {picks}", ""]
    return [*lines, *_environment(results), ""]


def _bench_row(r: ResultRow) -> str:
    s = r.stats
    if s is None:  # only timed rows are shown
        return ""
    err = _sci(r.max_abs_vs_keras)
    parity = err
    if r.parity_ok is not None:
        parity = f"{err} ✓" if r.parity_ok else f"{err} **over tolerance**"
    speedup = r.speedup_vs_predict
    return _row(
        f"`{r.backend}`",
        str(r.threads),
        f"{s.p50_ms:.3f}",
        _fixed(s.p90_ms, ".3f"),
        _fixed(s.items_per_s, ".1f"),
        parity,
        f"{speedup:.1f}×" if speedup is not None else "",
    )


def _environment(results: Results) -> list[str]:
    env = results.environment
    cpu = env.cpu
    shown = ", ".join(f"{k} {v}" for k, v in env.versions.items())
    return [
        f"Environment: {cpu.model or 'unknown CPU'}, {cpu.cores or '?'} cores "
        f"({', '.join(cpu.flags) or 'no SIMD flags recorded'}); "
        f"commit `{env.git_commit or '?'}`; {shown}.",
    ]


def _footer() -> list[str]:
    import zoo

    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return ["---", f"Generated by zoo {zoo.__version__} on {now}.", ""]


# --- formatting ----------------------------------------------------------------------


def _shown(path: Path, base: Path) -> str:
    """``path`` relative to the card's folder when it lies below it, else as given."""
    try:
        return str(path.resolve().relative_to(base.resolve())) or "."
    except ValueError:
        return str(path)


def _row(*cells: Any) -> str:
    text = (str(c).replace("|", "\\|").replace("\n", " ") for c in cells)
    return "| " + " | ".join(text) + " |"


def _sci(value: float | None) -> str:
    return "" if value is None else f"{value:.1e}"


def _size(n: int | None) -> str:
    if n is None:
        return ""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _fixed(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _tolerance(tol: ToleranceRecord) -> str:
    """``atol 1e-05`` (+ min top-1 agreement, PSNR drop) from a manifest's tolerance entry."""
    text = f"atol {tol.atol:g}"
    if tol.min_top1_agreement is not None:
        text += f", top-1 ≥ {tol.min_top1_agreement:.0%}"
    if tol.max_psnr_drop_db is not None:
        text += f", PSNR drop ≤ {tol.max_psnr_drop_db:g} dB"
    if tol.min_cosine is not None:
        text += f", cosine ≥ {tol.min_cosine:g}, recall@1 drop ≤ {tol.max_recall_drop:.0%}"
    return text


def _first_per_backend(rows: list[ResultRow]) -> list[ResultRow]:
    seen: dict[str, ResultRow] = {}
    for r in rows:
        seen.setdefault(r.backend, r)
    return list(seen.values())


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

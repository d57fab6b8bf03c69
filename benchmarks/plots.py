"""PNG plots of one benchmark run, from its ``results.json`` data (schema_version 1).

Three figures, each written only when the run has the data for it:

- ``latency.png``: p50 per backend at batch 1 and the largest thread count, with a
  p50–p99 whisker, fastest first; parity failures hatched and named.
- ``batch_sweep.png``: p50 per item against batch size (log x), one line per backend.
- ``threads_sweep.png``: p50 at batch 1 per backend for each thread count.

Drawn with matplotlib's Agg canvas directly (``Figure`` + ``FigureCanvasAgg``), so the
process-wide pyplot backend is neither needed nor changed; matplotlib is imported only
when :func:`write_plots` runs.

Example:
    >>> from zoo.benchmarks.plots import write_plots
    >>> write_plots(  # doctest: +SKIP
    ...     json.loads(Path("runs/x/results.json").read_text()), Path("runs/x"))
    [PosixPath('runs/x/latency.png'), PosixPath('runs/x/batch_sweep.png')]
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

LATENCY = "latency.png"
BATCH_SWEEP = "batch_sweep.png"
THREADS_SWEEP = "threads_sweep.png"

#: One colour per runtime, the same in every figure.
RUNTIME_COLORS: dict[str, str] = {
    "keras": "#8c8c8c",
    "tensorflow": "#e07b24",
    "litert": "#3a9a4a",
    "onnxruntime": "#2f6db5",
    "openvino": "#8756b8",
}
_OTHER_COLOR = "#555555"
_FAIL_COLOR = "#c0392b"
#: Above this max/min spread of the plotted values an axis switches to log scale.
_LOG_SPREAD = 30.0
_DPI = 110


@dataclass(frozen=True)
class Bar:
    """One backend's latency at one (batch, threads) point."""

    backend: str
    runtime: str
    p50_ms: float
    p99_ms: float
    parity_ok: bool | None

    @property
    def label(self) -> str:
        """Axis label: the backend name, flagged when its outputs failed parity."""
        return self.backend + ("  (parity FAIL)" if self.parity_ok is False else "")


def measured_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows that were timed (not skipped, with stats).

    Raises:
        ZooError: ``results`` has no list of rows.

    Example:
        >>> results = {"rows": [
        ...     {"backend": "keras_predict", "batch": 1, "threads": 2, "stats": {"p50_ms": 40.0}},
        ...     {"backend": "onnx:fp32", "batch": 1, "threads": 2, "stats": {"p50_ms": 2.0}},
        ...     {"backend": "openvino:f32", "skipped": "openvino is not installed"}]}
        >>> [r["backend"] for r in measured_rows(results)]
        ['keras_predict', 'onnx:fp32']
    """
    rows = results.get("rows") if isinstance(results, dict) else None
    if not isinstance(rows, list):
        raise ZooError(
            f"benchmark results without a 'rows' list (received {type(rows).__name__}); "
            "expected the results.json data written by `zoo bench` (schema_version 1)."
        )
    return [r for r in rows if not r.get("skipped") and r.get("stats")]


def latency_bars(results: dict[str, Any]) -> tuple[int, int, list[Bar]]:
    """The bars of ``latency.png``: batch 1 (else the smallest), the largest thread count.

    Returns:
        ``(batch, threads, bars)`` with bars sorted fastest first; empty if nothing was timed.

    Example:
        >>> results = {"rows": [
        ...     {"backend": "keras_predict", "batch": 1, "threads": 2, "stats": {"p50_ms": 40.0}},
        ...     {"backend": "tflite:int8", "batch": 1, "threads": 2, "stats": {"p50_ms": 1.5}},
        ...     {"backend": "tflite:int8", "batch": 8, "threads": 2, "stats": {"p50_ms": 9.0}}]}
        >>> batch, threads, bars = latency_bars(results)
        >>> batch, threads, [b.backend for b in bars]
        (1, 2, ['tflite:int8', 'keras_predict'])
    """
    rows = measured_rows(results)
    if not rows:
        return 1, 1, []
    batch = min(r["batch"] for r in rows)
    threads = max(r["threads"] for r in rows if r["batch"] == batch)
    bars = [_bar(r) for r in rows if r["batch"] == batch and r["threads"] == threads]
    return batch, threads, sorted(bars, key=lambda b: b.p50_ms)


def write_plots(results: dict[str, Any], run_dir: Path) -> list[Path]:
    """Write the PNG figures of one run into ``run_dir``.

    ``latency.png`` is written whenever at least one backend was timed; ``batch_sweep.png``
    only if more than one batch size was timed, ``threads_sweep.png`` only if more than one
    thread count was. Skipped backends are left out. Each file is written atomically
    (temporary name, then ``os.replace``).

    Args:
        results: The ``results.json`` data of a run (schema_version 1).
        run_dir: Folder to write into (created if missing).

    Returns:
        The paths written, in the order above.

    Raises:
        ZooError: ``results`` is not benchmark results data.

    Example:
        >>> write_plots(  # doctest: +SKIP
        ...     load_run("runs/20261124-193000-cnn_lstm_fusion"), Path("out"))
        [PosixPath('out/latency.png'), PosixPath('out/batch_sweep.png')]
    """
    run_dir = Path(run_dir)
    rows = measured_rows(results)
    if not rows:
        return []
    run_dir.mkdir(parents=True, exist_ok=True)
    written = [_save(_latency_figure(results), run_dir / LATENCY)]
    if len({r["batch"] for r in rows}) > 1:
        written.append(_save(_batch_figure(results, rows), run_dir / BATCH_SWEEP))
    if len({r["threads"] for r in rows}) > 1:
        written.append(_save(_threads_figure(results, rows), run_dir / THREADS_SWEEP))
    return written


# --- figures -------------------------------------------------------------------------


def _latency_figure(results: dict[str, Any]) -> Any:
    batch, threads, bars = latency_bars(results)
    fig, ax = _figure(width=9.0, height=1.6 + 0.42 * len(bars))
    for y, bar in enumerate(bars):
        failed = bar.parity_ok is False
        ax.barh(
            y,
            bar.p50_ms,
            height=0.62,
            color=_color(bar.runtime),
            edgecolor=_FAIL_COLOR if failed else "none",
            hatch="///" if failed else None,
            linewidth=1.2,
        )
    ax.errorbar(
        [b.p50_ms for b in bars],
        range(len(bars)),
        xerr=[[0.0] * len(bars), [max(b.p99_ms - b.p50_ms, 0.0) for b in bars]],
        fmt="none",
        ecolor="black",
        elinewidth=1.0,
        capsize=4,
    )
    log = _use_log([v for b in bars for v in (b.p50_ms, b.p99_ms)])
    ends = [max(b.p50_ms, b.p99_ms) for b in bars]
    texts = [f"{_ms(b.p50_ms)} ms  (p99 {_ms(b.p99_ms)})" for b in bars]
    _value_labels(ax, ends, list(range(len(bars))), texts, log=log, fontsize=8.5)
    _yticks(ax, [b.label for b in bars], failed=[b.parity_ok is False for b in bars])
    ax.invert_yaxis()  # fastest on top
    _scale_x(ax, [b.p50_ms for b in bars], ends, log=log, room=1.45)
    scale = ", log scale" if log else ""
    ax.set_xlabel(f"latency per call, ms (bar: p50, whisker: p50–p99){scale}")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(_title(results, f"p50 latency at batch {batch}, {_threads(threads)}"))
    _runtime_legend(fig, bars)
    return fig


def _runtime_legend(fig: Any, bars: list[Bar]) -> None:
    """One colour patch per runtime (plus the parity-failure hatch), below the axes."""
    from matplotlib.patches import Patch

    handles = [Patch(color=_color(rt), label=rt) for rt in _unique(b.runtime for b in bars)]
    if any(b.parity_ok is False for b in bars):
        handles.append(
            Patch(facecolor="white", edgecolor=_FAIL_COLOR, hatch="///", label="parity failed")
        )
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(len(handles), 6),
        frameon=False,
        fontsize=8.5,
    )


def _batch_figure(results: dict[str, Any], rows: list[dict[str, Any]]) -> Any:
    threads = max(r["threads"] for r in rows)
    fig, ax = _figure(width=9.5, height=5.2)
    values: list[float] = []
    for i, (backend, points) in enumerate(_series(rows, threads=threads).items()):
        per_item = [r["stats"]["p50_ms"] / batch for batch, r in points]
        values += per_item
        failed = any(r.get("parity_ok") is False for _, r in points)
        ax.plot(
            [batch for batch, _ in points],
            per_item,
            marker="osD^v<>ph"[i % 9],
            linestyle="--" if failed else "-",
            color=_cycle(i),
            label=backend + (" (parity FAIL)" if failed else ""),
        )
    batches = sorted({r["batch"] for r in rows})
    ax.set_xscale("log", base=2)
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.minorticks_off()
    log = _use_log(values)
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(_plain_formatter())
    ax.set_xlabel("batch size (log scale)")
    ax.set_ylabel("p50 per item, ms/item" + (" (log scale)" if log else ""))
    ax.grid(alpha=0.3, which="both")
    ax.set_title(_title(results, f"p50 per item vs batch size, {_threads(threads)}"))
    fig.legend(loc="outside right upper", fontsize=8.5, frameon=False)
    return fig


def _threads_figure(results: dict[str, Any], rows: list[dict[str, Any]]) -> Any:
    batch = min(r["batch"] for r in rows)
    table = {(r["backend"], r["threads"]): r for r in rows if r["batch"] == batch}
    counts = sorted({t for _, t in table})
    backends = _by_p50_at(table, max(counts))
    fig, ax = _figure(width=9.0, height=1.6 + 0.32 * len(backends) * max(len(counts), 2))
    log = _use_log([r["stats"]["p50_ms"] for r in table.values()])
    height = 0.8 / len(counts)
    values: list[float] = []
    for j, count in enumerate(counts):
        ys = [i - 0.4 + height * (j + 0.5) for i, b in enumerate(backends) if (b, count) in table]
        xs = [table[(b, count)]["stats"]["p50_ms"] for b in backends if (b, count) in table]
        values += xs
        ax.barh(ys, xs, height=height * 0.92, color=_shade(j, len(counts)), label=_threads(count))
        _value_labels(ax, xs, ys, [_ms(x) for x in xs], log=log, fontsize=7.5)
    failed = {b for (b, _), r in table.items() if r.get("parity_ok") is False}
    labels = [b + ("  (parity FAIL)" if b in failed else "") for b in backends]
    _yticks(ax, labels, failed=[b in failed for b in backends])
    ax.invert_yaxis()  # fastest (at the most threads) on top
    _scale_x(ax, values, values, log=log, room=1.2)
    ax.set_xlabel("p50 latency per call, ms" + (" (log scale)" if log else ""))
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(_title(results, f"p50 latency at batch {batch} by thread count"))
    fig.legend(loc="outside lower center", ncols=len(counts), frameon=False, fontsize=8.5)
    return fig


def _by_p50_at(table: dict[tuple[str, int], dict[str, Any]], threads: int) -> list[str]:
    """Backends sorted by p50 at ``threads`` (backends not timed there last)."""

    def key(backend: str) -> float:
        row = table.get((backend, threads))
        return row["stats"]["p50_ms"] if row else float("inf")

    return sorted(_unique(b for b, _ in table), key=key)


def _value_labels(
    ax: Any, xs: list[float], ys: list[float], texts: list[str], *, log: bool, fontsize: float
) -> None:
    """Write ``texts`` just right of the x positions (a fixed gap on either scale)."""
    top = max(xs)
    for x, y, text in zip(xs, ys, texts, strict=True):
        gap_x = x * 1.08 if log else x + 0.015 * top
        ax.text(gap_x, y, text, va="center", fontsize=fontsize)


# --- helpers -------------------------------------------------------------------------


def _figure(*, width: float, height: float) -> tuple[Any, Any]:
    """A figure on its own Agg canvas (no pyplot state) with constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, max(height, 3.0)), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig: Any, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as fh:
            fig.savefig(fh, format="png", dpi=_DPI)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _bar(row: dict[str, Any]) -> Bar:
    stats = row["stats"]
    return Bar(
        backend=str(row["backend"]),
        runtime=str(row.get("runtime") or ""),
        p50_ms=float(stats["p50_ms"]),
        p99_ms=float(stats.get("p99_ms") or stats["p50_ms"]),
        parity_ok=row.get("parity_ok"),
    )


def _series(
    rows: list[dict[str, Any]], *, threads: int
) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Map backend → [(batch, row)] at ``threads``, sorted by batch; slowest backend first.

    Slowest first puts the legend in the same top-to-bottom order as the lines.
    """
    out: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for r in sorted(rows, key=lambda r: r["batch"]):
        if r["threads"] == threads:
            out.setdefault(r["backend"], []).append((r["batch"], r))
    return dict(sorted(out.items(), key=lambda kv: -kv[1][0][1]["stats"]["p50_ms"]))


def _title(results: dict[str, Any], what: str) -> str:
    cpu = (results.get("environment") or {}).get("cpu") or {}
    cores = f", {cpu['cores']} cores" if cpu.get("cores") else ""
    return f"{results.get('name', '?')}: {what}\nCPU: {cpu.get('model', 'unknown')}{cores}"


def _scale_x(ax: Any, low: list[float], high: list[float], *, log: bool, room: float) -> None:
    """Linear from 0, or log with a margin; leave ``room`` × the largest value for labels."""
    top = max(high)
    if log:
        ax.set_xscale("log")
        ax.set_xlim(min(low) / 1.6, top * room**4)
        ax.xaxis.set_major_formatter(_plain_formatter())
    else:
        ax.set_xlim(0, top * room)


def _yticks(ax: Any, labels: list[str], *, failed: list[bool]) -> None:
    """Backend names on the y axis, parity failures in red."""
    ax.set_yticks(range(len(labels)), labels)
    for tick, bad in zip(ax.get_yticklabels(), failed, strict=True):
        if bad:
            tick.set_color(_FAIL_COLOR)


def _plain_formatter() -> Any:
    """Log-axis tick labels as plain numbers (0.1, 1, 10) instead of powers of ten."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _pos: f"{value:g}")


def _use_log(values: list[float]) -> bool:
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) / min(positive) > _LOG_SPREAD


def _ms(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _threads(count: int) -> str:
    return f"{count} thread" + ("" if count == 1 else "s")


def _color(runtime: str) -> str:
    return RUNTIME_COLORS.get(runtime, _OTHER_COLOR)


def _cycle(i: int) -> Any:
    from matplotlib import colormaps

    return colormaps["tab10"](i % 10)


def _shade(j: int, n: int) -> Any:
    from matplotlib import colormaps

    return colormaps["Blues"](0.45 + 0.5 * (j / max(n - 1, 1)))


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))

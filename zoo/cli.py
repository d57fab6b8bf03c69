"""The ``zoo`` command: a thin layer over the library.

zoo list [PATTERN] [--tag TAG] [--json]
zoo show NAME [--set KEY=VALUE ...] [--json]
zoo build NAME --out model.keras [--seed N] [--set KEY=VALUE ...]
zoo export NAME --format saved_model --out artifacts/ [--seed N] [--set ...] [--no-validate]
zoo export NAME --from runs/<fit run> [--format ...] [--trust-code]
zoo fit NAME --data SOURCE [--epochs N] [--batch-size N] [--lr X] [--strategy ...] [--set ...]
zoo bench NAME|DIR [--quick] [--iters N] [--warmup N] [--batch N] [--out runs]
zoo bench NAME --quant-sweep [--quick] [--limit N] [--out runs]
zoo bench compare RUN_A RUN_B [--threshold 0.10]   (its own parser: zoo bench compare --help)
zoo verify DIR
zoo doctor [--json] [--format LIST] [--no-checks]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import zoo
from zoo.console import console
from zoo.doctor import add_arguments as add_doctor_arguments
from zoo.errors import ZooError
from zoo.registry import parse_overrides
from zoo.training.command import add_fit_arguments, cmd_fit, trained_subject


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description="Keras/TensorFlow model zoo.")
    parser.add_argument("--version", action="version", version=f"zoo {zoo.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="names of registered models")
    p.add_argument("pattern", nargs="?", help="shell pattern, e.g. '*fusion*'")
    p.add_argument("--tag", help="only models with this tag")
    p.add_argument("--json", action="store_true", help="print JSON")

    def model_args(p: argparse.ArgumentParser, seed: int | None = 0) -> None:
        p.add_argument("name", help="registered model name")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter")
        p.add_argument("--seed", type=int, default=seed, help=f"weights seed (default {seed})")

    p = sub.add_parser(
        "show", help="describe a model: I/O contract, params, formats, size and FLOPs"
    )
    p.add_argument("name")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--no-build",
        action="store_true",
        help="recipe only: skip building the model (parameter count and FLOPs need a build)",
    )

    p = sub.add_parser("build", help="build a model and save it as .keras")
    model_args(p)
    p.add_argument("--out", required=True, type=Path, help="output .keras file")

    p = sub.add_parser("export", help="export to artifact formats, validated against Keras")
    model_args(p)
    p.add_argument("--format", default="all", help="'all' or comma-separated formats")
    p.add_argument(
        "--out", default=Path("artifacts"), type=Path, help="parent folder (default artifacts/)"
    )
    p.add_argument("--no-validate", action="store_true", help="skip the parity check")
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="a failing format is left out and reported; the others are still written "
        "(exit status 1 if any failed)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="feasibility only: convert each format in a scratch folder, write nothing",
    )
    p.add_argument(
        "--from",
        dest="from_run",
        type=Path,
        metavar="RUN",
        help="export the trained model of a `zoo fit` run folder (or a .keras file); "
        "validation and int8 calibration use that run's data, never its test split",
    )
    p.add_argument(
        "--trust-code",
        action="store_true",
        help="with --from: load Lambda layers (Keras safe_mode=False); runs the file's "
        "Python code, so only for a file whose author you trust",
    )

    p = sub.add_parser("fit", help="train a model on data matched to it; writes a run folder")
    add_fit_arguments(p)

    p = sub.add_parser("card", help="write MODEL_CARD.md: contract, size, parity, latest benchmark")
    p.add_argument("name", help="registered model name")
    p.add_argument(
        "--run", type=Path, help="benchmark run folder (default: the latest under --runs)"
    )
    p.add_argument(
        "--runs", type=Path, default=Path("runs"), help="where runs live (default runs/)"
    )
    p.add_argument(
        "--out", type=Path, help="output file (default: MODEL_CARD.md in the run folder)"
    )

    p = sub.add_parser("verify", help="re-check an export folder: hashes and golden outputs")
    p.add_argument("folder", type=Path, help="a folder written by zoo export (OUT/NAME)")

    p = sub.add_parser(
        "doctor", help="versions, CPU features, and which formats and runtimes work here"
    )
    add_doctor_arguments(p)

    # Listed for `zoo --help` only: main() hands everything after `bench` to the parsers of
    # zoo.benchmarks.command (the model form, and `compare` as a subcommand of its own).
    sub.add_parser(
        "bench",
        help="time a model across backends (or: zoo bench compare RUN_A RUN_B)",
        add_help=False,
    )
    return parser


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _range(spec: dict[str, Any]) -> str:
    if not spec.get("range"):
        return ""
    return "[" + ", ".join(f"{v:g}" for v in spec["range"]) + ")"


def _cmd_list(args: argparse.Namespace) -> None:
    names = zoo.list(args.pattern, tag=args.tag)
    if args.json:
        _print_json(names)
    else:
        print("\n".join(names))


def _model_stats(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Build the model and measure parameters and FLOPs per example."""
    from zoo._analysis import count_params, flops_per_example, weights_source
    from zoo._registry import REGISTRY

    model = zoo.get(name, seed=0, **overrides)
    info = zoo.info(name, **overrides)
    return {
        "parameters": count_params(model),
        "flops_per_example": flops_per_example(model, REGISTRY.get(name).resolve_io(overrides)[1]),
        "weights": weights_source(info["params"], model),
    }


def _cmd_show(args: argparse.Namespace) -> None:
    overrides = parse_overrides(args.set)
    info = zoo.info(args.name, **overrides)
    if args.json:
        if not args.no_build:
            info["stats"] = _model_stats(args.name, overrides)
        _print_json(info)
        return
    from rich.markup import escape
    from rich.table import Table

    out = console()
    out.print(f"[bold]{info['name']}[/bold]  (family {info['family']})")
    out.print(escape(info["description"]))
    out.print(f"tags: {', '.join(info['tags'])}   formats: {', '.join(info['formats'])}")
    table = Table(title="I/O contract (batch axis first, dynamic)", title_justify="left")
    for col in ("", "name", "shape", "dtype", "range", "description"):
        table.add_column(col)
    for kind in ("inputs", "outputs"):
        for name, spec in info[kind].items():
            shape = "[batch, " + ", ".join(map(str, spec["shape"])) + "]"
            row = (kind[:-1], name, shape, spec["dtype"], _range(spec), spec["description"])
            table.add_row(*map(escape, row))
    out.print(table)
    params = Table(title="params", title_justify="left")
    params.add_column("name")
    params.add_column("value")
    for key, value in info["params"].items():
        params.add_row(key, escape(json.dumps(value)))
    out.print(params)
    out.print(f"recipe: {escape(info['source'])}")
    if args.no_build:
        return
    stats = _model_stats(args.name, overrides)
    n = stats["parameters"]
    out.print(
        f"parameters: {n['total']:,} ({n['trainable']:,} trainable, {n['non_trainable']:,} frozen)"
    )
    out.print(
        f"FLOPs per example: {stats['flops_per_example'] / 1e6:,.1f} M (TF profiler, batch 1)"
    )
    out.print(f"weights: {escape(stats['weights'])}")


def _cmd_build(args: argparse.Namespace) -> None:
    out = args.out
    if out.suffix != ".keras":
        raise ZooError(
            f"--out {str(out)!r}: expected a file name ending in .keras, e.g. model.keras."
        )
    model = zoo.get(args.name, seed=args.seed, **parse_overrides(args.set))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"{args.name}: {model.count_params():,} parameters → {out}")


def _cmd_export(args: argparse.Namespace) -> int:
    formats = None if args.format == "all" else [f.strip() for f in args.format.split(",")]
    if args.trust_code and args.from_run is None:
        raise ZooError("--trust-code applies to the file given with --from; there is none.")
    if args.check:
        return _export_check(args, formats)
    subject: Any = args.name
    overrides = parse_overrides(args.set)
    data = None
    if args.from_run is not None:
        subject, data = trained_subject(
            args.name, args.from_run, overrides, trust_code=args.trust_code
        )
        overrides = {}
    result = zoo.export(
        subject,
        args.out,
        formats=formats,
        validate=not args.no_validate,
        seed=args.seed,
        data=data,
        on_failure="record" if args.keep_going else "raise",
        **overrides,
    )
    from rich.markup import escape
    from rich.table import Table

    from zoo.exporters.validate import task_summary, worst_gated_error

    manifest = result.manifest
    stats = manifest["export_stats"]
    table = Table(
        title=f"export {args.name} → {result.path} (peak RSS {stats['peak_rss_mb'] / 1024:.2f} GB)",
        title_justify="left",
    )
    columns = ("format", "artifact", "size", "seconds", "peak RSS")
    for col in (*columns, "max |Δ| vs Keras (b=1,3)", "tolerance", "task metric (100 inputs)"):
        table.add_column(col)
    for fmt in result.status:
        stage = stats["stages"].get(fmt, {})
        cost = (f"{stage.get('seconds', 0):.2f}", f"{stage.get('peak_rss_mb', 0) / 1024:.2f} GB")
        if fmt in result.failed:
            fail = result.failed[fmt]
            error = escape(fail["error"].splitlines()[0][:160])
            table.add_row(fmt, "[red]FAILED[/red]", "-", *cost, f"{fail['stage']}: {error}", "", "")
            continue
        art = manifest["artifacts"][fmt]
        err = worst_gated_error(art["parity"])
        table.add_row(
            fmt,
            art["path"],
            f"{art['bytes'] / 1e6:.2f} MB",
            *cost,
            "not validated" if err is None else f"{err:.2e}",
            f"{art['tolerance']['atol']:g}",
            task_summary(art["parity"]),
        )
    console().print(table)
    before = {k: v for k, v in stats["stages"].items() if k in ("build", "reference")}
    console().print(
        "  ".join(
            f"{k}: {v['seconds']:.1f} s, peak {v['peak_rss_mb'] / 1024:.2f} GB"
            for k, v in before.items()
        )
    )
    if result.failed:
        print(
            f"error: {len(result.failed)} format(s) failed and were left out: "
            f"{', '.join(result.failed)}; the others were written to {result.path}.",
            file=sys.stderr,
        )
        return 1
    return 0


def _export_check(args: argparse.Namespace, formats: list[str] | None) -> int:
    from rich.markup import escape
    from rich.table import Table

    from zoo.exporters import check_export

    findings = check_export(args.name, formats=formats, seed=args.seed, **parse_overrides(args.set))
    table = Table(title=f"export --check {args.name} (nothing written)", title_justify="left")
    for col in ("format", "feasible", "seconds", "notes / error"):
        table.add_column(col)
    for f in findings:
        detail = f.error if f.error else "; ".join(f.notes)
        table.add_row(*map(escape, (f.format, "yes" if f.ok else "NO", f"{f.seconds:.1f}", detail)))
    console().print(table)
    return 0 if all(f.ok for f in findings) else 1


def _cmd_card(args: argparse.Namespace) -> int:
    from zoo.cards import latest_run, write_model_card

    zoo.info(args.name)  # unknown names fail before any heavy import
    run_dir = args.run or latest_run(args.name, args.runs)
    path = write_model_card(args.name, run_dir=run_dir, out=args.out)
    source = f"benchmark run {run_dir}" if run_dir else "no benchmark run found (zoo bench NAME)"
    print(f"{path} ({source})")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from zoo.exporters import verify

    report = verify(args.folder)
    table = Table(title=f"verify {args.folder}", title_justify="left")
    for col in ("format", "artifact", "sha256", "max |Δ| vs golden", "tolerance", "result"):
        table.add_column(col)
    for c in report.checks:
        err = "" if c.max_abs is None else f"{c.max_abs:.2e}"
        result = "ok" if c.ok else "FAILED: " + c.reason
        table.add_row(
            *map(
                escape,
                (c.format, c.path, "ok" if c.hash_ok else "DIFFERS", err, f"{c.atol:g}", result),
            )
        )
    out = console()
    out.print(table)
    out.print(f"golden.npz hash: {'ok' if report.golden_ok else 'DIFFERS'}")
    return 0 if report.ok else 1


def _cmd_bench(argv: Sequence[str]) -> int:
    """``zoo bench NAME|DIR ...`` or ``zoo bench compare RUN_A RUN_B ...``."""
    from zoo.benchmarks.command import main as bench_main

    return bench_main(argv, prog="zoo bench")


def _cmd_doctor(args: argparse.Namespace) -> int:
    from zoo.doctor import run_command

    return run_command(args)


COMMANDS = {
    "card": _cmd_card,
    "verify": _cmd_verify,
    "doctor": _cmd_doctor,
    "list": _cmd_list,
    "show": _cmd_show,
    "build": _cmd_build,
    "export": _cmd_export,
    "fit": cmd_fit,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zoo`` command. Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return _cmd_bench(argv[1:])
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args) or 0
    except ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

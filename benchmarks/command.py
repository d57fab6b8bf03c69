"""The ``zoo bench`` command: its arguments and what each form runs.

``zoo bench NAME|DIR`` times a model across backends, ``zoo bench NAME --quant-sweep``
scores every export on real held-out data, ``zoo bench compare RUN_A RUN_B`` flags
regressions between two runs. ``python -m zoo.benchmarks`` runs the same command. Only
``argparse`` is imported here; the benchmark modules load when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from zoo.console import console
from zoo.errors import ZooError
from zoo.registry import parse_overrides


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``zoo bench`` arguments to ``p``."""
    p.add_argument("target", help="model name, export folder, or 'compare'")
    p.add_argument("others", nargs="*", help="with 'compare': the two run folders")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a parameter")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backends", help="comma-separated backend names (default all)")
    p.add_argument("--formats", help="formats to export first (default: the recipe's)")
    p.add_argument("--batch", help="comma-separated batch sizes (default 1,8,32; quick 1)")
    p.add_argument("--threads", help="comma-separated thread counts (default 1,all; quick all)")
    p.add_argument("--iters", type=int, help="cap on timed calls per measurement")
    p.add_argument("--warmup", type=int, help="untimed calls first")
    p.add_argument("--max-seconds", type=float, help="time cap per measurement")
    p.add_argument("--quick", action="store_true", help="short run (demo, tests)")
    p.add_argument(
        "--fresh-export",
        action="store_true",
        help="export again even if an intact export with the same content key is stored",
    )
    p.add_argument("--out", default=Path("runs"), type=Path, help="reports folder (default runs/)")
    p.add_argument(
        "--threshold", type=float, default=0.10, help="compare: regression threshold (0.10 = 10%%)"
    )
    p.add_argument(
        "--quant-sweep",
        action="store_true",
        help="accuracy of every export on real held-out data, with size and batch-1 latency",
    )
    p.add_argument("--limit", type=int, help="--quant-sweep: at most N examples per split")


def _ints(text: str | None, flag: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise ZooError(
            f"{flag} {text!r}: expected comma-separated integers, e.g. 1,8,32."
        ) from None


def run_command(args: argparse.Namespace) -> int:
    """Run the ``zoo bench`` form that ``args`` asks for; return the exit code."""
    if args.target == "compare":
        return _bench_compare(args)
    if args.quant_sweep:
        return _bench_quant_sweep(args)
    if args.limit is not None:
        raise ZooError("--limit applies to --quant-sweep only.")
    if args.others:
        raise ZooError(
            f"unexpected arguments {args.others}; only `zoo bench compare` takes two runs."
        )
    from zoo.benchmarks import run
    from zoo.benchmarks._report import render

    result = run(
        args.target,
        backends=[b.strip() for b in args.backends.split(",")] if args.backends else None,
        batches=_ints(args.batch, "--batch"),
        threads=_ints(args.threads, "--threads"),
        quick=args.quick,
        iters=args.iters,
        warmup=args.warmup,
        max_seconds=args.max_seconds,
        formats=args.formats.split(",") if args.formats else None,
        out=args.out,
        seed=args.seed,
        progress=sys.stderr.isatty(),
        reuse_export=not args.fresh_export,
        **parse_overrides(args.set),
    )
    render(result)
    return 0


def _bench_quant_sweep(args: argparse.Namespace) -> int:
    given = [
        flag
        for flag, value in (
            ("--set", args.set),
            ("--backends", args.backends),
            ("--formats", args.formats),
            ("--batch", args.batch),
            ("--threads", args.threads),
            ("--iters", args.iters),
            ("--warmup", args.warmup),
            ("--max-seconds", args.max_seconds),
        )
        if value is not None
    ]
    if given or args.others:
        raise ZooError(
            f"--quant-sweep takes a model name with --quick, --limit, --seed and --out; "
            f"received {', '.join(given + args.others)}."
        )
    from zoo.benchmarks.quant_sweep import render, sweep

    result = sweep(
        args.target,
        out=args.out,
        quick=args.quick,
        limit=args.limit,
        seed=args.seed,
        progress=sys.stderr.isatty(),
    )
    render(result)
    return 0


def _bench_compare(args: argparse.Namespace) -> int:
    if len(args.others) != 2:
        raise ZooError(
            f"zoo bench compare takes two run folders, received {len(args.others)}: "
            "zoo bench compare runs/A runs/B"
        )
    from zoo.benchmarks.compare import compare_runs, load_run, render_compare

    result = compare_runs(
        load_run(Path(args.others[0])), load_run(Path(args.others[1])), threshold=args.threshold
    )
    console().print(render_compare(result))
    return result.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m zoo.benchmarks NAME|DIR [options]``: same as ``zoo bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m zoo.benchmarks", description="Time a model across backends."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_command(args)
    except ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

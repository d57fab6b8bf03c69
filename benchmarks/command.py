"""The ``zoo bench`` command: its arguments and what each form runs.

``zoo bench NAME|DIR`` times a model across backends, ``zoo bench NAME --quant-sweep``
scores every export on real held-out data, ``zoo bench compare RUN_A RUN_B`` flags
regressions between two runs. ``compare`` is a subcommand with a parser of its own
(``zoo bench compare --help``), chosen by the first word before anything else is parsed;
an export folder named ``compare`` is timed when given as a path (``zoo bench ./compare``).
``python -m zoo.benchmarks`` runs the same command. Only ``argparse`` is imported here; the
benchmark modules load when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from zoo.console import console
from zoo.errors import ZooError
from zoo.registry import parse_overrides

#: The first word that selects ``zoo bench compare``.
COMPARE = "compare"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``zoo bench NAME|DIR`` (timing, ``--quant-sweep``) to ``p``."""
    p.add_argument(
        "target",
        help="registered model name, or a folder written by zoo export "
        "(a folder named 'compare': ./compare)",
    )
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
    p.add_argument(
        "--worker-timeout",
        type=float,
        metavar="SECONDS",
        help="kill a worker (its whole process group) after this long and report the row as "
        "failed (default: 3 × --max-seconds + 600)",
    )
    p.add_argument("--out", default=Path("runs"), type=Path, help="reports folder (default runs/)")
    p.add_argument(
        "--quant-sweep",
        action="store_true",
        help="accuracy of every export on real held-out data, with size and batch-1 latency",
    )
    p.add_argument("--limit", type=int, help="--quant-sweep: at most N examples per split")


def add_compare_arguments(p: argparse.ArgumentParser) -> None:
    """Add the arguments of ``zoo bench compare RUN_A RUN_B`` to ``p``."""
    p.add_argument("run_a", type=Path, metavar="RUN_A", help="baseline run folder (runs/...)")
    p.add_argument("run_b", type=Path, metavar="RUN_B", help="run folder compared with RUN_A")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.10,
        help="a row slower by more than this fraction is a regression (default 0.10 = 10%%)",
    )


def parsers(prog: str) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The parsers of ``PROG NAME|DIR ...`` and of ``PROG compare RUN_A RUN_B ...``."""
    model = argparse.ArgumentParser(
        prog=prog,
        description="Time a model across backends (or score its exports with --quant-sweep). "
        f"Compare two runs: {prog} compare RUN_A RUN_B (see {prog} compare --help).",
    )
    add_arguments(model)
    compare = argparse.ArgumentParser(
        prog=f"{prog} {COMPARE}",
        description="Compare two benchmark runs row by row; exit status 1 on a regression.",
    )
    add_compare_arguments(compare)
    return model, compare


def parse(argv: Sequence[str], prog: str) -> argparse.Namespace:
    """Parse ``argv`` (after ``zoo bench``): ``compare ...`` or the model form.

    The namespace's ``form`` is ``"compare"`` or ``"model"``. Exits with status 2 and a
    usage message on bad arguments, like any argparse parser.
    """
    model, compare = parsers(prog)
    argv = list(argv)
    if argv[:1] == [COMPARE]:
        args = compare.parse_args(argv[1:])
        args.form = COMPARE
    else:
        args = model.parse_args(argv)
        args.form = "model"
    return args


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
    """Run the ``zoo bench`` form that ``args`` (from :func:`parse`) asks for; the exit code."""
    if args.form == COMPARE:
        return _bench_compare(args)
    if args.quant_sweep:
        return _bench_quant_sweep(args)
    if args.limit is not None:
        raise ZooError("--limit applies to --quant-sweep only.")
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
        worker_timeout=args.worker_timeout,
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
            ("--worker-timeout", args.worker_timeout),
        )
        if value is not None
    ]
    if given:
        raise ZooError(
            f"--quant-sweep takes a model name with --quick, --limit, --seed and --out; "
            f"received {', '.join(given)}."
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
    from zoo.benchmarks.compare import compare_runs, load_run, render_compare

    result = compare_runs(load_run(args.run_a), load_run(args.run_b), threshold=args.threshold)
    console().print(render_compare(result))
    return result.exit_code


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m zoo.benchmarks") -> int:
    """``zoo bench ARGS`` and ``python -m zoo.benchmarks ARGS``; returns the exit code.

    Args:
        argv: The arguments after the command (default ``sys.argv[1:]``).
        prog: The command name shown in usage and help.

    Example:
        >>> main(["compare", "runs/A", "runs/B", "--threshold", "0.2"])  # doctest: +SKIP
        0
    """
    args = parse(sys.argv[1:] if argv is None else argv, prog)
    try:
        return run_command(args)
    except ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

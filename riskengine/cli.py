"""The command line: its options, exit codes and dispatch. What each command does is
:mod:`riskengine.commands`, imported only once the command line is parsed (``riskengine
--help`` and a usage error load none of the engine).

Exit codes: 0 ok, 1 unexpected error, 2 usage (bad option, output directory in the way or
taken by another run, a run too large for this machine), 3 bad portfolio data, 4 bad
config, 5 results could not be written, 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM).
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ._version import __version__
from .errors import RiskEngineError, Terminated

if TYPE_CHECKING:
    from rich.console import Console

EXIT_CODES = ("Exit codes: 0 ok, 1 unexpected error, 2 usage, 3 bad portfolio data, "
              "4 bad config, 5 results not written, 130 interrupted, 143 terminated.")


def _whole_number(minimum: int):
    """An argparse type: a whole number >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be >= {minimum}")
        return v
    return parse


_positive_int, _nonneg_int = _whole_number(1), _whole_number(0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="riskengine",
        description="Monte Carlo credit risk of Japan's US$550B US investment program "
                    "(JBIC loans and equity, NEXI guarantees).",
        epilog=EXIT_CODES,
    )
    p.add_argument("--version", action="version", version=f"riskengine {__version__}")
    inputs = _input_options()
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(sub, inputs)
    rep = sub.add_parser(
        "report", help="write the HTML report of a finished run",
        description="Write RUN_DIR/report/report.html (self-contained: figures embedded) "
                    "and each figure as a PNG beside it, from the run's Parquet files. "
                    "Needs matplotlib: pip install 'riskengine[report]'.",
        epilog=EXIT_CODES)
    rep.add_argument("run_dir", metavar="RUN_DIR", type=Path)
    rep.add_argument("--sensitivity", metavar="PATH", type=Path,
                     help="sensitivity.parquet, or the directory of `riskengine sensitivity "
                          "--out DIR`, whose tornado the report shows (default: "
                          "RUN_DIR/sensitivity.parquet when there is one)")
    mrg = sub.add_parser(
        "merge", help="combine the parts of a run written with --path-range",
        description="Combine parts of one config and portfolio (refusing any other mix) "
                    "into the run directory the whole run would have written, bit for bit.",
        epilog=EXIT_CODES)
    mrg.add_argument("parts", metavar="PART", type=Path, nargs="+")
    mrg.add_argument("--out", metavar="DIR", type=Path, required=True)
    mrg.add_argument("--overwrite", action="store_true",
                     help="replace a previous run directory (atomically)")
    mrg.add_argument("--verbose", action="store_true", help=argparse.SUPPRESS)
    cmp_ = sub.add_parser(
        "compare", help="differences between two runs, with standard errors",
        description="Print B - A for ALL's EL, VaR and ES of credit and economic loss and "
                    "write every summary entry's difference to a Parquet file. On the same "
                    "seed and paths, the errors of EL, VaR and ES are paired (common random "
                    "numbers); otherwise unpaired (the runs taken as independent).",
        epilog=EXIT_CODES)
    cmp_.add_argument("run_a", metavar="RUN_A", type=Path)
    cmp_.add_argument("run_b", metavar="RUN_B", type=Path)
    cmp_.add_argument("--out", metavar="FILE", type=Path,
                      help="Parquet file of every difference (default: compare.parquet)")
    cmp_.add_argument("--verbose", action="store_true", help=argparse.SUPPRESS)
    rep.add_argument("--verbose", action="store_true", help=argparse.SUPPRESS)
    _add_sensitivity(sub)
    sub.add_parser(
        "validate", parents=[inputs], help="check a config and portfolio without simulating",
        description="Run every check of `riskengine run` (config, portfolio, correlation "
                    "matrix, memory) and report what would be simulated; write nothing.",
        epilog=EXIT_CODES,
    )
    return p



def _add_sensitivity(sub) -> None:
    """The ``sensitivity`` command and its options."""
    sens = sub.add_parser(
        "sensitivity", help="how far each judgement input moves EL, VaR and ES",
        description="Run the base case and each input of a spec at its low and its high "
                    "value on the same seed and paths (common random numbers), write "
                    "DIR/sensitivity.parquet (the change in EL, VaR and ES at 0.99 and "
                    "0.999 for JBIC, NEXI and ALL, credit and economic loss, each with a "
                    "paired standard error) and print the five inputs that move ALL's "
                    "credit ES 0.999 most.",
        epilog=EXIT_CODES)
    sens.add_argument("--config", metavar="FILE", type=Path,
                      help="TOML config; keys left out take the shipped defaults")
    sens.add_argument("--portfolio", metavar="FILE", type=Path,
                      help="portfolio, CSV or Parquet (default: the shipped program's)")
    sens.add_argument("--paths", metavar="N", type=_positive_int,
                      help="Monte Carlo paths of every run (overrides simulation.paths)")
    sens.add_argument("--seed", metavar="S", type=_nonneg_int,
                      help="random seed of every run (overrides simulation.seed)")
    sens.add_argument("--threads", metavar="N", type=_nonneg_int,
                      help="worker threads, 0 = all cores; results do not depend on it")
    sens.add_argument("--spec", metavar="FILE", type=Path,
                      help="sensitivity spec, TOML [[inputs]] (default: the shipped "
                           "program's sensitivity.toml)")
    sens.add_argument("--out", metavar="DIR", type=Path, default=Path("sensitivity"),
                      help="directory of sensitivity.parquet (default: sensitivity)")
    sens.add_argument("--report", action="store_true",
                      help="also write DIR/report/tornado.html, the tornado of ALL's credit "
                           "ES 0.999 (needs the extra riskengine[report])")
    sens.add_argument("--verbose", action="store_true",
                      help="also log the engine's decisions")


def _input_options() -> argparse.ArgumentParser:
    """The options of ``run`` and ``validate``: the inputs and the config's overrides."""
    inputs = argparse.ArgumentParser(add_help=False)
    inputs.add_argument("--config", metavar="FILE", type=Path,
                        help="TOML config; keys left out take the shipped defaults")
    inputs.add_argument("--portfolio", metavar="FILE", type=Path,
                        help="portfolio, CSV or Parquet, one row per exposure "
                             "(default: the shipped program's)")
    inputs.add_argument("--uncertainty", metavar="FILE", type=Path,
                        help="TOML of [[uncertainty]] tables (and [simulation] "
                             "parameter_batches) added to the config: the run draws those "
                             "inputs per batch of paths and reports the parameters' share "
                             "of the tail (e.g. data/program/uncertainty.toml)")
    inputs.add_argument("--paths", metavar="N", type=_positive_int,
                        help="number of Monte Carlo paths (overrides simulation.paths)")
    inputs.add_argument("--seed", metavar="S", type=_nonneg_int,
                        help="random seed (overrides simulation.seed)")
    inputs.add_argument("--threads", metavar="N", type=_nonneg_int,
                        help="worker threads, 0 = all cores (overrides simulation.threads); "
                             "results do not depend on it")
    inputs.add_argument("--chunk-paths", metavar="N", type=_positive_int,
                        help="paths per chunk, bounds memory (overrides "
                             "simulation.chunk_paths); results do not depend on it")
    inputs.add_argument("--importance-sampling", action="store_true", default=None,
                        help="Glasserman-Li importance sampling of the tail (factor mean "
                             "shift and conditional twisting; every measure uses the "
                             "likelihood ratios); reported in the manifest")
    inputs.add_argument("--regime", metavar="NAME",
                        help="pin every path to this regime of the config's [[regimes]] "
                             "(overrides simulation.regime; a stress test)")
    inputs.add_argument("--scenario", metavar="NAME",
                        help="run only this scenario of the config's [[scenarios]] (or "
                             "'base'); the outputs get a scenario column")
    inputs.add_argument("--scenarios", action="store_true", default=None,
                        help="run the base case and every [[scenarios]] table on the same "
                             "paths; every output gets a scenario column")
    inputs.add_argument("--verbose", action="store_true",
                        help="also log the engine's decisions (threads, pilot, kernel cache)")
    return inputs


def _add_run(sub, inputs: argparse.ArgumentParser) -> None:
    """The ``run`` command and its options."""
    run = sub.add_parser(
        "run", parents=[inputs], help="simulate a program and write a run directory",
        description="Simulate the program's correlated defaults and cash flows, print the "
                    "risk summary and write a run directory (manifest.json, paths.parquet, "
                    "summary.parquet, projects.parquet, timeline.parquet, recoup.parquet, "
                    "annual.parquet). "
                    "With no options: the shipped default program.",
        epilog=EXIT_CODES,
    )
    run.add_argument("--out", metavar="DIR", type=Path,
                     help="run directory to create (default: runs/<date>-<time>-seed<S>); "
                          "must not exist or be empty, unless --overwrite")
    run.add_argument("--overwrite", action="store_true",
                     help="replace a previous run directory (atomically)")
    run.add_argument("--quiet", action="store_true", help="print only where results went")
    run.add_argument("--dask-scheduler", metavar="ADDRESS",
                     help="run the chunks on this dask.distributed scheduler (e.g. "
                          "tcp://10.0.0.5:8786); needs the extra riskengine[distributed]")
    run.add_argument("--dask-local", metavar="N", type=_positive_int,
                     help="run the chunks on a local Dask cluster of N worker processes")
    run.add_argument("--resume", metavar="RUN_DIR", type=Path,
                     help="finish a run that was killed or interrupted: simulate only the "
                          "chunks missing from RUN_DIR/parts (same config and portfolio)")
    run.add_argument("--path-range", metavar="START:END",
                     help="simulate only global paths START..END-1 (START a multiple of "
                          "1024) and write them as a part for `riskengine merge`")
    run.add_argument("--json", action="store_true",
                     help="print the summary as JSON on stdout (for pipelines; progress and "
                          "messages stay on stderr)")
    run.add_argument("--report", action="store_true",
                     help="also write RUN_DIR/report/report.html and its figures "
                          "(needs the extra riskengine[report])")


def _setup_logging(err: Console, verbose: bool) -> None:
    """The engine's decisions (correlation repair, pilot, threads, kernel cache) go to
    standard error: warnings always, the rest with ``--verbose``."""
    from rich.logging import RichHandler

    log = logging.getLogger("riskengine")
    log.handlers[:] = [RichHandler(console=err, show_time=False, show_path=False)]
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False


def _on_sigterm(signum, frame):
    raise Terminated()


def _import_commands():
    """:mod:`riskengine.commands` and the engine under it. The first time in a process, the
    cyclic garbage collector is off while they import: they make some 150,000 objects that
    live as long as the process, which its full collections would otherwise walk again
    and again (0.2-0.3 s of a run, the one at exit included). Then every object alive is
    frozen (``gc.freeze``: what the imports made, in a process that runs one command), so
    no later collection walks them."""
    if "riskengine.commands" in sys.modules:
        from . import commands
        return commands
    enabled = gc.isenabled()
    gc.disable()
    try:
        from . import commands
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from rich.console import Console
    from rich.markup import escape

    commands = _import_commands()
    from . import kernel_cache
    from .runs import Stopped

    console = Console()
    err = Console(stderr=True)
    _setup_logging(err, verbose=args.verbose)
    kernel_cache.on_compile = lambda: err.print(
        "compiling kernels (first run only, a minute or two; later runs reuse them)",
        highlight=False)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if args.command == "validate":
            return commands.cmd_validate(args, console, err)
        if args.command == "report":
            return commands.cmd_report(args, console)
        if args.command == "compare":
            return commands.cmd_compare(args, console)
        if args.command == "merge":
            return commands.cmd_merge(args, console)
        if args.command == "sensitivity":
            return commands.cmd_sensitivity(args, console, err)
        return commands.cmd_run(args, console, err)
    except RiskEngineError as e:
        err.print("[bold red]error:[/bold red] " + escape(str(e)), markup=True, highlight=False,
                  soft_wrap=True)
        return e.exit_code
    except Stopped as e:
        err.print(str(e), highlight=False)
        return e.exit_code
    except commands.Exited as e:
        return e.code
    except KeyboardInterrupt:
        err.print("interrupted; nothing was written", highlight=False)
        return 130
    except Terminated:
        err.print("terminated; nothing was written", highlight=False)
        return 143
    except MemoryError:
        err.print("[bold red]error:[/bold red] out of memory; use fewer --paths (nothing was "
                  "written)", markup=True, highlight=False, soft_wrap=True)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit(code: int) -> NoReturn:
    """``sys.exit(code)`` for ``python -m riskengine.cli``. When a Ctrl-C that :func:`main`
    handled was first raised inside ``exec`` of a string (dataclasses and namedtuples do
    that while a module imports, and a run imports dask with its first xarray Dataset),
    CPython marks the interrupt unhandled and, under ``-m``, ends the process by SIGINT
    instead of with ``code``. A string ``exec`` that finishes clears that mark. (The
    ``riskengine`` command runs as a script, where ``sys.exit`` always decides.)"""
    exec("pass")
    sys.exit(code)


if __name__ == "__main__":
    _exit(main())

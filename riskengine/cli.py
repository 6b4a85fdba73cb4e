"""The command line: ``riskengine run [options]``, on the package's Python API.

Exit codes: 0 ok, 1 unexpected error, 2 usage, 3 bad portfolio data, 4 bad config.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import logging
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__, warmup
from .config import default_portfolio_path, load_config, run_overrides
from .errors import RiskEngineError
from .io import check_run_dir, write_run
from .kernel_inputs import build_model
from .portfolio import load_portfolio
from .simulate import run_model


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
        epilog="Exit codes: 0 ok, 1 unexpected error, 2 usage, 3 bad portfolio data, "
               "4 bad config.",
    )
    p.add_argument("--version", action="version", version=f"riskengine {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser(
        "run", help="simulate a program and write a run directory",
        description="Simulate the program's correlated defaults and cash flows, print the "
                    "risk summary and write a run directory (manifest.json, paths.parquet, "
                    "summary.parquet, projects.parquet, timeline.parquet, recoup.parquet). "
                    "With no options: the shipped default program.",
    )
    run.add_argument("--config", metavar="FILE", type=Path,
                     help="TOML config; keys left out take the shipped defaults "
                          "(the program shipped in the package)")
    run.add_argument("--portfolio", metavar="FILE", type=Path,
                     help="portfolio, CSV or Parquet, one row per exposure "
                          "(default: the shipped program's)")
    run.add_argument("--paths", metavar="N", type=_positive_int,
                     help="number of Monte Carlo paths (overrides simulation.paths)")
    run.add_argument("--seed", metavar="S", type=_nonneg_int,
                     help="random seed (overrides simulation.seed)")
    run.add_argument("--out", metavar="DIR", type=Path,
                     help="run directory to create (default: runs/<date>-<time>-seed<S>); "
                          "must not exist or be empty, unless --overwrite")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an existing run directory (atomically)")
    run.add_argument("--threads", metavar="N", type=_nonneg_int,
                     help="worker threads, 0 = all cores (overrides simulation.threads); "
                          "results do not depend on it")
    run.add_argument("--chunk-paths", metavar="N", type=_positive_int,
                     help="paths per chunk, bounds memory (overrides simulation.chunk_paths); "
                          "results do not depend on it")
    run.add_argument("--importance-sampling", action="store_true", default=None,
                     help="Glasserman-Li importance sampling of the tail (factor mean shift and "
                          "conditional twisting; every measure uses the likelihood ratios); "
                          "reported in the manifest")
    run.add_argument("--quiet", action="store_true", help="print only where results went")
    run.add_argument("--verbose", action="store_true",
                     help="also log the engine's decisions (threads, pilot, kernel cache)")
    return p


def _fmt(x: float) -> str:
    """US dollars in billions, the unit of the program."""
    return f"{x / 1e9:,.2f}"


def print_summary(console: Console, result, run_dir: Path) -> None:
    s = result.summary
    meta = result.meta
    console.print(
        f"[bold]riskengine[/bold] {meta['paths']:,} paths, {meta['n_projects']} exposures, "
        f"{meta['n_quarters']} quarters, seed {meta['seed']} "
        f"({meta['timings']['simulate_seconds']:.1f} s"
        + (", including the kernels' JIT compile" if meta["timings"].get("simulate_includes_jit_compile") else "")
        + (", including loading the compiled kernels" if meta["timings"].get("simulate_includes_kernel_load") else "")
        + ")"
    )
    for var in ("credit_loss", "economic_loss"):
        table = Table(title=f"{var} (US$ billions; ± standard error)", title_justify="left")
        table.add_column("", no_wrap=True)
        cols = [("EL", None)] + [(m, lv) for m in ("VaR", "ES") for lv in (0.99, 0.999)
                                 if lv in result.levels]
        for m, lv in cols:
            table.add_column(m if lv is None else f"{m} {lv:g}", justify="right")
        for inst in s["institution"].to_numpy():
            row = [str(inst)]
            for m, lv in cols:
                v, se = result.estimate(m, var, str(inst), lv)
                row.append(f"{_fmt(v)} ±{_fmt(se)}")
            table.add_row(*row)
        console.print(table)
    eq = meta.get("equity_program") or {}
    if eq:
        pr = result.projects
        is_eq = (pr.instrument == "equity").to_numpy()
        commit = pr.commitment_usd.to_numpy()[is_eq]
        p_each = pr.p_recoup.to_numpy()[is_eq]
        console.print(
            f"[bold]Equity program[/bold] (US$ {_fmt(eq['equity_commitment_usd'])}bn in "
            f"{int(is_eq.sum())} vehicles, horizon totals, undiscounted): Japan receives "
            f"{_fmt(eq['japan_receipts_mean'])} ±{_fmt(eq['japan_receipts_stderr'])}bn, the US "
            f"{_fmt(eq['us_receipts_mean'])} ±{_fmt(eq['us_receipts_stderr'])}bn. "
            f"P(Japan recoups every deemed allocation) = {eq['p_recoup_all']:.1%}; "
            f"commitment-weighted P(recoup) per vehicle = "
            f"{float((commit * p_each).sum() / commit.sum()):.1%}."
        )
    console.print(f"Results: [bold]{run_dir}[/bold] (manifest.json, "
                  + ", ".join(f"{k}.parquet" for k in result.datasets()) + ")")


def cmd_run(args, console: Console) -> int:
    overrides = run_overrides(paths=args.paths, seed=args.seed, threads=args.threads,
                              chunk_paths=args.chunk_paths,
                              importance_sampling=True if args.importance_sampling else None)
    config = load_config(args.config, overrides)
    sim = config.simulation
    portfolio_path = args.portfolio or default_portfolio_path()
    portfolio = load_portfolio(portfolio_path, config.dependence.sectors, sim.n_quarters,
                               sim.steps_per_year)
    out = args.out
    if out is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{stamp}-seed{sim.seed}"
    check_run_dir(out, args.overwrite)  # before the simulation, not after it
    model = build_model(config, portfolio)
    t0 = time.perf_counter()
    if args.quiet:
        result = run_model(model)
    else:
        from rich.progress import Progress

        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("simulating", total=sim.paths)
            result = run_model(model, progress=lambda done, total: bar.update(task, completed=done))
    result.meta["timings"]["wall_seconds"] = time.perf_counter() - t0
    run_dir = write_run(result, out, overwrite=args.overwrite)
    if args.quiet:
        console.print(str(run_dir))
    else:
        print_summary(console, result, run_dir)
    return 0


def _setup_logging(err: Console, verbose: bool) -> None:
    """The engine's decisions (correlation repair, pilot, threads, kernel cache) go to
    standard error: warnings always, the rest with ``--verbose``."""
    from rich.logging import RichHandler

    log = logging.getLogger("riskengine")
    log.handlers[:] = [RichHandler(console=err, show_time=False, show_path=False)]
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    console = Console()
    err = Console(stderr=True)
    _setup_logging(err, verbose=getattr(args, "verbose", False))
    warmup.on_compile = lambda: err.print(
        "compiling kernels (first run only, about half a minute; later runs reuse them)",
        highlight=False)
    try:
        return cmd_run(args, console)
    except RiskEngineError as e:
        err.print("[bold red]error:[/bold red] " + escape(str(e)), markup=True, highlight=False, soft_wrap=True)
        return e.exit_code
    except KeyboardInterrupt:
        err.print("interrupted; nothing was written")
        return 130
    except MemoryError:
        err.print("[bold red]error:[/bold red] out of memory: the per-path loss vectors need "
                  "about 100 bytes a path; use fewer --paths (nothing was written)",
                  markup=True, highlight=False, soft_wrap=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())

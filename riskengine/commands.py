"""What each command of the command line does and prints (``run``, ``validate``,
``report``, ``compare``, ``merge``, ``sensitivity``), on the package's Python API.

:func:`riskengine.cli.main` imports this module once the command line is parsed, so
``riskengine --help`` and a usage error answer without loading the engine.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .backstop import (
    BACKSTOP_LEVELS,
    SHOWN_P_CALL,
    backstop_table,
    capital_basis,
)
from .buffers import memory_estimate
from .checkpoints import disk_fits
from .codes import INSTITUTIONS, INSTRUMENTS
from .compare import compare
from .config import (
    apply_overrides,
    config_notes,
    default_portfolio_path,
    default_program_dir,
    load_config,
    read_uncertainty,
    run_overrides,
)
from .errors import Terminated, UsageError
from .io import check_readable_run, check_run_dir
from .kernel_inputs import Model
from .measures import MIN_TAIL_PATHS, LossSample, unit_tail_paths
from .parts import merge, parse_range, run_part
from .portfolio import load_portfolio
from .report import _matplotlib, write_report, write_tornado_report
from .runs import Dask, claim_run, run_into
from .sensitivity import headline_range, sensitivity, top_inputs
from .simulate import Heartbeat, build_models, check_fits


def check_usage(args) -> None:
    """Options that cannot go together, refused before any work (a usage error)."""
    if args.scenario is not None and args.scenarios:
        raise UsageError(f"--scenario {args.scenario} runs one scenario and --scenarios runs "
                         "them all side by side: give one of them")
    path_range = getattr(args, "path_range", None)
    if path_range is None:
        return
    dask = [o for o, v in (("--dask-local", args.dask_local),
                           ("--dask-scheduler", args.dask_scheduler)) if v is not None]
    if dask:
        raise UsageError(f"{' and '.join(dask)} with --path-range: a part runs on this "
                         "machine; give either (run each part where it should run, then "
                         "riskengine merge)")
    if args.resume is not None:
        raise UsageError("--resume with --path-range: a part is not resumed; run it again")
    start, end = parse_range(path_range)
    if not 0 <= start < end:
        raise UsageError(f"--path-range {path_range}: START must be >= 0 and less than END "
                         f"(e.g. {min(start, end)}:{max(start, end)})")


def prepare(args, err: Console) -> list[Model]:
    """The checks `run` and `validate` share: the options, config, portfolio, the models
    (correlation, copula; one per scenario run), and whether the run fits in memory; the
    config's notes (:func:`riskengine.config.config_notes`) on standard error."""
    check_usage(args)
    overrides = run_overrides(paths=args.paths, seed=args.seed, threads=args.threads,
                              chunk_paths=args.chunk_paths,
                              importance_sampling=True if args.importance_sampling else None,
                              regime=args.regime, scenario=args.scenario,
                              scenarios=args.scenarios)
    given_by = "the command-line options"
    if args.uncertainty is not None:
        extra = read_uncertainty(args.uncertainty)
        overrides["uncertainty"] = extra["uncertainty"]
        overrides.setdefault("simulation", {}).update(extra.get("simulation", {}))
        given_by += f" and --uncertainty {args.uncertainty}"
    config = load_config(args.config, overrides, given_by=given_by)
    for note in config_notes(config, args.config):
        err.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    # before reading a large portfolio or compiling anything: a run streams its per-path
    # outputs to disk, a part (--path-range) holds its own paths in memory
    if getattr(args, "path_range", None) is not None:
        a, b = parse_range(args.path_range)
        check_fits(apply_overrides(config, {"simulation": {"paths": max(b - a, 1)}}))
    else:
        check_fits(config, streamed=True)
    sim = config.simulation
    portfolio = load_portfolio(args.portfolio or default_portfolio_path(),
                               config.dependence.sectors, sim.n_quarters, sim.steps_per_year)
    return build_models(config, portfolio)


def print_json(result, run_dir: Path) -> None:
    """The summary as one JSON document on stdout: the run's identity and every row of
    summary.parquet (NaN as null)."""
    frame = result.summary_frame()
    doc = {"run_dir": str(run_dir), "run_id": result.meta.get("run_id"),
           "paths": result.meta["paths"], "seed": result.meta["seed"],
           "summary": [{k: (None if isinstance(v, float) and v != v else v)
                        for k, v in row.items()}
                       for row in frame.astype(object).to_dict("records")]}
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


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
    basis = result.basis()
    console.print(f"Horizon {basis.get('horizon', '')}; US$ billions; ± standard error",
                  highlight=False)
    _features_lines(console, result)
    if result.scenarios:
        console.print(f"Tables below: scenario {result.scenarios[0]}"
                      + ("; the other scenarios at the end" if len(result.scenarios) > 1
                         else ""), highlight=False)
    rate = meta["config"]["rates"]["discount_rate"]
    what = {"credit_loss": "credit_loss: principal lost, undiscounted",
            "economic_loss": f"economic_loss: present value at {rate:.2%}"}
    for var in ("credit_loss", "economic_loss"):
        table = Table(title=what[var], title_justify="left")
        table.add_column("", no_wrap=True)
        cols = [("EL", None)] + [(m, lv) for m in ("VaR", "ES") for lv in (0.99, 0.999)
                                 if lv in result.levels]
        for m, lv in cols:
            table.add_column(m if lv is None else f"{m} {lv:g}", justify="right")
        for inst in s["institution"].to_numpy():
            row = [str(inst)]
            for m, lv in cols:
                v, se = result.estimate(m, var, str(inst), lv)
                row.append(f"{_fmt(v)} ±{_fmt(se)}" if np.isfinite(se) else f"{_fmt(v)} ±n/a")
            table.add_row(*row)
        console.print(table)
    _precision(console, result)
    _uncertainty_table(console, result)
    _contribution_line(console, result)
    eq = meta.get("equity_program") or {}
    if eq:
        pr = result.projects
        if "scenario" in pr.dims:
            pr = pr.sel(scenario=result.scenarios[0])
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
            f"{float((commit * p_each).sum() / commit.sum()):.1%}. Still owed to Japan on its "
            f"deemed allocations at the horizon (equity_shortfall): EL "
            f"{_fmt(result.value('EL', 'equity_shortfall'))}bn, ES {max(result.levels):g} "
            f"{_fmt(result.value('ES', 'equity_shortfall', level=max(result.levels)))}bn."
        )
    annual = result.annual
    if annual is not None and "quantile" in annual:
        if "scenario" in annual.dims:
            annual = annual.sel(scenario=result.scenarios[0])
        q = annual["quantile"].sel(quantity="credit_loss")
        parts = []
        for lv in (0.99, 0.999):
            col = q.sel(level=lv).to_numpy()
            if np.isfinite(col).any():
                y = int(np.nanargmax(col))
                text = f"{lv:g}: {_fmt(col[y])}bn"
                if "quantile_stderr" in annual:  # (its error and the paths it rests on)
                    at = dict(quantity="credit_loss", level=lv)
                    se = float(annual["quantile_stderr"].sel(**at).to_numpy()[y])
                    tail = int(annual["tail_paths"].sel(**at).to_numpy()[y])
                    text += (f" ±{_fmt(se)}" if np.isfinite(se) else " ±n/a") \
                        + f" ({tail:,} tail paths)"
                parts.append(f"{text} in {annual.fiscal_year.values[y]}")
        if parts:
            console.print("Worst fiscal year's credit loss (quantile over "
                          f"{annual['quantile'].attrs.get('paths', 0):,} sampled paths) "
                          + "; ".join(parts) + " (annual.parquet)", highlight=False)
    _program_table(console, result)
    _backstop_table(console, result)
    console.print(f"Results: [bold]{run_dir}[/bold] (manifest.json, "
                  + ", ".join(f"{k}.parquet" for k in result.datasets()) + ")")




def _backstop_table(console: Console, result) -> None:
    """What Japan's budget may have to carry ([capital]): P(capital call) and the calls
    by fiscal year and over the horizon (backstop.parquet)."""
    ds = result.backstop
    if ds is None:
        return
    if "scenario" in ds.dims:
        ds = ds.sel(scenario=result.scenarios[0])
    rows = backstop_table(ds)
    top = max(BACKSTOP_LEVELS)
    table = Table(title="What Japan's budget may have to carry: capital calls on the state "
                        "(P: probability of a call; E: expected call and q: quantiles of "
                        f"ALL's, ¥ bn; GA: q{top:g} as a share of the General Account; the "
                        f"fiscal years with P ALL at least {SHOWN_P_CALL:.0%}, every year "
                        "in backstop.parquet)", title_justify="left")
    order = ("ALL", *INSTITUTIONS)
    for col in ("FY", *(f"P {i}" for i in order), "E",
                *(f"q{a:g}" for a in BACKSTOP_LEVELS), "GA"):
        table.add_column(col, justify="left" if col == "FY" else "right", no_wrap=True)
    for r in rows:
        table.add_row("horizon" if r["period"] == "all" else r["period"],
                      *(f"{r[f'p_{i}']:.2%}" for i in order),
                      f"{r['expected'] / 1e9:,.1f}",
                      *(f"{r[f'var_{a:g}'] / 1e9:,.0f}" for a in BACKSTOP_LEVELS),
                      f"{r['top_share_ga']:.1%}")
    console.print(table)
    n = ds.attrs.get("paths", 0)
    years = [str(p) for p in dict.fromkeys(ds["period"].values) if p != "all"]
    whole = rows[-1]
    console.print(f"A call: the credit loss in yen booked in a fiscal year beyond that "
                  f"year's earnings and the capital left (not rebuilt); ALL = JBIC + NEXI; "
                  f"'horizon': the calls summed over {years[0]}-{years[-1]} (its q{top:g} "
                  f"{whole['top_share_gdp']:.2%} of GDP). "
                  f"{capital_basis(result.meta['config'])}. P(call) rests on "
                  f"{ds.attrs.get('calling_paths', 0):,} calling paths of {n:,} "
                  f"(standard error of a probability p about sqrt(p (1 - p) / {n:,})).",
                  highlight=False)


#: the header's short form of the risk features whose full text is a table below
_SHORT_FEATURES = {
    "regimes": lambda cfg, v: (f"{len(cfg['regimes'])} (table below)"
                               if len(cfg.get("regimes") or ()) > 1 else v),
    "tariff": lambda cfg, v: v.split(":")[0],
    "parameter uncertainty": lambda cfg, v: (f"{len(cfg.get('uncertainty') or ())} inputs "
                                             "drawn (table below)"),
}


def _features_lines(console: Console, result) -> None:
    """The risk features the figures are conditional on (the manifest's record), and
    ALL's ES with the range the spec's three largest sensitivities span (when they were
    measured on this program)."""
    features = result.meta.get("risk_features")
    if not features:
        return
    cfg, shown = result.meta.get("config", {}), dict(features)
    for key, short in _SHORT_FEATURES.items():  # (the tables below give these in full)
        if key in shown:
            shown[key] = short(cfg, shown[key])
    console.print("Risk features: " + "; ".join(f"{k} {v}" for k, v in shown.items())
                  + ".", highlight=False)
    top = max(result.levels)
    es, _ = result.estimate("ES", "credit_loss", "ALL", top)
    span = headline_range(es, result.meta["program_key"],
                          default_program_dir() / "sensitivity.parquet", level=top)
    if span is not None:
        console.print(f"ALL's credit ES {top:g} {_fmt(es)}bn; the three inputs that move it "
                      f"most ({'; '.join(span['inputs'])}) span {_fmt(span['low'])} to "
                      f"{_fmt(span['high'])}bn (data/program/sensitivity.parquet, "
                      f"{span['paths']:,} paths)", highlight=False)


def _precision(console: Console, result) -> None:
    """Whether ES at the highest level is known to within 5% (95% half-width), and if
    not, how many paths would get it there (the error falls as 1/sqrt(paths))."""
    top = max(result.levels)
    v, se = result.estimate("ES", "credit_loss", "ALL", top)
    if not (np.isfinite(se) and v > 0):
        return
    rel = 1.959963984540054 * se / v
    n = result.meta["paths"]
    if rel > 0.05:
        need = int(np.ceil(n * (rel / 0.05) ** 2 / 1000.0) * 1000)
        console.print(f"[yellow]ALL's ES {top:g} of credit loss is known to ±{rel:.2%} (95%); "
                      f"about {need:,} paths would bring that under ±5% (convergence.parquet)"
                      "[/yellow]", highlight=False)
    else:
        console.print(f"ALL's ES {top:g} of credit loss is known to ±{rel:.1%} (95%).",
                      highlight=False)


def _uncertainty_table(console: Console, result) -> None:
    """With [[uncertainty]]: ES at the highest level predictive (the tables above) and at
    the point values, and the parameters' share of the loss variance and of that ES."""
    info = result.meta.get("parameter_uncertainty")
    if not info:
        return
    top = max(result.levels)
    table = Table(title=escape(f"parameter uncertainty: {info['parameter_batches']} "
                               f"parameter sets of {', '.join(info['entries'])} "
                               "([[uncertainty]]; parameters.parquet)"),
                  title_justify="left")
    table.add_column("", no_wrap=True)
    for var in ("credit", "economic"):
        table.add_column(f"{var}\nES {top:g}\npoint values", justify="right")
        table.add_column(f"{var}\nshare of\nvariance", justify="right")
        table.add_column(f"{var}\nshare of\nES {top:g}", justify="right")
    for inst in ("JBIC", "NEXI", "ALL"):
        row = [inst]
        for var in ("credit_loss", "economic_loss"):
            v, se = result.estimate("ES_conditional", var, inst, top)
            row.append(f"{_fmt(v)} ±{_fmt(se)}" if np.isfinite(se) else f"{_fmt(v)}")
            for level in (None, top):
                v, se = result.estimate("parameter_uncertainty", var, inst, level)
                row.append("n/a" if not np.isfinite(v) else
                           f"{v:.0%} ±{se:.0%}" if np.isfinite(se) else f"{v:.0%}")
        table.add_row(*row)
    console.print(table)


def _contribution_line(console: Console, result) -> None:
    """The sectors that carry most of ALL's tail."""
    if result.contributions_ds is None:
        return
    top = max(result.levels)
    c = result.contributions("ES", top, by="sector")
    if not c["value"].sum() > 0:
        return
    parts = [f"{k} {row.share:.0%}" for k, row in c.head(3).iterrows()]
    console.print(f"ES {top:g} of credit loss by sector (Euler): " + ", ".join(parts)
                  + " (contributions.parquet)", highlight=False)


def _program_table(console: Console, result) -> None:
    """Japan as a whole by regime and by scenario: credit and economic loss (the tariff
    included), funded commitments, the tariff cost, and the economic loss in yen."""
    variables = result.loss_variables
    regimes, scenarios = result.regimes, result.scenarios
    if not (regimes or scenarios or "tariff_cost" in variables):
        return
    top = max(result.levels)
    first = scenarios[0] if scenarios else None
    rows = [("all paths" if regimes else (first or "base"), "all", first)]
    rows += [(r, r, first) for r in regimes
             if np.isfinite(result.value("EL", "credit_loss", "ALL", regime=r, scenario=first))]
    rows += _election_rows(result, first)
    rows += [(f"scenario {sc}", "all", sc) for sc in scenarios[1:]]
    short = f"{top:g}".lstrip("0")
    losses = [("credit\nEL", "EL", "credit_loss", None),
              (f"credit\nES {short}", "ES", "credit_loss", top),
              ("economic\nEL", "EL", "economic_loss", None),
              (f"economic\nES {short}", "ES", "economic_loss", top)]
    program = []
    if "deployed_usd" in variables:
        program.append(("funded\n(mean)", "EL", "deployed_usd", None))
    if "tariff_cost" in variables:
        program.append(("tariff cost\n(mean)", "EL", "tariff_cost", None))
    yen = "economic_loss_jpy" in variables
    if yen:
        program += [("economic EL\nJPY trn", "EL", "economic_loss_jpy", None),
                    (f"economic ES {short}\nJPY trn", "ES", "economic_loss_jpy", top)]
    titles = ("Japan as a whole (ALL), US$ bn; economic loss includes the tariff cost",
              "... what is funded, what declines cost, and the economic loss in yen")
    for title, cols in zip(titles, (losses, program)):
        if not cols:
            continue
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("", min_width=14, max_width=24)
        for name, *_ in cols:
            table.add_column(name, justify="right", no_wrap=True)
        for label, regime, scenario in rows:
            cells = []
            for _name, measure, var, level in cols:
                v = result.value(measure, var, "ALL", level, regime=regime, scenario=scenario)
                cells.append(f"{v / 1e12:,.2f}" if var.endswith("_jpy") else _fmt(v))
            table.add_row(label, *cells)
        console.print(table)
    _scenario_lines(console, result)
    if yen:
        console.print(f"Yen: {result.basis().get('economic_loss_jpy', '')}; a negative loss "
                      "is a gain.", highlight=False)


def _election_rows(result, scenario) -> list[tuple[str, str, str | None]]:
    """With [[elections]], the summary's groups beyond today's regimes (the regime at the
    first election, switched or not, the deal's end), each labelled with its share of the
    paths; () without."""
    if not result.elections:
        return []
    summary = result.summary
    prob = summary["probability"]
    if "scenario" in prob.dims:
        prob = prob.sel(scenario=scenario)
    skip = {"all", *result.regimes}
    return [(f"{g} ({float(prob.sel(regime=g)):.1%})", str(g), scenario)
            for g in summary["regime"].values if g not in skip
            and np.isfinite(result.value("EL", "credit_loss", "ALL", regime=str(g),
                                         scenario=scenario))]


def _scenario_lines(console: Console, result) -> None:
    """What each scenario of the tables does, one line each."""
    what = result.scenario_descriptions
    if not what:
        return
    console.print("Scenarios (every scenario runs on the base case's paths):", highlight=False)
    for name, text in what.items():
        console.print(f"  {name}: {text}", highlight=False, soft_wrap=True)


def _notes(err: Console, model: Model) -> None:
    """What an analyst should know before reading the numbers."""
    sim = model.config.simulation
    if sim.steps_per_year != 4:
        err.print(f"note: steps are 1/{sim.steps_per_year} year, so every 'quarter' "
                  "coordinate and '*_quarter' column of the outputs counts steps, not "
                  "calendar quarters", highlight=False)


def _tail_warning(err: Console, result) -> None:
    weight = result.weight
    if weight is None:  # (the count depends on the number of paths alone: nothing to read)
        n = result.paths.sizes["path"]
        thin = [lv for lv in result.levels if unit_tail_paths(n, lv) < MIN_TAIL_PATHS]
    else:
        loss = LossSample(result.loss("credit_loss", "ALL"), weight)
        thin = [lv for lv in result.levels if loss.tail_paths(lv) < MIN_TAIL_PATHS]
    if thin:
        err.print(f"warning: fewer than {MIN_TAIL_PATHS} paths lie beyond the "
                  f"{', '.join(f'{lv:g}' for lv in thin)} level(s): VaR and ES there are "
                  "rough and have no standard error (n/a); use more paths", highlight=False)


def cmd_validate(args, console: Console, err: Console) -> int:
    models = prepare(args, err)
    model = models[0]
    pf, sim = model.portfolio, model.config.simulation
    kinds = pf.table["instrument"].value_counts()
    console.print(
        f"valid: {pf.source} ({pf.n_projects} exposures: "
        + ", ".join(f"{kinds.get(k, 0)} {k}" for k in INSTRUMENTS)
        + f"; US$ {pf.col('commitment_usd').sum() / 1e9:,.2f}bn committed) with "
        f"{sim.paths:,} paths over {sim.horizon_years:g} years; "
        f"the run needs about "
        f"{len(models) * memory_estimate(sim.paths, streamed=len(models) == 1) / 2**30:,.1f} GiB"
        + (f" ({len(models)} scenario runs)" if len(models) > 1 else ""), highlight=False)
    if pf.ignored_columns:
        console.print("ignored columns: " + ", ".join(pf.ignored_columns), highlight=False)
    if len(models) == 1 and model.config.outputs.checkpoint:
        fits, text = disk_fits(model, Path("runs"))
        console.print(text + ("" if fits else ": a run there goes without checkpoints "
                                              "(no --resume after a kill)"), highlight=False,
                      soft_wrap=True)
    total = pf.col("commitment_usd").sum()
    for key in ("sector", "institution", "instrument"):
        table = Table(title=f"exposure by {key}", title_justify="left")
        for col in (key, "rows", "US$ bn", "share"):
            table.add_column(col, justify="left" if col == key else "right")
        grouped = pf.table.groupby(key)["commitment_usd"].agg(["count", "sum"])
        for name, row in grouped.sort_values("sum", ascending=False).iterrows():
            table.add_row(str(name), f"{int(row['count'])}", _fmt(row["sum"]),
                          f"{row['sum'] / total:.1%}")
        console.print(table)
    return 0


@contextmanager
def _xarray_without_dask():
    """Let xarray treat dask as not installed for the block. The first time xarray makes
    a Variable it checks whether the data is a dask array, and to do so imports
    ``dask.array`` when dask is installed (0.3-0.5 s of a run); a run without ``--dask-*``
    makes no dask array, so the answer is no. The answer goes into xarray's own cache, as
    xarray records it without dask, and is taken out again after the block. When xarray's
    internals differ from what this expects, or dask.array is already imported, nothing is
    changed and xarray checks as before."""
    entry = cache = None
    if "dask.array" not in sys.modules:
        try:
            from xarray.namedarray import pycompat

            cache = pycompat._cached_duck_array_modules
            if "dask" not in cache:
                entry = object.__new__(pycompat.DuckArrayModule)
                entry.module, entry.version, entry.type, entry.available = (
                    None, pycompat.Version("0.0.0"), (), False)
                cache["dask"] = entry
        except (ImportError, AttributeError, TypeError):
            entry = None
    try:
        yield
    finally:
        if entry is not None and cache is not None and cache.get("dask") is entry:
            del cache["dask"]


def cmd_run(args, console: Console, err: Console) -> int:
    if args.dask_scheduler is not None or args.dask_local is not None:
        return _cmd_run(args, console, err)
    with _xarray_without_dask():
        return _cmd_run(args, console, err)


def _cmd_run(args, console: Console, err: Console) -> int:
    if args.report:  # before any work: the extra is there
        _matplotlib()
    models = prepare(args, err)
    if args.path_range is not None:
        return cmd_part(args, console, models)
    resume = args.resume is not None
    out, taken = claim_run(models, args.resume if resume else args.out, resume,
                           args.overwrite)
    dask = (Dask(args.dask_scheduler, args.dask_local)
            if args.dask_scheduler is not None or args.dask_local is not None else None)
    total = models[0].config.simulation.paths * len(models)
    # a bar on a terminal; into a file or a pipe (a batch job's log) one line per chunk
    terminal = err.is_terminal
    bar = terminal and not (args.quiet or args.json or dask is not None)
    with _progress_bar(err, total, not bar) as (show, paced):
        if not terminal and not args.quiet:
            show = Heartbeat()
        run_dir, result = run_into(models, out, taken, resume=resume,
                                   overwrite=args.overwrite, progress=show, paced=paced,
                                   dask=dask, on_start=lambda: _notes(err, models[0]))
    if args.report:
        report = write_report(run_dir)
        err.print(f"report: {report}", highlight=False)
    try:
        if args.json:
            print_json(result, run_dir)
        elif args.quiet:
            console.print(str(run_dir))
        else:
            print_summary(console, result, run_dir)
        _tail_warning(err, result)
    except (KeyboardInterrupt, Terminated) as e:  # the results are written: say so
        err.print(f"stopped while printing; the finished run is in {run_dir}", highlight=False)
        raise Exited(130 if isinstance(e, KeyboardInterrupt) else 143) from None
    return 0


@contextmanager
def _progress_bar(err: Console, total: int, off: bool):
    """``(progress, paced)`` for a run: a progress bar on standard error while the run
    goes, or nothing (``off``)."""
    if off:
        yield None, False
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("simulating"), BarColumn(),
               TextColumn("{task.completed:,} of {task.total:,} paths"),
               TextColumn("{task.fields[rate]}"), TextColumn("left"),
               TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("simulating", total=total, rate="")

        def show(d: int, total: int) -> None:
            speed = bar.tasks[0].speed
            bar.update(task, completed=d, rate=f"{speed:,.0f} paths/s" if speed else "")

        yield show, True


def cmd_merge(args, console: Console) -> int:
    check_run_dir(args.out, args.overwrite)
    result = merge(args.parts, args.out, overwrite=args.overwrite)
    print_summary(console, result, args.out)
    return 0


def cmd_part(args, console: Console, models) -> int:
    start, end = parse_range(args.path_range)
    if args.out is None:
        raise UsageError("--path-range needs --out DIR for its part")
    check_run_dir(args.out, args.overwrite)
    part = run_part(models[0], start, end, args.out, overwrite=args.overwrite)
    console.print(f"part {start}:{end} of {models[0].config.simulation.paths:,} paths: {part} "
                  "(combine the parts with riskengine merge)", highlight=False)
    return 0


def cmd_compare(args, console: Console) -> int:
    frame = compare(args.run_a, args.run_b)
    out = args.out or Path("compare.parquet")
    try:
        frame.to_parquet(out)
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror}") from None
    table = Table(title=f"B - A, ALL, US$ billions (B: {args.run_b}, A: {args.run_a})",
                  title_justify="left")
    for col in ("variable", "measure", "A", "B", "B - A", "± se", ""):
        table.add_column(col, justify="left" if col in ("variable", "measure", "") else "right")
    rows = frame[(frame["institution"] == "ALL") & (frame["scenario"] == frame["scenario"].iloc[0])
                 & frame["variable"].isin(["credit_loss", "economic_loss"])]
    if frame["scenario"].nunique() > 1:
        console.print(f"scenario {frame['scenario'].iloc[0]} below; every scenario in the file",
                      highlight=False)
    for _, r in rows.iterrows():
        if r["measure"] == "SD":
            continue
        name = r["measure"] + ("" if np.isnan(r["level"]) else f" {r['level']:g}")
        table.add_row(r["variable"], name, _fmt(r["value_a"]), _fmt(r["value_b"]),
                      _fmt(r["difference"]), _fmt(r["stderr"]) if np.isfinite(r["stderr"])
                      else "n/a", "paired" if r["paired"] else "unpaired")
    console.print(table)
    versions = frame.attrs["results_versions"]
    if versions["A"] != versions["B"]:
        console.print(f"note: A is results version {versions['A']} and B results version "
                      f"{versions['B']}: they draw other random numbers, so B - A includes the "
                      "change of the draws, not only of the inputs, and the errors are "
                      "unpaired (independent, sqrt(se_A^2 + se_B^2))", highlight=False,
                      soft_wrap=True)
    elif not frame["paired"].any():
        console.print("the runs do not share seed and paths: the errors are unpaired "
                      "(independent, sqrt(se_A^2 + se_B^2))", highlight=False)
    console.print(f"every difference: {out}", highlight=False)
    return 0


def cmd_sensitivity(args, console: Console, err: Console) -> int:
    def step(done: int, total: int, label: str) -> None:
        err.print(f"run {done + 1} of {total}: {label}", highlight=False)

    if args.report:  # before any work: the extra is there
        _matplotlib()
    frame = sensitivity(args.config, args.portfolio, spec=args.spec, paths=args.paths,
                        seed=args.seed, threads=args.threads, out=args.out, progress=step)
    if args.report:
        err.print(f"report: {write_tornado_report(args.out)}", highlight=False)
    top = top_inputs(frame)
    base = frame[(frame["institution"] == "ALL") & (frame["variable"] == "credit_loss")
                 & (frame["measure"] == "ES") & np.isclose(frame["level"], 0.999)]["base"]
    table = Table(title=f"Largest sensitivities of ALL's ES 0.999 of credit loss (base "
                        f"{_fmt(base.iloc[0])}), US$ billions, ± paired standard error",
                  title_justify="left")
    for col in ("input", "low", "change", "high", "change "):
        table.add_column(col, justify="left" if col == "input" else "right")

    def change(v: float, se: float) -> str:
        return f"{_signed(v)} ± " + (_fmt(se) if np.isfinite(se) else "n/a")

    for name, r in top.iterrows():
        table.add_row(str(name), str(r["value_label_low"]),
                      change(r["change_low"], r["stderr_low"]), str(r["value_label_high"]),
                      change(r["change_high"], r["stderr_high"]))
    console.print(table)
    console.print(f"{frame['input'].nunique()} inputs on {frame.attrs['paths']:,} paths "
                  f"(seed {frame.attrs['seed']}) in {frame.attrs['seconds']:.0f} s; every "
                  f"change: {args.out / 'sensitivity.parquet'}", highlight=False)
    return 0


def _signed(v: float) -> str:
    return ("+" if v >= 0 else "-") + _fmt(abs(v))


def cmd_report(args, console: Console) -> int:
    check_readable_run(args.run_dir)
    console.print(str(write_report(args.run_dir, sensitivity=args.sensitivity)))
    return 0


class Exited(Exception):
    """A run ended by a signal after saying so; carries the exit code."""

    def __init__(self, code: int):
        self.code = code

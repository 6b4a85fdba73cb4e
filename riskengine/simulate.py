"""Orchestration: inputs -> dependence -> schedules -> kernels (chunk by chunk) -> Result.

Paths are simulated in chunks of ``chunk_paths`` (rounded up to a multiple of ``BLOCK``);
only per-path loss vectors (``n_paths x n_institutions``) and per-block accumulators are
kept, so memory does not grow with paths x projects x quarters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from ._kernels.engine import run_chunk
from ._kernels.rng import (STREAM_CASH, STREAM_CASH_FACTOR, STREAM_FACTOR, STREAM_IDIO,
                           STREAM_IS_MIX, STREAM_LGD, STREAM_RATES, stream_key, stream_keys)
from .config import Config, default_data_dir, load_config, run_overrides
from .dependence import (CorrelationCheck, check_correlation, cumulative_pd, factor_root,
                         gaussian_thresholds, root_row_ends)
from .errors import ConfigError
from .importance import mean_shift, twist_classes
from .portfolio import INSTITUTIONS, Portfolio, load_portfolio
from .results import Result
from .schedules import EQUITY, build_schedules

#: paths per block: the unit of parallel work and of per-project partial sums
BLOCK = 1024


@dataclass(frozen=True)
class Model:
    """Everything the kernels need, derived once from config and portfolio."""

    config: Config
    portfolio: Portfolio
    correlation: CorrelationCheck
    arrays: dict
    equity_index: np.ndarray  # positions of the equity exposures in canonical order

    @property
    def n_quarters(self) -> int:
        return self.config.simulation.n_quarters


def _groups(pf: Portfolio, n_q: int, spy: int):
    """Group exposures that share sector, loading, default curve and approval quarter, so
    each group's conditional default probability is computed once per path."""
    sec = pf.sector_index
    w = pf.col("factor_loading")
    pa, pc = pf.col("pd_annual"), pf.col("pd_construction")
    cq = np.round(pf.col("construction_years") * spy).astype(np.int64)
    aq = pf.col("approval_quarter").astype(np.int64)
    keys = list(zip(sec, w, pa, pc, cq, aq))
    uniq: dict = {}
    proj_group = np.array([uniq.setdefault(k, len(uniq)) for k in keys], dtype=np.int64)
    g = np.array(list(uniq.keys()), dtype=object)
    g_sec = g[:, 0].astype(np.int64)
    g_w = g[:, 1].astype(float)
    cum = cumulative_pd(g[:, 2].astype(float), g[:, 3].astype(float), g[:, 4].astype(float),
                        n_q, spy)
    thr = np.ascontiguousarray(gaussian_thresholds(cum))
    nrel = (n_q - g[:, 5].astype(np.int64)).astype(np.int64)
    pd_horizon = cum[np.arange(len(nrel)), nrel - 1][proj_group]  # per exposure
    return (proj_group, g_sec, g_w, np.sqrt(np.maximum(1.0 - g_w**2, 0.0)), thr, nrel,
            pd_horizon)


def build_model(config: Config, portfolio: Portfolio) -> Model:
    """Derive the kernel arrays from a validated config and portfolio."""
    from ._kernels import engine as E

    sim, dep = config.simulation, config.dependence
    if dep.copula != "gaussian":
        raise ConfigError("config key dependence.copula: the t copula is not implemented yet; "
                          "use \"gaussian\"")
    if tuple(portfolio.sectors) != tuple(dep.sectors):
        raise ConfigError("portfolio was validated against other sectors than the config's")
    corr = check_correlation(dep.correlation, dep.correlation_repair)
    n_q, spy = sim.n_quarters, sim.steps_per_year
    pf = portfolio
    n_p = pf.n_projects
    rates = config.rates
    sched = build_schedules(pf, n_q, spy, rates.discount_rate, rates.base_rate)
    proj_group, g_sec, g_w, g_s, g_thr, g_nrel, pd_horizon = _groups(pf, n_q, spy)
    lgd, sd = pf.col("lgd"), pf.col("lgd_sd")
    with np.errstate(divide="ignore", invalid="ignore"):
        nu = np.where(sd > 0, lgd * (1 - lgd) / np.maximum(sd, 1e-300) ** 2 - 1.0, 0.0)
    kind = pf.instrument_index
    is_eq = kind == EQUITY
    eq_index = np.where(is_eq, np.cumsum(is_eq) - 1, -1)
    approval = pf.col("approval_quarter").astype(np.int64)
    cq = np.round(pf.col("construction_years") * spy).astype(np.int64)
    life = pf.col("life_years")
    lq = np.where(np.isnan(life), -1, np.round(np.nan_to_num(life) * spy)).astype(np.int64)
    op_start = approval + cq
    op_end = np.where(lq < 0, n_q, op_start + np.maximum(lq, 0))
    sector = pf.sector_index

    pf_f = np.zeros((n_p, E.NF))
    pf_f[:, E.F_LGD] = lgd
    pf_f[:, E.F_ALPHA] = np.where(sd > 0, lgd * nu, 0.0)
    pf_f[:, E.F_BETA] = np.where(sd > 0, (1 - lgd) * nu, 0.0)
    pf_f[:, E.F_COV] = pf.col("coverage")
    pf_f[:, E.F_COMMIT] = pf.col("commitment_usd")
    pf_f[:, E.F_BASE_CASH] = pf.col("commitment_usd") * pf.col("expected_yield") / spy
    pf_f[:, E.F_CF_VOL] = pf.col("cf_vol")
    pf_f[:, E.F_SPREAD_Q] = pf.col("deemed_spread") / spy
    pf_f[:, E.F_PD_OP] = pf.col("pd_annual")
    pf_i = np.zeros((n_p, E.NI), dtype=np.int64)
    pf_i[:, E.I_GROUP] = proj_group
    pf_i[:, E.I_KIND] = kind
    pf_i[:, E.I_INST] = pf.institution_index
    pf_i[:, E.I_APPROVAL] = approval
    pf_i[:, E.I_OP_START] = op_start
    pf_i[:, E.I_OP_END] = op_end
    pf_i[:, E.I_SECTOR] = sector
    pf_i[:, E.I_EQ] = eq_index
    pf_i[:, E.I_FLOAT] = (pf.col("rate_type") == "floating").astype(np.int64)
    stochastic = rates.model == "vasicek"
    needed = np.zeros(len(dep.sectors), dtype=np.bool_)
    needed[np.unique(sector[is_eq])] = True
    if stochastic:
        needed[:] = True  # the rate's common innovation uses every sector
    k_sec = len(dep.sectors)
    macro_w = np.full(k_sec, 1.0 / np.sqrt(np.asarray(corr.matrix).sum()))  # unit variance
    theta = rates.base_rate if rates.long_run_rate is None else rates.long_run_rate
    dt = 1.0 / spy
    r_a = float(np.exp(-rates.mean_reversion * dt))
    r_sd = float(rates.volatility * np.sqrt((1.0 - r_a**2) / (2.0 * rates.mean_reversion)))

    tiers = config.waterfall.tiers
    root = factor_root(corr.matrix)
    ids = list(pf.table["project_id"])
    proj_cls, cls_group, cls_c, cls_n = twist_classes(pf, proj_group, len(g_w))
    arrays = dict(
        factor_key=stream_key(sim.seed, STREAM_FACTOR, 0),
        cash_key=stream_key(sim.seed, STREAM_CASH_FACTOR, 0),
        root=root,
        root_end=root_row_ends(root),
        mu=np.zeros(len(dep.sectors)),
        phi=float(config.cashflows.factor_persistence),
        b_sec=float(np.sqrt(config.cashflows.sector_share)),
        needed=needed,
        grp_sector=g_sec, grp_w=g_w, grp_s=g_s, grp_thr=g_thr, grp_nrel=g_nrel,
        pf_f=pf_f, pf_i=pf_i,
        key_idio=stream_keys(sim.seed, STREAM_IDIO, ids),
        key_lgd=stream_keys(sim.seed, STREAM_LGD, ids),
        key_cash=stream_keys(sim.seed, STREAM_CASH, ids),
        balance=sched.balance, pv_before=sched.pv_before, terminal=sched.terminal,
        cash_start=sched.cash_start, cash_end=sched.cash_end, draws=sched.draws,
        df_start=sched.df_start, df_end=sched.df_end,
        base_q=np.full(n_q, config.rates.base_rate / spy),
        shares=np.array([t.japan_share for t in tiers]),
        extra_q=np.array([t.extra_spread / spy for t in tiers[:-1]] or [0.0]),
        n_hurdles=len(tiers) - 1,
        spy=spy,
        pd_horizon=pd_horizon,  # not a kernel input: the projects output reports it
        twist_x=0.0, proj_cls=proj_cls, cls_group=cls_group, cls_c=cls_c, cls_n=cls_n,
        mix_key=stream_key(sim.seed, STREAM_IS_MIX, 0),
        mix_plain=float(config.importance_sampling.defensive_share),
        rate_model=1 if stochastic else 0,
        rate_key=stream_key(sim.seed, STREAM_RATES, 0),
        r_a=r_a, r_sd=r_sd, r_theta=float(theta), r_rho=float(rates.factor_correlation),
        macro_w=macro_w,
        tail_base_q=float((theta if stochastic else rates.base_rate) / spy),
    )
    # survivors whose value is path-independent: pre-summed per institution
    simple = (kind != EQUITY) & ~(stochastic & (pf.col("rate_type") == "floating"))
    surv_npv = np.where(simple, sched.pv_before[:, n_q] + sched.terminal, np.nan)
    surv_econ = np.zeros(len(INSTITUTIONS))
    np.add.at(surv_econ, pf.institution_index[simple], -surv_npv[simple])
    arrays["surv_npv"], arrays["surv_econ"] = surv_npv, surv_econ
    arrays["cont"], arrays["cont_len"] = continuation_tables(
        pf_f[is_eq], op_start[is_eq], op_end[is_eq], n_q, spy, arrays["tail_base_q"],
        arrays["extra_q"][0] if len(tiers) > 1 else 0.0, sched.df_end[0])
    return Model(config=config, portfolio=portfolio, correlation=corr, arrays=arrays,
                 equity_index=np.flatnonzero(is_eq))


def continuation_tables(eq_f, op_start, op_end, n_q, spy, base_q_last, extra_q0, step):
    """Per equity exposure, the deterministic cash after the horizon (mean multiplier,
    survival at the operating PD) and its deflated and discounted cumulative sums, for the
    closed-form horizon value (see ``_kernels/equity._horizon_value``).

    Returns ``(table (E, 5, L_max), lengths (E,))``."""
    from ._kernels import engine as E

    lens = np.maximum(op_end - n_q, 0).astype(np.int64)
    table = np.zeros((len(lens), 5, max(int(lens.max(initial=0)), 1)))
    for e, n in enumerate(lens):
        if n == 0:
            continue
        j = np.arange(1, n + 1, dtype=float)
        k = n_q + j - 1
        surv = (1.0 - eq_f[e, E.F_PD_OP]) ** (1.0 / spy)
        x = np.where(k >= op_start[e], eq_f[e, E.F_BASE_CASH] * surv ** j, 0.0)
        v = (1.0 + base_q_last + eq_f[e, E.F_SPREAD_Q] + extra_q0) ** -j
        d = step ** j
        table[e, :, :n] = [x, v, d, np.cumsum(x * v), np.cumsum(x * d)]
    return np.ascontiguousarray(table), lens


def _chunks(n_paths: int, chunk: int):
    chunk = max(BLOCK, -(-chunk // BLOCK) * BLOCK)
    for start in range(0, n_paths, chunk):
        yield start, min(chunk, n_paths - start)


KERNEL_ARGS = ("factor_key", "cash_key", "root", "root_end", "mu", "phi", "b_sec", "needed",
               "grp_sector", "grp_w", "grp_s", "grp_thr", "grp_nrel",
               "pf_f", "pf_i", "key_idio", "key_lgd", "key_cash",
               "balance", "pv_before", "terminal", "cash_start", "cash_end", "draws",
               "df_start", "df_end", "base_q", "shares", "extra_q", "n_hurdles", "spy",
               "twist_x", "proj_cls", "cls_group", "cls_c", "cls_n", "mix_key", "mix_plain", "cont", "cont_len")


def _pilot_seed(seed: int) -> int:
    return int(stream_key(seed, 99, "importance-sampling pilot")) >> 1


def prepare_importance_sampling(model: Model) -> tuple[dict, dict]:
    """Run the pilot (its own seed, so its draws are independent of the run's) and derive
    the mean shift and the twist target.

    Returns ``(kernel array overrides, what the manifest records)``."""
    isc = model.config.importance_sampling
    raw = model.config.to_dict()
    raw["simulation"].update(paths=isc.pilot_paths, seed=_pilot_seed(model.config.simulation.seed))
    raw["importance_sampling"]["enabled"] = False
    raw["outputs"].update(timeline_paths=0, irr_paths=0)
    pilot_cfg = Config.model_validate(raw)
    pilot = run_model(build_model(pilot_cfg, model.portfolio))
    x = float(np.quantile(pilot.loss("credit_loss", "ALL"), isc.target_level,
                          method="inverted_cdf"))
    mu = mean_shift(x, model.arrays) if isc.shift else np.zeros_like(model.arrays["mu"])
    overrides = {"mu": mu, "twist_x": x if isc.twist else 0.0}
    info = {"enabled": True, "target_level": isc.target_level, "pilot_paths": isc.pilot_paths,
            "pilot_seed": pilot_cfg.simulation.seed, "target_loss": x,
            "mean_shift": mu.tolist(), "twist": isc.twist, "shift": isc.shift,
            "defensive_share": isc.defensive_share}
    return overrides, info


def run_model(model: Model, progress=None) -> Result:
    """Simulate all paths of a built model and compute the measures."""
    from ._kernels.engine import NA

    sim, out_cfg = model.config.simulation, model.config.outputs
    is_info = {"enabled": False}
    a = model.arrays
    if model.config.importance_sampling.enabled:
        overrides, is_info = prepare_importance_sampling(model)
        a = {**a, **overrides}
    n, n_p, n_inst = sim.paths, model.portfolio.n_projects, len(INSTITUTIONS)
    n_q = sim.n_quarters
    n_eq = len(model.equity_index)
    n_tl = min(out_cfg.timeline_paths, n)
    n_irr = min(out_cfg.irr_paths, n) if n_eq else 0
    credit = np.zeros((n, n_inst))
    econ = np.zeros((n, n_inst))
    weight = np.ones(n)
    eq_paths = np.zeros((n, 3))
    n_blocks = -(-n // BLOCK)
    acc = np.zeros((n_blocks, n_p, NA))
    recoup_hist = np.zeros((n_blocks, n_eq, n_q))
    deemed_acc = np.zeros((n_blocks, n_q))
    # sampled paths (timeline, IRR): every stride-th path, so the work spreads evenly
    tl_stride = max(1, n // n_tl) if n_tl else n + 1
    irr_stride = max(1, n // n_irr) if n_irr else n + 1
    timeline = np.zeros((n_tl, n_q, n_inst))
    irr = np.full((n_irr, n_eq), np.nan)
    debt = model.portfolio.instrument_index != EQUITY
    surv_cash = np.zeros((n_q, n_inst))
    np.add.at(surv_cash.T, model.portfolio.institution_index[debt],
              (a["cash_start"] + a["cash_end"])[debt])
    args = [a[k] for k in KERNEL_ARGS]
    threads_before = numba.get_num_threads()
    if sim.threads:
        numba.set_num_threads(min(sim.threads, numba.config.NUMBA_NUM_THREADS))
    compiled_before = bool(run_chunk.signatures)
    t0 = time.perf_counter()
    try:
        for start, size in _chunks(n, sim.chunk_paths):
            b0 = start // BLOCK
            nb = -(-size // BLOCK)
            sl = slice(start, start + size)
            run_chunk(start, size, BLOCK, *args,
                      credit[sl], econ[sl], weight[sl], eq_paths[sl],
                      acc[b0:b0 + nb], recoup_hist[b0:b0 + nb], deemed_acc[b0:b0 + nb],
                      timeline, tl_stride, irr, irr_stride, surv_cash,
                      a["rate_model"], a["rate_key"], a["r_a"], a["r_sd"], a["r_theta"],
                      a["r_rho"], a["macro_w"], a["tail_base_q"], a["surv_npv"], a["surv_econ"])
            if progress is not None:
                progress(start + size, n)
    finally:
        numba.set_num_threads(threads_before)
    sim_seconds = time.perf_counter() - t0
    return Result.from_simulation(
        model, credit, econ, weight, eq_paths,
        project_sums=acc.sum(axis=0),  # fixed shapes -> fixed summation order
        recoup_hist=recoup_hist.sum(axis=0),
        deemed=deemed_acc.sum(axis=0) / max(n_tl, 1),
        timeline=timeline, irr=irr, tl_stride=tl_stride, irr_stride=irr_stride,
        timings={"simulate_seconds": sim_seconds,
                 "simulate_includes_jit_compile": not compiled_before},
        importance_sampling=is_info)


def simulate(config: Config | str | Path | None = None, portfolio: Portfolio | str | Path | None = None,
             *, paths: int | None = None, seed: int | None = None, threads: int | None = None,
             chunk_paths: int | None = None, importance_sampling: bool | None = None,
             progress=None) -> Result:
    """Run the engine and return a :class:`~riskengine.results.Result`.

    Parameters
    ----------
    config
        A :class:`Config`, a TOML path, or None for the shipped default program.
    portfolio
        A validated :class:`Portfolio`, a CSV/Parquet path, or None for the shipped one.
    paths, seed, threads, chunk_paths
        Override the config's ``[simulation]`` values.
    """
    overrides = run_overrides(paths=paths, seed=seed, threads=threads, chunk_paths=chunk_paths,
                              importance_sampling=importance_sampling)
    if not isinstance(config, Config):
        config = load_config(config, overrides)
    elif overrides:
        raw = config.to_dict()
        for section, body in overrides.items():
            raw[section].update(body)
        config = Config.model_validate(raw)
    if not isinstance(portfolio, Portfolio):
        path = Path(portfolio) if portfolio is not None else default_data_dir() / "portfolio.csv"
        portfolio = load_portfolio(path, config.dependence.sectors, config.simulation.n_quarters,
                                   config.simulation.steps_per_year)
    return run_model(build_model(config, portfolio), progress=progress)

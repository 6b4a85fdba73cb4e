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

from . import _kernels
from ._kernels.engine import run_chunk
from ._kernels.rng import STREAM_FACTOR, STREAM_IDIO, STREAM_LGD, stream_key, stream_keys
from .config import Config, default_data_dir, load_config
from .dependence import (CorrelationCheck, check_correlation, cumulative_pd, factor_root,
                         gaussian_thresholds)
from .errors import ConfigError
from .portfolio import INSTITUTIONS, Portfolio, load_portfolio
from .results import Result
from .schedules import build_schedules

#: paths per block: the unit of parallel work and of per-project partial sums
BLOCK = 1024


@dataclass(frozen=True)
class Model:
    """Everything the kernels need, derived once from config and portfolio."""

    config: Config
    portfolio: Portfolio
    correlation: CorrelationCheck
    arrays: dict

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
    return proj_group, g_sec, g_w, np.sqrt(np.maximum(1.0 - g_w**2, 0.0)), thr, nrel


def build_model(config: Config, portfolio: Portfolio) -> Model:
    """Derive the kernel arrays from a validated config and portfolio."""
    sim, dep = config.simulation, config.dependence
    if dep.copula != "gaussian":
        raise ConfigError("config key dependence.copula: the t copula is not implemented yet; "
                          "use \"gaussian\"")
    if tuple(portfolio.sectors) != tuple(dep.sectors):
        raise ConfigError("portfolio was validated against other sectors than the config's")
    corr = check_correlation(dep.correlation, dep.correlation_repair)
    n_q, spy = sim.n_quarters, sim.steps_per_year
    sched = build_schedules(portfolio, n_q, spy, config.rates.discount_rate)
    proj_group, g_sec, g_w, g_s, g_thr, g_nrel = _groups(portfolio, n_q, spy)
    lgd, sd = portfolio.col("lgd"), portfolio.col("lgd_sd")
    with np.errstate(divide="ignore", invalid="ignore"):
        nu = np.where(sd > 0, lgd * (1 - lgd) / np.maximum(sd, 1e-300) ** 2 - 1.0, 0.0)
    alpha = np.where(sd > 0, lgd * nu, 0.0)
    beta = np.where(sd > 0, (1 - lgd) * nu, 0.0)
    ids = list(portfolio.table["project_id"])
    arrays = dict(
        factor_key=stream_key(sim.seed, STREAM_FACTOR, 0),
        root=factor_root(corr.matrix),
        mu=np.zeros(len(dep.sectors)),
        grp_sector=g_sec, grp_w=g_w, grp_s=g_s, grp_thr=g_thr, grp_nrel=g_nrel,
        proj_group=proj_group,
        proj_kind=portfolio.instrument_index,
        proj_inst=portfolio.institution_index,
        proj_approval=portfolio.col("approval_quarter").astype(np.int64),
        key_idio=stream_keys(sim.seed, STREAM_IDIO, ids),
        key_lgd=stream_keys(sim.seed, STREAM_LGD, ids),
        proj_lgd=lgd, proj_alpha=alpha, proj_beta=beta,
        proj_cov=portfolio.col("coverage"),
        balance=sched.balance, pv_before=sched.pv_before, terminal=sched.terminal,
        df_end=sched.df_end,
    )
    return Model(config=config, portfolio=portfolio, correlation=corr, arrays=arrays)


def _chunks(n_paths: int, chunk: int):
    chunk = max(BLOCK, -(-chunk // BLOCK) * BLOCK)
    for start in range(0, n_paths, chunk):
        yield start, min(chunk, n_paths - start)


def run_model(model: Model, progress=None) -> Result:
    """Simulate all paths of a built model and compute the measures."""
    sim = model.config.simulation
    a = model.arrays
    n, n_p, n_inst = sim.paths, model.portfolio.n_projects, len(INSTITUTIONS)
    credit = np.zeros((n, n_inst))
    econ = np.zeros((n, n_inst))
    weight = np.ones(n)
    n_blocks = -(-n // BLOCK)
    acc = np.zeros((n_blocks, n_p, 2))
    threads_before = numba.get_num_threads()
    if sim.threads:
        numba.set_num_threads(min(sim.threads, numba.config.NUMBA_NUM_THREADS))
    t0 = time.perf_counter()
    try:
        for start, size in _chunks(n, sim.chunk_paths):
            b0 = start // BLOCK
            nb = -(-size // BLOCK)
            run_chunk(start, size, BLOCK,
                      a["factor_key"], a["root"], a["mu"],
                      a["grp_sector"], a["grp_w"], a["grp_s"], a["grp_thr"], a["grp_nrel"],
                      a["proj_group"], a["proj_kind"], a["proj_inst"], a["proj_approval"],
                      a["key_idio"], a["key_lgd"],
                      a["proj_lgd"], a["proj_alpha"], a["proj_beta"], a["proj_cov"],
                      a["balance"], a["pv_before"], a["terminal"], a["df_end"],
                      credit[start:start + size], econ[start:start + size],
                      weight[start:start + size], acc[b0:b0 + nb])
            if progress is not None:
                progress(start + size, n)
    finally:
        numba.set_num_threads(threads_before)
    sim_seconds = time.perf_counter() - t0
    project_sums = acc.sum(axis=0)  # fixed shape -> fixed summation order
    return Result.from_simulation(model, credit, econ, weight, project_sums,
                                  timings={"simulate_seconds": sim_seconds})


def simulate(config: Config | str | Path | None = None, portfolio: Portfolio | str | Path | None = None,
             *, paths: int | None = None, seed: int | None = None, threads: int | None = None,
             chunk_paths: int | None = None, progress=None) -> Result:
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
    overrides: dict = {}
    for key, val in (("paths", paths), ("seed", seed), ("threads", threads),
                     ("chunk_paths", chunk_paths)):
        if val is not None:
            overrides.setdefault("simulation", {})[key] = val
    if not isinstance(config, Config):
        config = load_config(config, overrides)
    elif overrides:
        raw = config.to_dict()
        for k, v in overrides["simulation"].items():
            raw["simulation"][k] = v
        config = Config.model_validate(raw)
    if not isinstance(portfolio, Portfolio):
        path = Path(portfolio) if portfolio is not None else default_data_dir() / "portfolio.csv"
        portfolio = load_portfolio(path, config.dependence.sectors, config.simulation.n_quarters,
                                   config.simulation.steps_per_year)
    return run_model(build_model(config, portfolio), progress=progress)

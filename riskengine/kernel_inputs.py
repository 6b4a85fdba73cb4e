"""Config + portfolio -> the kernels' input bundles: the only module that knows their fields.

Every array is copied C-contiguous, writeable and of one dtype, and every scalar has one
Python type, so each bundle always compiles to the same numba types (one cached kernel).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import special

from ._kernels.bundles import (
    CashAndRates,
    CashSchedules,
    Copula,
    Exposures,
    KernelInputs,
    ProgramTerms,
    Sampler,
    WaterfallTerms,
)
from ._kernels.defaults import _PHI_MARGIN, SCREEN_LO, SCREEN_POINTS, SCREEN_STEP
from ._kernels.program import decline_probability, selection_probability
from ._kernels.rng import (
    STREAM_CASH,
    STREAM_CASH_FACTOR,
    STREAM_DRIFT,
    STREAM_ELECTION,
    STREAM_FACTOR,
    STREAM_FX,
    STREAM_IDIO,
    STREAM_IS_MIX,
    STREAM_LGD,
    STREAM_MIXING,
    STREAM_OVERRUN,
    STREAM_PERFORMANCE,
    STREAM_RATES,
    STREAM_REGIME,
    STREAM_SECTOR_DRIFT,
    STREAM_SELECTION,
    stream_key,
    stream_keys,
)
from .backstop import backstop_terms
from .codes import INSTITUTIONS, Instrument, TariffForm
from .config import Config, Scenario, apply_overrides
from .dependence import (
    CorrelationCheck,
    ar1_year_thresholds,
    check_correlation,
    default_groups,
    factor_root,
    latent_thresholds,
    root_row_ends,
    stressed_pd,
)
from .deployment import Deployment, deploy, tariff_schedule, trigger_schedule
from .elections import (
    Calendar,
    calendar,
    check_size,
    history_curves,
    history_probability,
    named_notice_cdf,
    notice_cdf,
    switch_matrix,
)
from .errors import ConfigError
from .importance import obligor_row_loss, twist_classes
from .portfolio import Portfolio
from .rates import common_innovation_weights, rate_steps
from .schedules import (
    build_schedules,
    construction_steps,
    continuation_tables,
    fiscal_years,
    operating_window,
    survivors,
)
from .selection import credit_loadings
from .stress import FactorStress, factor_stress
from .yen_views import converted_flows, funded_rows, view_of

log = logging.getLogger("riskengine")


def _f64(a) -> np.ndarray:
    return np.array(a, dtype=np.float64, order="C")


def _i64(a) -> np.ndarray:
    return np.array(a, dtype=np.int64, order="C")




@dataclass(frozen=True)
class ParameterBatches:
    """A run's parameter sets ([[uncertainty]], :mod:`riskengine.uncertainty`): batch ``b``
    runs the global paths ``edges[b] .. edges[b + 1] - 1`` with ``inputs[b]``.

    Attributes
    ----------
    edges : (B + 1,) int64, on whole blocks
    inputs : dict, batch -> KernelInputs (arrays equal to the point model's are its own)
    table : xarray.Dataset, each batch's drawn values (parameters.parquet)
    """

    edges: np.ndarray
    inputs: dict[int, KernelInputs]
    table: Any = None

    def batch_of(self, paths: np.ndarray) -> np.ndarray:
        """The batch of each global path."""
        return np.searchsorted(self.edges, paths, side="right").astype(np.int64) - 1

    def pieces(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """``(a, b, batch)`` covering paths ``start .. end - 1`` in order, split at the
        batch edges."""
        out = []
        for k in range(len(self.edges) - 1):
            a, b = max(start, int(self.edges[k])), min(end, int(self.edges[k + 1]))
            if a < b:
                out.append((a, b, k))
        return out

    def only(self, start: int, end: int) -> ParameterBatches:
        """The batches of paths ``start .. end - 1`` alone (what a Dask task needs)."""
        keep = {k for _, _, k in self.pieces(start, end)}
        return ParameterBatches(self.edges, {k: v for k, v in self.inputs.items()
                                             if k in keep}, None)


@dataclass(frozen=True)
class Model:
    """A validated config and portfolio with everything the kernels need, derived once.

    The kernels see the deployment's rows (P', :mod:`riskengine.deployment`): the input
    portfolio's rows, the ones the program may or may not fund once per funding step.

    Attributes
    ----------
    config : Config
        With the scenario's changes (its base rate, its pinned regime).
    portfolio : Portfolio
        The input portfolio (P rows).
    inputs : KernelInputs
    deployment : Deployment
        The rows the kernels see and the input row each comes from.
    pd_horizon : (P',) float64, each row's default probability by the horizon if funded
        (mixed over the regimes, or over the regime histories with [[elections]])
    equity_index : (E,) int64, positions of the equity rows among the P'
    scenario : Scenario or None
    batches : ParameterBatches or None
        With [[uncertainty]], the run's parameter sets (the model's own inputs are the
        point values').
    stress : FactorStress
        The sector factors' mean and root under the scenario (:mod:`riskengine.stress`).
    """

    config: Config
    portfolio: Portfolio
    correlation: CorrelationCheck
    inputs: KernelInputs
    pd_horizon: np.ndarray
    equity_index: np.ndarray
    deployment: Deployment
    scenario: Scenario | None = None
    batches: ParameterBatches | None = None
    stress: FactorStress | None = None

    @property
    def n_quarters(self) -> int:
        return self.config.simulation.n_quarters

    @property
    def program_on_paths(self) -> bool:
        """Whether the portfolio differs by path (regimes, selection, declines)."""
        return len(self.config.regimes) > 1 or self.deployment.expanded


def presence(deployment: Deployment, program: ProgramTerms,
             regime_weight: np.ndarray) -> np.ndarray:
    """(P',) each row's probability of being live on a path: its variant's share times the
    unit's selection and non-decline probabilities, mixed over the regimes (the kernels'
    own rules, :mod:`riskengine._kernels.program`, run as Python: nothing is compiled
    while a model is built)."""
    out = np.ones(len(deployment.unit_of))
    for p, u in enumerate(deployment.unit_of):
        if u < 0:
            continue
        share = deployment.variant_hi[p] - deployment.variant_lo[p]
        live = 0.0
        for r, w in enumerate(regime_weight):
            sel = selection_probability.py_func(float(deployment.unit_selection[u]),
                                        bool(deployment.unit_pipeline[u]),
                                        float(program.selection_multiplier[r]))
            dec = decline_probability.py_func(float(deployment.unit_decline[u]),
                                      bool(deployment.unit_forced[u]),
                                      float(program.decline_multiplier[r]))
            live += w * sel * (1.0 - dec)
        out[p] = share * live
    return out


def scenario_config(config: Config, scenario: Scenario | None) -> Config:
    """The config a scenario runs with: its base rate and its pinned regime."""
    if scenario is None:
        return config
    over: dict = {}
    if scenario.base_rate is not None:
        over["rates"] = {"base_rate": scenario.base_rate}
    if scenario.regime is not None:
        over["simulation"] = {"regime": scenario.regime}
    return apply_overrides(config, over, f"scenario {scenario.name!r}",
                           "its stresses")


#: screening cells per sector: groups of one sector are split by their threshold into at
#: most this many cells, each with its own screen (tighter than one per sector)
SCREEN_CELLS_PER_SECTOR = 16


class Screen(NamedTuple):
    """The screening cells' fields of :class:`~._kernels.bundles.Copula`."""

    screen_u: np.ndarray
    group_cell: np.ndarray
    cell_sector: np.ndarray
    screen_a_max: np.ndarray
    screen_b_min: np.ndarray
    screen_b_max: np.ndarray


def screen_bounds(groups, inverse_sd, n_sectors) -> Screen:
    """The screening cells of the groups and their screens (:class:`Screen`): on each
    interval of the ``SCREEN`` grid of a sector factor ``S``, ``screen_u`` is ``Phi`` of an
    upper bound on ``x_g(S) = (thr_g - w_g S) / sqrt(1 - w_g^2)`` over the cell's groups
    (``thr_g`` the horizon threshold under regime ``r``), plus a margin: each line is
    monotone, so its largest value on an interval is at an end. A sector's groups are split into at most
    ``SCREEN_CELLS_PER_SECTOR`` cells of similar size by their threshold. The kernels
    visit a path's exposures whose uniform is at most their cell's screen and compute a
    group only when one of its uniforms passes (a bound of +inf where a group has
    loading 1)."""
    grid = SCREEN_LO + SCREEN_STEP * np.arange(SCREEN_POINTS)
    n_groups = len(groups.loading)
    thr = groups.threshold[:, np.arange(n_groups), groups.steps_at_risk - 1]
    with np.errstate(invalid="ignore"):  # (a loading of 1: inverse_sd 0, bound +inf below)
        a = thr * inverse_sd  # (R, G)
        b = groups.loading * inverse_sd
        values = a[:, :, None] - b[None, :, None] * grid[None, None, :]  # (R, G, N)
    values = np.where(np.asarray(groups.idio_sd)[None, :, None] > 0, values, np.inf)
    sector = np.asarray(groups.sector)
    group_cell = np.zeros(n_groups, dtype=np.int64)
    cell_sector: list[int] = []
    for s in range(n_sectors):
        members = np.flatnonzero(sector == s)
        if not len(members):
            continue
        order = members[np.argsort(np.nan_to_num(a[0, members], nan=np.inf), kind="stable")]
        for chunk in np.array_split(order, min(SCREEN_CELLS_PER_SECTOR, len(order))):
            group_cell[chunk] = len(cell_sector)
            cell_sector.append(s)
    n_cells = len(cell_sector)
    out = np.full((thr.shape[0], n_cells, SCREEN_POINTS), -np.inf)
    # off the grid the kernels bound x_g by the cell's largest intercept and extreme slope
    a_max = np.empty((thr.shape[0], n_cells))
    b_min, b_max = np.empty(n_cells), np.empty(n_cells)
    for c in range(n_cells):
        in_cell = group_cell == c
        out[:, c, :] = values[:, in_cell, :].max(axis=1)
        a_max[:, c] = a[:, in_cell].max(axis=1)
        b_min[c], b_max[c] = b[in_cell].min(), b[in_cell].max()
    bound = np.maximum(out[:, :, :-1], out[:, :, 1:])
    # the kernels compare uniforms with Phi of the bound, so the table holds that: Phi
    # (exact, scipy) plus _PHI_MARGIN, more than the table interpolation's error and the
    # kernels' erfc's rounding, so no uniform that defaults is screened out
    return Screen(screen_u=_f64(special.ndtr(bound) + _PHI_MARGIN),
                  group_cell=_i64(group_cell), cell_sector=_i64(cell_sector),
                  screen_a_max=_f64(a_max),
                  screen_b_min=_f64(b_min), screen_b_max=_f64(b_max))


def variant_ends(deployment: Deployment) -> np.ndarray:
    """For each row, one past the last row of its block of variants: the consecutive
    rows that expand one portfolio row (its timing variants, whose ``[lo, hi)`` partition
    the unit's timing uniform in order; one row for an unconditional row)."""
    parent = np.asarray(deployment.parent)
    n = len(parent)
    starts = np.flatnonzero(np.r_[True, parent[1:] != parent[:-1]])
    ends = np.r_[starts[1:], n]
    return np.repeat(ends, ends - starts)


def build_model(config: Config, portfolio: Portfolio, scenario: Scenario | None = None) -> Model:
    """Derive the kernel bundles from a validated config and portfolio, stressed by
    ``scenario`` (None: the base case), one bundle a function below.

    Raises
    ------
    ConfigError
        For a correlation matrix that is not one, or a portfolio checked against other
        sectors.
    """
    config = scenario_config(config, scenario)
    sim, dep = config.simulation, config.dependence
    if tuple(portfolio.sectors) != tuple(dep.sectors):
        raise ConfigError("portfolio was validated against other sectors than the config's")
    corr = check_correlation(dep.correlation, dep.correlation_repair)
    _check_factor_dynamics(config)
    root = factor_root(corr.matrix)
    stress = factor_stress(corr.matrix, root, dep.sectors, scenario)
    deployment = deploy(portfolio, config)
    pf = deployment.portfolio  # the rows the kernels see
    regimes = config.regimes
    pd_stress = scenario.pd_multiplier if scenario is not None else 1.0
    pd_multipliers = [r.pd_multiplier * pd_stress for r in regimes] or [pd_stress]
    regime_probability = np.array([r.probability for r in regimes] or [1.0])
    groups = default_groups(pf.sector_index, pf.col("factor_loading"), pf.col("pd_annual"),
                            pf.col("pd_construction"),
                            construction_steps(pf, sim.steps_per_year),
                            pf.col("approval_quarter").astype(np.int64), sim.n_quarters,
                            sim.steps_per_year, dep.copula, dep.dof, pd_multipliers)
    cal = calendar(config)
    switch = switch_matrix(config)
    groups = _history_groups(groups, cal, len(pd_multipliers), dep.copula, dep.dof,
                             sim.n_quarters)
    rates = rate_steps(config.rates, sim.steps_per_year)
    sched = build_schedules(pf, sim.n_quarters, sim.steps_per_year, config.rates.discount_rate,
                            config.rates.base_rate)
    schedules, survivor_value = _schedules(config, pf, sched, rates, deployment.conditional)
    exposures = _exposures(config, pf, groups, survivor_value, pd_multipliers)
    program = _program(config, scenario, deployment, sched, corr, stress, pd_multipliers,
                       regime_probability, portfolio, cal, switch)
    weights = (np.eye(len(pd_multipliers))[program.pinned_regime]
               if sim.regime is not None else regime_probability)
    curve_weights = (history_probability(weights, switch, len(cal.step)) if len(cal.step)
                     else weights)
    inputs = KernelInputs(
        copula=_copula(config, stress.root, groups, len(groups.threshold)),
        exposures=exposures, schedules=schedules,
        cash=_cash_and_rates(config, corr, root, pf, rates),
        waterfall=_waterfall(config, pf, exposures, rates, sched),
        sampler=_sampler(config, deployment, groups, program, weights, sched),
        program=program)
    return Model(config=config, portfolio=portfolio, correlation=corr, inputs=inputs,
                 pd_horizon=curve_weights @ groups.pd_horizon,
                 equity_index=np.flatnonzero(pf.instrument_index == Instrument.EQUITY),
                 deployment=deployment, scenario=scenario, stress=stress)


def _history_groups(groups, cal: Calendar, n_regimes: int, copula: str, dof: float,
                    n_steps: int):
    """With elections inside the horizon, the default groups' curves by regime history
    (:func:`riskengine.elections.history_curves`) in place of by regime; as they are
    without."""
    if not len(cal.step):
        return groups
    check_size(n_regimes, len(cal.step), len(groups.loading), n_steps)
    cum = history_curves(groups.cum_pd, groups.approval, cal.step, n_regimes)
    last = cum[:, np.arange(len(groups.steps_at_risk)), groups.steps_at_risk - 1]
    return dataclasses.replace(
        groups, cum_pd=cum, threshold=np.ascontiguousarray(latent_thresholds(cum, copula, dof)),
        pd_horizon=last[:, groups.of_exposure])


def _unit_cuts(config: Config, portfolio: Portfolio, deployment: Deployment,
               cal: Calendar) -> np.ndarray:
    """(U, E) each unit's probability of a notice on or before each election (its timing
    uniform below it: :mod:`riskengine._kernels.elections`), from its first row's
    approval quarter in the input portfolio."""
    n_units = len(deployment.unit_obligor)
    out = np.zeros((n_units, len(cal.step)))
    if not len(cal.step):
        return out
    approval = portfolio.col("approval_quarter").astype(np.int64)
    unit_of, parent = np.asarray(deployment.unit_of), np.asarray(deployment.parent)
    for u in range(n_units):
        a = int(approval[parent[np.flatnonzero(unit_of == u)[0]]])
        cdf = notice_cdf if deployment.unit_pipeline[u] else named_notice_cdf
        out[u] = cdf(a, cal.dates, config)
    return out


def _check_factor_dynamics(config: Config) -> None:
    dep = config.dependence
    if dep.factor_dynamics == "ar1" and dep.copula != "gaussian":
        raise ConfigError("config key dependence.factor_dynamics: \"ar1\" works with the "
                          "Gaussian copula only (for now)")
    if dep.factor_dynamics == "ar1" and config.importance_sampling.enabled:
        raise ConfigError("config key importance_sampling.enabled: not available with "
                          "dependence.factor_dynamics = \"ar1\" (for now)")


def _copula(config: Config, root: np.ndarray, groups, n_regimes: int) -> Copula:
    """The sector factors (``root``: the base root, or a scenario's conditional one) and
    the default groups' curves (by regime)."""
    sim, dep = config.simulation, config.dependence
    yearly = dep.factor_dynamics == "ar1"
    with np.errstate(divide="ignore"):
        inverse_sd = np.where(groups.idio_sd > 0.0, 1.0 / groups.idio_sd, 0.0)
    screen = screen_bounds(groups, inverse_sd, len(dep.sectors))
    return Copula(
        factor_key=stream_key(sim.seed, STREAM_FACTOR, 0),
        root=_f64(root), root_row_end=_i64(root_row_ends(root)),
        group_sector=_i64(groups.sector), group_loading=_f64(groups.loading),
        group_idio_sd=_f64(groups.idio_sd), group_inverse_idio_sd=_f64(inverse_sd),
        group_threshold=_f64(groups.threshold), group_steps_at_risk=_i64(groups.steps_at_risk),
        t_dof=float(dep.dof) if dep.copula == "t" else 0.0,
        mixing_key=stream_key(sim.seed, STREAM_MIXING, 0),
        yearly=yearly, persistence=float(dep.factor_persistence),
        year_threshold=_f64([ar1_year_thresholds(
            cum, groups.approval, groups.loading, sim.n_quarters, sim.steps_per_year,
            dep.factor_persistence) for cum in groups.cum_pd] if yearly
            else np.zeros((n_regimes, len(groups.loading), 1))),
        group_cum_pd=_f64(groups.cum_pd),
        **screen._asdict())


def _schedules(config: Config, pf: Portfolio, sched, rates, conditional):
    """The cash tables and the survivors' pre-summed value and cash. Returns
    ``(CashSchedules, survivor_value)``."""
    sim = config.simulation
    n_q = sim.n_quarters
    floating = pf.col("rate_type") == "floating"
    view = view_of(config)  # the yen figures' flows: fx.view's
    flows = converted_flows(view, pf.instrument_index, sched)
    survivor_value, survivor_loss, survivor_cash, survivor_pv = survivors(
        pf, sched, rates.stochastic & floating, conditional, flows)
    return CashSchedules(
        draws=_f64(sched.draws), balance=_f64(sched.balance), pv_before=_f64(sched.pv_before),
        terminal=_f64(sched.terminal), npv_if_survives=_f64(sched.npv_if_survives),
        cash_start=_f64(sched.cash_start),
        cash_end=_f64(sched.cash_end), df_start=_f64(sched.df_start), df_end=_f64(sched.df_end),
        survivor_loss=_f64(survivor_loss), survivor_cash=_f64(survivor_cash),
        fiscal_year=_i64(fiscal_years(sim.as_of, sim.steps_per_year, n_q,
                                      config.outputs.fiscal_year_start_month)[0]),
        survivor_pv=_f64(survivor_pv), pv_flow=_f64(flows),
        pv_flow_end=_i64(n_q - np.argmax(flows[:, ::-1] != 0.0, axis=1)
                         if n_q else np.zeros(len(flows))),
        yen_funded=funded_rows(view, pf.instrument_index)), survivor_value


def _exposures(config: Config, pf: Portfolio, groups, survivor_value, pd_multipliers) -> Exposures:
    """Each row's parameters and random streams; the regime's PD multiplier is applied to
    the operating PD here, once (the thresholds carry it by regime)."""
    sim = config.simulation
    seed, steps_per_year = sim.seed, sim.steps_per_year
    ids = list(pf.table["project_id"])  # a variant draws its parent's streams
    kind = pf.instrument_index
    is_eq = kind == Instrument.EQUITY
    lgd, sd = pf.col("lgd"), pf.col("lgd_sd")
    with np.errstate(divide="ignore", invalid="ignore"):
        nu = np.where(sd > 0, lgd * (1 - lgd) / np.maximum(sd, 1e-300) ** 2 - 1.0, 0.0)
    lgd_loading = pf.col("lgd_factor_loading")
    op_start, op_end = operating_window(pf, sim.n_quarters, steps_per_year)
    return Exposures(
        group=_i64(groups.of_exposure), instrument=_i64(kind),
        institution=_i64(pf.institution_index), sector=_i64(pf.sector_index),
        approval_step=_i64(pf.col("approval_quarter").astype(np.int64)),
        operating_start=_i64(op_start), operating_end=_i64(op_end),
        equity_slot=_i64(np.where(is_eq, np.cumsum(is_eq) - 1, -1)),
        floating=np.array(pf.col("rate_type") == "floating", dtype=np.bool_),
        commitment=_f64(pf.col("commitment_usd")), coverage=_f64(pf.col("coverage")),
        lgd_mean=_f64(lgd), lgd_alpha=_f64(np.where(sd > 0, lgd * nu, 0.0)),
        lgd_beta=_f64(np.where(sd > 0, (1 - lgd) * nu, 0.0)),
        lgd_loading=_f64(lgd_loading),
        lgd_offset=_f64(special.ndtri(lgd) * np.sqrt(1.0 + lgd_loading**2)),
        recovery_lag=_i64(pf.col("recovery_lag_quarters")),
        overrun_mean=_f64(pf.col("overrun_mean")), overrun_sd=_f64(pf.col("overrun_sd")),
        overrun_key=stream_keys(seed, STREAM_OVERRUN, ids),
        performance_key=stream_keys(seed, STREAM_PERFORMANCE, ids),
        drift_key=stream_keys(seed, STREAM_DRIFT, ids),
        operating_cash=_f64(pf.col("commitment_usd") * pf.col("expected_yield")
                            / steps_per_year),
        cash_vol=_f64(pf.col("cf_vol")),
        deemed_spread_step=_f64(pf.col("deemed_spread") / steps_per_year),
        pd_operating=_f64([stressed_pd(pf.col("pd_annual"), m) for m in pd_multipliers]),
        # keyed by obligor: the rows of one obligor share the idiosyncratic term, hence
        # the latent variable (with the default obligor, its own project id)
        default_key=stream_keys(seed, STREAM_IDIO, list(pf.table["obligor"])),
        lgd_key=stream_keys(seed, STREAM_LGD, ids),
        cash_key=stream_keys(seed, STREAM_CASH, ids),
        survivor_value=_f64(survivor_value))  # (NaN for conditional rows: valued per path)


def _cash_and_rates(config: Config, corr: CorrelationCheck, root: np.ndarray, pf: Portfolio,
                    rates) -> CashAndRates:
    """The sector cash index of equity, the base-rate path and equity's performance
    (``root``: the base root of the sector correlation, whatever the scenario)."""
    seed, cf = config.simulation.seed, config.cashflows
    needed = np.zeros(len(config.dependence.sectors), dtype=np.bool_)
    needed[np.unique(pf.sector_index[pf.instrument_index == Instrument.EQUITY])] = True
    if rates.stochastic:
        needed[:] = True  # the rate's common innovation uses every sector
    return CashAndRates(
        cash_key=stream_key(seed, STREAM_CASH_FACTOR, 0),
        persistence=float(cf.factor_persistence),
        sector_loading=float(np.sqrt(cf.sector_share)),
        sectors_needed=needed, macro_weights=_f64(common_innovation_weights(corr.matrix)),
        innovation_root=_f64(root), innovation_root_end=_i64(root_row_ends(root)),
        stochastic_rate=bool(rates.stochastic), rate_key=stream_key(seed, STREAM_RATES, 0),
        rate_decay=rates.decay, rate_step_sd=rates.step_sd, rate_long_run=rates.long_run,
        rate_factor_correlation=rates.factor_correlation,
        base_rate_step=_f64(np.full(config.simulation.n_quarters, rates.base_step)),
        performance_sd=float(cf.performance_sd),
        performance_loading=float(np.sqrt(cf.performance_sector_share)),
        drift_sd=float(cf.performance_drift_sd),
        drift_persistence=float(cf.performance_drift_persistence),
        sector_drift_key=stream_key(seed, STREAM_SECTOR_DRIFT, 0),
        tail_base_rate_step=rates.tail_base_step,
        steps_per_year=int(config.simulation.steps_per_year))


def _waterfall(config: Config, pf: Portfolio, exposures: Exposures, rates,
               sched) -> WaterfallTerms:
    """The profit-sharing tiers and each equity row's cash after the horizon."""
    sim, tiers = config.simulation, config.waterfall.tiers
    is_eq = exposures.equity_slot >= 0
    extra = _f64([t.extra_spread / sim.steps_per_year for t in tiers[:-1]] or [0.0])
    table, lengths = continuation_tables(
        exposures.operating_cash[is_eq], pf.col("pd_annual")[is_eq],
        exposures.deemed_spread_step[is_eq],
        exposures.operating_start[is_eq], exposures.operating_end[is_eq], sim.n_quarters,
        sim.steps_per_year, rates.tail_base_step, extra[0] if len(tiers) > 1 else 0.0,
        sched.df_end[0])
    de = config.deal_end
    after = (de.japan_shares or () if de.profit_split == "renegotiated"
             else [t.japan_share for t in tiers])
    return WaterfallTerms(
        shares=_f64([t.japan_share for t in tiers]), extra_spread_step=extra,
        shares_after=_f64(after), renegotiate=de.profit_split == "renegotiated",
        n_hurdles=len(tiers) - 1, continuation=_f64(table), continuation_length=_i64(lengths))


def _selection_normals(deployment: Deployment,
                       selection_mult: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's selection threshold by regime (R, U): it is selected when its selection
    normal ``V`` (draw 0 of its stream) is below ``Phi^-1`` of its selection probability
    (:func:`~._kernels.program.selection_probability`, +inf when it is 1: no draw
    decides); and which conditional rows draw their latent credit normal themselves (P,):
    those whose obligor has no unconditional row, so every row of the obligor shares the
    one normal (a mixed obligor's conditional rows take ``Phi^-1`` of its default uniform,
    which its unconditional rows read)."""
    n_units = len(deployment.unit_obligor)
    p_select = np.array([[selection_probability(deployment.unit_selection[u],
                                                bool(deployment.unit_pipeline[u]), float(m))
                          for u in range(n_units)] for m in selection_mult]).reshape(
                              len(selection_mult), n_units)
    with np.errstate(divide="ignore"):
        threshold = np.where(p_select >= 1.0, np.inf, special.ndtri(np.minimum(p_select, 1.0)))
    unit_of = np.asarray(deployment.unit_of)
    obligor = deployment.portfolio.table["obligor"].to_numpy()
    mixed = set(obligor[unit_of < 0]) & set(obligor[unit_of >= 0])
    latent_row = (unit_of >= 0) & ~np.isin(obligor, list(mixed))
    return threshold, np.ascontiguousarray(latent_row, dtype=np.bool_)


def _program(config: Config, scenario: Scenario | None, deployment: Deployment, sched,
             corr: CorrelationCheck, stress: FactorStress, pd_multipliers,
             regime_probability, portfolio: Portfolio, cal: Calendar,
             switch: np.ndarray) -> ProgramTerms:
    """The program on a path: regimes, the elections, the deployment's units, the tariff,
    a scenario's factor mean, USD/JPY."""
    sim, regimes, fx = config.simulation, config.regimes, config.fx
    pf, seed, n_q = deployment.portfolio, sim.seed, sim.n_quarters
    unconditional = ~deployment.conditional
    deployed_fixed = np.zeros(len(INSTITUTIONS))
    np.add.at(deployed_fixed, pf.institution_index[unconditional],
              pf.col("commitment_usd")[unconditional])
    tariff_per_step, tariff_pv, tariff_steps = tariff_schedule(
        pf.col("commitment_usd"), pf.col("approval_quarter").astype(np.int64), config,
        sched.df_end)
    trigger_per_step, trigger_pv = trigger_schedule(config, sched.df_end)
    fixed_by_step = np.zeros(n_q)  # (a row approved past the horizon is never selected)
    fixed_step = pf.col("approval_quarter").astype(np.int64)
    counted = unconditional & (fixed_step < n_q)
    np.add.at(fixed_by_step, fixed_step[counted], pf.col("commitment_usd")[counted])

    def per_regime(field: str) -> np.ndarray:
        return _f64([getattr(r, field) for r in regimes] or [1.0])

    usd_jpy, capital, earnings = backstop_terms(config)
    loading, keep = credit_loadings(config.program.selection_correlation, deployment)
    selection_mult = per_regime("selection_multiplier")
    yields = per_regime("yield_multiplier")
    with np.errstate(divide="ignore", invalid="ignore"):  # (a regime of yield 0 gets 0)
        yield_ratio = np.where(yields[:, None] > 0.0, yields[None, :] / yields[:, None], 0.0)
    np.fill_diagonal(yield_ratio, 1.0)  # (exactly: staying changes nothing, to the bit)
    deal_end_prob = _f64([r.deal_end_prob for r in regimes] or [0.0])
    if scenario is not None:
        selection_mult = selection_mult * scenario.selection_multiplier
    threshold, latent_row = _selection_normals(deployment, selection_mult)
    return ProgramTerms(
        regime_key=stream_key(seed, STREAM_REGIME, 0),
        regime_cum=_f64(np.minimum(np.cumsum(regime_probability), 1.0)),
        pinned_regime=config.regime_names.index(sim.regime) if sim.regime is not None else -1,
        pd_as_tabled=np.array([m == 1.0 for m in pd_multipliers], dtype=np.bool_),
        yield_multiplier=per_regime("yield_multiplier"),
        selection_multiplier=_f64(selection_mult),
        decline_multiplier=per_regime("decline_multiplier"), factor_shift=_f64(stress.mean),
        unit_of=_i64(deployment.unit_of), variant_lo=_f64(deployment.variant_lo),
        variant_hi=_f64(deployment.variant_hi), variant_end=_i64(variant_ends(deployment)),
        unit_selection=_f64(deployment.unit_selection),
        unit_decline=_f64(deployment.unit_decline),
        unit_pipeline=np.array(deployment.unit_pipeline, dtype=np.bool_),
        unit_forced=np.array(deployment.unit_forced, dtype=np.bool_),
        unit_key=stream_keys(seed, STREAM_SELECTION, deployment.unit_obligor),
        selection_correlation=float(config.program.selection_correlation),
        unit_credit_loading=_f64(loading), unit_credit_keep=_f64(keep),
        selection_threshold=_f64(threshold), latent_row=latent_row,
        tariff_per_step=_f64(tariff_per_step), tariff_pv=_f64(tariff_pv),
        tariff_steps=int(tariff_steps),
        tariff_form=int(TariffForm[config.tariff.form.upper()]),
        trigger_share=float(config.tariff.trigger_share),
        trigger_per_step=float(trigger_per_step), trigger_pv=_f64(trigger_pv),
        fixed_by_step=_f64(fixed_by_step), deployed_fixed=_f64(deployed_fixed),
        election_key=stream_key(seed, STREAM_ELECTION, 0),
        election_step=_i64(cal.step),
        switch_cum=_f64(np.minimum(np.cumsum(switch, axis=1), 1.0)),
        deal_end_prob=deal_end_prob, yield_ratio=_f64(yield_ratio),
        unit_cut=_f64(_unit_cuts(config, portfolio, deployment, cal)),
        tariff_ends=config.deal_end.tariff == "ends",
        df_cum=_f64(np.concatenate([[0.0], np.cumsum(sched.df_end)])),
        fx_on=fx is not None, fx_spot=float(fx.usd_jpy) if fx else 1.0,
        fx_vol=float(fx.volatility) if fx else 0.0,
        fx_loading=float(fx.factor_correlation) if fx else 0.0,
        fx_key=stream_key(seed, STREAM_FX, 0),
        step_time=_f64(np.arange(1, n_q + 1) / sim.steps_per_year),
        common_weights=_f64(common_innovation_weights(corr.matrix)),
        backstop_usd_jpy=usd_jpy, backstop_capital=capital, backstop_earnings=earnings)


def _sampler(config: Config, deployment: Deployment, groups, program: ProgramTerms,
             regime_weight, sched) -> Sampler:
    """Plain Monte Carlo's sampler with the twist classes and obligors importance
    sampling's tilt (:mod:`riskengine.importance`) fills in."""
    pf = deployment.portfolio
    exposure_class, class_group, class_loss, class_size = twist_classes(
        pf, groups.of_exposure, len(groups.loading),
        presence(deployment, program, regime_weight) if deployment.expanded else None)
    n_regimes = len(program.regime_cum)
    return Sampler(
        mean_shift=np.zeros((n_regimes, len(config.dependence.sectors))), twist_target=0.0,
        regime_cum=program.regime_cum.copy(), regime_ratio=np.ones(n_regimes),
        mixture_key=stream_key(config.simulation.seed, STREAM_IS_MIX, 0),
        plain_share=float(config.importance_sampling.defensive_share or 0.0),  # (the tilt sets it)
        exposure_class=_i64(exposure_class), class_group=_i64(class_group),
        class_loss=_f64(class_loss), class_size=_f64(class_size),
        obligor=_i64(np.unique(pf.table["obligor"].to_numpy(), return_inverse=True)[1]),
        obligor_loss=_f64(obligor_row_loss(pf, sched.balance)),
        obligor_theta=0.0)

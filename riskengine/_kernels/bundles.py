"""The kernels' inputs and outputs as named bundles (``typing.NamedTuple``s of arrays and
scalars), so a kernel takes a handful of arguments and reads every field by name.

Only :mod:`riskengine.kernel_inputs` fills the input bundles and only
:mod:`riskengine.simulate` allocates the output bundles; adding an input is one field here
and one line there. Shapes: ``K`` sectors, ``G`` default groups, ``P`` exposures (canonical
order), ``E`` equity exposures, ``Q`` steps (quarters), ``I`` institutions, ``C`` twist
classes, ``O`` obligors, ``T`` waterfall tiers, ``B`` blocks of paths, ``L`` longest
continuation after the horizon. Every array is C-contiguous and writeable, so each bundle
compiles to one set of numba types (and one cached kernel).

Writing through a bundle attribute inside a ``prange`` body is silently dropped by numba
(numba issues 5872, 7135, 10338): outputs are written only by the per-path function,
which is not inlined into the parallel loop.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Copula(NamedTuple):
    """The copula of default times (Gaussian, or Student-t with ``t_dof > 0``; thresholds
    are then Student-t quantiles): sector factors and default groups.

    Exposures that share sector, loading, default curve and approval quarter form a group
    whose conditional default probability is computed once per path.
    """

    factor_key: np.uint64  # random stream of the sector factors
    root: np.ndarray  # (K, K) float64, factors = root @ z + program.factor_shift: root @ root.T = sector correlation, or a scenario's conditional covariance (riskengine.stress; zero rows for fixed sectors)
    root_row_end: np.ndarray  # (K,) int64, one past the last non-zero of each root row
    group_sector: np.ndarray  # (G,) int64
    group_loading: np.ndarray  # (G,) float64, w
    group_idio_sd: np.ndarray  # (G,) float64, sqrt(1 - w^2)
    group_inverse_idio_sd: np.ndarray  # (G,) float64, 1 / sqrt(1 - w^2), 0 where w = 1
    group_threshold: np.ndarray  # (R, G, Q) float64, latent threshold of the cumulative PD by step since approval, per regime
    group_steps_at_risk: np.ndarray  # (G,) int64, steps from approval to the horizon
    t_dof: float  # Student-t copula degrees of freedom; 0: Gaussian copula
    mixing_key: np.uint64  # random stream of the t copula's chi-square variable
    yearly: bool  # factor_dynamics = "ar1": the sector factors move year by year
    persistence: float  # their AR(1) persistence per year
    year_threshold: np.ndarray  # (R, G, Y) float64, calibrated yearly thresholds (ar1)
    group_cum_pd: np.ndarray  # (R, G, Q) float64, marginal cumulative PD by relative step
    screen_u: np.ndarray  # (R, C, N - 1) float64, on [S_i, S_i+1] of the SCREEN grid: no uniform above it defaults in the cell's groups (Phi of a bound on (thr_h - w S) / sqrt(1 - w^2), plus a margin)
    group_cell: np.ndarray  # (G,) int64, each group's screening cell (kernel_inputs.screen_bounds)
    cell_sector: np.ndarray  # (C,) int64, the cell's sector
    screen_a_max: np.ndarray  # (R, C) a cell's largest intercept thr_h / sqrt(1 - w^2) by regime (the screen off the grid)
    screen_b_min: np.ndarray  # (C,) a cell's smallest slope w / sqrt(1 - w^2)
    screen_b_max: np.ndarray  # (C,) its largest


class Exposures(NamedTuple):
    """Per-exposure parameters, canonical (``project_id``) order; all arrays (P,)."""

    group: np.ndarray  # int64, default group
    instrument: np.ndarray  # int64, codes.Instrument
    institution: np.ndarray  # int64, codes.Institution
    sector: np.ndarray  # int64
    approval_step: np.ndarray  # int64
    operating_start: np.ndarray  # int64, first step of operating cash (equity)
    operating_end: np.ndarray  # int64, one past the last operating step (may pass the horizon)
    equity_slot: np.ndarray  # int64, position among the equity exposures, -1 otherwise
    floating: np.ndarray  # bool, the loan pays the stochastic base rate
    commitment: np.ndarray  # float64, USD
    coverage: np.ndarray  # float64, NEXI's share of a guaranteed loan
    lgd_mean: np.ndarray  # float64
    lgd_alpha: np.ndarray  # float64, beta shape (0: the LGD is its mean)
    lgd_beta: np.ndarray  # float64
    lgd_loading: np.ndarray  # float64, b: loading of the LGD on the sector factor (0: none)
    lgd_offset: np.ndarray  # float64, Phi^-1(lgd) sqrt(1 + b^2): mean over the cycle is lgd
    recovery_lag: np.ndarray  # int64, steps from default to the recovery (loans, guarantees)
    overrun_mean: np.ndarray  # float64, equity: mean cost overrun (multiplier 1 + mean)
    overrun_sd: np.ndarray  # float64, equity: sd of the log overrun multiplier
    overrun_key: np.ndarray  # uint64, stream of the overrun draw
    performance_key: np.ndarray  # uint64, stream of the performance level's own part
    drift_key: np.ndarray  # uint64, stream of the performance drift's own shocks
    operating_cash: np.ndarray  # float64, scheduled operating cash per step (equity)
    cash_vol: np.ndarray  # float64, log-volatility of operating cash
    deemed_spread_step: np.ndarray  # float64, deemed spread per step
    pd_operating: np.ndarray  # (R, P) float64, annual PD after construction, times the regime's PD multiplier (at most 1)
    default_key: np.ndarray  # uint64, stream of the idiosyncratic default uniform
    lgd_key: np.ndarray  # uint64, stream of the beta LGD
    cash_key: np.ndarray  # uint64, stream of the idiosyncratic cash shocks
    survivor_value: np.ndarray  # float64, NPV if it never defaults when path-independent, else NaN


class CashSchedules(NamedTuple):
    """Deterministic cash-flow tables (see :mod:`riskengine.schedules`) and the survivors'
    pre-summed value and cash."""

    draws: np.ndarray  # (P, Q) money put in at step starts
    balance: np.ndarray  # (P, Q) exposure at default by step
    pv_before: np.ndarray  # (P, Q + 1) PV of the flows before a default in step k
    terminal: np.ndarray  # (P,) PV of a survivor's holding at the horizon
    npv_if_survives: np.ndarray  # (P,) a loan's or guarantee's NPV if it never defaults (pv_before[:, Q] + terminal)
    cash_start: np.ndarray  # (P, Q) undiscounted cash at step starts without default
    cash_end: np.ndarray  # (P, Q) undiscounted cash at step ends without default
    df_start: np.ndarray  # (Q,) discount factors at step starts
    df_end: np.ndarray  # (Q,) discount factors at step ends
    survivor_loss: np.ndarray  # (I,) minus the summed NPV of the path-independent survivors
    survivor_cash: np.ndarray  # (Q, I) the debt's net cash per step if nothing defaults
    fiscal_year: np.ndarray  # (Q,) int64, index of each step's fiscal year (annual.parquet)
    survivor_pv: np.ndarray  # (I, Q) the pre-summed survivors' pv_flow summed by institution
    pv_flow: np.ndarray  # (P, Q) a row's discounted flow by step if it survives that the yen figures convert (fx.view's: riskengine.yen_views)
    pv_flow_end: np.ndarray  # (P,) int64, one past its last non-zero step
    yen_funded: np.ndarray  # (P,) bool, fx.view funds the row's principal in dollars: the yen figures leave it and its funding cost out


class CashAndRates(NamedTuple):
    """The sector cash index of equity and the base-rate path."""

    cash_key: np.uint64  # stream of the sector cash innovations
    persistence: float  # AR(1) persistence of the sector cash index
    sector_loading: float  # b: sector share of the log-cash shock is b^2
    sectors_needed: np.ndarray  # (K,) bool, sectors whose cash index is simulated
    macro_weights: np.ndarray  # (K,) float64, weights of the common innovation (unit variance)
    innovation_root: np.ndarray  # (K, K) float64, root @ root.T = sector correlation: the cash index's innovations (never a scenario's conditional root)
    innovation_root_end: np.ndarray  # (K,) int64, one past the last non-zero of each row
    stochastic_rate: bool  # Vasicek short rate (else the deterministic base rate)
    rate_key: np.uint64  # stream of the short-rate innovations
    rate_decay: float  # exp(-kappa dt)
    rate_step_sd: float  # sd of one step's rate innovation
    rate_long_run: float  # theta, annual
    rate_factor_correlation: float  # correlation of rate shocks with the common innovation
    base_rate_step: np.ndarray  # (Q,) deterministic base rate per step
    performance_sd: float  # sd of an equity vehicle's log performance level (0: none)
    performance_loading: float  # loading of the level on the sector factor
    drift_sd: float  # long-run sd of the slowly mean-reverting log performance (0: none)
    drift_persistence: float  # its persistence per step
    sector_drift_key: np.uint64  # stream of the drift's sector shocks
    tail_base_rate_step: float  # base rate per step after the horizon
    steps_per_year: int


class WaterfallTerms(NamedTuple):
    """The profit-sharing tiers and the equity continuation tables."""

    shares: np.ndarray  # (T,) Japan's share per tier
    extra_spread_step: np.ndarray  # (max(T - 1, 1),) hurdle spread per step on the deemed rate
    n_hurdles: int  # T - 1
    shares_after: np.ndarray  # (T,) Japan's share per tier once the deal has ended (deal_end.profit_split; the tiers' own when kept)
    renegotiate: bool  # deal_end.profit_split = "renegotiated"
    continuation: np.ndarray  # (E, 5, L) deterministic cash after the horizon (schedules.continuation_tables)
    continuation_length: np.ndarray  # (E,) int64, used length of each table


class ProgramTerms(NamedTuple):
    """What the program funds on a path (:mod:`riskengine.deployment`), its political
    regime, a scenario's factor shift, the tariff on declines and USD/JPY. ``R`` regimes
    (1 without ``[[regimes]]``), ``U`` units (obligors with a conditional row)."""

    regime_key: np.uint64  # stream of the path's regime draw
    regime_cum: np.ndarray  # (R,) cumulative regime probabilities
    pinned_regime: int  # every path in this regime; -1: drawn
    pd_as_tabled: np.ndarray  # (R,) bool, the regime's operating PD is the one the continuation tables were built with (its PD multiplier is 1)
    yield_multiplier: np.ndarray  # (R,) on equity operating cash
    selection_multiplier: np.ndarray  # (R,) on the pipeline's selection probability
    decline_multiplier: np.ndarray  # (R,) on decline probabilities
    factor_shift: np.ndarray  # (K,) a scenario's shift of the sector factors' means
    unit_of: np.ndarray  # (P,) int64, the row's unit; -1: unconditional
    variant_lo: np.ndarray  # (P,) float64, the variant is live when the unit's timing
    variant_hi: np.ndarray  # (P,) float64, uniform lies in [lo, hi)
    variant_end: np.ndarray  # (P,) int64, one past the last row of the row's variants
    unit_selection: np.ndarray  # (U,) float64
    unit_decline: np.ndarray  # (U,) float64
    unit_pipeline: np.ndarray  # (U,) bool, timing drawn, selection multiplier applies
    unit_forced: np.ndarray  # (U,) bool, declined whenever selected
    unit_key: np.ndarray  # (U,) uint64, stream of the unit's draws
    selection_correlation: float  # program.selection_correlation, rho = corr(selection normal, latent credit variable) of pipeline units (0: independent)
    unit_credit_loading: np.ndarray  # (U,) float64, c = rho / sqrt(1 - w^2): loading of a pipeline unit's idiosyncratic credit term on its selection normal (0: none)
    unit_credit_keep: np.ndarray  # (U,) float64, sqrt(1 - c^2)
    selection_threshold: np.ndarray  # (R, U) float64, Phi^-1 of the unit's selection probability in each regime: selected when its selection normal is below (+inf: certain)
    latent_row: np.ndarray  # (P,) bool, a conditional row whose obligor has no unconditional row: its latent credit normal is drawn itself, not as Phi^-1 of the obligor's default uniform
    tariff_per_step: np.ndarray  # (P,) float64, the penalty per step if declined
    tariff_pv: np.ndarray  # (P,) float64, its present value
    tariff_steps: int  # the penalty's length in steps
    tariff_form: int  # codes.TariffForm: proportional (per declined row) or trigger (per path)
    trigger_share: float  # trigger: the declined share of selected commitments it needs
    trigger_per_step: float  # trigger: the whole penalty per step once pulled
    trigger_pv: np.ndarray  # (Q,) float64, trigger: its present value if pulled at each step
    fixed_by_step: np.ndarray  # (Q,) float64, the unconditional rows' commitments by funding step
    deployed_fixed: np.ndarray  # (I,) commitments of the unconditional rows
    fx_on: bool  # losses in yen too
    fx_spot: float  # USD/JPY spot
    fx_vol: float  # annual volatility of log USD/JPY
    fx_loading: float  # correlation of log USD/JPY with the common default factor
    fx_key: np.uint64  # stream of USD/JPY's own shocks
    step_time: np.ndarray  # (Q,) years from as_of to each step's end
    common_weights: np.ndarray  # (K,) weights of the common default factor (unit variance)
    # the taxpayer's backstop ([capital], .backstop; zeros without it, when nothing reads
    # them; fields of their own, not a nested bundle, which a parallel loop cannot take)
    backstop_usd_jpy: float  # yen per dollar of a loss where the path does not track USD/JPY
    backstop_capital: np.ndarray  # (I,) float64, loss-absorbing capital at the start, yen
    backstop_earnings: np.ndarray  # (I, Y) float64, earnings of each fiscal year, yen (partial years pro rata)
    election_key: np.uint64  # stream of the elections' draws (switch 2k, deal end 2k + 1)
    election_step: np.ndarray  # (E,) int64, each election's first step of the new regime (E = 0: none)
    switch_cum: np.ndarray  # (R, R) cumulative probabilities of the regime after an election, by the regime before
    deal_end_prob: np.ndarray  # (R,) the probability that the deal ends at an election held in the regime
    yield_ratio: np.ndarray  # (R, R) yield_multiplier[j] / yield_multiplier[r] (diagonal exactly 1)
    unit_cut: np.ndarray  # (U, E) the unit's probability of a notice on or before election k: its timing uniform is below it
    tariff_ends: bool  # deal_end.tariff = "ends": the declines' tariff stops at the deal's end
    df_cum: np.ndarray  # (Q + 1,) cumulative df_end: a truncated tariff's present value


class Sampler(NamedTuple):
    """Importance sampling (plain Monte Carlo: zero shift, zero twist target, zero
    obligor theta, untilted regimes)."""

    mean_shift: np.ndarray  # (R, K) shift of the factor normals, by regime
    twist_target: float  # loss the conditional twist aims at (0: no twist)
    regime_cum: np.ndarray  # (R,) cumulative probabilities the regimes are drawn with
    regime_ratio: np.ndarray  # (R,) the model's probability over that one (1: no tilt)
    mixture_key: np.uint64  # stream of the defensive-mixture choice
    plain_share: float  # share of paths drawn from the model itself
    exposure_class: np.ndarray  # (P,) int64, twist class
    class_group: np.ndarray  # (C,) int64
    class_loss: np.ndarray  # (C,) float64, loss per default
    class_size: np.ndarray  # (C,) float64, members
    obligor: np.ndarray  # (P,) int64, the row's obligor (its rows share the default uniform)
    obligor_loss: np.ndarray  # (P,) float64, the row's loss per default in the obligor twist
    obligor_theta: float  # the obligor twist's theta (0: no obligor twist)


class PathOutputs(NamedTuple):
    """Per-path results of one chunk (rows: the chunk's paths)."""

    credit_loss: np.ndarray  # (n, I)
    economic_loss: np.ndarray  # (n, I)
    weight: np.ndarray  # (n,) likelihood ratio
    japan_receipts: np.ndarray  # (n,) equity distributions to Japan, undiscounted
    us_receipts: np.ndarray  # (n,) equity distributions to the US, undiscounted
    deemed_outstanding: np.ndarray  # (n,) deemed allocation not repaid at the horizon
    deployed: np.ndarray  # (n, I) commitments funded on the path
    tariff_cost: np.ndarray  # (n,) present value of the tariff penalties of declines
    regime: np.ndarray  # (n,) int64, the path's regime (today's, before any election)
    regime_history: np.ndarray  # (n, E) int64, the regime after each election
    deal_end: np.ndarray  # (n,) int64, 0: the deal lasts; k: it ends at election k (1-based)
    economic_loss_jpy: np.ndarray  # (n, I) economic loss in yen (0 without fx)
    tariff_cost_jpy: np.ndarray  # (n,) tariff cost in yen (0 without fx)
    exposure_credit: np.ndarray  # (n, P) each exposure's credit loss (a replay), else (0, P)
    capital_call: np.ndarray  # (n, I, Y) calls on the state by fiscal year ([capital]), else (0, I, Y)


class Accumulators(NamedTuple):
    """Weighted per-block sums (the caller adds the blocks in a fixed order)."""

    defaults: np.ndarray  # (B, P) weight of paths on which the exposure defaults
    credit_loss: np.ndarray  # (B, P)
    japan_receipts: np.ndarray  # (B, P)
    us_receipts: np.ndarray  # (B, P)
    recouped: np.ndarray  # (B, P) weight of paths on which the deemed balance is repaid
    recoup_step: np.ndarray  # (B, E, Q) weight by recoup step
    deemed_balance: np.ndarray  # (B, Q) deemed balance at step ends, timeline paths only
    annual: np.ndarray  # (B, Y, 3) defaults, JBIC credit loss, NEXI claims by fiscal year


class SampledPaths(NamedTuple):
    """Every ``stride``-th path records its cash timeline and Japan's equity IRRs."""

    timeline: np.ndarray  # (n_tl, Q, I) net cash per step
    timeline_stride: int
    irr: np.ndarray  # (n_irr, E) Japan's annual IRR per equity exposure
    irr_stride: int
    annual: np.ndarray  # (n_tl, Y, 3) the timeline paths' defaults, JBIC and NEXI losses by year


class BlockSpan(NamedTuple):
    """The paths of one chunk, which ``run_chunk`` hands each of its blocks."""

    first_path: int  # the chunk's first global path (a multiple of block)
    n_paths: int  # paths in the chunk
    block: int  # paths per block
    path_ids: np.ndarray  # (n_paths,) int64 global paths of a replay, or (0,): consecutive


class EquityScratch(NamedTuple):
    """Work arrays of one equity vehicle on one path."""

    balances: np.ndarray  # (max(T - 1, 1),) hurdle balances
    japan_contributions: np.ndarray  # (Q,) recorded on sampled paths
    japan_receipts: np.ndarray  # (Q,) recorded on sampled paths
    deemed_by_step: np.ndarray  # (Q,) summed over the path's vehicles on timeline paths
    operating_cash: np.ndarray  # (Q,) the vehicle's operating cash by step, before the waterfall


class PathScratch(NamedTuple):
    """Work arrays of one block of paths (allocated once per block)."""

    factor_normals: np.ndarray  # (K,)
    sector_factor: np.ndarray  # (K,)
    cash_index: np.ndarray  # (K, Q)
    cash_normals: np.ndarray  # (Q * K,) the innovations' normals of one path
    macro: np.ndarray  # (Q,) common cash innovation
    rate_path: np.ndarray  # (Q,) base rate per step on this path
    group_x: np.ndarray  # (G,) standardised horizon threshold given the factors
    group_shift: np.ndarray  # (G,) w * S
    class_pd: np.ndarray  # (C,)
    class_tilt: np.ndarray  # (C,) exp(theta c)
    zero_shift: np.ndarray  # (K,) zeros: the factor shift of untilted paths
    factor_path: np.ndarray  # (K, Y) the yearly sector factors (ar1)
    group_year_pd: np.ndarray  # (G, Y) conditional cumulative PD by year end (ar1)
    equity: EquityScratch
    credit_by_exposure: np.ndarray  # (P,)
    japan_by_exposure: np.ndarray  # (P,)
    us_by_exposure: np.ndarray  # (P,)
    recoup_by_exposure: np.ndarray  # (P,) int64
    defaulted: np.ndarray  # (P,) int64, exposures that defaulted on the path
    equity_seen: np.ndarray  # (P,) int64, equity exposures of the path
    credit_by_institution: np.ndarray  # (I,)
    economic_by_institution: np.ndarray  # (I,)
    annual: np.ndarray  # (Y, 3) this path's defaults, JBIC and NEXI losses by fiscal year
    loss_jpy: np.ndarray  # (I, Y) this path's credit losses in yen by fiscal year (the backstop)
    unit_state: np.ndarray  # (U,) int64, 0 not selected, 1 funded, 2 declined
    unit_time: np.ndarray  # (U,) float64, the unit's timing uniform
    unit_selection_z: np.ndarray  # (U,) float64, the unit's selection normal on the path (its draw 0)
    pv_by_step: np.ndarray  # (I, Q) discounted flows by step the yen figures convert (fx.view's)
    fx_gap: np.ndarray  # (Q + 1,) cumulative (USD/JPY - spot) x df_end over steps
    fx_path: np.ndarray  # (Q,) USD/JPY at each step
    must_visit: np.ndarray  # (P,) bool, a conditional row or a survivor valued path by path
    candidates: np.ndarray  # (P,) int64, the exposures visited on this path, in order
    exposure_u: np.ndarray  # (P,) each exposure's default uniform on this path (screening)
    visit_row: np.ndarray  # (P,) int64, the rows whose outcome this path values, in order
    visit_step: np.ndarray  # (P,) int64, each one's default step (-1: survives)
    group_stamp: np.ndarray  # (G,) int64, the path whose group_x a group holds (lazy groups)
    cell_screen: np.ndarray  # (C + 1,) no exposure of the cell defaults with a larger uniform (cell C: the rows visited on every path, 2)
    exposure_cell: np.ndarray  # (P,) int64, each exposure's screening cell (C: visited on every path)
    obligor_pd: np.ndarray  # (O,) the obligor's conditional PD by the horizon (obligor twist)
    obligor_loss: np.ndarray  # (O,) its live rows' loss per default
    obligor_u: np.ndarray  # (O,) its default uniform on this path (twisted on tilted paths)
    deployed: np.ndarray  # (I,) the path's deployed commitments by institution
    selected_by_step: np.ndarray  # (Q,) the path's selected conditional commitments by funding step
    declined_by_step: np.ndarray  # (Q,) the declined ones among them
    mu2_by_regime: np.ndarray  # (R,) the squared length of each regime's factor shift
    history: np.ndarray  # (E + 1,) int64, the path's regime today and after each election
    yield_by_step: np.ndarray  # (Q,) the yield of the regime in force over today's (1 without elections)
    touch: np.ndarray  # (1,) the sum that keeps the schedule loads of valuation.touch_schedules


class EquityTerms(NamedTuple):
    """The scalars of one equity vehicle on one path (built per call: scalars carry no
    reference counts)."""

    default_step: int  # -1: no default inside the horizon
    lgd: float  # loss given default on this path
    approval_step: int
    operating_start: int
    operating_end: int
    operating_cash: float  # scheduled operating cash per step
    cash_vol: float
    deemed_spread_step: float
    pd_operating: float
    pd_as_tabled: bool  # pd_operating is the one the continuation table was built with
    cash_key: np.uint64
    sector_loading: float
    tail_base_rate_step: float
    steps_per_year: int
    n_hurdles: int
    record: bool  # write Japan's contributions and receipts by step
    track_pv: bool  # add Japan's discounted cash by step to its institution's row
    yen_funded: bool  # with track_pv: the invested capital is funded (fx.view funding_matched)
    track: bool  # add the deemed balance by step
    overrun: float  # this path's cost multiplier of the vehicle's capital calls (1: none)
    performance: float  # this path's multiplier of the vehicle's operating cash (1: none)
    drift_sd: float  # the slowly mean-reverting part (CashAndRates.drift_*): 0 for none
    drift_persistence: float
    drift_loading: float  # loading of its shocks on the sector's
    drift_key: np.uint64  # this vehicle's path key of its own shocks
    split_step: int  # the first step with the renegotiated shares (-1: never)
    sector_drift_key: np.uint64  # this path's key of the sector shocks
    sector: int
    n_sectors: int


class EquityOutcome(NamedTuple):
    """One equity exposure on one path."""

    credit_loss: float
    npv: float  # Japan's NPV at the discount rate
    japan_total: float
    us_total: float
    recoup_step: int  # -1: not recouped by the horizon
    deemed_at_horizon: float
    horizon_value: float  # going-concern value to Japan at the horizon


class KernelInputs(NamedTuple):
    """The seven input bundles of :func:`.engine.run_chunk` together, as the per-path
    stages read them (:mod:`riskengine.kernel_inputs` builds them)."""
    copula: Copula
    exposures: Exposures
    schedules: CashSchedules
    cash: CashAndRates
    waterfall: WaterfallTerms
    sampler: Sampler
    program: ProgramTerms


class BlockPlan(NamedTuple):
    """What every path of a block does the same way (:func:`.engine.plan_block`)."""
    prefilter: bool  # exposures screened out by their uniform before they are visited
    lazy: bool  # the groups' conditional curves computed only when an exposure needs them
    twisting_obligors: bool  # importance sampling's obligor twist draws the default uniforms
    shift_on: bool  # a scenario shifts the factors' means
    shifted: bool  # importance sampling shifts the factor normals in some regime
    is_on: bool  # importance sampling on: paths carry a likelihood ratio
    replay: bool  # the chunk replays given paths (path_ids)
    by_exposure: bool  # each exposure's credit loss is written (a replay)
    credit_only: bool  # only credit losses are read: survivors and the yen figures skipped
    track_pv: bool  # discounted cash by step is tracked (the yen figures)
    n_equity: int  # equity exposures of the program (the continuation tables' rows)
    backstop: bool  # the capital calls are written ([capital], not a replay)


class PathContext(NamedTuple):
    """One path's draws that every later stage reads."""
    path: int  # the global path
    regime: int  # its political regime
    tilted: bool  # drawn from importance sampling's tilted measure
    scale: float  # the t copula's mixing scale (1: Gaussian)
    u_screen: float  # no default uniform above it defaults (the path's screen)
    theta: float  # the conditional twist (0: none)
    tl_row: int  # its row of the cash timeline (n_tl: not a timeline path)
    in_tl: bool
    irr_row: int  # its row of the IRR sample (n_irr: none)
    record: bool  # Japan's equity cash by step is recorded (timeline or IRR path)
    curve: int  # the path's regime history (the default tables' index; its regime without elections)
    final: int  # the regime in force at the horizon (the operating PD after it)
    deal_end_step: int  # the deal's first step after its end (-1: it lasts)


class DebtDefault(NamedTuple):
    """A loan or guarantee that defaults on a path (:mod:`.instruments`)."""
    credit_loss: float
    npv: float  # its NPV on the path, the cost of a lagged recovery included
    pv_at_default: float  # discounted cash of the default step
    recovery_later: float  # undiscounted recovery paid ``lag`` steps on (0: none)
    cash_at_default: float  # undiscounted cash of the default step (the timeline)
    cash_later: float  # undiscounted cash ``lag`` steps on (the timeline)

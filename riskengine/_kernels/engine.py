"""The chunk driver and the per-path stages.

A chunk is a global range of paths ``[first_path, first_path + n_paths)``; ``first_path``
is a multiple of ``block``. :func:`run_chunk` runs blocks of paths in parallel; each path
is simulated whole by :func:`simulate_block`, a short sequence of stages:

1. the measure the path is drawn from (importance sampling's defensive mixture),
2. the sector factors (:func:`~.defaults.sector_factors`),
3. the sector cash index and the common innovation (:func:`~.equity.cash_index`),
4. the base-rate path (:func:`~.rates.rate_path`),
5. the groups' conditional default probabilities (:func:`~.defaults.group_horizon_x`) and
   the conditional twist (:func:`twist_for_path`),
6. every exposure's default step; then the schedule entries the outcomes will read,
   loaded together (their misses overlap); then, in the rows' order, each outcome: a
   loan or guarantee (:func:`~.defaults.debt_outcome`, floating coupons, its cash on the
   timeline) or an equity vehicle (:func:`~.equity.equity_path`, its cash on the
   timeline, Japan's IRR),
7. the path's weight, per-path outputs and the block's accumulators (:func:`accumulate`).

Each block writes only its own rows of the per-path outputs and its own slices of the
accumulators, which the caller sums over blocks in a fixed order, so results are
bit-identical for any thread count and any chunk size that is a multiple of the block.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..codes import Instrument
from ._cache import CACHE
from .bundles import BlockSpan, EquityScratch, EquityTerms, PathScratch
from .defaults import (
    _PHI_MARGIN,
    SCREEN_LO,
    SCREEN_POINTS,
    SCREEN_STEP,
    cond_pd,
    debt_outcome,
    default_quarter,
    default_quarter_by_horizon,
    draw_lgd,
    group_horizon_x,
    group_x_of,
    group_year_pd,
    mixing_scale,
    phi_approx,
    phi_cdf,
    sector_factors,
    twist_theta,
    u_below_phi,
    yearly_default_step,
    yearly_factors,
)
from .equity import cash_index, equity_path
from .exponential import exp
from .indexing import unsigned
from .irr import irr_annual
from .rates import rate_path
from .rng import key_uniform, normal, path_key, uniform

_PER_SCREEN_STEP = 1.0 / SCREEN_STEP


@njit(cache=CACHE, parallel=True)
def run_chunk(first_path, n_paths, block, copula, exposures, schedules, cash, waterfall,
              sampler, program, out, acc, sampled, path_ids):
    """Simulate paths ``first_path .. first_path + n_paths - 1``.

    Parameters
    ----------
    first_path, n_paths, block : int
        The chunk's first global path, its number of paths, and paths per block
        (``first_path % block == 0``).
    copula, exposures, schedules, cash, waterfall, sampler, program
        Input bundles (:mod:`.bundles`), built by :mod:`riskengine.kernel_inputs`.
    out : PathOutputs
        Rows ``0 .. n_paths - 1`` are this chunk's paths.
    acc : Accumulators
        Leading axis: this chunk's blocks.
    sampled : SampledPaths
        Global rows: path ``i`` with ``i % stride == 0`` writes row ``i // stride``.
    path_ids : (n_paths,) int64 or (0,)
        A replay: row ``r`` simulates global path ``path_ids[r]`` (``first_path`` 0, no
        sampled paths), e.g. the tail paths whose losses per exposure the risk
        contributions need (``out.exposure_credit``). Empty: the paths
        ``first_path + r``.
    """
    n_blocks = (n_paths + block - 1) // block
    span = BlockSpan(first_path, n_paths, block, path_ids)
    for b in prange(n_blocks):
        # outputs are written only inside simulate_block, never through a bundle attribute
        # in this parallel body (numba drops such writes); the block's work arrays are
        # allocated here, so simulate_block allocates nothing and runs without reference
        # counts
        scratch = new_scratch(copula, exposures, schedules, waterfall, sampler, program, out)
        simulate_block(span, b, copula, exposures, schedules, cash, waterfall, sampler,
                       program, out, acc, sampled, scratch)


@njit(cache=CACHE)
def new_scratch(copula, exposures, schedules, waterfall, sampler, program, out):
    """Work arrays for one block of paths (:class:`~.bundles.PathScratch`): every array
    :func:`simulate_block` uses, which allocates none itself."""
    n_sec = copula.root.shape[0]
    n_groups = copula.group_loading.shape[0]
    n_units = program.unit_selection.shape[0]
    n_q = schedules.df_end.shape[0]
    n_proj = exposures.group.shape[0]
    n_cls = sampler.class_loss.shape[0]
    n_obligors = sampler.obligor.max() + 1 if n_proj else 0
    n_inst = out.credit_loss.shape[1]
    equity = EquityScratch(balances=np.empty(max(waterfall.n_hurdles, 1)),
                           japan_contributions=np.zeros(n_q), japan_receipts=np.zeros(n_q),
                           deemed_by_step=np.zeros(n_q), operating_cash=np.zeros(n_q))
    return PathScratch(
        factor_normals=np.empty(n_sec), sector_factor=np.empty(n_sec),
        cash_index=np.zeros((n_sec, n_q)), cash_normals=np.empty(n_q * n_sec),
        macro=np.zeros(n_q), rate_path=np.empty(n_q),
        group_x=np.empty(n_groups), group_shift=np.empty(n_groups),
        class_pd=np.zeros(n_cls), class_tilt=np.ones(n_cls), zero_shift=np.zeros(n_sec),
        factor_path=np.zeros((n_sec, copula.year_threshold.shape[2])),
        group_year_pd=np.zeros((n_groups, copula.year_threshold.shape[2])),
        equity=equity,
        credit_by_exposure=np.zeros(n_proj), japan_by_exposure=np.zeros(n_proj),
        us_by_exposure=np.zeros(n_proj),
        recoup_by_exposure=np.zeros(n_proj, dtype=np.int64),
        defaulted=np.zeros(n_proj, dtype=np.int64),
        equity_seen=np.zeros(n_proj, dtype=np.int64),
        credit_by_institution=np.zeros(n_inst), economic_by_institution=np.zeros(n_inst),
        annual=np.zeros((schedules.fiscal_year[n_q - 1] + 1, 3)),
        unit_state=np.zeros(n_units, dtype=np.int64), unit_time=np.zeros(n_units),
        pv_by_step=np.zeros((n_inst, n_q)), fx_gap=np.zeros(n_q + 1), fx_path=np.zeros(n_q),
        must_visit=np.zeros(n_proj, dtype=np.bool_), exposure_u=np.zeros(n_proj),
        group_stamp=np.full(n_groups, -1, dtype=np.int64),
        cell_screen=np.zeros(copula.cell_sector.shape[0] + 1),
        exposure_cell=np.zeros(n_proj, dtype=np.int64),
        candidates=np.zeros(n_proj, dtype=np.int64),
        visit_row=np.zeros(n_proj, dtype=np.int64), visit_step=np.zeros(n_proj, dtype=np.int64),
        obligor_pd=np.zeros(n_obligors), obligor_loss=np.zeros(n_obligors),
        obligor_u=np.zeros(n_obligors),
        deployed=np.zeros(n_inst), mu2_by_regime=np.zeros(sampler.mean_shift.shape[0]),
        touch=np.zeros(1))


# _nrt=False: compiled without reference counting (numba's runtime), which this function
# needs for no array: its arrays are the caller's (inputs, outputs and ``scratch``), alive
# for the whole call. Every view it takes (a regime's thresholds, a row of the schedules)
# and every array it passes on would otherwise take and drop a count, an atomic
# operation, per path and exposure. An allocation here fails to compile ("NRT required
# but not enabled"): allocate it in new_scratch.
@njit(cache=CACHE, _nrt=False)
def simulate_block(span, block_index, copula, exposures, schedules, cash, waterfall, sampler,
                   program, out, acc, sampled, scratch):
    """One block of the chunk ``span`` (:class:`~.bundles.BlockSpan`), each path through
    the stages of the module docstring. Writes the block's rows of ``out``, block
    ``block_index`` of ``acc`` and the rows of ``sampled`` of its sampled paths.
    ``scratch``: the block's work arrays (:func:`new_scratch`).

    Every bundle field the paths use is read into a local once per block, before the loop
    over paths (it keeps the loops short to read; reference counts, which made reading a
    field per exposure costly, are off here).
    """
    b = block_index
    first_path, n_paths, block, path_ids = (span.first_path, span.n_paths, span.block,
                                            span.path_ids)
    must_visit, candidates, exposure_u = (scratch.must_visit, scratch.candidates,
                                          scratch.exposure_u)
    visit_row, visit_step = scratch.visit_row, scratch.visit_step
    scratch_touch = scratch.touch
    n_exposures = must_visit.shape[0]
    n_skippable = 0
    for p in range(n_exposures):
        sv = exposures.survivor_value[p]
        must_visit[p] = program.unit_of[p] >= 0 or sv != sv
        candidates[p] = p
        if not must_visit[p]:
            n_skippable += 1
    # importance sampling's obligor twist (twist_obligors) redraws the default uniforms
    # from the group curves of every group
    obligor_theta = sampler.obligor_theta
    twisting_obligors = obligor_theta > 0.0
    obligor_of, obligor_u = sampler.obligor, scratch.obligor_u
    # screen exposures out before visiting them only where most can be (a book of loans
    # valued in closed form); elsewhere the screen costs more than it saves
    prefilter = 2 * n_skippable >= n_exposures and not twisting_obligors
    # groups computed only when needed ("lazy"): where exposures are screened out, with a
    # Gaussian copula, static factors, no twist and no group with loading 1; the screen
    # then bounds the groups' thresholds by cell (a_max by regime, b = w / sqrt(1 - w^2)
    # between b_min and b_max off the tabled grid). Elsewhere (the shipped program) the
    # groups are computed together, as before (lazy groups measured no faster there)
    n_groups = copula.group_loading.shape[0]
    group_stamp, cell_screen = scratch.group_stamp, scratch.cell_screen
    screen_u, cell_sector = copula.screen_u, copula.cell_sector
    exposure_cell = scratch.exposure_cell
    n_cells = cell_sector.shape[0]
    lazy = (prefilter and not copula.yearly and copula.t_dof == 0.0
            and sampler.twist_target == 0.0)
    for g in range(n_groups):
        group_stamp[g] = -1
        if not copula.group_idio_sd[g] > 0.0:
            lazy = False
    a_max, b_min, b_max = copula.screen_a_max, copula.screen_b_min, copula.screen_b_max
    if lazy:
        # each exposure's cell; the rows visited on every path have a cell of their own
        # (n_cells), whose screen every uniform passes
        for p in range(n_exposures):
            exposure_cell[p] = n_cells if must_visit[p] else copula.group_cell[exposures.group[p]]
        cell_screen[n_cells] = 2.0
    n_q = schedules.df_end.shape[0]
    n_eq = acc.recoup_step.shape[1]
    # the factors and the groups' default curves
    factor_key, root, root_end = copula.factor_key, copula.root, copula.root_row_end
    threshold_by_regime, steps_at_risk = copula.group_threshold, copula.group_steps_at_risk
    idio_sd, inverse_sd = copula.group_idio_sd, copula.group_inverse_idio_sd
    t_dof, mixing_key = copula.t_dof, copula.mixing_key
    yearly, persistence = copula.yearly, copula.persistence
    year_threshold_by_regime, cum_pd_by_regime = copula.year_threshold, copula.group_cum_pd
    group_loading, group_sector = copula.group_loading, copula.group_sector
    # the exposures
    group, default_key, approval = exposures.group, exposures.default_key, exposures.approval_step
    instrument, institution = exposures.instrument, exposures.institution
    survivor_value = exposures.survivor_value
    lgd_mean, lgd_alpha, lgd_beta = exposures.lgd_mean, exposures.lgd_alpha, exposures.lgd_beta
    lgd_key, coverage, floating = exposures.lgd_key, exposures.coverage, exposures.floating
    lgd_loading, lgd_offset = exposures.lgd_loading, exposures.lgd_offset
    recovery_lag = exposures.recovery_lag
    overrun_mean, overrun_sd, overrun_key = (exposures.overrun_mean, exposures.overrun_sd,
                                             exposures.overrun_key)
    sector, equity_slot = exposures.sector, exposures.equity_slot
    op_start, op_end = exposures.operating_start, exposures.operating_end
    operating_cash, cash_vol = exposures.operating_cash, exposures.cash_vol
    deemed_spread, pd_operating = exposures.deemed_spread_step, exposures.pd_operating
    cash_key = exposures.cash_key
    # schedules, cash and rates
    balance, pv_before = schedules.balance, schedules.pv_before
    npv_if_survives = schedules.npv_if_survives
    cash_start, cash_end = schedules.cash_start, schedules.cash_end
    draws, df_start, df_end = schedules.draws, schedules.df_start, schedules.df_end
    survivor_loss, survivor_cash = schedules.survivor_loss, schedules.survivor_cash
    survivor_pv, pv_flow, pv_flow_end = (schedules.survivor_pv, schedules.pv_flow,
                                         schedules.pv_flow_end)
    fiscal_year, annual_path, acc_annual = schedules.fiscal_year, scratch.annual, acc.annual
    base_rate_step, stochastic_rate = cash.base_rate_step, cash.stochastic_rate
    performance_sd, performance_loading = cash.performance_sd, cash.performance_loading
    performance_key, drift_key = exposures.performance_key, exposures.drift_key
    drift_sd, drift_persistence = cash.drift_sd, cash.drift_persistence
    sector_drift_key = cash.sector_drift_key
    n_sectors = root.shape[0]
    sector_loading, tail_base, steps_per_year = (cash.sector_loading, cash.tail_base_rate_step,
                                                 cash.steps_per_year)
    # the sampler
    mu, plain_share, mixture_key = sampler.mean_shift, sampler.plain_share, sampler.mixture_key
    twist_target = sampler.twist_target
    exposure_class, class_loss = sampler.exposure_class, sampler.class_loss
    # the program: regimes, selection, declines, scenario shift, USD/JPY
    # (drawn with the sampler's probabilities: the model's unless importance sampling
    # tilts them toward the tail's regimes)
    regime_key, regime_cum, pinned = program.regime_key, sampler.regime_cum, program.pinned_regime
    regime_ratio = sampler.regime_ratio
    n_regimes = regime_cum.shape[0]
    pd_mult, yield_mult = program.pd_multiplier, program.yield_multiplier
    selection_mult, decline_mult = program.selection_multiplier, program.decline_multiplier
    factor_shift = program.factor_shift
    shift_on = False
    for j in range(factor_shift.shape[0]):
        if factor_shift[j] != 0.0:
            shift_on = True
    unit_of, variant_lo, variant_hi = program.unit_of, program.variant_lo, program.variant_hi
    variant_end = program.variant_end
    unit_selection, unit_decline = program.unit_selection, program.unit_decline
    unit_pipeline, unit_forced, unit_key = (program.unit_pipeline, program.unit_forced,
                                            program.unit_key)
    tariff_per_step, tariff_pv, tariff_steps = (program.tariff_per_step, program.tariff_pv,
                                                program.tariff_steps)
    commitment, deployed_fixed = exposures.commitment, program.deployed_fixed
    fx_on, fx_spot, fx_vol = program.fx_on, program.fx_spot, program.fx_vol
    fx_loading, fx_key = program.fx_loading, program.fx_key
    step_time, common_weights = program.step_time, program.common_weights
    unit_state, unit_time = scratch.unit_state, scratch.unit_time
    pv_step, fx_gap, fx_path = scratch.pv_by_step, scratch.fx_gap, scratch.fx_path
    n_units = unit_state.shape[0]
    n_inst = out.credit_loss.shape[1]
    deployed_path = scratch.deployed
    # outputs and work arrays
    out_deployed, out_tariff, out_regime = out.deployed, out.tariff_cost, out.regime
    out_econ_jpy, out_tariff_jpy = out.economic_loss_jpy, out.tariff_cost_jpy
    out_weight, out_credit, out_economic = out.weight, out.credit_loss, out.economic_loss
    exposure_credit = out.exposure_credit
    replay = path_ids.shape[0] > 0
    by_exposure = exposure_credit.shape[0] > 0
    # a replay for the risk contributions reads credit losses alone (each exposure's and
    # the path's, checked against the main pass): it values only the rows that default,
    # a survivor losing nothing, and skips the yen figures (its other outputs are unread)
    credit_only = replay and by_exposure
    # discounted cash by step, for the yen figures
    track_pv = fx_on and fx_vol > 0.0 and not credit_only
    out_japan, out_us, out_deemed = out.japan_receipts, out.us_receipts, out.deemed_outstanding
    timeline, irr_sample, annual_sample = sampled.timeline, sampled.irr, sampled.annual
    n_tl, n_irr = timeline.shape[0], irr_sample.shape[0]
    tl_stride, irr_stride = sampled.timeline_stride, sampled.irr_stride
    z, sector_factor, zero_shift = scratch.factor_normals, scratch.sector_factor, scratch.zero_shift
    cash_idx, macro, rate = scratch.cash_index, scratch.macro, scratch.rate_path
    cash_normals = scratch.cash_normals
    group_x, group_shift = scratch.group_x, scratch.group_shift
    class_pd, class_tilt = scratch.class_pd, scratch.class_tilt
    factor_path, year_pd = scratch.factor_path, scratch.group_year_pd
    credit_i, econ_i = scratch.credit_by_institution, scratch.economic_by_institution
    defaulted, credit_by_exposure = scratch.defaulted, scratch.credit_by_exposure
    equity_seen = scratch.equity_seen
    japan_by, us_by, recoup_by = (scratch.japan_by_exposure, scratch.us_by_exposure,
                                  scratch.recoup_by_exposure)
    work = scratch.equity
    contributions, receipts, deemed_by_step = (work.japan_contributions, work.japan_receipts,
                                               work.deemed_by_step)
    shares, extra_spread, n_hurdles = (waterfall.shares, waterfall.extra_spread_step,
                                       waterfall.n_hurdles)
    continuation, continuation_length = waterfall.continuation, waterfall.continuation_length
    mu2_by_regime = scratch.mu2_by_regime
    shifted = False
    regime_tilted = False
    for rr in range(mu.shape[0]):
        for j in range(mu.shape[1]):
            mu2_by_regime[rr] += mu[rr, j] * mu[rr, j]
        if mu2_by_regime[rr] > 0.0:
            shifted = True
        if regime_ratio[rr] != 1.0:
            regime_tilted = True
    is_on = shifted or twist_target > 0.0 or regime_tilted or twisting_obligors

    for row in range(b * block, min((b + 1) * block, n_paths)):
        path = path_ids[row] if replay else first_path + row
        # 0. the path's political regime (its own stream; one regime: no draw)
        r = pinned
        regime_weight = 1.0  # p_r / q_r of a drawn regime (1: pinned, or one regime)
        if r < 0:
            r = 0
            if n_regimes > 1:
                u_regime = uniform(path_key(regime_key, path), 0)
                while r < n_regimes - 1 and u_regime >= regime_cum[r]:
                    r += 1
                regime_weight = regime_ratio[r]
        threshold = threshold_by_regime[r]
        group_cum_pd = cum_pd_by_regime[r]
        year_threshold = year_threshold_by_regime[r]
        # 1. defensive mixture (Hesterberg 1995): a share plain_share of paths is drawn
        # from the model itself, the rest from the tilted measure (factor shift, then the
        # conditional twist). The ratio f / (a f + (1 - a) g) is at most 1 / a.
        tilted = is_on and uniform(path_key(mixture_key, path), 0) >= plain_share
        # 2. sector factors
        mu_r = mu[r]
        mu2 = mu2_by_regime[r]
        sector_factors(path, factor_key, root, root_end, mu_r if tilted else zero_shift, z,
                       sector_factor)
        if shift_on:  # a scenario's stress of the factors' means
            for j in range(n_sectors):
                sector_factor[j] += factor_shift[j]
        log_ratio = 0.0  # log(g / f) of the tilted measure at this path
        if shifted:
            dot = 0.0
            for j in range(mu_r.shape[0]):
                dot += mu_r[j] * z[j]
            log_ratio = dot - 0.5 * mu2
        # 3. sector cash index (equity) and the common innovation (rates)
        if n_eq > 0 or stochastic_rate:
            cash_index(path, cash, root, root_end, sector_factor, cash_normals, cash_idx, macro)
        # 4. base rate
        rate_path(path, cash, macro, rate)
        # 5. conditional default probabilities given the factors (and, for the t copula,
        # the path's mixing variable); no exposure defaults on this path unless its
        # uniform is below the largest of them
        scale = mixing_scale(path, t_dof, mixing_key)
        if yearly:  # the factors move year by year: conditional curves by year end
            yearly_factors(path, factor_key, root, root_end, persistence, z, sector_factor,
                           factor_path)
            if shift_on:  # year 0 carries the shift, which the recursion decays as
                # phi^t: restore it, so every year's factor mean is shifted
                decay = 1.0
                for t in range(1, factor_path.shape[1]):
                    decay *= persistence
                    for j in range(n_sectors):
                        factor_path[j, t] += factor_shift[j] * (1.0 - decay)
            u_screen = group_year_pd(group_loading, group_sector, idio_sd, year_threshold,
                                     factor_path, year_pd)
        elif lazy:
            # each cell's screen: no uniform above it defaults in the cell's groups, from
            # a bound on their standardised thresholds x = a - b S (tabled as Phi on the
            # factor's grid; off it, a <= a_max and b in [b_min, b_max]). The groups' own
            # values are computed when an exposure's uniform passes this screen (6.)
            u_screen = 0.0
            screen_r = screen_u[r]
            for c in range(n_cells):
                sf = sector_factor[unsigned(cell_sector[c])]
                at = (sf - SCREEN_LO) * _PER_SCREEN_STEP  # (a grid point's neighbour
                # ulp either side is fine: each interval's screen holds at both its ends)
                if 0.0 <= at < SCREEN_POINTS - 1:
                    screen = screen_r[c, unsigned(int(at))]
                else:  # off the grid: the cell's largest intercept and extreme slope
                    bound = a_max[r, c] - (b_min[c] if sf >= 0.0 else b_max[c]) * sf
                    screen = phi_approx(bound + 1e-9) + _PHI_MARGIN
                cell_screen[c] = screen
                if screen > u_screen:
                    u_screen = screen
        else:
            x_max = group_horizon_x(group_loading, group_sector, threshold, steps_at_risk,
                                    idio_sd, inverse_sd, scale, sector_factor, group_x,
                                    group_shift)
            u_screen = phi_approx(x_max) + _PHI_MARGIN
        theta, psi = 0.0, 0.0
        if twist_target > 0.0:
            theta, psi = twist_for_path(threshold, copula, sampler, scale, group_shift,
                                        class_pd, class_tilt)
        # 6. exposures
        tl_row = path // tl_stride if path % tl_stride == 0 else n_tl
        in_tl = tl_row < n_tl
        irr_row = path // irr_stride if path % irr_stride == 0 else n_irr
        record = in_tl or irr_row < n_irr
        if in_tl:
            for q in range(n_q):
                deemed_by_step[q] = 0.0
                for i in range(timeline.shape[2]):
                    timeline[tl_row, q, i] = survivor_cash[q, i]
        for i in range(credit_i.shape[0]):
            credit_i[i] = 0.0
            econ_i[i] = survivor_loss[i]
        annual_path[:, :] = 0.0
        # 5b. which conditional units the program funds on this path, when, and which
        # Japan declines (draws 0, 1, 2 of the unit's stream)
        for u in range(n_units):
            p_select = unit_selection[u]
            if unit_pipeline[u]:
                p_select = min(1.0, p_select * selection_mult[r])
            ukey = path_key(unit_key[u], path)
            state = 0
            if p_select >= 1.0 or uniform(ukey, 0) < p_select:
                state = 1
                p_decline = min(1.0, unit_decline[u] * decline_mult[r])
                if unit_forced[u] or (p_decline > 0.0 and uniform(ukey, 2) < p_decline):
                    state = 2
            unit_state[u] = state
            unit_time[u] = uniform(ukey, 1) if unit_pipeline[u] else 0.5
        for i in range(n_inst):
            deployed_path[i] = deployed_fixed[i]
        tariff = 0.0
        tariff_gap = 0.0  # sum of per-step tariff x (USD/JPY - spot) x df
        if track_pv:
            fx_for_path(path, fx_key, fx_spot, fx_vol, fx_loading, common_weights,
                        sector_factor, step_time, df_end, fx_path, fx_gap)
            for i in range(n_inst):
                for q in range(n_q):
                    pv_step[i, q] = survivor_pv[i, q]
        # 5c. importance sampling's twist of the obligors' defaults given the factors and
        # the program's draws (tilted paths draw twisted uniforms; every path its ratio)
        if twisting_obligors:
            log_ratio += twist_obligors(path, tilted, obligor_theta, exposures, sampler,
                                        program, scratch)
        twisted_loss = 0.0
        japan_sum, us_sum, deemed_sum = 0.0, 0.0, 0.0
        n_def = 0
        n_eqp = 0
        # 6a. the exposures this path visits, in order: a row funded on every path whose
        # survival is pre-summed matters only if it defaults, and (unless the twist draws
        # it) it defaults only if its uniform is at most the screen, so the rest are
        # skipped after one hash (the same uniforms and decisions as visiting them all)
        n_cand = 0
        hashed = False  # exposure_u holds this path's uniforms
        if not prefilter:
            n_cand = n_exposures  # every exposure, in order (candidates[p] = p)
        elif tilted and theta > 0.0 and not yearly:  # the twist decides every default
            for p in range(n_exposures):
                candidates[p] = p
            n_cand = n_exposures
        else:
            # the uniforms first, in a loop of their own (it vectorises: 1.8 times faster
            # than hashing inside the test), then the screen: each cell's own (lazy
            # groups) or the path's (a per-group screen was measured slower)
            for p in range(n_exposures):
                exposure_u[p] = key_uniform(path_key(default_key[p], path))
            hashed = True
            # (branch-free: every index is written, the count moves only past a pass)
            if lazy:
                for p in range(n_exposures):
                    candidates[unsigned(n_cand)] = p
                    n_cand += exposure_u[p] <= cell_screen[unsigned(exposure_cell[p])]
            else:
                for p in range(n_exposures):
                    candidates[n_cand] = p
                    n_cand += must_visit[p] | (exposure_u[p] <= u_screen)
        c_index = 0
        n_visit = 0
        while c_index < n_cand:
            p = candidates[c_index]
            c_index += 1
            # the default step: exactly u <= Phi(group_x) (the table decides unless u is
            # within the margin)
            unit = unit_of[p]
            if unit >= 0:  # a conditional row: live only in its unit's drawn variant
                state = unit_state[unit]
                if not prefilter:
                    # every row is a candidate, in order: go straight to the block's live
                    # variant (its [lo, hi) partition the timing uniform in order), and on
                    # past the block; the rows skipped are those the test below skips
                    end = variant_end[p]
                    c_index = end
                    if state == 0:
                        continue
                    t_unit = unit_time[unit]
                    while p < end - 1 and not t_unit < variant_hi[p]:
                        p += 1
                if state == 0 or not (variant_lo[p] <= unit_time[unit] < variant_hi[p]):
                    continue
                if state == 2:  # declined: no exposure, the tariff instead
                    tariff += tariff_pv[p]
                    if track_pv:
                        start = approval[p]
                        end = min(start + tariff_steps, n_q)
                        tariff_gap += tariff_per_step[p] * (fx_gap[end] - fx_gap[start])
                    continue
                deployed_path[institution[p]] += commitment[p]
            g = group[p]
            if twisting_obligors:
                u = obligor_u[obligor_of[p]]
            elif hashed:
                u = exposure_u[p]
            else:
                u = key_uniform(path_key(default_key[p], path))
            k = -1
            if yearly:
                if u <= u_screen:
                    j = yearly_default_step(u, approval[p], steps_at_risk[g], steps_per_year,
                                            year_pd[g], group_cum_pd[g])
                    if j >= 0:
                        k = approval[p] + j
            elif tilted and theta > 0.0:
                # twisted default probability q; given default, u * p / q is uniform on
                # [0, p] and picks the step from the untwisted curve
                c = exposure_class[p]
                pp = class_pd[c]
                qq = pp * class_tilt[c] / (1.0 + pp * (class_tilt[c] - 1.0))
                if u <= qq and pp > 0.0:
                    j = default_quarter(u * pp / qq, threshold[g], steps_at_risk[g],
                                        group_shift[g], idio_sd[g], scale)
                    if j < 0:
                        j = steps_at_risk[g] - 1  # rounding at the edge
                    k = approval[p] + j
                    twisted_loss += class_loss[c]
            elif u <= u_screen:
                if lazy and group_stamp[g] != path:
                    group_x_of(g, group_loading, group_sector, threshold, steps_at_risk,
                               idio_sd, inverse_sd, scale, sector_factor, group_x, group_shift)
                    group_stamp[g] = path
                if u_below_phi(u, group_x[g]):
                    j = default_quarter_by_horizon(u, threshold[g], steps_at_risk[g],
                                                   group_shift[g], idio_sd[g], scale)
                    k = approval[p] + j
                    if theta > 0.0:
                        twisted_loss += class_loss[exposure_class[p]]
            if k < 0 and (credit_only or survivor_value[p] == survivor_value[p]):
                continue  # a survivor whose value is already in survivor_loss (or unread)
            visit_row[n_visit] = p
            visit_step[n_visit] = k
            n_visit += 1
        # 6b. the schedule entries the outcomes read, loaded together: the tables are
        # megabytes, so each row's first read misses the cache, and in the outcomes' loop
        # (a beta draw, an equity vehicle between them) the misses came one at a time;
        # here they overlap. (Their sum is kept only so the loads are not removed.) Not
        # where rows are screened: the few rows visited there miss little, and the loop
        # measured slower (default mode)
        touched = 0.0
        for t in range(0 if prefilter else n_visit):
            p = visit_row[t]
            k = visit_step[t]
            first = min(approval[p], n_q - 1)
            if instrument[p] == Instrument.EQUITY:
                touched += draws[p, first]
                continue
            if k >= 0:
                touched += balance[p, k] + pv_before[p, k] + cash_start[p, k]
            if track_pv:
                touched += pv_flow[p, first]
        scratch_touch[0] = touched
        # 6c. the outcomes, in the rows' order
        for t in range(n_visit):
            p = visit_row[t]
            k = visit_step[t]
            unit = unit_of[p]
            value_if_survives = survivor_value[p]
            lgd = lgd_mean[p]
            if k >= 0:
                if lgd_loading[p] > 0.0:
                    lgd = cyclical_lgd(lgd_key[p], path, lgd_offset[p], lgd_loading[p],
                                       sector_factor[sector[p]], lgd_alpha[p] + lgd_beta[p])
                else:
                    lgd = draw_lgd(lgd_key[p], path, lgd, lgd_alpha[p], lgd_beta[p])
            inst = institution[p]
            if instrument[p] == Instrument.EQUITY:
                equity_seen[n_eqp] = p
                n_eqp += 1
                pd_op = min(1.0, pd_operating[p] * pd_mult[r])
                as_tabled = pd_mult[r] == 1.0
                terms = EquityTerms(
                    default_step=k, lgd=lgd, approval_step=approval[p],
                    operating_start=op_start[p], operating_end=op_end[p],
                    operating_cash=operating_cash[p], cash_vol=cash_vol[p],
                    deemed_spread_step=deemed_spread[p],
                    pd_operating=pd_op, pd_as_tabled=as_tabled,
                    cash_key=cash_key[p], sector_loading=sector_loading,
                    tail_base_rate_step=tail_base, steps_per_year=steps_per_year,
                    n_hurdles=n_hurdles, record=record, track=in_tl, track_pv=track_pv,
                    overrun=overrun_multiplier(overrun_key[p], path, overrun_mean[p],
                                               overrun_sd[p]),
                    performance=performance_multiplier(
                        performance_key[p], path, performance_sd, performance_loading,
                        sector_factor[sector[p]]) * yield_mult[r],
                    drift_sd=drift_sd, drift_persistence=drift_persistence,
                    drift_loading=performance_loading,
                    drift_key=path_key(drift_key[p], path),
                    sector_drift_key=path_key(sector_drift_key, path),
                    sector=sector[p], n_sectors=n_sectors)
                slot = equity_slot[p]
                o = equity_path(path, terms, draws[p], cash_idx[sector[p]], rate, df_start,
                                df_end, shares, extra_spread, continuation[slot, :, :continuation_length[slot]],
                                work, pv_step[inst])
                credit, npv = o.credit_loss, o.npv
                japan_sum += o.japan_total
                us_sum += o.us_total
                deemed_sum += o.deemed_at_horizon
                japan_by[p] = o.japan_total
                us_by[p] = o.us_total
                recoup_by[p] = o.recoup_step
                if in_tl:
                    for q in range(n_q):
                        timeline[tl_row, q, inst] += receipts[q] - contributions[q]
                if track_pv:  # (its steps' cash added by equity_path)
                    pv_step[inst, n_q - 1] += o.horizon_value * df_end[n_q - 1]
                if irr_row < n_irr:
                    irr_sample[irr_row, equity_slot[p]] = irr_annual(
                        contributions, receipts, o.horizon_value, steps_per_year, n_q)
            else:
                is_guarantee = instrument[p] == Instrument.GUARANTEE
                credit, npv = debt_outcome(p, k, lgd, is_guarantee, coverage[p], balance,
                                           pv_before, npv_if_survives, df_end)
                lag = recovery_lag[p]
                if k >= 0 and lag > 0:
                    npv -= lagged_recovery_cost(k, lgd, lag, is_guarantee, coverage[p],
                                                balance[p, k], df_end)
                if track_pv:
                    # the discounted cash at the default step (its draw, then the recovery
                    # or the claim) and a recovery paid lag steps later
                    at_default, later = 0.0, 0.0
                    if k >= 0:
                        ead = balance[p, k]
                        at_default = cash_start[p, k] * df_start[k]
                        share = coverage[p] if is_guarantee else 1.0
                        if lag > 0:
                            later = share * (1.0 - lgd) * ead
                            if is_guarantee:  # NEXI pays its cover now, recovers later
                                at_default -= share * ead * df_end[k]
                        elif is_guarantee:
                            at_default -= credit * df_end[k]
                        else:
                            at_default += (1.0 - lgd) * ead * df_end[k]
                    presummed = value_if_survives == value_if_survives
                    debt_pv_by_step(p, k, lag, presummed, approval[p], pv_flow, pv_flow_end[p],
                                    at_default, later, df_end, pv_step, inst)
                if in_tl and unit >= 0:
                    # a conditional row's cash is not in the pre-summed survivors' cash
                    for q in range(n_q):
                        timeline[tl_row, q, inst] += cash_start[p, q] + cash_end[p, q]
                if stochastic_rate and floating[p]:
                    # the floating coupon's deviation from the scheduled base rate, paid
                    # at each step's end while the loan is performing
                    end_q = n_q if k < 0 else k
                    for q in range(approval[p], end_q):
                        extra_cash = balance[p, q] * (rate[q] - base_rate_step[q])
                        npv += extra_cash * df_end[q]
                        if track_pv:
                            pv_step[inst, q] += extra_cash * df_end[q]
                        if in_tl:
                            timeline[tl_row, q, inst] += extra_cash
                if in_tl and k >= 0:
                    # from the default step on, replace the survivor's cash (already in
                    # the row) by what happens: the draw, then the recovery (loan) or the
                    # claim (guarantee) at the step's end
                    for q in range(k, n_q):
                        timeline[tl_row, q, inst] -= cash_start[p, q] + cash_end[p, q]
                    recovered = (1.0 - lgd) * balance[p, k]  # (loan; times coverage: NEXI)
                    if lag > 0:
                        # the draw and the outlay now, the recovery lag steps later
                        share = coverage[p] if is_guarantee else 1.0
                        outlay = -share * balance[p, k] if is_guarantee else 0.0
                        timeline[tl_row, k, inst] += cash_start[p, k] + outlay
                        if k + lag < n_q:
                            timeline[tl_row, k + lag, inst] += share * recovered
                    elif is_guarantee:
                        timeline[tl_row, k, inst] += cash_start[p, k] - credit
                    else:
                        timeline[tl_row, k, inst] += cash_start[p, k] + recovered
            if value_if_survives == value_if_survives:
                npv -= value_if_survives  # correct the pre-summed survivor value
            credit_i[inst] += credit
            econ_i[inst] -= npv
            if k >= 0:
                defaulted[n_def] = p
                n_def += 1
                credit_by_exposure[p] = credit
                annual_path[fiscal_year[k], 0] += 1.0  # defaults
                annual_path[fiscal_year[k], 1 + inst] += credit  # JBIC, NEXI losses
        # 7. weight, per-path outputs and the block's accumulators
        weight = 1.0
        if is_on:
            log_ratio += theta * twisted_loss - psi  # twist: dQ/dP = exp(theta L_c - psi)
            # (the regime drawn from the tilted probabilities on every path: its ratio
            # multiplies; 1 without a regime tilt)
            weight = regime_weight / (plain_share + (1.0 - plain_share) * np.exp(log_ratio))
        out_weight[row] = weight
        for i in range(credit_i.shape[0]):
            out_credit[row, i] = credit_i[i]
            out_economic[row, i] = econ_i[i]
        for i in range(n_inst):
            out_deployed[row, i] = deployed_path[i]
        out_tariff[row] = tariff
        out_regime[row] = r
        if fx_on:
            for i in range(n_inst):
                jpy = fx_spot * econ_i[i]
                if track_pv:  # each step's cash at that step's USD/JPY
                    for q in range(n_q):
                        jpy -= (fx_path[q] - fx_spot) * pv_step[i, q]
                out_econ_jpy[row, i] = jpy
            out_tariff_jpy[row] = fx_spot * tariff + tariff_gap
        else:
            for i in range(n_inst):
                out_econ_jpy[row, i] = 0.0
            out_tariff_jpy[row] = 0.0
        out_japan[row] = japan_sum
        out_us[row] = us_sum
        out_deemed[row] = deemed_sum
        if by_exposure:  # (a replay) each exposure's credit loss on the path
            for p in range(exposure_credit.shape[1]):
                exposure_credit[row, p] = 0.0
            for t in range(n_def):
                exposure_credit[row, defaulted[t]] = credit_by_exposure[defaulted[t]]
        accumulate(b, weight, n_def, n_eqp, in_tl and n_eq > 0, equity_slot, acc, scratch)
        if n_def > 0:
            for y in range(annual_path.shape[0]):
                for j in range(3):
                    acc_annual[b, y, j] += weight * annual_path[y, j]
        if in_tl:
            for y in range(annual_path.shape[0]):
                for j in range(3):
                    annual_sample[tl_row, y, j] = annual_path[y, j]


@njit(cache=CACHE)
def fx_for_path(path, fx_key, spot, vol, loading, common_weights, sector_factor, step_time,
                df_end, fx_path, fx_gap):
    """USD/JPY at each step's end on one path (Q,), lognormal with mean ``spot`` and
    log-volatility ``vol sqrt(t)``: ``X_q = spot exp(vol (rho sqrt(t_q) M +
    sqrt(1 - rho^2) W_q) - vol^2 t_q / 2)``, ``M = sum_s c_s S_s`` the path's common default
    factor (standard normal), ``W`` a Brownian motion of its own stream. Also
    ``fx_gap[q] = sum_{j < q} (X_j - spot) df_end[j]`` (Q + 1,)."""
    m = 0.0
    for s in range(common_weights.shape[0]):
        m += common_weights[s] * sector_factor[s]
    own = math.sqrt(max(1.0 - loading * loading, 0.0))
    pk = path_key(fx_key, path)
    n_q = step_time.shape[0]
    # in loops of their own, so the normals and the exps vectorise: fx_path holds the
    # normals, then the log-level's driver x, then the level
    for q in range(n_q):
        fx_path[unsigned(q)] = normal(pk, q)
    w, t_prev = 0.0, 0.0
    for q in range(n_q):
        t = step_time[q]
        w += math.sqrt(t - t_prev) * fx_path[q]
        t_prev = t
        fx_path[q] = loading * math.sqrt(t) * m + own * w
    for q in range(n_q):
        fx_path[unsigned(q)] = spot * exp(vol * fx_path[unsigned(q)]
                                          - 0.5 * vol * vol * step_time[unsigned(q)])
    fx_gap[0] = 0.0
    for q in range(n_q):
        fx_gap[q + 1] = fx_gap[q] + (fx_path[q] - spot) * df_end[q]


@njit(inline="always")
def debt_pv_by_step(p, k, lag, presummed, approval, pv_flow, flow_end, at_default, later,
                    df_end, pv_by_step, inst):
    """Add one loan's or guarantee's discounted cash on this path, by step, to row ``inst``
    of ``pv_by_step`` (I, Q). ``pv_flow[p]`` (Q,) is the row's discounted cash if it
    survives (its terminal value in the last step), zero from ``flow_end`` on. A pre-summed
    survivor (``presummed``, already in ``pv_by_step``) is only corrected from its default
    step ``k`` on; any other row is added whole. At default: ``at_default`` (discounted)
    in step ``k``, and ``later`` (undiscounted) recovered ``lag`` steps on (in the last
    step when that is past the horizon). Inlined, and no view of ``pv_by_step`` is taken:
    this runs per exposure and path; its loops index with :func:`~.indexing.unsigned`
    integers, so they vectorise."""
    n_q = df_end.shape[0]
    row, dst = unsigned(p), unsigned(inst)
    if k < 0:
        if not presummed:
            for q in range(unsigned(approval), unsigned(flow_end)):
                pv_by_step[dst, q] += pv_flow[row, q]
        return
    if presummed:  # take the survivor's flows out from the default step on
        for q in range(unsigned(k), unsigned(flow_end)):
            pv_by_step[dst, q] -= pv_flow[row, q]
    else:
        for q in range(unsigned(approval), unsigned(k)):
            pv_by_step[dst, q] += pv_flow[row, q]
    pv_by_step[inst, k] += at_default
    if lag > 0:
        pv_by_step[inst, min(k + lag, n_q - 1)] += later * df_end[k] * df_end[0] ** lag


@njit(inline="always")
def cyclical_lgd(lgd_key, path, offset, loading, sector_factor, concentration):
    """LGD that follows the cycle: mean ``Phi(offset - b S)`` with ``offset =
    Phi^-1(lgd) sqrt(1 + b^2)``, so its average over the factor is ``lgd`` and it is high
    when the sector factor (and so defaults) is bad; a Beta draw around that mean with the
    row's concentration ``alpha + beta`` when ``lgd_sd > 0``."""
    mean = phi_cdf(offset - loading * sector_factor)
    if concentration > 0.0 and 0.0 < mean < 1.0:  # (a Beta with a zero shape is its mean)
        return draw_lgd(lgd_key, path, mean, mean * concentration, (1.0 - mean) * concentration)
    return mean


@njit(inline="always")
def overrun_multiplier(key, path, mean, sd):
    """Construction cost overrun of an equity vehicle on one path: every capital call is
    multiplied by ``(1 + mean) exp(sd Z - sd^2 / 2)``, lognormal with mean ``1 + mean``
    (``Z`` standard normal, drawn once per vehicle and path); 1 when both are 0."""
    if sd > 0.0:
        return (1.0 + mean) * exp(sd * normal(path_key(key, path), 0) - 0.5 * sd * sd)
    return 1.0 + mean


@njit(inline="always")
def performance_multiplier(key, path, sd, loading, sector_factor):
    """An equity vehicle's performance on one path, fixed at financial close for its life:
    ``exp(sd P - sd^2 / 2)`` with ``P = b S + sqrt(1 - b^2) e`` (``S`` its sector's
    default factor, ``e`` its own normal), mean one; 1 when ``sd = 0``."""
    if sd > 0.0:
        e = normal(path_key(key, path), 0)
        level = loading * sector_factor + math.sqrt(max(1.0 - loading * loading, 0.0)) * e
        return exp(sd * level - 0.5 * sd * sd)
    return 1.0


@njit(inline="always")
def lagged_recovery_cost(k, lgd, lag, is_guarantee, coverage, ead, df_end):
    """What a recovery ``lag`` steps after a default in step ``k`` costs in present value
    against one paid at the end of step ``k``: ``R df_end[k] (1 - d^lag)`` with ``R`` the
    recovery (a loan's ``(1 - lgd) EAD``; a guarantee's ``coverage (1 - lgd) EAD``, NEXI
    paying ``coverage EAD`` at default) and ``d`` one step's discount factor."""
    share = coverage if is_guarantee else 1.0
    recovery = share * (1.0 - lgd) * ead
    return recovery * df_end[k] * (1.0 - df_end[0] ** lag)


@njit(cache=CACHE)
def twist_for_path(threshold, copula, sampler, scale, group_shift, class_pd, class_tilt):
    """Glasserman-Li twist given the factors (``group_shift = w S``, (G,)) and the
    regime's thresholds (G, Q): each class's
    conditional PD by the horizon (``class_pd``, (C,)), the twist ``theta`` toward
    ``sampler.twist_target`` and ``class_tilt = exp(theta c)`` (C,). Returns
    ``(theta, psi)``."""
    steps, idio_sd = copula.group_steps_at_risk, copula.group_idio_sd
    class_group, class_loss = sampler.class_group, sampler.class_loss
    for c in range(class_loss.shape[0]):
        g = class_group[c]
        class_pd[c] = cond_pd(scale * threshold[g, steps[g] - 1], group_shift[g], idio_sd[g])
    theta, psi = twist_theta(sampler.twist_target, class_pd, class_loss, sampler.class_size)
    for c in range(class_loss.shape[0]):
        class_tilt[c] = np.exp(theta * class_loss[c])
    return theta, psi


@njit(cache=CACHE)
def twist_obligors(path, tilted, theta, exposures, sampler, program, scratch):
    """Importance sampling's twist of the obligors' defaults, given the factors
    (``scratch.group_x``) and the program's draws (``scratch.unit_state``, ``unit_time``).

    An obligor's rows share one default uniform ``u``; with ``p`` the largest conditional
    PD by the horizon of its rows live on the path and ``c`` their summed loss per default
    (``sampler.obligor_loss``), the twisted law of ``u`` has density ``q / p`` below ``p``
    and ``(1 - q) / (1 - p)`` above, ``q = p e^{theta c} / (1 + p (e^{theta c} - 1))``:
    the exponential twist of the obligor's default (Glasserman and Li 2005) that keeps
    ``u`` uniform on each side of ``p``, so the default quarter of every row follows its
    untwisted curve and the rows still default together. Writes each live obligor's
    uniform to ``scratch.obligor_u`` (on a ``tilted`` path drawn from the twisted law by
    inverting its distribution function; otherwise the plain ``u``) and returns the log
    of the twisted over the plain density at those uniforms, the path's part of the
    likelihood ratio."""
    pd_o, loss_o, u_o = scratch.obligor_pd, scratch.obligor_loss, scratch.obligor_u
    obligor, row_loss = sampler.obligor, sampler.obligor_loss
    group, default_key, group_x = exposures.group, exposures.default_key, scratch.group_x
    unit_of, variant_lo, variant_hi = program.unit_of, program.variant_lo, program.variant_hi
    unit_state, unit_time = scratch.unit_state, scratch.unit_time
    for o in range(pd_o.shape[0]):
        pd_o[o] = 0.0
        loss_o[o] = 0.0
        u_o[o] = -1.0  # (not live on this path)
    for p in range(obligor.shape[0]):
        unit = unit_of[p]
        if unit >= 0 and (unit_state[unit] != 1
                          or not variant_lo[p] <= unit_time[unit] < variant_hi[p]):
            continue  # not funded on this path (or declined)
        o = obligor[p]
        loss_o[o] += row_loss[p]
        pd_o[o] = max(pd_o[o], phi_cdf(group_x[group[p]]))
        if u_o[o] < 0.0:
            u_o[o] = key_uniform(path_key(default_key[p], path))
    log_ratio = 0.0
    for o in range(pd_o.shape[0]):
        pd, u = pd_o[o], u_o[o]
        if u < 0.0 or not 0.0 < pd < 1.0:
            continue
        # q = p e^{theta c} / (1 + p (e^{theta c} - 1)) = p / d, written to stay finite
        back = math.exp(-theta * loss_o[o])
        d = pd + (1.0 - pd) * back
        q = pd / d
        if tilted:  # inverse of the twisted distribution function
            below = u < q
            u_o[o] = u * d if below else pd + (u - q) * d / back
        else:
            below = u < pd
        log_ratio -= math.log(d) if below else math.log(d) + theta * loss_o[o]
    return log_ratio


@njit(inline="always")
def accumulate(block_index, weight, n_def, n_eqp, track_deemed, equity_slot, acc, scratch):
    """Add the path's weighted per-exposure results to block ``block_index`` of ``acc``."""
    b = block_index
    defaulted, credit_by_exposure = scratch.defaulted, scratch.credit_by_exposure
    defaults, credit_loss = acc.defaults, acc.credit_loss
    for t in range(n_def):
        p = defaulted[t]
        defaults[b, p] += weight
        credit_loss[b, p] += weight * credit_by_exposure[p]
    recoup_by_exposure = scratch.recoup_by_exposure
    for t in range(n_eqp):
        p = scratch.equity_seen[t]
        acc.japan_receipts[b, p] += weight * scratch.japan_by_exposure[p]
        acc.us_receipts[b, p] += weight * scratch.us_by_exposure[p]
        rq = recoup_by_exposure[p]
        if rq >= 0:
            acc.recouped[b, p] += weight
            acc.recoup_step[b, equity_slot[p], rq] += weight
    if track_deemed:
        deemed = scratch.equity.deemed_by_step
        for q in range(acc.deemed_balance.shape[1]):
            acc.deemed_balance[b, q] += weight * deemed[q]


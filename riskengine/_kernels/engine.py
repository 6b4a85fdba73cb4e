"""The chunk driver and the per-path stages.

A chunk is a global range of paths ``[first_path, first_path + n_paths)``; ``first_path``
is a multiple of ``block``. :func:`run_chunk` runs blocks of paths in parallel; each path
is simulated whole by :func:`simulate_path`, a short sequence of stages:

1. the measure the path is drawn from (importance sampling's defensive mixture),
2. the sector factors (:func:`~.defaults.sector_factors`),
3. the sector cash index and the common innovation (:func:`~.equity.cash_index`),
4. the base-rate path (:func:`~.rates.rate_path`),
5. the groups' conditional default probabilities (:func:`~.defaults.group_horizon_x`) and
   the conditional twist (:func:`twist_for_path`),
6. every exposure: its default step, then a loan or guarantee
   (:func:`~.defaults.debt_outcome`, floating coupons, its cash on the timeline) or an
   equity vehicle (:func:`~.equity.equity_path`, its cash on the timeline, Japan's IRR),
7. the path's weight, per-path outputs and the block's accumulators (:func:`accumulate`).

Each block writes only its own rows of the per-path outputs and its own slices of the
accumulators, which the caller sums over blocks in a fixed order, so results are
bit-identical for any thread count and any chunk size that is a multiple of the block.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..codes import Instrument
from ._cache import CACHE
from .bundles import EquityScratch, EquityTerms, PathScratch
from .defaults import (
    _PHI_MARGIN,
    cond_pd,
    debt_outcome,
    default_quarter,
    draw_lgd,
    group_horizon_x,
    phi_approx,
    sector_factors,
    twist_theta,
    u_below_phi,
)
from .equity import cash_index, equity_path
from .irr import irr_annual
from .rates import rate_path
from .rng import key_uniform, path_key, uniform


@njit(cache=CACHE, parallel=True)
def run_chunk(first_path, n_paths, block, copula, exposures, schedules, cash, waterfall,
              sampler, out, acc, sampled):
    """Simulate paths ``first_path .. first_path + n_paths - 1``.

    Parameters
    ----------
    first_path, n_paths, block : int
        The chunk's first global path, its number of paths, and paths per block
        (``first_path % block == 0``).
    copula, exposures, schedules, cash, waterfall, sampler
        Input bundles (:mod:`.bundles`), built by :mod:`riskengine.kernel_inputs`.
    out : PathOutputs
        Rows ``0 .. n_paths - 1`` are this chunk's paths.
    acc : Accumulators
        Leading axis: this chunk's blocks.
    sampled : SampledPaths
        Global rows: path ``i`` with ``i % stride == 0`` writes row ``i // stride``.
    """
    n_blocks = (n_paths + block - 1) // block
    for b in prange(n_blocks):
        # the block's work arrays; outputs are written only inside simulate_path, never
        # through a bundle attribute in this parallel body (numba drops such writes)
        scratch = new_scratch(copula, exposures, schedules, waterfall, sampler, out)
        for row in range(b * block, min((b + 1) * block, n_paths)):
            simulate_path(first_path + row, row, b, copula, exposures, schedules, cash,
                          waterfall, sampler, out, acc, sampled, scratch)


@njit(cache=CACHE)
def new_scratch(copula, exposures, schedules, waterfall, sampler, out):
    """Work arrays for one block of paths (:class:`~.bundles.PathScratch`)."""
    n_sec = copula.root.shape[0]
    n_groups = copula.group_loading.shape[0]
    n_q = schedules.df_end.shape[0]
    n_proj = exposures.group.shape[0]
    n_cls = sampler.class_loss.shape[0]
    n_inst = out.credit_loss.shape[1]
    equity = EquityScratch(balances=np.empty(max(waterfall.n_hurdles, 1)),
                           japan_contributions=np.zeros(n_q), japan_receipts=np.zeros(n_q),
                           deemed_by_step=np.zeros(n_q))
    return PathScratch(
        factor_normals=np.empty(n_sec), sector_factor=np.empty(n_sec),
        cash_index=np.zeros((n_sec, n_q)), macro=np.zeros(n_q), rate_path=np.empty(n_q),
        group_x=np.empty(n_groups), group_shift=np.empty(n_groups),
        class_pd=np.zeros(n_cls), class_tilt=np.ones(n_cls), zero_shift=np.zeros(n_sec),
        equity=equity,
        credit_by_exposure=np.zeros(n_proj), japan_by_exposure=np.zeros(n_proj),
        us_by_exposure=np.zeros(n_proj),
        recoup_by_exposure=np.zeros(n_proj, dtype=np.int64),
        defaulted=np.zeros(n_proj, dtype=np.int64),
        equity_seen=np.zeros(n_proj, dtype=np.int64),
        credit_by_institution=np.zeros(n_inst), economic_by_institution=np.zeros(n_inst))


@njit(cache=CACHE)
def simulate_path(path, row, block_index, copula, exposures, schedules, cash, waterfall,
                  sampler, out, acc, sampled, scratch):
    """One Monte Carlo path: the stages of the module docstring. Writes row ``row`` of
    ``out``, block ``block_index`` of ``acc`` and, if the path is sampled, its rows of
    ``sampled``.

    Fields used inside the loop over exposures are read into locals first: reading a
    bundle field takes a reference count, which would cost in that loop.
    """
    n_q = schedules.df_end.shape[0]
    n_eq = acc.recoup_step.shape[1]
    mu = sampler.mean_shift
    # 1. defensive mixture (Hesterberg 1995): a share plain_share of paths is drawn from
    # the model itself, the rest from the tilted measure (factor shift, then the
    # conditional twist). The ratio f / (a f + (1 - a) g) is at most 1 / a.
    mu2 = 0.0
    for j in range(mu.shape[0]):
        mu2 += mu[j] * mu[j]
    shifted = mu2 > 0.0
    is_on = shifted or sampler.twist_target > 0.0
    tilted = is_on and uniform(path_key(sampler.mixture_key, path), 0) >= sampler.plain_share
    # 2. sector factors
    z, sector_factor = scratch.factor_normals, scratch.sector_factor
    sector_factors(path, copula.factor_key, copula.root, copula.root_row_end,
                   mu if tilted else scratch.zero_shift, z, sector_factor)
    log_ratio = 0.0  # log(g / f) of the tilted measure at this path
    if shifted:
        dot = 0.0
        for j in range(mu.shape[0]):
            dot += mu[j] * z[j]
        log_ratio = dot - 0.5 * mu2
    # 3. sector cash index (equity) and the common innovation (rates)
    if n_eq > 0 or cash.stochastic_rate:
        cash_index(path, cash, copula.root, copula.root_row_end, sector_factor, z,
                   scratch.cash_index, scratch.macro)
    # 4. base rate
    rate = scratch.rate_path
    rate_path(path, cash, scratch.macro, rate)
    # 5. conditional default probabilities given the factors; no exposure defaults on
    # this path unless its uniform is below the largest of them
    group_x, group_shift = scratch.group_x, scratch.group_shift
    x_max = group_horizon_x(copula, sector_factor, group_x, group_shift)
    u_screen = phi_approx(x_max) + _PHI_MARGIN
    theta, psi = 0.0, 0.0
    class_pd, class_tilt = scratch.class_pd, scratch.class_tilt
    if sampler.twist_target > 0.0:
        theta, psi = twist_for_path(copula, sampler, group_shift, class_pd, class_tilt)
    # 6. exposures
    timeline = sampled.timeline
    n_tl, n_irr = timeline.shape[0], sampled.irr.shape[0]
    tl_stride, irr_stride = sampled.timeline_stride, sampled.irr_stride
    tl_row = path // tl_stride if path % tl_stride == 0 else n_tl
    in_tl = tl_row < n_tl
    irr_row = path // irr_stride if path % irr_stride == 0 else n_irr
    record = in_tl or irr_row < n_irr
    work = scratch.equity
    if in_tl:
        survivor_cash = schedules.survivor_cash
        for q in range(n_q):
            work.deemed_by_step[q] = 0.0
            for i in range(timeline.shape[2]):
                timeline[tl_row, q, i] = survivor_cash[q, i]
    credit_i, econ_i = scratch.credit_by_institution, scratch.economic_by_institution
    survivor_loss = schedules.survivor_loss
    for i in range(credit_i.shape[0]):
        credit_i[i] = 0.0
        econ_i[i] = survivor_loss[i]
    # the exposures' fields, schedules and scratch used in the loop
    group, default_key, approval = exposures.group, exposures.default_key, exposures.approval_step
    instrument, institution = exposures.instrument, exposures.institution
    survivor_value = exposures.survivor_value
    lgd_mean, lgd_alpha, lgd_beta = exposures.lgd_mean, exposures.lgd_alpha, exposures.lgd_beta
    lgd_key, coverage, floating = exposures.lgd_key, exposures.coverage, exposures.floating
    threshold, steps_at_risk = copula.group_threshold, copula.group_steps_at_risk
    idio_sd = copula.group_idio_sd
    exposure_class, class_loss = sampler.exposure_class, sampler.class_loss
    balance, pv_before, terminal = schedules.balance, schedules.pv_before, schedules.terminal
    cash_start, cash_end = schedules.cash_start, schedules.cash_end
    draws, df_start, df_end = schedules.draws, schedules.df_start, schedules.df_end
    base_rate_step, stochastic_rate = cash.base_rate_step, cash.stochastic_rate
    defaulted, credit_by_exposure = scratch.defaulted, scratch.credit_by_exposure
    equity_seen = scratch.equity_seen
    twisted_loss = 0.0
    japan_sum, us_sum, deemed_sum = 0.0, 0.0, 0.0
    n_def = 0
    n_eqp = 0
    for p in range(group.shape[0]):
        # the default step: exactly u <= Phi(group_x) (the table decides unless u is
        # within the margin)
        g = group[p]
        u = key_uniform(path_key(default_key[p], path))
        k = -1
        if tilted and theta > 0.0:
            # twisted default probability q; given default, u * p / q is uniform on
            # [0, p] and picks the step from the untwisted curve
            c = exposure_class[p]
            pp = class_pd[c]
            qq = pp * class_tilt[c] / (1.0 + pp * (class_tilt[c] - 1.0))
            if u <= qq and pp > 0.0:
                j = default_quarter(u * pp / qq, threshold[g], steps_at_risk[g],
                                    group_shift[g], idio_sd[g])
                if j < 0:
                    j = steps_at_risk[g] - 1  # rounding at the edge
                k = approval[p] + j
                twisted_loss += class_loss[c]
        elif u <= u_screen and u_below_phi(u, group_x[g]):
            j = default_quarter(u, threshold[g], steps_at_risk[g], group_shift[g], idio_sd[g])
            k = approval[p] + j
            if theta > 0.0:
                twisted_loss += class_loss[exposure_class[p]]
        value_if_survives = survivor_value[p]
        if k < 0 and value_if_survives == value_if_survives:
            continue  # a survivor whose value is already in survivor_loss
        lgd = lgd_mean[p]
        if k >= 0:
            lgd = draw_lgd(lgd_key[p], path, lgd, lgd_alpha[p], lgd_beta[p])
        inst = institution[p]
        if instrument[p] == Instrument.EQUITY:
            equity_seen[n_eqp] = p
            n_eqp += 1
            o = equity_path(k, lgd, path, equity_terms(p, exposures, cash), draws[p],
                            scratch.cash_index[exposures.sector[p]], rate, df_start, df_end,
                            waterfall, work, record, in_tl)
            credit, npv = o.credit_loss, o.npv
            japan_sum += o.japan_total
            us_sum += o.us_total
            deemed_sum += o.deemed_at_horizon
            scratch.japan_by_exposure[p] = o.japan_total
            scratch.us_by_exposure[p] = o.us_total
            scratch.recoup_by_exposure[p] = o.recoup_step
            if in_tl:
                for q in range(n_q):
                    timeline[tl_row, q, inst] += (work.japan_receipts[q]
                                                  - work.japan_contributions[q])
            if irr_row < n_irr:
                sampled.irr[irr_row, exposures.equity_slot[p]] = irr_annual(
                    work.japan_contributions, work.japan_receipts, o.horizon_value,
                    cash.steps_per_year, n_q)
        else:
            is_guarantee = instrument[p] == Instrument.GUARANTEE
            credit, npv = debt_outcome(k, lgd, is_guarantee, coverage[p], balance[p],
                                       pv_before[p], terminal[p], df_end)
            if stochastic_rate and floating[p]:
                # the floating coupon's deviation from the scheduled base rate, paid at
                # each step's end while the loan is performing
                end_q = n_q if k < 0 else k
                for q in range(approval[p], end_q):
                    extra_cash = balance[p, q] * (rate[q] - base_rate_step[q])
                    npv += extra_cash * df_end[q]
                    if in_tl:
                        timeline[tl_row, q, inst] += extra_cash
            if in_tl and k >= 0:
                # from the default step on, replace the survivor's cash (already in the
                # row) by what happens: the draw, then the recovery (loan) or the claim
                # (guarantee) at the step's end
                for q in range(k, n_q):
                    timeline[tl_row, q, inst] -= cash_start[p, q] + cash_end[p, q]
                if is_guarantee:
                    timeline[tl_row, k, inst] += cash_start[p, k] - credit
                else:
                    timeline[tl_row, k, inst] += cash_start[p, k] + (1.0 - lgd) * balance[p, k]
        if value_if_survives == value_if_survives:
            npv -= value_if_survives  # correct the pre-summed survivor value
        credit_i[inst] += credit
        econ_i[inst] -= npv
        if k >= 0:
            defaulted[n_def] = p
            n_def += 1
            credit_by_exposure[p] = credit
    # 7. weight and accumulation
    weight = 1.0
    if is_on:
        log_ratio += theta * twisted_loss - psi  # twist: dQ/dP = exp(theta L_c - psi)
        weight = 1.0 / (sampler.plain_share + (1.0 - sampler.plain_share) * np.exp(log_ratio))
    out.weight[row] = weight
    for i in range(credit_i.shape[0]):
        out.credit_loss[row, i] = credit_i[i]
        out.economic_loss[row, i] = econ_i[i]
    out.japan_receipts[row] = japan_sum
    out.us_receipts[row] = us_sum
    out.deemed_outstanding[row] = deemed_sum
    accumulate(block_index, weight, n_def, n_eqp, in_tl and n_eq > 0, exposures, acc, scratch)


@njit(inline="always")
def equity_terms(p, exposures, cash):
    """The scalars of equity exposure ``p`` (:class:`~.bundles.EquityTerms`)."""
    return EquityTerms(
        approval_step=exposures.approval_step[p], operating_start=exposures.operating_start[p],
        operating_end=exposures.operating_end[p], operating_cash=exposures.operating_cash[p],
        cash_vol=exposures.cash_vol[p], deemed_spread_step=exposures.deemed_spread_step[p],
        pd_operating=exposures.pd_operating[p], cash_key=exposures.cash_key[p],
        slot=exposures.equity_slot[p], sector_loading=cash.sector_loading,
        tail_base_rate_step=cash.tail_base_rate_step, steps_per_year=cash.steps_per_year)


@njit(cache=CACHE)
def twist_for_path(copula, sampler, group_shift, class_pd, class_tilt):
    """Glasserman-Li twist given the factors (``group_shift = w S``, (G,)): each class's
    conditional PD by the horizon (``class_pd``, (C,)), the twist ``theta`` toward
    ``sampler.twist_target`` and ``class_tilt = exp(theta c)`` (C,). Returns
    ``(theta, psi)``."""
    threshold, steps, idio_sd = copula.group_threshold, copula.group_steps_at_risk, copula.group_idio_sd
    class_group, class_loss = sampler.class_group, sampler.class_loss
    for c in range(class_loss.shape[0]):
        g = class_group[c]
        class_pd[c] = cond_pd(threshold[g, steps[g] - 1], group_shift[g], idio_sd[g])
    theta, psi = twist_theta(sampler.twist_target, class_pd, class_loss, sampler.class_size)
    for c in range(class_loss.shape[0]):
        class_tilt[c] = np.exp(theta * class_loss[c])
    return theta, psi


@njit(cache=CACHE)
def accumulate(block_index, weight, n_def, n_eqp, track_deemed, exposures, acc, scratch):
    """Add the path's weighted per-exposure results to block ``block_index`` of ``acc``."""
    b = block_index
    defaulted, credit_by_exposure = scratch.defaulted, scratch.credit_by_exposure
    defaults, credit_loss = acc.defaults, acc.credit_loss
    for t in range(n_def):
        p = defaulted[t]
        defaults[b, p] += weight
        credit_loss[b, p] += weight * credit_by_exposure[p]
    equity_slot, recoup_by_exposure = exposures.equity_slot, scratch.recoup_by_exposure
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

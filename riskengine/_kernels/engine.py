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
6. every exposure: its default step (:func:`default_step`), then a loan or guarantee
   (:func:`debt_on_path`) or an equity vehicle (:func:`equity_on_path`),
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
from .bundles import PathScratch
from .defaults import (_PHI_MARGIN, cond_pd, debt_outcome, default_quarter, draw_lgd,
                       group_horizon_x, phi_approx, sector_factors, twist_theta, u_below_phi)
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
    return PathScratch(
        factor_normals=np.empty(n_sec), sector_factor=np.empty(n_sec),
        cash_index=np.zeros((n_sec, n_q)), macro=np.zeros(n_q), rate_path=np.empty(n_q),
        group_x=np.empty(n_groups), group_shift=np.empty(n_groups),
        class_pd=np.zeros(n_cls), class_tilt=np.ones(n_cls), zero_shift=np.zeros(n_sec),
        balances=np.empty(max(waterfall.n_hurdles, 1)),
        japan_contributions=np.zeros(n_q), japan_receipts=np.zeros(n_q),
        deemed_by_step=np.zeros(n_q),
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
    ``sampled``."""
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
    z = scratch.factor_normals
    sector_factors(path, copula, mu if tilted else scratch.zero_shift, z, scratch.sector_factor)
    log_ratio = 0.0  # log(g / f) of the tilted measure at this path
    if shifted:
        dot = 0.0
        for j in range(mu.shape[0]):
            dot += mu[j] * z[j]
        log_ratio = dot - 0.5 * mu2
    # 3. sector cash index (equity) and the common innovation (rates)
    if n_eq > 0 or cash.stochastic_rate:
        cash_index(path, copula, cash, scratch)
    # 4. base rate
    rate_path(path, cash, scratch.macro, scratch.rate_path)
    # 5. conditional default probabilities given the factors; no exposure defaults on
    # this path unless its uniform is below the largest of them
    x_max = group_horizon_x(copula, scratch.sector_factor, scratch.group_x, scratch.group_shift)
    u_screen = phi_approx(x_max) + _PHI_MARGIN
    theta, psi = 0.0, 0.0
    if sampler.twist_target > 0.0:
        theta, psi = twist_for_path(copula, sampler, scratch)
    # 6. exposures
    tl_stride, irr_stride = sampled.timeline_stride, sampled.irr_stride
    tl_row = path // tl_stride if path % tl_stride == 0 else sampled.timeline.shape[0]
    in_tl = tl_row < sampled.timeline.shape[0]
    irr_row = path // irr_stride if path % irr_stride == 0 else sampled.irr.shape[0]
    record = in_tl or irr_row < sampled.irr.shape[0]
    if in_tl:
        for q in range(n_q):
            scratch.deemed_by_step[q] = 0.0
            for i in range(sampled.timeline.shape[2]):
                sampled.timeline[tl_row, q, i] = schedules.survivor_cash[q, i]
    credit_i, econ_i = scratch.credit_by_institution, scratch.economic_by_institution
    for i in range(credit_i.shape[0]):
        credit_i[i] = 0.0
        econ_i[i] = schedules.survivor_loss[i]
    twisted_loss = 0.0
    japan_sum, us_sum, deemed_sum = 0.0, 0.0, 0.0
    n_def = 0
    n_eqp = 0
    for p in range(exposures.group.shape[0]):
        k, tw = default_step(p, path, tilted, theta, u_screen, copula, exposures, sampler,
                             scratch)
        twisted_loss += tw
        survivor_value = exposures.survivor_value[p]
        if k < 0 and survivor_value == survivor_value:
            continue  # a survivor whose value is already in survivor_loss
        lgd = exposures.lgd_mean[p]
        if k >= 0:
            lgd = draw_lgd(exposures.lgd_key[p], path, lgd, exposures.lgd_alpha[p],
                           exposures.lgd_beta[p])
        if exposures.instrument[p] == Instrument.EQUITY:
            scratch.equity_seen[n_eqp] = p
            n_eqp += 1
            outcome = equity_on_path(p, k, lgd, path, tl_row, irr_row, record, exposures,
                                     schedules, cash, waterfall, sampled, scratch)
            credit, npv = outcome.credit_loss, outcome.npv
            japan_sum += outcome.japan_total
            us_sum += outcome.us_total
            deemed_sum += outcome.deemed_at_horizon
        else:
            credit, npv = debt_on_path(p, k, lgd, tl_row, exposures, schedules, cash,
                                       sampled, scratch)
        if survivor_value == survivor_value:
            npv -= survivor_value  # correct the pre-summed survivor value
        inst = exposures.institution[p]
        credit_i[inst] += credit
        econ_i[inst] -= npv
        if k >= 0:
            scratch.defaulted[n_def] = p
            n_def += 1
            scratch.credit_by_exposure[p] = credit
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


@njit(cache=CACHE)
def twist_for_path(copula, sampler, scratch):
    """Glasserman-Li twist given the factors: each class's conditional PD by the horizon
    (``scratch.class_pd``), the twist ``theta`` toward ``sampler.twist_target`` and
    ``scratch.class_tilt = exp(theta c)``. Returns ``(theta, psi)``."""
    for c in range(sampler.class_loss.shape[0]):
        g = sampler.class_group[c]
        scratch.class_pd[c] = cond_pd(copula.group_threshold[g, copula.group_steps_at_risk[g] - 1],
                                      scratch.group_shift[g], copula.group_idio_sd[g])
    theta, psi = twist_theta(sampler.twist_target, scratch.class_pd, sampler.class_loss,
                             sampler.class_size)
    for c in range(sampler.class_loss.shape[0]):
        scratch.class_tilt[c] = np.exp(theta * sampler.class_loss[c])
    return theta, psi


@njit(inline="always")
def default_step(p, path, tilted, theta, u_screen, copula, exposures, sampler, scratch):
    """Step in which exposure ``p`` defaults on this path (-1: never), exactly
    ``u <= Phi(group_x)`` (the table decides unless ``u`` is within the margin), and the
    loss it adds to the twisted loss. Returns ``(step, twisted_loss)``."""
    g = exposures.group[p]
    thr = copula.group_threshold[g]
    n_rel = copula.group_steps_at_risk[g]
    w_s, s = scratch.group_shift[g], copula.group_idio_sd[g]
    u = key_uniform(path_key(exposures.default_key[p], path))
    if tilted and theta > 0.0:
        # twisted default probability q; given default, u * p / q is uniform on [0, p]
        # and picks the step from the untwisted curve
        c = sampler.exposure_class[p]
        pp = scratch.class_pd[c]
        qq = pp * scratch.class_tilt[c] / (1.0 + pp * (scratch.class_tilt[c] - 1.0))
        if u <= qq and pp > 0.0:
            j = default_quarter(u * pp / qq, thr, n_rel, w_s, s)
            if j < 0:
                j = n_rel - 1  # rounding at the edge
            return exposures.approval_step[p] + j, sampler.class_loss[c]
        return -1, 0.0
    if u <= u_screen and u_below_phi(u, scratch.group_x[g]):
        j = default_quarter(u, thr, n_rel, w_s, s)
        tw = sampler.class_loss[sampler.exposure_class[p]] if theta > 0.0 else 0.0
        return exposures.approval_step[p] + j, tw
    return -1, 0.0


@njit(inline="always")
def debt_on_path(p, k, lgd, tl_row, exposures, schedules, cash, sampled, scratch):
    """Loan or guarantee ``p`` defaulting in step ``k`` (-1: never): its credit loss and
    NPV, with a floating loan's deviation from the scheduled base rate, and its cash on
    the timeline if the path is sampled. Returns ``(credit_loss, npv)``."""
    credit, npv = debt_outcome(p, k, lgd, exposures, schedules)
    n_q = schedules.df_end.shape[0]
    inst = exposures.institution[p]
    in_tl = tl_row < sampled.timeline.shape[0]
    timeline = sampled.timeline
    if cash.stochastic_rate and exposures.floating[p]:
        # the floating coupon's deviation from the scheduled base rate, paid at each
        # step's end while the loan is performing
        end_q = n_q if k < 0 else k
        for q in range(exposures.approval_step[p], end_q):
            extra_cash = schedules.balance[p, q] * (scratch.rate_path[q] - cash.base_rate_step[q])
            npv += extra_cash * schedules.df_end[q]
            if in_tl:
                timeline[tl_row, q, inst] += extra_cash
    if in_tl and k >= 0:
        # from the default step on, replace the survivor's cash (already in the row) by
        # what actually happens: the draw, then the recovery (loan) or the claim
        # (guarantee) at the step's end
        for q in range(k, n_q):
            timeline[tl_row, q, inst] -= schedules.cash_start[p, q] + schedules.cash_end[p, q]
        if exposures.instrument[p] == Instrument.GUARANTEE:
            timeline[tl_row, k, inst] += schedules.cash_start[p, k] - credit
        else:
            timeline[tl_row, k, inst] += (schedules.cash_start[p, k]
                                          + (1.0 - lgd) * schedules.balance[p, k])
    return credit, npv


@njit(inline="always")
def equity_on_path(p, k, lgd, path, tl_row, irr_row, record, exposures, schedules, cash,
                   waterfall, sampled, scratch):
    """Equity vehicle ``p`` on this path (:func:`~.equity.equity_path`), its cash on the
    timeline and Japan's IRR if the path is sampled. Returns the ``EquityOutcome``."""
    in_tl = tl_row < sampled.timeline.shape[0]
    o = equity_path(p, k, lgd, path, exposures, schedules, cash, waterfall, scratch, record,
                    in_tl)
    scratch.japan_by_exposure[p] = o.japan_total
    scratch.us_by_exposure[p] = o.us_total
    scratch.recoup_by_exposure[p] = o.recoup_step
    n_q = schedules.df_end.shape[0]
    if in_tl:
        inst = exposures.institution[p]
        for q in range(n_q):
            sampled.timeline[tl_row, q, inst] += (scratch.japan_receipts[q]
                                                  - scratch.japan_contributions[q])
    if irr_row < sampled.irr.shape[0]:
        sampled.irr[irr_row, exposures.equity_slot[p]] = irr_annual(
            scratch.japan_contributions, scratch.japan_receipts, o.horizon_value,
            cash.steps_per_year, n_q)
    return o


@njit(inline="always")
def accumulate(block_index, weight, n_def, n_eqp, track_deemed, exposures, acc, scratch):
    """Add the path's weighted per-exposure results to block ``block_index``."""
    b = block_index
    for t in range(n_def):
        p = scratch.defaulted[t]
        acc.defaults[b, p] += weight
        acc.credit_loss[b, p] += weight * scratch.credit_by_exposure[p]
    for t in range(n_eqp):
        p = scratch.equity_seen[t]
        acc.japan_receipts[b, p] += weight * scratch.japan_by_exposure[p]
        acc.us_receipts[b, p] += weight * scratch.us_by_exposure[p]
        rq = scratch.recoup_by_exposure[p]
        if rq >= 0:
            acc.recouped[b, p] += weight
            acc.recoup_step[b, exposures.equity_slot[p], rq] += weight
    if track_deemed:
        for q in range(acc.deemed_balance.shape[1]):
            acc.deemed_balance[b, q] += weight * scratch.deemed_by_step[q]

"""A path's bookkeeping: where it records (timeline and IRR samples), its per-path
outputs, its likelihood ratio, and the block's weighted sums."""

from __future__ import annotations

import numpy as np
from numba import njit

from .bundles import PathContext


@njit(inline="always")
def path_context(path, regime, tilted, scale, u_screen, theta, sampled):
    """:func:`dated_context` of a path without elections."""
    return dated_context(path, regime, regime, regime, -1, tilted, scale, u_screen, theta,
                         sampled)


@njit(inline="always")
def dated_context(path, regime, curve, final, deal_end_step, tilted, scale, u_screen, theta,
                  sampled):
    """The path's draws and its rows of the sampled outputs (every ``stride``-th path);
    ``curve``, ``final``, ``deal_end_step``: its regime history's (:mod:`.elections`)."""
    n_tl, n_irr = sampled.timeline.shape[0], sampled.irr.shape[0]
    tl_stride, irr_stride = sampled.timeline_stride, sampled.irr_stride
    tl_row = path // tl_stride if path % tl_stride == 0 else n_tl
    irr_row = path // irr_stride if path % irr_stride == 0 else n_irr
    in_tl = tl_row < n_tl
    return PathContext(path, regime, tilted, scale, u_screen, theta, tl_row, in_tl, irr_row,
                       in_tl or irr_row < n_irr, curve, final, deal_end_step)


@njit(inline="always")
def start_path(ctx, m, sampled, scratch):
    """Reset the path's sums: the pre-summed survivors' loss and cash, nothing funded
    beyond the unconditional rows, no defaults by fiscal year."""
    s = m.schedules
    if ctx.in_tl:
        timeline, deemed_by_step = sampled.timeline, scratch.equity.deemed_by_step
        for q in range(s.df_end.shape[0]):
            deemed_by_step[q] = 0.0
            for i in range(timeline.shape[2]):
                timeline[ctx.tl_row, q, i] = s.survivor_cash[q, i]
    credit_i, econ_i = scratch.credit_by_institution, scratch.economic_by_institution
    for i in range(credit_i.shape[0]):
        credit_i[i] = 0.0
        econ_i[i] = s.survivor_loss[i]
    scratch.annual[:, :] = 0.0
    deployed, deployed_fixed = scratch.deployed, m.program.deployed_fixed
    for i in range(deployed.shape[0]):
        deployed[i] = deployed_fixed[i]


@njit(inline="always")
def path_weight(log_ratio, twisted_loss, theta, psi, regime_weight, plan, sampler):
    """The path's likelihood ratio: ``f / (a f + (1 - a) g)`` of the defensive mixture,
    at most ``1 / a``, the tilted measure's ``log(g / f)`` being the factor shift's and the
    twists' (``theta L_c - psi``) plus ``log(q_r / p_r)`` of its regimes
    (``regime_weight = p_r / q_r``: the plain component draws them from ``p``); 1 without
    importance sampling."""
    if not plan.is_on:
        return 1.0
    log_ratio += theta * twisted_loss - psi
    plain_share = sampler.plain_share
    return regime_weight / (plain_share * regime_weight
                            + (1.0 - plain_share) * np.exp(log_ratio))


@njit(inline="always")
def write_outputs(row, regime, weight, tariff, sums, n_def, plan, out, scratch):
    """The path's row of the per-path outputs (the yen figures: :func:`.yen.write_yen`);
    ``sums``: ``(Japan's equity receipts, the US's, the deemed balance at the horizon)``
    (:func:`.valuation.value_rows`)."""
    credit_i, econ_i = scratch.credit_by_institution, scratch.economic_by_institution
    out.weight[row] = weight
    for i in range(credit_i.shape[0]):
        out.credit_loss[row, i] = credit_i[i]
        out.economic_loss[row, i] = econ_i[i]
    for i in range(out.deployed.shape[1]):
        out.deployed[row, i] = scratch.deployed[i]
    out.tariff_cost[row] = tariff
    out.regime[row] = regime
    out.japan_receipts[row] = sums[0]
    out.us_receipts[row] = sums[1]
    out.deemed_outstanding[row] = sums[2]
    if plan.by_exposure:  # (a replay) each exposure's credit loss on the path
        exposure_credit, defaulted = out.exposure_credit, scratch.defaulted
        for p in range(exposure_credit.shape[1]):
            exposure_credit[row, p] = 0.0
        for t in range(n_def):
            exposure_credit[row, defaulted[t]] = scratch.credit_by_exposure[defaulted[t]]


@njit(inline="always")
def accumulate(block_index, weight, n_def, n_eqp, ctx, plan, m, acc, sampled, scratch):
    """Add the path's weighted per-exposure results to block ``block_index`` of ``acc``,
    and its defaults and losses by fiscal year (to the timeline sample on its paths)."""
    b = block_index
    defaulted, credit_by_exposure = scratch.defaulted, scratch.credit_by_exposure
    defaults, credit_loss = acc.defaults, acc.credit_loss
    for t in range(n_def):
        p = defaulted[t]
        defaults[b, p] += weight
        credit_loss[b, p] += weight * credit_by_exposure[p]
    recoup_by_exposure, equity_slot = scratch.recoup_by_exposure, m.exposures.equity_slot
    for t in range(n_eqp):
        p = scratch.equity_seen[t]
        acc.japan_receipts[b, p] += weight * scratch.japan_by_exposure[p]
        acc.us_receipts[b, p] += weight * scratch.us_by_exposure[p]
        rq = recoup_by_exposure[p]
        if rq >= 0:
            acc.recouped[b, p] += weight
            acc.recoup_step[b, equity_slot[p], rq] += weight
    if ctx.in_tl and plan.n_equity > 0:
        deemed = scratch.equity.deemed_by_step
        for q in range(acc.deemed_balance.shape[1]):
            acc.deemed_balance[b, q] += weight * deemed[q]
    annual_path = scratch.annual
    if n_def > 0:
        for y in range(annual_path.shape[0]):
            for j in range(3):
                acc.annual[b, y, j] += weight * annual_path[y, j]
    if ctx.in_tl:
        for y in range(annual_path.shape[0]):
            for j in range(3):
                sampled.annual[ctx.tl_row, y, j] = annual_path[y, j]

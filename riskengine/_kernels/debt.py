"""A loan's or a guarantee's outcome on a path: its credit loss and NPV (the instrument's
rules, :mod:`.instruments`), floating coupons, and its cash by step for the yen figures
(discounted) and the timeline (undiscounted)."""

from __future__ import annotations

from numba import njit

from .indexing import unsigned
from .instruments import debt_default
from .yen import loan_default_flow


@njit(inline="always")
def debt_pv_by_step(p, k, lag, presummed, approval, pv_flow, flow_end, at_default, later,
                    df_end, pv_by_step, inst):
    """Add one loan's or guarantee's discounted cash on this path, by step, to row ``inst``
    of ``pv_by_step`` (I, Q). ``pv_flow[p]`` (Q,) is the row's discounted cash if it
    survives (its terminal value in the last step), zero from ``flow_end`` on. A pre-summed
    survivor (``presummed``, already in ``pv_by_step``) is only corrected from its default
    step ``k`` on; any other row is added whole. At default: ``at_default`` (discounted)
    in step ``k``, and ``later`` (undiscounted) recovered ``lag`` steps on (in the last
    step when that is past the horizon). No view of ``pv_by_step`` is taken: this runs per
    exposure and path; its loops index with :func:`~.indexing.unsigned` integers, so they
    vectorise."""
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
def floating_coupons(p, k, npv, ctx, track_pv, m, scratch, timeline):
    """A floating loan's coupons' deviation from the scheduled base rate on this path,
    paid at each step's end while it performs: added to the timeline, the discounted cash
    by step and the loan's ``npv``, which it returns."""
    s, base_rate_step, rate = m.schedules, m.cash.base_rate_step, scratch.rate_path
    inst = m.exposures.institution[p]
    end_q = s.df_end.shape[0] if k < 0 else k
    for q in range(m.exposures.approval_step[p], end_q):
        extra_cash = s.balance[p, q] * (rate[q] - base_rate_step[q])
        npv += extra_cash * s.df_end[q]
        if track_pv:
            scratch.pv_by_step[inst, q] += extra_cash * s.df_end[q]
        if ctx.in_tl:
            timeline[ctx.tl_row, q, inst] += extra_cash
    return npv


@njit(inline="always")
def value_debt(p, k, lgd, ctx, plan, m, scratch, timeline):
    """Loan or guarantee ``p`` defaulting in step ``k`` (-1: never) on the path: writes its
    discounted flows by step (the yen figures, ``fx.view``'s) and its timeline row;
    returns ``(credit loss, NPV)``."""
    s, e = m.schedules, m.exposures
    inst, lag, n_q = e.institution[p], e.recovery_lag[p], s.df_end.shape[0]
    credit, npv = 0.0, s.npv_if_survives[p]
    at_default, later, cash_now, cash_later = 0.0, 0.0, 0.0, 0.0
    if k >= 0:
        o = debt_default(e.instrument[p], k, lgd, lag, e.coverage[p], s.balance[p, k],
                         s.pv_before[p, k], s.cash_start[p, k], s.df_start[k], s.df_end)
        credit, npv, at_default, later = o.credit_loss, o.npv, o.pv_at_default, o.recovery_later
        cash_now, cash_later = o.cash_at_default, o.cash_later
    if plan.track_pv:
        presummed = e.survivor_value[p] == e.survivor_value[p]
        if k >= 0:
            at_default = loan_default_flow(at_default, s.yen_funded[p],
                                           s.balance[p, k] - s.draws[p, k], s.df_start[k])
        debt_pv_by_step(p, k, lag, presummed, e.approval_step[p], s.pv_flow, s.pv_flow_end[p],
                        at_default, later, s.df_end, scratch.pv_by_step, inst)
    tl_row = ctx.tl_row
    if ctx.in_tl and m.program.unit_of[p] >= 0:
        # a conditional row's cash is not in the pre-summed survivors' cash
        for q in range(n_q):
            timeline[tl_row, q, inst] += s.cash_start[p, q] + s.cash_end[p, q]
    if m.cash.stochastic_rate and e.floating[p]:
        npv = floating_coupons(p, k, npv, ctx, plan.track_pv, m, scratch, timeline)
    if ctx.in_tl and k >= 0:
        # from the default step on, the survivor's cash (already in the row) is replaced
        # by what happens: the draw, then the recovery or the claim
        for q in range(k, n_q):
            timeline[tl_row, q, inst] -= s.cash_start[p, q] + s.cash_end[p, q]
        timeline[tl_row, k, inst] += cash_now
        if lag > 0 and k + lag < n_q:
            timeline[tl_row, k + lag, inst] += cash_later
    return credit, npv

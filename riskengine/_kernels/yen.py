"""The yen figures: USD/JPY on a path and the losses converted at it."""

from __future__ import annotations

import math

from numba import njit

from ._cache import CACHE
from .exponential import exp, exp_or_nan
from .indexing import unsigned
from .rng import normal, normal_or_nan, path_key


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
    # normals, then fx_gap[1:] the log-level's driver x and fx_path the level; each
    # branch-free pass says NaN where the ziggurat rejects or the exponent is beyond exp's
    # table, and those few are completed one by one (the same values, to the bit)
    for q in range(n_q):
        fx_path[unsigned(q)] = normal_or_nan(pk, q)
    for q in range(n_q):
        if fx_path[q] != fx_path[q]:
            fx_path[q] = normal(pk, q)
    w, t_prev = 0.0, 0.0
    for q in range(n_q):
        t = step_time[q]
        w += math.sqrt(t - t_prev) * fx_path[q]
        t_prev = t
        fx_gap[q + 1] = loading * math.sqrt(t) * m + own * w
    half_v2 = 0.5 * vol * vol
    for q in range(n_q):
        fx_path[unsigned(q)] = spot * exp_or_nan(vol * fx_gap[unsigned(q + 1)]
                                                 - half_v2 * step_time[unsigned(q)])
    for q in range(n_q):
        if fx_path[q] != fx_path[q]:
            fx_path[q] = spot * exp(vol * fx_gap[q + 1] - half_v2 * step_time[q])
    fx_gap[0] = 0.0
    for q in range(n_q):
        fx_gap[q + 1] = fx_gap[q] + (fx_path[q] - spot) * df_end[q]


@njit(inline="always")
def loan_default_flow(at_default, funded, carried, df_start_k):
    """The discounted flow of a loan's default step the yen figures convert: its cash
    (``at_default``), less, where the view funds its principal (``funded``), the balance
    carried into the step returned at the step's end with the step's funding,
    ``H_k = carried d^s_k`` (:mod:`riskengine.yen_views`): the write-off then shows in
    this step and a recovery in its own."""
    if funded:
        return at_default - carried * df_start_k
    return at_default


@njit(inline="always")
def add_equity_flow(pv_by_step, q, exit_step, funded, receipt, call, invested, df_start,
                    df_end):
    """Add an equity vehicle's discounted flow of step ``q`` the yen figures convert to
    ``pv_by_step[q]``: Japan's receipt at the step's end less its capital call at the
    start; or, where the view funds the invested capital (``funded``), the receipt less
    the funding accrual on the capital invested so far, ``invested (d^s_q - d^e_q)``, and
    in its exit step (``exit_step``: its default step, else the last) the capital
    returned to its funding at the step's end, ``-invested d^e_q``, so the loss on it
    shows there, against what the vehicle paid and is worth."""
    if funded:
        pv_by_step[q] += receipt * df_end[q] - invested * (df_start[q] - df_end[q])
        if exit_step:
            pv_by_step[q] += -invested * df_end[q]
    else:
        pv_by_step[q] += receipt * df_end[q] - call * df_start[q]


@njit(inline="always")
def start_yen(path, plan, m, scratch):
    """USD/JPY on the path, and the discounted flows by step the yen figures convert
    started from the pre-summed survivors' (when they track each step's flows; the flows
    of ``fx.view``, :mod:`riskengine.yen_views`)."""
    if plan.track_pv:
        program, s = m.program, m.schedules
        fx_for_path(path, program.fx_key, program.fx_spot, program.fx_vol, program.fx_loading,
                    program.common_weights, scratch.sector_factor, program.step_time,
                    s.df_end, scratch.fx_path, scratch.fx_gap)
        pv_step = scratch.pv_by_step
        for i in range(pv_step.shape[0]):
            for q in range(pv_step.shape[1]):
                pv_step[i, q] = s.survivor_pv[i, q]


@njit(inline="always")
def write_yen(row, tariff, tariff_gap, plan, program, out, scratch):
    """The path's economic loss and tariff cost in yen: spot times the dollar figures,
    each step's flow (``fx.view``'s, summing to minus the dollar economic loss) at that
    step's USD/JPY when it is tracked (0 without ``[fx]``):
    ``spot econ - sum_q (X_q - spot) f_q = -sum_q X_q f_q`` to rounding."""
    econ_i, n_inst = scratch.economic_by_institution, out.economic_loss_jpy.shape[1]
    if program.fx_on:
        fx_spot, fx_path, pv_step = program.fx_spot, scratch.fx_path, scratch.pv_by_step
        for i in range(n_inst):
            jpy = fx_spot * econ_i[i]
            if plan.track_pv:  # each step's flow at that step's USD/JPY
                for q in range(fx_path.shape[0]):
                    jpy -= (fx_path[q] - fx_spot) * pv_step[i, q]
            out.economic_loss_jpy[row, i] = jpy
        out.tariff_cost_jpy[row] = fx_spot * tariff + tariff_gap
    else:
        for i in range(n_inst):
            out.economic_loss_jpy[row, i] = 0.0
        out.tariff_cost_jpy[row] = 0.0

"""Equity exposures: cash calls, operating cash flows with sector and idiosyncratic shocks,
default and recovery, the waterfall, and a going-concern value at the horizon.

Operating cash of exposure ``i`` (sector ``s``) at the end of quarter ``k``, for
``operating_start <= k < operating_end``::

    cash = commitment * expected_yield / m * exp(v * (b * Y[s, k] + sqrt(1 - b^2) * eps[i, k]) - v^2 / 2)

with ``v = cf_vol``, ``b^2`` the sector share of the log-cash variance (config
``cashflows.sector_share``) and ``Y`` the sector cash index (see :func:`cash_index`);
``Y`` and ``eps`` are standard normal, so the multiplier has mean one and log-volatility
``v``.

The equity stage of a path (:func:`value_equity`, called by :mod:`.valuation`) builds the
vehicle's terms on the path (:func:`equity_terms`: its regime's operating PD and yield,
its overrun and performance) and runs :func:`equity_path`.
"""

from __future__ import annotations

import math

from numba import njit

from ._cache import CACHE
from .bundles import EquityOutcome, EquityTerms
from .exponential import exp, exp_or_nan
from .indexing import unsigned
from .irr import irr_annual
from .rng import normal, normal_or_nan, path_key
from .waterfall import (
    accrual_factor,
    accrue,
    horizon_value_closed_form,
    horizon_value_loop,
    split_one_hurdle,
    waterfall_split,
)
from .yen import add_equity_flow


# _nrt=False: no reference counts (see equity_path)
@njit(cache=CACHE, _nrt=False)
def cash_index(path, cash, root, root_end, sector_factor, normals, y, macro):
    """Sector cash indices ``y[s, k]`` (K, Q): a stationary AR(1) started from the path's
    default factor, ``Y[s, -1] = S_s``, ``Y[s, k] = phi Y[s, k-1] + sqrt(1 - phi^2)
    eta[s, k]``, ``eta[:, k] ~ N(0, C)`` with ``C = root root'``. Every ``Y[s, k]`` is
    N(0, 1), sectors correlate by ``C`` and a path with a bad default factor starts with
    low cash. Also writes the common innovation ``macro[k] = sum_s w_s eta[s, k]`` (Q,),
    N(0, 1), which drives the short rate. Only the sectors in ``cash.sectors_needed`` are
    simulated.

    The innovations' normals are ``normals`` (work space, (K * Q,)): normal ``j Q + k`` of
    the path's stream is column ``j``'s in step ``k`` (results version 2; version 1 took
    them step by step, ``k K + j``). Column by column, each pass over the steps is
    branch-free and vectorises, and the columns no simulated sector reads (the root is
    lower triangular: row ``s`` reads columns ``< root_end[s]``) are never drawn."""
    phi, needed, macro_w = cash.persistence, cash.sectors_needed, cash.macro_weights
    n_sec, n_q = root.shape[0], y.shape[1]
    pk = path_key(cash.cash_key, path)
    c = math.sqrt(1.0 - phi * phi)
    n_cols = 0
    for s in range(n_sec):
        if needed[s] and root_end[s] > n_cols:
            n_cols = root_end[s]
    n_normals = n_cols * n_q
    for n in range(n_normals):
        normals[unsigned(n)] = normal_or_nan(pk, n)
    for n in range(n_normals):
        if normals[n] != normals[n]:  # the ziggurat's rare rejections, one by one
            normals[n] = normal(pk, n)
    for k in range(n_q):
        macro[k] = 0.0
    for s in range(n_sec):
        if not needed[s]:
            continue
        for k in range(n_q):
            y[s, k] = 0.0
        for j in range(root_end[s]):
            a, base = root[s, j], j * n_q
            for k in range(n_q):
                y[s, k] += a * normals[unsigned(base + k)]
        w = macro_w[s]
        for k in range(n_q):
            macro[k] += w * y[s, k]
        prev = sector_factor[s]
        for k in range(n_q):
            prev = phi * prev + c * y[s, k]
            y[s, k] = prev


@njit(inline="always")
def _recoup_step(recoup, k, contributed, b0):
    """The recoup step so far: when B_0 last reached zero (B stays zero from then on);
    -1 while B_0 is positive."""
    if contributed > 0.0 and b0 <= 0.0:
        return k if recoup < 0 else recoup
    return -1


@njit(inline="always")
def _contribute(balances, n_hurdles, amount):
    for t in range(max(n_hurdles, 1)):
        balances[t] += amount


@njit(inline="always")
def _reset_work(balances, contributions, receipts, n_hurdles, record):
    for t in range(max(n_hurdles, 1)):
        balances[t] = 0.0
    if record:
        for k in range(contributions.shape[0]):
            contributions[k] = 0.0
            receipts[k] = 0.0


@njit(inline="always")
def _operating_flows(pk, lo, hi, y_row, base_cash, vol, sector_loading, c_idio,
                     operating_flow, yield_row):
    """Every step's operating cash the waterfall's loop can read (steps ``lo .. hi - 1``;
    also the default step's, unread), before any drift: first branch-free (it
    vectorises), NaN where a normal is the ziggurat's rare rejection or the exponent is
    beyond exp's table, then those one by one; each value as one loop computed it before,
    to the bit. ``yield_row`` (Q,): the regime in force's yield over today's regime's
    (exactly 1 without elections, which changes no bit)."""
    half_v2 = 0.5 * vol * vol
    for k in range(lo, hi):
        q = unsigned(k)
        x = sector_loading * y_row[q] + c_idio * normal_or_nan(pk, k)
        operating_flow[q] = base_cash * exp_or_nan(vol * x - half_v2) * yield_row[q]
    for k in range(lo, hi):
        if operating_flow[k] != operating_flow[k]:
            x = sector_loading * y_row[k] + c_idio * normal(pk, k)
            operating_flow[k] = base_cash * exp(vol * x - half_v2) * yield_row[k]


@njit(inline="always")
def _tier_shares(shares):
    """The MOU shape's scalars of a tier set: Japan's first and second shares and the
    inverse of the first (0 when it is 0)."""
    s1, s2 = shares[0], (shares[1] if shares.shape[0] > 1 else 0.0)
    return s1, s2, (1.0 / s1 if s1 > 0.0 else 0.0)


@njit(inline="always")
def _drift_shock(terms, k):
    """The step's shock of the slowly mean-reverting log performance: its loading on the
    sector's shock plus its own, unit variance."""
    b = terms.drift_loading
    return (b * normal(terms.sector_drift_key, k * terms.n_sectors + terms.sector)
            + math.sqrt(max(1.0 - b * b, 0.0)) * normal(terms.drift_key, k))


@njit(inline="always")
def _horizon_value(terms, balances, shares, extra, continuation, base_cash, df_end, drift_on,
                   tail_yield):
    """Going-concern value at the horizon of a vehicle that operates past it: the
    remaining scheduled cash at mean multiplier, weighted by survival at the operating
    PD, through the waterfall at the deterministic tail base rate, discounted like the
    rest (in closed form from the continuation table when that holds)."""
    n_q, n_hurdles = df_end.shape[0], terms.n_hurdles
    if (n_hurdles <= 1 and shares[0] > 0.0 and terms.performance == 1.0 and not drift_on
            and terms.pd_as_tabled and tail_yield == 1.0):
        return horizon_value_closed_form(balances[0], shares, n_hurdles, continuation)
    base_cash = base_cash * tail_yield  # (the regime in force at the horizon's)
    surv_q = (1.0 - terms.pd_operating) ** (1.0 / terms.steps_per_year)
    return horizon_value_loop(balances, shares, n_hurdles, extra, terms.deemed_spread_step,
                              terms.tail_base_rate_step, df_end[0], base_cash, surv_q,
                              terms.operating_end - n_q, terms.operating_start - n_q)


@njit(cache=CACHE, _nrt=False)
def equity_path(path, terms, draws_row, y_row, rate_path, df_start, df_end, shares,
                extra_spread_step, continuation, work, pv_by_step, yield_row, shares_after):
    """One equity vehicle on one path (its scalars in ``terms``: ``EquityTerms``).

    Parameters
    ----------
    draws_row : (Q,) float64
        Japan's capital calls by step.
    y_row : (Q,) float64
        The path's cash index of the vehicle's sector.
    rate_path : (Q,) float64
        The path's base rate per step.
    df_start, df_end : (Q,) float64
        Discount factors at step starts and ends.
    shares, extra_spread_step : (T,), (max(T - 1, 1),) float64
        The waterfall's tiers (``WaterfallTerms``).
    yield_row : (Q,) float64
        The yield of the regime in force by step over today's regime's (its operating
        cash's multiplier: all 1 without elections); after the horizon its last step's.
    shares_after : (T,) float64
        Japan's shares from step ``terms.split_step`` on (the deal's end renegotiated;
        ``split_step`` -1: never).
    continuation : (5, L) float64
        The vehicle's cash after the horizon (``schedules.continuation_tables``).
    work : EquityScratch
        Work arrays: ``balances`` (max(T - 1, 1),) the hurdle balances;
        ``japan_contributions`` and ``japan_receipts`` (Q,), with ``terms.record``
        overwritten with Japan's contributions (at the start of each step) and receipts
        (at its end); ``deemed_by_step`` (Q,), with ``terms.track`` the deemed balance at
        the end of each step added (frozen at its value after a default);
        ``operating_cash`` (Q,), the operating cash of each step before any drift,
        computed in a loop of its own before the waterfall's, where it vectorises.
    pv_by_step : (Q,) float64
        With ``terms.track_pv``, the discounted flow of each step from the first capital
        call on that the yen figures convert is added as the step is simulated (the
        vehicle's institution's row; the horizon value is the caller's): Japan's cash
        (receipt x ``df_end`` - contribution x ``df_start``), or with
        ``terms.yen_funded`` the receipt less the funding accrual on the capital
        invested so far, the capital returned at the exit (:mod:`.yen`).

    Returns
    -------
    EquityOutcome

    Notes
    -----
    Compiled without reference counting (``_nrt=False``, as :func:`.engine.simulate_block`):
    it runs once per vehicle and path, allocates nothing, and its arrays are the caller's.
    With counts, its arguments and the work arrays it reads took and dropped about a
    dozen of them (atomic operations) per call.
    """
    balances, contributions, receipts = (work.balances, work.japan_contributions,
                                         work.japan_receipts)
    deemed_by_step, operating_flow = work.deemed_by_step, work.operating_cash
    n_q = df_end.shape[0]
    n_hurdles, record, track, track_pv = terms.n_hurdles, terms.record, terms.track, terms.track_pv
    k_def, lgd, extra, base_q = terms.default_step, terms.lgd, extra_spread_step, rate_path
    a, op_start, op_end = terms.approval_step, terms.operating_start, terms.operating_end
    # (a performance of 1 multiplies to the same bits)
    base_cash, vol = terms.operating_cash * terms.performance, terms.cash_vol
    spread_q, sector_loading = terms.deemed_spread_step, terms.sector_loading

    _reset_work(balances, contributions, receipts, n_hurdles, record)
    # the MOU shape (one hurdle, Japan's first share > 0) keeps B_0 in a scalar (the hot
    # loop of the engine); other tier sets use the balances array
    s1, s2, inv_s1 = _tier_shares(shares)
    mou = n_hurdles == 1 and s1 > 0.0
    extra0 = extra[0] if n_hurdles > 0 else 0.0
    # B_0 the deemed balance; what Japan contributed, received; the US received
    b0, contributed, japan_total, us_total = 0.0, 0.0, 0.0, 0.0
    npv, credit, unreturned, recoup = 0.0, 0.0, 0.0, -1
    pk = path_key(terms.cash_key, path)
    c_idio = math.sqrt(max(1.0 - sector_loading * sector_loading, 0.0))
    drift_on = terms.drift_sd > 0.0
    drift_phi = terms.drift_persistence
    drift_step_sd = terms.drift_sd * math.sqrt(1.0 - drift_phi * drift_phi)
    drift, drift_var = 0.0, 0.0
    last = n_q - 1 if k_def < 0 else k_def
    # after the operating life of a vehicle that never defaults nothing is paid: the
    # balances only accrue, so those quarters run in the short loop below
    main_end = last
    if k_def < 0 and op_end <= last:
        main_end = max(op_end - 1, a - 1)
    overrun = terms.overrun
    # every step's operating cash the loop below can read, before any drift
    _operating_flows(pk, max(a, op_start), min(op_end, main_end + 1), y_row, base_cash, vol,
                     sector_loading, c_idio, operating_flow, yield_row)
    for k in range(a, last + 1):
        q = unsigned(k)  # (the arrays' index: no wrap-around test)
        if k == terms.split_step:  # the deal has ended: the renegotiated shares from here
            # on (each share is positive, so the MOU shape stays the MOU shape)
            shares = shares_after
            s1, s2, inv_s1 = _tier_shares(shares)
        c = draws_row[q] * overrun
        c_step, j_step = 0.0, 0.0  # the step's contribution and receipt (what record writes)
        if c > 0.0:
            c_step = c
            contributed += c
            npv -= c * df_start[q]
            if record:
                contributions[q] = c
            if mou:
                b0 += c
            else:
                _contribute(balances, n_hurdles, c)
        if mou:
            b0 *= accrual_factor(base_q[q], spread_q, extra0)
        else:
            accrue(balances, n_hurdles, base_q[q], spread_q, extra)
        if k <= main_end:
            if k == k_def:
                unreturned = contributed - japan_total
                if unreturned < 0.0:
                    unreturned = 0.0
                flow = (1.0 - lgd) * unreturned
            elif k >= op_start and k < op_end:
                flow = operating_flow[q]
                if drift_on:
                    # the slowly mean-reverting log performance, 0 at financial close
                    drift = drift_phi * drift + drift_step_sd * _drift_shock(terms, k)
                    drift_var = drift_phi * drift_phi * drift_var + drift_step_sd * drift_step_sd
                    flow *= exp(drift - 0.5 * drift_var)
            else:
                flow = 0.0
            j = 0.0
            if flow > 0.0:
                if mou:
                    j, b0 = split_one_hurdle(flow, b0, s1, s2, inv_s1)
                else:
                    j = waterfall_split(flow, shares, balances, n_hurdles)
                japan_total += j
                us_total += flow - j
                npv += j * df_end[q]
                j_step = j
                if record:
                    receipts[q] = j
            if k == k_def:
                credit = unreturned - j
        if not mou:
            b0 = balances[0]
        recoup = _recoup_step(recoup, k, contributed, b0)
        if track:
            deemed_by_step[q] += b0
        if track_pv:  # the step's flow the yen figures convert (fx.view's, .yen)
            add_equity_flow(pv_by_step, q, k == last, terms.yen_funded, j_step, c_step, contributed, df_start, df_end)
    for k in range(last + 1, n_q):
        if track_pv:
            pv_by_step[k] += 0.0  # (as the steps with no cash always added)
        if track:
            deemed_by_step[k] += b0
    if mou:
        balances[0] = b0
    deemed_at_horizon = balances[0]
    horizon_value = 0.0
    if k_def < 0 and op_end > n_q:
        horizon_value = _horizon_value(terms, balances, shares, extra, continuation,
                                       base_cash, df_end, drift_on, yield_row[n_q - 1])
        npv += horizon_value * df_end[n_q - 1]
    return EquityOutcome(credit, npv, japan_total, us_total, recoup, deemed_at_horizon, horizon_value)


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
def equity_terms(p, k, lgd, ctx, plan, m, scratch):
    """The scalars of equity row ``p`` on the path (:class:`~.bundles.EquityTerms`): its
    regime's operating PD (the regime at the horizon's) and yield (today's; the regimes'
    after elections by step: ``scratch.yield_by_step``), this path's overrun and
    performance, the step its shares are renegotiated from."""
    e, cash, r, path = m.exposures, m.cash, ctx.regime, ctx.path
    approval = e.approval_step[p]
    split_step = -1  # the renegotiated shares from the deal's end (or the vehicle's start)
    if m.waterfall.renegotiate and ctx.deal_end_step >= 0:
        split_step = max(ctx.deal_end_step, approval)
    sector_factor = scratch.sector_factor[e.sector[p]]
    performance = performance_multiplier(e.performance_key[p], path, cash.performance_sd,
                                         cash.performance_loading, sector_factor)
    return EquityTerms(
        default_step=k, lgd=lgd, approval_step=approval,
        operating_start=e.operating_start[p], operating_end=e.operating_end[p],
        operating_cash=e.operating_cash[p], cash_vol=e.cash_vol[p],
        deemed_spread_step=e.deemed_spread_step[p],
        pd_operating=e.pd_operating[ctx.final, p],
        pd_as_tabled=m.program.pd_as_tabled[ctx.final],
        cash_key=e.cash_key[p], sector_loading=cash.sector_loading,
        tail_base_rate_step=cash.tail_base_rate_step, steps_per_year=cash.steps_per_year,
        n_hurdles=m.waterfall.n_hurdles, record=ctx.record, track=ctx.in_tl,
        track_pv=plan.track_pv, yen_funded=m.schedules.yen_funded[p],
        overrun=overrun_multiplier(e.overrun_key[p], path, e.overrun_mean[p], e.overrun_sd[p]),
        performance=performance * m.program.yield_multiplier[r],
        drift_sd=cash.drift_sd, drift_persistence=cash.drift_persistence,
        drift_loading=cash.performance_loading, drift_key=path_key(e.drift_key[p], path),
        split_step=split_step,
        sector_drift_key=path_key(cash.sector_drift_key, path),
        sector=e.sector[p], n_sectors=m.copula.root.shape[0])


@njit(inline="always")
def value_equity(p, k, lgd, ctx, plan, m, sampled, scratch):
    """Equity row ``p`` defaulting in step ``k`` (-1: never) on the path, through
    :func:`equity_path`: writes Japan's and the US's receipts and the recoup step by
    exposure, the timeline row, the discounted cash by step and Japan's IRR on the IRR
    paths. Returns its :class:`~.bundles.EquityOutcome`."""
    e, s, w = m.exposures, m.schedules, m.waterfall
    inst, slot, n_q = e.institution[p], e.equity_slot[p], s.df_end.shape[0]
    work = scratch.equity
    o = equity_path(ctx.path, equity_terms(p, k, lgd, ctx, plan, m, scratch), s.draws[p],
                    scratch.cash_index[e.sector[p]], scratch.rate_path, s.df_start, s.df_end,
                    w.shares, w.extra_spread_step,
                    w.continuation[slot, :, :w.continuation_length[slot]], work,
                    scratch.pv_by_step[inst], scratch.yield_by_step, w.shares_after)
    scratch.japan_by_exposure[p] = o.japan_total
    scratch.us_by_exposure[p] = o.us_total
    scratch.recoup_by_exposure[p] = o.recoup_step
    if ctx.in_tl:
        for q in range(n_q):
            sampled.timeline[ctx.tl_row, q, inst] += (work.japan_receipts[q]
                                                      - work.japan_contributions[q])
    if plan.track_pv:  # (its steps' cash added by equity_path)
        scratch.pv_by_step[inst, n_q - 1] += o.horizon_value * s.df_end[n_q - 1]
    if ctx.irr_row < sampled.irr.shape[0]:
        sampled.irr[ctx.irr_row, slot] = irr_annual(work.japan_contributions,
                                                    work.japan_receipts, o.horizon_value,
                                                    m.cash.steps_per_year, n_q)
    return o

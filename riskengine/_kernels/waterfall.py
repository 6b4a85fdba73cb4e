"""The MOU profit-sharing waterfall as data: ordered tiers, each with Japan's share; every
tier but the last runs "until" its hurdle balance is repaid. The one split rule, the one
accrual step and the horizon value (closed form and quarter-by-quarter) live here.

Hurdle balance ``B_t`` (one per non-final tier) starts at zero, rises by each capital
contribution at the start of the quarter it is drawn, accrues by
``1 + base_rate/m + deemed_spread/m + extra_spread_t/m`` on the balance at the start of
the quarter, and falls by everything Japan receives. The first tier whose balance is
still positive applies; the cash that brings its balance to zero is split by that tier and
the rest of the quarter's cash by the next ones. ``B_0`` (the first tier's balance, or,
with a single tier, a balance tracked at the deemed rate) is the deemed allocation
outstanding; Japan "recoups" in the quarter it reaches zero.
"""

from __future__ import annotations

from numba import njit

from ._cache import CACHE


@njit(inline="always")
def accrual_factor(base_step, spread_step, extra_spread_step):
    """One step's growth of a hurdle balance: ``1 + base + deemed spread + extra spread``
    (all per step)."""
    return 1.0 + base_step + spread_step + extra_spread_step


@njit(inline="always")
def accrue(balances, n_hurdles, base_step, spread_step, extra_spread_step):
    """One step's interest on the hurdle balances (max(T - 1, 1),), in place; with no
    hurdle, ``B_0`` accrues at the deemed rate."""
    if n_hurdles == 0:
        balances[0] *= accrual_factor(base_step, spread_step, 0.0)
    for t in range(n_hurdles):
        balances[t] *= accrual_factor(base_step, spread_step, extra_spread_step[t])


@njit(inline="always")
def split_one_hurdle(cash, deemed, s1, s2, inverse_s1):
    """The MOU shape: Japan's share ``s1`` until the deemed balance is repaid, then ``s2``.

    Parameters
    ----------
    cash : float
        Distributable cash (> 0).
    deemed : float
        The deemed balance ``B_0`` before the split.
    inverse_s1 : float
        ``1 / s1`` (``s1 > 0``): the cash that repays ``B_0`` is ``B_0 / s1``.

    Returns
    -------
    (japan, deemed_after)
    """
    if deemed > 0.0:
        need = deemed * inverse_s1  # cash that repays B_0
        if cash < need:
            j = s1 * cash
            return j, (deemed - j if deemed > j else 0.0)
        return s1 * need + s2 * (cash - need), 0.0
    return s2 * cash, deemed


@njit(cache=CACHE)
def waterfall_split(cash, shares, balances, n_hurdles):
    """Split one quarter's distributable ``cash`` and update the hurdle balances in place.

    Parameters
    ----------
    cash : float
        Distributable cash of the quarter (> 0).
    shares : (T,) float64
        Japan's share per tier.
    balances : (max(T - 1, 1),) float64
        Hurdle balances of tiers ``0 .. n_hurdles - 1``; with ``n_hurdles == 0`` the single
        tier applies throughout and ``balances[0]`` (the deemed balance) only falls by
        Japan's receipts.
    n_hurdles : int
        ``T - 1``.

    Returns
    -------
    float
        Japan's part; the US gets ``cash - japan`` (conserved exactly).

    Notes
    -----
    The MOU shape (one hurdle, Japan's first share > 0) takes :func:`split_one_hurdle`,
    the same arithmetic as the general loop with the repaying cash ``B_0 * (1 / s_1)``.
    """
    if n_hurdles == 1 and shares[0] > 0.0:
        japan, balances[0] = split_one_hurdle(cash, balances[0], shares[0], shares[1],
                                              1.0 / shares[0])
        return japan
    japan = 0.0
    rest = cash
    t = 0
    while t < n_hurdles and rest > 0.0:
        b = balances[t]
        if b > 0.0:
            s = shares[t]
            if s <= 0.0:
                return japan  # a zero-share hurdle is never repaid: all to the US
            need = b / s  # cash that brings this tier's balance to zero
            take = rest if rest < need else need
            j = s * take
            japan += j
            rest -= take
            for q in range(n_hurdles):
                balances[q] = balances[q] - j if balances[q] > j else 0.0
            if take == need:
                balances[t] = 0.0
        t += 1
    if rest > 0.0:
        j = shares[n_hurdles] * rest
        japan += j
        if n_hurdles == 0:
            balances[0] = balances[0] - j if balances[0] > j else 0.0
        else:
            for q in range(n_hurdles):
                balances[q] = balances[q] - j if balances[q] > j else 0.0
    return japan


@njit(cache=CACHE)
def horizon_value_closed_form(deemed, shares, n_hurdles, table):
    """Japan's value at the horizon of the deterministic cash after it, for at most one
    hurdle and ``shares[0] > 0``.

    Parameters
    ----------
    deemed : float
        ``B_0`` at the horizon.
    table : (5, L) float64
        Rows: cash ``X_j``, deflator ``(1 + r)^-j`` at the deemed rate, discount factor to
        the horizon, cumulative deflated cash ``D``, cumulative discounted cash (see
        :func:`riskengine.schedules.continuation_tables`).

    Notes
    -----
    The hurdle is repaid in the first quarter with ``s1 D_k >= B``; before it Japan gets
    ``s1`` of the cash, after it ``s2``. Equals :func:`horizon_value_loop` (tested).
    """
    n = table.shape[1]
    if n == 0:
        return 0.0
    x, v, d, cum_d, cum_p = table[0], table[1], table[2], table[3], table[4]
    total = cum_p[n - 1]
    if n_hurdles == 0:
        return shares[0] * total
    s1, s2 = shares[0], shares[1]
    b = deemed
    if b <= 0.0:
        return s2 * total
    if s1 * cum_d[n - 1] < b:
        return s1 * total
    lo, hi = 0, n - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if s1 * cum_d[mid] >= b:
            hi = mid
        else:
            lo = mid + 1
    k = lo
    prev_d = cum_d[k - 1] if k > 0 else 0.0
    prev_p = cum_p[k - 1] if k > 0 else 0.0
    j1 = (b - s1 * prev_d) / v[k]  # Japan's part that repays the hurdle in quarter k
    return s1 * prev_p + (j1 + s2 * (x[k] - j1 / s1)) * d[k] + s2 * (total - cum_p[k])


@njit(cache=CACHE)
def horizon_value_loop(balances, shares, n_hurdles, extra_spread_step, spread_step,
                       tail_base_step, step_discount, operating_cash, survival_step, n_steps,
                       first_operating):
    """Japan's value at the horizon of the deterministic cash after it, quarter by quarter
    through the waterfall (any tier set); the reference for :func:`horizon_value_closed_form`.

    Quarter ``j = 0 .. n_steps - 1`` after the horizon pays ``operating_cash *
    survival_step^(j + 1)`` if ``j >= first_operating`` (the mean multiplier, weighted by
    survival at the operating PD), after a quarter's accrual of the ``balances`` (updated in
    place) at ``tail_base_step``, discounted by ``step_discount^(j + 1)``.
    """
    value = 0.0
    surv = 1.0
    disc = 1.0
    for j in range(n_steps):
        surv *= survival_step
        disc *= step_discount
        accrue(balances, n_hurdles, tail_base_step, spread_step, extra_spread_step)
        cash = operating_cash * surv if j >= first_operating else 0.0
        if cash > 0.0:
            value += waterfall_split(cash, shares, balances, n_hurdles) * disc
    return value

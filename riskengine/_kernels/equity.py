"""Equity exposures: cash calls, operating cash flows with sector and idiosyncratic shocks,
default and recovery, the waterfall, and a going-concern value at the horizon.

Operating cash of exposure ``i`` (sector ``s``) at the end of quarter ``k``, for
``op_start <= k < op_end``::

    cash = commitment * expected_yield / m * exp(v * (b * Y[s, k] + sqrt(1 - b^2) * eps[i, k]) - v^2 / 2)

with ``v = cf_vol``, ``b^2`` the sector share of the log-cash variance (config
``cashflows.sector_share``) and ``Y`` the sector cash index (see :func:`cash_factors`);
``Y`` and ``eps`` are standard normal, so the multiplier has mean one and log-volatility
``v``.
"""

from __future__ import annotations

import math

from . import CACHE  # noqa: E402
from numba import njit

from .rng import normal, path_key
from .waterfall import waterfall_split


@njit(cache=CACHE)
def cash_factors(cash_key, path, root, root_end, s_fac, phi, needed, n_k, z, y, macro_w, macro):
    """Sector cash indices ``y[s, k]`` for ``k < n_k``: stationary AR(1) started from the
    path's default factor, ``Y[s, -1] = S_s``, ``Y[s, k] = phi Y[s, k-1] + sqrt(1 - phi^2)
    eta[s, k]``, ``eta[:, k] ~ N(0, C)``. Every ``Y[s, k]`` is N(0, 1), sectors correlate
    by ``C`` and a path with a bad default factor starts with low cash. Also writes the
    common innovation ``macro[k] = sum_s macro_w[s] eta[s, k]`` (N(0, 1) for the weights
    of :func:`riskengine.simulate.build_model`), which drives the short rate."""
    n_sec = root.shape[0]
    pk = path_key(cash_key, path)
    c = math.sqrt(1.0 - phi * phi)
    for k in range(n_k):
        for j in range(n_sec):
            z[j] = normal(pk, k * n_sec + j)
        m = 0.0
        for s in range(n_sec):
            if not needed[s]:
                continue
            eta = 0.0
            for j in range(root_end[s]):
                eta += root[s, j] * z[j]
            m += macro_w[s] * eta
            prev = s_fac[s] if k == 0 else y[s, k - 1]
            y[s, k] = phi * prev + c * eta
        macro[k] = m


@njit(inline="always")
def _recoup_quarter(recoup, k, contributed, b0):
    """The recoup quarter so far: when B_0 last reached zero (B stays zero from then on);
    -1 while B_0 is positive."""
    if contributed > 0.0 and b0 <= 0.0:
        return k if recoup < 0 else recoup
    return -1


@njit(cache=CACHE)
def equity_path(k_def, lgd, commit, base_cash, vol, b_sec, y_row, eps_key, path,
                a, op_start, op_end, spread_q, pd_op, draws_row, base_q, tail_base_q,
                df_start, df_end,
                shares, extra_q, n_hurdles, balances, spy, record, jc, jr, track, deemed_q, n_q,
                cont):
    """One equity exposure on one path.

    When ``record``, writes (overwrites) Japan's contributions ``jc[k]`` (at the start of
    quarter ``k``) and receipts ``jr[k]`` (at its end). When ``track``, adds the deemed
    balance at the end of each quarter to ``deemed_q[k]`` (frozen at its value after a
    default; shared by the path's exposures). Returns ``(credit_loss,
    npv_japan, japan_total, us_total, recoup_quarter, deemed_at_horizon,
    value_at_horizon)``. ``balances`` is scratch of length ``max(n_hurdles, 1)``.
    """
    nb = n_hurdles if n_hurdles > 0 else 1
    for t in range(nb):
        balances[t] = 0.0
    if record:
        for k in range(n_q):
            jc[k] = 0.0
            jr[k] = 0.0
    contributed = 0.0
    japan_tot = 0.0
    us_tot = 0.0
    npv = 0.0
    credit = 0.0
    recoup = -1
    unreturned = 0.0
    pk = path_key(eps_key, path)
    s1 = shares[0]
    s2 = shares[1] if shares.shape[0] > 1 else 0.0
    # the MOU shape (one hurdle, Japan's first share > 0) runs on a scalar balance with
    # the same arithmetic as waterfall_split; other tier sets use the general split
    mou = n_hurdles == 1 and s1 > 0.0
    inv_s1 = 1.0 / s1 if s1 > 0.0 else 0.0
    add_q = spread_q + (extra_q[0] if n_hurdles > 0 else 0.0)
    half_v2 = 0.5 * vol * vol
    c_idio = math.sqrt(max(1.0 - b_sec * b_sec, 0.0))
    b0 = 0.0  # the deemed balance B_0 (balances[0] in the general branch)
    last = n_q - 1
    if k_def >= 0:
        last = k_def
    # after the operating life of a vehicle that never defaults nothing is paid: the MOU
    # balance only accrues, so those quarters run in the short loop below
    main_end = last
    if mou and k_def < 0 and op_end <= last:
        main_end = max(op_end - 1, a - 1)
    for k in range(a, main_end + 1):
        c = draws_row[k]
        if c > 0.0:
            contributed += c
            npv -= c * df_start[k]
            if record:
                jc[k] = c
            if mou:
                b0 += c
            else:
                for t in range(nb):
                    balances[t] += c
        if mou:
            b0 *= 1.0 + base_q[k] + add_q
        else:
            for t in range(nb):
                extra = extra_q[t] if n_hurdles > 0 else 0.0
                balances[t] *= 1.0 + base_q[k] + spread_q + extra
        if k == k_def:
            unreturned = contributed - japan_tot
            if unreturned < 0.0:
                unreturned = 0.0
            cash = (1.0 - lgd) * unreturned
        elif k >= op_start and k < op_end:
            x = b_sec * y_row[k] + c_idio * normal(pk, k)
            cash = base_cash * math.exp(vol * x - half_v2)
        else:
            cash = 0.0
        j = 0.0
        if cash > 0.0:
            if mou:
                if b0 > 0.0:
                    need = b0 * inv_s1  # cash that repays B_0
                    if cash < need:
                        j = s1 * cash
                        b0 = b0 - j if b0 > j else 0.0
                    else:
                        j = s1 * need + s2 * (cash - need)
                        b0 = 0.0
                else:
                    j = s2 * cash
            else:
                j = waterfall_split(cash, shares, balances, n_hurdles)
            japan_tot += j
            us_tot += cash - j
            npv += j * df_end[k]
            if record:
                jr[k] = j
        if k == k_def:
            credit = unreturned - j
        if not mou:
            b0 = balances[0]
        recoup = _recoup_quarter(recoup, k, contributed, b0)
        if track:
            deemed_q[k] += b0
    for k in range(main_end + 1, last + 1):  # MOU, no default, after the operating life
        c = draws_row[k]
        if c > 0.0:
            contributed += c
            npv -= c * df_start[k]
            b0 += c
            if record:
                jc[k] = c
        b0 *= 1.0 + base_q[k] + add_q
        recoup = _recoup_quarter(recoup, k, contributed, b0)
        if track:
            deemed_q[k] += b0
    if track:
        for k in range(last + 1, n_q):
            deemed_q[k] += b0
    if mou:
        balances[0] = b0
    deemed_h = balances[0]
    tv = 0.0
    if k_def < 0 and op_end > n_q and n_hurdles <= 1 and shares[0] > 0.0:
        tv = _horizon_value(balances[0], shares, n_hurdles, cont)
        npv += tv * df_end[n_q - 1]
    elif k_def < 0 and op_end > n_q:
        # going-concern value at the horizon: the remaining scheduled cash at mean
        # multiplier, weighted by survival at the operating PD, through the waterfall at
        # the deterministic base rate, discounted like the rest
        step = df_end[0]  # one-step discount factor (df_start[0] == 1)
        surv_q = (1.0 - pd_op) ** (1.0 / spy)
        surv = 1.0
        disc = 1.0  # discounting to the horizon
        for k in range(n_q, op_end):
            surv *= surv_q
            disc *= step
            for t in range(nb):
                extra = extra_q[t] if n_hurdles > 0 else 0.0
                balances[t] *= 1.0 + tail_base_q + spread_q + extra
            cash = base_cash * surv if k >= op_start else 0.0
            if cash > 0.0:
                tv += waterfall_split(cash, shares, balances, n_hurdles) * disc
        npv += tv * df_end[n_q - 1]
    return credit, npv, japan_tot, us_tot, recoup, deemed_h, tv


@njit(cache=CACHE)
def _horizon_value(b, shares, n_hurdles, cont):
    """Closed form of the going-concern loop for at most one hurdle: with the deflated
    cumulative cash ``D_k = sum_{j<=k} X_j (1+r)^-(j+1)`` the hurdle is repaid in the first
    quarter with ``s1 D_k >= B``; before it Japan gets ``s1`` of the cash, after it ``s2``."""
    n = cont.shape[1]
    if n == 0:
        return 0.0
    x, v, d, cum_d, cum_p = cont[0], cont[1], cont[2], cont[3], cont[4]
    total = cum_p[n - 1]
    if n_hurdles == 0:
        return shares[0] * total
    s1, s2 = shares[0], shares[1]
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

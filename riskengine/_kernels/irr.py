"""Internal rate of return of a stream of quarterly cash flows (numba)."""

from __future__ import annotations

import numpy as np
from numba import njit

from ._cache import CACHE


@njit(cache=CACHE)
def _npv_d(rate, contrib, receipts, horizon_value, n_q):
    """NPV and its derivative in the per-step rate."""
    v = 1.0 / (1.0 + rate)
    f = 1.0
    total = 0.0
    deriv = 0.0
    for t in range(n_q):
        a = receipts[t] * v - contrib[t]  # value at t of the flows of step t
        total += a * f
        deriv -= (t * a + receipts[t] * v) * f * v
        f *= v
    total += horizon_value * f
    deriv -= n_q * horizon_value * f * v
    return total, deriv


@njit(cache=CACHE)
def irr_annual(contrib, receipts, horizon_value, steps_per_year, n_q):
    """Annual IRR ``(1 + x)^steps_per_year - 1`` of contributions at quarter starts, receipts at
    quarter ends and ``horizon_value`` at the horizon: safeguarded Newton on the per-step
    rate ``x`` (bisection on a bracket when a Newton step leaves it).

    Returns -1 when nothing comes back, NaN when nothing was invested."""
    invested = 0.0
    back = horizon_value
    for t in range(n_q):
        invested += contrib[t]
        back += receipts[t]
    if invested <= 0.0:
        return np.nan
    if back <= 0.0:
        return -1.0
    lo, hi = -0.999999, 1.0
    if _npv_d(hi, contrib, receipts, horizon_value, n_q)[0] > 0.0:
        return (1.0 + hi) ** steps_per_year - 1.0
    # safeguarded Newton: NPV falls with the rate for invest-then-receive streams
    x = 0.01
    for _ in range(100):
        f, d = _npv_d(x, contrib, receipts, horizon_value, n_q)
        if f > 0.0:
            lo = x
        else:
            hi = x
        nx = x - f / d if d < 0.0 else 0.5 * (lo + hi)
        if not (lo < nx < hi):
            nx = 0.5 * (lo + hi)
        if abs(nx - x) <= 1e-13 or hi - lo <= 1e-13:
            x = nx
            break
        x = nx
    return (1.0 + x) ** steps_per_year - 1.0

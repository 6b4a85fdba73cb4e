"""The base-rate path of one Monte Carlo path (constants from :mod:`riskengine.rates`)."""

from __future__ import annotations

import math

from numba import njit

from ._cache import CACHE
from .rng import normal, path_key


@njit(cache=CACHE)
def rate_path(path, cash, macro, out):
    """Base rate per step on one path, written to ``out`` (Q,).

    Deterministic: ``cash.base_rate_step``. Vasicek (exact discretisation):
    ``r[k+1] = theta + (r[k] - theta) a + sd eps[k]``, ``r[0]`` the base rate,
    ``eps[k] = rho macro[k] + sqrt(1 - rho^2) xi[k]`` with ``macro`` (Q,) the common sector
    cash innovation; ``out[k] = r[k] / m``.
    """
    if not cash.stochastic_rate:
        for q in range(out.shape[0]):
            out[q] = cash.base_rate_step[q]
        return
    steps_per_year = cash.steps_per_year
    theta, a, sd = cash.rate_long_run, cash.rate_decay, cash.rate_step_sd
    rho = cash.rate_factor_correlation
    rpk = path_key(cash.rate_key, path)
    r_now = cash.base_rate_step[0] * steps_per_year
    c_r = math.sqrt(1.0 - rho * rho)
    for q in range(out.shape[0]):
        out[q] = r_now / steps_per_year
        eps = rho * macro[q] + c_r * normal(rpk, q)
        r_now = theta + (r_now - theta) * a + sd * eps

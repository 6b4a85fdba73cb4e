"""The base-rate model's constants per time step (the path itself: ``_kernels/rates.py``).

With ``rates.model = "vasicek"`` the annual short rate follows
``dr = kappa (theta - r) dt + sigma dW``, discretised exactly on the step ``dt = 1/m``:
``r[k+1] = theta + (r[k] - theta) a + sd eps[k]`` with ``a = exp(-kappa dt)`` and
``sd = sigma sqrt((1 - a^2) / (2 kappa))``. ``eps`` correlates with the common innovation
of the sector cash indices, whose weights give it unit variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Rates


@dataclass(frozen=True)
class RateSteps:
    """Per-step constants of the base-rate model."""

    stochastic: bool
    decay: float  # a
    step_sd: float  # sd
    long_run: float  # theta, annual
    factor_correlation: float
    base_step: float  # deterministic base rate per step
    tail_base_step: float  # base rate per step after the horizon (theta when stochastic)


def rate_steps(rates: Rates, steps_per_year: int) -> RateSteps:
    """The constants of ``rates`` on a grid of ``steps_per_year`` steps."""
    stochastic = rates.model == "vasicek"
    theta = rates.base_rate if rates.long_run_rate is None else rates.long_run_rate
    dt = 1.0 / steps_per_year
    a = float(np.exp(-rates.mean_reversion * dt))
    sd = float(rates.volatility * np.sqrt((1.0 - a**2) / (2.0 * rates.mean_reversion)))
    return RateSteps(stochastic=stochastic, decay=a, step_sd=sd, long_run=float(theta),
                     factor_correlation=float(rates.factor_correlation),
                     base_step=rates.base_rate / steps_per_year,
                     tail_base_step=float((theta if stochastic else rates.base_rate)
                                          / steps_per_year))


def common_innovation_weights(correlation: np.ndarray) -> np.ndarray:
    """Equal weights of the sector innovations ``eta ~ N(0, C)`` whose sum has unit
    variance: ``1 / sqrt(sum C)``."""
    c = np.asarray(correlation)
    return np.full(c.shape[0], 1.0 / np.sqrt(c.sum()))

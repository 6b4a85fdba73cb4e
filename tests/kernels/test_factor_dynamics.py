"""Sector factors that move year by year (factor_dynamics = "ar1"): marginal default
curves stay the input's, and a large pool's yearly default rates are autocorrelated as
the closed form says."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

import riskengine
from riskengine._kernels import engine
from riskengine.dependence import ar1_year_thresholds, cumulative_pd
from riskengine.simulate import NO_REPLAY, allocate

from ..conftest import homogeneous_frame, make_config, make_portfolio

PD, W = 0.02, 0.5


def test_calibration_without_persistence_is_the_independent_years_formula():
    cum = cumulative_pd(np.array([0.03]), np.array([0.08]), np.array([6.0]), 24, 4)
    a = ar1_year_thresholds(cum, np.array([1]), np.array([W]), 24, 4, 0.0)[0]
    surv = 1 - cum[0, [2, 6, 10, 14, 18, 22]]  # year ends: steps 3, 7, ... from as_of
    h = 1 - surv / np.concatenate([[1.0], surv[:-1]])
    np.testing.assert_allclose(a, special.ndtri(h), atol=1e-9)


def _yearly(phi, n=2000, paths=20_000, years=8, pd_=PD):
    cfg = make_config(paths=paths, seed=21, horizon_years=float(years),
                      dependence={"factor_dynamics": "ar1", "factor_persistence": phi},
                      outputs={"timeline_paths": paths, "fiscal_year_start_month": 10})
    model = riskengine.build_model(cfg, make_portfolio(homogeneous_frame(n=n, pd_annual=pd_, w=W), cfg))
    res = riskengine.run_model(model)
    return model, res


@pytest.mark.parametrize("phi", [0.0, 0.9])
def test_marginal_default_curve_is_the_input(phi):
    n, paths, years = 500, 20_000, 8
    model, res = _yearly(phi, n=n, paths=paths, years=years)
    per_year = res.annual["mean"].sel(quantity="defaults").to_numpy() / n
    want = np.diff(np.concatenate([[0.0], 1 - (1 - PD) ** np.arange(1, years + 1)]))
    # each year's default count is a sum over a pool driven by one factor path: its error
    # is the factor's (sd of the conditional PD) over sqrt(paths)
    tol = 4 * np.sqrt(stats.multivariate_normal([0, 0], [[1, W * W], [W * W, 1]]).cdf(
        [special.ndtri(PD)] * 2) / paths)
    np.testing.assert_allclose(per_year, want, atol=tol)


def test_yearly_default_rates_autocorrelate_as_the_closed_form():
    phi, n = 0.8, 2000
    model, res = _yearly(phi, n=n)
    # per sampled path and factor year (fiscal years aligned with the factor's years)
    out, acc, sampled = allocate(model, 20_000, 20_000, 0)
    n_y = sampled.annual.shape[1]
    engine.run_chunk(0, 20_000, 1024, *model.inputs, out, acc, sampled, NO_REPLAY)
    # the conditional default rate of the year's survivors estimates h_t, the Vasicek
    # conditional PD of the year's factor, plus binomial noise independent across years
    defaults = sampled.annual[:, :, 0]
    alive = n - np.concatenate([np.zeros((defaults.shape[0], 1)),
                                np.cumsum(defaults, axis=1)[:, :-1]], axis=1)
    rate = defaults / alive
    a = model.inputs.copula.year_threshold[0, 0]
    for t in range(n_y - 1):
        got = np.cov(rate[:, t], rate[:, t + 1])[0, 1]
        r = W * W * phi  # corr(w S_t + s e, w S_{t+1} + s e') with unit variances
        want = (stats.multivariate_normal([0, 0], [[1, r], [r, 1]]).cdf([a[t], a[t + 1]])
                - special.ndtr(a[t]) * special.ndtr(a[t + 1]))
        assert got == pytest.approx(want, rel=0.1), (t, got, want)
    # and a year's rate is nearly uncorrelated with one far away when persistence decays
    far = np.cov(rate[:, 0], rate[:, n_y - 1])[0, 1]
    assert far < 0.5 * np.cov(rate[:, 0], rate[:, 1])[0, 1]

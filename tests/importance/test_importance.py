"""Importance sampling: unbiased against the exact Vasicek finite-pool tail, and far
less variable than plain Monte Carlo there."""

from __future__ import annotations

import numpy as np
import pytest

import riskengine
from riskengine.measures import LossSample

from ..conftest import homogeneous_frame, make_config, make_portfolio
from ..reference import vasicek_finite_pool_pmf

N, PD, RHO = 1000, 0.005, 0.3


@pytest.fixture(scope="module")
def exact():
    pmf = vasicek_finite_pool_pmf(N, PD, RHO)
    k = np.arange(N + 1, dtype=float)
    s = LossSample(k, pmf * (N + 1))
    return {a: (s.var_value(a), s.es(a).value) for a in (0.99, 0.999)}


def _run(seed, importance, paths=20_000):
    cfg = make_config(paths=paths, seed=seed, importance_sampling={"enabled": importance})
    pf = make_portfolio(homogeneous_frame(n=N, pd_annual=PD, w=np.sqrt(RHO)), cfg)
    return riskengine.simulate(cfg, pf)


def _get(r, measure, level):
    s = r.summary.sel(institution="ALL", variable="credit_loss")
    i = np.flatnonzero((s.measure.values == measure) & np.isclose(s.level.values, level))[0]
    return float(s.value[i]), float(s.stderr[i]), float(s.ci_low[i]), float(s.ci_high[i])


def test_importance_sampling_matches_exact_tail(exact):
    r = _run(11, True)
    assert r.meta["importance_sampling"]["enabled"] is True
    assert r.meta["importance_sampling"]["mean_shift"][0][0] < 0  # toward more defaults
    assert "weight" in r.paths
    for a in (0.99, 0.999):
        var_exact, es_exact = exact[a]
        es, se, _, _ = _get(r, "ES", a)
        assert abs(es - es_exact) <= 4.5 * se, (a, es, es_exact, se)
        v, _, lo, hi = _get(r, "VaR", a)
        assert lo - 2 <= var_exact <= hi + 2, (a, v, var_exact, lo, hi)


@pytest.mark.slow
def test_importance_sampling_cuts_es_variance(exact):
    plain = [_get(_run(s, False, 10_000), "ES", 0.999)[0] for s in range(8)]
    tilted = [_get(_run(s, True, 10_000), "ES", 0.999)[0] for s in range(8)]
    ratio = np.var(plain, ddof=1) / np.var(tilted, ddof=1)
    assert ratio > 20, ratio
    es_exact = exact[0.999][1]
    assert abs(np.mean(tilted) - es_exact) <= 4.5 * np.std(tilted, ddof=1) / np.sqrt(8)


def test_a_regimes_figures_under_importance_sampling_are_conditional_on_it():
    """Importance sampling draws the regimes with tilted probabilities (weights p_r / q_r),
    so a regime's own figures must normalise its weights: its EL and ES 0.99 agree with
    plain Monte Carlo's within the two runs' standard errors (unnormalised, the regime the
    tilt draws least had an EL about four times too large)."""
    plain = riskengine.simulate(paths=60_000, seed=5)
    tilted = riskengine.simulate(paths=20_000, seed=6, importance_sampling=True)
    assert plain.regimes == tilted.regimes and len(plain.regimes) > 1
    for regime in plain.regimes:
        for measure, level in (("EL", None), ("ES", 0.99)):
            a = plain.estimate(measure, "credit_loss", "ALL", level, regime=regime)
            b = tilted.estimate(measure, "credit_loss", "ALL", level, regime=regime)
            assert abs(a[0] - b[0]) < 4 * np.hypot(a[1], b[1]), (regime, measure)

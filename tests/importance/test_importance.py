"""Importance sampling: unbiased against the exact Vasicek finite-pool tail, and far
less variable than plain Monte Carlo there."""

from __future__ import annotations

import numpy as np
import pytest

import riskengine
from riskengine.config import apply_overrides
from riskengine.importance import drawn_factor_normals
from riskengine.measures import LossSample, mean_with_stderr, regression_mean

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


def test_the_el_takes_the_weights_control_variates():
    """The pool's EL is known exactly (N PD: one year, unit losses). The importance-sampled
    run reports the regression estimator on ``w - 1``, ``w z`` and ``w (z^2 - 1)`` (all of
    mean zero: ``E_g[w h] = E_f[h]``): within four of its standard errors of the exact EL,
    and its error below the weighted mean's on the same paths."""
    r = _run(12, True)
    weight = r.paths["weight"].values
    loss = r.loss("credit_loss", "ALL")
    el, se = r.estimate("EL")
    assert abs(el - N * PD) <= 4 * se, (el, se)
    controls = r.mean_controls()
    assert controls is not None and controls.k == 3  # one factor
    assert (el, se) == regression_mean(weight * loss, controls)
    weighted = mean_with_stderr(weight * loss)
    assert se < weighted[1] / 2 and el != weighted[0], (se, weighted)


def test_the_controls_redraw_the_factor_normals_the_weights_were_made_of():
    """Without the twist, a path's weight is a function of its regime and the factor
    normals it drew: ``(p_r / q_r) / (a p_r / q_r + (1 - a) exp(mu_r z - |mu_r|^2 / 2))``
    (the plain component draws the regime from ``p``). The normals the controls redraw
    (``importance.drawn_factor_normals``) give the kernel's weights to rounding."""
    cfg = apply_overrides(riskengine.load_config(), {
        "simulation": {"paths": 4096, "seed": 3},
        "importance_sampling": {"enabled": True, "twist": False, "pilot_paths": 4096},
        "outputs": {"timeline_paths": 16, "irr_paths": 16, "contributions": False}})
    r = riskengine.simulate(cfg)
    info = r.meta["importance_sampling"]
    regime = r.paths["regime"].values
    z = drawn_factor_normals(r.paths["path"].values, 3, info["mean_shift"],
                             info["defensive_share"], regime)
    mu = np.asarray(info["mean_shift"])[regime]
    p = np.diff(np.array([0.0, *np.cumsum([g["probability"] for g in
                                           r.meta["config"]["regimes"]])]))
    ratio = (p / np.asarray(info["regime_probabilities"]))[regime]
    a = info["defensive_share"]
    want = ratio / (a * ratio + (1 - a) * np.exp((z * mu).sum(axis=1)
                                                  - 0.5 * (mu * mu).sum(axis=1)))
    np.testing.assert_allclose(r.paths["weight"].values, want, rtol=1e-12)
    assert (want > 1 / a * (1 + 1e-12)).sum() == 0  # the defensive bound, 1 / a


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
    # over all regimes the EL is the regression estimator on the regimes' and the factor
    # normals' controls, well below the weighted mean's error, and agrees with plain's
    weight, loss = tilted.weight, tilted.loss("credit_loss", "ALL")
    el, se = tilted.estimate("EL", "credit_loss", "ALL")
    assert se < mean_with_stderr(weight * loss)[1] / 1.5
    a = plain.estimate("EL", "credit_loss", "ALL")
    assert abs(a[0] - el) < 4 * np.hypot(a[1], se)
    for regime in plain.regimes:
        for measure, level in (("EL", None), ("ES", 0.99)):
            a = plain.estimate(measure, "credit_loss", "ALL", level, regime=regime)
            b = tilted.estimate(measure, "credit_loss", "ALL", level, regime=regime)
            assert abs(a[0] - b[0]) < 4 * np.hypot(a[1], b[1]), (regime, measure)

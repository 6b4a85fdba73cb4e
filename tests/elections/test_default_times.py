"""Two regimes, one election: the default time follows the mixture of piecewise curves
(closed form: before the election regime r0's curve, after it the survival continues
with r1's hazards, ``S(t) = S_r0(te) S_r1(t) / S_r1(te)``), conditionally on each
history and mixed over them; the histories have their Markov probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from riskengine.kernel_inputs import build_model
from riskengine.simulate import run_model

from .common import PD_MULT, PI, SWITCH, config, loans, portfolio

N_LOANS, PD, TE, PATHS = 100, 0.04, 2.0, 20_000


def survival(r0, r1, t):
    """The closed form: S_h(t) for t in years (the election's regime from TE on)."""
    p = np.minimum(PD * PD_MULT, 1.0)

    def s(r, years):
        return (1.0 - p[r]) ** years

    t = np.asarray(t, float)
    return np.where(t <= TE, s(r0, t), s(r0, TE) * s(r1, t) / s(r1, TE))


@pytest.fixture(scope="module")
def run():
    cfg = config(simulation={**config().simulation.model_dump(mode="json"), "paths": PATHS})
    return run_model(build_model(cfg, portfolio(loans(N_LOANS, PD), cfg)))


def test_histories_have_their_markov_probabilities(run):
    r0 = run.paths["regime"].to_numpy()
    r1 = run.paths["regime_at_mid2027"].to_numpy()
    counts = np.array([[np.sum((r0 == a) & (r1 == b)) for b in range(2)] for a in range(2)])
    expect = PI[:, None] * SWITCH * PATHS
    chi2 = ((counts - expect) ** 2 / expect).sum()
    assert chi2 < stats.chi2.ppf(0.999, 3)


def test_default_by_the_horizon_given_each_history(run):
    r0 = run.paths["regime"].to_numpy()
    r1 = run.paths["regime_at_mid2027"].to_numpy()
    defaults = run.paths["credit_loss"].sum("institution").to_numpy()
    for a in range(2):
        for b in range(2):
            on = (r0 == a) & (r1 == b)
            f = 1.0 - survival(a, b, 4.0)
            se = np.sqrt(f * (1 - f) / (N_LOANS * on.sum()))
            assert abs(defaults[on].mean() / N_LOANS - f) < 4.5 * se, (a, b)


def test_default_time_distribution_mixed_over_histories(run):
    # the annual table's mean defaults by fiscal year (April to March): from 2026-01-01
    # the fiscal years end 0.25, 1.25, 2.25, 3.25 and 4 years in
    mean = run.annual["mean"].sel(quantity="defaults").to_numpy() / N_LOANS
    ends = np.array([0.25, 1.25, 2.25, 3.25, 4.0])
    assert len(mean) == len(ends)
    hist = [(a, b, PI[a] * SWITCH[a, b]) for a in range(2) for b in range(2)]
    f_h = np.array([1 - survival(a, b, ends) for a, b, _ in hist])  # (H, T)
    w = np.array([p for *_, p in hist])
    mixture = w @ f_h
    # a path's share of defaults: binomial given the history, plus the histories' spread
    var = w @ (f_h * (1 - f_h)) / N_LOANS + w @ (f_h - mixture) ** 2
    se = np.sqrt(var / PATHS)
    got = np.cumsum(mean)
    assert np.all(np.abs(got - mixture) < 4.5 * se), (got, mixture, se)
    # and it is not the curve without switching (the test can tell them apart)
    stay = PI @ np.array([1 - survival(r, r, ends) for r in range(2)])
    assert abs(got[-1] - stay[-1]) > 4.5 * se[-1]

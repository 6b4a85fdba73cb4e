"""Each regime history's default curve against its closed form, and a unit's notice
probability before an election against a hand count. No kernel is compiled here."""

from __future__ import annotations

import numpy as np

from riskengine.dependence import cumulative_pd
from riskengine.elections import (
    histories,
    history_curves,
    history_probability,
    notice_cdf,
    switch_matrix,
)

from .common import PI, SWITCH, config


def test_history_curves_follow_the_piecewise_closed_form():
    # two groups (approved at steps 0 and 10), two regimes, one election at step 8
    pd_r = np.array([0.04, 0.12])
    q = 16
    cum = np.stack([np.vstack([cumulative_pd([p], [p], [0], q, 4)[0]] * 2) for p in pd_r])
    approval = np.array([0, 10])
    out = history_curves(cum, approval, np.array([8]), 2)
    t = np.arange(1, q + 1) / 4  # years since approval at each step's end

    def s(r, years):
        return (1.0 - pd_r[r]) ** years

    for h, (r0, r1) in enumerate(histories(2, 1)):
        # approved at 0: r0 for two years, then r1's hazards from where r0 left off
        expect = np.where(t <= 2.0, 1 - s(r0, t), 1 - s(r0, 2.0) * s(r1, t) / s(r1, 2.0))
        np.testing.assert_allclose(out[h, 0], expect, rtol=1e-12, atol=1e-15)
        # approved at 10, after the election: r1's curve throughout
        np.testing.assert_allclose(out[h, 1], 1 - s(r1, t), rtol=1e-12, atol=1e-15)
        if r0 == r1:  # a history that stays is its regime's curve, to the bit
            assert np.array_equal(out[h], cum[r0])


def test_history_probabilities():
    cfg = config()
    m = switch_matrix(cfg)
    np.testing.assert_array_equal(m, SWITCH)
    p = history_probability(PI, m, 1)
    # index h = r0 + 2 r1
    np.testing.assert_allclose(p, [PI[0] * 0.7, PI[1] * 0.2, PI[0] * 0.3, PI[1] * 0.8])
    assert abs(history_probability(PI, m, 3).sum() - 1.0) < 1e-14


def test_notice_before_an_election_by_hand():
    cfg = config()  # as_of 2026-01-01, deadline 2029-01-19 (its quarter is step 12)
    cut = notice_cdf(0, np.array(["2027-11-02", "2025-01-01", "2030-01-01"],
                                 dtype="datetime64[D]"), cfg)
    # 13 notice quarters, equally likely; 2027-11-02 is day 33 of step 7's 92
    np.testing.assert_allclose(cut, [(7 + 33 / 92) / 13, 0.0, 1.0], rtol=1e-14)
    # approved at step 9 (2028-04-01): quarters 9..12, none before the election
    assert notice_cdf(9, np.array(["2027-11-02"], dtype="datetime64[D]"), cfg)[0] == 0.0


def test_several_switches_multiply_each_quarters_own_hazard():
    # three regimes, two elections (steps 3 and 7), groups approved at 0, 5 and 9: each
    # step's survival ratio is the one of the regime in force then (the reference: a
    # product of per-step ratios, by hand)
    rng = np.random.default_rng(3)
    q, steps = 12, np.array([3, 7])
    pd_r = np.array([0.02, 0.07, 0.2])
    construction = np.array([2, 0, 4])
    cum = np.stack([cumulative_pd([p] * 3, [2 * p] * 3, construction, q, 4) for p in pd_r])
    approval = np.array([0, 5, 9])
    out = history_curves(cum, approval, steps, 3)
    surv = 1.0 - cum
    ratio = surv / np.concatenate([np.ones((3, 3, 1)), surv[:, :, :-1]], axis=2)
    for h in rng.choice(len(histories(3, 2)), 10, replace=False):
        regimes_h = histories(3, 2)[h]
        for g in range(3):
            k = np.searchsorted(steps, approval[g] + np.arange(q), side="right")
            expect = np.cumprod(ratio[regimes_h[k], g, np.arange(q)])
            np.testing.assert_allclose(1.0 - out[h, g], expect, rtol=1e-12)

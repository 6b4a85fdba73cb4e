"""The equity yield of the regime in force by quarter, the profit split renegotiated at
the deal's end, and the t copula with elections (exact in probability there too)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskengine.kernel_inputs import build_model
from riskengine.simulate import run_model

from .common import BASE, config, loans, portfolio

PATHS = 4096


def vehicle() -> pd.DataFrame:
    """One equity vehicle that never defaults, operating from the start."""
    return pd.DataFrame({
        "project_id": ["E1"], "sector": "s", "institution": "JBIC", "instrument": "equity",
        "commitment_usd": 100.0, "pd_annual": 0.0, "lgd": 1.0, "factor_loading": 0.3,
        "expected_yield": 0.12, "cf_vol": 0.3,
    })


def run_vehicle(horizon=4.0, elections=True, regimes=None, deal_end=None):
    sim = {**BASE["simulation"], "paths": PATHS, "horizon_years": horizon}
    regimes = regimes or [
        {"name": "calm", "probability": 1.0, "switch": {"rough": 1.0}},
        {"name": "rough", "probability": 0.0, "yield_multiplier": 2.0}]
    cfg = config(simulation=sim, regimes=regimes, deal_end=deal_end or {},
                 **({} if elections else {"elections": None}))
    r = run_model(build_model(cfg, portfolio(vehicle(), cfg)))
    return (r.paths["japan_receipts"].sum("institution").to_numpy(),
            r.paths["us_receipts"].sum("institution").to_numpy())


def test_the_yield_follows_the_regime_in_force_by_quarter():
    # calm today, rough (twice the yield) from the quarter after the election (step 8):
    # the distributions are the first two years' plus twice the last two years'
    total = sum(run_vehicle())
    first_two = sum(run_vehicle(horizon=2.0, elections=False))
    calm_four = sum(run_vehicle(elections=False))
    assert np.all(first_two > 0) and np.all(calm_four > first_two)
    np.testing.assert_allclose(total, first_two + 2.0 * (calm_four - first_two), rtol=1e-9)


def test_the_profit_split_renegotiated_at_the_deals_end():
    ends = [{"name": "calm", "probability": 1.0, "deal_end_prob": 1.0}]
    kept = run_vehicle(regimes=ends)
    same = run_vehicle(regimes=ends, deal_end={"profit_split": "renegotiated",
                                                "japan_shares": [0.5, 0.1]})
    assert np.array_equal(kept[0], same[0]) and np.array_equal(kept[1], same[1])
    japan = run_vehicle(regimes=ends, deal_end={"profit_split": "renegotiated",
                                                 "japan_shares": [1.0, 1.0]})
    # the cash is the same, only its split moves to Japan, from the deal's end on
    np.testing.assert_allclose(japan[0] + japan[1], kept[0] + kept[1], rtol=1e-12)
    assert np.all(japan[1] <= kept[1] + 1e-9) and japan[1].mean() < 0.9 * kept[1].mean()
    before = run_vehicle(regimes=ends, horizon=2.0, elections=False)
    # the US keeps what it received before the deal ended (steps 0-7), nothing after
    np.testing.assert_allclose(japan[1], before[1], rtol=1e-9)


@pytest.mark.parametrize("w", [0.0, 0.4])
def test_t_copula_default_by_the_horizon_given_each_history(w):
    from .test_default_times import N_LOANS, PD, survival

    sim = {**BASE["simulation"], "paths": 20_000}
    cfg = config(simulation=sim, dependence={"sectors": ["s"], "correlation": [[1.0]],
                                            "copula": "t", "dof": 5})
    r = run_model(build_model(cfg, portfolio(loans(N_LOANS, PD, w=w), cfg)))
    r0 = r.paths["regime"].to_numpy()
    r1 = r.paths["regime_at_mid2027"].to_numpy()
    defaults = r.paths["credit_loss"].sum("institution").to_numpy() / N_LOANS
    for a in range(2):
        for b in range(2):
            on = (r0 == a) & (r1 == b)
            f = 1.0 - survival(a, b, 4.0)
            # the paths' shares vary more with a common factor: their own spread
            se = defaults[on].std(ddof=1) / np.sqrt(on.sum())
            assert abs(defaults[on].mean() - f) < 4.5 * se, (a, b)

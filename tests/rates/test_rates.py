"""The base-rate path: deterministic by default, optionally a Vasicek short rate that
drives deemed interest and floating loan coupons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

import riskengine

from ..conftest import make_config, make_portfolio, mixed_frame

SECT = ("a", "b")
CORR = [[1, 0.4], [0.4, 1]]


def _frame():
    df = mixed_frame()
    df["rate_type"] = np.where(df.project_id.isin(["L1", "L3"]), "floating", "fixed")
    df.loc[df.project_id.isin(["L1", "L3"]), "rate"] = 0.02  # margins over the base rate
    eq = df.project_id == "E1"
    df.loc[eq, ["expected_yield", "cf_vol", "life_years", "deemed_spread"]] = [0.6, 0.2, 8.0, 0.02]
    return df


def _run(rates, df=None, paths=3000, seed=4, **kw):
    cfg = make_config(SECT, CORR, paths=paths, seed=seed, horizon_years=5.0,
                      discount_rate=0.04, base_rate=0.03, rates=rates, **kw)
    return riskengine.simulate(cfg, make_portfolio(_frame() if df is None else df, cfg))


def test_zero_volatility_vasicek_is_the_deterministic_rate():
    det = _run({})
    vas = _run({"model": "vasicek", "volatility": 0.0, "long_run_rate": 0.03})
    for v in ("credit_loss", "economic_loss", "japan_receipts", "us_receipts"):
        np.testing.assert_allclose(vas.paths[v].values, det.paths[v].values, rtol=1e-12, atol=1e-9)
    xr.testing.assert_allclose(vas.projects, det.projects)


def _floating_only(theta_gap=True):
    return pd.DataFrame({
        "project_id": ["F1"], "sector": ["a"], "institution": ["JBIC"], "instrument": ["loan"],
        "commitment_usd": [100.0], "pd_annual": [0.0], "lgd": [0.5], "factor_loading": [0.3],
        "tenor_years": [4.0], "amortization": ["linear"], "rate": [0.01],
        "rate_type": ["floating"]})


def test_floating_coupon_mean_follows_the_expected_rate_path():
    """NPV is linear in the rate path, so E[economic loss] equals the loss on the
    expected Vasicek path theta + (r0 - theta) a^k."""
    kappa, theta, r0, spy = 0.5, 0.07, 0.03, 4
    res = _run({"model": "vasicek", "volatility": 0.02, "long_run_rate": theta,
                "mean_reversion": kappa}, df=_floating_only(), paths=20_000)
    loss = res.loss("economic_loss", "JBIC")
    det = _run({}, df=_floating_only(), paths=16)
    base_loss = det.loss("economic_loss", "JBIC")[0]
    # expected extra coupons: sum_k balance_k (E r_k - r0) / m * df_end_k
    from riskengine.schedules import build_schedules
    cfg = make_config(SECT, CORR, horizon_years=5.0, discount_rate=0.04, base_rate=r0)
    pf = make_portfolio(_floating_only(), cfg)
    sch = build_schedules(pf, 20, spy, 0.04, r0)
    a = np.exp(-kappa / spy)
    er = theta + (r0 - theta) * a ** np.arange(20)
    extra = np.sum(sch.balance[0] * (er - r0) / spy * sch.df_end)
    assert extra > 1.0  # the test has teeth: rates drift up by 4 points
    se = loss.std(ddof=1) / np.sqrt(len(loss))
    assert se > 0  # the path is random
    assert abs(loss.mean() - (base_loss - extra)) <= 4.5 * se


def test_higher_rates_never_recoup_earlier():
    """The same seed with a higher long-run rate accrues the deemed balance faster on
    every path: p_recoup cannot rise and receipts to Japan do not change before recoup."""
    lo = _run({"model": "vasicek", "long_run_rate": 0.0, "volatility": 0.01}, paths=4000)
    hi = _run({"model": "vasicek", "long_run_rate": 0.08, "volatility": 0.01}, paths=4000)
    p_lo = lo.projects.p_recoup.sel(project="E1").item()
    p_hi = hi.projects.p_recoup.sel(project="E1").item()
    assert p_hi < p_lo and p_lo > 0.05
    d_lo = lo.paths.deemed_outstanding.sel(institution="JBIC").values
    d_hi = hi.paths.deemed_outstanding.sel(institution="JBIC").values
    assert np.all(d_hi >= d_lo - 1e-9)


def test_floating_only_on_loans(tmp_path):
    import pytest

    from riskengine.errors import DataError

    df = _frame()
    df.loc[df.project_id == "G1", "rate_type"] = "floating"
    cfg = make_config(SECT, CORR, horizon_years=5.0)
    with pytest.raises(DataError, match="column 'rate_type'.*only loans float"):
        make_portfolio(df, cfg)

"""Equity that can disappoint: the shortfall on Japan's deemed allocation at the horizon
and construction cost overruns, against hand-computed deemed balances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskengine

from ..conftest import make_config, make_portfolio

C, R, S, YEARS = 100.0, 0.04, 0.02, 3


def _vehicle(**cols):
    row = {"project_id": "E", "sector": "s", "institution": "JBIC", "instrument": "equity",
           "commitment_usd": C, "pd_annual": 0.0, "lgd": 0.6, "factor_loading": 0.3,
           "deemed_spread": S, "expected_yield": 0.0}
    row.update(cols)
    return pd.DataFrame([row])


def _run(df, paths=4096, **kw):
    cfg = make_config(paths=paths, horizon_years=float(YEARS), base_rate=R, **kw)
    return riskengine.run_model(riskengine.build_model(cfg, make_portfolio(df, cfg)))


def test_shortfall_of_a_vehicle_that_never_pays_is_its_accrued_deemed_allocation():
    res = _run(_vehicle())
    want = C * (1 + (R + S) / 4) ** (4 * YEARS)
    assert res.value("EL", "equity_shortfall", "JBIC") == pytest.approx(want, rel=1e-12)
    assert res.value("EL", "equity_shortfall", "NEXI") == 0.0
    assert res.value("EL", "credit_loss") == 0.0  # no default: today's credit loss misses it


def test_shortfall_after_a_default_is_frozen_net_of_japans_recovery():
    res = _run(_vehicle(pd_annual=1.0))  # defaults in quarter 0
    b0 = C * (1 + (R + S) / 4)
    japan = 0.5 * (1 - 0.6) * C  # the MOU's 50% of the recovery (less than b0 / 0.5)
    assert res.value("EL", "equity_shortfall", "ALL") == pytest.approx(b0 - japan, rel=1e-12)


def test_overrun_mean_scales_the_capital_japan_funds():
    base = _run(_vehicle())
    over = _run(_vehicle(overrun_mean=1.2))  # +120%: nuclear's mean overrun
    assert over.value("EL", "equity_shortfall") == pytest.approx(
        2.2 * base.value("EL", "equity_shortfall"), rel=1e-12)


def test_lognormal_overrun_has_the_stated_mean():
    paths = 40_000
    res = _run(_vehicle(overrun_mean=0.16, overrun_sd=0.8), paths=paths)
    shortfall = res.loss("equity_shortfall", "ALL")
    want = 1.16 * C * (1 + (R + S) / 4) ** (4 * YEARS)
    assert shortfall.mean() == pytest.approx(want, rel=4 * 0.8 * 1.2 / np.sqrt(paths))
    log_m = np.log(shortfall / (C * (1 + (R + S) / 4) ** (4 * YEARS)))
    assert log_m.std() == pytest.approx(0.8, rel=0.03)


def test_overruns_are_refused_on_debt():
    df = _vehicle(overrun_mean=0.5)
    df["instrument"] = "loan"
    cfg = make_config(paths=1024, horizon_years=float(YEARS))
    with pytest.raises(riskengine.DataError, match="overrun_mean"):
        make_portfolio(df, cfg)


def test_performance_level_is_lognormal_with_mean_one_and_sector_correlation():
    """With cf_vol 0 and no default, each vehicle's distributed cash is its scheduled cash
    times exp(sd P - sd^2 / 2), P = b S + sqrt(1 - b^2) e: log-normal with mean one, and two
    vehicles of one sector correlate by b^2 = performance_sector_share in logs."""
    sd, share, paths = 0.5, 0.6, 40_000
    rows = [dict(_vehicle(project_id=f"E{i}", expected_yield=0.2).iloc[0]) for i in range(2)]
    df = pd.DataFrame(rows)
    df["factor_loading"] = 1.0  # the sector factor itself: S_s
    cfg_kw = dict(cashflows={"performance_sd": sd, "performance_sector_share": share})
    res = _run(df, paths=paths, **cfg_kw)
    flat = _run(df, paths=1024)
    scheduled = float(flat.paths.japan_receipts.sel(institution="JBIC")[0]
                      + flat.paths.us_receipts.sel(institution="JBIC")[0]) / 2
    total = (res.paths.japan_receipts + res.paths.us_receipts).sel(institution="JBIC").to_numpy()
    assert total.mean() == pytest.approx(2 * scheduled, rel=4 * sd / np.sqrt(paths))
    # per vehicle: the projects' mean receipts, and the spread of one vehicle's log cash
    per = res.projects.japan_receipts_mean + res.projects.us_receipts_mean
    np.testing.assert_allclose(per.to_numpy(), scheduled, rtol=4 * sd / np.sqrt(paths))
    # the two vehicles' multipliers correlate through the sector: Var(M1 + M2) =
    # 2 (e^{sd^2} - 1) + 2 (e^{share sd^2} - 1)
    want = 2 * np.expm1(sd**2) + 2 * np.expm1(share * sd**2)
    assert (total / scheduled).var() == pytest.approx(want, rel=0.06)


def test_performance_drift_has_mean_one_and_its_closed_form_variance():
    """Operating cash times exp(D_k - Var(D_k) / 2), D a quarterly AR(1) from 0 at
    financial close: expected cash unchanged; the total's variance is
    sum_jk (exp(phi^|j-k| Var(D_min(j,k))) - 1) times the scheduled cash squared."""
    sd, phi, paths, n_q = 0.6, 0.9, 40_000, 4 * YEARS
    kw = dict(cashflows={"performance_drift_sd": sd, "performance_drift_persistence": phi})
    df = _vehicle(expected_yield=0.2)
    res = _run(df, paths=paths, **kw)
    flat = _run(df, paths=1024)
    per_q = float((flat.paths.japan_receipts + flat.paths.us_receipts)
                  .sel(institution="JBIC")[0]) / n_q
    total = (res.paths.japan_receipts + res.paths.us_receipts).sel(institution="JBIC").to_numpy()
    v = sd * sd * (1 - phi ** (2 * (np.arange(n_q) + 1)))  # Var(D_k)
    j, k = np.meshgrid(np.arange(n_q), np.arange(n_q), indexing="ij")
    var = np.sum(np.expm1(phi ** np.abs(j - k) * v[np.minimum(j, k)])) * per_q**2
    assert total.mean() == pytest.approx(n_q * per_q, rel=4 * np.sqrt(var / paths) / (n_q * per_q))
    assert total.var() == pytest.approx(var, rel=0.06)

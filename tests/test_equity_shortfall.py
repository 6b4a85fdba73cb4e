"""Equity that can disappoint: the shortfall on Japan's deemed allocation at the horizon
and construction cost overruns, against hand-computed deemed balances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskengine

from .conftest import make_config, make_portfolio

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

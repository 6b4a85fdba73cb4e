"""Losses that follow the cycle: LGD loading on the sector factor, recovery lags."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

import riskengine

from ..conftest import homogeneous_frame, make_config, make_portfolio

PD, W, LGD = 0.05, 0.5, 0.4


def _run(df, paths=100_000, **kw):
    cfg = make_config(paths=paths, seed=4, horizon_years=1.0, **kw)
    return riskengine.run_model(riskengine.build_model(cfg, make_portfolio(df, cfg)))


def _pool(b, n=200, lgd_sd=0.0):
    df = homogeneous_frame(n=n, pd_annual=PD, lgd=LGD, w=W)
    df["lgd_factor_loading"] = b
    df["lgd_sd"] = lgd_sd
    return df


@pytest.mark.parametrize("lgd_sd", [0.0, 0.15])
def test_default_weighted_mean_lgd_is_the_closed_form(lgd_sd):
    """E[LGD | default] = Phi2(Phi^-1(lgd), c; b w / sqrt(1 + b^2)) / PD for the one-period
    model with LGD mean Phi(Phi^-1(lgd) sqrt(1 + b^2) - b S) (a Beta around it has the
    same mean)."""
    b, n, paths = 0.8, 200, 100_000
    res = _run(_pool(b, n, lgd_sd), paths=paths)
    defaults = float(res.projects.pd_simulated.sum()) * paths
    mean_lgd = float(res.loss("credit_loss", "ALL").sum()) / defaults
    c = special.ndtri(PD)
    rho = b * W / np.sqrt(1 + b * b)
    want = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]]).cdf(
        [special.ndtri(LGD), c]) / PD
    assert want > LGD + 0.05  # losses are worse when defaults are many
    assert mean_lgd == pytest.approx(want, rel=0.02)


def test_cyclical_lgd_raises_the_tail_not_the_unconditional_mean():
    flat, cyc = _run(_pool(0.0)), _run(_pool(0.8))
    assert cyc.value("ES", level=0.99) > 1.1 * flat.value("ES", level=0.99)
    assert cyc.value("EL") > flat.value("EL")  # default-weighted: worse when defaults cluster


def test_recovery_lag_moves_only_economic_loss_by_the_discount_factor():
    df = homogeneous_frame(n=50, pd_annual=0.3, lgd=LGD, w=W, commitment=100.0)
    kw = dict(paths=20_000, discount_rate=0.08)
    base = _run(df, **kw)
    lagged = _run(df.assign(recovery_lag_quarters=6), **kw)
    np.testing.assert_array_equal(base.paths.credit_loss.values, lagged.paths.credit_loss.values)
    extra = (lagged.loss("economic_loss", "ALL") - base.loss("economic_loss", "ALL"))
    d = 1 / (1 + 0.08 / 4)
    # per default in quarter k the recovery (1 - lgd) x 100 is worth df_end[k] (1 - d^6) less
    per_default = (1 - LGD) * 100 * d ** np.arange(1, 5) * (1 - d**6)
    n_def = np.rint(base.loss("credit_loss", "ALL") / (LGD * 100))
    assert (extra >= -1e-9).all() and (extra[n_def == 0] == 0).all()
    lo, hi = per_default.min() * n_def, per_default.max() * n_def
    assert ((extra >= lo - 1e-6) & (extra <= hi + 1e-6)).all()
    one = n_def == 1  # a single default: exactly one of the four quarters' values
    assert np.isclose(extra[one][:, None], per_default[None, :], rtol=1e-9).any(axis=1).all()

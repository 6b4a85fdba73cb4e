"""The Student-t copula against its closed forms: joint defaults by quadrature over the
chi-square variable, the one-factor large-pool quantile, unchanged marginals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special, stats

import riskengine

from ..conftest import homogeneous_frame, make_config, make_portfolio

PD, W, DOF = 0.05, 0.5, 4.0


def _pair(w=W):
    return pd.DataFrame({
        "project_id": ["A", "B"], "sector": "s", "institution": ["JBIC", "NEXI"],
        "instrument": ["loan", "guarantee"], "commitment_usd": 1.0, "pd_annual": PD,
        "lgd": 1.0, "factor_loading": w})


def _joint(copula: str, paths=200_000, seed=3):
    cfg = make_config(paths=paths, seed=seed, horizon_years=1.0,
                      dependence={"copula": copula, "dof": DOF})
    res = riskengine.run_model(riskengine.build_model(cfg, make_portfolio(_pair(), cfg)))
    a = res.paths.credit_loss.sel(institution="JBIC").to_numpy() > 0
    b = res.paths.credit_loss.sel(institution="NEXI").to_numpy() > 0
    return (a & b).mean(), a.mean(), b.mean()


def t_joint_default(pd_: float, rho: float, dof: float) -> float:
    """P(T1 <= c, T2 <= c) for the bivariate t with correlation rho: the bivariate normal
    CDF at (m c, m c) averaged over m = sqrt(W / nu), W ~ chi2(nu), by quadrature."""
    c = stats.t.ppf(pd_, dof)
    mvn = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]])

    def f(w):
        m = np.sqrt(w / dof)
        return mvn.cdf([m * c, m * c]) * stats.chi2.pdf(w, dof)

    return integrate.quad(f, 0, np.inf, limit=200)[0]


def test_joint_default_matches_the_bivariate_t_and_exceeds_the_gaussian():
    p2, pa, pb = _joint("t")
    want = t_joint_default(PD, W * W, DOF)
    se = np.sqrt(want * (1 - want) / 200_000)
    assert abs(p2 - want) < 4 * se, (p2, want)
    assert abs(pa - PD) < 4 * np.sqrt(PD * (1 - PD) / 200_000)  # marginals unchanged
    assert abs(pb - PD) < 4 * np.sqrt(PD * (1 - PD) / 200_000)
    gauss = stats.multivariate_normal([0, 0], [[1, W * W], [W * W, 1]]).cdf(
        [special.ndtri(PD)] * 2)
    assert want > gauss + 10 * se  # fatter joint tail than the Gaussian copula
    g2, _, _ = _joint("gaussian")
    assert abs(g2 - gauss) < 4 * np.sqrt(gauss / 200_000)


def large_pool_quantile(pd_: float, w: float, dof: float, level: float) -> float:
    """Quantile of the conditional PD p(S, W) = Phi((m c - w S) / sqrt(1 - w^2)) of the
    one-factor t model: P(p <= x) = E_W[Phi((sqrt(1 - w^2) Phi^-1(x) - m c) / -w)]..."""
    c = stats.t.ppf(pd_, dof)
    s = np.sqrt(1 - w * w)

    def cdf(x):
        def f(wv):
            m = np.sqrt(wv / dof)
            # p <= x  <=>  w S >= m c - s Phi^-1(x)
            return stats.norm.sf((m * c - s * special.ndtri(x)) / w) * stats.chi2.pdf(wv, dof)
        return integrate.quad(f, 0, np.inf, limit=200)[0]

    return optimize.brentq(lambda x: cdf(x) - level, 1e-9, 1 - 1e-9, xtol=1e-10)


def test_one_factor_t_reproduces_the_large_pool_quantile():
    n, paths = 2000, 40_000
    cfg = make_config(paths=paths, seed=9, horizon_years=1.0,
                      dependence={"copula": "t", "dof": DOF})
    pf = make_portfolio(homogeneous_frame(n=n, pd_annual=PD, w=W), cfg)
    res = riskengine.run_model(riskengine.build_model(cfg, pf))
    frac = res.loss("credit_loss", "ALL") / n
    for level in (0.9, 0.99):
        want = large_pool_quantile(PD, W, DOF, level)
        got = float(np.quantile(frac, level))
        # finite pool (binomial noise ~ sqrt(p/n)) and Monte Carlo error of the quantile
        assert got == pytest.approx(want, rel=0.05), (level, got, want)

"""The engine against closed forms: Vasicek finite pool, binomial, EL identity, exact ES."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import riskengine
from riskengine.measures import LossSample

from ..conftest import homogeneous_frame, make_config, make_portfolio, mixed_frame
from ..reference import vasicek_finite_pool_pmf

Z = 4.5  # tolerance in standard errors (false alarm ~ 1e-5 per check)


def _counts(n, pd_annual, w, paths, seed=11):
    cfg = make_config(paths=paths, seed=seed)
    pf = make_portfolio(homogeneous_frame(n=n, pd_annual=pd_annual, w=w), cfg)
    r = riskengine.simulate(cfg, pf)
    loss = r.loss("credit_loss", "ALL")
    counts = np.rint(loss).astype(int)
    assert np.allclose(loss, counts)  # unit exposures, LGD 1: loss = number of defaults
    return counts, r


def _assert_cdf_matches(counts, pmf, points):
    n = len(counts)
    cdf = np.cumsum(pmf)
    for k in points:
        emp = np.mean(counts <= k)
        se = np.sqrt(cdf[k] * (1 - cdf[k]) / n)
        assert abs(emp - cdf[k]) <= Z * se + 1e-12, (k, emp, cdf[k], se)


def test_vasicek_finite_pool_distribution():
    n, pd_, rho = 50, 0.05, 0.20
    counts, _ = _counts(n, pd_, np.sqrt(rho), paths=60_000)
    pmf = vasicek_finite_pool_pmf(n, pd_, rho)
    assert abs(pmf.sum() - 1) < 1e-9
    # body and tail, not only the mean
    _assert_cdf_matches(counts, pmf, [0, 1, 2, 4, 7, 10, 15, 20])
    q = np.searchsorted(np.cumsum(pmf), 0.99)
    assert abs(np.quantile(counts, 0.99, method="inverted_cdf") - q) <= 2


def test_independent_defaults_are_binomial():
    n, pd_ = 100, 0.02
    counts, r = _counts(n, pd_, 0.0, paths=60_000, seed=3)
    pmf = stats.binom.pmf(np.arange(n + 1), n, pd_)
    _assert_cdf_matches(counts, pmf, [0, 1, 2, 3, 4, 5, 6, 8])
    es = r.summary.sel(institution="ALL", variable="credit_loss")
    idx = np.flatnonzero((es["measure"].values == "ES") & np.isclose(es["level"].values, 0.99))[0]
    val, se = float(es["value"][idx]), float(es["stderr"][idx])
    assert abs(val - 6.5224) <= Z * se


def test_binomial_es_exact_acerbi_tasche():
    k = np.arange(101.0)
    pmf = stats.binom.pmf(k, 100, 0.02)
    s = LossSample(k, pmf * len(k))  # exact distribution as a weighted sample
    assert s.var_value(0.99) == 6.0
    assert s.es(0.99).value == pytest.approx(6.5224, abs=5e-5)
    naive = np.sum(k[k >= 6] * pmf[k >= 6]) / np.sum(pmf[k >= 6])
    assert naive == pytest.approx(6.3374, abs=5e-5)  # the wrong answer is really different


def _exact_el(cfg, pf):
    """sum_i sum_k P(default in quarter k) * EAD_k * LGD * coverage, from the inputs."""
    from riskengine.dependence import cumulative_pd
    from riskengine.schedules import build_schedules

    sim = cfg.simulation
    nq, spy = sim.n_quarters, sim.steps_per_year
    sch = build_schedules(pf, nq, spy, 0.0)
    cq = np.round(pf.col("construction_years") * spy)
    cum = cumulative_pd(pf.col("pd_annual"), pf.col("pd_construction"), cq, nq, spy)
    el = 0.0
    for i in range(pf.n_projects):
        a = int(pf.col("approval_quarter")[i])
        marg = np.diff(np.concatenate([[0.0], cum[i, : nq - a]]))
        ead = sch.balance[i, a:]
        el += np.sum(marg * ead) * pf.col("lgd")[i] * pf.col("coverage")[i]
    return el


@pytest.mark.parametrize("w", [0.0, 0.5, 0.95])
def test_expected_loss_identity_any_correlation(w):
    cfg = make_config(("a", "b"), [[1, 0.6], [0.6, 1]], paths=30_000, horizon_years=5.0, seed=5)
    df = mixed_frame()
    df = df[df.instrument != "equity"]  # equity credit loss goes through the waterfall
    df["factor_loading"] = w
    pf = make_portfolio(df, cfg)
    r = riskengine.simulate(cfg, pf)
    el = r.summary.sel(institution="ALL", variable="credit_loss")
    i = int(np.flatnonzero(el["measure"].values == "EL")[0])
    val, se = float(el["value"][i]), float(el["stderr"][i])
    exact = _exact_el(cfg, pf)
    assert abs(val - exact) <= Z * se, (val, exact, se)
    # one-year, fully drawn at once: EL = sum(EAD * PD * LGD)
    cfg1 = make_config(paths=30_000, seed=9)
    df1 = homogeneous_frame(n=40, pd_annual=0.03, lgd=0.45, w=w, commitment=2.5)
    r1 = riskengine.simulate(cfg1, make_portfolio(df1, cfg1))
    ld = r1.loss("credit_loss", "ALL")
    assert abs(ld.mean() - 40 * 2.5 * 0.03 * 0.45) <= Z * ld.std() / np.sqrt(len(ld))


def test_beta_lgd_keeps_the_mean_and_spread():
    """EL identity with random LGD, and the kernel's beta draws have the documented mean
    and standard deviation (both shapes >= 1 and tiny shapes)."""
    from numba import njit

    from riskengine._kernels.rng import beta_draw, path_key

    cfg = make_config(paths=40_000, seed=21)
    df = homogeneous_frame(n=50, pd_annual=0.05, lgd=0.4, w=0.3)
    df["lgd_sd"] = 0.2
    r = riskengine.simulate(cfg, make_portfolio(df, cfg))
    loss = r.loss("credit_loss", "ALL")
    assert abs(loss.mean() - 50 * 0.05 * 0.4) <= Z * loss.std() / np.sqrt(len(loss))

    @njit
    def draws(a, b, n):
        out = np.empty(n)
        for i in range(n):
            out[i] = beta_draw(path_key(np.uint64(99), i), a, b)
        return out

    for mean, sd in ((0.4, 0.2), (0.25, 0.15), (0.5, 0.499)):
        nu = mean * (1 - mean) / sd**2 - 1
        x = draws(mean * nu, (1 - mean) * nu, 200_000)
        assert np.isfinite(x).all()
        assert abs(x.mean() - mean) <= Z * sd / np.sqrt(len(x))
        assert abs(x.std() - sd) <= 0.01 * sd + Z * sd / np.sqrt(2 * len(x))

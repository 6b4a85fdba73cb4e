"""The engine against the slow reference oracle of ``tests/reference.py``.

The oracle re-derives everything from docs/model.md (its own SplitMix64 in Python
integers, default quarters from ``Phi(X_i) <= PD_i(j + 1)`` on the latent variable,
cash flows quarter by quarter, the equity cash model and the MOU waterfall step by step),
so agreement path by path checks the random streams, the default-time copula, the
schedules, the equity cash flows, the waterfall and the discounting of the engine at once.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import reference as ref

import riskengine
from riskengine.config import config_from_dict
from riskengine.portfolio import portfolio_from_frame

SECTORS = ("chips", "power", "minerals")
CORR = [[1.0, 0.55, 0.30],
        [0.55, 1.0, 0.40],
        [0.30, 0.40, 1.0]]
HORIZON, SPY, DISC, BASE = 5, 4, 0.045, 0.032
N_Q = HORIZON * SPY
N_PATHS, SEED = 2000, 20250904
NAN = math.nan


def _row(pid, sector, inst, instr, commit, pd_a, lgd, w, *, pc=None, a=0, f=1, tenor=NAN,
         amort="linear", rate=0.0, cov=1.0, cy=0.0, ey=0.0, vol=0.0, life=NAN, ds=0.0):
    return dict(project_id=pid, sector=sector, institution=inst, instrument=instr,
                commitment_usd=commit, pd_annual=pd_a,
                pd_construction=pd_a if pc is None else pc, lgd=lgd, lgd_sd=0.0,
                factor_loading=w, approval_quarter=a, funding_quarters=f, tenor_years=tenor,
                amortization=amort, rate=rate, coverage=cov, construction_years=cy,
                expected_yield=ey, cf_vol=vol, life_years=life, deemed_spread=ds)


def mixed_portfolio() -> pd.DataFrame:
    """Loans (linear, bullet, matured, no tenor, tenor == funding, late approval, drawdown
    past the horizon), guarantees with coverage < 1, equity (life ending inside the horizon,
    running past it, open-ended, construction past the horizon; cash-flow volatility,
    deemed spreads); construction PDs; rows deliberately out of id order."""
    rows = [
        _row("L03-MATURED", "power", "JBIC", "loan", 4.0e8, 0.25, 0.45, 0.5, tenor=1.0,
             rate=0.06),
        _row("L01-LINEAR", "chips", "JBIC", "loan", 1.2e9, 0.10, 0.40, 0.5, tenor=3.0,
             rate=0.06),
        _row("L02-BULLET", "power", "JBIC", "loan", 9.0e8, 0.20, 0.30, 0.6, pc=0.30, cy=1.0,
             a=2, f=3, tenor=4.0, amort="bullet", rate=0.055),
        _row("L04-NOTENOR", "minerals", "JBIC", "loan", 7.5e8, 0.05, 0.35, 0.45, pc=0.15,
             cy=2.0, a=1, f=4, rate=0.05),
        _row("L05-T-EQ-F", "chips", "JBIC", "loan", 6.0e8, 0.30, 0.50, 0.3, a=3, f=4,
             tenor=1.0, rate=0.07),
        _row("L06-LATE", "power", "JBIC", "loan", 5.0e8, 0.30, 0.60, 0.4, a=N_Q - 1, f=1,
             rate=0.05),
        _row("L07-INDEP", "minerals", "JBIC", "loan", 3.0e8, 0.10, 0.40, 0.0, tenor=5.0,
             rate=0.04),
        _row("L08-PASTH", "chips", "JBIC", "loan", 8.0e8, 0.12, 0.40, 0.5, a=N_Q - 2, f=4,
             tenor=2.0, rate=0.05),
        _row("G01-LINEAR", "chips", "NEXI", "guarantee", 1.0e9, 0.10, 0.40, 0.5, f=2,
             tenor=3.0, rate=0.01, cov=0.8),
        _row("G02-BULLET", "power", "NEXI", "guarantee", 7.0e8, 0.15, 0.35, 0.55, pc=0.25,
             cy=0.5, a=4, f=1, amort="bullet", rate=0.012, cov=0.6),
        _row("G03-MATURED", "minerals", "NEXI", "guarantee", 5.5e8, 0.20, 0.30, 0.35, a=1,
             f=2, tenor=2.0, rate=0.009, cov=0.95),
        # life inside the horizon (cash at the ends of quarters 2..13)
        _row("E01-EQUITY", "minerals", "JBIC", "equity", 2.5e8, 0.10, 0.65, 0.45, f=4,
             cy=0.5, life=3.0, ey=0.8, vol=0.5, ds=0.02),
        # life past the horizon (quarters 10..41): a going-concern value at the horizon
        _row("E02-EQUITY", "power", "JBIC", "equity", 3.5e8, 0.20, 0.70, 0.5, pc=0.30,
             cy=1.0, a=6, f=2, tenor=3.0, life=8.0, ey=1.0, vol=0.4, ds=0.03),
        # open-ended life (operates until the horizon), no construction
        _row("E03-EQUITY", "chips", "JBIC", "equity", 1.5e8, 0.08, 0.50, 0.5, a=2,
             ey=0.45, vol=0.3, ds=0.01),
        # construction ends after the horizon: no operating cash inside it
        _row("E04-EQUITY", "minerals", "JBIC", "equity", 2.0e8, 0.15, 0.60, 0.4, a=14, f=3,
             cy=2.0, life=5.0, ey=0.5, vol=0.2, ds=0.015),
    ]
    return pd.DataFrame(rows)


def _config(paths=N_PATHS, seed=SEED, sectors=SECTORS, corr=CORR, horizon=HORIZON, **sections):
    raw = {
        "simulation": {"paths": paths, "seed": seed, "horizon_years": horizon,
                       "steps_per_year": SPY},
        "dependence": {"sectors": list(sectors), "correlation": [list(r) for r in corr]},
        "rates": {"discount_rate": DISC, "base_rate": BASE},
    }
    raw.update(sections)
    return config_from_dict(raw)


@pytest.fixture(scope="module")
def engine_and_oracle():
    df = mixed_portfolio()
    cfg = _config()
    pf = portfolio_from_frame(df, SECTORS, N_Q, SPY)
    res = riskengine.simulate(cfg, pf, paths=N_PATHS, seed=SEED)
    orc = ref.simulate_reference(df, SECTORS, CORR, N_PATHS, SEED, HORIZON, SPY, DISC,
                                 base_rate=BASE, tiers=None)  # the config's default tiers
    return res, orc


# ---- random numbers -------------------------------------------------------------------

def test_splitmix_matches_engine_streams():
    from riskengine._kernels import rng
    from riskengine._kernels.defaults import idio_uniform

    for seed in (0, 1, SEED, 2**63 - 1):
        for stream, item in ((1, 0), (2, "L01-LINEAR"), (3, "x"), (2, 12345)):
            assert ref.stream_key(seed, stream, item) == int(rng.stream_key(seed, stream, item))
        key = ref.stream_key(seed, 2, "G01-LINEAR")
        for path in (0, 1, 999, 2**40):
            pk = ref.path_key(key, path)
            assert (float(pk >> 11) + 0.5) * 2.0 ** -53 == idio_uniform(np.uint64(key), path)


# ---- (i) path by path -----------------------------------------------------------------

def test_engine_matches_oracle_path_by_path(engine_and_oracle):
    res, orc = engine_and_oracle
    assert list(res.projects["project"].values) == orc.project_ids
    assert list(res.paths["institution"].values) == ["JBIC", "NEXI"]
    # the portfolio must actually exercise defaults of every exposure
    assert np.all(orc.defaulted.sum(axis=0) > 0)
    for var, want in (("credit_loss", orc.credit_loss), ("economic_loss", orc.economic_loss)):
        got = res.paths[var].to_numpy()
        bad = ~np.isclose(got, want, rtol=1e-9, atol=1e-6)
        if bad.any():
            path, inst = np.argwhere(bad)[0]
            detail = {pid: int(orc.default_quarter[path, p]) for p, pid in enumerate(orc.project_ids)}
            pytest.fail(f"{var}: {bad.sum()} mismatches; first path {path} institution "
                        f"{inst}: engine {got[path, inst]!r} oracle {want[path, inst]!r}; "
                        f"oracle default quarters on that path: {detail}")
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6)


# ---- (i b) equity: receipts, recoup, deemed balances, timeline, IRR -------------------

def _equity_rows(orc):
    return np.flatnonzero(orc.is_equity)


def test_equity_project_outputs_match_oracle(engine_and_oracle):
    res, orc = engine_and_oracle
    P = res.projects
    eq = _equity_rows(orc)
    assert list(P["instrument"].values[eq]) == ["equity"] * len(eq)
    # the program exercises every branch: recoup on some paths but not all, defaults,
    # horizon values
    p_rec = orc.p_recoup[eq]
    assert np.sum((p_rec > 0.05) & (p_rec < 0.95)) >= 2
    assert np.all(orc.defaulted[:, eq].sum(axis=0) > 0)
    assert np.nanmax(orc.horizon_value[:, eq], axis=0)[[1, 3]].min() > 0
    for name, want in (("japan_receipts_mean", orc.japan_receipts_mean),
                       ("us_receipts_mean", orc.us_receipts_mean),
                       ("p_recoup", orc.p_recoup),
                       ("recoup_quarter_median", orc.recoup_quarter_median)):
        np.testing.assert_allclose(P[name].to_numpy(), want, rtol=1e-9, atol=0,
                                   equal_nan=True, err_msg=name)
    # debt rows carry NaN
    assert np.all(np.isnan(P["japan_receipts_mean"].to_numpy()[~orc.is_equity]))
    # Japan's IRR: bisection (engine) against Brent (oracle); medians over the same paths
    np.testing.assert_allclose(P["irr_japan_median"].to_numpy(), orc.irr_median(),
                               rtol=1e-7, atol=1e-10, equal_nan=True)


def test_equity_paths_match_oracle(engine_and_oracle):
    res, orc = engine_and_oracle
    eq = _equity_rows(orc)
    jbic = res.paths.sel(institution="JBIC")
    nexi = res.paths.sel(institution="NEXI")
    for name, want in (("japan_receipts", orc.japan_receipts[:, eq].sum(axis=1)),
                       ("us_receipts", orc.us_receipts[:, eq].sum(axis=1)),
                       ("deemed_outstanding", orc.deemed[:, eq, -1].sum(axis=1))):
        np.testing.assert_allclose(jbic[name].to_numpy(), want, rtol=1e-9, atol=1e-6,
                                   err_msg=name)
        np.testing.assert_array_equal(nexi[name].to_numpy(), 0.0)
    # cash is conserved path by path: what Japan and the US receive in the engine adds up
    # to all the cash the oracle's vehicles paid out (computed before any split)
    distributed = orc.distributed[:, eq].sum(axis=1)
    assert distributed.max() > 0
    np.testing.assert_allclose(jbic["japan_receipts"].to_numpy() + jbic["us_receipts"].to_numpy(),
                               distributed, rtol=1e-12, atol=1e-3)
    np.testing.assert_allclose(orc.japan_receipts[:, eq] + orc.us_receipts[:, eq],
                               orc.distributed[:, eq], rtol=1e-12, atol=1e-3)


def test_timeline_matches_oracle(engine_and_oracle):
    res, orc = engine_and_oracle
    tl = res.timeline
    assert tl.cumulative_net_cash.attrs["paths"] == N_PATHS  # all paths (timeline_paths >= N)
    np.testing.assert_allclose(tl["expected_deemed_balance"].to_numpy(),
                               orc.expected_deemed_balance(), rtol=1e-9, atol=1e-6)
    cum = orc.cumulative_net_cash()  # (path, quarter, [JBIC, NEXI, Japan])
    levels = tl["quantile"].to_numpy()
    want = np.quantile(cum, levels, axis=0, method="inverted_cdf").transpose(1, 2, 0)
    assert list(tl["institution"].values) == ["JBIC", "NEXI", "Japan"]
    np.testing.assert_allclose(tl["cumulative_net_cash"].to_numpy(), want, rtol=1e-9,
                               atol=1e-3)


TIER_SETS = {
    "three-tier": [{"japan_share": 0.5, "until": "deemed_allocation"},
                   {"japan_share": 0.3, "until": "deemed_allocation", "extra_spread": 0.04},
                   {"japan_share": 0.1}],
    "hurdle-spread": [{"japan_share": 0.6, "until": "deemed_allocation", "extra_spread": 0.01},
                      {"japan_share": 0.2}],
    "single": [{"japan_share": 0.35}],
    # Japan's share of the first hurdle is 0: it is never repaid, the US takes everything
    "zero-first": [{"japan_share": 0.0, "until": "deemed_allocation"}, {"japan_share": 0.2}],
}


@pytest.mark.parametrize("tiers", list(TIER_SETS), ids=list(TIER_SETS))
def test_equity_waterfall_variants_match_oracle(tiers):
    """Other waterfalls and cash-index parameters, equity only, path by path; the timeline
    and the IRR on the first paths only, the expected deemed balance on all."""
    n, seed, n_tl, n_irr = 400, 99, 150, 90
    tl = TIER_SETS[tiers]
    df = mixed_portfolio()
    df = df[df.instrument == "equity"].reset_index(drop=True)
    df["expected_yield"] *= 1.6  # reach the later tiers on many paths
    cash = {"factor_persistence": 0.6, "sector_share": 0.3}
    cfg = _config(paths=n, seed=seed, waterfall={"tiers": tl}, cashflows=cash,
                  outputs={"timeline_paths": n_tl, "irr_paths": n_irr})
    pf = portfolio_from_frame(df, SECTORS, N_Q, SPY)
    res = riskengine.simulate(cfg, pf)
    orc = ref.simulate_reference(df, SECTORS, CORR, n, seed, HORIZON, SPY, DISC, base_rate=BASE,
                                 tiers=tl, factor_persistence=0.6, sector_share=0.3)
    if tiers == "zero-first":
        np.testing.assert_array_equal(orc.japan_receipts, 0.0)
        np.testing.assert_array_equal(orc.p_recoup, 0.0)
    else:
        assert np.any((orc.p_recoup > 0.05) & (orc.p_recoup < 0.95))
    levels = res.timeline["quantile"].to_numpy()
    want = np.quantile(orc.cumulative_net_cash(n_tl), levels, axis=0,
                       method="inverted_cdf").transpose(1, 2, 0)
    np.testing.assert_allclose(res.timeline["cumulative_net_cash"].to_numpy(), want, rtol=1e-9,
                               atol=1e-3)
    np.testing.assert_allclose(res.projects["irr_japan_median"].to_numpy(), orc.irr_median(n_irr),
                               rtol=1e-7, atol=1e-10, equal_nan=True)
    for var, want in (("credit_loss", orc.credit_loss), ("economic_loss", orc.economic_loss)):
        np.testing.assert_allclose(res.paths[var].to_numpy(), want, rtol=1e-9, atol=1e-6,
                                   err_msg=var)
    P = res.projects
    for name, want in (("japan_receipts_mean", orc.japan_receipts_mean),
                       ("us_receipts_mean", orc.us_receipts_mean),
                       ("p_recoup", orc.p_recoup),
                       ("recoup_quarter_median", orc.recoup_quarter_median),
                       ("expected_credit_loss", orc.project_credit_loss.mean(axis=0))):
        np.testing.assert_allclose(P[name].to_numpy(), want, rtol=1e-9, atol=1e-6,
                                   equal_nan=True, err_msg=name)
    np.testing.assert_allclose(res.timeline["expected_deemed_balance"].to_numpy(),
                               orc.expected_deemed_balance(n_tl), rtol=1e-9, atol=1e-6)


# ---- (ii) per-project default frequency and expected credit loss ----------------------

def test_pd_simulated_equals_oracle_frequency(engine_and_oracle):
    res, orc = engine_and_oracle
    got = res.projects["pd_simulated"].to_numpy()
    np.testing.assert_array_equal(got, orc.defaulted.sum(axis=0) / N_PATHS)
    np.testing.assert_allclose(res.projects["expected_credit_loss"].to_numpy(),
                               orc.project_credit_loss.mean(axis=0), rtol=1e-9, atol=1e-6)


def test_chunking_does_not_change_paths(engine_and_oracle):
    res, orc = engine_and_oracle
    df = mixed_portfolio()
    pf = portfolio_from_frame(df, SECTORS, N_Q, SPY)
    res2 = riskengine.simulate(_config(), pf, paths=N_PATHS, seed=SEED, chunk_paths=1024,
                               threads=1)
    np.testing.assert_array_equal(res2.paths["credit_loss"].to_numpy(),
                                  res.paths["credit_loss"].to_numpy())
    np.testing.assert_array_equal(res2.paths["economic_loss"].to_numpy(),
                                  res.paths["economic_loss"].to_numpy())


# ---- (iii) the oracle's own sanity ----------------------------------------------------

def _single(**kw) -> pd.DataFrame:
    base = dict(pc=None, a=0, f=1, tenor=NAN, amort="bullet", rate=0.06)
    base.update(kw)
    return pd.DataFrame([_row("ONE", "chips", "JBIC", "loan", 1.0e9, 0.0, 0.4, 0.5, **base)])


def _annuity_econ_loss(commit, rate, disc, n, m):
    """-NPV of: lend C at t_0, coupon C r/m at the end of each of n quarters, C back at the
    horizon (bullet at the horizon or held at par), discounting at (1 + d/m) per quarter."""
    v = 1.0 / (1.0 + disc / m)
    annuity = (1.0 - v**n) / (disc / m)  # sum_{k=1..n} v^k
    return -(-commit + commit * rate / m * annuity + commit * v**n)


@pytest.mark.parametrize("tenor", [NAN, float(HORIZON)])
def test_oracle_pd0_loan_is_hand_annuity(tenor):
    df = _single(tenor=tenor)
    orc = ref.simulate_reference(df, SECTORS, CORR, 3, SEED, HORIZON, SPY, DISC)
    want = _annuity_econ_loss(1.0e9, 0.06, DISC, N_Q, SPY)
    assert want < 0  # priced above the discount rate: a gain
    np.testing.assert_allclose(orc.economic_loss[:, 0], want, rtol=1e-12)
    np.testing.assert_array_equal(orc.credit_loss, 0.0)
    np.testing.assert_array_equal(orc.economic_loss[:, 1], 0.0)
    assert not orc.defaulted.any()


def test_oracle_par_loan_has_zero_economic_loss():
    df = _single(rate=DISC, amort="linear", tenor=3.0, f=2)
    orc = ref.simulate_reference(df, SECTORS, CORR, 2, SEED, HORIZON, SPY, DISC)
    # drawn in two pieces at t_0 and t_1: a loan at the discount rate is worth par
    np.testing.assert_allclose(orc.economic_loss[:, 0], 0.0, atol=1e-5)


def test_oracle_pd0_linear_loan_hand_sum():
    # C lent at t_0; repaid C/19 at the ends of quarters 1..19; coupon on the balance
    c, r = 1.0e9, 0.06
    df = _single(rate=r, amort="linear", tenor=5.0)
    orc = ref.simulate_reference(df, SECTORS, CORR, 1, SEED, HORIZON, SPY, DISC)
    v = 1.0 / (1.0 + DISC / SPY)
    npv = -c
    for k in range(N_Q):
        bal = c if k == 0 else c * (1.0 - (k - 1) / 19.0)
        rep = c / 19.0 if k >= 1 else 0.0
        npv += (bal * r / SPY + rep) * v ** (k + 1)
    np.testing.assert_allclose(orc.economic_loss[0, 0], -npv, rtol=1e-12)


def test_oracle_default_quarter_rule():
    # Phi(X) <= PD(j + 1): a uniform just below PD(1) defaults in the approval quarter
    pa, pc, c, m = 0.2, 0.3, 4, 4
    assert ref.default_quarter_of(ref.cumulative_pd(1, pa, pc, c, m) * (1 - 1e-12), 3, 20,
                                  pa, pc, c, m) == 3
    assert ref.default_quarter_of(ref.cumulative_pd(5, pa, pc, c, m), 0, 20, pa, pc, c, m) == 4
    assert ref.default_quarter_of(0.999, 0, 20, pa, pc, c, m) == -1
    # construction then operating PD
    assert ref.cumulative_pd(4, pa, pc, c, m) == pytest.approx(pc)
    assert ref.cumulative_pd(8, pa, pc, c, m) == pytest.approx(1 - (1 - pc) * (1 - pa))


# ---- (c) Vasicek finite pool ----------------------------------------------------------

def test_vasicek_pmf_moments():
    n, pd_, rho = 25, 0.08, 0.3
    pmf = ref.vasicek_finite_pool_pmf(n, pd_, rho)
    k = np.arange(n + 1)
    assert np.all(pmf >= 0)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-11)
    assert (k * pmf).sum() == pytest.approx(n * pd_, abs=1e-10)
    t = special.ndtri(pd_)
    p2 = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf([t, t])
    var = n * pd_ * (1 - pd_) + n * (n - 1) * (p2 - pd_**2)
    mean = n * pd_
    assert ((k - mean) ** 2 * pmf).sum() == pytest.approx(var, rel=1e-5)  # mvn cdf ~1e-6
    np.testing.assert_allclose(ref.vasicek_finite_pool_pmf(6, 0.1, 0.0),
                               stats.binom.pmf(np.arange(7), 6, 0.1), atol=1e-15)


def test_engine_pool_count_matches_vasicek():
    """One-year horizon, homogeneous pool: the engine's number of defaults per path follows
    the finite-pool Vasicek distribution (fixed seed, deterministic check)."""
    n, pd_, rho, paths = 10, 0.1, 0.25, 20000
    df = pd.DataFrame([_row(f"P{i:02d}", "chips", "JBIC", "loan", 1.0e6, pd_, 0.5,
                            math.sqrt(rho)) for i in range(n)])
    cfg = _config(paths=paths, seed=7, horizon=1)
    pf = portfolio_from_frame(df, SECTORS, SPY, SPY)
    res = riskengine.simulate(cfg, pf)
    count = np.rint(res.paths["credit_loss"].sel(institution="JBIC").to_numpy() / 0.5e6)
    obs = np.bincount(count.astype(int), minlength=n + 1)
    pmf = ref.vasicek_finite_pool_pmf(n, pd_, rho)
    # pool the tail so every cell expects >= 5
    exp = pmf * paths
    last = int(np.max(np.flatnonzero(exp >= 5)))
    o = np.append(obs[:last], obs[last:].sum())
    e = np.append(exp[:last], exp[last:].sum())
    chi2 = ((o - e) ** 2 / e).sum()
    assert stats.chi2.sf(chi2, len(o) - 1) > 1e-3


def test_recoup_distribution_is_consistent(engine_and_oracle):
    """recoup.parquet: a non-decreasing distribution whose last quarter is p_recoup and
    whose median is recoup_quarter_median."""
    res, orc = engine_and_oracle
    by = res.recoup["p_recouped_by"]
    assert np.all(np.diff(by.to_numpy(), axis=1) >= -1e-15)
    np.testing.assert_allclose(by.isel(quarter=-1).to_numpy(),
                               res.projects.p_recoup.sel(project=by.project).to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(by.isel(quarter=-1).to_numpy(),
                               orc.p_recoup[orc.is_equity], rtol=1e-12)

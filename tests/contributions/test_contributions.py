"""Risk contributions (Euler allocation by a replay of the tail paths), convergence tables
and the coverage of the confidence intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

import riskengine
from riskengine._kernels import engine
from riskengine.simulate import BLOCK, allocate

from ..conftest import assert_same, homogeneous_frame, make_config, make_portfolio, mixed_frame

GROUPS = ("exposure", "obligor", "sector", "institution")


def _run(cfg, df):
    return riskengine.run_model(riskengine.build_model(cfg, make_portfolio(df, cfg)))


@pytest.fixture(scope="module")
def mixed():
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=30_000, horizon_years=5.0,
                      discount_rate=0.04)
    df = mixed_frame()
    df["obligor"] = np.where(df.project_id.isin(["L1", "G1"]), "AG", df.project_id)
    return cfg, df, _run(cfg, df)


@pytest.mark.parametrize("group", GROUPS)
def test_contributions_add_up_to_every_measure_at_every_level(mixed, group):
    _, _, res = mixed
    for level in res.levels:
        for measure in ("VaR", "ES"):
            total = res.contributions(measure, level, by=group)["value"].sum()
            assert total == pytest.approx(res.value(measure, level=level), rel=1e-9)
    el = res.contributions("EL", by=group)["value"].sum()
    assert el == pytest.approx(res.value("EL"), rel=1e-9)


def test_groupings_agree_with_each_other(mixed):
    _, df, res = mixed
    by_exposure = res.contributions("ES", 0.99, by="exposure")["value"]
    by_obligor = res.contributions("ES", 0.99, by="obligor")["value"]
    assert by_obligor["AG"] == pytest.approx(by_exposure["L1"] + by_exposure["G1"], rel=1e-12)
    sector_a = df.loc[df.sector == "a", "project_id"]
    assert res.contributions("ES", 0.99, by="sector")["value"]["a"] == pytest.approx(
        by_exposure[sector_a].sum(), rel=1e-12)
    assert res.projects["es_contribution"].sel(project="L1") == pytest.approx(
        res.contributions("ES", max(res.levels), by="exposure")["value"]["L1"])


def test_the_replay_reproduces_the_first_pass_bit_for_bit(mixed):
    cfg, df, res = mixed
    model = riskengine.build_model(cfg, make_portfolio(df, cfg))
    ids = np.array([3, 17, 1024, 29_999, 5], dtype=np.int64)
    out, acc, sampled = allocate(model, len(ids), 0, 0, by_exposure=True)
    engine.run_chunk(0, len(ids), BLOCK, *model.inputs, out, acc, sampled, ids)
    np.testing.assert_array_equal(out.credit_loss, res.paths["credit_loss"].values[ids])
    np.testing.assert_allclose(out.exposure_credit.sum(axis=1), out.credit_loss.sum(axis=1),
                               rtol=1e-12)


def test_a_replay_of_the_shipped_program_values_its_defaults_exactly():
    """The replay values only the rows that default and skips the yen figures: on the
    shipped program (pipeline rows, equity vehicles, regimes, USD/JPY) its credit losses,
    by path and by exposure, are the main pass's."""
    from riskengine.config import default_portfolio_path, load_config

    cfg = load_config(None, {"simulation": {"paths": 2048}})
    sim = cfg.simulation
    model = riskengine.build_model(cfg, riskengine.load_portfolio(
        default_portfolio_path(), cfg.dependence.sectors, sim.n_quarters, sim.steps_per_year))
    res = riskengine.run_model(model)
    main = res.paths["credit_loss"].values
    ids = np.argsort(main.sum(axis=1))[-40:].astype(np.int64)  # the worst paths
    out, acc, sampled = allocate(model, len(ids), 0, 0, by_exposure=True)
    engine.run_chunk(0, len(ids), BLOCK, *model.inputs, out, acc, sampled, ids)
    np.testing.assert_array_equal(out.credit_loss, main[ids])
    n_defaults = (out.exposure_credit > 0).sum(axis=1)
    assert n_defaults.min() > 0  # (the test is not vacuous)
    inst = model.inputs.exposures.institution
    for i in range(main.shape[1]):  # each institution's loss is its rows' losses
        np.testing.assert_allclose(out.exposure_credit[:, inst == i].sum(axis=1),
                                   main[ids, i], rtol=1e-12)


def test_identical_exposures_get_equal_shares():
    cfg = make_config(("s",), paths=40_000, horizon_years=1.0)
    res = _run(cfg, homogeneous_frame(n=20, pd_annual=0.03, w=0.5))
    c = res.contributions("ES", 0.99, by="exposure")
    mean = c["value"].mean()
    assert (np.abs(c["value"] - mean) < 4 * c["stderr"]).all()
    assert c["stderr"].max() < 0.2 * mean  # the test is not vacuous


def test_a_single_exposure_gets_everything():
    cfg = make_config(("s",), paths=20_000, horizon_years=3.0)
    res = _run(cfg, homogeneous_frame(n=1, pd_annual=0.05, w=0.3))
    for measure in ("EL", "VaR", "ES"):
        level = None if measure == "EL" else 0.99
        c = res.contributions(measure, level, by="exposure")
        assert c["value"].iloc[0] == pytest.approx(res.value(measure, level=level), rel=1e-12)


def test_contributions_under_importance_sampling_add_up():
    cfg = make_config(("s",), paths=20_000, horizon_years=1.0,
                      importance_sampling={"enabled": True, "pilot_paths": 4096})
    res = _run(cfg, homogeneous_frame(n=30, pd_annual=0.01, w=0.5))
    assert "weight" in res.paths
    total = res.contributions("ES", 0.999, by="exposure")["value"].sum()
    assert total == pytest.approx(res.value("ES", level=0.999), rel=1e-9)


def test_convergence_ends_at_the_summary(mixed):
    _, _, res = mixed
    conv = res.convergence("ES", 0.99)
    assert list(conv.index) == [1024, 2048, 4096, 8192, 16384, 30000]
    assert conv["value"].iloc[-1] == res.value("ES", level=0.99)
    assert conv["stderr"].iloc[0] > conv["stderr"].iloc[-1]


def _vasicek_pool(n, p, rho):
    """Exact distribution of the number of defaults in a one-factor pool of ``n``."""
    k = np.arange(n + 1)

    def pmf_at(z):
        pz = special.ndtr((special.ndtri(p) - np.sqrt(rho) * z) / np.sqrt(1 - rho))
        return stats.binom.pmf(k, n, pz) * stats.norm.pdf(z)

    pmf = integrate.quad_vec(pmf_at, -10, 10, epsabs=1e-13)[0]
    return k.astype(float), pmf / pmf.sum()


def test_interval_coverage_on_a_vasicek_pool():
    """Over 40 seeds the 95% intervals of VaR 0.99 and ES 0.99 hold the exact values in
    33 to 40 of them."""
    n, p, w = 40, 0.02, 0.5
    support, pmf = _vasicek_pool(n, p, w * w)
    exact_var = riskengine.value_at_risk(support, 0.99, weight=len(support) * pmf)
    exact_es = riskengine.expected_shortfall(support, 0.99, weight=len(support) * pmf)
    df = homogeneous_frame(n=n, pd_annual=p, w=w)
    hits_var = hits_es = 0
    for seed in range(40):
        cfg = make_config(("s",), paths=10_000, seed=seed, horizon_years=1.0,
                          outputs={"contributions": False, "timeline_paths": 1,
                                   "irr_paths": 1})
        s = _run(cfg, df).summary.sel(institution="ALL", variable="credit_loss")
        m, lv = s["measure"].values, s["level"].values
        var = np.flatnonzero((m == "VaR") & np.isclose(lv, 0.99))[0]
        es = np.flatnonzero((m == "ES") & np.isclose(lv, 0.99))[0]
        hits_var += s.ci_low.values[var] <= exact_var <= s.ci_high.values[var]
        hits_es += s.ci_low.values[es] <= exact_es <= s.ci_high.values[es]
    assert 33 <= hits_var <= 40, hits_var
    assert 33 <= hits_es <= 40, hits_es


def test_contributions_round_trip(mixed, tmp_path):
    _, _, res = mixed
    back = riskengine.read_results(res.write(tmp_path / "run"))
    frame = pd.read_parquet(tmp_path / "run" / "contributions.parquet")
    assert {"measure", "level", "group", "key", "value", "stderr"} <= set(frame.columns)
    assert_same(back["contributions"], res.contributions_ds)


def test_es_contribution_errors_match_their_spread_over_seeds():
    """The reported standard error of a part's ES contribution is the spread of that
    contribution over independent runs (within sampling error of 25 seeds)."""
    df = pd.concat([homogeneous_frame(n=15, pd_annual=0.03, w=0.5, institution="JBIC"),
                    homogeneous_frame(n=15, pd_annual=0.03, w=0.5, institution="NEXI",
                                      instrument="guarantee", prefix="G")])
    values, errors = [], []
    for seed in range(25):
        cfg = make_config(("s",), paths=8192, seed=seed, horizon_years=1.0,
                          outputs={"timeline_paths": 1, "irr_paths": 1})
        c = _run(cfg, df).contributions("ES", 0.99, by="institution")
        values.append(c["value"]["JBIC"])
        errors.append(c["stderr"]["JBIC"])
    ratio = np.std(values, ddof=1) / np.mean(errors)
    assert 0.6 < ratio < 1.5, ratio

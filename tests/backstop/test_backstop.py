"""The taxpayer's backstop ([capital], backstop.parquet): hand-checked calls, the kernel
against a plain-Python reference on every path, the sparse quantile against the full
sample's, and a run without [capital] unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import riskengine
from riskengine._kernels import engine
from riskengine._kernels.backstop import absorb
from riskengine.backstop import CallRows, backstop_dataset, earnings_by_year, sparse_var
from riskengine.errors import ConfigError
from riskengine.measures import LossSample
from riskengine.simulate import BLOCK, NO_REPLAY, allocate

from ..conftest import assert_same, homogeneous_frame, make_config, make_portfolio, mixed_frame
from ..reference import capital_calls_reference

SPOT = 100.0


def _absorb(loss, capital, earnings):
    calls = np.full(len(loss), np.nan)
    absorb.py_func(np.asarray(loss, float), capital, np.asarray(earnings, float), calls)
    return calls.tolist()


@pytest.mark.parametrize("loss, capital, earnings, calls", [
    ([0, 400, 0], 500, [0, 0, 0], [0, 0, 0]),  # a loss below capital calls nothing
    ([0, 0, 700], 500, [0, 0, 0], [0, 0, 200]),  # above it: exactly the excess, that year
    ([0, 0, 700], 500, [50, 50, 50], [0, 0, 150]),  # the year's earnings absorb first
    ([300, 300, 0, 100], 500, [0] * 4, [0, 100, 0, 100]),  # capital depleted, not rebuilt
    ([0, 150], 0, [100, 100], [0, 50]),  # unused earnings are not carried over
    ([80, 0], 0, [100, 100], [0, 0]),  # a loss below the year's earnings
])
def test_hand_checked_calls(loss, capital, earnings, calls):
    assert _absorb(loss, capital, earnings) == calls
    assert capital_calls_reference(loss, capital, earnings) == calls


def _capital(jbic, nexi=(0.0, 0.0)):
    return {"JBIC": {"capital_jpy": jbic[0], "earnings_jpy_per_year": jbic[1]},
            "NEXI": {"capital_jpy": nexi[0], "earnings_jpy_per_year": nexi[1]}}


def _run_every_path_sampled(cfg, df):
    """The kernel on every path, each one a timeline path (its losses by fiscal year)."""
    model = riskengine.build_model(cfg, make_portfolio(df, cfg))
    n = cfg.simulation.paths
    out, acc, sampled = allocate(model, n, n, 0)
    engine.run_chunk(0, n, BLOCK, *model.inputs, out, acc, sampled, NO_REPLAY)
    return model, out, sampled


@pytest.mark.parametrize("capital, call", [(1500.0, 0.0), (1000.0, 0.0), (600.0, 400.0)])
def test_one_loan_calls_exactly_its_loss_beyond_capital_in_its_year(capital, call):
    """A single loan of $10, LGD 1, USD/JPY fixed at 100: a default loses 1,000 yen. With
    more capital than that nothing is called; with 600 yen a path that defaults calls
    400 yen in the fiscal year of its default, and nothing in any other year."""
    df = homogeneous_frame(n=1, pd_annual=0.4, commitment=10.0)
    cfg = make_config(paths=BLOCK, horizon_years=3.0, fx={"usd_jpy": SPOT, "volatility": 0.0},
                      capital=_capital((capital, 0.0)))
    _, out, sampled = _run_every_path_sampled(cfg, df)
    default_year = sampled.annual[:, :, 0] > 0  # (paths, fiscal years): its defaults there
    assert (default_year.sum(axis=1) <= 1).all() and default_year.any(axis=1).mean() > 0.5
    assert set(np.unique(sampled.annual[:, :, 1] * SPOT)) == {0.0, 1000.0}
    np.testing.assert_array_equal(out.capital_call[:, 0, :], np.where(default_year, call, 0.0))
    assert (out.capital_call[:, 1, :] == 0.0).all()  # NEXI has no exposure


def test_kernel_matches_the_reference_on_every_path():
    """Every instrument, both institutions, earnings and capital depleted over years:
    the kernel's calls equal the reference's applied to each path's losses by year."""
    df = mixed_frame()
    df["pd_annual"] = 0.3
    cap_j, earn_j, cap_n = 3000.0, 500.0, 800.0
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=2 * BLOCK, horizon_years=5.0,
                      discount_rate=0.04, fx={"usd_jpy": SPOT, "volatility": 0.0},
                      capital=_capital((cap_j, earn_j), (cap_n, 0.0)))
    _, out, sampled = _run_every_path_sampled(cfg, df)
    years = earnings_by_year(cfg, earn_j)
    assert years.tolist() == [250.0, 500.0, 500.0, 500.0, 500.0, 250.0]  # Oct 2025 + 5 y
    for p in range(out.capital_call.shape[0]):
        jbic = capital_calls_reference(sampled.annual[p, :, 1] * SPOT, cap_j, years)
        nexi = capital_calls_reference(sampled.annual[p, :, 2] * SPOT, cap_n, [0.0] * 6)
        np.testing.assert_allclose(out.capital_call[p, 0], jbic, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(out.capital_call[p, 1], nexi, rtol=1e-12, atol=1e-9)
    assert (out.capital_call[:, 0] > 0).any() and (out.capital_call[:, 1] > 0).any()


@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_quantile_equals_the_whole_samples(weighted):
    rng = np.random.default_rng(3)
    n = 5000
    full = np.where(rng.random(n) < 0.03, np.round(rng.exponential(5.0, n), 1), 0.0)
    w = rng.uniform(0.2, 3.0, n) if weighted else None
    rows = np.flatnonzero(full > 0)
    for level in (0.9, 0.97, 0.99, 0.995, 0.999):
        want = LossSample(full, w).var_value(level)
        got = sparse_var(full[rows], None if w is None else w[rows], n, level)
        assert got == want, level


def test_measures_by_hand():
    """Ten paths, three call: P(call), the expected call, the quantiles, ALL and 'all'."""
    cfg = make_config(horizon_years=1.0, capital={})  # Oct 2025: FY2025, FY2026
    calls = np.zeros((10, 2, 2))
    calls[3] = [[100.0, 0.0], [0.0, 50.0]]
    calls[7] = [[0.0, 300.0], [0.0, 0.0]]
    calls[9] = [[0.0, 0.0], [20.0, 0.0]]
    rows = CallRows(2, 2)
    rows.add(0, calls[:6], np.ones(6))
    rows.add(6, calls[6:], np.ones(4))
    assert rows.arrays()[0].tolist() == [3, 7, 9]
    ds = backstop_dataset(cfg, rows, 10, weighted=False)
    frame = ds.to_dataframe()

    def row(period, inst, measure, level=None):
        hit = ((frame.period == period) & (frame.institution == inst)
               & (frame.measure == measure)
               & (frame.level.isna() if level is None else frame.level == level))
        assert hit.sum() == 1
        return frame[hit].iloc[0]

    def at(*key):
        return float(row(*key).value_jpy)

    assert at("FY2025", "JBIC", "p_call") == 0.1
    assert at("FY2025", "ALL", "p_call") == 0.2  # paths 3 and 9
    assert at("FY2026", "ALL", "expected_call") == pytest.approx(35.0)  # (300 + 50) / 10
    assert at("all", "ALL", "p_call") == 0.3
    assert at("all", "ALL", "expected_call") == pytest.approx(47.0)
    assert at("all", "JBIC", "VaR", 0.99) == 300.0
    assert at("all", "NEXI", "VaR", 0.99) == 50.0
    assert at("FY2025", "NEXI", "VaR", 0.99) == 20.0
    ga, gdp = cfg.capital.general_account_jpy, cfg.capital.gdp_jpy
    assert row("all", "JBIC", "VaR", 0.99).share_general_account == pytest.approx(300.0 / ga)
    assert row("all", "JBIC", "VaR", 0.99).share_gdp == pytest.approx(300.0 / gdp)
    assert np.isnan(row("all", "JBIC", "p_call").share_general_account)
    assert len(frame) == 3 * 3 * 4  # (FY2025, FY2026, all) x (JBIC, NEXI, ALL) x 4


def _small(capital, paths=2 * BLOCK, **kw):
    df = mixed_frame()
    df["pd_annual"] = 0.3
    sections = {"fx": {"usd_jpy": SPOT}}
    if capital is not None:
        sections["capital"] = capital
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=paths, horizon_years=5.0,
                      discount_rate=0.04, **sections, **kw)
    return riskengine.build_model(cfg, make_portfolio(df, cfg))


def test_capital_changes_no_other_output():
    """With [capital] every other output is the run's without it, to the bit; without it
    the kernel writes no calls and there is no backstop.parquet."""
    off = riskengine.run_model(_small(None))
    on = riskengine.run_model(_small(_capital((3000.0, 500.0), (800.0, 0.0))))
    assert off.backstop is None and "backstop" not in off.datasets()
    assert on.backstop is not None and "backstop" in on.datasets()
    for name, ds in off.datasets().items():
        assert_same(ds, on.datasets()[name])


def test_streamed_chunked_and_in_memory_agree(tmp_path):
    cap = _capital((3000.0, 500.0), (800.0, 0.0))
    a = riskengine.run_model(_small(cap)).backstop
    b = riskengine.run_model(_small(cap, chunk_paths=BLOCK),
                             paths_file=tmp_path / "paths.parquet").backstop
    assert_same(a, b)
    assert a.attrs["calling_paths"] > 0


def test_config_keys():
    cfg = make_config(capital={"JBIC": {"capital_jpy": 1e12}})
    assert cfg.capital.JBIC.earnings_jpy_per_year == pytest.approx(77.5872e9)  # its default
    assert cfg.capital.NEXI.capital_jpy == 3.1e12
    with pytest.raises(ConfigError, match="capital.NEXI.capital_jpy"):
        make_config(capital={"NEXI": {"capital_jpy": -1.0}})
    with pytest.raises(ConfigError, match="capital.JBIC.reserve"):
        make_config(capital={"JBIC": {"reserve": 1.0}})

"""Hypothesis properties of losses and measures."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import riskengine
from riskengine.measures import (
    LossSample,
    MeasureTables,
    TopSorted,
    digest,
    mean_with_stderr,
    measure_table,
)

from ..conftest import make_config, make_portfolio

LEVELS = (0.5, 0.9, 0.95, 0.99, 0.995, 0.999)

losses = arrays(np.float64, st.integers(1, 400),
                elements=st.floats(0, 1e12, allow_nan=False, allow_infinity=False))


@given(losses, st.booleans(), st.integers(0, 2**32 - 1))
@settings(max_examples=200, deadline=None)
def test_var_monotone_and_es_above_var(loss, weighted, seed):
    w = None
    if weighted:
        w = np.random.default_rng(seed).exponential(size=loss.shape[0])
    s = LossSample(loss, w)
    vs = [s.var_value(a) for a in LEVELS]
    assert all(b >= a for a, b in zip(vs, vs[1:]))
    for a, v in zip(LEVELS, vs):
        es = s.es(a).value
        assert es >= v - 1e-9 * max(1.0, abs(v))
        if w is None:
            assert v == np.quantile(loss, a, method="inverted_cdf")
            assert es <= loss.max() * (1 + 1e-12) + 1e-9


@given(losses, st.lists(st.integers(0, 10**6), min_size=1, max_size=12))
@settings(max_examples=200, deadline=None)
def test_top_sorted_reads_the_sorted_sample(loss, positions):
    """Any sequence of positions (the measures ask higher ones, then lower) reads what the
    fully sorted sample holds there, ties and repeated values included."""
    loss = np.round(loss, -11)  # many ties
    top, full = TopSorted(loss), np.sort(loss)
    for k in positions:
        k %= loss.shape[0]
        assert top[k] == full[k]


@given(losses, st.booleans(), st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_measures_in_place_give_the_bits_of_the_plain_expressions(loss, weighted, seed):
    """SD, VaR's error and ES write their per-path terms into one work array; each equals,
    bit for bit, what the same expression on fresh arrays gives."""
    w = np.random.default_rng(seed).exponential(size=loss.shape[0]) if weighted else None

    def wx(x):
        return x if w is None else w * x

    s = LossSample(loss, w)
    n = loss.shape[0]
    dev2 = (loss - float(np.mean(wx(loss)))) ** 2
    sdv = float(np.sqrt(max(float(np.mean(wx(dev2))), 0.0)))
    assert s.sd().value == sdv
    if n > 1 and sdv > 0:
        se = float(np.std(wx(dev2), ddof=1) / np.sqrt(n) / (2.0 * sdv))
        assert s.sd().stderr == se
    for a in LEVELS:
        v = s.var_value(a)
        es = s.es(a)
        mean, se = mean_with_stderr(wx(np.maximum(loss - v, 0.0)) / (1.0 - a))
        assert es.value == v + mean and (np.isnan(es.stderr) or es.stderr == se)
        var = s.var(a)
        if n > 1 and not np.isnan(var.stderr):
            se_p = float(np.std(wx((loss > v).astype(np.float64)), ddof=1) / np.sqrt(n))
            assert var.ci_low == s.var_value(max(a - 1.959963984540054 * se_p, 1e-15))
            assert var.ci_high == s.var_value(min(a + 1.959963984540054 * se_p, 1.0 - 1e-15))


def _bits(rows) -> list:
    """Measure rows as bytes (NaN equals NaN)."""
    return [(m, np.float64(lv).tobytes(),
             np.array([e.value, e.stderr, e.ci_low, e.ci_high]).tobytes()) for m, lv, e in rows]


@given(losses, st.booleans(), st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_measure_tables_measure_each_distinct_sample_once(loss, weighted, seed):
    """A sample with the same bytes as an earlier one gets its rows, which are what
    measuring it gives; a sample that differs in one value or in its weights is measured."""
    w = np.random.default_rng(seed).exponential(size=loss.shape[0]) if weighted else None
    key = b"" if w is None else digest(w)
    tables = MeasureTables(LEVELS)
    first = _bits(tables(loss, w, key))
    assert first == _bits(measure_table(loss, w, LEVELS))
    measured: list = []
    tables._rows = _Spy(tables._rows, measured)
    assert _bits(tables(loss.copy(), w, key)) == first and measured == []
    other = loss.copy()
    other[0] = np.nextafter(other[0], np.inf)
    assert _bits(tables(other, w, key)) == _bits(measure_table(other, w, LEVELS))
    assert len(measured) == 1
    assert _bits(tables(loss, None, b"")) == _bits(measure_table(loss, None, LEVELS))
    assert len(measured) == 1 + weighted


class _Spy(dict):
    """A dict that records the keys stored in it."""

    def __init__(self, items, stored):
        super().__init__(items)
        self.stored = stored

    def __setitem__(self, key, value):
        self.stored.append(key)
        super().__setitem__(key, value)


row = st.fixed_dictionaries({
    "sector": st.sampled_from(["a", "b"]),
    "instrument": st.sampled_from(["loan", "guarantee", "equity"]),
    "commitment_usd": st.floats(1.0, 1e9),
    "pd_annual": st.floats(0.0, 1.0),
    "lgd": st.floats(0.0, 1.0),
    "lgd_sd": st.sampled_from([0.0, 0.05]),
    "factor_loading": st.floats(0.0, 1.0),
    "approval_quarter": st.integers(0, 7),
    "funding_quarters": st.integers(1, 4),
    "tenor_years": st.sampled_from([np.nan, 1.0, 2.0, 3.0]),
    "amortization": st.sampled_from(["linear", "bullet"]),
    "rate": st.floats(0.0, 0.1),
    "coverage": st.floats(0.1, 1.0),
})


@given(st.lists(row, min_size=1, max_size=12), st.integers(0, 1000))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_credit_loss_between_zero_and_exposure(rows, seed):
    df = pd.DataFrame(rows)
    df["project_id"] = [f"X{i}" for i in range(len(df))]
    df["institution"] = np.where(df.instrument == "guarantee", "NEXI", "JBIC")
    df["lgd_sd"] = np.where(df.lgd_sd ** 2 < df.lgd * (1 - df.lgd), df.lgd_sd, 0.0)
    df["tenor_years"] = np.where(df.tenor_years * 4 < df.funding_quarters, np.nan, df.tenor_years)
    cfg = make_config(("a", "b"), [[1, 0.5], [0.5, 1]], paths=300, seed=seed, horizon_years=2.0)
    r = riskengine.simulate(cfg, make_portfolio(df, cfg))
    credit = r.paths.credit_loss
    assert float(credit.min()) >= 0.0
    cap = (df.commitment_usd * np.where(df.instrument == "guarantee", df.coverage, 1.0))
    for inst in ("JBIC", "NEXI"):
        bound = cap[df.institution == inst].sum()
        assert float(credit.sel(institution=inst).max()) <= bound * (1 + 1e-12)
    # per-project frequencies are probabilities and EL is non-negative
    assert np.all((r.projects.pd_simulated >= 0) & (r.projects.pd_simulated <= 1))
    assert np.all(r.projects.expected_credit_loss >= 0)

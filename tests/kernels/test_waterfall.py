"""The MOU waterfall (docs/model.md "Equity: cash flows and the MOU waterfall", "Timeline").

* exact hand cases through the public API (``riskengine.simulate``);
* the engine against the step-by-step :func:`reference.waterfall_reference` with a
  positive base rate and deemed spread, multi-tier hurdles, a horizon value;
* Hypothesis properties of the kernel's split and of whole waterfall sequences;
* equity defaults: ``credit_loss = U - Japan's share of (1 - LGD) U``;
* the cash timeline of a deterministic program.

Quarters are 0-based (``timeline.quarter`` and ``recoup_quarter_median``): quarter ``k``
ends at ``t_{k+1}``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import riskengine
from riskengine._kernels.waterfall import waterfall_split

from .. import reference as ref
from ..conftest import make_config, make_portfolio

SPY = 4
MOU = [{"japan_share": 0.5, "until": "deemed_allocation"}, {"japan_share": 0.1}]
THREE = [{"japan_share": 0.5, "until": "deemed_allocation"},
         {"japan_share": 0.3, "until": "deemed_allocation", "extra_spread": 0.05},
         {"japan_share": 0.1}]
SINGLE_10 = [{"japan_share": 0.1}]
SINGLE_50 = [{"japan_share": 0.5}]


def equity(pid="E", commitment=100.0, ey=1.2, pd_=0.0, lgd=0.4, w=0.0, a=0, f=1, cy=0.0,
           life=2.5, vol=0.0, ds=0.0, sector="s", pc=None, institution="JBIC"):
    return dict(project_id=pid, sector=sector, institution=institution, instrument="equity",
                commitment_usd=commitment, pd_annual=pd_, lgd=lgd, factor_loading=w,
                approval_quarter=a, funding_quarters=f, expected_yield=ey, cf_vol=vol,
                construction_years=cy, life_years=life, deemed_spread=ds,
                pd_construction=pd_ if pc is None else pc, amortization="linear")


def run(rows, *, tiers=MOU, base_rate=0.0, discount_rate=0.0, horizon=3.0, paths=64, seed=11,
        **sections):
    if tiers is not None:
        sections["waterfall"] = {"tiers": tiers}
    cfg = make_config(paths=paths, seed=seed, horizon_years=horizon, base_rate=base_rate,
                      discount_rate=discount_rate, **sections)
    return riskengine.simulate(cfg, make_portfolio(pd.DataFrame(rows), cfg))


def proj(res, name, pid="E"):
    return float(res.projects[name].sel(project=pid))


def jbic(res, name):
    return res.paths[name].sel(institution="JBIC").to_numpy()


# ---- exact cases through the public API --------------------------------------------------
# commitment 100 funded at the start of quarter 0; cash at the ends of quarters 0..9;
# horizon 12 quarters (no going-concern value); rates 0

EXACT = {
    # 30 a quarter, 50/50 until Japan has 100, then 10%: Japan 15 x 6 = 90; in quarter 6
    # (the 7th) 20 of the 30 clear the last 10 at 50/50 and 10 go at 10% (Japan 11);
    # then 3 a quarter: Japan 90 + 11 + 9 = 110, US 300 - 110 = 190
    "mou-recoups": (1.2, MOU, [15.0] * 6 + [11.0] + [3.0] * 3, 6),
    # 12.5 a quarter: Japan 6.25 x 10 = 62.5 < 100, never recoups
    "mou-short": (0.5, MOU, [6.25] * 10, -1),
    # 90/10 from day one (a single tier): Japan 3 a quarter
    "single-10": (1.2, SINGLE_10, [3.0] * 10, -1),
    # 50/50 throughout: Japan 15 a quarter; the deemed balance 100 - 15 (k + 1) hits 0 in
    # quarter 6 and the split does not change
    "single-50": (1.2, SINGLE_50, [15.0] * 10, 6),
}


@pytest.mark.parametrize("case", list(EXACT), ids=list(EXACT))
def test_exact_hand_cases(case):
    ey, tiers, japan_q, recoup = EXACT[case]
    res = run([equity(ey=ey)], tiers=tiers)
    cash = 100.0 * ey / SPY
    japan = sum(japan_q)
    assert cash == pytest.approx(30.0 if ey == 1.2 else 12.5, rel=1e-15)
    assert proj(res, "japan_receipts_mean") == pytest.approx(japan, rel=1e-12)
    assert proj(res, "us_receipts_mean") == pytest.approx(10 * cash - japan, rel=1e-12)
    np.testing.assert_allclose(jbic(res, "japan_receipts"), japan, rtol=1e-12)
    np.testing.assert_allclose(jbic(res, "us_receipts"), 10 * cash - japan, rtol=1e-12)
    # deemed balance: 100 - Japan's receipts (rates 0), floored at 0
    deemed = np.maximum(100.0 - np.cumsum(japan_q + [0.0, 0.0]), 0.0)
    np.testing.assert_allclose(res.timeline["expected_deemed_balance"].to_numpy(), deemed,
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jbic(res, "deemed_outstanding"), deemed[-1], atol=1e-12)
    by = res.recoup["p_recouped_by"].isel(project=0).to_numpy()  # recoup.parquet
    if recoup >= 0:
        assert proj(res, "p_recoup") == 1.0
        assert proj(res, "recoup_quarter_median") == recoup
        assert deemed[recoup] == 0.0 and deemed[recoup - 1] > 0.0
        np.testing.assert_array_equal(by, (np.arange(len(by)) >= recoup).astype(float))
    else:
        assert proj(res, "p_recoup") == 0.0
        assert math.isnan(proj(res, "recoup_quarter_median"))
        np.testing.assert_array_equal(by, 0.0)
    # net cash to JBIC by quarter: -100 at the start of quarter 0, Japan's receipts at ends
    net = np.array(japan_q + [0.0, 0.0])
    net[0] -= 100.0
    tl = res.timeline["cumulative_net_cash"].sel(institution="JBIC").to_numpy()
    np.testing.assert_allclose(tl, np.cumsum(net)[:, None].repeat(5, axis=1), rtol=1e-12,
                               atol=1e-12)
    # rates and discount 0: economic loss = 100 - Japan's receipts; nothing defaults
    np.testing.assert_allclose(jbic(res, "economic_loss"), 100.0 - japan, rtol=1e-12)
    np.testing.assert_array_equal(jbic(res, "credit_loss"), 0.0)
    # the oracle agrees
    w = ref.waterfall_reference([100.0] + [0.0] * 11, [cash] * 10 + [0.0] * 2, 0.0, tiers)
    np.testing.assert_allclose(w.japan, japan_q + [0.0, 0.0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(w.japan + w.us, [cash] * 10 + [0.0] * 2, rtol=1e-15)
    assert w.recoup_quarter == recoup


def test_switch_inside_quarter_seven():
    """The MOU case quarter by quarter from the timeline: Japan gets 15 in quarters 0..5,
    11 in quarter 6 (10 at 50/50 + 1 at 10%) and 3 afterwards."""
    res = run([equity(ey=1.2)])
    cum = res.timeline["cumulative_net_cash"].sel(institution="JBIC", quantile=0.5).to_numpy()
    per_q = np.diff(np.concatenate([[-100.0], cum]))  # the 100 put in at the start of q0
    np.testing.assert_allclose(per_q[:10], [15.0] * 6 + [11.0] + [3.0] * 3, rtol=1e-12)
    np.testing.assert_allclose(per_q[10:], 0.0, atol=1e-12)


# ---- the engine against the reference waterfall: rates, spreads, hurdles -----------------

def _schedule(row, n_q, n_ext=None):
    """Deterministic contributions and cash (cf_vol 0, pd 0) of one equity row over
    ``n_ext`` quarters (past the horizon: no contributions, as the engine)."""
    n_ext = n_ext or n_q
    contrib = np.zeros(n_ext)
    a, f = row["approval_quarter"], row["funding_quarters"]
    for k in range(a, min(a + f, n_q)):
        contrib[k] = row["commitment_usd"] / f
    op_start = a + round(row["construction_years"] * SPY)
    life = row["life_years"]
    op_end = n_q if (life is None or math.isnan(life)) else op_start + round(life * SPY)
    cash = np.zeros(n_ext)
    cash[op_start:min(op_end, n_ext)] = row["commitment_usd"] * row["expected_yield"] / SPY
    return contrib, cash, op_end


CASES = {
    # recoups inside the horizon; life ends inside it (no horizon value) or runs past it
    "recoup-life-inside": (0.9, 3.0),
    "recoup-life-past": (0.9, 7.5),
    # the deemed balance is still open at the horizon (61.1): the horizon value splits
    # the remaining cash at 50/50 throughout (7.5 years), or clears the hurdle in quarter
    # 33, after the horizon (15 years)
    "open-at-horizon": (0.35, 7.5),
    "clears-after-horizon": (0.35, 15.0),
}


@pytest.mark.parametrize("tiers", [MOU, THREE, SINGLE_50, [{"japan_share": 0.25}]],
                         ids=["mou", "three-tier", "single-50", "single-25"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_engine_matches_waterfall_reference(tiers, case):
    ey, life = CASES[case]
    base, ds, disc, horizon = 0.04, 0.03, 0.05, 5.0
    n_q = int(horizon * SPY)
    row = equity(commitment=120.0, a=1, f=3, cy=0.5, life=life, ey=ey, ds=ds)
    res = run([row], tiers=tiers, base_rate=base, discount_rate=disc, horizon=horizon)
    contrib, cash, _ = _schedule(row, n_q, n_ext=max(op_end_of(row), n_q))
    rate_q = (base + ds) / SPY
    w = ref.waterfall_reference(contrib, cash, rate_q, tiers)
    ins = slice(0, n_q)
    japan, us = w.japan[ins].sum(), w.us[ins].sum()
    assert proj(res, "japan_receipts_mean") == pytest.approx(japan, rel=1e-9)
    assert proj(res, "us_receipts_mean") == pytest.approx(us, rel=1e-9)
    np.testing.assert_allclose(jbic(res, "japan_receipts"), japan, rtol=1e-9)
    np.testing.assert_allclose(jbic(res, "deemed_outstanding"), w.deemed[n_q - 1], rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_allclose(res.timeline["expected_deemed_balance"].to_numpy(),
                               w.deemed[ins], rtol=1e-9, atol=1e-9)
    net = np.cumsum(w.japan[ins] - contrib[ins])
    got = res.timeline["cumulative_net_cash"].sel(institution="JBIC").to_numpy()
    np.testing.assert_allclose(got, net[:, None].repeat(5, axis=1), rtol=1e-9, atol=1e-9)
    rq = ref.recoup_quarter_of(contrib[ins], w.deemed[ins])
    assert proj(res, "p_recoup") == (1.0 if rq >= 0 else 0.0)
    if rq >= 0:
        assert proj(res, "recoup_quarter_median") == rq
    else:
        assert math.isnan(proj(res, "recoup_quarter_median"))
    # horizon value: the rest of the life at mean cash through the waterfall from the
    # horizon balances, discounted to the horizon (pd 0: survival 1)
    g = 1.0 + disc / SPY
    tv = sum(w.japan[k] * g ** -(k + 1 - n_q) for k in range(n_q, len(cash)))
    assert (tv > 0) == (life * SPY + 3 > n_q)
    npv = sum(-contrib[k] * g ** -k + w.japan[k] * g ** -(k + 1) for k in range(n_q))
    npv += tv * g ** -n_q
    np.testing.assert_allclose(jbic(res, "economic_loss"), -npv, rtol=1e-9)
    irr = ref.irr_reference(contrib[ins], w.japan[ins], tv, SPY)
    assert proj(res, "irr_japan_median") == pytest.approx(irr, rel=1e-7, abs=1e-10)
    # the cases are what they say
    if ey == 0.9:
        assert rq >= 0 or tiers[0]["japan_share"] < 0.5
    else:
        assert w.deemed[n_q - 1] > 50.0
        if life == 15.0 and tiers[0]["japan_share"] >= 0.5:
            assert w.deemed[-1] == 0.0


def op_end_of(row):
    a, cy, life = row["approval_quarter"], row["construction_years"], row["life_years"]
    return a + round(cy * SPY) + round(life * SPY)


def test_reference_waterfall_hand_case_with_rates():
    """Two quarters by hand at 10% a quarter: B = 100 (1.1) = 110, cash 100 at 50/50
    (Japan 50, B = 60); then B = 66, cash 200: 132 clears it (Japan 66), 68 at 10% (6.8)."""
    w = ref.waterfall_reference([100.0, 0.0], [100.0, 200.0], 0.1, MOU)
    np.testing.assert_allclose(w.japan, [50.0, 66.0 + 6.8], rtol=1e-14)
    np.testing.assert_allclose(w.us, [50.0, 66.0 + 61.2], rtol=1e-14)
    np.testing.assert_allclose(w.deemed, [60.0, 0.0], rtol=1e-14)
    assert w.recoup_quarter == 1
    # three tiers: the second hurdle accrues 10% a quarter more (extra 40% a year): 120
    # after quarter 0's accrual, 70 after Japan's 50
    w3 = ref.waterfall_reference([100.0, 0.0], [100.0, 200.0], 0.1,
                                 [(0.5, 0.0), (0.3, 0.4), (0.1, 0.0)])
    np.testing.assert_allclose(w3.balances[0], [60.0, 70.0], rtol=1e-14)
    # quarter 1: B0 = 66, B1 = 84; 132 clears B0 (Japan 66, B1 = 18); 18 / 0.3 = 60 of the
    # remaining 68 clears B1 (Japan 18); 8 at 10% (Japan 0.8)
    np.testing.assert_allclose(w3.japan, [50.0, 66.0 + 18.0 + 0.8], rtol=1e-14)
    np.testing.assert_allclose(w3.balances[1], [0.0, 0.0], atol=1e-14)


# ---- properties of the kernel's split ----------------------------------------------------

shares_st = st.floats(0.0, 1.0, allow_nan=False)
balance_st = st.one_of(st.just(0.0), st.floats(0.0, 1e4, allow_nan=False, allow_subnormal=False))
cash_st = st.one_of(st.just(0.0), st.floats(0.0, 1e4, allow_nan=False, allow_subnormal=False))


@st.composite
def split_state(draw):
    n_tiers = draw(st.integers(1, 4))
    shares = draw(st.lists(shares_st, min_size=n_tiers, max_size=n_tiers))
    n_h = n_tiers - 1
    bal = draw(st.lists(balance_st, min_size=max(n_h, 1), max_size=max(n_h, 1)))
    if draw(st.booleans()):
        bal = sorted(bal)  # the states the engine reaches: B_t non-decreasing in t
    return shares, bal, draw(cash_st)


@given(split_state())
@settings(max_examples=400, deadline=None)
@example(([0.5, 0.1], [10.0], 30.0))
@example(([0.0, 0.1], [10.0], 30.0))
@example(([0.5, 0.3, 0.1], [10.0, 12.0], 1e4))
def test_kernel_split_conserves_cash_and_matches_reference(state):
    shares, bal, cash = state
    n_h = len(shares) - 1
    balances = np.array(bal, dtype=float)
    japan = waterfall_split(cash, np.array(shares, dtype=float), balances, n_h)
    us = cash - japan
    # cash conserved; Japan's part between 0 and the cash and at most the largest share
    assert abs((japan + us) - cash) <= 4 * np.spacing(max(cash, 1e-300))
    assert 0.0 <= japan <= cash
    assert japan <= max(shares) * cash * (1 + 1e-12)
    assert us >= 0.0
    # balances never rise, never go negative
    assert np.all(balances >= 0.0)
    assert np.all(balances <= np.array(bal) + 1e-12 * (1 + np.array(bal)))
    # the reference waterfall gives the same split and balances
    wf = ref.HurdleWaterfall([(s, 0.0) for s in shares], SPY)
    wf.B = [float(b) for b in bal]
    j2, u2 = wf.distribute(cash)
    assert japan == pytest.approx(j2, rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(balances, wf.B, rtol=1e-12, atol=1e-9)
    # a positive share on an outstanding first hurdle: Japan gets that share of the cash
    # up to clearing it, so at least min(share * cash, B_0)
    if n_h > 0 and bal[0] > 0 and shares[0] > 0:
        assert japan >= min(shares[0] * cash, bal[0]) * (1 - 1e-12)


@st.composite
def sequences(draw, max_q=24):
    n = draw(st.integers(1, max_q))
    amounts = st.one_of(st.just(0.0), st.floats(0.0, 200.0, allow_nan=False, allow_subnormal=False))
    contrib = draw(st.lists(amounts, min_size=n, max_size=n))
    if sum(contrib) == 0.0:
        contrib[0] = 100.0
    cash = draw(st.lists(amounts, min_size=n, max_size=n))
    return np.array(contrib), np.array(cash)


tiers_st = st.one_of(
    st.just(MOU), st.just(THREE), st.just(SINGLE_50),
    st.lists(st.tuples(shares_st, st.floats(0.0, 0.1)), min_size=1, max_size=4).map(
        # hurdle spreads must be non-decreasing
        lambda t: [(s, e) for (s, _), e in zip(t, sorted(x for _, x in t))]),
)


@given(sequences(), tiers_st, st.floats(0.0, 0.05), st.floats(0.0, 0.05))
@settings(max_examples=150, deadline=None)
def test_sequences_conserve_cash_and_higher_rate_never_recoups_earlier(seq, tiers, r_lo, dr):
    contrib, cash = seq
    lo = ref.waterfall_reference(contrib, cash, r_lo, tiers)
    hi = ref.waterfall_reference(contrib, cash, r_lo + dr, tiers)
    for w in (lo, hi):
        np.testing.assert_allclose(w.japan + w.us, cash, rtol=1e-15, atol=0)
        assert np.all(w.japan >= 0) and np.all(w.us >= 0)
        assert np.all(w.japan <= cash)
        assert w.japan.sum() <= cash.sum() * (1 + 1e-12)
    # a higher deemed rate: the deemed balance is never lower, so Japan never recoups earlier
    assert np.all(hi.deemed >= lo.deemed * (1 - 1e-12) - 1e-9)
    if hi.recoup_quarter >= 0:
        assert lo.recoup_quarter >= 0 and hi.recoup_quarter >= lo.recoup_quarter
    # the kernel agrees quarter by quarter on the same sequence
    t = ref.tier_list(tiers)
    shares = np.array([s for s, _ in t])
    extra_q = np.array([e / SPY for _, e in t[:-1]] or [0.0])
    n_h = len(t) - 1
    bal = np.zeros(max(n_h, 1))
    for k in range(len(cash)):
        bal += contrib[k]
        bal *= 1.0 + r_lo + (extra_q if n_h > 0 else 0.0)
        j = waterfall_split(cash[k], shares, bal, n_h) if cash[k] > 0 else 0.0
        assert j == pytest.approx(lo.japan[k], rel=1e-9, abs=1e-9)
        assert bal[0] == pytest.approx(lo.deemed[k], rel=1e-9, abs=1e-9)


@given(sequences(), st.sampled_from([MOU, THREE, SINGLE_10, [(0.1, 0.0), (0.6, 0.0)]]),
       st.lists(st.floats(0.0, 100.0, allow_nan=False), min_size=24, max_size=24))
@settings(max_examples=150, deadline=None)
def test_more_cash_never_lowers_japan_at_zero_rates(seq, tiers, bump):
    """With no interest on the hurdles (rates and extra spreads 0), raising any cash flows
    never lowers Japan's (undiscounted) receipts."""
    contrib, cash = seq
    tiers = [(s, 0.0) for s, _ in ref.tier_list(tiers)]
    more = cash + np.array(bump[:len(cash)])
    a = ref.waterfall_reference(contrib, cash, 0.0, tiers)
    b = ref.waterfall_reference(contrib, more, 0.0, tiers)
    assert b.japan.sum() >= a.japan.sum() * (1 - 1e-12) - 1e-9


@given(sequences(), st.sampled_from([MOU, SINGLE_50, [(0.2, 0.0), (0.6, 0.0)]]),
       st.floats(0.0, 0.1),
       st.lists(st.floats(0.0, 100.0, allow_nan=False), min_size=24, max_size=24))
@settings(max_examples=150, deadline=None)
def test_more_cash_never_lowers_japan_pv_at_the_deemed_rate(seq, tiers, r_ann, bump):
    """With a positive deemed rate, Japan's receipts discounted at that rate never fall when
    cash flows rise (the undiscounted total can: see the next test)."""
    contrib, cash = seq
    r = r_ann / SPY
    v = (1.0 + r) ** -np.arange(1, len(cash) + 1)
    more = cash + np.array(bump[:len(cash)])
    a = ref.waterfall_reference(contrib, cash, r, tiers)
    b = ref.waterfall_reference(contrib, more, r, tiers)
    assert (b.japan * v).sum() >= (a.japan * v).sum() * (1 - 1e-12) - 1e-9


def test_more_cash_can_lower_undiscounted_receipts_with_interest():
    """Not a property: with a 5% deemed rate, 5% more cash every quarter recoups earlier, so
    less later cash goes at 50/50 and Japan's undiscounted 30-year receipts fall
    (174.33 -> 172.72). Engine and reference agree."""
    n_q = 120
    contrib = np.zeros(n_q)
    contrib[0] = 100.0
    got, want = [], []
    for ey in (0.16, 0.168):
        w = ref.waterfall_reference(contrib, np.full(n_q, 100.0 * ey / SPY), 0.05 / SPY, MOU)
        want.append(w.japan.sum())
        res = run([equity(ey=ey, life=math.nan)], base_rate=0.05, horizon=30.0, paths=8)
        got.append(proj(res, "japan_receipts_mean"))
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert want[1] < want[0] - 1.0


def _pair(base, ds_lo, ds_hi, ey, vol, tiers, seed):
    """Two runs of the same project (same draws) with two deemed spreads."""
    row = dict(commitment=100.0, a=0, f=2, cy=0.25, life=4.0, ey=ey, vol=vol, w=0.4)
    lo = run([equity(ds=ds_lo, **row)], tiers=tiers, base_rate=base, horizon=4.0, seed=seed,
             cashflows={"sector_share": 0.4})
    hi = run([equity(ds=ds_hi, **row)], tiers=tiers, base_rate=base, horizon=4.0, seed=seed,
             cashflows={"sector_share": 0.4})
    return lo, hi


@given(st.floats(0.0, 0.06), st.floats(0.0, 0.05), st.floats(0.0, 0.1),
       st.floats(0.5, 1.5), st.floats(0.0, 0.8), st.sampled_from([MOU, THREE, SINGLE_50]),
       st.integers(0, 2**31))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_engine_higher_deemed_rate_never_recoups_earlier(base, ds_lo, dds, ey, vol, tiers, seed):
    lo, hi = _pair(base, ds_lo, ds_lo + dds, ey, vol, tiers, seed)
    assert proj(hi, "p_recoup") <= proj(lo, "p_recoup")
    d_lo, d_hi = jbic(lo, "deemed_outstanding"), jbic(hi, "deemed_outstanding")
    assert np.all(d_hi >= d_lo * (1 - 1e-12) - 1e-9)
    e_lo = lo.timeline["expected_deemed_balance"].to_numpy()
    e_hi = hi.timeline["expected_deemed_balance"].to_numpy()
    assert np.all(e_hi >= e_lo * (1 - 1e-12) - 1e-9)
    # Japan + US = the same cash on every path
    np.testing.assert_allclose(jbic(lo, "japan_receipts") + jbic(lo, "us_receipts"),
                               jbic(hi, "japan_receipts") + jbic(hi, "us_receipts"), rtol=1e-12)


@given(st.floats(0.3, 1.5), st.floats(1.0, 2.0), st.floats(0.0, 0.8),
       st.sampled_from([MOU, SINGLE_10, [{"japan_share": 0.1, "until": "deemed_allocation"},
                                         {"japan_share": 0.6}]]),
       st.integers(0, 2**31))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_engine_more_cash_never_lowers_japan(ey, scale, vol, tiers, seed):
    """Same project and draws, every cash flow scaled up (pd 0, rates 0): Japan's receipts
    never fall on any path, and Japan + US grows exactly by the scale."""
    row = dict(commitment=100.0, a=1, f=3, cy=0.25, life=3.0, vol=vol, w=0.4)
    a = run([equity(ey=ey, **row)], tiers=tiers, horizon=4.0, seed=seed)
    b = run([equity(ey=ey * scale, **row)], tiers=tiers, horizon=4.0, seed=seed)
    ja, jb = jbic(a, "japan_receipts"), jbic(b, "japan_receipts")
    assert np.all(jb >= ja * (1 - 1e-12) - 1e-9)
    tot_a = ja + jbic(a, "us_receipts")
    tot_b = jb + jbic(b, "us_receipts")
    np.testing.assert_allclose(tot_b, tot_a * scale, rtol=1e-12)
    assert np.all(ja <= tot_a * (1 + 1e-12))


# ---- defaults ------------------------------------------------------------------------------

def test_default_before_any_cash_pd_one():
    """pd 1: default in the approval quarter at the first cash call. U = C/f = 30, the
    recovery 0.6 x 30 = 18 goes 50/50 (the deemed balance 30 (1 + r) is far from
    cleared): credit_loss = 30 - 9 = 21."""
    res = run([equity(commitment=90.0, a=2, f=3, pd_=1.0, lgd=0.4, ds=0.02)], base_rate=0.03,
              horizon=3.0)
    np.testing.assert_allclose(jbic(res, "credit_loss"), 21.0, rtol=1e-12)
    np.testing.assert_allclose(jbic(res, "japan_receipts"), 9.0, rtol=1e-12)
    np.testing.assert_allclose(jbic(res, "us_receipts"), 9.0, rtol=1e-12)
    assert proj(res, "pd_simulated") == 1.0
    assert proj(res, "p_recoup") == 0.0
    # frozen deemed balance: 30 x (1 + 0.05 / 4) - 9 from quarter 2 on
    d = res.timeline["expected_deemed_balance"].to_numpy()
    np.testing.assert_allclose(d, [0.0, 0.0] + [30.0 * (1 + 0.05 / 4) - 9.0] * 10, rtol=1e-12)


def test_default_credit_loss_is_unreturned_minus_japans_recovery():
    """pd 0.3 (w 0.3), the MOU case (30 a quarter, rates 0). A default in quarter k after
    Japan has received R = sum of its receipts before k loses U = max(100 - R, 0) and
    recovers 0.6 U, of which Japan gets half while the deemed balance (= U) is open:
    credit_loss = U - 0.3 U. Default quarters from the oracle, path by path."""
    n, seed, lgd = 2000, 3, 0.4
    row = equity(pd_=0.3, w=0.3, lgd=lgd)
    res = run([row], paths=n, seed=seed)
    orc = ref.simulate_reference(pd.DataFrame([row]), ("s",), [[1.0]], n, seed, 3.0, SPY, 0.0,
                                 base_rate=0.0, tiers=MOU, irr=False)
    japan_nd = np.array([15.0] * 6 + [11.0] + [3.0] * 3 + [0.0, 0.0])
    cash_nd = np.array([30.0] * 10 + [0.0, 0.0])
    kdef = orc.default_quarter[:, 0]
    credit, japan, us = np.zeros(n), np.zeros(n), np.zeros(n)
    for p, k in enumerate(kdef):
        if k < 0:
            japan[p], us[p] = japan_nd.sum(), cash_nd.sum() - japan_nd.sum()
            continue
        r = japan_nd[:k].sum()
        u = max(100.0 - r, 0.0)
        rec = (1.0 - lgd) * u
        credit[p] = u - 0.5 * rec
        japan[p] = r + 0.5 * rec
        us[p] = cash_nd[:k].sum() - r + 0.5 * rec
    # the sample has defaults before any cash, mid-way, around and after the recoup
    for ks in ([0], [3, 4, 5], [6], [7, 8, 9, 10, 11], [-1]):
        assert np.isin(kdef, ks).any(), ks
    np.testing.assert_allclose(jbic(res, "credit_loss"), credit, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(orc.credit_loss[:, 0], credit, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jbic(res, "japan_receipts"), japan, rtol=1e-12)
    np.testing.assert_allclose(jbic(res, "us_receipts"), us, rtol=1e-12)
    np.testing.assert_allclose(jbic(res, "economic_loss"), 100.0 - japan, rtol=1e-12)
    assert proj(res, "expected_credit_loss") == pytest.approx(credit.mean(), rel=1e-12)
    assert proj(res, "pd_simulated") == (kdef >= 0).mean()
    # recoup: survivors and defaults from quarter 6 on (the deemed balance is 0 by then)
    assert proj(res, "p_recoup") == ((kdef < 0) | (kdef >= 7)).mean()


# ---- the cash timeline of a deterministic program -----------------------------------------

def test_timeline_of_deterministic_program():
    """pd 0, cf_vol 0: every path is the same, so every quantile of cumulative net cash is
    the hand-computed cumulative cash, and the expected deemed balance is the deterministic
    B path (summed over the equity exposures)."""
    horizon, n_q = 4.0, 16
    e1 = equity("E1", commitment=100.0, a=1, f=2, cy=0.5, life=2.5, ey=1.2, ds=0.06)
    e2 = equity("E2", commitment=100.0, ey=1.2)  # the MOU hand case
    loan = dict(project_id="L1", sector="s", institution="JBIC", instrument="loan",
                commitment_usd=200.0, pd_annual=0.0, lgd=0.4, factor_loading=0.0,
                approval_quarter=0, funding_quarters=1, tenor_years=2.0, amortization="linear",
                rate=0.06)
    gte = dict(project_id="G1", sector="s", institution="NEXI", instrument="guarantee",
               commitment_usd=100.0, pd_annual=0.0, lgd=0.4, factor_loading=0.0,
               approval_quarter=0, funding_quarters=1, tenor_years=2.0, amortization="bullet",
               rate=0.01, coverage=0.8)
    res = run([e1, e2, loan, gte], horizon=horizon, paths=300, discount_rate=0.05)
    # loan: 200 out at t_0, repaid 200/7 at the ends of quarters 1..7, coupon 1.5% a quarter
    loan_cf = np.zeros(n_q)
    loan_cf[0] = -200.0 + 200.0 * 0.015
    for k in range(1, 8):
        bal = 200.0 - 200.0 / 7 * (k - 1)
        loan_cf[k] = bal * 0.015 + 200.0 / 7
    # guarantee: premium 0.8 x 100 x 1% / 4 = 0.2 a quarter for quarters 0..7
    gte_cf = np.where(np.arange(n_q) < 8, 0.2, 0.0)
    # E2 by hand (rates 0); E1 (deemed 6% a year) by the reference waterfall
    e2_j = np.array([15.0] * 6 + [11.0] + [3.0] * 3 + [0.0] * 6)
    e2_c = np.zeros(n_q)
    e2_c[0] = 100.0
    e2_deemed = np.maximum(100.0 - np.cumsum(e2_j), 0.0)
    e1_c = np.zeros(n_q)
    e1_c[1:3] = 50.0
    e1_cash = np.zeros(n_q)
    e1_cash[3:13] = 30.0
    w1 = ref.waterfall_reference(e1_c, e1_cash, 0.06 / SPY, MOU)
    jbic_cf = loan_cf + (e2_j - e2_c) + (w1.japan - e1_c)
    want = {"JBIC": np.cumsum(jbic_cf), "NEXI": np.cumsum(gte_cf),
            "Japan": np.cumsum(jbic_cf + gte_cf)}
    tl = res.timeline
    assert tl["cumulative_net_cash"].attrs["paths"] == 300
    for inst, cum in want.items():
        got = tl["cumulative_net_cash"].sel(institution=inst).to_numpy()  # (quarter, quantile)
        np.testing.assert_allclose(got, cum[:, None].repeat(got.shape[1], axis=1), rtol=1e-12,
                                   atol=1e-9, err_msg=inst)
    np.testing.assert_allclose(tl["expected_deemed_balance"].to_numpy(), w1.deemed + e2_deemed,
                               rtol=1e-12, atol=1e-12)
    assert w1.recoup_quarter > 0 and w1.deemed[w1.recoup_quarter - 1] > 0
    # the reference simulation gives the same per-quarter net cash
    orc = ref.simulate_reference(pd.DataFrame([e1, e2, loan, gte]), ("s",), [[1.0]], 2, 11,
                                 horizon, SPY, 0.05, base_rate=0.0, tiers=MOU, irr=False)
    np.testing.assert_allclose(orc.cumulative_net_cash()[0], np.stack(list(want.values()), axis=1),
                               rtol=1e-12, atol=1e-9)

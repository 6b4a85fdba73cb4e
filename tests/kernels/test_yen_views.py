"""The yen views (``fx.view``, riskengine/yen_views.py): what ``economic_loss_jpy``
converts at each step's USD/JPY. Checked against independent references: the loan's
margin over its funding cost written from the rate and the balance, USD/JPY recomputed
from the NumPy oracle's streams (tests/reference.py), the lognormal closed form, and the
identity ``sum_q f_q = -economic_loss`` path by path in the kernel's own work arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskengine
from riskengine._kernels import engine
from riskengine._kernels.bundles import BlockSpan
from riskengine.codes import Instrument
from riskengine.config import apply_overrides, load_config
from riskengine.errors import ConfigError
from riskengine.schedules import build_schedules, discounted_flows
from riskengine.simulate import NO_REPLAY, allocate
from riskengine.yen_views import YEN_VIEWS, converted_flows, principal_and_funding

from .. import reference as ref
from ..conftest import homogeneous_frame, make_config, make_portfolio, mixed_frame

VIEWS = ("funding_matched", "unhedged")
SPOT, VOL = 150.0, 0.1


def _loans(cfg):
    """The mixed program's rows with more loan shapes: fixed and floating, bullet and
    linear, one held at the horizon, one approved late."""
    df = mixed_frame()
    more = df[df["instrument"] == "loan"].copy()
    more["project_id"] = "F-" + more["project_id"]
    more["rate_type"] = "floating"
    more["rate"] = 0.02  # a margin over the base rate
    more["approval_quarter"] = [5, 0, 12]
    df["rate_type"] = "fixed"
    return pd.concat([df, more], ignore_index=True)


# ---- the flows each view converts (Python) ----------------------------------------------
def test_the_views_are_the_config_values_default_first():
    assert list(YEN_VIEWS) == ["funding_matched", "unhedged"]
    assert load_config({"fx": {}}).fx.view == "funding_matched"
    with pytest.raises(ConfigError, match=r"fx\.view"):
        load_config({"fx": {"view": "hedged"}})


def test_unhedged_converts_the_cash_bit_for_bit():
    cfg = make_config(("a", "b"), horizon_years=5.0, discount_rate=0.04, base_rate=0.03)
    pf = make_portfolio(_loans(cfg), cfg)
    sched = build_schedules(pf, 20, 4, 0.04, 0.03)
    got = converted_flows(YEN_VIEWS["unhedged"], pf.instrument_index, sched)
    np.testing.assert_array_equal(got, discounted_flows(sched))


@pytest.mark.parametrize("discount_rate", [0.0, 0.04, 0.09])
def test_funding_matched_converts_the_margin_over_the_funding_cost(discount_rate):
    """A surviving loan's funding-matched flow of step q is its balance times its coupon
    rate less the funding (discount) rate, paid at the step's end: ``B_q (c - r) / 4
    d^e_q``; the principal and its funding (``H``) sum to 0 over the steps, so the flows
    sum to the loan's NPV; guarantees and equity rows are left as their cash."""
    cfg = make_config(("a", "b"), horizon_years=5.0, discount_rate=discount_rate,
                      base_rate=0.03)
    pf = make_portfolio(_loans(cfg), cfg)
    sched = build_schedules(pf, 20, 4, discount_rate, 0.03)
    kind = pf.instrument_index
    loan = kind == Instrument.LOAN
    coupon = pf.col("rate") + np.where(pf.col("rate_type") == "floating", 0.03, 0.0)
    want = sched.balance * ((coupon - discount_rate) / 4)[:, None] * sched.df_end
    got = converted_flows(YEN_VIEWS["funding_matched"], kind, sched)
    scale = pf.col("commitment_usd")[:, None]
    np.testing.assert_allclose(got[loan] / scale[loan], want[loan] / scale[loan],
                               rtol=0, atol=1e-13)
    np.testing.assert_array_equal(got[~loan], discounted_flows(sched)[~loan])
    h = principal_and_funding(sched)[loan]
    np.testing.assert_allclose(h.sum(axis=1) / scale[loan, 0], 0.0, atol=1e-14)
    np.testing.assert_allclose(got.sum(axis=1), sched.npv_if_survives, rtol=1e-13, atol=1e-12)
    # H is the principal exchange plus the funding accrual, written out: draws at step
    # starts, repayments (the end cash less the coupon) at step ends, the balance held at
    # the horizon returned there, r/4 on the balance for each step it is outstanding
    repaid = sched.cash_end - sched.balance * (coupon / 4)[:, None]
    direct = (-sched.draws * sched.df_start + repaid * sched.df_end
              + sched.balance * (discount_rate / 4) * sched.df_end)
    direct[:, -1] += sched.terminal
    np.testing.assert_allclose(h / scale[loan], direct[loan] / scale[loan], rtol=0, atol=1e-13)


# ---- the identity in the kernel, path by path -------------------------------------------
@pytest.fixture(scope="module", params=VIEWS)
def program(request):
    """Loans (fixed and floating on a stochastic base rate), guarantees, equity with
    overruns, a pipeline of conditional units, recovery lags, USD/JPY."""
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=256, horizon_years=5.0,
                      discount_rate=0.04, base_rate=0.03,
                      outputs={"timeline_paths": 4, "irr_paths": 4})
    cfg = apply_overrides(cfg, {"fx": {"volatility": VOL, "view": request.param},
                                "rates": {"model": "vasicek", "volatility": 0.01}})
    df = _loans(cfg)
    df["pd_annual"] *= 4  # defaults on many paths
    df["recovery_lag_quarters"] = [0, 3, 0, 2, 0, 0, 1, 0, 30]
    df["overrun_sd"] = np.where(df["instrument"] == "equity", 0.3, 0.0)
    pipe = df.copy()
    pipe["project_id"] = "P-" + pipe["project_id"]
    pipe["approval_quarter"] = 2
    pipe["selection_prob"] = 0.6
    return riskengine.build_model(cfg, make_portfolio(pd.concat([df, pipe]), cfg))


def test_the_converted_flows_sum_to_the_dollar_economic_loss_on_every_path(program):
    """``sum_q f_q = -economic_loss`` and ``economic_loss_jpy = -sum_q X_q f_q`` per path
    and institution, read from the kernel's work arrays after each path."""
    m = program.inputs
    out, acc, sampled = allocate(program, 1)
    scratch = engine.new_scratch(m.copula, m.exposures, m.schedules, m.waterfall, m.sampler,
                                 m.program, out)
    scale = program.deployment.portfolio.col("commitment_usd").sum()
    n_defaulted = 0
    for path in range(256):
        acc.defaults[:] = 0.0
        engine.simulate_block(BlockSpan(path, 1, 1, NO_REPLAY), 0, *m, out, acc, sampled,
                              scratch)
        n_defaulted += acc.defaults.sum() > 0
        f = scratch.pv_by_step
        econ = scratch.economic_by_institution
        np.testing.assert_allclose(f.sum(axis=1), -econ, rtol=0, atol=1e-12 * scale)
        np.testing.assert_array_equal(out.economic_loss[0], econ)
        yen = -(f * scratch.fx_path).sum(axis=1)
        np.testing.assert_allclose(out.economic_loss_jpy[0], yen, rtol=0,
                                   atol=1e-10 * SPOT * scale)
    assert n_defaulted > 50


# ---- end to end: when a loss is converted, and how much the yen figures move ------------
def _usd_jpy(cfg, model, n_paths):
    """X_q per path from the NumPy oracle's streams (factor_correlation 0: the own
    Brownian motion alone)."""
    p = model.inputs.program
    t = np.asarray(p.step_time)
    x = np.empty((n_paths, len(t)))
    for path in range(n_paths):
        pk = ref.path_key(int(p.fx_key), path)
        w = np.cumsum(np.sqrt(np.diff(t, prepend=0.0)) * [ref.normal(pk, q) for q in range(len(t))])
        x[path] = SPOT * np.exp(VOL * w - 0.5 * VOL**2 * t)
    return x


def _certain_default_case(case, view):
    """One row defaulting with certainty in step 4 (no default risk while it is built, a PD
    of 1 after): its frame, its config, and the discounted flow of each step the view
    converts, written by hand."""
    r = 0.04
    cfg = make_config(("a",), paths=512, horizon_years=3.0, discount_rate=r,
                      fx={"usd_jpy": SPOT, "volatility": VOL, "factor_correlation": 0.0,
                          "view": view})
    df = homogeneous_frame(n=1, pd_annual=1.0, sector="a", commitment=100.0, lgd=0.4)
    df["pd_construction"], df["construction_years"] = 0.0, 1.0
    df["approval_quarter"], df["funding_quarters"] = 0, 1
    df["tenor_years"], df["amortization"], df["rate"] = 2.0, "bullet", 0.08
    d_s, d_e = (1 + r / 4) ** -np.arange(12.0), (1 + r / 4) ** -np.arange(1.0, 13.0)
    f = np.zeros(12)
    if case == "loan":  # drawn in step 0, coupons to step 3, 60 recovered at step 4's end
        if view == "unhedged":
            f[0] -= 100.0 * d_s[0]
            f[:4] += 2.0 * d_e[:4]
            f[4] += 60.0 * d_e[4]
        else:  # the margin over the funding cost, then the write-off and step 4's funding
            f[:4] += 100.0 * (0.02 - r / 4) * d_e[:4]
            f[4] += 60.0 * d_e[4] - 100.0 * d_s[4]
    else:  # a guarantee: premiums to step 3, pays its cover in step 4, recovers 3 later
        df["institution"], df["instrument"], df["coverage"] = "NEXI", "guarantee", 0.9
        df["rate"], df["recovery_lag_quarters"] = 0.01, 3
        f[:4] += 90.0 * 0.0025 * d_e[:4]
        f[4] -= 90.0 * d_e[4]
        f[7] += 54.0 * d_e[7]
    return df, cfg, f


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("case", ["loan", "guarantee"])
def test_a_loss_in_step_q_is_converted_at_usd_jpy_of_step_q(case, view):
    df, cfg, f = _certain_default_case(case, view)
    model = riskengine.build_model(cfg, make_portfolio(df, cfg))
    res = riskengine.run_model(model)
    inst = "NEXI" if case == "guarantee" else "JBIC"
    usd = res.paths["economic_loss"].sel(institution=inst).values
    np.testing.assert_allclose(usd, -f.sum(), rtol=1e-12)
    x = _usd_jpy(cfg, model, 512)
    jpy = res.paths["economic_loss_jpy"].sel(institution=inst).values
    np.testing.assert_allclose(jpy, -(x @ f), rtol=1e-11)


def _sure_loan(view, paths=16_384):
    """A five-year bullet loan at 6% that never defaults, funded at 4%."""
    cfg = make_config(("a",), paths=paths, horizon_years=5.0, discount_rate=0.04,
                      fx={"usd_jpy": SPOT, "volatility": 0.094, "factor_correlation": 0.3,
                          "view": view})
    df = homogeneous_frame(n=1, pd_annual=0.0, sector="a", commitment=100.0)
    df["tenor_years"], df["amortization"], df["rate"] = 5.0, "bullet", 0.06
    return cfg, riskengine.run_model(riskengine.build_model(cfg, make_portfolio(df, cfg)))


def test_a_loan_that_never_defaults_is_spot_times_its_margin_in_yen():
    """Funding-matched: mean spot x the dollar economic loss, SD the margin's (the
    lognormal closed form of ``-sum_q X_q f_q`` with ``f_q = 100 (6% - 4%) / 4 d^e_q``);
    unhedged: the principal's, over ten times larger."""
    cfg, fm = _sure_loan("funding_matched")
    _, unh = _sure_loan("unhedged")
    usd = fm.paths["economic_loss"].sel(institution="JBIC").values
    np.testing.assert_array_equal(usd, unh.paths["economic_loss"].sel(institution="JBIC").values)
    jpy = fm.paths["economic_loss_jpy"].sel(institution="JBIC").values
    d_e = 1.01 ** -np.arange(1.0, 21.0)
    f = 100.0 * 0.005 * d_e
    assert usd[0] == pytest.approx(-f.sum(), rel=1e-12)
    t, vol, rho = np.arange(1, 21) / 4, 0.094, 0.3
    cov_log = vol**2 * (rho**2 * np.sqrt(np.outer(t, t)) + (1 - rho**2) * np.minimum.outer(t, t))
    sd = SPOT * np.sqrt(f @ (np.exp(cov_log) - 1) @ f)
    assert jpy.mean() == pytest.approx(SPOT * usd[0], abs=4 * sd / np.sqrt(len(jpy)))
    assert jpy.std() == pytest.approx(sd, rel=0.03)
    unhedged_sd = unh.paths["economic_loss_jpy"].sel(institution="JBIC").values.std()
    assert unhedged_sd > 10 * jpy.std()
    # each view is named where the yen figures are
    assert fm.paths["economic_loss_jpy"].attrs["fx_view"] == "funding_matched"
    assert "funding_matched" in fm.basis()["economic_loss_jpy"]
    assert unh.meta["yen_view"]["view"] == "unhedged"

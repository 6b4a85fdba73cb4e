"""The per-path stages one by one (riskengine/_kernels/engine.py's module docstring), each
called as compiled on a tiny case and checked against a pure-Python twin written here from
the model's definitions, with the NumPy oracle's random streams (tests/reference.py).
The instrument rules of the kernels are held equal to the Python ones on every
instrument."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

import riskengine
from riskengine import instruments
from riskengine._kernels import accumulation, default_times, engine, lgd, path_draws, program, yen
from riskengine._kernels import instruments as kernel_instruments
from riskengine._kernels.bundles import BlockSpan
from riskengine._kernels.defaults import idio_uniform
from riskengine.codes import Instrument
from riskengine.config import apply_overrides
from riskengine.simulate import NO_REPLAY, allocate

from .. import reference as ref
from ..conftest import make_config, make_portfolio, mixed_frame

REGIMES = [
    {"name": "calm", "probability": 0.6},
    {"name": "stress", "probability": 0.3, "pd_multiplier": 2.0, "selection_multiplier": 1.4,
     "decline_multiplier": 0.5},
    {"name": "retreat", "probability": 0.1, "selection_multiplier": 0.4,
     "decline_multiplier": 5.0},
]


@pytest.fixture(scope="module")
def model():
    """A mixed program (loans, guarantees, equity) with a pipeline of conditional units,
    three regimes and USD/JPY."""
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=2048, horizon_years=5.0,
                      discount_rate=0.04, outputs={"timeline_paths": 64, "irr_paths": 64})
    cfg = apply_overrides(cfg, {"regimes": REGIMES, "fx": {"volatility": 0.1}})
    df = mixed_frame()
    pipe = df.copy()
    pipe["project_id"] = "P-" + pipe["project_id"]
    pipe["approval_quarter"] = 2
    pipe["selection_prob"] = 0.55
    pipe["decline_prob"] = 0.3
    return riskengine.build_model(cfg, make_portfolio(pd.concat([df, pipe]), cfg))


def _scratch(model, out):
    m = model.inputs
    return engine.new_scratch(m.copula, m.exposures, m.schedules, m.waterfall, m.sampler,
                              m.program, out)


# ---- the instrument rules ----------------------------------------------------------------
@pytest.mark.parametrize("kind", [Instrument.LOAN, Instrument.GUARANTEE])
def test_kernel_instrument_rules_equal_the_python_ones(kind):
    rng = np.random.default_rng(int(kind))
    df_end = (1.0 + 0.045 / 4) ** -np.arange(1.0, 41.0)
    for _ in range(100):
        k = int(rng.integers(0, 40))
        loss_given_default, coverage = rng.uniform(0, 1), rng.uniform(0.5, 1)
        ead, pv_before, draw = rng.uniform(0, 1e9), rng.uniform(-1e9, 1e8), -rng.uniform(0, 1e8)
        args = (kind, k, loss_given_default, 0, coverage, ead, pv_before, draw, 1.0, df_end)
        now = kernel_instruments.debt_default_for_test(*args)
        credit, npv = instruments.default_outcome(np.array([kind]), k, loss_given_default,
                                                  coverage, ead, pv_before, df_end)
        assert (now.credit_loss, now.npv) == (credit[0], npv[0])
        # the institution's share of a recovery, its loss per default
        share = instruments.share(np.array([kind]), coverage)[0]
        assert now.credit_loss == pytest.approx(share * loss_given_default * ead, rel=1e-15)
        assert now.cash_at_default == pytest.approx(draw + (1 - loss_given_default) * ead
                                                    if kind == Instrument.LOAN
                                                    else draw - share * loss_given_default * ead)
        # a recovery four steps later costs R d_k (1 - d^4) and moves the cash, not the loss
        later = kernel_instruments.debt_default_for_test(kind, k, loss_given_default, 4,
                                                         *args[4:])
        recovery = share * (1 - loss_given_default) * ead
        assert later.credit_loss == now.credit_loss
        assert later.npv == pytest.approx(
            now.npv - recovery * df_end[k] * (1 - df_end[0] ** 4), rel=1e-12, abs=1e-6)
        assert later.recovery_later == pytest.approx(recovery)
        assert later.cash_at_default + later.cash_later == pytest.approx(now.cash_at_default)


def test_schedules_cash_follows_the_instrument_rules():
    """A guarantee puts nothing in and earns its premium on the covered balance; a loan
    draws out and earns interest plus repayments; equity calls capital."""
    kind = np.array([Instrument.LOAN, Instrument.GUARANTEE, Instrument.EQUITY])
    draws = np.array([[10.0, 0.0], [10.0, 0.0], [10.0, 5.0]])
    balance = np.array([[10.0, 10.0], [10.0, 8.0], [10.0, 15.0]])
    repay = np.array([[0.0, 2.0], [0.0, 2.0], [0.0, 0.0]])
    rate = np.array([0.01, 0.01, 0.0])
    coverage = np.array([1.0, 0.9, 1.0])
    np.testing.assert_array_equal(instruments.start_cash(kind, draws),
                                  [[-10, 0], [0, 0], [-10, -5]])
    np.testing.assert_allclose(instruments.end_cash(kind, balance, rate, repay, coverage),
                               [[0.1, 2.1], [0.09, 0.072], [0, 0]])
    np.testing.assert_array_equal(instruments.held_at_horizon(kind, np.full(3, 8.0), 0.5),
                                  [4.0, 0.0, 0.0])


# ---- path draws ----------------------------------------------------------------------------
def test_draw_regime_twin(model):
    m = model.inputs
    cum = m.sampler.regime_cum
    for path in range(300):
        u = ref.uniform(ref.path_key(int(m.program.regime_key), path), 0)
        want = min(int(np.searchsorted(cum, u, side="right")), len(cum) - 1)
        assert path_draws.draw_regime(path, m.program, m.sampler) == (want, 1.0)


def test_draw_factors_twin(model):
    m = model.inputs
    out, _, _ = allocate(model, 1)
    scratch = _scratch(model, out)
    plan = engine.plan_block(BlockSpan(0, 1, 1, NO_REPLAY), m, out, scratch)
    for path in range(50):
        tilted, log_ratio = path_draws.draw_factors(path, 0, plan, m, scratch)
        pk = ref.path_key(int(m.copula.factor_key), path)
        z = np.array([ref.normal(pk, j) for j in range(2)])
        np.testing.assert_allclose(scratch.sector_factor, m.copula.root @ z, rtol=1e-14)
        assert (tilted, log_ratio) == (False, 0.0)


def test_default_screen_bounds_every_group(model):
    """No exposure defaults above the screen: it is at least every group's conditional
    PD by the horizon, Phi((thr - w S) / sqrt(1 - w^2))."""
    m = model.inputs
    out, _, _ = allocate(model, 1)
    scratch = _scratch(model, out)
    plan = engine.plan_block(BlockSpan(0, 1, 1, NO_REPLAY), m, out, scratch)
    c = m.copula
    for path in range(50):
        path_draws.draw_factors(path, 1, plan, m, scratch)
        scale, u_screen = path_draws.default_screen(path, 1, plan, m, scratch)
        w = c.group_loading
        thr = c.group_threshold[1][np.arange(len(w)), c.group_steps_at_risk - 1]
        pd_h = special.ndtr((thr - w * scratch.sector_factor[c.group_sector]) / np.sqrt(1 - w**2))
        assert scale == 1.0 and u_screen >= pd_h.max()


# ---- the program -------------------------------------------------------------------------
def test_select_units_twin(model):
    """Each unit's state and timing, path by path, from the probabilities the Python side
    uses (kernel_inputs.presence) and the unit's own stream; its selection normal."""
    m, d = model.inputs, model.deployment
    out, _, _ = allocate(model, 1)
    scratch = _scratch(model, out)
    assert len(d.unit_selection) > 0
    for path in range(200):
        regime = path % 3
        program.select_units(path, regime, m.program, scratch)
        for u in range(len(d.unit_selection)):
            key = ref.path_key(int(m.program.unit_key[u]), path)
            sel = d.unit_selection[u]
            if d.unit_pipeline[u]:
                sel = min(1.0, sel * REGIMES[regime].get("selection_multiplier", 1.0))
            dec = 1.0 if d.unit_forced[u] else min(
                1.0, d.unit_decline[u] * REGIMES[regime].get("decline_multiplier", 1.0))
            state = 0
            # (results version 2: the selection normal against Phi^-1 of the probability)
            if sel >= 1.0 or ref.normal(key, 0) < special.ndtri(sel):
                state = 2 if dec > 0 and ref.uniform(key, 2) < dec else 1
            assert scratch.unit_state[u] == state, (path, u)
            assert scratch.unit_selection_z[u] == ref.normal(key, 0)
            timing = ref.uniform(key, 1) if d.unit_pipeline[u] else 0.5
            assert scratch.unit_time[u] == timing


def test_selection_rules_are_the_kernels():
    assert program.selection_probability(0.5, True, 1.4) == 0.7
    assert program.selection_probability(0.5, False, 1.4) == 0.5
    assert program.selection_probability(0.9, True, 2.0) == 1.0
    assert program.decline_probability(0.3, False, 5.0) == 1.0
    assert program.decline_probability(0.3, False, 0.5) == 0.15
    assert program.decline_probability(0.0, True, 0.0) == 1.0


# ---- default times, loss given default -----------------------------------------------------
def test_default_times_twin(model):
    """The rows a path visits and their default steps: a row defaults at the first step
    whose conditional cumulative PD reaches its uniform (a pipeline obligor's: Phi of its
    latent normal)."""
    m = model.inputs
    out, _, sampled = allocate(model, 1)
    scratch = _scratch(model, out)
    plan = engine.plan_block(BlockSpan(0, 1, 1, NO_REPLAY), m, out, scratch)
    c, e = m.copula, m.exposures
    n_defaults = 0
    for path in range(200):
        path_draws.draw_factors(path, 0, plan, m, scratch)
        scale, u_screen = path_draws.default_screen(path, 0, plan, m, scratch)
        ctx = accumulation.path_context(path, 0, False, scale, u_screen, 0.0, sampled)
        program.select_units(path, 0, m.program, scratch)
        n_visit = default_times.find_defaults(ctx, plan, m, scratch)[0]
        visits = dict(zip(scratch.visit_row[:n_visit], scratch.visit_step[:n_visit]))
        for p, k in visits.items():
            g = e.group[p]
            u = idio_uniform(e.default_key[p], path)
            if m.program.latent_row[p]:  # (its latent normal drawn itself: u = Phi(z))
                u = special.ndtr(ref.normal(ref.path_key(int(e.default_key[p]), path), 0))
            x = (c.group_threshold[0][g] - c.group_loading[g] * scratch.sector_factor[
                c.group_sector[g]]) / c.group_idio_sd[g]
            cum = special.ndtr(x[:c.group_steps_at_risk[g]])
            j = int(np.searchsorted(cum, u))  # first step with cum >= u
            want = e.approval_step[p] + j if j < len(cum) else -1
            assert k == want, (path, p)
            n_defaults += k >= 0
    assert n_defaults > 0


def test_cyclical_lgd_twin():
    rng = np.random.default_rng(3)
    for _ in range(50):
        mean, b, s = rng.uniform(0.05, 0.95), rng.uniform(0, 1), rng.normal()
        offset = special.ndtri(mean) * math.sqrt(1 + b * b)
        got = lgd.cyclical_lgd(np.uint64(1), 0, offset, b, s, 0.0)
        assert got == pytest.approx(special.ndtr(offset - b * s), rel=1e-14)


# ---- yen, weights ---------------------------------------------------------------------------
def test_usd_jpy_path_twin(model):
    m = model.inputs
    p = m.program
    n_q = len(p.step_time)
    fx_path, fx_gap = np.zeros(n_q), np.zeros(n_q + 1)
    factor = np.array([0.3, -1.2])
    yen.fx_for_path(11, p.fx_key, p.fx_spot, p.fx_vol, p.fx_loading, p.common_weights, factor,
                    p.step_time, m.schedules.df_end, fx_path, fx_gap)
    pk = ref.path_key(int(p.fx_key), 11)
    w = np.cumsum(np.sqrt(np.diff(p.step_time, prepend=0.0))
                  * [ref.normal(pk, q) for q in range(n_q)])
    x = (p.fx_loading * np.sqrt(p.step_time) * (p.common_weights @ factor)
         + math.sqrt(1 - p.fx_loading**2) * w)
    want = p.fx_spot * np.exp(p.fx_vol * x - 0.5 * p.fx_vol**2 * p.step_time)
    np.testing.assert_allclose(fx_path, want, rtol=1e-13)
    np.testing.assert_allclose(np.diff(fx_gap), (want - p.fx_spot) * m.schedules.df_end,
                               rtol=1e-12)


def test_path_weight_is_the_defensive_mixture_ratio(model):
    m = model.inputs
    out, _, _ = allocate(model, 1)
    plan = engine.plan_block(BlockSpan(0, 1, 1, NO_REPLAY), m, out, _scratch(model, out))
    assert accumulation.path_weight(0.7, 2.0, 0.1, 0.3, 0.5, plan, m.sampler) == 1.0
    on = plan._replace(is_on=True)
    a = m.sampler.plain_share
    want = 0.5 / (a + (1 - a) * math.exp(0.7 + 0.1 * 2.0 - 0.3))
    assert accumulation.path_weight(0.7, 2.0, 0.1, 0.3, 0.5, on, m.sampler) == pytest.approx(
        want, rel=1e-15)

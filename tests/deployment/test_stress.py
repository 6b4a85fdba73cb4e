"""Scenarios as stresses of the factor model (riskengine/stress.py, docs/model.md
"Scenarios"): a sector shift moves the correlated sectors by their conditional mean, and
``sector_value`` fixes a factor and draws the others from their conditional law. The
references are written here from the definitions (numpy's closed forms, Vasicek), never
from riskengine.stress."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

import riskengine
from riskengine._kernels import engine, path_draws
from riskengine._kernels.bundles import BlockSpan
from riskengine.config import apply_overrides, load_config
from riskengine.dependence import factor_root
from riskengine.errors import ConfigError
from riskengine.simulate import NO_REPLAY, allocate
from riskengine.stress import describe

from .. import reference as ref
from ..conftest import homogeneous_frame, make_config, make_portfolio

CORR3 = [[1.0, 0.6, 0.3], [0.6, 1.0, 0.5], [0.3, 0.5, 1.0]]


def _model(cfg, df, scenario):
    return riskengine.build_model(cfg, make_portfolio(df, cfg), scenario)


def _book3(**sim):
    cfg = make_config(("a", "b", "c"), CORR3, paths=4096, horizon_years=3.0, **sim)
    df = pd.concat([homogeneous_frame(n=20, pd_annual=0.03, w=0.5, sector=s, prefix=s.upper())
                    for s in "abc"])
    return cfg, df


def _with(cfg, **scenario):
    cfg = apply_overrides(cfg, {"scenarios": [{"name": "x", **scenario}]})
    return cfg, cfg.scenarios[0]


# ---- the shift vector ----------------------------------------------------------------------
def test_a_propagated_shift_is_the_conditional_mean_of_the_others():
    """The shipped energy_bust on the shipped correlation: every other sector moves by
    C_oS C_SS^-1 s."""
    shipped = load_config(None)
    c = np.asarray(shipped.dependence.correlation)
    sectors = list(shipped.dependence.sectors)
    bust = next(s for s in shipped.scenarios if s.name == "energy_bust")
    named = [sectors.index(n) for n in bust.sector_shift]
    s = np.array(list(bust.sector_shift.values()))
    want = np.zeros(len(sectors))
    others = [i for i in range(len(sectors)) if i not in named]
    want[others] = c[np.ix_(others, named)] @ np.linalg.solve(c[np.ix_(named, named)], s)
    want[named] = s
    cfg = make_config(sectors, c)
    got = _model(cfg, homogeneous_frame(n=5, sector=sectors[0]), bust).inputs.program.factor_shift
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert (got[named] == s).all()  # the named means exactly
    assert (got[others] < -0.6).all()  # every sector correlates at least 0.3 with energy


def test_without_propagate_a_shift_moves_the_named_sectors_only_and_keeps_the_root():
    cfg, df = _book3()
    cfg, sc = _with(cfg, sector_shift={"b": -1.5}, propagate=False)
    m = _model(cfg, df, sc)
    # today's kernel inputs, to the bit: the shift on b alone and the correlation's root
    np.testing.assert_array_equal(m.inputs.program.factor_shift, [0.0, -1.5, 0.0])
    np.testing.assert_array_equal(m.inputs.copula.root, factor_root(np.asarray(CORR3)))
    base = _model(cfg, df, None)
    np.testing.assert_array_equal(m.inputs.copula.root_row_end,
                                  base.inputs.copula.root_row_end)
    np.testing.assert_array_equal(m.inputs.cash.innovation_root, base.inputs.copula.root)


def test_a_propagated_shift_moves_the_correlated_sector_by_the_vasicek_amount():
    """Two sectors, correlation 0.4, a shifts by -2: b's factor is N(-0.8, 1), so its
    one-year default rate is Phi(Phi^-1(p) + 0.8 w) (and without propagate, p)."""
    w, p, rho = 0.5, 0.03, 0.4
    cfg = make_config(("a", "b"), [[1, rho], [rho, 1]], paths=16_384, horizon_years=1.0)
    df = pd.concat([homogeneous_frame(n=50, pd_annual=p, w=w, sector="a"),
                    homogeneous_frame(n=50, pd_annual=p, w=w, sector="b", prefix="Q")])
    for propagate, mean_b in ((True, -2.0 * rho), (False, 0.0)):
        cfg2, sc = _with(cfg, sector_shift={"a": -2.0}, propagate=propagate)
        res = riskengine.run_model(_model(cfg2, df, sc))
        pds = res.projects["pd_simulated"]
        got_a = float(pds.where(res.projects.sector == "a", drop=True).mean())
        got_b = float(pds.where(res.projects.sector == "b", drop=True).mean())
        assert got_a == pytest.approx(special.ndtr(special.ndtri(p) + 2.0 * w), rel=0.05)
        assert got_b == pytest.approx(special.ndtr(special.ndtri(p) - w * mean_b), rel=0.07)


# ---- a fixed factor ------------------------------------------------------------------------
def _draws(model, n_paths, yearly):
    """The kernels' sector factors (K, n) (static) or factor paths (K, Y, n) (ar1)."""
    m = model.inputs
    out, _, _ = allocate(model, 1)
    scratch = engine.new_scratch(m.copula, m.exposures, m.schedules, m.waterfall, m.sampler,
                                 m.program, out)
    plan = engine.plan_block(BlockSpan(0, 1, 1, NO_REPLAY), m, out, scratch)
    got = []
    for path in range(n_paths):
        path_draws.draw_factors(path, 0, plan, m, scratch)
        if yearly:
            path_draws.default_screen(path, 0, plan, m, scratch)
            got.append(scratch.factor_path.copy())
        else:
            got.append(scratch.sector_factor.copy())
    return np.stack(got, axis=-1)


@pytest.mark.parametrize("yearly", [False, True])
def test_a_fixed_factor_has_no_variance_and_the_others_their_conditional_law(yearly):
    c = np.asarray(CORR3)
    dynamics = {"factor_dynamics": "ar1", "factor_persistence": 0.8} if yearly else {}
    cfg, df = _book3()
    cfg = apply_overrides(cfg, {"dependence": dynamics}) if yearly else cfg
    cfg, sc = _with(cfg, sector_value={"b": -1.5})
    s = _draws(_model(cfg, df, sc), 20_000, yearly)
    if yearly:
        assert s.shape[1] == 3
        np.testing.assert_allclose(s[1], -1.5, rtol=1e-12)  # fixed in every year
    else:
        assert (s[1] == -1.5).all()  # exactly, on every path
    # given S_b = v: S_o ~ N(C_ob v, C_oo - C_ob C_bo), for a and c
    mean = c[:, 1] * -1.5
    cov = c - np.outer(c[:, 1], c[:, 1])
    draws = s.reshape(3, -1, s.shape[-1]) if yearly else s[:, None, :]
    n = s.shape[-1]
    for year in range(draws.shape[1]):
        x = draws[:, year, :]
        for o in (0, 2):
            se = np.sqrt(cov[o, o] / n)
            assert abs(x[o].mean() - mean[o]) < 4.5 * se
            assert x[o].var() == pytest.approx(cov[o, o], rel=4.5 * np.sqrt(2.0 / n))
        got = np.cov(x[[0, 2]])[0, 1]
        assert got == pytest.approx(cov[0, 2], abs=4.5 * np.sqrt(
            (cov[0, 0] * cov[2, 2] + cov[0, 2] ** 2) / n))


def test_a_fixed_factor_keeps_the_paths_normals():
    """The conditional draw is the base draw regressed on the fixed factor:
    S_o = L_o z + C_ob (v - L_b z), the same normals z as the base case."""
    cfg, df = _book3()
    cfg, sc = _with(cfg, sector_value={"b": 0.7})
    m = _model(cfg, df, sc).inputs
    c, root = np.asarray(CORR3), factor_root(np.asarray(CORR3))
    s = _draws(_model(cfg, df, sc), 20, False)
    for path in range(20):
        pk = ref.path_key(int(m.copula.factor_key), path)
        z = np.array([ref.normal(pk, j) for j in range(3)])
        base = root @ z
        want = base + c[:, 1] * (0.7 - base[1])
        np.testing.assert_allclose(s[:, path], want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("importance_sampling", [False, True])
def test_a_one_sector_book_at_a_fixed_factor_has_the_conditional_vasicek_loss(
        importance_sampling):
    """EL = sum EAD LGD Phi((Phi^-1(PD) - w v) / sqrt(1 - w^2)) over one year, bullet loans
    fully drawn (EAD = commitment)."""
    w, p, v, n, lgd = 0.6, 0.02, -2.0, 200, 0.45
    cfg = make_config(("s",), paths=8192, horizon_years=1.0,
                      importance_sampling={"enabled": importance_sampling})
    df = homogeneous_frame(n=n, pd_annual=p, w=w, lgd=lgd, commitment=3.0)
    df["amortization"] = "bullet"
    df["tenor_years"] = 5.0
    cfg, sc = _with(cfg, sector_value={"s": v})
    res = riskengine.run_model(_model(cfg, df, sc))
    want = n * 3.0 * lgd * special.ndtr((special.ndtri(p) - w * v) / np.sqrt(1 - w * w))
    el, se = res.estimate("EL", "credit_loss", "ALL")[:2]
    assert abs(el - want) < 4.0 * se, (el, want, se)
    assert se < 0.03 * want


def test_a_shift_beside_a_fixed_factor_propagates_within_the_conditional_law():
    """b fixed at -1 and a shifted by -1: given S_b, the factors have covariance
    Sigma = C - C_.b C_b.; a's mean moves by -1 and c's by Sigma_ca / Sigma_aa (-1)."""
    c = np.asarray(CORR3)
    cfg, df = _book3()
    cfg, sc = _with(cfg, sector_value={"b": -1.0}, sector_shift={"a": -1.0})
    m = _model(cfg, df, sc).inputs
    sigma = c - np.outer(c[:, 1], c[:, 1])
    want = c[:, 1] * -1.0 + sigma[:, 0] / sigma[0, 0] * -1.0
    want[1] = -1.0
    np.testing.assert_allclose(m.program.factor_shift, want, rtol=1e-12)
    np.testing.assert_allclose(m.copula.root @ m.copula.root.T, sigma, atol=1e-14)


# ---- validation and descriptions -----------------------------------------------------------
@pytest.mark.parametrize(("scenario", "says"), [
    ({"sector_value": {"nope": 1.0}}, "sector_value names unknown sectors ['nope']"),
    ({"sector_shift": {"nope": 1.0}}, "sector_shift names unknown sectors ['nope']"),
    ({"sector_shift": {"a": 1.0}, "sector_value": {"a": 1.0}},
     "names ['a'] in both sector_shift and sector_value"),
    ({"sector_value": {"a": 11.0}}, "scenarios.0.sector_value.a"),
])
def test_bad_stresses_name_the_key(scenario, says):
    cfg, _ = _book3()
    with pytest.raises(ConfigError, match=None) as e:
        _with(cfg, **scenario)
    assert says in str(e.value)


def test_perfectly_correlated_shifts_are_refused_naming_the_key():
    cfg = make_config(("a", "b", "c"), [[1, 1, 0.3], [1, 1, 0.3], [0.3, 0.3, 1]])
    df = homogeneous_frame(n=5, sector="a")
    cfg, sc = _with(cfg, sector_shift={"a": -1.0, "b": -2.0})
    with pytest.raises(ConfigError, match=r"scenarios \('x'\)\.sector_shift"):
        _model(cfg, df, sc)


def test_descriptions_say_what_each_scenario_does():
    sectors = ("a", "b", "c")
    cfg, _ = _book3()
    cases = [
        ({"sector_shift": {"a": -2.0}}, "shifts a -2 sd, the other sectors by correlation"),
        ({"sector_shift": {"a": -2.0}, "propagate": False},
         "shifts a -2 sd, the other sectors as in the base case"),
        ({"sector_shift": {"a": -1.0, "b": -1.0, "c": -1.0}, "pd_multiplier": 1.5},
         "shifts every sector -1 sd; PDs x1.5"),
        ({"sector_value": {"b": -1.5}, "base_rate": 0.05},
         "fixes b at -1.5 sd, the other sectors by correlation; base rate 5.00%"),
        ({"description": "my words", "sector_shift": {"a": 1.0}}, "my words"),
        ({}, "the base case's inputs"),
    ]
    for fields, want in cases:
        _, sc = _with(cfg, **fields)
        assert describe(sc, sectors) == want


def test_side_by_side_results_carry_what_each_scenario_does(tmp_path):
    cfg, df = _book3()
    cfg = apply_overrides(cfg, {"simulation": {"scenarios": True, "paths": 1024},
                                "scenarios": [{"name": "fix", "sector_value": {"b": -1.0}}]})
    res = riskengine.run_models(riskengine.build_models(cfg, make_portfolio(df, cfg)))
    what = res.scenario_descriptions
    assert list(what) == ["base", "fix"]
    assert what["fix"] == "fixes b at -1 sd, the other sectors by correlation"
    mean = res.meta["scenarios"]["fix"]["factor_mean"]
    assert mean == pytest.approx({"a": -0.6, "b": -1.0, "c": -0.5})

"""Adverse selection (issue 26, item 3): ``program.selection_correlation`` is the
correlation of a pipeline unit's selection normal with its obligor's latent credit
variable, so ``P(default | selected) = Phi2(a, b; rho) / p_sel`` (docs/model.md "Adverse
selection"). References: scipy's bivariate normal CDF and ``ndtri``, binomial errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import special
from scipy.stats import multivariate_normal

import riskengine
from riskengine._kernels.defaults import phi_inverse
from riskengine.config import apply_overrides
from riskengine.errors import ConfigError
from riskengine.runs import resolve_portfolio
from riskengine.selection import (
    PipelineUnits,
    bivariate_normal_cdf,
    calibrate,
    credit_loadings,
    default_given_selection,
    default_ratio,
    shipped_calibration,
)

from ..conftest import make_config, make_portfolio

PD, W, HORIZON, P_SEL = 0.05, 0.4, 4.0, 0.3


def phi2(a, b, rho):
    """The independent reference: scipy's bivariate normal CDF."""
    return multivariate_normal(mean=[0.0, 0.0], cov=[[1.0, rho], [rho, 1.0]]).cdf([a, b])


def _cfg(rho, paths=40_000, **sections):
    # selection notices only on the first two days, funded the same day: every selected
    # unit is funded in step 0, so its PD by the horizon is 1 - (1 - PD)^HORIZON
    program = {"selection_deadline": "2025-10-02", "funding_window_days": 0,
               "selection_correlation": rho}
    program.update(sections.pop("program", {}))
    return make_config(("s",), paths=paths, horizon_years=HORIZON, program=program,
                       outputs={"timeline_paths": 64, "irr_paths": 64,
                                "contributions": False}, **sections)


def _frame(selection=P_SEL, w=W):
    """A pipeline obligor's loan (JBIC) and a named project's guarantee (NEXI), the loan
    outstanding in full to the horizon, so it loses exactly when it defaults."""
    return pd.DataFrame({
        "project_id": ["PIPE-LOAN", "NAMED-GTE"], "sector": "s",
        "institution": ["JBIC", "NEXI"], "instrument": ["loan", "guarantee"],
        "commitment_usd": 1.0, "pd_annual": PD, "lgd": 1.0, "factor_loading": w,
        "tenor_years": 10.0, "amortization": "bullet",
        "selection_prob": [selection, 1.0]})


def _run(cfg, df=None):
    df = _frame() if df is None else df
    return riskengine.run_model(riskengine.build_model(cfg, make_portfolio(df, cfg)))


@pytest.fixture(scope="module")
def runs():
    return {rho: _run(_cfg(rho)) for rho in (0.0, 0.5, -0.3)}


# ---- the formula and its parts ------------------------------------------------------------

@pytest.mark.parametrize("a,b,rho", [(-1.0, 0.3, 0.5), (0.0, 0.0, 0.3), (0.0, -0.5, -0.4),
                                     (1.2, -0.7, 0.6), (-3.0, 0.25, 0.7), (-0.9, -0.5, 0.0)])
def test_bivariate_normal_cdf_equals_scipys(a, b, rho):
    assert bivariate_normal_cdf(a, b, rho) == pytest.approx(phi2(a, b, rho), abs=1e-7)


def test_phi_inverse_equals_ndtri():
    u = np.r_[1e-15, 1e-9, np.linspace(1e-4, 1 - 1e-4, 999), 1 - 1e-9, 1 - 2.0**-53]
    got = np.array([phi_inverse(x) for x in u])
    np.testing.assert_allclose(got, special.ndtri(u), rtol=1e-13, atol=1e-13)


# ---- the simulated copula against it ------------------------------------------------------

@pytest.mark.parametrize("rho", [0.0, 0.5, -0.3])
def test_default_given_selection_is_phi2_over_p_sel(runs, rho):
    res = runs[rho]
    selected = res.loss("deployed_usd", "JBIC") > 0
    defaulted = res.loss("credit_loss", "JBIC") > 0
    assert not (defaulted & ~selected).any()
    n = selected.sum()
    # the selection is the same draw as ever: its rate is p_sel whatever rho
    assert abs(n / len(selected) - P_SEL) < 4 * np.sqrt(P_SEL * (1 - P_SEL) / len(selected))
    pd_h = 1.0 - (1.0 - PD) ** HORIZON
    want = phi2(special.ndtri(pd_h), special.ndtri(P_SEL), rho) / P_SEL
    got = defaulted.sum() / n
    assert abs(got - want) < 4 * np.sqrt(want * (1 - want) / n), (got, want)


def test_positive_correlation_makes_the_selected_worse(runs):
    rate = {rho: (r.loss("credit_loss", "JBIC") > 0).sum() / (r.loss("deployed_usd", "JBIC") > 0).sum()
            for rho, r in runs.items()}
    assert rate[0.5] > 1.3 * rate[0.0] and rate[-0.3] < 0.85 * rate[0.0]


def test_no_other_draw_moves(runs):
    """Selection, timing, the regime and every unconditional row are as without it, path by
    path: only the pipeline's default uniforms change."""
    base, adverse = runs[0.0], runs[0.5]
    for var, inst in (("deployed_usd", "JBIC"), ("deployed_usd", "NEXI"),
                      ("credit_loss", "NEXI"), ("economic_loss", "NEXI")):
        np.testing.assert_array_equal(base.loss(var, inst), adverse.loss(var, inst))
    assert (base.loss("credit_loss", "JBIC") != adverse.loss("credit_loss", "JBIC")).any()


def test_zero_is_the_run_without_the_key():
    cfg = _cfg(0.0, paths=4096)
    plain = make_config(("s",), paths=4096, horizon_years=HORIZON,
                        program={"selection_deadline": "2025-10-02", "funding_window_days": 0},
                        outputs={"timeline_paths": 64, "irr_paths": 64, "contributions": False})
    a, b = _run(cfg), _run(plain)
    for var in ("credit_loss", "economic_loss", "deployed_usd"):
        np.testing.assert_array_equal(a.paths[var].values, b.paths[var].values)


def test_a_regimes_selection_multiplier_sets_the_selection_threshold():
    regimes = [{"name": "calm", "probability": 0.5},
               {"name": "retreat", "probability": 0.5, "selection_multiplier": 0.5}]
    cfg = apply_overrides(_cfg(0.5, paths=40_000), {"regimes": regimes,
                                                    "simulation": {"regime": "retreat"}})
    res = _run(cfg)
    selected = res.loss("deployed_usd", "JBIC") > 0
    n = selected.sum()
    p_sel = P_SEL * 0.5
    pd_h = 1.0 - (1.0 - PD) ** HORIZON
    want = phi2(special.ndtri(pd_h), special.ndtri(p_sel), 0.5) / p_sel
    got = (res.loss("credit_loss", "JBIC") > 0).sum() / n
    assert abs(got - want) < 4 * np.sqrt(want * (1 - want) / n), (got, want)


# ---- what it refuses ------------------------------------------------------------------------

@pytest.mark.parametrize("section,key,value", [
    ("dependence", "copula", "t"),
    ("dependence", "factor_dynamics", "ar1"),
])
def test_refused_with(section, key, value):
    extra = {"dof": 5.0} if key == "copula" else {}
    with pytest.raises(ConfigError, match=rf"program\.selection_correlation.*{section}\.{key}"):
        apply_overrides(_cfg(0.3, paths=1024), {section: {key: value, **extra}})
    apply_overrides(_cfg(0.0, paths=1024), {section: {key: value, **extra}})  # 0: allowed


def test_importance_sampling_keeps_the_obligor_twist(tmp_path, capsys):
    """The shipped program carries adverse selection: --importance-sampling on it twists
    the obligors' defaults too (exact: the tests below), with no note."""
    from riskengine.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text("[program]\nselection_correlation = 0.2\n")
    code = main(["run", "--config", str(cfg), "--importance-sampling", "--paths", "2048",
                 "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 0
    assert "obligor twist" not in capsys.readouterr().err
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["importance_sampling"]["obligor_theta"] > 0.0


def test_above_the_idiosyncratic_sd_is_an_error_naming_the_obligor():
    cfg = _cfg(0.95, paths=1024)
    with pytest.raises(ConfigError, match=r"program\.selection_correlation = 0\.95.*'PIPE-LOAN'"):
        riskengine.build_model(cfg, make_portfolio(_frame(w=0.4), cfg))


def test_loadings_are_rho_over_the_idiosyncratic_sd():
    cfg = _cfg(0.5, paths=1024)
    model = riskengine.build_model(cfg, make_portfolio(_frame(), cfg))
    loading, keep = credit_loadings(0.5, model.deployment)
    np.testing.assert_allclose(loading, [0.5 / np.sqrt(1 - W**2)])
    np.testing.assert_allclose(keep, np.sqrt(1 - loading**2))
    np.testing.assert_array_equal(model.inputs.program.unit_credit_loading, loading)


# ---- the calibration ------------------------------------------------------------------------

def test_calibration_inverts_the_ratio_by_scipys_formula():
    units = PipelineUnits(pd=np.array([0.2, 0.1]), p_sel=np.array([0.6, 0.4]),
                          weight=np.array([0.7, 0.3]), rho_max=0.9)
    for against, ratio in (("pipeline", 1.3), ("unselected", 2.0)):
        rho = calibrate(ratio, units, against)
        joint = np.array([phi2(special.ndtri(p), special.ndtri(s), rho)
                          for p, s in zip(units.pd, units.p_sel)])
        sel = (units.weight @ joint) / (units.weight @ (units.p_sel * units.pd))
        out = (units.weight @ (units.pd - joint)) / (units.weight @ ((1 - units.p_sel) * units.pd))
        assert (sel if against == "pipeline" else sel / out) == pytest.approx(ratio, rel=1e-6)
    assert default_ratio(0.0, units) == pytest.approx(1.0)
    assert calibrate(1.0, units) == 0.0
    with pytest.raises(ValueError, match="beyond|above its largest"):
        calibrate(3.0, units, "pipeline")  # at most 1 / p_sel


def test_default_given_selection_is_the_formula():
    got = default_given_selection(0.2, 0.6, 0.4)
    assert got == pytest.approx(phi2(special.ndtri(0.2), special.ndtri(0.6), 0.4) / 0.6)


def test_the_shipped_calibration_is_reproducible():
    config = riskengine.load_config()
    model = riskengine.build_model(config, resolve_portfolio(None, config))
    got = shipped_calibration(model, (1.0, 1.5, 3.0), "unselected")
    assert got[1.0] == 0.0
    assert 0.0 < got[1.5] < got[3.0] < 0.76


def test_the_manifest_names_it_only_when_on():
    from riskengine.features import config_features

    assert "adverse selection" not in config_features(_cfg(0.0, paths=1024).to_dict())
    assert "0.3" in config_features(_cfg(0.3, paths=1024).to_dict())["adverse selection"]


def _binary_pool(k=6):
    """``k`` pipeline loans of their own obligors (JBIC), commitments ``2^i``, so the
    path's JBIC loss says which defaulted, beside the named guarantee (NEXI)."""
    df = _frame().iloc[[0] * k + [1]].reset_index(drop=True)
    df.loc[:k - 1, "project_id"] = [f"PIPE-{i}" for i in range(k)]
    df.loc[:k - 1, "commitment_usd"] = [2.0**i for i in range(k)]
    return df


def _defaulted(res, k=6):
    """(n, k) whether each pipeline loan is funded and defaults, from the JBIC loss."""
    loss = np.rint(res.loss("credit_loss", "JBIC")).astype(np.int64)
    return (loss[:, None] >> np.arange(k)) & 1 == 1


@pytest.mark.parametrize("twist", [False, True])
def test_importance_sampling_keeps_the_formula(twist):
    """The factor shift reweights the factors alone, which the selection and the credit
    normals do not depend on; the obligor twist draws the default uniform from a law that
    depends only on draws made before it (the factors, the selection and its normal), and
    the weight carries that law's density: weighted, P(default and selected) is still
    Phi2(a, b; rho)."""
    cfg = _cfg(0.5, paths=20_000, importance_sampling={"enabled": True, "twist": twist,
                                                        "pilot_paths": 4096})
    res = _run(cfg, _binary_pool())
    assert (res.meta["importance_sampling"]["obligor_theta"] > 0) == twist
    weight = res.paths["weight"].values
    assert weight.std() > 0.01  # the factors are shifted
    both = _defaulted(res).mean(axis=1)
    pd_h = 1.0 - (1.0 - PD) ** HORIZON
    want = phi2(special.ndtri(pd_h), special.ndtri(P_SEL), 0.5)
    got = weight * both
    assert abs(got.mean() - want) < 4 * got.std() / np.sqrt(len(got)), (got.mean(), want)
    # the sampler draws them more often than the model: the tilt reaches them
    assert both.mean() > 1.2 * want, (both.mean(), want)


def test_the_twist_is_aimed_on_the_selected_units_scale():
    """On a tilted path the twist draws an obligor's default with its twisted probability
    ``q = p e^(theta c) / (1 + p (e^(theta c) - 1))``, ``p`` its PD given the factor and
    its unit's selection normal ``V``: ``Phi((x - c_V V) / sqrt(1 - c_V^2))``, ``x`` the
    threshold given the factor. On the tilted paths where a pipeline loan is selected, its
    default frequency is the mean of that ``q`` (reference from the same paths' draws)."""
    from riskengine._kernels.defaults import factor_normals
    from riskengine._kernels.rng import STREAM_IS_MIX, path_key, stream_key, uniform
    from riskengine._kernels.twist import plain_component

    def first_uniform(key, path):  # (numba returns the key as a Python int)
        return uniform(np.uint64(path_key(key, path)), 0)

    k = 6
    cfg = _cfg(0.5, paths=20_000, importance_sampling={"enabled": True, "shift": False,
                                                        "pilot_paths": 4096})
    model = riskengine.build_model(cfg, make_portfolio(_binary_pool(k), cfg))
    res = riskengine.run_model(model)
    info = res.meta["importance_sampling"]
    theta, share = info["obligor_theta"], info["defensive_share"]
    assert theta > 0 and not np.any(info["mean_shift"])
    n = cfg.simulation.paths
    ids = np.arange(n, dtype=np.int64)
    z = np.empty((n, 1))
    factor_normals(ids, model.inputs.copula.factor_key, z)
    plain = np.empty(n, dtype=np.bool_)
    plain_component(ids, stream_key(cfg.simulation.seed, STREAM_IS_MIX, 0), share, plain)
    tilted = ~plain
    program, sampler = model.inputs.program, model.inputs.sampler
    ids_of_rows = list(model.deployment.portfolio.table["project_id"])
    pd_h = 1.0 - (1.0 - PD) ** HORIZON
    x = (special.ndtri(pd_h) - W * z[:, 0]) / np.sqrt(1 - W**2)
    c_v = 0.5 / np.sqrt(1 - W**2)
    defaulted = _defaulted(res, k)
    selected = np.rint(res.loss("deployed_usd", "JBIC")).astype(np.int64)
    checked = 0
    for i in range(k):
        row = ids_of_rows.index(f"PIPE-{i}")
        assert program.unit_of[row] >= 0
        unit_key = program.unit_key[program.unit_of[row]]
        v = np.array([phi_inverse(first_uniform(unit_key, j)) for j in ids])
        p = special.ndtr((x - c_v * v) / np.sqrt(1 - c_v**2))
        e = np.exp(theta * sampler.obligor_loss[row])
        q = p * e / (1 + p * (e - 1))
        on = tilted & ((selected >> i) & 1 == 1)
        mean_q, n_on = q[on].mean(), on.sum()
        assert abs(defaulted[on, i].mean() - mean_q) < 4 * np.sqrt(mean_q / n_on), i
        p_off = special.ndtr(x[on])  # (the PD without V, which the twist took before)
        q_off = p_off * e / (1 + p_off * (e - 1))
        checked += abs(q_off.mean() - mean_q) > 4 * np.sqrt(mean_q / n_on)
    assert checked >= k // 2  # the test tells the two apart

"""Japan's fiscal risk beyond the loan book: pipeline selection and its timing, declines and
the tariff they cost, political regimes, stress scenarios side by side, and yen figures
(MODEL.md section 6; docs/model.md "The program")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import riskengine
from riskengine._kernels import engine
from riskengine.config import apply_overrides, load_config
from riskengine.deployment import funding_distribution
from riskengine.errors import ConfigError, DataError
from riskengine.schedules import fiscal_years
from riskengine.simulate import BLOCK, NO_REPLAY, allocate

from ..conftest import (
    assert_same,
    cli_files,
    homogeneous_frame,
    make_config,
    make_portfolio,
    mixed_frame,
)

REGIMES = [
    {"name": "calm", "probability": 0.6},
    {"name": "stress", "probability": 0.3, "pd_multiplier": 2.0, "yield_multiplier": 0.7,
     "selection_multiplier": 1.4, "decline_multiplier": 0.5},
    {"name": "retreat", "probability": 0.1, "selection_multiplier": 0.4,
     "decline_multiplier": 5.0},
]


def _cfg(paths=8192, horizon_years=5.0, **over):
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=paths,
                      horizon_years=horizon_years, discount_rate=0.04,
                      outputs={"timeline_paths": 256, "irr_paths": 256})
    return apply_overrides(cfg, over) if over else cfg


def _run(cfg, df, scenario=None):
    return riskengine.run_model(riskengine.build_model(cfg, make_portfolio(df, cfg), scenario))


def _pipeline(df, selection=0.5, decline=0.0, approval=2):
    """Placeholders: copies of the mixed program's rows with their own obligors."""
    pipe = df.copy()
    pipe["project_id"] = "P-" + pipe["project_id"]
    pipe["approval_quarter"] = approval
    pipe["selection_prob"] = selection
    pipe["decline_prob"] = decline
    return pipe


# ---- selection and deployment -----------------------------------------------------------

def test_unselectable_placeholders_change_nothing_bit_for_bit():
    cfg = _cfg()
    announced = mixed_frame()
    both = pd.concat([announced, _pipeline(announced, selection=0.0)], ignore_index=True)
    alone, with_pipe = _run(cfg, announced), _run(cfg, both)
    for var in ("credit_loss", "economic_loss"):
        np.testing.assert_array_equal(alone.paths[var].values, with_pipe.paths[var].values)
    assert (with_pipe.paths["tariff_cost"].values == 0).all()
    np.testing.assert_array_equal(with_pipe.paths["deployed_usd"].sum("institution").values,
                                  announced["commitment_usd"].sum())


def test_mean_deployment_matches_its_formula():
    cfg = _cfg(paths=16_384)
    df = mixed_frame()
    pipe = _pipeline(df, selection=0.55, decline=0.2)
    pipe.loc[pipe.project_id == "P-L1", "selection_prob"] = 0.9
    res = _run(cfg, pd.concat([df, pipe], ignore_index=True))
    deployed = res.loss("deployed_usd", "ALL")
    want = df["commitment_usd"].sum() + (pipe["commitment_usd"] * pipe["selection_prob"]
                                         * (1 - pipe["decline_prob"])).sum()
    assert deployed.mean() == pytest.approx(want, abs=4 * deployed.std() / np.sqrt(len(deployed)))
    ev, se = res.estimate("EL", "deployed_usd")
    assert ev == pytest.approx(deployed.mean()) and se > 0


def test_a_selected_project_defaults_only_after_its_funding_step():
    """PD 1: a funded row defaults in its first step, so the fiscal year of its default is
    the fiscal year of its funding step, whose distribution is known exactly."""
    cfg = _cfg(paths=16_384, horizon_years=6.0)
    df = homogeneous_frame(n=1, pd_annual=1.0, sector="a")
    df["approval_quarter"] = 5
    df["selection_prob"] = 0.7
    res = _run(cfg, df)
    steps, probs = funding_distribution(5, cfg)
    # notices Q5..Q13; the last by 19 Jan 2029, funded by 5 Mar 2029, still in Q13
    assert steps.min() == 5 and steps.max() == 13
    of_step, _ = fiscal_years(cfg.simulation.as_of, 4, cfg.simulation.n_quarters, 4)
    want = np.zeros(of_step.max() + 1)
    np.add.at(want, of_step[steps], 0.7 * probs)
    got = res.annual["mean"].sel(quantity="defaults").values
    assert (got[: of_step[5]] == 0).all()  # nothing before the approval quarter's year
    n = cfg.simulation.paths
    np.testing.assert_allclose(got, want, atol=4 * np.sqrt(0.25 / n))


def test_funding_window_moves_late_notices_into_the_next_quarter():
    cfg = _cfg()
    steps, probs = funding_distribution(12, cfg)  # notices in Q12 (Jul-Sep 2028), Q13
    assert probs.sum() == pytest.approx(1.0)
    # a notice in the last 45 days of Q12 is funded in Q13: Q12 keeps (92 - 45) / 92 / 2
    assert probs[0] == pytest.approx((92 - 45) / 92 / 2)
    busy = apply_overrides(cfg, {"program": {"funding_days": "business"}})
    assert funding_distribution(12, busy)[1][0] < probs[0]  # 45 business days are longer


# ---- declines and the tariff ------------------------------------------------------------

def _tariff_pv(cfg, commitment, start):
    """The penalty's present value by hand: per step at the step's end."""
    t = cfg.tariff
    n = int(round(t.duration_years * 4))
    q = np.arange(start, min(start + n, cfg.simulation.n_quarters))
    return commitment * t.penalty_usd_per_year / 4 * np.sum(
        (1 + cfg.rates.discount_rate / 4) ** (-(q + 1.0)))


def test_a_declined_row_never_loses_and_costs_the_penalty_exactly():
    cfg = _cfg()
    df = mixed_frame()
    df["decline_prob"] = np.where(df.project_id == "L2", 1.0, 0.0)
    res = _run(cfg, df)
    pr = res.projects.sel(project="L2")
    assert float(pr.pd_simulated) == 0 and float(pr.expected_credit_loss) == 0
    tariff = res.paths["tariff_cost"].values
    want = _tariff_pv(cfg, 50.0, 2)
    assert (tariff == tariff[0]).all()
    assert tariff[0] == pytest.approx(want, rel=1e-12)
    # ALL's economic loss carries it, JBIC's and NEXI's do not
    np.testing.assert_allclose(res.loss("economic_loss", "ALL"),
                               res.paths["economic_loss"].sum("institution").values + tariff,
                               rtol=0, atol=0)
    assert (res.loss("tariff_cost", "JBIC") == 0).all()


def test_pd_above_rule_declines_exactly_the_rows_above_the_threshold():
    cfg = _cfg(program={"decline_rule": "pd_above", "decline_pd_threshold": 0.05})
    df = mixed_frame()
    res = _run(cfg, df)
    above = df.pd_annual > 0.05
    pds = res.projects["pd_simulated"].sel(project=list(df.project_id)).values
    assert (pds[above.values] == 0).all() and (pds[~above.values] > 0).all()
    want = sum(_tariff_pv(cfg, c, a) for c, a in
               zip(df.commitment_usd[above], df.approval_quarter[above]))
    assert res.paths["tariff_cost"].values[0] == pytest.approx(want, rel=1e-12)
    plain = _run(_cfg(), df[~above])  # the others exactly as without the declined rows
    np.testing.assert_array_equal(res.paths["credit_loss"].values, plain.paths["credit_loss"].values)


# ---- the tariff's form ------------------------------------------------------------------

def _trigger_pv(cfg, start):
    """The trigger's present value by hand: the whole threat per step at the step's end,
    from ``start`` for the penalty's length, cut at the horizon."""
    t = cfg.tariff
    n = int(round(t.duration_years * 4))
    q = np.arange(start, min(start + n, cfg.simulation.n_quarters))
    return t.trigger_penalty_usd_per_year / 4 * np.sum(
        (1 + cfg.rates.discount_rate / 4) ** (-(q + 1.0)))


def _l2_declined():
    df = mixed_frame()
    df["decline_prob"] = np.where(df.project_id == "L2", 1.0, 0.0)
    return df


def test_proportional_form_is_the_default_and_ignores_the_trigger_keys():
    df = _l2_declined()
    base = _run(_cfg(), df)
    said = _run(_cfg(tariff={"form": "proportional", "trigger_share": 0.5,
                             "trigger_penalty_usd_per_year": 1e12}), df)
    assert_same(base.paths, said.paths)
    assert base.paths["tariff_cost"].values[0] == pytest.approx(_tariff_pv(_cfg(), 50.0, 2),
                                                               rel=1e-12)


def test_trigger_puts_the_whole_threat_on_from_the_first_decline():
    cfg = _cfg(tariff={"form": "trigger", "trigger_penalty_usd_per_year": 15e9})
    res = _run(cfg, _l2_declined())
    tariff = res.paths["tariff_cost"].values
    assert (tariff == tariff[0]).all()
    assert tariff[0] == pytest.approx(_trigger_pv(cfg, 2), rel=1e-12)  # L2 funds at step 2
    np.testing.assert_array_equal(res.loss("economic_loss", "ALL"),
                                  res.paths["economic_loss"].sum("institution").values + tariff)
    # the credit book is the proportional run's: only the tariff's form differs
    prop = _run(_cfg(), _l2_declined())
    np.testing.assert_array_equal(res.paths["economic_loss"].values,
                                  prop.paths["economic_loss"].values)


def test_trigger_in_yen_converts_each_step_at_its_usd_jpy():
    cfg = _cfg(fx={"volatility": 0.2}, tariff={"form": "trigger"})
    res = _run(cfg, _l2_declined())
    usd, jpy = res.paths["tariff_cost"].values, res.paths["tariff_cost_jpy"].values
    assert jpy.std() > 0
    spot = cfg.fx.usd_jpy
    assert jpy.mean() == pytest.approx(spot * usd[0], rel=4 * jpy.std() / jpy.mean()
                                       / np.sqrt(len(jpy)))


def test_trigger_pays_nothing_without_a_decline():
    df = mixed_frame()
    res = _run(_cfg(tariff={"form": "trigger"}),
               pd.concat([df, _pipeline(df, selection=0.5)], ignore_index=True))
    assert (res.paths["tariff_cost"].values == 0).all()
    assert res.paths["deployed_usd"].sum("institution").values.std() > 0  # selection drawn


def test_trigger_share_is_the_declined_share_of_the_selected_commitments():
    # by L2's funding step 2 the unconditional rows approved to step 2 (L1, L3, G1, E1:
    # 340) and L2 (50) are selected: the declined share peaks at 50 / 390
    peak = 50.0 / 390.0
    df = _l2_declined()
    above = _run(_cfg(tariff={"form": "trigger", "trigger_share": peak * 1.01}), df)
    assert (above.paths["tariff_cost"].values == 0).all()
    below_cfg = _cfg(tariff={"form": "trigger", "trigger_share": peak * 0.99})
    below = _run(below_cfg, df)
    assert below.paths["tariff_cost"].values[0] == pytest.approx(_trigger_pv(below_cfg, 2),
                                                                 rel=1e-12)


@pytest.mark.parametrize("tariff, match", [
    ({"form": "all_or_nothing"}, "form"),
    ({"trigger_share": 1.5}, "trigger_share"),
    ({"trigger_share": "0.5"}, "trigger_share"),
    ({"trigger_penalty_usd_per_year": -1.0}, "trigger_penalty_usd_per_year"),
])
def test_tariff_form_keys_are_validated(tariff, match):
    with pytest.raises(ConfigError, match=match):
        _cfg(tariff=tariff)


# ---- regimes ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def regime_runs():
    cfg = _cfg(paths=32_768, regimes=REGIMES)
    df = mixed_frame()
    df.loc[df.instrument == "equity", ["expected_yield", "cf_vol", "construction_years",
                                       "life_years", "deemed_spread"]] = [0.12, 0.2, 1.0, 3.0, 0.02]
    df = pd.concat([df, _pipeline(df, selection=0.5, decline=0.1)], ignore_index=True)
    runs = {"mixed": _run(cfg, df)}
    for r in REGIMES:
        runs[r["name"]] = _run(apply_overrides(cfg, {"simulation": {"regime": r["name"]}}), df)
    return runs


def test_retreat_deploys_less_and_pays_more_tariff_than_calm(regime_runs):
    calm, retreat = regime_runs["calm"], regime_runs["retreat"]
    assert retreat.value("EL", "deployed_usd") < calm.value("EL", "deployed_usd")
    assert retreat.value("EL", "tariff_cost") > calm.value("EL", "tariff_cost")
    assert (regime_runs["calm"].paths["regime"].values == 0).all()


def test_shipped_strategic_dilution_deploys_less_and_pays_more_tariff():
    runs = {name: riskengine.simulate(paths=4096, regime=name)
            for name in ("modest selective success", "strategic dilution")}
    modest, dilution = runs["modest selective success"], runs["strategic dilution"]
    assert dilution.value("EL", "deployed_usd") < 0.7 * modest.value("EL", "deployed_usd")
    assert dilution.value("EL", "tariff_cost") > 1.5 * modest.value("EL", "tariff_cost")


def test_mixed_el_is_the_probability_weighted_el_of_the_pinned_runs(regime_runs):
    mixed = regime_runs["mixed"]
    for var in ("credit_loss", "economic_loss", "deployed_usd", "tariff_cost"):
        want = sum(r["probability"] * regime_runs[r["name"]].value("EL", var) for r in REGIMES)
        se = np.sqrt(mixed.estimate("EL", var)[1] ** 2 + sum(
            (r["probability"] * regime_runs[r["name"]].estimate("EL", var)[1]) ** 2
            for r in REGIMES))
        assert mixed.value("EL", var) == pytest.approx(want, abs=4 * se), var
        # the mixture's conditional rows are the regimes' own figures, on fewer paths
        calm = mixed.value("EL", var, regime="calm")
        assert calm == pytest.approx(regime_runs["calm"].value("EL", var),
                                     abs=4 * (se + mixed.estimate("EL", var, regime="calm")[1]))


def test_regime_draws_follow_the_probabilities(regime_runs):
    codes = regime_runs["mixed"].paths["regime"].values
    counts = np.bincount(codes, minlength=3)
    assert stats.chisquare(counts, len(codes) * np.array([0.6, 0.3, 0.1])).pvalue > 1e-4


def test_a_regime_table_must_add_up():
    with pytest.raises(ConfigError, match="sum to 1"):
        _cfg(regimes=[{"name": "a", "probability": 0.5}, {"name": "b", "probability": 0.4}])
    with pytest.raises(ConfigError, match="simulation.regime"):
        _cfg(regimes=REGIMES, simulation={"regime": "nope"})


# ---- scenarios -------------------------------------------------------------------------

def test_scenarios_run_on_the_same_paths():
    scen = [{"name": "identity"}, {"name": "shock", "sector_shift": {"a": -2.0}},
            {"name": "dear", "base_rate": 0.08, "pd_multiplier": 1.5}]
    cfg = _cfg(scenarios=scen)
    df = mixed_frame()
    plain = _run(cfg, df)
    port = make_portfolio(df, cfg)
    both = riskengine.run_models(riskengine.build_models(
        apply_overrides(cfg, {"simulation": {"scenarios": True}}), port))
    assert list(both.paths.scenario.values) == ["base", "identity", "shock", "dear"]
    for var in ("credit_loss", "economic_loss"):
        base = both.paths[var].sel(scenario="base").values
        np.testing.assert_array_equal(base, plain.paths[var].values)
        np.testing.assert_array_equal(both.paths[var].sel(scenario="identity").values, base)
        assert (both.paths[var].sel(scenario="shock").values != base).any()
    assert set(both.summary.dims) >= {"scenario"} and "scenario" in both.projects.dims
    assert both.value("EL", scenario="shock") > both.value("EL", scenario="base")


def test_a_sector_shift_raises_defaults_by_the_conditional_vasicek_amount():
    w, p = 0.5, 0.03
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=16_384, horizon_years=1.0)
    cfg = apply_overrides(cfg, {"scenarios": [{"name": "down", "sector_shift": {"a": -2.0},
                                               "propagate": False}]})
    df = pd.concat([homogeneous_frame(n=50, pd_annual=p, w=w, sector="a"),
                    homogeneous_frame(n=50, pd_annual=p, w=w, sector="b", prefix="Q")])
    res = _run(cfg, df, cfg.scenarios[0])
    pds = res.projects["pd_simulated"]
    got_a = float(pds.where(res.projects.sector == "a", drop=True).mean())
    got_b = float(pds.where(res.projects.sector == "b", drop=True).mean())
    # X = w S + sqrt(1 - w^2) e with S ~ N(-2, 1): P(X <= Phi^-1(p)) = Phi(Phi^-1(p) + 2w)
    want = special.ndtr(special.ndtri(p) + 2 * w)
    assert got_a == pytest.approx(want, rel=0.05)
    assert got_b == pytest.approx(p, rel=0.15)  # propagate = false: b's mean is unshifted
    # (with propagate, tests/deployment/test_stress.py)


# ---- yen -------------------------------------------------------------------------------

def test_yen_loss_is_spot_times_dollar_loss_without_volatility():
    cfg = _cfg(fx={"usd_jpy": 150.0, "volatility": 0.0})
    res = _run(cfg, mixed_frame())
    np.testing.assert_array_equal(res.paths["economic_loss_jpy"].values,
                                  res.paths["economic_loss"].values * 150.0)


def _sure_cash_case(case):
    """One exposure whose dollar cash by step is certain (zero discount rate): its frame and
    that cash, written by hand."""
    df = homogeneous_frame(n=1, pd_annual=0.0, sector="a", commitment=100.0)
    df["tenor_years"], df["amortization"], df["rate"] = 3.0, "bullet", 0.08
    cash = np.zeros(16)
    if case == "sure loan":  # draw, coupons, repayment
        cash[0] -= 100.0
        cash[:12] += 100.0 * 0.08 / 4
        cash[11] += 100.0
    elif case in ("defaulting loan, late recovery", "conditional loan"):
        df["pd_annual"], df["lgd"], df["approval_quarter"] = 1.0, 0.4, 4
        df["recovery_lag_quarters"] = 6
        cash[4] -= 100.0  # the draw; defaults in its first step
        cash[10] += 60.0  # the recovery six steps later
        if case == "conditional loan":  # valued path by path, not pre-summed
            df["decline_prob"] = 1e-300
    elif case == "defaulting guarantee":
        df["institution"], df["instrument"], df["coverage"] = "NEXI", "guarantee", 0.9
        df["pd_annual"], df["lgd"], df["approval_quarter"] = 1.0, 0.5, 2
        df["recovery_lag_quarters"] = 4
        cash[2] -= 90.0  # NEXI pays its cover of the balance, recovers half of it later
        cash[6] += 45.0
    return df, cash


@pytest.mark.parametrize("view", ["unhedged", "funding_matched"])
@pytest.mark.parametrize("case", ["sure loan", "defaulting loan, late recovery",
                                  "conditional loan", "defaulting guarantee", "equity"])
def test_yen_loss_of_certain_cash_matches_the_lognormal_closed_form(case, view):
    """Certain dollar cash at a zero discount rate: the yen value is ``-sum_q X_q cash_q``
    with ``X`` lognormal, mean ``spot``, ``Cov(log X_q, log X_q') = vol^2 (rho^2 sqrt(t t')
    + (1 - rho^2) min(t, t'))``, so its mean and variance are known exactly; each step's
    cash must sit in its own step. Funding-matched (at a zero funding rate) converts the
    cash less the principal: a loan's draw and repayment, equity's capital calls, which
    return at the horizon (a defaulting loan's first step is its draw's: its write-off
    falls there)."""
    vol, rho, spot = 0.1, 0.6, 150.0
    cfg = make_config(("a",), paths=32_768, horizon_years=4.0, discount_rate=0.0,
                      fx={"usd_jpy": spot, "volatility": vol, "factor_correlation": rho,
                          "view": view},
                      outputs={"timeline_paths": 4, "irr_paths": 4})
    principal = np.zeros(16)
    if case == "equity":  # no default, no cash noise: the waterfall's cash is certain
        df = homogeneous_frame(n=1, pd_annual=0.0, sector="a", commitment=100.0,
                               instrument="equity")
        df[["expected_yield", "construction_years", "life_years", "deemed_spread"]] = [
            0.2, 1.0, 10.0, 0.02]
        res = _run(cfg, df)
        econ = float(res.paths["economic_loss"].values[0, 0])
        model = riskengine.build_model(cfg, make_portfolio(df, cfg))
        out, acc, sampled = allocate(model, BLOCK, 1, 0)  # path 0's cash by step
        engine.run_chunk(0, BLOCK, BLOCK, *model.inputs, out, acc, sampled, NO_REPLAY)
        cash = sampled.timeline[0, :, 0].copy()
        cash[-1] += -econ - cash.sum()  # the going-concern value at the horizon
        principal -= model.inputs.schedules.draws[0]
        principal[-1] -= principal.sum()
    else:
        df, cash = _sure_cash_case(case)
        res = _run(cfg, df)
        if case == "sure loan":
            principal[0], principal[11] = -100.0, 100.0
    inst = "NEXI" if case == "defaulting guarantee" else "JBIC"
    np.testing.assert_allclose(res.paths["economic_loss"].sel(institution=inst).values,
                               -cash.sum(), rtol=1e-12, atol=1e-9)
    if view == "funding_matched":
        cash = cash - principal
    t = np.arange(1, 17) / 4
    cov_log = vol**2 * (rho**2 * np.sqrt(np.outer(t, t)) + (1 - rho**2) * np.minimum.outer(t, t))
    var = spot**2 * cash @ (np.exp(cov_log) - 1) @ cash
    jpy = res.paths["economic_loss_jpy"].sel(institution=inst).values
    assert jpy.mean() == pytest.approx(-spot * cash.sum(), abs=4 * np.sqrt(var / len(jpy)))
    assert jpy.std() == pytest.approx(np.sqrt(var), rel=0.03)


# ---- the contract ----------------------------------------------------------------------

def test_a_users_config_does_not_inherit_the_shipped_regimes(tmp_path):
    shipped = load_config()
    assert len(shipped.regimes) == 3 and len(shipped.scenarios) >= 3 and shipped.fx is not None
    own = tmp_path / "own.toml"
    own.write_text("[simulation]\npaths = 1024\n")
    cfg = load_config(own)
    assert cfg.regimes == () and cfg.scenarios == ()
    assert cfg.fx == shipped.fx  # every other key keeps the rule


def test_rows_of_one_obligor_are_selected_together():
    cfg = _cfg()
    df = mixed_frame()
    df["obligor"] = np.where(df.project_id.isin(["L1", "G1"]), "X", df.project_id)
    df["selection_prob"] = np.where(df.project_id == "L1", 0.5, 1.0)
    with pytest.raises(DataError, match="selection_prob"):
        make_portfolio(df, cfg)



# ---- files and the command line --------------------------------------------------------

def test_a_side_by_side_run_round_trips_exactly(tmp_path):
    cfg = _cfg(paths=2048, regimes=REGIMES, fx={},
               scenarios=[{"name": "down", "sector_shift": {"b": -1.0}}],
               simulation={"scenarios": True})
    df = pd.concat([mixed_frame(), _pipeline(mixed_frame(), 0.5, 0.2)], ignore_index=True)
    res = riskengine.run_models(riskengine.build_models(cfg, make_portfolio(df, cfg)))
    back = riskengine.read_results(res.write(tmp_path / "run"))
    for name, ds in res.datasets().items():
        assert_same(ds, back[name])
    paths = pd.read_parquet(tmp_path / "run" / "paths.parquet")
    assert list(paths.columns[:3]) == ["scenario", "path", "institution"]
    assert set(paths["regime"].astype(str)) == {r["name"] for r in REGIMES}
    summary = pd.read_parquet(tmp_path / "run" / "summary.parquet")
    assert set(summary["regime"].astype(str)) == {"all", "calm", "stress", "retreat"}
    assert {"tariff_cost", "deployed_usd", "economic_loss_jpy"} <= set(summary["variable"].astype(str))


CLI_CONFIG = """
[simulation]
paths = 2048
horizon_years = 3

[dependence]
sectors = ["a", "b"]
correlation = [[1.0, 0.4], [0.4, 1.0]]

[[regimes]]
name = "calm"
probability = 0.7

[[regimes]]
name = "stress"
probability = 0.3
pd_multiplier = 2.0

[[scenarios]]
name = "down"
sector_shift = { a = -1.5 }
"""


@pytest.mark.parametrize("options,code,says", [
    (["--regime", "nope"], 4, "simulation.regime: 'nope' is not a regime"),
    (["--scenario", "nope"], 4, "simulation.scenario: 'nope' is not a scenario"),
    (["--regime", "stress", "--scenarios"], 0, ""),
    (["--scenario", "down"], 0, ""),
])
def test_command_line_regimes_and_scenarios(tmp_path, capsys, options, code, says):
    from riskengine.cli import main

    pf, cfg = cli_files(tmp_path, CLI_CONFIG)
    out = tmp_path / "out"
    got = main(["run", "--config", str(cfg), "--portfolio", str(pf), "--out", str(out),
                *options])
    cap = capsys.readouterr()
    assert got == code and says in cap.err and "Traceback" not in cap.err
    assert out.exists() == (code == 0)
    if code == 0 and "--scenarios" in options:
        run = riskengine.read_results(out)
        assert list(run.paths.scenario.values) == ["base", "down"]
        assert (run.paths["regime"].values == 1).all()  # pinned to "stress" everywhere
        assert "scenario down" in cap.out and "stress" in cap.out
        assert "calm" not in cap.out  # no empty rows for the regimes nobody is in
    elif code == 0:  # one scenario: its own column, and a summary that reads it
        run = riskengine.read_results(out)
        assert list(run.paths.scenario.values) == ["down"]
        assert "down" in cap.out


def test_each_regimes_paths_of_a_mixed_run_are_its_pinned_runs_paths(regime_runs):
    """The regime is drawn from its own stream: a path of the mixture in regime r is the
    same path of the run pinned to r, bit for bit."""
    mixed = regime_runs["mixed"]
    codes = mixed.paths["regime"].values
    for r, spec in enumerate(REGIMES):
        pinned = regime_runs[spec["name"]]
        for var in ("credit_loss", "economic_loss", "deployed_usd", "tariff_cost"):
            np.testing.assert_array_equal(mixed.paths[var].values[codes == r],
                                          pinned.paths[var].values[codes == r])


def test_a_regime_cannot_be_called_all():
    with pytest.raises(ConfigError, match="all"):
        _cfg(regimes=[{"name": "all", "probability": 1.0}])


def test_importance_sampling_tilts_a_program_with_selection():
    cfg = _cfg(paths=4096, regimes=REGIMES,
               importance_sampling={"enabled": True, "pilot_paths": 4096})
    df = pd.concat([mixed_frame(), _pipeline(mixed_frame(), 0.5, 0.1)], ignore_index=True)
    res = _run(cfg, df)
    info = res.meta["importance_sampling"]
    assert np.linalg.norm(info["mean_shift"]) > 0 and "weight" in res.paths
    assert not info["twist"]  # the portfolio changes by path: no twist by exposure
    assert info["obligor_theta"] > 0  # but by obligor, on the rows live on the path


def _tilted_program_frame():
    df = pd.concat([mixed_frame(), _pipeline(mixed_frame(), 0.5, 0.1)], ignore_index=True)
    df.loc[df.project_id == "G1", "obligor"] = "L1"  # G1 shares L1's fate
    df.loc[df.project_id == "G1", ["sector", "factor_loading", "approval_quarter"]] = ["a", 0.5, 0]
    return df


def test_tilted_program_is_thread_and_chunk_invariant_and_unbiased():
    """Importance sampling of a program (regimes, selection, a shared obligor): the pilot
    runs once, so paths and weights are bit-identical for any threads and chunks; the
    weighted EL and ES agree with plain Monte Carlo."""
    df = _tilted_program_frame()
    out = []
    for threads, chunk in ((1, 1024), (2, 3072), (2, 16384)):
        cfg = _cfg(paths=16384, regimes=REGIMES,
                   simulation={"threads": threads, "chunk_paths": chunk},
                   importance_sampling={"enabled": True, "pilot_paths": 4096})
        res = _run(cfg, df)
        out.append({v: res.paths[v].to_numpy() for v in res.paths.data_vars})
    assert (out[0]["weight"] != 1).any()
    for other in out[1:]:
        for v, a in out[0].items():
            np.testing.assert_array_equal(a, other[v], err_msg=v)
    plain = _run(_cfg(paths=65536, regimes=REGIMES, simulation={"seed": 3}), df)
    tilted = _run(_cfg(paths=65536, regimes=REGIMES, simulation={"seed": 4},
                       importance_sampling={"enabled": True, "pilot_paths": 8192}), df)
    for measure, level in (("EL", None), ("ES", 0.99), ("ES", 0.999)):
        a, se_a = plain.estimate(measure, "credit_loss", "ALL", level)
        b, se_b = tilted.estimate(measure, "credit_loss", "ALL", level)
        assert abs(a - b) <= 4 * np.hypot(se_a, se_b), (measure, level, a, b, se_a, se_b)


def test_yen_total_of_japan_includes_the_tariff_in_yen():
    cfg = _cfg(fx={"volatility": 0.2})
    df = mixed_frame()
    df["decline_prob"] = np.where(df.project_id == "L2", 1.0, 0.0)
    res = _run(cfg, df)
    jpy = res.paths["economic_loss_jpy"].sum("institution").values
    tariff_jpy = res.paths["tariff_cost_jpy"].values
    np.testing.assert_array_equal(res.loss("economic_loss_jpy", "ALL"), jpy + tariff_jpy)
    assert tariff_jpy.std() > 0  # each step's penalty at that step's USD/JPY
    spot = cfg.fx.usd_jpy
    assert tariff_jpy.mean() == pytest.approx(spot * res.paths["tariff_cost"].values[0],
                                              rel=4 * tariff_jpy.std() / tariff_jpy.mean()
                                              / np.sqrt(len(tariff_jpy)) + 1e-12)


def test_importance_sampled_scenarios_share_their_weights():
    cfg = _cfg(paths=4096, scenarios=[{"name": "down", "sector_shift": {"a": -1.0}}],
               simulation={"scenarios": True},
               importance_sampling={"enabled": True, "pilot_paths": 4096, "twist": False})
    res = riskengine.run_models(riskengine.build_models(cfg, make_portfolio(mixed_frame(), cfg)))
    # one factor shift for every scenario: the same paths, hence the same weights (with
    # the twist, each scenario's weights also carry its own conditional twist)
    w = res.paths["weight"]
    assert (w.sel(scenario="base") != 1).any()
    np.testing.assert_array_equal(w.sel(scenario="base").values, w.sel(scenario="down").values)
    assert res.meta["scenarios"]["down"]["importance_sampling"]["reused_from_base"]


def test_each_row_knows_the_end_of_its_block_of_timing_variants():
    """The kernel jumps from a block's first variant to its live one and past the block:
    a block is the consecutive rows of one portfolio row, and its ``[lo, hi)`` partition
    the timing uniform in order (the shipped program's 2,250 rows)."""
    from riskengine.kernel_inputs import variant_ends

    cfg = load_config(None, {"simulation": {"paths": 64}})
    pf = riskengine.load_portfolio(riskengine.config.default_portfolio_path(),
                                   cfg.dependence.sectors, cfg.simulation.n_quarters,
                                   cfg.simulation.steps_per_year)
    dep = riskengine.build_model(cfg, pf).deployment
    end = variant_ends(dep)
    assert len(end) == len(dep.parent) > len(np.unique(dep.parent))
    p = 0
    while p < len(end):
        block = np.arange(p, end[p])
        assert np.all(end[block] == end[p]) and np.all(dep.parent[block] == dep.parent[p])
        assert end[p] == len(end) or dep.parent[end[p]] != dep.parent[p]
        if dep.unit_of[p] >= 0:
            assert np.all(dep.variant_lo[block][1:] == dep.variant_hi[block][:-1])
            assert dep.variant_lo[p] == 0.0
        else:
            assert len(block) == 1
        p = end[p]

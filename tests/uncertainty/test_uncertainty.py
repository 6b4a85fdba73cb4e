"""Parameter uncertainty ([[uncertainty]], riskengine.uncertainty): a degenerate
distribution is the plain run to the bit, a two-point PD scale is the 50/50 mixture of the
two pinned runs, the parameter sets are keyed by the seed alone, and the variance share
matches the law of total variance on a one-sector Vasicek book."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm

import riskengine
from riskengine import ConfigError
from riskengine.config import apply_overrides
from riskengine.measures import LossSample
from riskengine.uncertainty import batch_edges, n_batches, parameter_values, stratified_uniforms
from tests.conftest import homogeneous_frame, make_config, make_portfolio, mixed_frame

Z = 3.0
PD = {"name": "PD", "key": "portfolio.pd_annual", "how": "scale"}


def _with(cfg, *entries, batches=None, **sim):
    over = {"uncertainty": list(entries)}
    if batches is not None:
        sim["parameter_batches"] = batches
    if sim:
        over["simulation"] = sim
    return apply_overrides(cfg, over)


def _losses(result):
    return {(i, v): result.loss(v, i) for i in ("JBIC", "NEXI", "ALL")
            for v in result.loss_variables}


def _mixed(paths=4096):
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=paths, horizon_years=5.0,
                      discount_rate=0.04, chunk_paths=2048)
    return cfg, make_portfolio(mixed_frame(), cfg)


@pytest.mark.parametrize("entry", [
    {**PD, "distribution": "lognormal", "sd": 0.0},
    {**PD, "distribution": "choice", "values": [1.0], "probabilities": [1.0]},
    {"name": "LGD", "key": "portfolio.lgd[instrument=loan]", "how": "scale",
     "distribution": "uniform", "low": 1.0, "high": 1.0},
])
def test_a_degenerate_distribution_is_the_plain_run_to_the_bit(entry):
    cfg, pf = _mixed()
    plain = riskengine.simulate(cfg, pf)
    unc = riskengine.simulate(_with(cfg, entry, batches=4), pf)
    for key, x in _losses(plain).items():
        np.testing.assert_array_equal(unc.loss(*key[::-1]), x)
    s_plain, s_unc = plain.summary_frame(), unc.summary_frame()
    common = s_unc[s_unc["measure"].isin(s_plain["measure"].unique())].reset_index(drop=True)
    np.testing.assert_array_equal(common["value"].to_numpy(), s_plain["value"].to_numpy())
    # at the point values the same paths: the conditional measures are the run's own
    for m in ("EL", "ES"):
        lv = None if m == "EL" else 0.999
        assert unc.value(m + "_conditional", level=lv) == plain.value(m, level=lv)
    # ... so the parameters carry nothing: the ES share is 0 exactly, the variance share
    # within its error of 0
    v, se = unc.estimate("parameter_uncertainty", level=0.999)
    assert v == 0.0
    v, se = unc.estimate("parameter_uncertainty")
    assert 0.0 <= v <= Z * se + 1e-12
    assert np.array_equal(np.unique(unc.paths["parameter_batch"].to_numpy()), np.arange(4))


def test_a_two_point_pd_scale_is_the_mixture_of_the_two_pinned_runs():
    """Batch b runs its paths at its value: path j of the run is path j of the run pinned
    at its batch's value, bit for bit; half the batches take each value (the sets are
    stratified), so EL and ES are the 50/50 mixture's within error."""
    cfg, pf = _mixed(paths=8192)
    entry = {**PD, "distribution": "choice", "values": [0.5, 2.0],
             "probabilities": [0.5, 0.5]}
    unc = riskengine.simulate(_with(cfg, entry, batches=8), pf)
    values = unc.parameters_ds["value"].to_numpy()[:, 0]
    assert sorted(values) == [0.5] * 4 + [2.0] * 4
    pinned = {}
    for s in (0.5, 2.0):
        df = mixed_frame()
        df["pd_annual"] *= s
        pinned[s] = riskengine.simulate(cfg, make_portfolio(df, cfg))
    batch = unc.paths["parameter_batch"].to_numpy()
    x = unc.loss("credit_loss", "ALL")
    for s, run in pinned.items():
        mine = values[batch] == s
        np.testing.assert_array_equal(x[mine], run.loss("credit_loss", "ALL")[mine])
    both = np.concatenate([pinned[0.5].loss("credit_loss", "ALL"),
                           pinned[2.0].loss("credit_loss", "ALL")])
    mix = LossSample(both)
    for est, ref in ((unc.estimate("EL"), mix.el()),
                     (unc.estimate("ES", level=0.99), mix.es(0.99))):
        assert abs(est[0] - ref.value) <= Z * np.hypot(est[1], ref.stderr), (est, ref)


def test_parameter_sets_are_keyed_by_the_seed_alone():
    cfg, pf = _mixed(paths=8192)
    entries = ({**PD, "distribution": "lognormal", "sd": 0.4},
               {"name": "w", "key": "portfolio.factor_loading", "how": "value",
                "distribution": "beta", "a": 4.0, "b": 6.0})
    a = riskengine.simulate(_with(cfg, *entries, batches=4), pf)
    b = riskengine.simulate(_with(cfg, *entries, batches=4, chunk_paths=1024, threads=1), pf)
    np.testing.assert_array_equal(a.parameters_ds["value"], b.parameters_ds["value"])
    for key, x in _losses(a).items():
        np.testing.assert_array_equal(b.loss(*key[::-1]), x)
    other = riskengine.simulate(_with(cfg, *entries, batches=4, seed=8), pf)
    assert not np.array_equal(other.parameters_ds["value"], a.parameters_ds["value"])
    # a Latin hypercube over the batches: one uniform in each stratum, entry by entry
    u = stratified_uniforms(7, 10, 3)
    for i in range(3):
        assert sorted(np.floor(u[:, i] * 10).astype(int)) == list(range(10))


def test_an_entry_added_after_others_leaves_their_draws():
    cfg, _ = _mixed()
    one = _with(cfg, {**PD, "distribution": "lognormal", "sd": 0.4}, batches=4)
    two = _with(cfg, {**PD, "distribution": "lognormal", "sd": 0.4},
                {"name": "LGD", "key": "portfolio.lgd", "how": "scale",
                 "distribution": "uniform", "low": 0.9, "high": 1.1}, batches=4)
    first = [s[0].value for s in parameter_values(one, 4)]
    assert first == [s[0].value for s in parameter_values(two, 4)]


def test_batches_are_whole_blocks_and_default_to_20():
    edges = batch_edges(100_000, 20)
    assert edges[0] == 0 and edges[-1] == 100_000 and np.all(edges[:-1] % 1024 == 0)
    assert np.all(np.diff(edges) > 0)
    cfg, _ = _mixed(paths=100_000)
    assert n_batches(_with(cfg, {**PD, "distribution": "lognormal", "sd": 0.1})) == 20
    assert n_batches(_with(cfg, {**PD, "distribution": "lognormal", "sd": 0.1},
                           paths=3000)) == 3
    assert n_batches(cfg) == 1


def test_the_variance_share_matches_the_law_of_total_variance():
    """One sector, 100 loans of 1 with LGD 1 over one year (Vasicek's finite pool): with
    the PD scale at 0.5 or 1.5, Var E[L|s] = (n pd)^2 Var(s), and Var(L | s) = n p (1 - p)
    + n (n - 1) (Phi2(Phi^-1 p, Phi^-1 p; w^2) - p^2)."""
    n, pd, w = 100, 0.02, 0.4
    cfg = make_config(paths=40_960, seed=3, horizon_years=1.0)
    df = homogeneous_frame(n=n, pd_annual=pd, lgd=1.0, w=w)
    entry = {**PD, "distribution": "choice", "values": [0.5, 1.5],
             "probabilities": [0.5, 0.5]}
    res = riskengine.simulate(_with(cfg, entry, batches=20), df)

    def conditional_var(p):
        t = norm.ppf(p)
        joint = multivariate_normal([0, 0], [[1, w * w], [w * w, 1]]).cdf([t, t])
        return n * p * (1 - p) + n * (n - 1) * (joint - p * p)

    between = (n * pd) ** 2 * 0.25
    within = 0.5 * (conditional_var(0.5 * pd) + conditional_var(1.5 * pd))
    exact = between / (between + within)
    v, se = res.estimate("parameter_uncertainty")
    assert 0 < se < 0.1
    assert abs(v - exact) <= Z * se, (v, se, exact)


@pytest.mark.parametrize("entry, over, words", [
    ({**PD, "distribution": "lognormal"}, {}, ["needs sd"]),
    ({**PD, "how": "value", "distribution": "lognormal", "sd": 0.1}, {}, ["how = \"scale\""]),
    ({**PD, "distribution": "normal", "mean": 1.0, "sd": 0.1, "a": 2.0}, {},
     ["a not a parameter"]),
    ({**PD, "distribution": "choice", "values": [1, 2], "probabilities": [0.5, 0.6]}, {},
     ["sum to 1"]),
    ({**PD, "distribution": "lognormal", "sd": 0.1}, {"importance_sampling": {"enabled": True}},
     ["importance_sampling.enabled"]),
    ({"name": "p", "key": "regimes.probability", "distribution": "dirichlet",
      "concentration": 5.0}, {}, ["two [[regimes]]"]),
])
def test_bad_entries_are_named(entry, over, words):
    cfg, _ = _mixed()
    with pytest.raises(ConfigError) as e:
        apply_overrides(cfg, {"uncertainty": [entry], **over})
    for w in words:
        assert w in str(e.value), str(e.value)


def test_a_bad_key_or_draw_is_named_before_anything_runs():
    cfg, pf = _mixed()
    with pytest.raises(ConfigError, match="uncertainty 'x'.*unknown key 'fx.nonsense'"):
        riskengine.simulate(_with(cfg, {"name": "x", "key": "fx.nonsense", "how": "value",
                                        "distribution": "uniform", "low": 0, "high": 1}), pf)
    with pytest.raises(ConfigError, match="(?s)uncertainty 'LGD'.*column 'lgd'"):
        riskengine.simulate(_with(cfg, {"name": "LGD", "key": "portfolio.lgd", "how": "scale",
                                        "distribution": "uniform", "low": 3.0,
                                        "high": 4.0}), pf)
    with pytest.raises(ConfigError, match="parameter_batches"):
        apply_overrides(cfg, {"simulation": {"parameter_batches": 3}})
    with pytest.raises(ConfigError, match="parameter_batches = 9 needs"):
        riskengine.simulate(_with(cfg, {**PD, "distribution": "lognormal", "sd": 0.1},
                                  batches=9), pf)


def test_a_run_directory_holds_the_parameters_and_the_shares(tmp_path):
    cfg, pf = _mixed()
    res = riskengine.simulate(_with(cfg, {**PD, "distribution": "lognormal", "sd": 0.5},
                                    batches=4), pf, out=tmp_path / "run")
    back = riskengine.read_results(tmp_path / "run")
    assert {"parameters", "summary", "convergence"} <= set(back.datasets)
    s = back.datasets["summary"]
    measures = set(s["measure"].to_numpy())
    assert {"ES_conditional", "parameter_uncertainty"} <= measures
    assert back.manifest["parameter_uncertainty"]["parameter_batches"] == 4
    v = res.value("parameter_uncertainty", level=0.999)
    assert np.isfinite(v)
    assert "parameter_batch" in back.datasets["paths"]

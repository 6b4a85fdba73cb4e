"""Sensitivities on common random numbers (riskengine.sensitivity): a zero bump changes
nothing, a PD bump matches the closed form, the paired errors beat the unpaired ones, a
bad spec is named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskengine
from riskengine import ConfigError
from riskengine.sensitivity import COLUMNS, load_spec
from tests.conftest import homogeneous_frame, make_config

Z = 3.0


def _spec(*inputs):
    return {"inputs": [dict(why="test", **i) for i in inputs]}


def test_zero_bump_changes_nothing_to_the_bit(tmp_path):
    """A scale of 1 on the shipped program (selection, declines, regimes, equity, the
    tariff): every change and every paired error is exactly 0."""
    spec = _spec({"name": "PD x 1", "key": "portfolio.pd_annual", "how": "scale",
                  "low": 1, "high": 1},
                 {"name": "FX vol x 1", "key": "fx.volatility", "how": "scale",
                  "low": 1.0, "high": 1.0})
    frame = riskengine.sensitivity(spec=spec, paths=1024, out=tmp_path)
    assert len(frame) == 2 * 2 * 3 * 3 * 5  # credit, economic and yen
    assert (frame["change"].to_numpy() == 0.0).all()
    assert (frame["stderr"].to_numpy() == 0.0).all()
    back = pd.read_parquet(tmp_path / "sensitivity.parquet")
    assert list(back.columns[:len(COLUMNS)]) == COLUMNS
    assert set(back["direction"].astype(str)) == {"low", "high"}
    assert back["level"].isna().sum() == 2 * 2 * 3 * 3


def _book():
    cfg = make_config(paths=20_000, seed=11, horizon_years=1.0)
    df = homogeneous_frame(n=100, pd_annual=0.02, lgd=0.5, w=0.45)
    df["lgd_sd"] = 0.2
    return cfg, df


def test_pd_scale_matches_the_vasicek_expected_loss():
    """One sector, 100 identical loans of 1, one year: EL = n * lgd * pd whatever the
    loading, so the change is n * lgd * (pd_high - pd)."""
    cfg, df = _book()
    spec = _spec({"name": "PD", "key": "portfolio.pd_annual", "how": "scale",
                  "low": 0.5, "high": 1.5})
    frame = riskengine.sensitivity(cfg, df, spec=spec)
    el = frame[(frame["institution"] == "ALL") & (frame["variable"] == "credit_loss")
               & (frame["measure"] == "EL")].set_index("direction")
    for d, scale in (("low", 0.5), ("high", 1.5)):
        exact = 100 * 0.5 * 0.02 * (scale - 1.0)
        assert abs(el.loc[d, "change"] - exact) <= Z * el.loc[d, "stderr"]
        assert el.loc[d, "stderr"] > 0


def test_paired_error_is_below_the_unpaired_one():
    cfg, df = _book()
    spec = _spec({"name": "PD", "key": "portfolio.pd_annual", "how": "scale",
                  "low": 0.8, "high": 1.25},
                 {"name": "loading", "key": "portfolio.factor_loading", "how": "scale",
                  "low": 0.8, "high": 1.2},
                 {"name": "LGD", "key": "portfolio.lgd[sector=s]", "how": "value",
                  "low": 0.4, "high": 0.6})
    frame = riskengine.sensitivity(cfg, df, spec=spec)
    rows = frame[frame["institution"].isin(["JBIC", "ALL"])
                 & (frame["variable"] == "credit_loss")]
    assert np.isfinite(rows["stderr"]).all() and np.isfinite(rows["unpaired_stderr"]).all()
    assert (rows["stderr"] < rows["unpaired_stderr"]).all(), rows[
        rows["stderr"] >= rows["unpaired_stderr"]]


@pytest.mark.parametrize("bad, words", [
    ({"name": "x", "key": "fx.nonsense", "how": "value", "low": 0, "high": 1},
     ["'x'", "unknown key 'fx.nonsense'"]),
    ({"name": "y", "key": "portfolio.pd_annual", "how": "scale", "low": "a", "high": 1},
     ["'y'", "low = 'a' is not a number"]),
    ({"name": "z", "key": "portfolio.pd_annual", "how": "scale", "low": 1},
     ["'z'", "missing high"]),
    ({"name": "w", "key": "portfolio.pd_annual[sector=nowhere]", "how": "scale", "low": 1,
      "high": 2}, ["'w'", "selects no row"]),
    ({"name": "v", "key": "portfolio.pd_annual", "how": "scale", "low": 1, "high": 80},
     ["'v'", "pd_annual"]),
])
def test_bad_spec_names_the_input(tmp_path, bad, words):
    path = tmp_path / "spec.toml"
    lines = ["[[inputs]]"] + [f"{k} = {v!r}".replace("'", '"') for k, v in
                              dict(why="test", **bad).items()]
    path.write_text("\n".join(lines) + "\n")
    cfg, df = _book()
    with pytest.raises(ConfigError) as e:
        riskengine.sensitivity(cfg, df, spec=path, paths=1024)
    text = str(e.value).replace('"', "'")
    assert str(path) in str(e.value)
    for w in words:
        assert w in text, text


def test_the_shipped_spec_reads():
    inputs = load_spec(None)
    assert len(inputs) >= 15 and all(i.why for i in inputs)


def test_a_choice_input_and_a_regime_probability_are_bumped_as_written():
    """tariff.form takes text; a regime's probability moves and the others share the rest
    in their old proportions (so the three still sum to one)."""
    from riskengine.config import default_portfolio_path, load_config
    from riskengine.portfolio import load_portfolio
    from riskengine.sensitivity import Input, bumped

    cfg = load_config(None)
    pf = load_portfolio(default_portfolio_path(), cfg.dependence.sectors,
                        cfg.simulation.n_quarters, cfg.simulation.steps_per_year)
    form = Input("form", "tariff.form", "value", "proportional", "trigger", "test")
    assert bumped(cfg, pf, form, "trigger")[0].tariff.form == "trigger"
    dil = Input("dil", "regimes[name=strategic dilution].probability", "value", 0.05, 0.3,
                "test")
    before = {r.name: r.probability for r in cfg.regimes}
    after = {r.name: r.probability for r in bumped(cfg, pf, dil, 0.3)[0].regimes}
    assert after["strategic dilution"] == 0.3
    assert abs(sum(after.values()) - 1.0) < 1e-12
    others = [n for n in before if n != "strategic dilution"]
    ratio = [after[n] / before[n] for n in others]
    assert np.allclose(ratio, 0.7 / (1.0 - before["strategic dilution"]))
    with pytest.raises(ConfigError, match="text"):
        bumped(cfg, pf, Input("x", "fx.volatility", "value", "high", "low", "test"), "high")


def test_fx_inputs_are_measured_on_the_yen_figures():
    """An [fx] input moves no dollar figure (change and error exactly 0) but does move the
    yen economic loss, which the frame carries when the run has [fx]."""
    spec = _spec({"name": "FX vol", "key": "fx.volatility", "how": "value",
                  "low": 0.05, "high": 0.2})
    frame = riskengine.sensitivity(spec=spec, paths=1024)
    dollars = frame[frame["variable"] != "economic_loss_jpy"]
    assert (dollars["change"].to_numpy() == 0.0).all()
    yen = frame[(frame["variable"] == "economic_loss_jpy") & (frame["measure"] == "EL")]
    assert len(yen) == 2 * 3 and (yen["change"].abs() > 0).any()
    assert list(frame["value_label"].unique()) == ["0.05", "0.2"]

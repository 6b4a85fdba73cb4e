"""The config refuses what would run as a silent wrong answer (a boolean read as a number,
an overflowing magnitude), says what to fix, and notes what an analyst should know."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest

import riskengine
from riskengine.cli import main
from riskengine.config import config_notes, load_config


def _validate(tmp_path, capsys, toml: str, *extra):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(toml)
    code = main(["validate", "--config", str(cfg), *extra])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return code, cap.err, cfg


def _run(tmp_path, capsys, toml: str):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(toml)
    out = tmp_path / "out"
    code = main(["run", "--config", str(cfg), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".out*"))  # nothing written
    return code, err, cfg


# the cases, as it writes them
@pytest.mark.parametrize("toml,key", [
    ("[fx]\nfactor_correlation = true\n", "fx.factor_correlation"),
    ("[[regimes]]\nname = \"a\"\nprobability = 1.0\npd_multiplier = true\n",
     "regimes.0.pd_multiplier"),
    ("[simulation]\nhorizon_years = true\n", "simulation.horizon_years"),
    ("[dependence]\ndof = false\n", "dependence.dof"),
    ("[measures]\nlevels = [0.99, true]\n", "measures.levels.1"),
    ("[[scenarios]]\nname = \"x\"\nsector_shift = { nuclear = true }\n",
     "scenarios.0.sector_shift.nuclear"),
    ("[outputs]\ncheckpoint = 1\n", "outputs.checkpoint"),
])
def test_a_boolean_is_never_a_number(tmp_path, capsys, toml, key):
    code, err, cfg = _run(tmp_path, capsys, "[simulation]\npaths = 2048\n" + toml
                          if not toml.startswith("[simulation]") else toml)
    assert code == 4 and str(cfg) in err and f"key {key}:" in err, err
    if "checkpoint" not in key:
        assert "is a boolean, not a number" in err
    assert "portfolio" not in err  # (not 187 portfolio errors)


def test_integers_are_accepted_where_a_float_is_due():
    cfg = load_config({"simulation": {"horizon_years": 5}, "fx": {"usd_jpy": 150},
                       "rates": {"base_rate": 0}})
    assert cfg.simulation.horizon_years == 5.0 and type(cfg.simulation.horizon_years) is float
    assert type(cfg.fx.usd_jpy) is float and type(cfg.rates.base_rate) is float


@pytest.mark.parametrize("toml,key,text", [
    ("[fx]\nusd_jpy = 1e300\n", "fx.usd_jpy", "1e+300 must be less than 10000"),
    ("[fx]\nusd_jpy = 0.5\n", "fx.usd_jpy", "0.5 must be greater than 1"),
    ("[[scenarios]]\nname = \"x\"\nsector_shift = { nuclear = 1e300 }\n",
     "scenarios.0.sector_shift.nuclear", "1e+300 must be less than or equal to 10"),
    ("[[scenarios]]\nname = \"x\"\nsector_shift = { nuclear = -11 }\n",
     "scenarios.0.sector_shift.nuclear", "must be greater than or equal to -10"),
    ("[simulation]\nhorizon_years = 1e6\n", "simulation.horizon_years", "less than or equal to 200"),
    ("[dependence]\ncopula = \"t\"\ndof = 1e300\n", "dependence.dof", "less than or equal to 1000"),
])
def test_magnitudes_are_bounded(tmp_path, capsys, toml, key, text):
    code, err, cfg = _run(tmp_path, capsys, toml)
    assert code == 4 and str(cfg) in err and f"key {key}: " in err and text in err, err


def test_empty_levels_say_what_to_write(tmp_path, capsys):
    code, err, cfg = _validate(tmp_path, capsys, "[measures]\nlevels = []\n")
    assert code == 4 and str(cfg) in err and "key measures.levels: is empty" in err
    assert "levels = [0.99, 0.999]" in err and "strictly between" not in err


def test_a_config_without_regimes_or_scenarios_says_so_in_one_line_each(tmp_path, capsys):
    code, err, _ = _validate(tmp_path, capsys, "[simulation]\npaths = 2048\n")
    assert code == 0
    lines = [ln for ln in err.splitlines() if ln.startswith("note: ")]
    assert lines == [
        "note: one regime: the shipped program's three regimes are not inherited by "
        "--config; copy its [[regimes]] tables to keep them",
        "note: the base case alone: the shipped program's four scenarios are not inherited "
        "by --config; copy its [[scenarios]] tables to keep them",
        "note: no adverse selection: the shipped program's program.selection_correlation = "
        "0.149 is not inherited by --config; set it to keep it"], err


def test_a_config_of_ones_own_does_not_inherit_adverse_selection(tmp_path):
    """Like the regimes, the shipped program's adverse selection is its content: a config
    of one's own starts from 0 (and keeps its t copula), the shipped program has it."""
    cfg = tmp_path / "c.toml"
    cfg.write_text("[dependence]\ncopula = \"t\"\ndof = 5\n")
    assert load_config(cfg).program.selection_correlation == 0.0
    assert load_config(None).program.selection_correlation == pytest.approx(0.149)


def test_the_shipped_program_and_a_config_with_its_own_tables_have_no_note(tmp_path, capsys):
    assert main(["validate"]) == 0
    assert "note:" not in capsys.readouterr().err
    own = ("[program]\nselection_correlation = 0.0\n"
           "[[regimes]]\nname = \"only\"\nprobability = 1.0\n"
           "[[scenarios]]\nname = \"s\"\npd_multiplier = 2.0\n")
    code, err, _ = _validate(tmp_path, capsys, own)
    assert code == 0 and "note:" not in err


def test_simulate_with_a_dict_warns_what_it_does_not_inherit(tmp_path):
    raw = {"simulation": {"paths": 2048}}
    notes = config_notes(load_config(raw), raw, given_as="simulate(config=...)")
    assert len(notes) == 3 and all("not inherited by simulate(config=...)" in n for n in notes)
    with pytest.warns(UserWarning, match="three regimes are not inherited"), \
            pytest.raises(riskengine.DataError):  # (stops before simulating)
        riskengine.simulate(raw, portfolio=tmp_path / "missing.csv")


def test_simulate_with_the_shipped_config_object_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(riskengine.UsageError):
            riskengine.simulate(load_config(), portfolio=3)  # type: ignore[arg-type]


def test_deadline_before_as_of_and_a_regime_never_drawn_are_noted(tmp_path, capsys):
    toml = ("[program]\nselection_deadline = 2020-01-01\n"
            "[[regimes]]\nname = \"a\"\nprobability = 1.0\n"
            "[[regimes]]\nname = \"b\"\nprobability = 0.0\n"
            "[[scenarios]]\nname = \"s\"\npd_multiplier = 2.0\n")
    code, err, _ = _validate(tmp_path, capsys, toml)
    assert code == 0
    assert ("note: program.selection_deadline 2020-01-01 is before simulation.as_of "
            "2025-10-01" in err)
    assert "note: regimes: 'b' has probability 0, so no path draws it" in err
    # pinned, the regime is the point of the run: no note for it
    pinned = load_config({"regimes": [{"name": "a", "probability": 1.0},
                                      {"name": "b", "probability": 0.0}],
                          "simulation": {"regime": "b"}})
    assert not [n for n in config_notes(pinned) if "probability 0" in n]
    assert config_notes(load_config({"program": {"selection_deadline": dt.date(2029, 1, 19)}})
                        ) == []

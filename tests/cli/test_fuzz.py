"""Generated portfolios and configs through the command line: every one either runs or is
refused with a message that names the file (and row and column, or key), a non-zero exit
code and nothing written; never a traceback. 500 examples in all."""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import riskengine
from riskengine.cli import main

from ..conftest import credit_losses, mixed_frame

SETTINGS = dict(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

BASE_CONFIG = {
    "simulation": {"paths": "1024", "seed": "5", "horizon_years": "3"},
    "dependence": {"sectors": '["a", "b"]', "correlation": "[[1.0, 0.4], [0.4, 1.0]]"},
    "outputs": {"timeline_paths": "64", "irr_paths": "64"},
}

ODD_VALUES = [math.nan, math.inf, -math.inf, "", " ", "abc", "1,5", True, False, 1e308,
              -1e308, 1e-308, -1.0, 0.0, 1.0, 2.0, 10**30, "NaN", "None", "loan", "NEXI",
              "JBIC", "equity", "guarantee", "zz", "é", "0x10", "1e3", None]


def _config_text(sections: dict[str, dict[str, str]]) -> str:
    return "".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in body.items()) + "\n"
                   for name, body in sections.items())


def _run(capsys, folder: Path, pf: Path, cfg: Path) -> tuple[int, str, Path]:
    capsys.readouterr()
    out = folder / "out"
    code = main(["run", "--config", str(cfg), "--portfolio", str(pf), "--out", str(out),
                 "--quiet"])
    err = capsys.readouterr().err
    return code, err, out


def _check(code: int, err: str, out: Path, named: str) -> None:
    assert "Traceback" not in err, err
    if code == 0:
        assert json.loads((out / "manifest.json").read_text())["complete"] is True
    else:
        assert code in (2, 3, 4), (code, err)
        assert "error:" in err and (named in err or "config key" in err), err
        assert not out.exists()


@st.composite
def portfolios(draw):
    """A valid program, then a few edits: odd cells, a duplicate id, a dropped, renamed or
    extra column; written as CSV (UTF-8 or with a BOM, LF or CRLF, comma or another
    separator) or Parquet."""
    df = mixed_frame().astype(object)
    for _ in range(draw(st.integers(0, 3))):
        row = draw(st.integers(0, len(df) - 1))
        col = draw(st.sampled_from(list(df.columns)))
        df.loc[row, col] = draw(st.sampled_from(ODD_VALUES))
    edit = draw(st.sampled_from(["none", "duplicate", "drop", "rename", "extra", "empty"]))
    if edit == "duplicate":
        df.loc[1, "project_id"] = df.loc[0, "project_id"]
    elif edit == "drop":
        df = df.drop(columns=[draw(st.sampled_from(list(df.columns)))])
    elif edit == "rename":
        col = draw(st.sampled_from(list(df.columns)))
        df = df.rename(columns={col: col[:-1] + "x"})
    elif edit == "extra":
        df[draw(st.sampled_from(["note", "coverge", "tenor", "Rate", "rating"]))] = 1
    elif edit == "empty":
        df = df.iloc[:0]
    fmt = draw(st.sampled_from(["csv", "csv-bom", "csv-crlf", "csv-semicolon", "parquet"]))
    return df, fmt


def _write_portfolio(df: pd.DataFrame, fmt: str, folder: Path) -> Path:
    if fmt == "parquet":
        path = folder / "pf.parquet"
        try:
            df.to_parquet(path)
            return path
        except Exception:  # mixed-type columns Parquet cannot hold: a CSV instead
            fmt = "csv"
    path = folder / "pf.csv"
    text = df.to_csv(index=False, sep=";" if fmt == "csv-semicolon" else ",")
    if fmt == "csv-crlf":
        text = text.replace("\n", "\r\n")
    path.write_bytes(("\ufeff" if fmt == "csv-bom" else "").encode() + text.encode())
    return path


@settings(max_examples=300, **SETTINGS)
@given(portfolios())
def test_generated_portfolios(capsys, case):
    df, fmt = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pf = _write_portfolio(df, fmt, folder)
        cfg = folder / "cfg.toml"
        cfg.write_text(_config_text(BASE_CONFIG))
        code, err, out = _run(capsys, folder, pf, cfg)
        _check(code, err, out, pf.name)
        if code == 3 and re.search(r"row [0-9]", err):
            assert "column '" in err


VALID = st.fixed_dictionaries({
    "n": st.integers(1, 30), "pd": st.floats(0.0, 1.0), "lgd": st.floats(0.0, 1.0),
    "w": st.floats(0.0, 1.0), "commit": st.floats(1e-3, 1e13),
    "instrument": st.sampled_from(["loan", "guarantee", "equity"]),
    "tenor": st.sampled_from([None, 0.25, 1.0, 2.5, 40.0]),
})


@settings(max_examples=100, **SETTINGS)
@given(VALID)
def test_generated_valid_portfolios_run(capsys, v):
    inst = "NEXI" if v["instrument"] == "guarantee" else "JBIC"
    df = pd.DataFrame({"project_id": [f"P{i}" for i in range(v["n"])], "sector": "a",
                       "institution": inst, "instrument": v["instrument"],
                       "commitment_usd": v["commit"], "pd_annual": v["pd"], "lgd": v["lgd"],
                       "factor_loading": v["w"], "tenor_years": v["tenor"],
                       "expected_yield": 0.1 if v["instrument"] == "equity" else 0.0})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pf = _write_portfolio(df, "csv", folder)
        cfg = folder / "cfg.toml"
        cfg.write_text(_config_text(BASE_CONFIG))
        code, err, out = _run(capsys, folder, pf, cfg)
        assert code == 0, err
        _check(code, err, out, pf.name)
        run = riskengine.read_results(out)
        assert sorted(run.projects["project"].values) == sorted(df["project_id"])
        loss, el = credit_losses(out)
        assert el == pytest.approx(loss.mean(), rel=1e-12, abs=1e-300)
        assert len(loss) == 1024 and (loss >= 0).all()
        assert loss.max() <= df["commitment_usd"].sum() * (1 + 1e-12)


CONFIG_EDITS = st.sampled_from([
    ("simulation", "paths", '"many"'), ("simulation", "paths", "1.5"),
    ("simulation", "paths", "0"), ("simulation", "seed", "-1"),
    ("simulation", "horizon_years", "0.3"), ("simulation", "steps_per_year", "0"),
    ("simulation", "threads", "true"), ("simulation", "as_of", '"yesterday"'),
    ("dependence", "correlation", "[[1.0, 0.9], [0.4, 1.0]]"),
    ("dependence", "correlation", "[[1.0, 0.4]]"),
    ("dependence", "correlation", "[[1.0, nan], [nan, 1.0]]"),
    ("dependence", "correlation", "[[1.0, 1.2], [1.2, 1.0]]"),
    ("dependence", "correlation", '"identity"'),
    ("dependence", "sectors", '["a", "a"]'), ("dependence", "sectors", '["a", "c"]'),
    ("dependence", "copula", '"t"'), ("dependence", "correlation_repair", '"higham"'),
    ("waterfall", "tiers", "[]"),
    ("waterfall", "tiers", '[{japan_share = 0.5, until = "deemed_allocation"}]'),
    ("waterfall", "tiers", "[{japan_share = 1.5}]"),
    ("waterfall", "tiers", "[{japan_share = 0.5}, {japan_share = 0.1}]"),
    ("waterfall", "tiers", '[{japan_share = 0.6, until = "deemed_allocation"}, {japan_share = 0.2}]'),
    ("rates", "base_rate", '"3%"'), ("rates", "discount_rate", "2.0"),
    ("rates", "model", '"hull-white"'), ("rates", "volatility", "-0.1"),
    ("rates", "model", '"vasicek"'),
    ("measures", "levels", "[0.99, 1.5]"), ("measures", "levels", "[]"),
    ("outputs", "timeline_paths", "0"), ("outputs", "irr_paths", "-3"),
    ("importance_sampling", "defensive_share", "1.0"),
    ("importance_sampling", "enabled", "true"), ("importance_sampling", "pilot_paths", "10"),
    ("unknown_section", "x", "1"), ("rates", "base_rat", "0.03"),
    ("simulation", "paths", "2048"), ("rates", "base_rate", "0.05"),
])


@settings(max_examples=100, **SETTINGS)
@given(st.lists(CONFIG_EDITS, min_size=1, max_size=3),
       st.sampled_from(["text", "truncated", "binary", "utf16"]), st.integers(0, 10_000))
def test_generated_configs(capsys, edits, form, cut):
    sections = {name: dict(body) for name, body in BASE_CONFIG.items()}
    for name, key, value in edits:
        sections.setdefault(name, {})[key] = value
    text = _config_text(sections)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pf = _write_portfolio(mixed_frame(), "csv", folder)
        cfg = folder / "cfg.toml"
        if form == "truncated":
            cfg.write_text(text[: cut % max(len(text), 1)])
        elif form == "binary":
            cfg.write_bytes(np.random.default_rng(cut).bytes(200))
        elif form == "utf16":
            cfg.write_bytes(text.encode("utf-16"))
        else:
            cfg.write_text(text)
        code, err, out = _run(capsys, folder, pf, cfg)
        _check(code, err, out, "cfg.toml" if code == 4 else pf.name)

"""`riskengine run` with elections from a TOML file: the per-path columns, the terminal's
rows by the deal's end, and a bad switch refused naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from riskengine.cli import main
from riskengine.io import read_dataset

from .common import loans

TOML = """
[simulation]
paths = 2048
horizon_years = 4.0
as_of = 2026-01-01

[dependence]
sectors = ["s"]
correlation = [[1.0]]

[[regimes]]
name = "calm"
probability = 0.6
switch = { rough = 0.3 }
deal_end_prob = 0.2

[[regimes]]
name = "rough"
probability = 0.4
pd_multiplier = 3.0
switch = { {bad} = 0.2 }

[[elections]]
name = "mid2027"
date = 2027-11-02

[deal_end]
tariff = "stays"
"""


def _files(tmp_path: Path, bad: str = "calm") -> tuple[Path, Path]:
    cfg = tmp_path / "elections.toml"
    cfg.write_text(TOML.replace("{bad}", bad))
    pf = tmp_path / "pf.csv"
    loans(20).to_csv(pf, index=False)
    return cfg, pf


def test_run_writes_the_history_and_the_deal_end(tmp_path, capsys):
    cfg, pf = _files(tmp_path)
    out = tmp_path / "run"
    code = main(["run", "--config", str(cfg), "--portfolio", str(pf), "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    paths = read_dataset(out / "paths.parquet")
    assert set(pd.unique(paths["regime_at_mid2027"].to_numpy())) <= {0, 1}
    ended = paths["deal_end"].to_numpy()
    assert set(pd.unique(ended)) == {0, 1}  # (only calm ends it: 0.6 x 0.2)
    assert abs((ended == 1).mean() - 0.12) < 0.03
    assert "deal ends at mid2027" in text and "switched" in text
    summary = read_dataset(out / "summary.parquet")
    assert "probability" in summary and "deal lasts" in summary["regime"].values


def test_a_switch_to_an_unknown_regime_names_the_file(tmp_path, capsys):
    cfg, pf = _files(tmp_path, bad="stormy")
    code = main(["run", "--config", str(cfg), "--portfolio", str(pf), "--out",
                 str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code != 0
    assert "elections.toml" in err and "'rough' switch names 'stormy'" in err

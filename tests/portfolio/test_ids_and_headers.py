"""A portfolio's ids and header refused cleanly from every source (CSV, Parquet,
DataFrame): a null or blank id, a column named twice, a '#' first line, a commitment too
large to sum."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import riskengine
from riskengine.cli import main
from riskengine.errors import DataError

from ..conftest import mixed_frame

CONFIG = """
[simulation]
paths = 2048
horizon_years = 3

[dependence]
sectors = ["a", "b"]
correlation = [[1.0, 0.4], [0.4, 1.0]]
"""
#: the small configs here have no [[regimes]] of their own, by design
pytestmark = pytest.mark.filterwarnings("ignore:.*not inherited by simulate:UserWarning")
CFG = {"simulation": {"paths": 2048, "horizon_years": 3},
       "dependence": {"sectors": ["a", "b"], "correlation": [[1.0, 0.4], [0.4, 1.0]]}}


def _run(tmp_path, capsys, pf):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    code = main(["run", "--config", str(cfg), "--portfolio", str(pf), "--out", str(out),
                 "--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".out*"))  # nothing written
    return code, err


@pytest.mark.parametrize("value", [np.nan, None, "", "   "])
@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_null_or_blank_id_is_named(tmp_path, capsys, kind, value):
    df = mixed_frame().astype({"project_id": object})
    df.loc[2, "project_id"] = value
    pf = tmp_path / f"pf.{kind}"
    df.to_parquet(pf) if kind == "parquet" else df.to_csv(pf, index=False)
    code, err = _run(tmp_path, capsys, pf)
    assert code == 3, err
    assert f"{pf}, row 3" in err and "column 'project_id'" in err and "is empty (or null)" in err


@pytest.mark.parametrize("value", [np.nan, None, " "])
def test_a_null_id_in_a_dataframe_is_named(value):
    df = mixed_frame().astype({"project_id": object})
    df.loc[4, "project_id"] = value
    with pytest.raises(DataError, match=r"<DataFrame>, row 5, column 'project_id': .* is "
                                        r"empty \(or null\)"):
        riskengine.simulate(CFG, df)


def test_a_column_named_twice_is_refused_in_parquet_and_csv(tmp_path, capsys):
    df = mixed_frame()
    table = pa.Table.from_pandas(df, preserve_index=False).append_column(
        "lgd", pa.array([0.1] * len(df)))
    pf = tmp_path / "pf.parquet"
    pq.write_table(table, pf)
    code, err = _run(tmp_path, capsys, pf)
    assert code == 3 and f"{pf}: column 'lgd' appears 2 times (columns 7, 15)" in err, err
    assert "schema" not in err and "__fragment_index" not in err

    csv = tmp_path / "pf.csv"
    lines = df.to_csv(index=False).splitlines()
    csv.write_text("\n".join([lines[0] + ",lgd"] + [ln + ",0.1" for ln in lines[1:]]) + "\n")
    code, err = _run(tmp_path, capsys, csv)  # (pandas would have read it as lgd.1)
    assert code == 3 and f"{csv}: column 'lgd' appears 2 times" in err, err


def test_a_column_named_twice_in_a_dataframe():
    df = mixed_frame()
    df.columns = [*df.columns[:-1], "lgd"]  # (coverage renamed lgd)
    with pytest.raises(DataError, match="<DataFrame>: column 'lgd' appears 2 times"):
        riskengine.simulate(CFG, df)


def test_a_comment_first_line_gets_the_hint(tmp_path, capsys):
    pf = tmp_path / "pf.csv"
    pf.write_text("# the program of 2026\n" + mixed_frame().to_csv(index=False))
    code, err = _run(tmp_path, capsys, pf)
    assert code == 3
    problems = [ln for ln in err.splitlines() if ln.startswith("  - ")]
    first = problems[0]  # (before the missing columns it explains)
    assert f"{pf}: the first line starts with '#'" in first
    assert "comments are not allowed" in first and "must be the first line" in first


@pytest.mark.parametrize("value,text", [(1e200, "at most 1e13"), (np.inf, "at most 1e13"),
                                        (-5.0, "must be an amount > 0")])
def test_commitment_is_bounded(tmp_path, capsys, value, text):
    df = mixed_frame()
    df.loc[1, "commitment_usd"] = value
    pf = tmp_path / "pf.csv"
    df.to_csv(pf, index=False)
    code, err = _run(tmp_path, capsys, pf)
    assert code == 3 and f"{pf}, row 2 (line 3), column 'commitment_usd'" in err and text in err


@pytest.mark.parametrize("col,value,text", [("cf_vol", 1e3, "[0, 3]"),
                                            ("expected_yield", 1e6, "[0, 5]")])
def test_equity_cash_parameters_are_bounded(col, value, text):
    df = mixed_frame()
    df[col] = 0.0
    df.loc[df.instrument == "equity", col] = value
    with pytest.raises(DataError, match=rf"row 6, column '{col}'.*{text[1:-1]}"):
        riskengine.simulate(CFG, df)

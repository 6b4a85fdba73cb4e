"""Bad input stops the run before anything is written, naming file, row and column."""

from __future__ import annotations

import numpy as np
import pytest

import riskengine
from riskengine.cli import main

from ..conftest import credit_losses, mixed_frame

CONFIG = """
[simulation]
paths = 2048
seed = 3
horizon_years = 5
steps_per_year = 4
[dependence]
sectors = ["a", "b"]
correlation = [[1.0, 0.4], [0.4, 1.0]]
"""


def _write(tmp_path, df=None, config=CONFIG):
    df = mixed_frame() if df is None else df
    pf = tmp_path / "pf.csv"
    df.to_csv(pf, index=False)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(config)
    return pf, cfg


def _run(tmp_path, pf, cfg, capsys, *extra):
    out = tmp_path / "out"
    code = main(["run", "--config", str(cfg), "--portfolio", str(pf), "--out", str(out),
                 "--quiet", *extra])
    err = capsys.readouterr().err
    return code, err, out


def test_good_input_runs(tmp_path, capsys):
    pf, cfg = _write(tmp_path)
    code, err, out = _run(tmp_path, pf, cfg, capsys)
    assert code == 0, err
    run = riskengine.read_results(out)
    assert run.manifest["complete"] is True and run.manifest["paths"] == 2048
    assert sorted(run.projects["project"].values) == sorted(mixed_frame()["project_id"])
    loss, el = credit_losses(out)
    assert len(loss) == 2048 and (loss >= 0).all() and el == pytest.approx(loss.mean(), rel=1e-12)


def _mutate(col, row, value):
    df = mixed_frame()
    df[col] = df[col].astype(object)
    df.loc[row, col] = value
    return df


BAD_DATA = [
    ("pd_annual", 1, 1.5, "[0, 1]"),
    ("pd_annual", 2, np.nan, "[0, 1]"),
    ("lgd", 0, -0.1, "[0, 1]"),
    ("lgd", 3, "abc", "not a number"),
    ("commitment_usd", 4, 0.0, "> 0"),
    ("commitment_usd", 1, -5.0, "> 0"),
    ("project_id", 2, "L1", "duplicate id"),
    ("sector", 1, "aerospace", "not a sector"),
    ("institution", 0, "MOF", "one of"),
    ("instrument", 0, "swap", "one of"),
    ("institution", 3, "JBIC", "guarantee"),
]


@pytest.mark.parametrize("col,row,value,text", BAD_DATA)
def test_bad_data_is_rejected_with_file_row_column(tmp_path, capsys, col, row, value, text):
    pf, cfg = _write(tmp_path, _mutate(col, row, value))
    code, err, out = _run(tmp_path, pf, cfg, capsys)
    assert code == 3
    assert "pf.csv" in err and f"row {row + 1} (line {row + 2})" in err
    assert f"column '{col}'" in err and text in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_missing_column(tmp_path, capsys):
    pf, cfg = _write(tmp_path, mixed_frame().drop(columns=["factor_loading"]))
    code, err, out = _run(tmp_path, pf, cfg, capsys)
    assert code == 3 and "missing required column 'factor_loading'" in err and not out.exists()


def test_parquet_portfolio_rows_are_named(tmp_path, capsys):
    df = mixed_frame()
    df.loc[2, "pd_annual"] = 2.0
    pf = tmp_path / "pf.parquet"
    df.to_parquet(pf)
    _, cfg = _write(tmp_path)
    code, err, out = _run(tmp_path, pf, cfg, capsys)
    assert code == 3 and "pf.parquet, row 3, column 'pd_annual'" in err


BAD_CONFIG = [
    ("[[1.0, 0.4], [0.3, 1.0]]", "not symmetric"),
    ("[[1.0, 0.4], [0.4, 0.9]]", "diagonal must be 1"),
    ("[[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]", "2x2"),
]


@pytest.mark.parametrize("matrix,text", BAD_CONFIG)
def test_bad_correlation(tmp_path, capsys, matrix, text):
    pf, cfg = _write(tmp_path, config=CONFIG.replace("[[1.0, 0.4], [0.4, 1.0]]", matrix))
    code, err, out = _run(tmp_path, pf, cfg, capsys)
    assert code == 4 and "dependence.correlation" in err and text in err and not out.exists()


def test_indefinite_correlation_reports_eigenvalue_or_is_repaired(tmp_path, capsys):
    sectors = 'sectors = ["a", "b", "c"]\ncorrelation = [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]'
    text = CONFIG.replace('sectors = ["a", "b"]\ncorrelation = [[1.0, 0.4], [0.4, 1.0]]', sectors)
    pf, cfg = _write(tmp_path, config=text)
    code, err, out = _run(tmp_path, pf, cfg, capsys)
    assert code == 4 and "smallest eigenvalue -0.8" in err and not out.exists()
    cfg.write_text(text + 'correlation_repair = "higham"\n')
    code, err, out = _run(tmp_path, pf, cfg, capsys)
    assert code == 0, err
    import json
    m = json.loads((out / "manifest.json").read_text())
    assert m["correlation"]["repaired"] is True and m["correlation"]["repair_frobenius"] > 0.1
    given = np.asarray(m["config"]["dependence"]["correlation"])  # the user's matrix, as given
    used = np.asarray(m["correlation"]["matrix"])  # the matrix the run used
    assert given[0, 2] == -0.9
    # the one used is a correlation matrix (unit diagonal, symmetric, PSD), the nearest one:
    # it moves the given matrix by the recorded Frobenius distance, and an independent
    # projection (alternating projections written here) lands on it
    np.testing.assert_allclose(np.diag(used), 1.0, atol=1e-12)
    np.testing.assert_allclose(used, used.T, atol=1e-12)
    assert np.linalg.eigvalsh(used).min() > -1e-9
    assert np.linalg.norm(used - given) == pytest.approx(m["correlation"]["repair_frobenius"])
    y, ds = given.copy(), np.zeros_like(given)
    for _ in range(20000):
        r = y - ds
        w, v = np.linalg.eigh(r)
        x = (v * np.maximum(w, 0)) @ v.T
        ds = x - r
        y = x.copy()
        np.fill_diagonal(y, 1.0)
    np.testing.assert_allclose(used, y, atol=1e-6)
    # any other correlation matrix is at least as far from the given one
    rng = np.random.default_rng(1)
    for _ in range(200):
        a = rng.normal(size=(3, 3))
        c = a @ a.T
        d = np.sqrt(np.diag(c))
        c = c / np.outer(d, d)
        assert np.linalg.norm(c - given) >= np.linalg.norm(used - given) - 1e-9


def test_unknown_config_key(tmp_path, capsys):
    pf, cfg = _write(tmp_path, config=CONFIG + "\n[rates]\nbase_rat = 0.03\n")
    code, err, out = _run(tmp_path, pf, cfg, capsys)
    assert code == 4 and "rates.base_rat" in err and "unknown key" in err and not out.exists()


def test_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--paths", "-3"])
    assert e.value.code == 2
    pf, cfg = _write(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("keep")
    code, err, _ = _run(tmp_path, pf, cfg, capsys)
    assert code == 2 and "already exists" in err


@pytest.mark.parametrize("col,value,text", [
    ("life_years", np.inf, "(0, 200]"),
    ("funding_quarters", 1e30, "whole number in [1, 20]"),
    ("tenor_years", -1.0, "(0, 200]"),
])
def test_out_of_range_schedule_columns(tmp_path, capsys, col, value, text):
    df = mixed_frame()
    df[col] = df[col].astype(float) if col in df else np.nan
    df.loc[1, col] = value
    pf, cfg = _write(tmp_path, df)
    code, err, out = _run(tmp_path, pf, cfg, capsys)
    assert code == 3 and f"column '{col}'" in err and text in err and not out.exists()


def test_blank_optional_text_takes_its_default(tmp_path, capsys):
    """A blank optional cell takes the column's default: the run equals one with the
    default written out (L2 is a bullet loan; blank makes it linear, the default)."""
    import riskengine

    df = mixed_frame()
    df.loc[1, "amortization"] = ""
    pf, cfg = _write(tmp_path, df)
    code, err, out = _run(tmp_path, pf, cfg, capsys)
    assert code == 0, err
    df.loc[1, "amortization"] = "linear"
    (tmp_path / "explicit").mkdir()
    pf2, _ = _write(tmp_path / "explicit", df)
    code, err, out2 = _run(tmp_path / "explicit", pf2, cfg, capsys)
    assert code == 0, err
    blank, explicit = riskengine.read_results(out), riskengine.read_results(out2)
    np.testing.assert_array_equal(blank.paths.economic_loss.values,
                                  explicit.paths.economic_loss.values)
    df.loc[1, "amortization"] = "bullet"  # and the column matters for this row
    (tmp_path / "bullet").mkdir()
    pf3, _ = _write(tmp_path / "bullet", df)
    code, err, out3 = _run(tmp_path / "bullet", pf3, cfg, capsys)
    assert code == 0, err
    assert not np.array_equal(riskengine.read_results(out3).paths.economic_loss.values,
                              blank.paths.economic_loss.values)


def test_extreme_beta_lgd_does_not_crash(tmp_path, capsys):
    df = mixed_frame()
    df["lgd"] = 0.5
    df["lgd_sd"] = 0.4999  # shapes ~ 6e-4: gamma draws underflow unless taken in logs
    df["pd_annual"] = 0.3
    pf, cfg = _write(tmp_path, df)
    code, err, out = _run(tmp_path, pf, cfg, capsys)
    assert code == 0, err
    import riskengine
    credit = riskengine.read_results(out).paths.credit_loss.values
    assert np.isfinite(credit).all() and credit.max() > 0


@pytest.mark.parametrize("old,new,text", [
    ("horizon_years = 5", "horizon_years = inf", "finite number"),
    ("seed = 3", "seed = true", "true is a boolean, not a number"),
    ("paths = 2048", "paths = 10.5", "valid integer"),
])
def test_config_types_are_strict(tmp_path, capsys, old, new, text):
    pf, cfg = _write(tmp_path, config=CONFIG.replace(old, new))
    code, err, out = _run(tmp_path, pf, cfg, capsys)
    assert code == 4 and text in err and not out.exists()


def test_section_replaced_by_a_value_is_an_error(tmp_path, capsys):
    pf, cfg = _write(tmp_path, config=CONFIG.replace("[simulation]", "simulation = 3\n[unused]"))
    out = tmp_path / "out"
    code = main(["run", "--config", str(cfg), "--portfolio", str(pf), "--out", str(out),
                 "--paths", "1024", "--quiet"])
    err = capsys.readouterr().err
    assert code == 4 and not out.exists()
    assert str(cfg) in err and "key simulation: Input should be a valid dictionary" in err, err


def test_quarter_end_dates():
    import datetime as dt

    from riskengine.results import step_end_dates

    assert list(step_end_dates(dt.date(2025, 10, 1), 4, 2)) == ["2025-12-31", "2026-03-31"]
    assert list(step_end_dates(dt.date(2025, 10, 15), 4, 1)) == ["2026-01-14"]
    assert step_end_dates(dt.date(2025, 10, 1), 52, 1)[0] > "2025-10-01"


def _outside(rule, n_quarters):
    """A number outside a declared range rule."""
    high = n_quarters if isinstance(rule.high, str) else rule.high
    low = n_quarters if isinstance(rule.low, str) else rule.low
    return high + 1.0 if np.isfinite(high) else low - 1.0


def test_every_declared_range_is_enforced_with_its_message():
    """Validation is made from the table: a value outside a column's declared range is
    refused, naming the row, the column and the range's message."""
    from riskengine.errors import DataError
    from riskengine.portfolio import COLUMNS, Range, RunSetting, validate_portfolio

    run = RunSetting(("a", "b"), 20, 4)
    checked = 0
    for c in COLUMNS:
        for rule in (r for r in c.rules if isinstance(r, Range)):
            df = mixed_frame()
            df[c.name] = df[c.name].astype(float) if c.name in df else c.default
            row = int(np.flatnonzero(df["instrument"].isin(c.applies_to))[0])
            value = _outside(rule, run.n_quarters)
            df.loc[row, c.name] = value
            with pytest.raises(DataError) as e:
                validate_portfolio(df, run.sectors, run.n_quarters, run.steps_per_year, "pf")
            want = f"pf, row {row + 1}, column '{c.name}': {value!r} {rule.text(run)}"
            assert want in e.value.problems, (c.name, e.value.problems)
            checked += 1
    assert checked >= 20

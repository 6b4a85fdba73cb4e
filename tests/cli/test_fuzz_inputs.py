"""Hostile and mistaken inputs, generated: portfolios as CSV, Parquet and DataFrames (odd
cells, null and blank ids, duplicated columns, comment lines, wrong types), config TOML
(booleans for numbers, huge values, empty tables, unknown keys), command-line options
(mutually exclusive ones, reversed path ranges, bad numbers) and the checkpoint folder of
an interrupted run (truncated, foreign, empty or misnamed chunks).

Every case ends in one of two ways: a clean refusal (a non-zero exit code, no traceback,
a message naming the file and row and column, or the config key, and no run written), or
a run whose results are finite (and, resumed from checkpoints, equal to the uninterrupted
run's). Runs are tiny and in-process; with ``test_fuzz.py`` over 800 cases."""

from __future__ import annotations

import io
import json
import math
import shutil
import tempfile
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import riskengine
from riskengine.cli import main
from riskengine.errors import RiskEngineError

from ..conftest import mixed_frame

# the fuzz runs configs without the shipped regimes and scenarios on purpose
pytestmark = pytest.mark.filterwarnings("ignore:.*not inherited by simulate:UserWarning")

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

CONFIG = """[simulation]
paths = 2048
seed = 5
horizon_years = 2
chunk_paths = 1024

[dependence]
sectors = ["a", "b"]
correlation = [[1.0, 0.4], [0.4, 1.0]]

[outputs]
timeline_paths = 64
irr_paths = 64

[[scenarios]]
name = "down"
sector_shift = { a = -1.0 }
"""

CONFIG_DICT = {"simulation": {"paths": 2048, "seed": 5, "horizon_years": 2},
               "dependence": {"sectors": ["a", "b"], "correlation": [[1.0, 0.4], [0.4, 1.0]]},
               "outputs": {"timeline_paths": 64, "irr_paths": 64}}


def invoke(argv: list[str]) -> tuple[int, str]:
    """``riskengine ARGV`` in-process: its exit code and stderr, an escaped exception's
    traceback appended to stderr (exit code 1)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's usage errors
            code = e.code if isinstance(e.code, int) else 1
        except Exception:
            code = 1
            err.write(traceback.format_exc())
    return code, err.getvalue()


def assert_finite_run(run_dir: Path) -> None:
    """A finished run's per-path outputs and summary values are all finite."""
    assert json.loads((run_dir / "manifest.json").read_text())["complete"] is True
    paths = pd.read_parquet(run_dir / "paths.parquet")
    numbers = paths.select_dtypes("number").to_numpy(dtype=np.float64)
    assert np.isfinite(numbers).all(), "non-finite per-path outputs"
    summary = pd.read_parquet(run_dir / "summary.parquet")
    assert np.isfinite(summary["value"].to_numpy()).all(), "non-finite summary values"


def assert_outcome(code: int, err: str, run_dir: Path, named: list[str]) -> None:
    """A clean refusal naming one of ``named`` with nothing written, or a finite run."""
    assert "Traceback" not in err, err
    if code == 0:
        assert_finite_run(run_dir)
        return
    assert code in (2, 3, 4), (code, err)
    assert "error" in err, err
    assert any(n in err for n in named), (named, err)
    assert not (run_dir / "manifest.json").exists() or not json.loads(
        (run_dir / "manifest.json").read_text()).get("complete"), "a refused run was written"


# ---- portfolios ---------------------------------------------------------------------

ODD = [math.nan, math.inf, -math.inf, None, True, False, 1e300, -1e300, -1.0, 0.0, 10**20,
       "", " ", "x", "5%", "2025-01-01", "1e400"]
BLANK_IDS = [None, math.nan, "", "   "]


@st.composite
def portfolio_edits(draw):
    """The mixed program with a few hostile edits, and the form it is handed over in."""
    df = mixed_frame().astype(object)
    for _ in range(draw(st.integers(0, 2))):
        df.iloc[draw(st.integers(0, len(df) - 1)),
                draw(st.integers(0, df.shape[1] - 1))] = draw(st.sampled_from(ODD))
    edit = draw(st.sampled_from(["none", "blank_id", "dup_column", "drop", "type", "comment",
                                 "huge_column", "bool_column"]))
    if edit == "blank_id":
        df.loc[draw(st.integers(0, len(df) - 1)), "project_id"] = draw(st.sampled_from(BLANK_IDS))
    elif edit == "dup_column":
        col = draw(st.sampled_from(list(df.columns)))
        df = pd.concat([df, df[[col]]], axis=1)
    elif edit == "drop":
        df = df.drop(columns=[draw(st.sampled_from(list(df.columns)))])
    elif edit == "type":
        col = draw(st.sampled_from(["commitment_usd", "pd_annual", "lgd", "factor_loading",
                                    "tenor_years", "approval_quarter"]))
        df[col] = df[col].map(lambda v: f"{v} units")
    elif edit == "huge_column":
        df[draw(st.sampled_from(["commitment_usd", "rate", "tenor_years"]))] = 1e200
    elif edit == "bool_column":
        df[draw(st.sampled_from(["pd_annual", "lgd", "coverage"]))] = True
    form = draw(st.sampled_from(["csv", "parquet", "frame"]))
    return df, edit, form


def _to_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` as Parquet, duplicated column names and mixed-type columns included
    (a mixed column as its text)."""
    arrays = []
    for i in range(df.shape[1]):
        col = df.iloc[:, i]
        try:
            arrays.append(pa.array(col.tolist(), from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            arrays.append(pa.array([None if v is None else str(v) for v in col]))
    pq.write_table(pa.Table.from_arrays(arrays, names=[str(c) for c in df.columns]), path)


def _write(df: pd.DataFrame, edit: str, form: str, folder: Path) -> Path:
    if form == "parquet":
        path = folder / "pf.parquet"
        _to_parquet(df, path)
        return path
    path = folder / "pf.csv"
    text = df.to_csv(index=False)
    if edit == "comment":
        text = "# the program, as of today\n" + text
    path.write_text(text)
    return path


@settings(max_examples=150, **SETTINGS)
@given(portfolio_edits())
def test_generated_portfolio_files_and_frames(case):
    df, edit, form = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if form == "frame":
            _simulate_frame(df)
            return
        pf = _write(df, edit, form, folder)
        cfg = folder / "cfg.toml"
        cfg.write_text(CONFIG)
        out = folder / "out"
        code, err = invoke(["run", "--config", str(cfg), "--portfolio", str(pf),
                            "--out", str(out), "--quiet"])
        assert_outcome(code, err, out, [pf.name])
        if code == 3:
            assert "row" in err or "column" in err, err
            if "#" in pf.read_text(errors="replace")[:1]:
                assert "#" in err or "comment" in err, err


def _simulate_frame(df: pd.DataFrame) -> None:
    """``simulate(portfolio=DataFrame)``: a refusal is a RiskEngineError naming a column or
    row; a result has finite outputs."""
    try:
        result = riskengine.simulate(config=CONFIG_DICT, portfolio=df)
    except RiskEngineError as e:
        assert "column" in str(e) or "row" in str(e) or "project_id" in str(e), str(e)
        return
    for name in ("credit_loss", "economic_loss"):
        assert np.isfinite(result.paths[name].to_numpy()).all(), name
    assert np.isfinite(result.summary["value"].to_numpy()).all()


# ---- config TOML --------------------------------------------------------------------

KEYS = [("simulation", "paths"), ("simulation", "seed"), ("simulation", "horizon_years"),
        ("simulation", "steps_per_year"), ("simulation", "chunk_paths"),
        ("rates", "base_rate"), ("rates", "discount_rate"), ("rates", "volatility"),
        ("rates", "factor_correlation"), ("fx", "usd_jpy"), ("fx", "volatility"),
        ("fx", "factor_correlation"), ("measures", "levels"), ("dependence", "dof"),
        ("tariff", "penalty_usd_per_year"), ("tariff", "duration_years"),
        ("tariff", "form"), ("tariff", "trigger_share"),
        ("tariff", "trigger_penalty_usd_per_year"),
        ("outputs", "timeline_paths"), ("cashflows", "sector_share"),
        ("scenarios", "pd_multiplier"), ("scenarios", "sector_shift"),
        ("scenarios", "sector_value"), ("scenarios", "propagate")]
VALUES = ["true", "false", '"0.5"', "1e300", "-1e300", "inf", "-inf", "nan", "0", "-1",
          "[]", "{}", "9223372036854775807", "[true]", "{ a = 1e300 }", "{ a = true }"]


@st.composite
def config_texts(draw):
    """The tiny config with a few keys set to odd values, an empty table or an unknown
    key; returns the text and the keys touched."""
    tables: dict[str, dict[str, str]] = {
        "simulation": {"paths": "2048", "seed": "5", "horizon_years": "2",
                       "chunk_paths": "1024"},
        "dependence": {"sectors": '["a", "b"]', "correlation": "[[1.0, 0.4], [0.4, 1.0]]"},
        "outputs": {"timeline_paths": "64", "irr_paths": "64"}}
    scenario = {"name": '"down"', "sector_shift": "{ a = -1.0 }"}
    touched = []
    for _ in range(draw(st.integers(1, 2))):
        table, key = draw(st.sampled_from(KEYS))
        value = draw(st.sampled_from(VALUES))
        (scenario if table == "scenarios" else tables.setdefault(table, {}))[key] = value
        touched.append(key)
    extra = draw(st.sampled_from(["none", "empty_table", "unknown_key", "unknown_table"]))
    if extra == "empty_table":
        tables[draw(st.sampled_from(["rates", "fx", "measures", "tariff"]))] = {}
    elif extra == "unknown_key":
        tables["simulation"]["pathz"] = "10"
        touched.append("pathz")
    elif extra == "unknown_table":
        tables["montecarlo"] = {"paths": "10"}
        touched.append("montecarlo")
    text = "".join(f"[{t}]\n" + "".join(f"{k} = {v}\n" for k, v in body.items()) + "\n"
                   for t, body in tables.items())
    text += "[[scenarios]]\n" + "".join(f"{k} = {v}\n" for k, v in scenario.items())
    return text, touched


@settings(max_examples=150, **SETTINGS)
@given(config_texts(), st.booleans())
def test_generated_config_files(case, scenarios):
    text, touched = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pf, cfg, out = folder / "pf.csv", folder / "cfg.toml", folder / "out"
        mixed_frame().to_csv(pf, index=False)
        cfg.write_text(text)
        code, err = invoke(["run", "--config", str(cfg), "--portfolio", str(pf), "--out",
                            str(out), "--quiet", *(["--scenarios"] if scenarios else [])])
        assert_outcome(code, err, out, touched)
        if any(b in text for b in ("= true", "= false", "[true]", "= true }")):
            assert code == 4, f"a boolean read as a number: exit {code}\n{text}"


# ---- command-line options -----------------------------------------------------------

OPTIONS = [["--scenario", "down"], ["--scenarios"], ["--scenario", "nope"],
           ["--regime", "nope"], ["--path-range", "1024:2048"], ["--path-range", "2048:1024"],
           ["--path-range", "0:0"], ["--path-range", "5:1029"], ["--path-range", "0:99999"],
           ["--path-range", "a:b"], ["--path-range", "1024"], ["--paths", "0"],
           ["--paths", "-5"], ["--paths", "1e3"], ["--paths", "2048.0"], ["--paths", "4096"],
           ["--seed", "-1"], ["--seed", "x"], ["--seed", "18446744073709551616"],
           ["--threads", "-1"], ["--threads", "1"], ["--chunk-paths", "0"],
           ["--chunk-paths", "1000"], ["--dask-local", "2", "--path-range", "0:1024"],
           ["--dask-local", "0"], ["--overwrite"], ["--quiet"]]
#: pairs the command line must refuse together, whatever else is given
EXCLUSIVE = [("--scenario", "--scenarios"), ("--dask-local", "--path-range")]


@settings(max_examples=100, **SETTINGS)
@given(st.lists(st.sampled_from(OPTIONS), min_size=1, max_size=3).filter(
    lambda opts: len({o for opt in opts for o in opt if o.startswith("--")})
    == sum(o.startswith("--") for opt in opts for o in opt)))
def test_generated_command_lines(options):
    flat = [o for opt in options for o in opt]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pf, cfg, out = folder / "pf.csv", folder / "cfg.toml", folder / "out"
        mixed_frame().to_csv(pf, index=False)
        cfg.write_text(CONFIG)
        code, err = invoke(["run", "--config", str(cfg), "--portfolio", str(pf), "--out",
                            str(out), *flat])
        for one, other in EXCLUSIVE:
            if one in flat and other in flat:
                assert code == 2 and one in err and other in err, (flat, code, err)
        if "--path-range" in flat:
            start, _, end = flat[flat.index("--path-range") + 1].partition(":")
            if start.isdigit() and end.isdigit() and int(start) >= int(end):
                assert code == 2 and "path range" in err.replace("-", " "), (flat, code, err)
            if code == 0:  # a part: its own outputs, merged later
                assert "Traceback" not in err and out.exists()
                return
        named = [o for o in flat if o.startswith("--")]
        named += [o[2:].replace("-", "_") for o in named] + ["path range"]
        assert_outcome(code, err, out, named)


# ---- checkpoint folders -------------------------------------------------------------

CHECKPOINT_CONFIG = CONFIG.replace("paths = 2048", "paths = 8192")


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """An uninterrupted seed-12 run, and seed-12 and seed-11 runs interrupted after four
    of their eight 1,024-path chunks (contributions on, as shipped)."""
    from riskengine.runs import Stopped

    tmp = tmp_path_factory.mktemp("checkpoints")
    pf, cfg = tmp / "pf.csv", tmp / "cfg.toml"
    mixed_frame().to_csv(pf, index=False)
    cfg.write_text(CHECKPOINT_CONFIG)

    def stop(done: int, total: int) -> None:
        if done >= 4 * 1024:
            raise KeyboardInterrupt

    for seed in (11, 12):
        with pytest.raises(Stopped):
            riskengine.simulate(cfg, pf, seed=seed, out=tmp / f"seed{seed}", progress=stop)
    assert invoke(["run", "--config", str(cfg), "--portfolio", str(pf), "--seed", "12",
                   "--quiet", "--out", str(tmp / "whole")])[0] == 0
    return tmp, pf, cfg


CHUNK_EDITS = ["truncate", "foreign", "garbage", "empty", "delete", "misname", "stray",
               "none"]


@pytest.mark.slow
@settings(max_examples=40, **SETTINGS)
@given(st.lists(st.tuples(st.sampled_from(CHUNK_EDITS), st.integers(0, 3),
                          st.floats(0.0, 1.0)), min_size=1, max_size=2))
def test_generated_checkpoint_folders(interrupted, edits):
    tmp, pf, cfg = interrupted
    with tempfile.TemporaryDirectory() as work:
        run = Path(work) / "run"
        shutil.copytree(tmp / "seed12", run)
        for edit, k, cut in edits:
            _edit_chunk(run / "parts", tmp / "seed11" / "parts", edit, k, cut)
        code, err = invoke(["run", "--config", str(cfg), "--portfolio", str(pf), "--seed",
                            "12", "--quiet", "--resume", str(run)])
        assert_outcome(code, err, run, ["chunk", "parts"])
        if code == 0:  # recomputed where it had to be: the uninterrupted run's numbers
            whole = pd.read_parquet(tmp / "whole" / "paths.parquet")
            resumed = pd.read_parquet(run / "paths.parquet")
            pd.testing.assert_frame_equal(whole, resumed)


def _edit_chunk(parts: Path, foreign: Path, edit: str, k: int, cut: float) -> None:
    chunks = sorted(parts.glob("chunk-*.npz"))
    if not chunks:
        return
    chunk = chunks[k % len(chunks)]
    if edit == "truncate":
        data = chunk.read_bytes()
        chunk.write_bytes(data[: int(len(data) * cut)])
    elif edit == "foreign" and (foreign / chunk.name).exists():
        shutil.copyfile(foreign / chunk.name, chunk)
    elif edit == "garbage":
        chunk.write_bytes(np.random.default_rng(int(cut * 1e6)).bytes(4096))
    elif edit == "empty":
        chunk.write_bytes(b"")
    elif edit == "delete":
        chunk.unlink()
    elif edit == "misname":
        chunk.rename(parts / "chunk-000000000000-000000000999.npz")
    elif edit == "stray":
        (parts / "notes.txt").write_text("kept by hand")

"""No silent wrong answers, no tracebacks, no lost runs: every case of the input-safety
issue, through the command line as a user meets it."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import riskengine
from riskengine import io as rio
from riskengine.cli import main
from riskengine.errors import DataError

from ..conftest import credit_losses, make_config, mixed_frame

CONFIG = """
[simulation]
paths = 2048
seed = 5
horizon_years = 3

[dependence]
sectors = ["a", "b"]
correlation = [[1.0, 0.4], [0.4, 1.0]]
"""


def _files(tmp_path, df=None, config=CONFIG, kind="csv"):
    df = mixed_frame() if df is None else df
    pf = tmp_path / f"pf.{kind}"
    if kind == "csv":
        df.to_csv(pf, index=False)
    else:
        df.to_parquet(pf)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(config)
    return pf, cfg


def _cli(tmp_path, pf, cfg, capsys, *extra, out="out"):
    target = tmp_path / out
    code = main(["run", "--config", str(cfg), "--portfolio", str(pf), "--out", str(target),
                 "--quiet", *extra])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return code, cap.err, target


# ---- 1. no silent wrong answers ----------------------------------------------------------
@pytest.mark.parametrize("kind", ["csv", "parquet"])
@pytest.mark.parametrize("typo,meant", [("coverge", "coverage"), ("tenor", "tenor_years"),
                                        ("lgd_std", "lgd_sd")])
def test_misspelled_column_is_an_error_that_suggests_the_name(tmp_path, capsys, kind, typo, meant):
    df = mixed_frame().rename(columns={"coverage": typo} if typo == "coverge" else {})
    if typo != "coverge":
        df[typo] = 1.0
    pf, cfg = _files(tmp_path, df, kind=kind)
    code, err, out = _cli(tmp_path, pf, cfg, capsys)
    assert code == 3 and f"'{typo}'" in err and f"did you mean '{meant}'" in err
    assert str(pf) in err and not out.exists()


def test_misspelled_required_column_is_named(tmp_path, capsys):
    pf, cfg = _files(tmp_path, mixed_frame().rename(columns={"pd_annual": "pd_anual"}))
    code, err, out = _cli(tmp_path, pf, cfg, capsys)
    assert code == 3 and "missing required column 'pd_annual'" in err and "'pd_anual'" in err


def test_other_unknown_columns_are_printed_and_recorded(tmp_path, capsys):
    df = mixed_frame()
    df["analyst_note"] = "x"
    pf, cfg = _files(tmp_path, df)
    code, err, out = _cli(tmp_path, pf, cfg, capsys)
    assert code == 0 and "'analyst_note'" in err
    assert json.loads((out / "manifest.json").read_text())["ignored_columns"] == ["analyst_note"]


def _frame_with(col, values):
    df = mixed_frame()
    df[col] = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
    return df


@pytest.mark.parametrize("values,what", [
    (pd.Series([True, False, True, False, True, False]), "a boolean"),
    ([0.02, True, 0.05, 0.02, 0.01, 0.03], "a boolean"),
    ([0.02, 0.03 + 0.1j, 0.05, 0.02, 0.01, 0.03], "a complex number"),
    (pd.Series([0.02 + 0j] * 6), "a complex number"),
])
def test_booleans_and_complex_numbers_are_not_numbers_dataframe(values, what):
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], horizon_years=3.0)
    with pytest.raises(DataError) as e:
        riskengine.portfolio_from_frame(_frame_with("pd_annual", values), cfg.dependence.sectors, 12)
    assert f"is {what}, not a number" in str(e.value) and "column 'pd_annual'" in str(e.value)


def test_boolean_pd_in_parquet_and_complex_in_csv(tmp_path, capsys):
    pf, cfg = _files(tmp_path, _frame_with("pd_annual", pd.Series([True, False] * 3)),
                     kind="parquet")
    code, err, out = _cli(tmp_path, pf, cfg, capsys)
    assert code == 3 and "is a boolean, not a number" in err and not out.exists()
    df = mixed_frame().astype({"pd_annual": object})
    df.loc[2, "pd_annual"] = "0.02+0.1j"
    pf, cfg = _files(tmp_path, df)
    code, err, out = _cli(tmp_path, pf, cfg, capsys)
    assert code == 3 and "row 3" in err and "'pd_annual'" in err and "not a number" in err


def test_invalid_config_value_is_an_error_even_where_an_option_replaces_it(tmp_path, capsys):
    pf, cfg = _files(tmp_path, config=CONFIG.replace("paths = 2048", "paths = -5"))
    code, err, out = _cli(tmp_path, pf, cfg, capsys, "--paths", "1024")
    assert code == 4 and "simulation.paths" in err and not out.exists()


# ---- 2. no traceback, ever ---------------------------------------------------------------
@pytest.mark.parametrize("content,text", [
    (bytes(range(256)) * 4, "not UTF-8"),
    (CONFIG.encode("utf-16"), "not UTF-8"),
    (b"[simulation\npaths = 3", "not valid TOML"),
])
def test_unreadable_configs(tmp_path, capsys, content, text):
    pf, cfg = _files(tmp_path)
    cfg.write_bytes(content)
    code, err, out = _cli(tmp_path, pf, cfg, capsys)
    assert code == 4 and text in err and str(cfg) in err and not out.exists()


def test_config_path_is_a_directory(tmp_path, capsys):
    pf, _ = _files(tmp_path)
    code, err, out = _cli(tmp_path, pf, tmp_path, capsys)
    assert code == 4 and "is a directory" in err and not out.exists()


@pytest.mark.parametrize("where", ["per-path outputs", "other files"])
def test_write_error_leaves_nothing_and_names_the_path(tmp_path, capsys, monkeypatch, where):
    pf, cfg = _files(tmp_path)

    def full_disk(*args):
        path = args[-1] if where == "other files" else args[0].path
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    if where == "other files":  # (paths.parquet is streamed while the run goes)
        monkeypatch.setattr(rio, "write_dataset", full_disk)
        name = "summary.parquet"
    else:
        monkeypatch.setattr(rio.DatasetAppender, "append", full_disk)
        name = "paths.parquet"
    code, err, out = _cli(tmp_path, pf, cfg, capsys)
    assert code == 5 and "No space left on device" in err and name in err
    # no results: only the unfinished run's manifest and its saved chunks (for --resume)
    assert not list(out.glob("*.parquet")) and not [p for p in tmp_path.iterdir()
                                                    if "partial" in p.name]
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] is False and m["status"] == "results not written"


def test_oversized_run_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    import riskengine.commands as commands

    monkeypatch.setattr(commands, "load_portfolio",
                        lambda *a, **k: pytest.fail("read the portfolio"))
    pf, cfg = _files(tmp_path)
    code, err, out = _cli(tmp_path, pf, cfg, capsys, "--paths", "100000000000")
    assert code == 2 and "GiB" in err and "--paths" in err and not out.exists()


def test_zero_sampled_paths_are_refused(tmp_path, capsys):
    pf, cfg = _files(tmp_path, config=CONFIG + "\n[outputs]\ntimeline_paths = 0\n")
    code, err, out = _cli(tmp_path, pf, cfg, capsys)
    assert code == 4 and "outputs.timeline_paths" in err


# ---- 4. degenerate runs say so -----------------------------------------------------------
def test_few_tail_paths_get_no_fake_precision(tmp_path, capsys):
    pf, cfg = _files(tmp_path)
    code, err, out = _cli(tmp_path, pf, cfg, capsys, "--paths", "7")
    assert code == 0 and "fewer than 10 paths lie beyond" in err
    s = riskengine.read_results(out).summary.to_dataframe().reset_index()
    s = s[(s.institution == "ALL") & (s.variable == "credit_loss")].set_index(["measure", "level"])
    assert np.isnan(s.loc[("VaR", 0.999), "stderr"]) and np.isnan(s.loc[("ES", 0.999), "stderr"])
    assert np.isnan(s.loc[("VaR", 0.999), "ci_low"])
    assert np.isfinite(s.loc[("VaR", 0.999), "value"]) and np.isfinite(s.loc[("ES", 0.999), "value"])
    assert np.isfinite(s.xs("EL", level="measure")["stderr"]).all()


def test_monthly_steps_are_explained(tmp_path, capsys):
    pf, cfg = _files(tmp_path, config=CONFIG.replace("horizon_years = 3",
                                                     "horizon_years = 3\nsteps_per_year = 12"))
    code, err, out = _cli(tmp_path, pf, cfg, capsys)
    assert code == 0 and "steps are 1/12 year" in err


def test_validate_shares_the_checks_and_writes_nothing(tmp_path, capsys):
    pf, cfg = _files(tmp_path)
    assert main(["validate", "--config", str(cfg), "--portfolio", str(pf)]) == 0
    assert "valid:" in capsys.readouterr().out
    bad = mixed_frame()
    bad.loc[0, "lgd"] = 1.5
    pf, cfg = _files(tmp_path, bad)
    assert main(["validate", "--config", str(cfg), "--portfolio", str(pf)]) == 3
    assert "column 'lgd'" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.toml", "pf.csv"]


# ---- 3. honest endings (whole processes) -------------------------------------------------
def _process(tmp_path, *args, cwd=None):
    pf, cfg = _files(tmp_path)
    cmd = [sys.executable, "-m", "riskengine.cli", "run", "--config", str(cfg),
           "--portfolio", str(pf), *args]
    return subprocess.Popen(cmd, cwd=cwd or tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.slow
@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"),
                                           (signal.SIGTERM, 143, "terminated")])
def test_signal_during_simulation_leaves_an_unfinished_run(tmp_path, sig, code, word):
    out = tmp_path / "out"
    proc = _process(tmp_path, "--paths", "4000000", "--chunk-paths", "65536", "--verbose",
                    "--out", str(out))
    seen = ""
    deadline = time.monotonic() + 300
    while "simulating" not in seen:  # the log line just before the first chunk
        assert time.monotonic() < deadline and proc.poll() is None, seen
        seen += proc.stderr.readline()
    # signal once a chunk is saved (how long that takes depends on the machine and its load)
    while not list((out / "parts").glob("chunk-*.npz")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert word in err and "Traceback" not in err
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] is False and m["status"] == word
    assert 0 < m["paths_done"] < m["paths_requested"] == 4_000_000
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "parts"]
    assert list((out / "parts").glob("chunk-*.npz"))  # the finished chunks, for --resume
    assert json.loads((out / "manifest.json").read_text())["files"] == {}  # no results


def test_an_interrupt_raised_inside_a_string_exec_still_exits_130(tmp_path):
    # A Ctrl-C is sometimes raised while an import runs exec() on a string (dataclasses and
    # namedtuples do; a run's first xarray Dataset imports dask that way just after its
    # first chunk). CPython then marks the interrupt unhandled, and under `python -m` kills
    # the process with SIGINT at exit (-2) although the command line handled it.
    pf, cfg = _files(tmp_path)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(
        "import riskengine.config\n"
        "def load_config(*a, **k):\n"
        "    exec('raise KeyboardInterrupt')\n"
        "riskengine.config.load_config = load_config\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    proc = subprocess.run([sys.executable, "-m", "riskengine.cli", "validate", "--config",
                           str(cfg), "--portfolio", str(pf)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert "interrupted; nothing was written" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_two_runs_on_one_out_exactly_one_succeeds(tmp_path):
    out = tmp_path / "shared"
    procs = [_process(tmp_path, "--paths", "300000", "--out", str(out), "--quiet")
             for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], results
    loser = results[[p.returncode for p in procs].index(2)][1]
    assert "another riskengine run (process" in loser or "already exists" in loser
    assert json.loads((out / "manifest.json").read_text())["complete"] is True


@pytest.mark.slow
def test_default_runs_started_together_get_their_own_directories(tmp_path):
    procs = [_process(tmp_path, "--paths", "2048", "--quiet") for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    dirs = sorted((tmp_path / "runs").iterdir())
    assert len(dirs) == 2
    assert all(json.loads((d / "manifest.json").read_text())["complete"] for d in dirs)
    assert sorted(r[0].strip() for r in results) == [str(Path("runs") / d.name) for d in dirs]


def test_extreme_cyclical_lgd_with_beta_runs(tmp_path, capsys):
    df = mixed_frame()
    df["lgd"], df["lgd_sd"], df["lgd_factor_loading"], df["pd_annual"] = 0.9, 0.05, 5.0, 0.3
    pf, cfg = _files(tmp_path, df)
    code, err, out = _cli(tmp_path, pf, cfg, capsys)
    assert code == 0, err
    loss, el = credit_losses(out)
    exposure = (df["commitment_usd"] * np.where(df["instrument"] == "guarantee",
                                                df["coverage"], 1.0)).sum()
    assert len(loss) == 2048 and (loss >= 0).all() and loss.max() <= exposure
    assert 0 < el == pytest.approx(loss.mean(), rel=1e-12)


def test_levels_without_0999_print_the_summary(tmp_path, capsys):
    pf, cfg = _files(tmp_path, config=CONFIG + "\n[measures]\nlevels = [0.9, 0.95]\n")
    code = main(["run", "--config", str(cfg), "--portfolio", str(pf), "--out",
                 str(tmp_path / "out")])
    cap = capsys.readouterr()
    assert code == 0 and "Traceback" not in cap.err
    summary = pd.read_parquet(tmp_path / "out" / "summary.parquet")
    assert sorted(summary["level"].dropna().unique()) == [0.9, 0.95]
    # the summary speaks of the highest level asked for
    assert "ALL's ES 0.95 of credit loss is known to" in " ".join(cap.out.split())


def test_cache_folder_that_cannot_hold_locks(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setattr("riskengine._kernels._cache.cache_root", lambda: blocker)
    pf, cfg = _files(tmp_path)
    code, err, out = _cli(tmp_path, pf, cfg, capsys)
    assert code == 0, err
    # the run took its claim in the system's temporary folder instead, and finished
    import hashlib
    import tempfile

    key = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:24]
    locks = Path(tempfile.gettempdir()) / f"riskengine-locks-{os.getuid()}"
    assert (locks / f"{key}.lock").exists() and blocker.read_text() == "x"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["paths"] == 2048


def test_rows_of_one_obligor_share_the_approval_quarter(tmp_path, capsys):
    df = mixed_frame()
    df["obligor"] = ["X", "X", "", "", "", ""]  # L1 (approval 0) and L2 (approval 2)
    pf, cfg = _files(tmp_path, df)
    code, err, out = _cli(tmp_path, pf, cfg, capsys)
    assert code == 3 and "column 'approval_quarter'" in err and "'X'" in err


# ---- options that cannot go together, simulate()'s arguments, finite results ---------
@pytest.mark.parametrize("extra,text", [
    (["--scenario", "us_recession", "--scenarios"],
     "--scenario us_recession runs one scenario and --scenarios runs them all"),
    (["--dask-local", "2", "--path-range", "0:1024"], "--dask-local with --path-range"),
    (["--dask-scheduler", "tcp://127.0.0.1:1", "--path-range", "0:1024"],
     "--dask-scheduler with --path-range"),
    (["--path-range", "2048:1024"], "--path-range 2048:1024: START must be >= 0 and less "
                                    "than END (e.g. 1024:2048)"),
])
def test_options_that_cannot_go_together_are_usage_errors(tmp_path, capsys, extra, text):
    out = tmp_path / "out"
    code = main(["run", "--paths", "4096", "--out", str(out), "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 2 and text in err and "Traceback" not in err, err
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("kwargs,error,text", [
    ({"paths": 0}, ValueError, "simulate(paths=0): paths must be >= 1"),
    ({"seed": -1}, ValueError, "simulate(seed=-1): seed must be in [0, 2**63)"),
    ({"paths": 10.5}, TypeError, "simulate(paths=10.5): paths must be a whole number"),
    ({"portfolio": [1, 2, 3]}, TypeError, "simulate(portfolio=[1, 2, 3]): portfolio must be a "
                                          "Portfolio, a pandas DataFrame or a CSV/Parquet"),
    ({"config": 3}, TypeError, "simulate(config=3): config must be a Config"),
    ({"scenario": "us_recession", "scenarios": True}, ValueError,
     "simulate(scenario='us_recession', scenarios=True)"),
])
def test_simulate_names_its_argument(kwargs, error, text):
    with pytest.raises(error) as info:
        riskengine.simulate(**kwargs)
    assert isinstance(info.value, riskengine.UsageError)
    assert str(info.value).startswith(text) and "command-line" not in str(info.value)


def test_simulate_takes_numpy_integers():
    with pytest.raises(riskengine.UsageError, match="simulate"):  # (checked, then refused
        riskengine.simulate(paths=np.int64(2048), portfolio=3)  # for the portfolio only)


@pytest.mark.parametrize("checkpoint", [True, False])
def test_a_result_that_is_not_finite_is_refused_and_nothing_written(tmp_path, checkpoint):
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=2048, horizon_years=3.0,
                      outputs={"checkpoint": checkpoint})
    from ..conftest import make_portfolio

    pf = make_portfolio(mixed_frame(), cfg)
    pf.table.loc[0, "commitment_usd"] = 1e200  # (past the validation: its square overflows)
    out = tmp_path / "out"
    with pytest.raises(DataError) as info:
        riskengine.simulate(cfg, pf, out=out)
    text = str(info.value)
    assert "credit_loss has a summary measure" in text and "nothing is written" in text
    assert "project_id 'E1', column 'commitment_usd' = 1e+200" in text
    assert not out.exists() and not list(tmp_path.iterdir())

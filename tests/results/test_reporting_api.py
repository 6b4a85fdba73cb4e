"""The engine as reporting code uses it: DataFrame in, indexed summary out, dates, run ids
for stacking runs, JSON for pipelines, comparisons, provenance and progress."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import tomllib

import duckdb
import numpy as np
import pandas as pd
import pytest

import riskengine
from riskengine.cli import main

from ..conftest import cli_files, mixed_frame

CONFIG = {"simulation": {"paths": 4096, "horizon_years": 5.0},
          "dependence": {"sectors": ["a", "b"], "correlation": [[1.0, 0.4], [0.4, 1.0]]}}


def test_reporting_code_reads_like_this(tmp_path):
    df = mixed_frame()  # a DataFrame straight from the user's own pipeline
    res = riskengine.simulate(portfolio=df, config=CONFIG)
    es = res.summary.sel(measure="ES", level=0.999, institution="ALL",
                         variable="credit_loss")["value"].item()
    assert es == res.value("ES", level=0.999)
    by_sector = res.contributions("ES", 0.999, by="sector")
    assert by_sector["value"].sum() == pytest.approx(es, rel=1e-9)
    assert res.convergence("ES", 0.999).index[-1] == 4096
    assert np.issubdtype(res.timeline["quarter_end"].dtype, np.datetime64)
    run = riskengine.read_results(res.write(tmp_path / "run"))
    assert run.summary.sel(measure="EL", institution="ALL",
                           variable="credit_loss")["value"].item() == res.value("EL")


def test_duckdb_stacks_runs_by_run_id(tmp_path):
    for seed in (1, 2):
        riskengine.simulate(portfolio=mixed_frame(), config=CONFIG, seed=seed).write(
            tmp_path / "runs" / f"seed{seed}")
    got = duckdb.sql(f"select run_id, value from read_parquet('{tmp_path}/runs/*/summary.parquet') "
                     "where institution = 'ALL' and variable = 'credit_loss' and measure = 'EL'"
                     ).df()
    assert len(got) == 2 and got["run_id"].nunique() == 2


def test_the_manifest_says_where_every_number_comes_from(tmp_path):
    csv = tmp_path / "pf.csv"
    mixed_frame().to_csv(csv, index=False)
    out = riskengine.simulate(CONFIG, csv).write(tmp_path / "run")
    m = json.loads((out / "manifest.json").read_text())
    prov = m["provenance"]
    import hashlib
    assert prov["portfolio_sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    assert len(prov["config_sha256"]) == 64 and prov["threads_used"] >= 1
    assert prov["numba_threading_layer"] in ("omp", "tbb", "workqueue")
    assert prov["started"] <= prov["finished"]
    assert {"numpy", "numba", "scipy", "pandas", "pyarrow", "xarray"} <= set(m["versions"])
    resolved = tomllib.loads((out / "config.resolved.toml").read_text())
    assert resolved["simulation"]["paths"] == 4096
    again = riskengine.load_config(out / "config.resolved.toml")  # reusable as --config
    assert again.to_dict()["dependence"] == m["config"]["dependence"]


def _cli_files(tmp_path):
    return cli_files(tmp_path, '[simulation]\npaths = 4096\nhorizon_years = 5.0\n\n'
                     '[dependence]\nsectors = ["a", "b"]\n'
                     'correlation = [[1.0, 0.4], [0.4, 1.0]]\n')


def test_json_on_stdout_and_nothing_else(tmp_path, capsys):
    pf, cfg = _cli_files(tmp_path)
    code = main(["run", "--config", str(cfg), "--portfolio", str(pf), "--out",
                 str(tmp_path / "out"), "--json"])
    cap = capsys.readouterr()
    assert code == 0
    doc = json.loads(cap.out)  # the whole of stdout is one JSON document
    rows = pd.DataFrame(doc["summary"])
    es = rows[(rows.institution == "ALL") & (rows.variable == "credit_loss")
              & (rows.measure == "ES") & (rows.level == 0.99)]["value"].item()
    assert es == riskengine.read_results(tmp_path / "out").summary.sel(
        measure="ES", level=0.99, institution="ALL", variable="credit_loss")["value"].item()


def test_compare_pairs_the_el_error_on_common_paths(tmp_path, capsys):
    pf, cfg = _cli_files(tmp_path)
    for name, extra in (("a", []), ("b", ["--threads", "1"])):
        assert main(["run", "--config", str(cfg), "--portfolio", str(pf), "--quiet",
                     "--out", str(tmp_path / name), *extra]) == 0
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"),
                 "--out", str(tmp_path / "cmp.parquet")]) == 0
    frame = pd.read_parquet(tmp_path / "cmp.parquet")
    el = frame[(frame.measure == "EL") & (frame.institution == "ALL")]
    assert (el["difference"] == 0).all() and (el["stderr"] == 0).all() and el["paired"].all()
    assert "paired" in capsys.readouterr().out


def _run_with_terminal_stderr(args, cwd):
    """Run the command line with stderr on a pseudo-terminal and stdout on a pipe."""
    master, slave = pty.openpty()
    env = dict(os.environ, COLUMNS="120")
    proc = subprocess.Popen([sys.executable, "-m", "riskengine.cli", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read()
    proc.wait(timeout=300)
    os.close(master)
    return proc.returncode, out.decode(), b"".join(chunks).decode(errors="replace")


def test_progress_goes_to_a_terminal_and_never_into_stdout(tmp_path):
    pf, cfg = _cli_files(tmp_path)
    cfg.write_text(cfg.read_text().replace("paths = 4096", "paths = 400000"))
    code, out, err = _run_with_terminal_stderr(
        ["run", "--config", str(cfg), "--portfolio", str(pf), "--out", str(tmp_path / "o"),
         "--json"], tmp_path)
    assert code == 0
    rows = pd.DataFrame(json.loads(out)["summary"])  # stdout: the JSON alone, the run's figures
    el = rows[(rows.institution == "ALL") & (rows.variable == "credit_loss")
              & (rows.measure == "EL")]["value"].item()
    assert el == riskengine.read_results(tmp_path / "o").summary.sel(
        measure="EL", institution="ALL", variable="credit_loss")["value"].item()
    code, out, err = _run_with_terminal_stderr(
        ["run", "--config", str(cfg), "--portfolio", str(pf), "--out", str(tmp_path / "p")],
        tmp_path)
    assert code == 0 and "paths/s" in err and "simulating" in err
    assert "simulating" not in out and "credit_loss" in out
    piped = subprocess.run([sys.executable, "-m", "riskengine.cli", "run", "--config", str(cfg),
                            "--portfolio", str(pf), "--out", str(tmp_path / "q")],
                           capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert piped.returncode == 0 and "simulating" not in piped.stderr + piped.stdout


def test_open_run_is_a_lazy_datatree(tmp_path):
    out = riskengine.simulate(portfolio=mixed_frame(), config=CONFIG).write(tmp_path / "run")
    tree = riskengine.open_run(out)
    assert {"summary", "paths", "contributions", "convergence"} <= set(tree.children)
    var = tree["paths"]["credit_loss"].variable
    assert not isinstance(var._data, np.ndarray)  # not read yet
    eager = riskengine.read_results(out)
    np.testing.assert_array_equal(tree["paths"]["credit_loss"].values,
                                  eager.paths["credit_loss"].values)
    es = tree["summary"].dataset.sel(measure="ES", level=0.999, institution="ALL",
                                     variable="credit_loss")["value"].item()
    assert es == eager.summary.sel(measure="ES", level=0.999, institution="ALL",
                                   variable="credit_loss")["value"].item()
    assert json.loads(tree.attrs["provenance"])["threads_used"] >= 1


def test_compare_pairs_a_real_difference_and_refuses_other_scenarios(tmp_path, capsys):
    pf, cfg = _cli_files(tmp_path)
    worse = tmp_path / "worse.csv"
    df = mixed_frame()
    df.loc[df.project_id == "L2", "pd_annual"] = 0.12
    df.to_csv(worse, index=False)
    assert main(["run", "--config", str(cfg), "--portfolio", str(pf), "--quiet",
                 "--out", str(tmp_path / "a")]) == 0
    assert main(["run", "--config", str(cfg), "--portfolio", str(worse), "--quiet",
                 "--out", str(tmp_path / "b")]) == 0
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"),
                 "--out", str(tmp_path / "cmp.parquet")]) == 0
    f = pd.read_parquet(tmp_path / "cmp.parquet")
    el = f[(f.measure == "EL") & (f.institution == "ALL") & (f.variable == "credit_loss")].iloc[0]
    a = riskengine.read_results(tmp_path / "a").summary.sel(
        measure="EL", institution="ALL", variable="credit_loss")["stderr"].item()
    assert el["paired"] and el["difference"] > 0
    assert 0 < el["stderr"] < a  # common paths: far tighter than either run's own error
    cfg2 = tmp_path / "cfg2.toml"
    cfg2.write_text(cfg.read_text() + '\n[[scenarios]]\nname = "down"\n'
                    'sector_shift = { a = -1.0 }\n')
    assert main(["run", "--config", str(cfg2), "--portfolio", str(pf), "--quiet",
                 "--scenarios", "--out", str(tmp_path / "c")]) == 0
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "c")]) == 2
    assert "different scenarios" in capsys.readouterr().err

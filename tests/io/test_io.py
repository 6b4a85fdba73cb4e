"""Run directory: exact Parquet round trip, plain readers, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import riskengine
from riskengine.errors import UsageError
from riskengine.results_version import RESULTS_VERSION

from ..conftest import assert_same, make_config, make_portfolio, mixed_frame


@pytest.fixture(scope="module")
def result():
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=2000, horizon_years=5.0,
                      discount_rate=0.04)
    return riskengine.simulate(cfg, make_portfolio(mixed_frame(), cfg))


def test_round_trip_is_exact(result, tmp_path):
    run = result.write(tmp_path / "run")
    back = riskengine.read_results(run)
    for name, ds in result.datasets().items():
        assert_same(ds, back[name])
        for v in ds.variables:
            assert ds[v].dtype == back[name][v].dtype or ds[v].dtype.kind in "OU"
    m = json.loads((run / "manifest.json").read_text())
    assert m["seed"] == 7 and m["paths"] == 2000 and m["n_projects"] == 6
    assert m["n_quarters"] == 20 and m["complete"] is True
    assert m["results_version"] == RESULTS_VERSION
    assert {"numpy", "numba", "xarray", "pyarrow", "riskengine"} <= set(m["versions"])
    assert m["config"]["simulation"]["paths"] == 2000
    assert m["timings"]["simulate_seconds"] > 0


def test_plain_readers_see_the_contract(result, tmp_path):
    run = result.write(tmp_path / "run")
    paths = pd.read_parquet(run / "paths.parquet")
    assert list(paths.columns[:4]) == ["path", "institution", "credit_loss", "economic_loss"]
    assert paths["path"].dtype == np.int64 and len(paths) == 2 * 2000
    assert set(paths["institution"]) == {"JBIC", "NEXI"}
    np.testing.assert_array_equal(
        paths.loc[paths.institution == "NEXI", "credit_loss"].to_numpy(),
        result.paths.credit_loss.sel(institution="NEXI").to_numpy())
    summary = pd.read_parquet(run / "summary.parquet")
    for col in ("institution", "variable", "measure", "level", "value", "stderr"):
        assert col in summary.columns
    assert set(summary.institution) == {"JBIC", "NEXI", "ALL"}
    assert set(summary.measure) == {"EL", "SD", "VaR", "ES"}
    es = summary.query("institution == 'ALL' and variable == 'credit_loss' and measure == 'ES' and level == 0.99")
    assert len(es) == 1 and es.value.iloc[0] == result.value("ES", level=0.99)
    projects = pd.read_parquet(run / "projects.parquet")
    for col in ("project", "sector", "institution", "instrument", "pd_simulated", "expected_credit_loss"):
        assert col in projects.columns
    assert pq.read_schema(run / "paths.parquet").metadata[b"riskengine.xarray"]


def test_existing_directory_is_not_clobbered(result, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("x")
    with pytest.raises(UsageError, match="already exists"):
        result.write(run)
    with pytest.raises(UsageError, match="not a riskengine run directory"):
        result.write(run, overwrite=True)  # --overwrite never deletes unrelated data
    assert (run / "keep.txt").exists()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        result.write(tmp_path / "afile" / "sub")
    with pytest.raises(UsageError, match="is a file"):
        result.write(tmp_path / "afile", overwrite=True)
    prev = result.write(tmp_path / "prev")
    (prev / "stale.txt").write_text("old")
    result.write(prev, overwrite=True)  # a previous run is replaced atomically
    assert not (prev / "stale.txt").exists() and (prev / "manifest.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_failed_write_leaves_nothing(result, tmp_path, monkeypatch):
    import riskengine.io as rio

    def boom(ds, path):
        raise OSError("disk full")

    monkeypatch.setattr(rio, "write_dataset", boom)
    with pytest.raises(OSError):
        result.write(tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_duckdb_and_polars_read_the_files(result, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    pl = pytest.importorskip("polars")
    run = result.write(tmp_path / "run")
    con = duckdb.connect()
    got = con.execute(
        f"select institution, sum(credit_loss) from '{run / 'paths.parquet'}' "
        "group by institution order by institution").fetchall()
    want = result.paths.credit_loss.sum("path")
    assert [g[0] for g in got] == ["JBIC", "NEXI"]
    np.testing.assert_allclose([g[1] for g in got], want.sel(institution=["JBIC", "NEXI"]).values,
                               rtol=1e-12)
    es = con.execute(
        f"select value from '{run / 'summary.parquet'}' where institution = 'ALL' and "
        "variable = 'credit_loss' and measure = 'ES' and level = 0.99").fetchall()
    assert es == [(result.value("ES", level=0.99),)]
    frame = pl.read_parquet(run / "projects.parquet")
    assert frame.height == 6 and set(frame["instrument"].cast(pl.Utf8)) == {"loan", "guarantee", "equity"}
    tl = pl.read_parquet(run / "timeline.parquet")
    assert set(tl["institution"].cast(pl.Utf8)) == {"JBIC", "NEXI", "Japan"}

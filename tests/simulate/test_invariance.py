"""Results do not depend on row order, threads or chunking; seeds behave as seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskengine

from ..conftest import assert_same, make_config, make_portfolio, mixed_frame


def _run(df, **kw):
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=3000, horizon_years=5.0,
                      discount_rate=0.04, **kw)
    return riskengine.simulate(cfg, make_portfolio(df, cfg))


def test_shuffled_rows_change_nothing():
    df = mixed_frame()
    a = _run(df)
    b = _run(df.sample(frac=1.0, random_state=4).reset_index(drop=True))
    assert_same(a.paths, b.paths)
    assert_same(a.projects, b.projects)
    assert_same(a.summary, b.summary)


def test_same_seed_identical_other_seed_different():
    df = mixed_frame()
    a, b, c = _run(df, seed=1), _run(df, seed=1), _run(df, seed=2)
    assert_same(a.paths, b.paths)
    assert not np.array_equal(a.paths.credit_loss.values, c.paths.credit_loss.values)
    assert not np.array_equal(a.paths.economic_loss.values, c.paths.economic_loss.values)


def test_threads_and_chunks_do_not_matter():
    df = mixed_frame()
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=5000, horizon_years=5.0,
                      discount_rate=0.04)
    pf = make_portfolio(df, cfg)
    base = riskengine.simulate(cfg, pf, threads=1, chunk_paths=1024)
    for threads, chunk in ((2, 1024), (1, 4096), (2, 100_000)):
        other = riskengine.simulate(cfg, pf, threads=threads, chunk_paths=chunk)
        assert_same(base.paths, other.paths)
        assert_same(base.projects, other.projects)


def test_adding_an_exposure_keeps_the_others_draws():
    df = mixed_frame()
    a = _run(df)
    extra = df.iloc[[0]].copy()
    extra["project_id"] = "ZZ-NEW"
    b = _run(pd.concat([df, extra], ignore_index=True))
    pa, pb = a.projects, b.projects.sel(project=a.projects.project)
    np.testing.assert_array_equal(pa.pd_simulated.values, pb.pd_simulated.values)


def test_paths_file_identical_for_threads_and_chunks(tmp_path):
    """The CLI's paths.parquet is bit-identical for --threads 1/2 and two chunk sizes."""
    import pyarrow.parquet as pq

    from riskengine.cli import main

    df = mixed_frame()
    pf = tmp_path / "pf.csv"
    df.to_csv(pf, index=False)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('[simulation]\npaths = 5000\nhorizon_years = 5\n[dependence]\n'
                   'sectors = ["a", "b"]\ncorrelation = [[1, 0.4], [0.4, 1]]\n')
    tables = []
    for i, extra in enumerate((["--threads", "1", "--chunk-paths", "1024"],
                               ["--threads", "2", "--chunk-paths", "4096"],
                               ["--threads", "2", "--chunk-paths", "65536"])):
        out = tmp_path / f"run{i}"
        assert main(["run", "--config", str(cfg), "--portfolio", str(pf), "--out", str(out),
                     "--quiet", *extra]) == 0
        tables.append(pq.read_table(out / "paths.parquet"))
        assert (out / "paths.parquet").read_bytes() == (tmp_path / "run0" / "paths.parquet").read_bytes()
    assert tables[0].equals(tables[1]) and tables[0].equals(tables[2])


@pytest.mark.parametrize("dependence", [{"copula": "t", "dof": 5.0},
                                        {"factor_dynamics": "ar1", "factor_persistence": 0.8}])
def test_new_model_features_are_thread_and_chunk_invariant(dependence):
    """Every model-risk switch on at once: paths bit-identical for any threads and chunks."""

    df = mixed_frame()
    df["obligor"] = ["L1", "L2", "L3", "L1", "G2", "E1"]  # G1 shares L1's fate
    df.loc[3, ["sector", "factor_loading", "approval_quarter"]] = ["a", 0.5, 0]
    df["lgd_factor_loading"] = 0.7
    df["lgd_sd"] = 0.1
    df.loc[df.instrument != "equity", "recovery_lag_quarters"] = 3
    eq = df.instrument == "equity"
    df.loc[eq, ["expected_yield", "cf_vol", "overrun_mean", "overrun_sd"]] = [0.2, 0.2, 0.3, 0.4]
    out = []
    for threads, chunk in ((1, 1024), (2, 3072), (2, 8192)):
        cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=5000, horizon_years=5.0,
                          discount_rate=0.04, chunk_paths=chunk, dependence=dependence,
                          cashflows={"performance_sd": 0.3, "performance_drift_sd": 0.3},
                          simulation={"threads": threads})
        res = riskengine.run_model(riskengine.build_model(cfg, make_portfolio(df, cfg)))
        out.append({v: res.paths[v].to_numpy() for v in res.paths.data_vars})
    for other in out[1:]:
        for v, a in out[0].items():
            np.testing.assert_array_equal(a, other[v], err_msg=v)

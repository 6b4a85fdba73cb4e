"""Shared builders for small, fully specified test programs (independent of data/)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskengine.config import config_from_dict
from riskengine.portfolio import portfolio_from_frame


def make_config(sectors=("s",), corr=None, *, paths=20_000, seed=7, horizon_years=1.0,
                steps_per_year=4, discount_rate=0.0, base_rate=0.0, chunk_paths=8192, **sections):
    k = len(sectors)
    corr = np.eye(k).tolist() if corr is None else np.asarray(corr).tolist()
    raw = {
        "simulation": {"paths": paths, "seed": seed, "horizon_years": horizon_years,
                       "steps_per_year": steps_per_year, "chunk_paths": chunk_paths},
        "dependence": {"sectors": list(sectors), "correlation": corr},
        "rates": {"base_rate": base_rate, "discount_rate": discount_rate},
    }
    for name, body in sections.items():
        raw.setdefault(name, {}).update(body)
    return config_from_dict(raw, "<test>")


def homogeneous_frame(n=100, pd_annual=0.02, lgd=1.0, w=0.0, sector="s", commitment=1.0,
                      institution="JBIC", instrument="loan", prefix="P"):
    return pd.DataFrame({
        "project_id": [f"{prefix}{i:04d}" for i in range(n)],
        "sector": sector, "institution": institution, "instrument": instrument,
        "commitment_usd": commitment, "pd_annual": pd_annual, "lgd": lgd,
        "factor_loading": w,
    })


def make_portfolio(df, cfg):
    sim = cfg.simulation
    return portfolio_from_frame(df, cfg.dependence.sectors, sim.n_quarters, sim.steps_per_year)


def mixed_frame():
    """A small program with every instrument, schedules and two sectors."""
    rows = [
        # id, sector, inst, instr, commit, pd, lgd, w, approval, funding, tenor, amort, rate, cov
        ("L1", "a", "JBIC", "loan", 100.0, 0.04, 0.4, 0.5, 0, 1, 3.0, "linear", 0.05, 1.0),
        ("L2", "a", "JBIC", "loan", 50.0, 0.08, 0.6, 0.5, 2, 3, 4.0, "bullet", 0.06, 1.0),
        ("L3", "b", "JBIC", "loan", 80.0, 0.02, 0.3, 0.3, 1, 2, None, "linear", 0.04, 1.0),
        ("G1", "a", "NEXI", "guarantee", 120.0, 0.05, 0.5, 0.5, 0, 2, 3.0, "linear", 0.01, 0.9),
        ("G2", "b", "NEXI", "guarantee", 60.0, 0.10, 0.3, 0.4, 3, 1, 2.0, "bullet", 0.015, 0.8),
        ("E1", "b", "JBIC", "equity", 40.0, 0.06, 0.8, 0.4, 1, 4, None, "linear", 0.0, 1.0),
    ]
    cols = ["project_id", "sector", "institution", "instrument", "commitment_usd", "pd_annual",
            "lgd", "factor_loading", "approval_quarter", "funding_quarters", "tenor_years",
            "amortization", "rate", "coverage"]
    return pd.DataFrame(rows, columns=cols)


@pytest.fixture
def mixed():
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=4096, horizon_years=5.0,
                      discount_rate=0.04)
    return cfg, make_portfolio(mixed_frame(), cfg)


def plain(ds):
    """A Dataset without its (measure, level) multi-index, for exact comparisons: the
    index's tuples hold NaN levels (EL, SD), which never compare equal as objects."""

    from riskengine.io import without_multi_indexes

    return without_multi_indexes(ds).drop_vars("run_id", errors="ignore")  # (which run)


def assert_same(a, b):
    import xarray as xr

    xr.testing.assert_identical(plain(a), plain(b))


def cli_files(tmp_path, config: str, frame=None):
    """A portfolio CSV (default: the mixed program) and a config TOML for command-line
    tests; returns their paths."""
    pf, cfg = tmp_path / "pf.csv", tmp_path / "cfg.toml"
    (mixed_frame() if frame is None else frame).to_csv(pf, index=False)
    cfg.write_text(config)
    return pf, cfg


def credit_losses(run_dir):
    """A run directory's per-path credit loss of ALL, read from paths.parquet, and the EL
    of it that summary.parquet stores (a run without regimes or scenarios)."""
    from pathlib import Path

    from riskengine.io import read_results

    loss = read_results(run_dir).paths["credit_loss"].sum("institution").to_numpy()
    s = pd.read_parquet(Path(run_dir) / "summary.parquet")
    el = s[(s.institution == "ALL") & (s.variable == "credit_loss") & (s.measure == "EL")]
    return loss, float(el["value"].item())


def parquet_bytes(run_dir):
    """Each Parquet file's bytes (summary.parquet's without its ``run_id`` column, the one
    value that differs between two runs)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = {}
    for f in sorted(run_dir.glob("*.parquet")):
        if f.name != "summary.parquet":
            out[f.name] = f.read_bytes()
            continue
        table = pq.read_table(f).drop(["run_id"])
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        out[f.name] = sink.getvalue().to_pybytes()
    return out

"""Memory bounded in paths: ``riskengine run`` streams its per-path outputs to disk chunk
by chunk and computes the measures one variable at a time; the files are the ones an
in-memory run writes, bit for bit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import riskengine
from riskengine.cli import main
from riskengine.io import read_results

from ..conftest import assert_same, cli_files, mixed_frame

CONFIG = """
[simulation]
horizon_years = 5.0

[dependence]
sectors = ["a", "b"]
correlation = [[1.0, 0.4], [0.4, 1.0]]
"""


def _files(tmp_path):
    df = mixed_frame()
    df.loc[df.instrument == "equity", ["expected_yield", "cf_vol", "construction_years",
                                       "life_years", "deemed_spread"]] = [0.12, 0.2, 1.0, 3.0, 0.02]
    return cli_files(tmp_path, CONFIG, df)


@pytest.mark.parametrize("extra", [[], ["--importance-sampling"]])
def test_streamed_run_writes_what_an_in_memory_run_writes(tmp_path, extra):
    """Chunks of 1,024 paths streamed to paths.parquet: every file equals the Python API's
    in-memory result, and paths.parquet has the very bytes of a one-shot write."""
    pf, cfg = _files(tmp_path)
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--portfolio", str(pf), "--paths", "10000",
                 "--chunk-paths", "1024", "--quiet", "--out", str(out), *extra]) == 0
    memory = riskengine.simulate(cfg, pf, paths=10000, importance_sampling=bool(extra) or None)
    written = read_results(out)
    assert ("weight" in written.paths) == bool(extra)
    for name, ds in memory.datasets().items():
        assert_same(written[name], ds)
    memory.write(tmp_path / "memory")
    assert ((out / "paths.parquet").read_bytes()
            == (tmp_path / "memory" / "paths.parquet").read_bytes())


def test_shipped_program_streamed_equals_in_memory(tmp_path):
    """The shipped program (regimes, selection, yen, equity) in chunks of 2,048."""
    out = tmp_path / "run"
    assert main(["run", "--paths", "6144", "--chunk-paths", "2048", "--quiet",
                 "--out", str(out)]) == 0
    memory = riskengine.simulate(paths=6144)
    written = read_results(out)
    for name, ds in memory.datasets().items():
        assert_same(written[name], ds)


def test_dataset_appender_regroups_pieces_into_one_shot_row_groups(tmp_path, monkeypatch):
    """Pieces of any size give the row groups (and bytes) of one write."""
    import xarray as xr

    from riskengine import io as rio

    monkeypatch.setattr(rio, "ROW_GROUP_ROWS", 1000)  # (small groups, several of them)
    rng = np.random.default_rng(0)
    ds = xr.Dataset({"x": (("path", "institution"), rng.random((1234, 3))),
                     "w": (("path",), rng.random(1234))},
                    coords={"path": np.arange(1234), "institution": ["A", "B", "C"]})
    rio.write_dataset(ds, tmp_path / "one.parquet")
    for pieces in ([1234], [1, 500, 733], [100] * 12 + [34]):
        app = rio.DatasetAppender(tmp_path / "app.parquet", 1234)
        edge = 0
        for p in pieces:
            app.append(ds.isel(path=slice(edge, edge + p)))
            edge += p
        app.close()
        assert pq.ParquetFile(tmp_path / "app.parquet").num_row_groups == 4
        assert (tmp_path / "app.parquet").read_bytes() == (tmp_path / "one.parquet").read_bytes()
    app = rio.DatasetAppender(tmp_path / "short.parquet", 1234)
    app.append(ds.isel(path=slice(0, 10)))
    with pytest.raises(ValueError, match="10 of 1234"):
        app.close()


def _peak_mib(tmp_path: Path, pf: Path, cfg: Path, paths: int) -> float:
    """Peak resident memory of a whole ``riskengine run`` process, in MiB."""
    beside = Path(sys.executable).parent / "riskengine"  # (the environment's, on PATH or not)
    exe = str(beside) if beside.exists() else shutil.which("riskengine")
    assert exe is not None
    proc = subprocess.Popen([exe, "run", "--config", str(cfg), "--portfolio", str(pf),
                             "--paths", str(paths), "--quiet", "--overwrite",
                             "--out", str(tmp_path / "run")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    assert status == 0, proc.stderr.read().decode() if proc.stderr else ""
    return usage.ru_maxrss / 1024  # (kilobytes on Linux)


@pytest.mark.skipif(not hasattr(os, "wait4"), reason="needs os.wait4 (Linux)")
def test_peak_memory_is_flat_in_paths(tmp_path):
    """Ten times the paths, less than 1.5 times the peak (before streaming, every path
    kept about 700 bytes in memory until the run was written)."""
    pf, cfg = _files(tmp_path)
    small = _peak_mib(tmp_path, pf, cfg, 200_000)
    large = _peak_mib(tmp_path, pf, cfg, 2_000_000)
    assert large < 1.5 * small, (small, large)


def test_nonfinite_paths_counts_the_paths_with_a_nan_or_an_infinity():
    """By float variable; a sum that overflows on finite values is not mistaken for one."""
    import xarray as xr

    from riskengine.pathstore import nonfinite_paths

    loss = np.zeros((6, 2))
    loss[1, 0], loss[1, 1], loss[4, 1] = np.nan, np.inf, -np.inf
    ds = xr.Dataset({"loss": (("path", "institution"), loss),
                     "huge": ("path", np.full(6, 1e308)),
                     "fine": ("path", np.arange(6.0)),
                     "code": ("path", np.arange(6))})
    assert nonfinite_paths(ds) == {"loss": 2, "huge": 0, "fine": 0}


def test_a_streamed_run_reads_each_column_of_paths_parquet_about_once(tmp_path, monkeypatch):
    """The summary reads each column once; the convergence, which follows, starts with
    the column still in memory and reads the other; the tail warning reads none."""
    from riskengine import io
    from riskengine.outputs import DERIVED_VARIABLES

    reads = []
    read = io._LazyColumn._read
    monkeypatch.setattr(io._LazyColumn, "_read", lambda self: reads.append(self.name) or read(self))
    pf, cfg = _files(tmp_path)
    assert main(["run", "--config", str(cfg), "--portfolio", str(pf), "--paths", "4096",
                 "--quiet", "--out", str(tmp_path / "run")]) == 0
    summary = read_results(tmp_path / "run").summary
    columns = [DERIVED_VARIABLES.get(str(v), str(v)) for v in summary["variable"].values]
    assert {"credit_loss", "economic_loss"} < set(columns)
    last = reads[-len(columns) - 1:]  # (reads before the summary's are other figures')
    assert sorted(last) == sorted([*columns, last[-1]]) and last[-1] in columns

"""Dask: a local cluster and a real scheduler with two worker processes on loopback give
the local run's results bit for bit, also when a worker dies mid-run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("distributed")

import riskengine
from riskengine.cli import main

from ..conftest import assert_same, cli_files

CONFIG = """
[simulation]
paths = 200000
horizon_years = 5.0
chunk_paths = 4096

[dependence]
sectors = ["a", "b"]
correlation = [[1.0, 0.4], [0.4, 1.0]]
"""


@pytest.fixture
def files(tmp_path):
    pf, cfg = cli_files(tmp_path, CONFIG)
    assert main(["run", "--config", str(cfg), "--portfolio", str(pf), "--quiet",
                 "--out", str(tmp_path / "local")]) == 0
    return pf, cfg


def _same(a, b):
    ra, rb = riskengine.read_results(a), riskengine.read_results(b)
    for name in ("paths", "summary", "projects", "timeline", "annual", "contributions"):
        assert_same(ra[name], rb[name])


def test_a_local_dask_cluster_gives_the_local_run(tmp_path, files):
    pf, cfg = files
    assert main(["run", "--config", str(cfg), "--portfolio", str(pf), "--quiet",
                 "--out", str(tmp_path / "dask"), "--dask-local", "2"]) == 0
    _same(tmp_path / "local", tmp_path / "dask")


@pytest.mark.skipif(shutil.which("dask") is None and not os.environ.get("CI"),
                    reason="the dask command line is not installed")
def test_a_scheduler_with_two_workers_survives_a_lost_worker(tmp_path, files):
    pf, cfg = files
    dask = [os.path.join(os.path.dirname(sys.executable), "dask")]
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sched_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.time() + 60
        while not sched_file.exists():
            assert time.time() < deadline
            time.sleep(0.2)
        time.sleep(0.5)
        address = json.loads(sched_file.read_text())["address"]
        workers = [subprocess.Popen([*dask, "worker", address, "--nthreads", "1",
                                     "--no-dashboard", "--host", "127.0.0.1"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for _ in range(2)]
        procs += workers
        time.sleep(3.0)
        run = subprocess.Popen([sys.executable, "-m", "riskengine.cli", "run", "--config",
                                str(cfg), "--portfolio", str(pf), "--quiet", "--out",
                                str(tmp_path / "cluster"), "--dask-scheduler", address],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(4.0)
        assert run.poll() is None and workers[0].poll() is None  # mid-run
        workers[0].send_signal(signal.SIGKILL)  # a lost worker: its tasks run elsewhere
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err.decode()
        _same(tmp_path / "local", tmp_path / "cluster")
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=30)

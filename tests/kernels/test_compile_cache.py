"""The compiled kernels are a one-time cost: cached per user and package version, filled
once under a lock when several processes start together, and Ctrl-C stops a compile."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _run(cache: Path, out: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "RISKENGINE_CACHE_DIR": str(cache), "RISKENGINE_NUMBA_CACHE": "1"}
    cmd = [sys.executable, "-m", "riskengine.cli", "run", "--paths", "2048", "--seed", "3",
           "--out", str(out)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kw)


def _unmarked_copy_of_the_compiled_cache(cache: Path) -> None:
    """Fill ``cache`` with this checkout's compiled kernels without their marker, when the
    test session has them: the processes then go through the same lock, child and marker
    as on an empty cache, but the child loads numba's cached code in seconds instead of
    compiling for minutes (the cold compile itself runs in every fresh CI checkout, whose
    first test compiles the kernels). Without them the cache stays empty."""
    from riskengine._kernels._cache import CACHE_DIR
    from riskengine.kernel_cache import kernels_cached

    if kernels_cached():
        shutil.copytree(CACHE_DIR, cache / CACHE_DIR.name,
                        ignore=shutil.ignore_patterns("complete*"))


def test_processes_started_together_on_a_cache_not_yet_filled(tmp_path):
    cache = tmp_path / "cache"
    _unmarked_copy_of_the_compiled_cache(cache)
    procs = [_run(cache, tmp_path / f"run{i}") for i in range(3)]
    results = [p.communicate(timeout=900) for p in procs]
    for p, (_out, err) in zip(procs, results):
        assert p.returncode == 0, err
    # one of them compiled, and said so; the others waited and loaded its kernels
    said = [err.count("compiling kernels (first run only") for _, err in results]
    assert sorted(said) == [0, 0, 1], said
    assert len(list(cache.glob("kernels-*/complete-*"))) == 1
    files = [(tmp_path / f"run{i}" / "paths.parquet").read_bytes() for i in range(3)]
    assert files[0] == files[1] == files[2]
    # a later process loads the cached kernels instead of compiling them
    later = _run(cache, tmp_path / "run3")
    out, err = later.communicate(timeout=300)
    assert later.returncode == 0, err
    assert "compiling kernels" not in err
    timings = json.loads((tmp_path / "run3" / "manifest.json").read_text())["timings"]
    assert timings["simulate_includes_jit_compile"] is False
    assert timings["simulate_includes_kernel_load"] is True
    assert (tmp_path / "run3" / "paths.parquet").read_bytes() == files[0]


def test_ctrl_c_stops_the_first_compile(tmp_path):
    cache = tmp_path / "cache"
    proc = _run(cache, tmp_path / "run", start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(cache.glob("kernels-*-*.lock")):  # the compile has started
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    time.sleep(2.0)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
    assert not list(cache.glob("kernels-*/complete-*"))  # nothing claims to be compiled

"""Checkpoints: a run killed mid-way (SIGKILL or SIGINT) and resumed equals the
uninterrupted run, bit for bit; resuming with another config is refused."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

import riskengine
from riskengine.cli import main

from ..conftest import assert_same, cli_files, parquet_bytes

CONFIG = """
[simulation]
paths = 300000
horizon_years = 5.0
chunk_paths = 8192

[dependence]
sectors = ["a", "b"]
correlation = [[1.0, 0.4], [0.4, 1.0]]
"""


@pytest.fixture
def files(tmp_path):
    return cli_files(tmp_path, CONFIG)


def _start(pf, cfg, out, cwd):
    return subprocess.Popen([sys.executable, "-m", "riskengine.cli", "run", "--config", str(cfg),
                             "--portfolio", str(pf), "--out", str(out), "--quiet"],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_chunks(out, proc, n=3, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if len(list((out / "parts").glob("chunk-*.npz"))) >= n:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_run_resumes_to_the_same_result(tmp_path, files, sig):
    pf, cfg = files
    assert main(["run", "--config", str(cfg), "--portfolio", str(pf), "--quiet",
                 "--out", str(tmp_path / "whole")]) == 0
    out = tmp_path / "killed"
    proc = _start(pf, cfg, out, tmp_path)
    assert _wait_for_chunks(out, proc), proc.communicate()
    proc.send_signal(sig)
    proc.wait(timeout=60)
    chunks = list((out / "parts").glob("chunk-*.npz"))
    assert 3 <= len(chunks) < 300000 // 8192 + 1  # stopped part-way, chunks kept
    if sig == signal.SIGKILL:  # a kill leaves the hidden folder its results were going to
        assert list(tmp_path.glob(".killed.partial-*"))
    with pytest.raises(riskengine.UsageError):  # not a finished run
        riskengine.io.check_readable_run(out)
    assert main(["run", "--config", str(cfg), "--portfolio", str(pf), "--quiet",
                 "--resume", str(out)]) == 0
    whole, resumed = riskengine.read_results(tmp_path / "whole"), riskengine.read_results(out)
    for name in ("paths", "summary", "projects", "timeline", "annual", "contributions"):
        assert_same(whole[name], resumed[name])
    assert resumed.manifest["timings"]["resumed_paths"] >= 3 * 8192
    assert not (out / "parts").exists()  # a finished run keeps only its results
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # nor hidden


def test_resuming_with_another_config_is_refused(tmp_path, files, capsys):
    pf, cfg = files
    out = tmp_path / "killed"
    proc = _start(pf, cfg, out, tmp_path)
    assert _wait_for_chunks(out, proc, n=1)
    proc.kill()
    proc.wait(timeout=60)
    other = tmp_path / "other.toml"
    other.write_text(CONFIG.replace("horizon_years = 5.0", "horizon_years = 4.0"))
    capsys.readouterr()
    assert main(["run", "--config", str(other), "--portfolio", str(pf), "--quiet",
                 "--resume", str(out)]) == 2
    assert "another config" in capsys.readouterr().err
    # threads and chunk sizes do not change the numbers: resuming with others is fine
    assert main(["run", "--config", str(cfg), "--portfolio", str(pf), "--quiet",
                 "--resume", str(out), "--threads", "1", "--chunk-paths", "4096"]) == 0


def test_the_python_api_checkpoints_and_resumes_like_the_command_line(tmp_path, files):
    """``simulate(out=DIR)`` interrupted after two chunks keeps them in DIR/parts, and
    ``simulate(out=DIR, resume=True)`` finishes it: the same Parquet bytes as
    ``riskengine run`` uninterrupted."""
    from riskengine.runs import Stopped

    pf, cfg = files
    cfg.write_text(CONFIG.replace("paths = 300000", "paths = 40000"))
    assert main(["run", "--config", str(cfg), "--portfolio", str(pf), "--quiet",
                 "--out", str(tmp_path / "cli")]) == 0

    def stop_after_two_chunks(done: int, total: int) -> None:
        if done >= 2 * 8192:
            raise KeyboardInterrupt

    out = tmp_path / "api"
    with pytest.raises(Stopped, match="interrupted after 16,384 of 40,000 paths") as stop:
        riskengine.simulate(cfg, pf, out=out, progress=stop_after_two_chunks)
    assert stop.value.exit_code == 130
    assert len(list((out / "parts").glob("chunk-*.npz"))) == 2
    with pytest.raises(riskengine.UsageError):  # not a finished run
        riskengine.io.check_readable_run(out)
    result = riskengine.simulate(cfg, pf, out=out, resume=True)
    assert result.meta["timings"]["resumed_paths"] == 2 * 8192
    assert not (out / "parts").exists()
    cli, api = parquet_bytes(tmp_path / "cli"), parquet_bytes(out)
    assert list(api) == list(cli) and "paths.parquet" in api
    for name in cli:
        assert api[name] == cli[name], name

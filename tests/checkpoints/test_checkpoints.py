"""Checkpoint chunks: each carries the run key and its path range, so resume recomputes a
chunk that is corrupt or another run's (saying so on stderr) and still writes the
uninterrupted run's bytes; the disk the chunks need is checked before a run; a failed
write leaves what the README says; a batch job's log gets one progress line per chunk."""

from __future__ import annotations

import errno
import importlib
import json
import shutil
from collections import namedtuple

import numpy as np
import pytest

import riskengine
from riskengine import checkpoints
from riskengine.cli import main
from riskengine.config import load_config
from riskengine.portfolio import load_portfolio
from riskengine.results_version import RESULTS_VERSION
from riskengine.runs import Stopped
from riskengine.simulate import build_models

from ..conftest import cli_files, parquet_bytes

#: the module (``riskengine.simulate`` is the function)
simulate_module = importlib.import_module("riskengine.simulate")

CONFIG = """
[simulation]
paths = 8192
horizon_years = 5.0
chunk_paths = 2048

[dependence]
sectors = ["a", "b"]
correlation = [[1.0, 0.4], [0.4, 1.0]]
"""


@pytest.fixture
def files(tmp_path):
    return cli_files(tmp_path, CONFIG)


def _run(pf, cfg, *args):
    return main(["run", "--config", str(cfg), "--portfolio", str(pf), *map(str, args)])


def _interrupted(pf, cfg, out, seed, chunks):
    """A run of ``seed`` stopped after ``chunks`` chunks of 2,048 paths."""
    def stop(done: int, total: int) -> None:
        if done >= chunks * 2048:
            raise KeyboardInterrupt

    with pytest.raises(Stopped):
        riskengine.simulate(cfg, pf, seed=seed, out=out, progress=stop)
    return out / "parts"


def _name(a, b):
    return f"chunk-{a:012d}-{b:012d}.npz"


def test_every_chunk_carries_the_run_key_and_its_path_range(tmp_path, files):
    pf, cfg = files
    parts = _interrupted(pf, cfg, tmp_path / "run", seed=12, chunks=2)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    for a, b in ((0, 2048), (2048, 4096)):
        with np.load(parts / _name(a, b)) as z:
            assert str(z["run_key"]) == manifest["checkpoint"]["run_key"]
            assert z["path_range"].tolist() == [a, b]


def test_foreign_wrong_range_and_truncated_chunks_are_recomputed(tmp_path, files, capsys):
    """The issue's cases: seed 11's chunk copied into an interrupted seed-12 run, a chunk
    whose file holds other paths than its name says, a truncated chunk. Each is
    recomputed, named on stderr, and the Parquet files are the uninterrupted run's."""
    pf, cfg = files
    assert _run(pf, cfg, "--seed", 12, "--quiet", "--out", tmp_path / "whole") == 0
    theirs = _interrupted(pf, cfg, tmp_path / "s11", seed=11, chunks=2)
    ours = _interrupted(pf, cfg, tmp_path / "s12", seed=12, chunks=1)
    shutil.copy(theirs / _name(2048, 4096), ours / _name(2048, 4096))  # another seed's
    shutil.copy(ours / _name(0, 2048), ours / _name(4096, 6144))  # paths 0:2048 inside
    data = (ours / _name(0, 2048)).read_bytes()
    (ours / _name(0, 2048)).write_bytes(data[: len(data) // 2])  # truncated
    capsys.readouterr()
    assert _run(pf, cfg, "--seed", 12, "--quiet", "--resume", tmp_path / "s12") == 0
    err = capsys.readouterr().err
    assert f"{_name(2048, 4096)}: it belongs to another run" in err
    assert f"{_name(4096, 6144)}: it holds paths [0, 2048], not 4096:6144" in err
    assert f"{_name(0, 2048)}: it is corrupt or truncated" in err
    assert "Traceback" not in err
    whole, resumed = parquet_bytes(tmp_path / "whole"), parquet_bytes(tmp_path / "s12")
    assert list(resumed) == list(whole) and "contributions.parquet" in whole
    for name in whole:
        assert resumed[name] == whole[name], name


def test_a_foreign_chunk_without_contributions_is_recomputed_too(tmp_path, files, capsys):
    pf, cfg = files
    cfg.write_text(CONFIG + "\n[outputs]\ncontributions = false\n")
    assert _run(pf, cfg, "--seed", 12, "--quiet", "--out", tmp_path / "whole") == 0
    theirs = _interrupted(pf, cfg, tmp_path / "s11", seed=11, chunks=2)
    ours = _interrupted(pf, cfg, tmp_path / "s12", seed=12, chunks=1)
    shutil.copy(theirs / _name(2048, 4096), ours / _name(2048, 4096))
    result = riskengine.simulate(cfg, pf, seed=12, out=tmp_path / "s12", resume=True)
    assert result.meta["timings"]["resumed_paths"] == 2048
    assert "belongs to another run" in capsys.readouterr().err
    assert parquet_bytes(tmp_path / "s12") == parquet_bytes(tmp_path / "whole")


def test_resume_removes_the_hidden_leftovers_of_a_killed_run(tmp_path, files):
    pf, cfg = files
    parts = _interrupted(pf, cfg, tmp_path / "run", seed=12, chunks=1)
    leftovers = [tmp_path / ".run.partial-99999-1", tmp_path / ".run.old-99999-1"]
    for d in leftovers:
        d.mkdir()
        (d / "paths.parquet").write_bytes(b"PAR1")
    (parts / f".{_name(2048, 4096)}.99999.tmp").write_bytes(b"half")
    assert _run(pf, cfg, "--seed", 12, "--quiet", "--resume", tmp_path / "run") == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    riskengine.io.check_readable_run(tmp_path / "run")


def _tree(root):
    """Every file under ``root`` with its bytes."""
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("saved", [RESULTS_VERSION + 1, None])
def test_a_checkpoint_of_another_results_version_is_not_resumed(tmp_path, files, capsys,
                                                                 saved):
    """An unfinished run's manifest records its results version; a resume by a riskengine
    of another one (its chunks hold other draws) is refused before any work: exit 2, the
    directory and both versions named, nothing written. A manifest without the key (saved
    before it existed) is version 1."""
    pf, cfg = files
    out = tmp_path / "run"
    _interrupted(pf, cfg, out, seed=12, chunks=1)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is False and manifest["results_version"] == RESULTS_VERSION
    if saved is None:
        del manifest["results_version"]
    else:
        manifest["results_version"] = saved
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    version = 1 if saved is None else saved
    before = _tree(tmp_path)
    capsys.readouterr()
    code = _run(pf, cfg, "--seed", 12, "--quiet", "--resume", out)
    if version == RESULTS_VERSION:  # (a key-less checkpoint while the version is 1)
        assert code == 0
        riskengine.io.check_readable_run(out)
        return
    err = capsys.readouterr().err
    assert code == 2
    assert (f"--resume {out}: the run was started with results version {version} and this "
            f"riskengine draws results version {RESULTS_VERSION}") in err
    assert "Traceback" not in err
    assert _tree(tmp_path) == before


Usage = namedtuple("Usage", "total used free")


def test_the_chunk_estimate_matches_the_files(tmp_path, files):
    pf, cfg = files
    parts = _interrupted(pf, cfg, tmp_path / "run", seed=12, chunks=3)
    config = load_config(cfg)
    sim = config.simulation
    model = build_models(config, load_portfolio(pf, config.dependence.sectors, sim.n_quarters,
                                                sim.steps_per_year))[0]
    on_disk = sum(f.stat().st_size for f in parts.glob("chunk-*.npz"))
    assert on_disk == pytest.approx(checkpoints.chunk_bytes(model, 3 * 2048), rel=0.02)


def test_a_run_that_does_not_fit_on_disk_runs_without_checkpoints(tmp_path, files, capsys,
                                                                   monkeypatch):
    pf, cfg = files
    assert _run(pf, cfg, "--quiet", "--out", tmp_path / "whole") == 0
    monkeypatch.setattr(shutil, "disk_usage", lambda p: Usage(10**9, 10**9 - 1000, 1000))
    assert main(["validate", "--config", str(cfg), "--portfolio", str(pf)]) == 0
    assert "a run there goes without checkpoints" in capsys.readouterr().out
    seen = []
    monkeypatch.setattr(simulate_module, "save_chunk", lambda *a: seen.append(a))
    assert _run(pf, cfg, "--quiet", "--out", tmp_path / "small") == 0
    err = capsys.readouterr().err
    assert "warning: checkpoints need about" in err and "running without checkpoints" in err
    assert not seen and not (tmp_path / "small" / "parts").exists()
    assert parquet_bytes(tmp_path / "small") == parquet_bytes(tmp_path / "whole")


def _disk_full_at(monkeypatch, n):
    """Saving the ``n``-th chunk (from 1) fails as on a full disk."""
    real, calls = checkpoints.save_chunk, []

    def save(checkpoint, start, end, *rest):
        calls.append(start)
        if len(calls) >= n:
            raise OSError(errno.ENOSPC, "No space left on device",
                          str(checkpoint.folder / _name(start, end)))
        real(checkpoint, start, end, *rest)

    monkeypatch.setattr(simulate_module, "save_chunk", save)


def test_a_full_disk_before_any_chunk_leaves_nothing(tmp_path, files, capsys, monkeypatch):
    pf, cfg = files
    _disk_full_at(monkeypatch, 1)
    assert _run(pf, cfg, "--quiet", "--out", tmp_path / "run") == 5
    assert "nothing was written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.toml", "pf.csv"]


def test_a_full_disk_later_keeps_the_saved_chunks_for_a_resume(tmp_path, files, capsys,
                                                                monkeypatch):
    pf, cfg = files
    assert _run(pf, cfg, "--quiet", "--out", tmp_path / "whole") == 0
    _disk_full_at(monkeypatch, 3)
    assert _run(pf, cfg, "--quiet", "--out", tmp_path / "run") == 5
    err = capsys.readouterr().err
    assert "keeps the 4,096 paths saved in its parts/" in err and "--resume" in err
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["manifest.json", "parts"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    monkeypatch.undo()
    assert _run(pf, cfg, "--quiet", "--resume", tmp_path / "run") == 0
    assert parquet_bytes(tmp_path / "run") == parquet_bytes(tmp_path / "whole")


def test_a_batch_log_gets_one_progress_line_per_chunk(tmp_path, files, capsys):
    pf, cfg = files
    assert _run(pf, cfg, "--out", tmp_path / "log") == 0  # (capsys: stderr is no terminal)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("simulated")]
    assert [ln.split(" paths")[0] for ln in lines] == [
        f"simulated {n:,} of 8,192" for n in (2048, 4096, 6144, 8192)]
    # (a first run's first chunk includes compiling the kernels: its pace follows)
    assert all("paths/s, about" in ln and ln.endswith(" left") for ln in lines[1:])
    assert lines[0].endswith(" left") or "includes compiling the kernels" in lines[0]
    assert _run(pf, cfg, "--quiet", "--out", tmp_path / "quiet") == 0
    assert "simulated" not in capsys.readouterr().err
    assert _run(pf, cfg, "--json", "--out", tmp_path / "json") == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["paths"] == 8192 and err.count("simulated ") == 4


def test_resume_with_another_config_names_the_keys_that_differ():
    from riskengine.checkpoints import config_differences

    then = {"simulation": {"paths": 1000, "seed": 3}, "fx": {"volatility": 0.094}}
    now = {"simulation": {"paths": 1000, "seed": 4}, "fx": {"volatility": 0.2}, "extra": 1}
    assert config_differences(then, now) == (
        " (keys that differ: extra 'unset' then, 1 now, fx.volatility 0.094 then, 0.2 now, "
        "simulation.seed 3 then, 4 now)")
    assert config_differences(then, then) == ""


def test_the_heartbeat_gives_no_pace_from_a_chunk_that_compiled(monkeypatch):
    import importlib
    import io

    simulate_module = importlib.import_module("riskengine.simulate")

    monkeypatch.setattr(simulate_module, "kernels_cached", lambda: False)
    log = io.StringIO()
    beat = simulate_module.Heartbeat(log)
    beat(2048, 8192)
    beat(4096, 8192)
    first, second = log.getvalue().splitlines()
    assert first == ("simulated 2,048 of 8,192 paths (25%); the pace follows (this chunk's "
                     "time includes compiling the kernels)")
    assert second.startswith("simulated 4,096 of 8,192 paths (50%), ") and "paths/s" in second

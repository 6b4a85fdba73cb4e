"""Splitting a run by paths: ``riskengine run --path-range START:END`` writes a *part*
(the raw outputs of those global paths), ``riskengine merge PART... --out DIR`` combines
parts of one config and portfolio into the run directory the whole run would have
written, bit for bit (keyed random streams make a part's paths the same paths a full run
draws). The seam a SLURM array job or a cluster uses.

A part directory holds ``manifest.json`` (``"complete": false``, ``"part": {start, end}``,
the config and the provenance hashes; never mistaken for a finished run) and
``part.npz`` (per-path outputs and per-block accumulators of its paths, and the sampled
rows of its paths).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .checkpoints import chunk_arrays
from .config import config_from_dict
from .errors import UsageError
from .io import _write_atomically, _write_manifest, write_run_streamed
from .kernel_inputs import Model, build_model
from .pathstore import InMemory, add_arrays
from .portfolio import load_portfolio
from .provenance import package_versions, provenance, sha256_file
from .results_version import KEY as RESULTS_VERSION_KEY
from .results_version import RESULTS_VERSION, of_manifest
from .simulate import RangeRun, finish, sampling_inputs, simulate_range, streamed_store

PART_FILE = "part.npz"


def parse_range(text: str) -> tuple[int, int]:
    """``"START:END"`` -> ``(START, END)``."""
    try:
        a, b = text.split(":")
        return int(a.replace("_", "")), int(b.replace("_", ""))
    except ValueError:
        raise UsageError(f"--path-range {text!r}: expected START:END, e.g. 0:500000") from None


def run_part(model: Model, start: int, end: int, out_dir: str | Path,
             overwrite: bool = False, progress=None) -> Path:
    """Simulate paths ``start .. end - 1`` of the model's run and write them as a part."""
    if model.scenario is not None or model.config.simulation.scenarios:
        raise UsageError("--path-range runs one scenario at a time: drop --scenarios")
    if model.config.uncertainty:
        raise UsageError("--path-range with [[uncertainty]]: a merged run would miss the "
                         "conditional run at the point values; run it whole (or on Dask)")
    inputs, is_info = sampling_inputs(model)
    store = InMemory(model, start, end)
    run = simulate_range(model, inputs, start, end, progress, store=store)
    arrays = chunk_arrays(start, end, store.out, store.acc, store.sampled)  # (as a checkpoint)
    manifest = {
        "complete": False, "status": "part", "part": {"start": start, "end": end},
        "paths": model.config.simulation.paths, "seed": model.config.simulation.seed,
        RESULTS_VERSION_KEY: RESULTS_VERSION,
        "config": model.config.to_dict(), "portfolio": model.portfolio.source,
        "provenance": provenance(model, run.timings), "versions": package_versions(),
        "importance_sampling": is_info, "timings": run.timings, "files": {}}

    def fill(tmp: Path) -> None:
        np.savez(tmp / PART_FILE, **arrays)
        _write_manifest(tmp, manifest)

    return _write_atomically(out_dir, overwrite, fill)


def _read_part(path: Path) -> tuple[dict, Path]:
    """A part's manifest and its arrays' file (read when merged, one part at a time)."""
    try:
        with open(path / "manifest.json") as f:
            manifest = json.load(f)
        if manifest.get("status") != "part":
            raise ValueError
        with np.load(path / PART_FILE) as z:
            if "out.credit_loss" not in z.files:
                raise KeyError
    except (OSError, ValueError, KeyError):
        raise UsageError(f"{path} is not a part written by riskengine run --path-range") from None
    return manifest, path / PART_FILE


def _check_results_versions(read: list[tuple[Path, dict, Path]]) -> None:
    """Parts of one results version, this riskengine's: parts of other draws are not one
    run, and a merge recomputes what the parts do not hold (the contributions' tail
    replay) with this riskengine's draws."""
    versions = [(path, of_manifest(m)) for path, m, _ in read]
    first, v0 = versions[0]
    for path, v in versions[1:]:
        if v != v0:
            raise UsageError(f"{path} holds results version {v} and {first} results version "
                             f"{v0}: their draws differ, so they are not parts of one run; "
                             "merge parts of one results version only")
    if v0 != RESULTS_VERSION:
        raise UsageError(f"the parts hold results version {v0} ({first}) and this riskengine "
                         f"draws results version {RESULTS_VERSION}: merge them with the "
                         "riskengine that ran them")


def merge(parts: list[str | Path], out_dir: str | Path, overwrite: bool = False):
    """Combine parts into the whole run's directory (refusing parts of different results
    versions, configs, portfolios or engine versions, parts of a results version other
    than this riskengine's, and ranges that do not tile the run exactly); returns the
    Result written."""
    read = [(Path(p), *_read_part(Path(p))) for p in parts]
    _check_results_versions(read)
    first = read[0][1]
    for path, m, _ in read[1:]:
        for key, what in (("config_sha256", "config"), ("portfolio_sha256", "portfolio")):
            if m["provenance"][key] != first["provenance"][key]:
                raise UsageError(f"{path} was run with another {what} than {read[0][0]} "
                                 f"({key} differs): parts of one run only")
        if m["versions"] != first["versions"]:
            raise UsageError(f"{path} was run with other versions than {read[0][0]}: "
                             f"{m['versions']} against {first['versions']}")
    read.sort(key=lambda r: r[1]["part"]["start"])
    n, edge = first["paths"], 0
    for path, m, _ in read:
        start, end = m["part"]["start"], m["part"]["end"]
        if start != edge:
            raise UsageError(f"the parts do not tile paths 0:{n}: "
                             + (f"paths {edge}:{start} are missing" if start > edge
                                else f"{path} overlaps paths before {edge}"))
        edge = end
    if edge != n:
        raise UsageError(f"the parts do not tile paths 0:{n}: paths {edge}:{n} are missing")
    config = config_from_dict(first["config"], str(read[0][0] / "manifest.json"))
    sim = config.simulation
    source = first["portfolio"]
    if sha256_file(source) != first["provenance"]["portfolio_sha256"]:
        raise UsageError(f"the parts' portfolio {source} has changed since they ran "
                         "(its SHA-256 differs)")
    portfolio = load_portfolio(Path(source), config.dependence.sectors, sim.n_quarters,
                               sim.steps_per_year)
    model = build_model(config, portfolio)
    inputs, is_info = sampling_inputs(model)  # (the pilot is deterministic: the parts' own)
    timings = {"simulate_seconds": sum(m["timings"]["simulate_seconds"] for _, m, _ in read),
               "threads_used": first["timings"].get("threads_used"),
               "started": min(m["timings"]["started"] for _, m, _ in read),
               "merged_parts": len(read)}

    def result(paths_file: Path):
        store = streamed_store(model, inputs, paths_file)
        for _, m, file in read:  # (in path order)
            with np.load(file) as arrays:
                add_arrays(store, arrays, m["part"]["start"], m["part"]["end"])
        return finish(model, inputs, RangeRun(0, n, store, timings), is_info)

    return write_run_streamed(out_dir, overwrite, result)[1]

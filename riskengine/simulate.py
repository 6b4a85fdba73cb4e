"""Orchestration: chunks of paths through the kernel, threads, timing and progress.

Paths are simulated in chunks of ``chunk_paths`` (rounded up to a multiple of ``BLOCK``);
each chunk's outputs go to a store (:mod:`riskengine.pathstore`): in memory for the
Python API, streamed to paths.parquet for ``riskengine run``. What grows with paths is
listed in docs/model.md, "Memory" (:func:`riskengine.buffers.memory_estimate` counts it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TextIO

import numpy as np
import xarray as xr

from ._kernels.bundles import SampledPaths
from ._kernels.engine import run_chunk
from ._kernels.threads import threads
from .backstop import year_labels
from .buffers import BLOCK, MEMORY_FIXED_BYTES, allocate, available_memory, memory_estimate
from .checkpoints import Checkpoint, load_chunk, save_chunk, saved_chunks
from .codes import INSTITUTIONS
from .config import Config, Scenario, apply_overrides
from .contributions import compute
from .errors import ConfigError, DataError, UsageError
from .importance import regime_sampling
from .kernel_cache import ensure_compiled, kernels_cached
from .kernel_inputs import KernelInputs, Model, build_model
from .pathstore import InMemory, Streamed, add_arrays, nonfinite_paths
from .pilot import tilted_sampler
from .portfolio import Portfolio
from .provenance import stamp
from .results import Result
from .uncertainty import (
    batch_means,
    describe,
    point_model,
    uncertainty_rows,
    with_parameter_batches,
)

log = logging.getLogger("riskengine")

#: run_chunk's path_ids for a plain pass (the paths first_path + row)
NO_REPLAY = np.zeros(0, dtype=np.int64)

Progress = Callable[[int, int], None]


class Heartbeat:
    """A :data:`Progress` for a batch job's log: one line per finished chunk (paths done,
    paths a second, time left at that pace), written to ``file`` (default: standard
    error) and flushed. The pace is counted from the first chunk on (the first line's
    from when the heartbeat was made)."""

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file
        self._made = time.perf_counter()
        self._first: tuple[float, int] | None = None  # (time, paths done) of the first call
        # a first run compiles the kernels before its first chunk: no pace from that
        self._compiling = not kernels_cached()

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        line = f"simulated {done:,} of {total:,} paths ({done / max(total, 1):.0%})"
        t0, d0 = self._first or (self._made, 0)
        if self._first is None:
            self._first = (now, done)
            if self._compiling:
                line += "; the pace follows (this chunk's time includes compiling the kernels)"
                print(line, file=self.file or sys.stderr, flush=True)
                return
        rate = (done - d0) / max(now - t0, 1e-9)
        if rate > 0:
            line += f", {rate:,.0f} paths/s, about {_duration((total - done) / rate)} left"
        print(line, file=self.file or sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    """``1 h 02 min``, ``3 min 05 s``, ``7 s``."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def _chunks(n_paths: int, chunk: int, paced: bool = False):
    """``(start, size)`` of each chunk: ``chunk`` paths rounded up to whole blocks; with
    ``paced`` (someone watches the progress) the chunks are sized to take about half a
    second each, so progress moves at least every second, never above ``chunk`` (results
    do not depend on the chunk size)."""
    chunk = max(BLOCK, -(-chunk // BLOCK) * BLOCK)
    size = min(chunk, 4 * BLOCK) if paced else chunk
    start = 0
    while start < n_paths:
        now = min(size, n_paths - start)
        t0 = time.perf_counter()
        yield start, now
        start += now
        if paced:
            rate = now / max(time.perf_counter() - t0, 1e-6)
            size = int(min(chunk, max(BLOCK, rate * 0.5 // BLOCK * BLOCK)))


def scenario_list(config: Config) -> list[Scenario | None]:
    """The runs a config asks for: the base case (None), one scenario
    (``simulation.scenario``), or the base case and every scenario side by side
    (``simulation.scenarios``)."""
    sim = config.simulation
    if sim.scenario is not None:
        return [None] if sim.scenario == "base" else [
            next(s for s in config.scenarios if s.name == sim.scenario)]
    if sim.scenarios:
        return [None, *config.scenarios]
    return [None]


def stacked(config: Config) -> bool:
    """Whether the outputs get a ``scenario`` dimension."""
    return config.simulation.scenarios or config.simulation.scenario is not None


def check_fits(config: Config, n_projects: int = 0, n_equity: int = 0,
               streamed: bool = False) -> None:
    """Refuse, before any work, a run that cannot fit in this machine's memory.

    Raises
    ------
    UsageError
        With the estimate in GiB and the largest ``--paths`` that fits.
    """
    paths = config.simulation.paths
    runs = len(scenario_list(config))  # side-by-side scenarios are kept until written
    streamed = streamed and runs == 1
    calls = (len(INSTITUTIONS) * len(year_labels(config))) if config.capital is not None else 0
    need = runs * memory_estimate(paths, n_projects, n_equity, config.simulation.n_quarters,
                                  streamed, calls)
    have = available_memory()
    if have is None or need <= 0.8 * have:
        return
    per_path = need / runs / max(paths, 1)
    fits = max(int((0.8 * have / runs - MEMORY_FIXED_BYTES) / per_path), 0)
    fits = fits // 1000 * 1000 or fits
    raise UsageError(
        f"{paths:,} paths need about {need / 2**30:,.1f} GiB of memory and this machine has "
        f"{have / 2**30:,.1f} GiB available: use --paths {fits:,} or fewer (simulation.paths; "
        + ("the measures need about one variable's values of every path at a time)"
           if streamed else
           "every path's losses are kept in memory until the run is written"
           + (f", for each of the {runs} scenarios" if runs > 1 else "") + ")"))


def run_model(model: Model, progress: Progress | None = None,
              tilt_from: Result | None = None, paced: bool = False,
              checkpoint: Checkpoint | None = None, paths_file: Path | None = None) -> Result:
    """Simulate all paths of a built model and compute the measures.

    Parameters
    ----------
    model
        From :func:`riskengine.build_model`.
    progress
        Called as ``progress(paths_done, paths_total)`` after each chunk.
    tilt_from
        With importance sampling, reuse this run's factor shift and twist instead of
        running a pilot (scenarios side by side then share their paths and weights).
    paced
        Someone watches the progress: size the chunks to report at least every second.
    checkpoint
        Where the finished chunks are saved (resuming from those already there that
        carry this run's key and their path range; the others are simulated again).
    paths_file
        Stream the per-path outputs to this Parquet file chunk by chunk (the run
        directory's paths.parquet): memory then stays nearly flat in paths, and the
        result reads them back one variable at a time.
    """
    check_fits(model.config, model.deployment.portfolio.n_projects, len(model.equity_index),
               streamed=paths_file is not None)
    inputs, is_info = sampling_inputs(model, tilt_from)
    store = None if paths_file is None else streamed_store(model, inputs, paths_file)
    n = model.config.simulation.paths
    halves = _halves(progress, n, model.batches is not None)
    run = simulate_range(model, inputs, 0, n, halves[0], paced, checkpoint, store)
    result = finish(model, inputs, run, is_info)
    if model.batches is None:
        return result

    def conditional(point: Model, where: Path | None) -> Result:
        return run_model(point, progress=halves[1], paced=paced, paths_file=where)

    return with_conditional(result, model, conditional,
                            None if paths_file is None else paths_file.parent)


def _halves(progress: Progress | None, n: int, two: bool):
    """The progress of a run's simulation and, with [[uncertainty]], of its conditional
    run at the point values after it: ``(first, second)``, together ``2 n`` paths."""
    if progress is None or not two:
        return progress, None

    def first(d: int, _total: int) -> None:
        progress(d, 2 * n)

    def second(d: int, _total: int) -> None:
        progress(n + d, 2 * n)

    return first, second


def with_conditional(result: Result, model: Model,
                     run_point: Callable[[Model, Path | None], Result],
                     folder: Path | None = None) -> Result:
    """``result`` (the predictive run of a model with [[uncertainty]]) with the
    conditional run at the point values on the same paths (``run_point(model, where)``:
    in memory, or streamed to a file ``where`` in a temporary folder inside ``folder``),
    the summary's conditional and ``parameter_uncertainty`` rows and parameters.parquet
    (:mod:`riskengine.uncertainty`)."""
    assert model.batches is not None
    t0 = time.perf_counter()
    point = point_model(model)
    point = dataclasses.replace(point, config=apply_overrides(
        point.config, {"outputs": {"contributions": False}}, given_by="the conditional run"))
    log.info("the conditional run at the point values ([[uncertainty]])")
    with contextlib.ExitStack() as stack:
        where = None
        if folder is not None:
            where = Path(stack.enter_context(tempfile.TemporaryDirectory(
                dir=folder, prefix=".conditional-"))) / "paths.parquet"
        cond = run_point(point, where)
        edges = model.batches.edges
        result.uncertainty_rows = uncertainty_rows(result, cond, edges, result.levels)
        result.parameters_ds = xr.merge([model.batches.table, batch_means(result, edges)])
        del cond
    info = describe(model)
    info["conditional_seconds"] = time.perf_counter() - t0
    result.meta["parameter_uncertainty"] = info
    result.__dict__.pop("summary", None)  # (the summary gains the rows)
    return result


def streamed_store(model: Model, inputs: KernelInputs, paths_file: Path) -> Streamed:
    """A store that streams the run's per-path outputs to ``paths_file`` (with a
    ``weight`` column under importance sampling)."""
    s = inputs.sampler
    weighted = bool(np.any(np.asarray(s.mean_shift) != 0.0) or s.twist_target != 0.0
                    or np.any(np.asarray(s.regime_ratio) != 1.0)
                    or s.obligor_theta != 0.0)
    return Streamed(model, paths_file, weighted)


def sampling_inputs(model: Model, tilt_from: Result | None = None):
    """The kernel inputs with importance sampling's tilt (its pilot runs here, or the
    tilt of ``tilt_from`` is reused), and what the manifest records of it."""
    inputs = model.inputs
    is_info: dict = {"enabled": False}
    if model.config.importance_sampling.enabled:
        if tilt_from is not None:
            is_info = dict(tilt_from.meta["importance_sampling"], reused_from_base=True)
            shift = np.ascontiguousarray(is_info["mean_shift"], dtype=np.float64)
            sampler = inputs.sampler._replace(
                mean_shift=shift.reshape(inputs.sampler.mean_shift.shape),
                twist_target=float(is_info["target_loss"]) if is_info["twist"] else 0.0,
                obligor_theta=float(is_info.get("obligor_theta", 0.0)),
                plain_share=float(is_info["defensive_share"]))
            if "regime_probabilities" in is_info:
                cum, ratio = regime_sampling(inputs.program.regime_cum,
                                             is_info["regime_probabilities"])
                sampler = sampler._replace(regime_cum=cum, regime_ratio=ratio)
        else:
            sampler, is_info = tilted_sampler(model, run_model)
        inputs = inputs._replace(sampler=sampler)
    return inputs, is_info


@dataclass
class RangeRun:
    """The raw outputs of paths ``start .. end - 1`` of a run: their store
    (:mod:`riskengine.pathstore`: per-path outputs, accumulators and the run's sampled rows,
    global: only the range's rows filled) and timings."""

    start: int
    end: int
    store: InMemory | Streamed
    timings: dict

    @property
    def sampled(self) -> SampledPaths:
        return self.store.sampled


def simulate_range(model: Model, inputs: KernelInputs, start: int, end: int,
                   progress: Progress | None = None, paced: bool = False,
                   checkpoint: Checkpoint | None = None,
                   store: InMemory | Streamed | None = None) -> RangeRun:
    """Simulate the global paths ``start .. end - 1`` (``start`` a multiple of
    ``BLOCK``): the same paths a full run draws (every draw is keyed by its path).

    With ``checkpoint``, every finished chunk is saved in its folder (atomically), and
    chunks already there are loaded instead of simulated when they are whole and carry
    this run's key and their path range (the others are simulated again, saying so on
    stderr): a run killed at any point resumes from its last saved chunk, bit for bit (:mod:`riskengine.checkpoints`). ``store``:
    where the outputs go (default: in memory; :class:`~riskengine.pathstore.Streamed`
    writes them to disk chunk by chunk, in path order)."""
    sim = model.config.simulation
    n = sim.paths
    if start % BLOCK or not 0 <= start < end <= n:
        raise UsageError(f"path range {start}:{end} must lie in 0:{n} and start at a "
                         f"multiple of {BLOCK}")
    if store is None:
        store = InMemory(model, start, end)
    ensure_compiled()
    with threads(sim.threads) as threads_used:
        log.info("simulating %d paths on %d threads", end - start, threads_used)
        timings = _simulate_chunks(model, inputs, start, end, store, progress, paced,
                                   checkpoint)
    timings["threads_used"] = threads_used
    return RangeRun(start, end, store, timings)


def _simulate_chunks(model: Model, inputs: KernelInputs, start: int, end: int,
                     store: InMemory | Streamed, progress: Progress | None, paced: bool,
                     checkpoint: Checkpoint | None) -> dict:
    """The chunks of paths ``start .. end - 1`` into ``store`` (the saved ones loaded);
    their timings."""
    sim = model.config.simulation
    sampled = store.sampled
    started = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    first_call = not run_chunk.signatures  # this call compiles or loads the kernel
    cached = kernels_cached()
    t0 = time.perf_counter()
    saved = saved_chunks(checkpoint.folder, start, end) if checkpoint is not None else {}
    done = resumed = 0
    for seg_start, seg_end, file in _segments(start, end, saved):
        if file is not None:  # a chunk saved by an earlier, interrupted run
            assert checkpoint is not None
            arrays = load_chunk(checkpoint, file, model, seg_start, seg_end)
            if arrays is not None:
                add_arrays(store, arrays, seg_start, seg_end)
                done += seg_end - seg_start
                resumed += seg_end - seg_start
                continue
        for piece_start, piece_end, piece_inputs in _pieces(model, inputs, seg_start,
                                                            seg_end):
            for offset, size in _chunks(piece_end - piece_start, sim.chunk_paths, paced):
                first = piece_start + offset  # global path
                chunk_out, chunk_acc = store.buffers(first, size)
                run_chunk(first, size, BLOCK, *piece_inputs, chunk_out, chunk_acc, sampled,
                          NO_REPLAY)
                if checkpoint is not None:
                    save_chunk(checkpoint, first, first + size, chunk_out, chunk_acc,
                               sampled)
                store.add(first, size, chunk_out, chunk_acc)
                done += size
                if progress is not None:
                    progress(done, end - start)
    return {"simulate_seconds": time.perf_counter() - t0, "threads_used": None,
            "resumed_paths": resumed,
            "started": started,
            "simulate_includes_jit_compile": first_call and not cached,
            "simulate_includes_kernel_load": first_call and cached}


def _pieces(model: Model, inputs: KernelInputs, start: int,
            end: int) -> list[tuple[int, int, KernelInputs]]:
    """``(a, b, inputs)`` covering paths ``start .. end - 1``: the whole range with
    ``inputs``, or, with [[uncertainty]], split at the parameter batches' edges, each with
    its batch's inputs (so no chunk mixes two parameter sets, whatever the chunk size)."""
    if model.batches is None:
        return [(start, end, inputs)]
    return [(a, b, model.batches.inputs[k]) for a, b, k in model.batches.pieces(start, end)]


def _segments(start: int, end: int, saved: dict[tuple[int, int], Path]):
    """``(a, b, file)`` covering ``start .. end`` in path order: the saved chunks (with
    their file) and the gaps between them (file None)."""
    edge = start
    for (s, e) in sorted(saved):
        if s > edge:
            yield edge, s, None
        if s >= edge:
            yield s, e, saved[s, e]
            edge = e
    if edge < end:
        yield edge, end, None


def finish(model: Model, inputs: KernelInputs, run: RangeRun, is_info: dict) -> Result:
    """The measures, contributions and datasets of a whole run's raw outputs."""
    sim = model.config.simulation
    if (run.start, run.end) != (0, sim.paths):
        raise UsageError(f"paths {run.start}:{run.end} are not the whole run 0:{sim.paths}")
    timings = dict(run.timings)
    paths = run.store.paths()
    contributions = None
    if model.config.outputs.contributions:
        t1 = time.perf_counter()
        # (on the run's threads; losses so large that their squares overflow are refused
        # below, with the input named, not warned about here)
        with threads(sim.threads), np.errstate(over="ignore", invalid="ignore"):
            contributions = _contributions(model, inputs, paths, run.store.block_credit())
        timings["contributions_seconds"] = time.perf_counter() - t1
        log.info("risk contributions: %d tail paths replayed in %.1f s",
                 contributions.attrs["replayed_paths"], timings["contributions_seconds"])
    timings["finished"] = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    with np.errstate(over="ignore", invalid="ignore"):  # (refused just below, not warned)
        result = Result.from_simulation(model, paths, run.store.totals(), run.sampled,
                                        timings=timings, importance_sampling=is_info,
                                        contributions=contributions,
                                        stamp=stamp(model, timings),
                                        calls=run.store.calls())
    refuse_nonfinite(model, result, run.store.nonfinite_paths())
    return result


def refuse_nonfinite(model: Model, result: Result,
                     counted: dict[str, int] | None = None) -> None:
    """Refuse a result that holds NaN or infinity, before anything is written: every
    per-path float output, then the summary's values over all paths (EL finite on finite
    paths, SD can still overflow). The error names the input most likely responsible:
    :class:`ConfigError` for a config key, :class:`DataError` for a portfolio column.
    ``counted``: the non-finite paths by variable, counted as a streamed run's chunks were
    written (None: read the outputs, which are in memory)."""
    paths = result.paths
    if counted is None:
        counted = nonfinite_paths(paths)
    for name, n in counted.items():
        if n:
            _nonfinite(model, name, f"NaN or infinity on {n:,} of {paths.sizes['path']:,} "
                                    "paths")
    with np.errstate(over="ignore", invalid="ignore"):  # (the overflow is the error below)
        summary = result.summary
    if "regime" in summary.dims:
        summary = summary.sel(regime="all")
    value = summary["value"]
    for var in summary["variable"].to_numpy():
        v = value.sel(variable=var).to_numpy()
        if not np.isfinite(v).all():
            _nonfinite(model, str(var), "a summary measure (EL, SD, VaR or ES) that is not "
                                        "finite")


def _nonfinite(model: Model, variable: str, what: str) -> NoReturn:
    """Raise the error for a non-finite ``variable``, naming the likeliest input."""
    cfg = model.config
    head = (f"the run's {variable} has {what}, so it is refused and nothing is "
            "written; the input most likely responsible: ")
    if variable.endswith("_jpy") and cfg.fx is not None:
        raise ConfigError(head + f"[fx] usd_jpy = {cfg.fx.usd_jpy:g} (volatility "
                                 f"{cfg.fx.volatility:g})")
    sc = model.scenario
    if sc is not None and (sc.sector_shift or sc.sector_value):
        raise ConfigError(head + f"scenario {sc.name!r}: sector_shift = "
                                 f"{dict(sc.sector_shift)}, sector_value = "
                                 f"{dict(sc.sector_value)}")
    pf = model.portfolio
    commit = pf.col("commitment_usd")
    i = int(np.argmax(commit))
    raise DataError(head + f"{pf.source}, project_id {pf.table['project_id'].iloc[i]!r}, "
                           f"column 'commitment_usd' = {commit[i]:g}, the largest "
                           f"(valid up to 1e13)")


def _contributions(model: Model, inputs: KernelInputs, paths, block_credit: np.ndarray):
    """Replay the tail paths and allocate ALL's credit-loss measures
    (:mod:`riskengine.contributions`)."""
    def replay_with(ids: np.ndarray, with_inputs: KernelInputs):
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        r_out, r_acc, r_sampled = allocate(model, len(ids), 0, 0, by_exposure=True)
        run_chunk(0, len(ids), BLOCK, *with_inputs, r_out, r_acc, r_sampled, ids)
        return r_out.exposure_credit, r_out.credit_loss

    def replay(ids: np.ndarray):
        if model.batches is None:
            return replay_with(ids, inputs)
        # each path replayed with its parameter set
        batch = model.batches.batch_of(ids)
        parts = {k: replay_with(ids[batch == k], model.batches.inputs[k])
                 for k in np.unique(batch)}
        exposure = np.empty((len(ids), *parts[batch[0]][0].shape[1:]))
        credit = np.empty((len(ids), *parts[batch[0]][1].shape[1:]))
        for k, (e, c) in parts.items():
            exposure[batch == k], credit[batch == k] = e, c
        return exposure, credit

    credit = paths["credit_loss"].to_numpy()
    weight = paths["weight"].to_numpy() if "weight" in paths else None
    return compute(model, inputs, credit.sum(axis=1), weight, block_credit, replay, credit)


def build_models(config: Config, portfolio: Portfolio) -> list[Model]:
    """One model per run the config asks for (:func:`scenario_list`), all built (and so
    checked) before any simulation."""
    return [with_parameter_batches(build_model(config, portfolio, sc))
            for sc in scenario_list(config)]


def run_models(models: list[Model], progress: Progress | None = None,
               paced: bool = False, checkpoint: Checkpoint | None = None,
               paths_file: Path | None = None) -> Result:
    """Run the models of :func:`build_models` on the same paths (common random numbers:
    every draw is keyed by seed, stream, item and path) and stack them along
    ``scenario`` when the config asks for scenarios (then in memory: ``paths_file``
    streams a single run's per-path outputs, see :func:`run_model`)."""
    config = models[0].config
    if len(models) == 1 and not stacked(config):
        return run_model(models[0], progress=progress, paced=paced, checkpoint=checkpoint,
                         paths_file=paths_file)
    results: dict[str, Result] = {}
    total = sum(m.config.simulation.paths for m in models)
    done = 0
    for m in models:
        def step(d: int, _total: int, offset: int = done) -> None:
            if progress is not None:
                progress(offset + d, total)

        name = m.scenario.name if m.scenario is not None else "base"
        log.info("scenario %s", name)
        # with importance sampling every scenario takes the first run's factor shift: the
        # same factor draws and mixture choices, so the same factor weights (the twist, when
        # on, is computed on each scenario's conditional default probabilities)
        first = next(iter(results.values()), None)
        results[name] = run_model(m, progress=step, tilt_from=first, paced=paced)
        done += m.config.simulation.paths
    return Result.stack(results)

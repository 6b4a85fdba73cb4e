"""A run from its inputs to its results: :func:`simulate`, the Python API's entry, and a
run into a run directory: claimed for this process, its finished chunks checkpointed
(:mod:`riskengine.checkpoints`), resumable after a kill, and what is kept when Ctrl-C or
SIGTERM stops it. ``riskengine run`` and ``riskengine.simulate(..., out=DIR)`` both run
through :func:`run_into`.
"""

from __future__ import annotations

import datetime as _dt
import numbers
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import numpy as np
import pandas as pd

from .checkpoints import (
    Checkpoint,
    claim_resume,
    disk_fits,
    mark_stopped,
    open_checkpoint,
    remove_leftovers,
    saved_paths,
)
from .cluster import run_on_dask
from .config import (
    Config,
    apply_overrides,
    config_notes,
    default_portfolio_path,
    load_config,
    run_overrides,
)
from .errors import (
    ArgumentError,
    ArgumentTypeError,
    ConfigError,
    DataError,
    OutputError,
    Terminated,
    UsageError,
)
from .io import RunDirClaim, check_parent, check_run_dir, write_run_streamed, write_unfinished
from .kernel_inputs import Model
from .portfolio import Portfolio, load_portfolio, portfolio_from_frame
from .provenance import package_versions
from .results import Result
from .results_version import KEY as RESULTS_VERSION_KEY
from .results_version import RESULTS_VERSION
from .simulate import Progress, build_models, run_models


class Stopped(BaseException):
    """Ctrl-C or SIGTERM stopped a run after some of its paths were done, and the run
    directory says so (``str()`` tells what it keeps); ``exit_code`` 130 (interrupted) or
    143 (terminated). Like KeyboardInterrupt, not an ``Exception``."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Dask:
    """Run the chunks on a Dask cluster: an existing scheduler's address, or a local
    cluster of ``local_workers`` processes."""

    scheduler: str | None = None
    local_workers: int | None = None


def claim(out: Path | None, seed: int, overwrite: bool = False) -> tuple[Path, RunDirClaim]:
    """The run directory of a new run, checked and claimed for this process before any
    work (``out`` None: ``runs/<date>-<time>-seed<S>``)."""
    if out is not None:
        check_run_dir(out, overwrite)
        return out, RunDirClaim(out).acquire()
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    check_parent(Path("runs") / stamp)  # runs/ is, or can become, a writable directory
    for n in count(1):  # two runs started in the same second get different directories
        out = Path("runs") / (f"{stamp}-seed{seed}" + ("" if n == 1 else f"-{n}"))
        try:
            taken = RunDirClaim(out).acquire()
        except UsageError:
            continue
        if out.exists():
            taken.release()
            continue
        return out, taken
    raise AssertionError("unreachable")


def claim_run(models: list[Model], out: Path | None, resume: bool = False,
              overwrite: bool = False) -> tuple[Path, RunDirClaim]:
    """Claim ``out`` for this run: an unfinished run of the same config, portfolio and
    kernels to finish (``resume``), or a new run directory (:func:`claim`)."""
    if resume:
        if out is None:
            raise UsageError("resume needs the run directory to finish")
        return out, claim_resume(out, models)
    return claim(out, models[0].config.simulation.seed, overwrite)


def run_into(models: list[Model], out: Path, taken: RunDirClaim, *, resume: bool = False,
             overwrite: bool = False, progress: Progress | None = None, paced: bool = False,
             dask: Dask | None = None,
             on_start: Callable[[], None] | None = None) -> tuple[Path, Result]:
    """Run the models of :func:`riskengine.simulate.build_models` into the run directory
    ``out`` that this process has claimed (``taken``, released at the end): the per-path
    outputs streamed to its paths.parquet, and, for a single run, each finished chunk
    saved in ``out/parts`` so a killed run resumes (``resume``) from its last saved chunk.

    ``on_start`` is called just before the simulation starts. Returns ``(run_dir,
    result)``.

    Raises
    ------
    Stopped
        Ctrl-C or SIGTERM after a chunk was done: the saved chunks are kept for a resume,
        or the directory holds an unfinished run (the original interrupt when nothing was
        done yet).
    """
    model = models[0]
    if dask is not None and (len(models) != 1 or resume):
        taken.release()
        raise UsageError("a Dask run runs one scenario and does not resume (for now): drop "
                         "--scenarios / --resume")
    checkpoint: Checkpoint | None = None
    done = [0]

    def step(d: int, total: int) -> None:
        done[0] = d
        if progress is not None:
            progress(d, total)

    def simulate_into(paths_file: Path) -> Result:
        """Run the simulation, streaming the per-path outputs into ``paths_file`` (inside
        the hidden folder that becomes the run directory once complete)."""
        if dask is not None:
            result = run_on_dask(model, dask.scheduler, dask.local_workers, step,
                                 paths_file=paths_file)
        else:
            result = run_models(models, progress=step, paced=paced, checkpoint=checkpoint,
                                paths_file=paths_file)
        result.meta["timings"]["wall_seconds"] = time.perf_counter() - t0
        return result

    try:
        if dask is None:
            checkpoint = _checkpoint(models, out, resume)
        if on_start is not None:
            on_start()
        t0 = time.perf_counter()
        try:
            return write_run_streamed(out, overwrite or checkpoint is not None, simulate_into)
        except (KeyboardInterrupt, Terminated) as e:
            _stopped(e, models, out, checkpoint, done[0], resume)
            raise  # (nothing was done: the interrupt itself)
        except OutputError as e:
            if checkpoint is not None:
                _write_failed(e, out, checkpoint, resume)
            raise
        except (ConfigError, DataError):  # results refused (not finite): nothing stays
            if checkpoint is not None and not resume:
                shutil.rmtree(out, ignore_errors=True)
            raise
    finally:
        taken.release()


def _checkpoint(models: list[Model], out: Path, resume: bool) -> Checkpoint | None:
    """Where a single run saves its finished chunks (:mod:`riskengine.checkpoints`), after
    removing a killed run's leftovers on ``resume``; None when the config switches
    checkpoints off, for side-by-side scenarios, and, with a warning, when the chunks do
    not fit on the disk (on ``resume`` the saved chunks are then read, no new one saved)."""
    model = models[0]
    if resume:
        remove_leftovers(out)
    if (len(models) != 1 or model.config.simulation.scenarios
            or not model.config.outputs.checkpoint):
        return None
    fits, text = disk_fits(model, out, resume)
    if not fits:
        print(f"warning: {text}: " + ("the chunks still to do are not saved (a kill now "
                                      "loses them)" if resume else
                                      "running without checkpoints (no --resume after a "
                                      "kill); set outputs.checkpoint = false to silence "
                                      "this"), file=sys.stderr, flush=True)
        if not resume:
            return None
    return open_checkpoint(out, model, resume=resume, save=fits)


def _write_failed(e: OutputError, out: Path, checkpoint: Checkpoint, resume: bool) -> None:
    """After a failed write (a full disk) of a checkpointed run: a run with no saved
    chunk leaves nothing (its directory held only its running manifest); one with saved
    chunks keeps them and its manifest for a resume, and says so."""
    saved = saved_paths(checkpoint)
    if saved == 0 and not resume:
        shutil.rmtree(out, ignore_errors=True)
        return
    try:
        mark_stopped(out, "results not written", saved)
    except OSError:  # (the manifest still says running: a resume is the same)
        pass
    raise OutputError(str(e).removesuffix("; nothing was written")
                      + f"; {out} keeps the {saved:,} paths saved in its parts/: free space "
                        f"and finish it with riskengine run ... --resume {out}") from None


def _stopped(e: BaseException, models: list[Model], out: Path, checkpoint: Checkpoint | None,
             done: int, resume: bool) -> None:
    """Leave ``out`` saying how far a stopped run got and raise :class:`Stopped`; return
    (the caller re-raises the interrupt) when nothing was done."""
    model = models[0]
    sim = model.config.simulation
    total = sim.paths * len(models)
    # with a checkpoint, what counts is what is saved (a chunk can be saved a moment
    # before the progress hears of it)
    saved = saved_paths(checkpoint) if checkpoint is not None else 0
    if done == 0 and saved == 0:  # stopped before a chunk finished (or compiling)
        if checkpoint is not None and not resume:
            shutil.rmtree(out, ignore_errors=True)  # (only its running manifest)
        return
    reason = "interrupted" if isinstance(e, KeyboardInterrupt) else "terminated"
    code = 130 if reason == "interrupted" else 143
    if checkpoint is not None:  # keep the saved chunks: a resume finishes the run
        mark_stopped(out, reason, saved)
        raise Stopped(f"{reason} after {saved:,} of {total:,} paths; {out} keeps the "
                      f"finished chunks: riskengine run ... --resume {out}", code) from None
    try:  # never in place of a previous run (--overwrite replaces finished runs only)
        write_unfinished(out, {
            "status": reason, "paths_requested": total, "paths_done": done,
            "seed": sim.seed, RESULTS_VERSION_KEY: RESULTS_VERSION,
            "config": model.config.to_dict(),
            "portfolio": model.portfolio.source, "versions": package_versions()})
        where = f"{out} holds an unfinished run (its manifest says complete: false)"
    except UsageError:
        where = f"the previous run in {out} is untouched"
    raise Stopped(f"{reason} after {done:,} of {total:,} paths; {where}", code) from None


def run(models: list[Model], out: str | Path, resume: bool = False, overwrite: bool = False,
        progress: Progress | None = None) -> Result:
    """Claim ``out`` and run the models into it (:func:`run_into`); the Result, its
    per-path outputs read from ``out``."""
    out, taken = claim_run(models, Path(out), resume, overwrite)
    return run_into(models, out, taken, resume=resume, overwrite=overwrite,
                    progress=progress)[1]


def simulate(config: Config | dict | str | Path | None = None,
             portfolio: Portfolio | pd.DataFrame | str | Path | None = None, *,
             paths: int | None = None,
             seed: int | None = None, threads: int | None = None,
             chunk_paths: int | None = None, importance_sampling: bool | None = None,
             regime: str | None = None, scenario: str | None = None,
             scenarios: bool | None = None, progress: Progress | None = None,
             out: str | Path | None = None, resume: bool = False,
             overwrite: bool = False) -> Result:
    """Run the engine and return a :class:`~riskengine.results.Result`.

    Parameters
    ----------
    config
        A :class:`Config`, a dict of TOML tables or a TOML path (merged over the shipped
        program like a ``--config`` file), or None for the shipped default program.
    portfolio
        A validated :class:`Portfolio`, a pandas DataFrame (validated like a file), a
        CSV/Parquet path, or None for the shipped one.
    paths, seed, threads, chunk_paths, importance_sampling, regime, scenario, scenarios
        Override the config (:func:`riskengine.config.run_overrides`): pin every path to
        a regime, run one scenario, or the base case and every scenario side by side
        (the result then has a ``scenario`` dimension).
    progress
        Called as ``progress(paths_done, paths_total)`` after each chunk.
    out
        Write the run directory ``out`` as ``riskengine run --out`` does (streaming the
        per-path outputs to its paths.parquet, saving each finished chunk in ``out/parts``
        so a killed or interrupted run can be finished); the result's per-path outputs
        are then read from there. None: everything in memory, nothing written.
    resume
        Finish the unfinished run in ``out`` (same config, portfolio and kernels): only
        the chunks missing from ``out/parts`` are simulated (``riskengine run --resume``).
    overwrite
        Replace a previous run directory ``out`` (atomically, once this run is written).

    Raises
    ------
    ArgumentError, ArgumentTypeError
        An argument of the wrong value or type (``paths=0``), naming it; also a
        ``ValueError`` or ``TypeError``.
    Stopped
        With ``out``: Ctrl-C stopped the run after some chunks were done; ``out`` keeps
        the saved chunks (``resume=True`` finishes the run) or says how far it got.

    Warns
    -----
    UserWarning
        A config given as a dict or a file that leaves out the shipped program's
        ``[[regimes]]`` or ``[[scenarios]]`` (they are not inherited), and the other notes
        of :func:`riskengine.config.config_notes`.
    """
    whole = _check_arguments(locals())  # (numpy integers as ints)
    overrides = run_overrides(**whole,
                              importance_sampling=importance_sampling, regime=regime,
                              scenario=scenario, scenarios=scenarios)
    given_by = "simulate()'s arguments"
    if isinstance(config, Config):
        config = apply_overrides(config, overrides, given_by=given_by)
    else:
        raw = config
        config = load_config(raw, overrides, given_by=given_by)
        for note in config_notes(config, raw, given_as="simulate(config=...)"):
            warnings.warn(note, UserWarning, stacklevel=2)
    models = build_models(config, resolve_portfolio(portfolio, config))
    if out is None:
        return run_models(models, progress=progress)
    return run(models, out, resume=resume, overwrite=overwrite, progress=progress)


def resolve_portfolio(portfolio: Portfolio | pd.DataFrame | str | Path | None,
                      config: Config) -> Portfolio:
    """A validated portfolio of ``config`` from a :class:`Portfolio`, a DataFrame (validated
    like a file), a CSV/Parquet path, or None (the shipped one)."""
    sim = config.simulation
    if isinstance(portfolio, pd.DataFrame):
        return portfolio_from_frame(portfolio, config.dependence.sectors, sim.n_quarters,
                                    sim.steps_per_year, source="<DataFrame>")
    if isinstance(portfolio, Portfolio):
        return portfolio
    path = Path(portfolio) if portfolio is not None else default_portfolio_path()
    return load_portfolio(path, config.dependence.sectors, sim.n_quarters, sim.steps_per_year)


#: simulate()'s whole-number arguments: their least value (and seed's bound)
_WHOLE = {"paths": 1, "seed": 0, "threads": 0, "chunk_paths": 1}
_PATHLIKE = (str, os.PathLike)


def _check_arguments(args: dict) -> dict[str, int | None]:
    """:func:`simulate`'s arguments, checked before anything is read: an error names the
    argument (the config's own checks name its keys). Returns the whole-number arguments
    as ints."""
    whole: dict[str, int | None] = {}
    for name, least in _WHOLE.items():
        v = whole[name] = args[name]
        if v is None:
            continue
        if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Integral):
            raise ArgumentTypeError(f"simulate({name}={v!r}): {name} must be a whole number "
                                    "(an int)")
        n = whole[name] = int(v)
        if n < least or (name == "seed" and n >= 2**63):
            bound = "in [0, 2**63)" if name == "seed" else f">= {least}"
            raise ArgumentError(f"simulate({name}={v!r}): {name} must be {bound}")
    for name in ("importance_sampling", "scenarios", "resume", "overwrite"):
        if args[name] is not None and not isinstance(args[name], bool):
            raise ArgumentTypeError(f"simulate({name}={args[name]!r}): {name} must be True "
                                    "or False")
    for name in ("regime", "scenario"):
        if args[name] is not None and not isinstance(args[name], str):
            raise ArgumentTypeError(f"simulate({name}={args[name]!r}): {name} must be a name "
                                    "(a str)")
    kinds = {"config": ((Config, dict, *_PATHLIKE), "a Config, a dict of TOML tables or a "
                                                    "TOML file's path"),
             "portfolio": ((Portfolio, pd.DataFrame, *_PATHLIKE),
                           "a Portfolio, a pandas DataFrame or a CSV/Parquet file's path"),
             "out": (_PATHLIKE, "a directory's path")}
    for name, (types, what) in kinds.items():
        v = args[name]
        if v is not None and not isinstance(v, types):
            shown = repr(v) if len(repr(v)) <= 40 else type(v).__name__
            raise ArgumentTypeError(f"simulate({name}={shown}): {name} must be {what} (or "
                                    "None for the shipped program's)"
                                    if name != "out" else
                                    f"simulate(out={shown}): out must be {what} (or None: "
                                    "nothing written)")
    if args["scenario"] is not None and args["scenarios"]:
        raise ArgumentError(f"simulate(scenario={args['scenario']!r}, scenarios=True): "
                            "scenario runs one scenario and scenarios runs them all side "
                            "by side; give one of them")
    if args["resume"] and args["out"] is None:
        raise ArgumentError("simulate(resume=True) needs out, the run directory to finish")
    if args["progress"] is not None and not callable(args["progress"]):
        raise ArgumentTypeError(f"simulate(progress={args['progress']!r}): progress must "
                                "be callable as progress(paths_done, paths_total)")
    return whole

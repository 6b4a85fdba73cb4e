"""Running a run's chunks on a Dask cluster (``riskengine run --dask-scheduler ADDRESS``
or ``--dask-local N``; the optional extra ``riskengine[distributed]``).

One task is one chunk of paths, keyed by the run's config and portfolio hash and its path
range, so a lost worker's task is recomputed identically (every draw is keyed by its
path). The importance-sampling pilot runs here, on the client, and its tilt travels with
the tasks. Each worker runs numba on the threads Dask gives it (Dask sets OpenMP and MKL
threads in the nanny, not numba's: dask/distributed issue 9075) and loads the compiled
kernels from the on-disk cache. The client places the chunks' outputs exactly where one
process would have written them, so the result is bit-identical to a local run.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

from ._kernels.threads import set_threads
from .buffers import BLOCK
from .checkpoints import chunk_arrays
from .errors import UsageError
from .kernel_inputs import KernelInputs, Model
from .pathstore import InMemory, add_arrays
from .provenance import portfolio_hash, results_hash
from .results import Result
from .simulate import (
    RangeRun,
    finish,
    sampling_inputs,
    simulate_range,
    streamed_store,
    with_conditional,
)


def _client(scheduler: str | None, local_workers: int | None):
    try:
        from distributed import Client, LocalCluster
    except ModuleNotFoundError:
        raise UsageError("Dask runs need the optional extra: pip install "
                         "'riskengine[distributed]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout=30), None
        except OSError as e:
            raise UsageError(f"--dask-scheduler {scheduler}: cannot connect ({e})") from None
    cluster = LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster), cluster


def _task(model: Model, inputs: KernelInputs, start: int, end: int) -> dict:
    """On a worker: simulate one chunk with the worker's threads; its named arrays."""
    from distributed import get_worker

    set_threads(get_worker().state.nthreads)
    store = InMemory(model, start, end)  # (sampled rows global: this chunk's filled)
    simulate_range(model, inputs, start, end, store=store)
    return chunk_arrays(start, end, store.out, store.acc, store.sampled)


def run_on_dask(model: Model, scheduler: str | None = None, local_workers: int | None = None,
                progress=None, paths_file=None) -> Result:
    """Simulate the model's run on a Dask cluster and compute its measures here
    (``paths_file``: stream the per-path outputs there as chunks arrive, in path order)."""
    sim = model.config.simulation
    inputs, is_info = sampling_inputs(model)
    n = sim.paths
    chunk = max(BLOCK, -(-sim.chunk_paths // BLOCK) * BLOCK)
    ranges = [(s, min(s + chunk, n)) for s in range(0, n, chunk)]
    tag = (results_hash(model)[:8] + portfolio_hash(model)[:8])
    store = (InMemory(model, 0, n) if paths_file is None
             else streamed_store(model, inputs, paths_file))
    client, cluster = _client(scheduler, local_workers)
    t0 = time.perf_counter()
    try:
        from distributed import as_completed

        def submit(s: int, e: int, attempt: int = 0):
            key = f"riskengine-{tag}-{s}-{e}" + (f"-retry{attempt}" if attempt else "")
            # the model and inputs travel with each task (about 16 MB for the shipped
            # program), so no worker holds data another needs when it dies; Dask's
            # warning about large graphs says nothing the user can act on
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Sending large graph")
                return client.submit(_task, _for_range(model, s, e), inputs, s, e,
                                     key=key, pure=False, retries=2)

        futures = {submit(s, e): (s, e, 0) for s, e in ranges}
        pending = as_completed(list(futures))
        done = 0
        for future in pending:
            s, e, attempt = futures.pop(future)
            try:
                arrays = future.result()
            except Exception as err:  # a worker lost with its result: compute it again
                if attempt >= 3:
                    raise UsageError(f"paths {s}:{e} failed on the cluster 4 times: "
                                     f"{err}") from None
                retry = submit(s, e, attempt + 1)
                futures[retry] = (s, e, attempt + 1)
                pending.add(retry)
                continue
            add_arrays(store, arrays, s, e)
            done += e - s
            if progress is not None:
                progress(done, n)
        workers = len(client.scheduler_info().get("workers", {}))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    timings = {"simulate_seconds": time.perf_counter() - t0, "dask_workers": workers,
               "threads_used": None, "started": None}
    result = finish(model, inputs, RangeRun(0, n, store, timings), is_info)
    if model.batches is None:
        return result
    # [[uncertainty]]: the conditional run at the point values, on the cluster too
    return with_conditional(result, model, lambda point, where: run_on_dask(
        point, scheduler, local_workers, paths_file=where),
        None if paths_file is None else paths_file.parent)


def _for_range(model: Model, start: int, end: int) -> Model:
    """The model a task of paths ``start .. end - 1`` needs: with [[uncertainty]], only
    the parameter sets of its batches travel."""
    if model.batches is None:
        return model
    return dataclasses.replace(model, batches=model.batches.only(start, end))


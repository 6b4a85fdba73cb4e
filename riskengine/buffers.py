"""Where the kernel writes: the zeroed output bundles of a run or a range of its paths,
and the memory a run needs (docs/model.md, "Memory").

Paths are simulated in blocks of ``BLOCK``: the unit of parallel work and of the
per-block accumulators.
"""

from __future__ import annotations

import os

import numpy as np

from ._kernels.bundles import Accumulators, PathOutputs, SampledPaths
from .codes import INSTITUTIONS
from .kernel_inputs import Model
from .outputs import kernel_buffers

#: paths per block: the unit of parallel work and of per-exposure partial sums
BLOCK = 1024


def stride(n_paths: int, n_sampled: int) -> int:
    """Every ``stride``-th path is sampled (so the work spreads over chunks and threads);
    ``n_paths + 1`` samples none."""
    return max(1, n_paths // n_sampled) if n_sampled else n_paths + 1


#: whole-process memory of a run: a fixed part (interpreter, libraries, kernels) and a
#: part per path (per-path outputs, the paths Dataset, sorting for the measures, the
#: Parquet columns); measured on the default program (0.59 GiB at 100,000 paths; 0.98
#: GiB at 1,000,000 with its regimes, selection and yen figures) and rounded up
MEMORY_FIXED_BYTES = 550 * 2**20
MEMORY_BYTES_PER_PATH = 700
#: the same with the per-path outputs streamed to disk (``riskengine run``): what remains
#: per path is one variable's values while the measures are computed (the column read
#: back, one institution's values, the sort and the estimators' temporaries) and the
#: path index (docs/model.md, "Memory")
STREAMED_BYTES_PER_PATH = 120


def memory_estimate(paths: int, n_projects: int = 0, n_equity: int = 0, n_steps: int = 0,
                    streamed: bool = False, call_values: int = 0) -> int:
    """Bytes a run of ``paths`` paths needs at its peak (see ``MEMORY_BYTES_PER_PATH``),
    plus the per-block accumulators when the portfolio's size is given (in memory: 5 per
    exposure, one recoup histogram per equity vehicle and step, per block of paths;
    streamed: each block's credit loss by exposure). ``call_values``: a path's capital
    calls ([capital]: institutions times fiscal years), held for every path in memory and
    only for the paths that call when streamed (not counted there)."""
    blocks = -(-paths // BLOCK)
    if streamed:
        return (MEMORY_FIXED_BYTES + STREAMED_BYTES_PER_PATH * paths
                + blocks * 8 * n_projects)
    per_block = 8 * (5 * n_projects + n_equity * n_steps + 4 * n_steps)
    return (MEMORY_FIXED_BYTES + (MEMORY_BYTES_PER_PATH + 8 * call_values) * paths
            + blocks * per_block)


def available_memory() -> int | None:
    """Memory this machine can give a new process now (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def allocate(model: Model, n: int, n_timeline: int = 0, n_irr: int = 0,
             by_exposure: bool = False):
    """Zeroed output bundles of a run of ``n`` paths: ``(PathOutputs, Accumulators,
    SampledPaths)`` (the only place they are allocated); ``by_exposure``: with each
    exposure's credit loss per path (a replay)."""
    n_p, n_inst = model.deployment.portfolio.n_projects, len(INSTITUTIONS)
    n_q = model.config.simulation.n_quarters
    n_eq = len(model.equity_index)
    n_blocks = -(-n // BLOCK)
    n_years = int(model.inputs.schedules.fiscal_year[-1]) + 1
    # the capital calls by fiscal year ([capital]; not in a replay, which reads none)
    calls = n if model.config.capital is not None and not by_exposure else 0
    out = PathOutputs(**kernel_buffers(n, len(model.inputs.program.election_step)),
                      # (riskengine.outputs: one per output)
                      exposure_credit=np.zeros((n if by_exposure else 0, n_p)),
                      capital_call=np.zeros((calls, n_inst, n_years)))
    acc = Accumulators(defaults=np.zeros((n_blocks, n_p)), credit_loss=np.zeros((n_blocks, n_p)),
                       japan_receipts=np.zeros((n_blocks, n_p)),
                       us_receipts=np.zeros((n_blocks, n_p)), recouped=np.zeros((n_blocks, n_p)),
                       recoup_step=np.zeros((n_blocks, n_eq, n_q)),
                       deemed_balance=np.zeros((n_blocks, n_q)),
                       annual=np.zeros((n_blocks, n_years, 3)))
    sampled = SampledPaths(timeline=np.zeros((n_timeline, n_q, n_inst)),
                           timeline_stride=stride(n, n_timeline),
                           irr=np.full((n_irr, n_eq), np.nan), irr_stride=stride(n, n_irr),
                           annual=np.zeros((n_timeline, n_years, 3)))
    return out, acc, sampled


def allocate_range(model: Model, start: int, end: int):
    """Zeroed outputs of global paths ``start .. end - 1``: per-path outputs and per-block
    accumulators of the range, and the whole run's sampled rows (indexed by global path,
    so ranges put together give one process's arrays)."""
    n, out_cfg = model.config.simulation.paths, model.config.outputs
    n_tl = min(out_cfg.timeline_paths, n)
    n_irr = min(out_cfg.irr_paths, n) if len(model.equity_index) else 0
    out, acc, _ = allocate(model, end - start)
    return out, acc, allocate(model, n, n_tl, n_irr)[2]

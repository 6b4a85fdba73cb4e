"""numba's worker threads and version, for the package outside the kernels (which never
imports numba itself)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba


def set_threads(n: int) -> None:
    """Run the parallel kernels on ``n`` threads, clamped to 1 .. numba's maximum."""
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]


@contextmanager
def threads(n: int | None) -> Iterator[int]:
    """Run the block on ``n`` threads (0 or None: as many as now) and restore the number
    after it; yields the number of threads in use."""
    before = numba.get_num_threads()
    if n:
        set_threads(n)
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(before)


def threading_layer() -> str | None:
    """The threading layer of this process's parallel kernels, None before the first has
    run."""
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run in this process
        return None


def numba_version() -> str:
    return numba.__version__

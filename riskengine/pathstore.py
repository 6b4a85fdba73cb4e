"""Where a run's per-path outputs go as its chunks finish.

- :class:`InMemory`: arrays of every path of a range, the kernel writing straight into
  them (the Python API's :class:`~riskengine.results.Result`, ``--path-range`` parts,
  side-by-side scenarios).
- :class:`Streamed`: each finished chunk is appended to ``paths.parquet`` (in path order:
  a chunk that finishes early, as on a cluster, waits for those before it) and its
  per-block accumulators are folded into running totals block by block, which gives
  the same sums, bit for bit, as summing every block at the end (NumPy's sum over the
  leading axis adds the rows in order). The measures then read the file one variable at
  a time (:func:`riskengine.io.open_dataset_lazily`). What still grows with paths is
  listed in docs/model.md ("Memory").

Both keep the sampled rows (timeline, IRR, annual) of the whole run, indexed by global
path, and each block's credit loss by exposure (the batch means of the EL
contributions: 8 bytes per exposure per block of 1,024 paths).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ._kernels.bundles import Accumulators, PathOutputs, SampledPaths
from .backstop import CallRows
from .buffers import BLOCK, allocate, allocate_range
from .io import DatasetAppender, open_dataset_lazily
from .outputs import paths_dataset


class InMemory:
    """Outputs of global paths ``start .. end - 1`` held in memory."""

    def __init__(self, model, start: int, end: int):
        self.model, self.start, self.end = model, start, end
        self.out, self.acc, self.sampled = allocate_range(model, start, end)

    def calls(self) -> CallRows:
        """The paths that call on the state ([capital]), read from the calls in memory."""
        rows = CallRows(*self.out.capital_call.shape[1:])
        rows.add(self.start, self.out.capital_call, self.out.weight)
        return rows

    def _rows(self, first: int, size: int):
        rel = first - self.start
        return slice(rel, rel + size), slice(rel // BLOCK, rel // BLOCK + -(-size // BLOCK))

    def buffers(self, first: int, size: int) -> tuple[PathOutputs, Accumulators]:
        """Where the kernel writes chunk ``first .. first + size - 1``: views of the arrays."""
        rows, blocks = self._rows(first, size)
        return (PathOutputs(*(a[rows] for a in self.out)),
                Accumulators(*(a[blocks] for a in self.acc)))

    def add(self, first: int, size: int, out: PathOutputs, acc: Accumulators) -> None:
        """A finished chunk (a no-op when it was written into :meth:`buffers`)."""
        rows, blocks = self._rows(first, size)
        for k in PathOutputs._fields:
            target = getattr(self.out, k)[rows]
            source = getattr(out, k)
            if not np.shares_memory(target, source):
                target[...] = source
        for k in Accumulators._fields:
            target = getattr(self.acc, k)[blocks]
            source = getattr(acc, k)
            if not np.shares_memory(target, source):
                target[...] = source

    def paths(self) -> xr.Dataset:
        return paths_dataset(self.model, self.out, self.start)

    def totals(self) -> Accumulators:
        return Accumulators(*(a.sum(axis=0) for a in self.acc))  # fixed shapes: fixed order

    def block_credit(self) -> np.ndarray:
        return self.acc.credit_loss

    def nonfinite_paths(self) -> dict[str, int] | None:
        """None: the outputs are in memory, where the finite check reads them."""
        return None


class Streamed:
    """Outputs of the whole run streamed to the Parquet file ``path`` chunk by chunk."""

    def __init__(self, model, path: str | Path, weighted: bool):
        self.model, self.path, self.weighted = model, Path(path), weighted
        self.start, self.end = 0, model.config.simulation.paths
        _, acc, self.sampled = allocate_range(model, 0, BLOCK)  # (the run's sampled rows,
        # and the accumulators' shapes)
        self._totals = Accumulators(*(np.zeros(a.shape[1:]) for a in acc))
        n_blocks = -(-self.end // BLOCK)
        self._block_credit = np.zeros((n_blocks, acc.credit_loss.shape[1]))
        self._file = DatasetAppender(self.path, self.end)
        self._next = 0  # the first path not yet written
        self._calls = CallRows(*calls_shape(model))
        self._waiting: dict[int, tuple[int, PathOutputs, Accumulators]] = {}
        # paths with a NaN or an infinity, by variable, counted as the chunks are written
        # (the finite check then need not read paths.parquet back)
        self._nonfinite: dict[str, int] = {}

    def buffers(self, first: int, size: int) -> tuple[PathOutputs, Accumulators]:
        """Fresh zeroed outputs for one chunk."""
        out, acc, _ = allocate(self.model, size)
        return out, acc

    def add(self, first: int, size: int, out: PathOutputs, acc: Accumulators) -> None:
        """A finished chunk: written once every chunk before it is."""
        self._waiting[first] = (size, out, acc)
        while self._next in self._waiting:
            first = self._next
            size, out, acc = self._waiting.pop(first)
            chunk = paths_dataset(self.model, out, first, weighted=self.weighted)
            self._count_nonfinite(chunk)
            self._file.append(chunk)
            self._calls.add(first, out.capital_call, out.weight)  # (only the calling paths)
            for k, total in zip(Accumulators._fields, self._totals):
                for row in getattr(acc, k):  # block by block, in path order
                    total += row
            b = first // BLOCK
            self._block_credit[b:b + len(acc.credit_loss)] = acc.credit_loss
            self._next = first + size

    def paths(self) -> xr.Dataset:
        if self._waiting:
            raise RuntimeError(f"paths from {self._next} were never written")
        self._file.close()
        return open_dataset_lazily(self.path, one_column=True)

    def totals(self) -> Accumulators:
        return self._totals

    def calls(self) -> CallRows:
        return self._calls

    def block_credit(self) -> np.ndarray:
        return self._block_credit

    def _count_nonfinite(self, chunk: xr.Dataset) -> None:
        for name, n in nonfinite_paths(chunk).items():
            self._nonfinite[name] = self._nonfinite.get(name, 0) + n

    def nonfinite_paths(self) -> dict[str, int]:
        """Paths holding a NaN or an infinity, by per-path float variable."""
        return dict(self._nonfinite)


def calls_shape(model) -> tuple[int, int]:
    """``(I, Y)`` of a path's capital calls."""
    return allocate(model, 0)[0].capital_call.shape[1:]


def nonfinite_paths(paths: xr.Dataset) -> dict[str, int]:
    """The paths holding a NaN or an infinity, by per-path float variable of ``paths``
    (one variable in memory at a time)."""
    counts = {}
    for name, da in paths.data_vars.items():
        if da.dtype.kind == "f":
            values = da.to_numpy()
            with np.errstate(over="ignore", invalid="ignore"):
                total = values.sum()
            if np.isfinite(total):  # (a NaN or an infinity anywhere makes the sum one)
                counts[str(name)] = 0
                continue
            bad = ~np.isfinite(values)
            if bad.ndim > 1:
                bad = bad.any(axis=tuple(range(1, bad.ndim)))
            counts[str(name)] = int(bad.sum())
    return counts


def arrays_to_bundles(arrays) -> tuple[PathOutputs, Accumulators]:
    """A chunk's named arrays (a checkpoint file, a part, a Dask task's result) as bundles."""
    return (PathOutputs(*(np.asarray(arrays[f"out.{k}"]) for k in PathOutputs._fields)),
            Accumulators(*(np.asarray(arrays[f"acc.{k}"]) for k in Accumulators._fields)))


def place_sampled(arrays, sampled: SampledPaths) -> None:
    """Put a chunk's sampled rows (timeline, IRR, annual) into the run's."""
    for name in ("timeline", "irr", "annual"):
        getattr(sampled, name)[arrays[f"rows.{name}"]] = arrays[f"sampled.{name}"]


def add_arrays(store, arrays, a: int, b: int) -> None:
    """Add the chunk ``a .. b - 1`` held as named arrays to ``store``."""
    out, acc = arrays_to_bundles(arrays)
    store.add(a, b - a, out, acc)
    place_sampled(arrays, store.sampled)

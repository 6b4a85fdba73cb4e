"""xarray Dataset <-> Parquet, and the run directory. The only module that imports pyarrow.

Each Dataset becomes one flat ("long") table: one row per element of the product of its
dimensions (C order), a column per dimension coordinate, per non-dimension coordinate and
per data variable (broadcast where a variable spans fewer dimensions). The Dataset's
structure (dims, sizes, coordinate and variable dims, dtypes, attrs) is stored as JSON
under the schema metadata key ``riskengine.xarray``, so :func:`table_to_dataset` rebuilds
it exactly, while pandas, polars and DuckDB read the plain columns.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr
from filelock import FileLock, Timeout

from ._kernels import _cache
from .errors import OutputError, UsageError

META_KEY = b"riskengine.xarray"
#: rows per row group of a Parquet file: pyarrow's default for a one-shot write, so a
#: file appended piece by piece has the same row groups, whatever the pieces
ROW_GROUP_ROWS = 1024 * 1024
FORMAT_VERSION = 1


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def _without_none(x):
    """TOML has no null: drop the keys whose value is None."""
    if isinstance(x, dict):
        return {k: _without_none(v) for k, v in x.items() if v is not None}
    if isinstance(x, list):
        return [_without_none(v) for v in x]
    return x


def _dtype_tag(a: np.ndarray) -> str:
    return "str" if a.dtype.kind in "OUS" else a.dtype.str


def _restore(values: np.ndarray, tag: str) -> np.ndarray:
    if tag == "str":
        return np.asarray(values, dtype=str)
    return np.asarray(values).astype(np.dtype(tag), copy=False)


def multi_indexes(ds: xr.Dataset) -> dict[str, list[str]]:
    """The dimensions indexed by a pandas MultiIndex, with their level names."""
    return {str(d): list(ds.indexes[d].names) for d in ds.dims
            if d in ds.indexes and isinstance(ds.indexes[d], pd.MultiIndex)}


def without_multi_indexes(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with each multi-indexed dimension plain again (its levels stay as
    coordinates): for flat tables and exact comparisons."""
    for d in multi_indexes(ds):
        ds = ds.reset_index(d).drop_vars(d, errors="ignore")
    return ds


def dataset_to_table(ds: xr.Dataset) -> pa.Table:
    """Flatten a Dataset into a pyarrow Table that carries its structure in metadata."""
    # a (measure, level) multi-index of a dimension is written as its plain coordinates
    # and rebuilt on reading
    multi = multi_indexes(ds)
    ds = without_multi_indexes(ds)
    names = list(ds.data_vars)
    full = [v for v in names if set(ds[v].dims) == set(ds.dims)]
    dims = list(ds[full[0]].dims) if full else list(ds.dims)
    sizes = [ds.sizes[d] for d in dims]

    def broadcast(da: xr.DataArray) -> np.ndarray:
        da = da.transpose(*[d for d in dims if d in da.dims])
        shape = [ds.sizes[d] if d in da.dims else 1 for d in dims]
        return np.broadcast_to(da.to_numpy().reshape(shape), sizes).reshape(-1)

    columns: dict[str, pa.Array] = {}

    def column(da: xr.DataArray) -> pa.Array:
        v = da.to_numpy()
        if "labels" in da.attrs and v.dtype.kind in "iu":
            # integer codes with labels (a path's regime): a dictionary column, read as
            # the labels by pandas, polars and DuckDB
            return pa.DictionaryArray.from_arrays(
                pa.array(broadcast(da).astype(np.int32)),
                pa.array([str(x) for x in da.attrs["labels"]], type=pa.string()))
        if v.dtype.kind in "OUS":
            # strings: dictionary-encoded from the small array's codes, broadcast as ints,
            # so millions of rows cost no Python objects
            labels, codes = np.unique(np.asarray(v, dtype=str), return_inverse=True)
            codes = broadcast(da.copy(data=codes.reshape(v.shape).astype(np.int32)))
            return pa.DictionaryArray.from_arrays(pa.array(codes),
                                                  pa.array(labels.tolist(), type=pa.string()))
        return pa.array(np.ascontiguousarray(broadcast(da)))

    meta = {"format": FORMAT_VERSION, "dims": dims, "sizes": sizes, "coords": {},
            "data_vars": {}, "attrs": _jsonable(ds.attrs)}
    for name, c in ds.coords.items():
        columns[str(name)] = column(c)
        meta["coords"][str(name)] = {"dims": list(c.dims), "dtype": _dtype_tag(c.to_numpy()),
                                     "attrs": _jsonable(c.attrs)}
    for name in names:
        v = ds[name]
        columns[str(name)] = column(v)
        meta["data_vars"][str(name)] = {"dims": list(v.dims), "dtype": _dtype_tag(v.to_numpy()),
                                        "attrs": _jsonable(v.attrs)}
    if multi:  # (only then: a file without one keeps its former bytes)
        meta["multi_index"] = multi
    arrays = list(columns.values())
    table = pa.Table.from_arrays(arrays, names=list(columns))
    return table.replace_schema_metadata({META_KEY: json.dumps(meta, allow_nan=True).encode()})


def _meta(schema: pa.Schema) -> dict:
    raw = (schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise ValueError("this Parquet file carries no riskengine xarray metadata")
    return json.loads(raw)


def _column_values(col, tag: str) -> np.ndarray:
    """A Parquet column's flat values (dictionary columns: their codes, strings: labels)."""
    col = col.combine_chunks()
    if tag == "str":
        if pa.types.is_dictionary(col.type):
            labels = np.asarray(col.dictionary.to_pylist(), dtype=object)
            return labels[col.indices.to_numpy(zero_copy_only=False)]
        return np.asarray(col.to_pylist(), dtype=object)
    return (col.indices if pa.types.is_dictionary(col.type) else col).to_numpy(
        zero_copy_only=False)


def _shaped(values: np.ndarray, meta: dict, var_dims: list[str], tag: str) -> np.ndarray:
    """Flat column values back to their variable's array (see :func:`dataset_to_table`)."""
    dims, sizes = meta["dims"], meta["sizes"]
    arr = values.reshape(sizes) if sizes else values
    index = tuple(slice(None) if d in var_dims else 0 for d in dims)
    kept = [d for d in dims if d in var_dims]
    arr = arr[index]
    order = [kept.index(d) for d in var_dims]
    return _restore(np.transpose(arr, order), tag)


def _unflatten(col, meta: dict, var_dims: list[str], tag: str) -> np.ndarray:
    """One flat column back to its variable's array (see :func:`dataset_to_table`)."""
    return _shaped(_column_values(col, tag), meta, var_dims, tag)


def _read_numeric_column(path: Path, name: str, dtype: np.dtype) -> np.ndarray | None:
    """A plain numeric column read row group by row group into one array (no second copy
    of the whole column, as a table read and ``combine_chunks`` would make); None for a
    dictionary column."""
    f = pq.ParquetFile(path)
    if pa.types.is_dictionary(f.schema_arrow.field(name).type):
        return None
    out = np.empty(f.metadata.num_rows, dtype=dtype)
    pos = 0
    for g in range(f.num_row_groups):
        part = f.read_row_group(g, columns=[name]).column(0).combine_chunks()
        out[pos:pos + len(part)] = part.to_numpy(zero_copy_only=False)
        pos += len(part)
    return out


def table_to_dataset(table: pa.Table) -> xr.Dataset:
    """Rebuild the Dataset written by :func:`dataset_to_table`."""
    meta = _meta(table.schema)
    coords = {n: (m["dims"], _unflatten(table.column(n), meta, m["dims"], m["dtype"]),
                  m["attrs"]) for n, m in meta["coords"].items()}
    data = {n: (m["dims"], _unflatten(table.column(n), meta, m["dims"], m["dtype"]),
                m["attrs"]) for n, m in meta["data_vars"].items()}
    return _with_indexes(xr.Dataset(data, coords=coords, attrs=meta["attrs"]), meta)


def _with_indexes(ds: xr.Dataset, meta: dict) -> xr.Dataset:
    multi = meta.get("multi_index")
    if multi is None and "stat" in ds.dims and {"measure", "level"} <= set(ds.coords):
        multi = {"stat": ["measure", "level"]}  # a run written before the index existed
    for levels in (multi or {}).values():
        ds = ds.set_xindex(levels, xr.indexes.PandasMultiIndex)
    return ds


class _LazyColumn(xr.backends.BackendArray):
    """A data variable of a run's Parquet file, read (that column only) when its values
    are first needed. ``slot``: a one-entry cache shared by the file's columns (a file of
    per-path outputs too large to hold whole: one variable in memory at a time), or None
    to keep every column once read."""

    def __init__(self, path: Path, name: str, meta: dict, var_dims: list[str], tag: str,
                 slot: dict | None = None):
        self.path, self.name, self.meta, self.var_dims, self.tag = path, name, meta, var_dims, tag
        sizes = dict(zip(meta["dims"], meta["sizes"]))
        self.shape = tuple(sizes[d] for d in var_dims)
        self.dtype = np.dtype(object) if tag == "str" else np.dtype(tag)
        self._values: np.ndarray | None = None
        self.slot = slot

    def _read(self) -> np.ndarray:
        flat = None if self.tag == "str" else _read_numeric_column(self.path, self.name,
                                                                   self.dtype)
        if flat is None:
            column = pq.read_table(self.path, columns=[self.name]).column(self.name)
            flat = _column_values(column, self.tag)
        # (contiguous: a one-dimensional variable does not keep the broadcast column alive)
        return np.ascontiguousarray(_shaped(flat, self.meta, self.var_dims, self.tag))

    def _load(self) -> np.ndarray:
        if self.slot is not None:
            if self.slot.get("name") != self.name:
                self.slot.clear()  # (drop the previous column before reading this one)
                self.slot.update(name=self.name, values=self._read())
            return self.slot["values"]
        if self._values is None:
            self._values = self._read()
        return self._values

    def __getitem__(self, key):
        from xarray.core import indexing

        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, lambda k: self._load()[k])


def open_dataset_lazily(path: str | Path, one_column: bool = False) -> xr.Dataset:
    """A run's Parquet file as a Dataset whose coordinates are read now and whose data
    variables are read column by column when first used (``one_column``: only the last
    one read stays in memory)."""
    from xarray.core import indexing

    path = Path(path)
    meta = _meta(pq.read_schema(path))
    coord_names = list(meta["coords"])
    table = pq.read_table(path, columns=coord_names)
    coords = {n: (m["dims"], _unflatten(table.column(n), meta, m["dims"], m["dtype"]),
                  m["attrs"]) for n, m in meta["coords"].items()}
    del table
    slot: dict | None = {} if one_column else None
    data = {n: xr.Variable(m["dims"], indexing.LazilyIndexedArray(
                _LazyColumn(path, n, meta, m["dims"], m["dtype"], slot)), m["attrs"])
            for n, m in meta["data_vars"].items()}
    return _with_indexes(xr.Dataset(data, coords=coords, attrs=meta["attrs"]), meta)


def column_in_memory(ds: xr.Dataset) -> str | None:
    """The data variable of ``ds``, opened by :func:`open_dataset_lazily` with
    ``one_column``, whose values are in memory now (the one read last); None when none is
    or ``ds`` was not opened so."""
    from xarray.core import indexing

    for v in ds.data_vars.values():
        data = v.variable._data
        if isinstance(data, indexing.LazilyIndexedArray) and isinstance(data.array,
                                                                        _LazyColumn):
            slot = data.array.slot
            return None if slot is None else slot.get("name")
    return None


def is_lazy(ds: xr.Dataset) -> bool:
    """Whether ``ds`` was opened by :func:`open_dataset_lazily` (its data still on disk)."""
    from xarray.core import indexing

    return any(isinstance(v.variable._data, indexing.LazilyIndexedArray)
               for v in ds.data_vars.values())


class DatasetAppender:
    """Write a Dataset to one Parquet file piece by piece along its first dimension (a
    run's per-path outputs, chunk by chunk): the file reads back as the Dataset of all the
    pieces put together (its metadata gives the whole size up front), and has the same
    bytes as :func:`write_dataset` of that Dataset (pieces are regrouped into the row
    groups a one-shot write makes, so the file does not depend on the chunk size)."""

    def __init__(self, path: str | Path, size: int):
        self.path, self.size = Path(path), size
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def append(self, ds: xr.Dataset) -> None:
        table = dataset_to_table(ds)
        if self.writer is None:
            meta = _meta(table.schema)
            if meta["dims"][0] != list(ds.dims)[0]:
                raise ValueError("pieces are appended along the first dimension")
            meta["sizes"][0] = self.size
            self.schema = table.schema.with_metadata(
                {META_KEY: json.dumps(meta, allow_nan=True).encode()})
            self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self._pending.append(table.replace_schema_metadata(self.schema.metadata))
        self._pending_rows += table.num_rows
        self.rows += ds.sizes[list(ds.dims)[0]]
        while self._pending_rows >= ROW_GROUP_ROWS:
            self._flush(ROW_GROUP_ROWS)

    def _flush(self, rows: int) -> None:
        assert self.writer is not None
        table = pa.concat_tables(self._pending).combine_chunks()
        self.writer.write_table(table.slice(0, rows), row_group_size=rows)
        rest = table.slice(rows)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def close(self) -> None:
        if self._pending_rows:
            self._flush(self._pending_rows)
        if self.writer is not None:
            self.writer.close()
        if self.rows != self.size:
            raise ValueError(f"{self.path}: {self.rows} of {self.size} rows written")


def open_run(run_dir: str | Path) -> xr.DataTree:
    """A finished run as an ``xarray.DataTree``: one child per Parquet file (``summary``,
    ``paths``, ...), each data variable read from disk when first used, and the manifest
    as the root's attributes (nested entries as JSON text)."""
    run_dir = check_readable_run(run_dir)
    with open(run_dir / "manifest.json") as f:
        manifest = json.load(f)
    attrs = {k: (v if isinstance(v, (str, int, float, bool)) else json.dumps(v))
             for k, v in manifest.items()}
    nodes = {"/": xr.Dataset(attrs=attrs)}
    for name, fname in manifest["files"].items():
        nodes[f"/{name}"] = open_dataset_lazily(run_dir / fname)
    return xr.DataTree.from_dict(nodes)


def write_dataset(ds: xr.Dataset, path: str | Path) -> None:
    pq.write_table(dataset_to_table(ds), path, compression="zstd",
                   row_group_size=ROW_GROUP_ROWS)


def read_dataset(path: str | Path) -> xr.Dataset:
    return table_to_dataset(pq.read_table(path))


@dataclass
class RunData:
    """A run directory read back: ``manifest`` and one Dataset per Parquet file,
    reachable as attributes or keys (``run.summary``, ``run["paths"]``)."""

    manifest: dict
    datasets: dict[str, xr.Dataset] = field(default_factory=dict)

    def __getitem__(self, name: str) -> xr.Dataset:
        return self.datasets[name]

    def __getattr__(self, name: str):
        try:
            return self.__dict__["datasets"][name]
        except KeyError:
            raise AttributeError(name) from None


def check_parent(run_dir: str | Path) -> None:
    """The nearest existing ancestor of ``run_dir`` is a writable directory (so the run
    directory can be created)."""
    run_dir = Path(run_dir)
    for parent in [run_dir.parent, *run_dir.parent.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"cannot create {run_dir}: {parent} is a file, not a directory")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UsageError(f"cannot create {run_dir}: {parent} is not writable")
            return


def check_run_dir(run_dir: str | Path, overwrite: bool = False) -> Path:
    """Check, before any work, that ``run_dir`` can receive a run: its parent is (or can
    become) a writable directory, and ``run_dir`` is absent, an empty directory, or, with
    ``overwrite``, a previous run directory (one holding a riskengine ``manifest.json``).
    Anything else is refused, so ``--overwrite`` can never delete unrelated data."""
    run_dir = Path(run_dir)
    check_parent(run_dir)
    if not run_dir.exists():
        return run_dir
    if not run_dir.is_dir():
        raise UsageError(f"--out {run_dir} is a file, not a run directory")
    if not any(run_dir.iterdir()):
        return run_dir
    if not overwrite:
        raise UsageError(f"output directory {run_dir} already exists and is not empty "
                         "(choose another --out, or pass --overwrite to replace a previous run)")
    if not _is_run_dir(run_dir):
        raise UsageError(f"refusing to overwrite {run_dir}: it is not a riskengine run directory "
                         "(no manifest.json written by riskengine)")
    return run_dir


def _is_run_dir(path: Path) -> bool:
    """A directory riskengine wrote: a finished run, or one it marked unfinished."""
    try:
        with open(path / "manifest.json") as f:
            m = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(m, dict) and m.get("complete") in (True, False) and "versions" in m \
        and "riskengine" in m.get("versions", {})


class RunDirClaim:
    """An exclusive claim on a run directory for the whole run, so two runs never write
    the same ``--out`` (the second is refused, naming the first's process).

    The lock file lives in the user's cache folder (named by a digest of the directory's
    absolute path), so nothing is left beside the results; the owner's process id is
    written next to it.
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        key = hashlib.sha256(str(self.run_dir.resolve()).encode()).hexdigest()[:24]
        locks = _cache.cache_root() / "locks"
        try:
            locks.mkdir(parents=True, exist_ok=True)
        except OSError:  # a read-only cache folder: the system's temporary folder instead
            import tempfile

            locks = Path(tempfile.gettempdir()) / f"riskengine-locks-{os.getuid()}"
            locks.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(locks / f"{key}.lock"))
        self._owner = locks / f"{key}.owner"

    def acquire(self) -> RunDirClaim:
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            try:
                who = self._owner.read_text().strip()
            except OSError:
                who = "unknown"
            raise UsageError(f"another riskengine run (process {who}) is writing to "
                             f"{self.run_dir}; choose another --out or wait for it") from None
        try:
            self._owner.write_text(f"{os.getpid()}\n")
        except OSError:
            pass
        return self

    def release(self) -> None:
        if self._lock.is_locked:
            try:
                self._owner.unlink()
            except OSError:
                pass
            self._lock.release()

    def __enter__(self) -> RunDirClaim:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _replace_dir(tmp: Path, run_dir: Path) -> None:
    """Move the finished ``tmp`` into place as ``run_dir`` (replacing an empty or previous
    run directory, which check_run_dir allowed)."""
    if run_dir.exists():
        trash = run_dir.parent / f".{run_dir.name}.old-{os.getpid()}-{time.time_ns()}"
        os.rename(run_dir, trash)
        os.rename(tmp, run_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(tmp, run_dir)


def _write_failed(run_dir: Path, e: OSError) -> OutputError:
    where = e.filename or run_dir
    return OutputError(f"cannot write the run directory {run_dir}: {e.strerror or e} "
                       f"({where}); nothing was written")


def _write_atomically(run_dir: str | Path, overwrite: bool, fill) -> Path:
    """Fill a hidden sibling folder with ``fill(folder)`` and rename it into place as
    ``run_dir`` only once complete; on any failure remove it (an ``OSError`` becomes an
    ``OutputError`` naming the path). See :func:`check_run_dir` for what may be replaced."""
    run_dir = check_run_dir(run_dir, overwrite)
    tmp = run_dir.parent / f".{run_dir.name}.partial-{os.getpid()}-{time.time_ns()}"
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        fill(tmp)
        _replace_dir(tmp, run_dir)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_failed(run_dir, e) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return run_dir


def write_run(result, run_dir: str | Path, overwrite: bool = False) -> Path:
    """Write ``manifest.json`` and one Parquet file per Dataset into ``run_dir``, atomically:
    everything goes to a hidden sibling folder first, which is renamed into place only
    once complete (a crash leaves no directory that looks like a finished run). See
    :func:`check_run_dir` for what may be replaced."""
    return _write_atomically(run_dir, overwrite, lambda tmp: _fill_run_dir(result, tmp))


def write_run_streamed(run_dir: str | Path, overwrite: bool, make_result):
    """Like :func:`write_run`, for a run that streams its per-path outputs as it goes:
    ``make_result(paths_file)`` simulates, writing ``paths.parquet`` inside the hidden
    folder, and returns the Result; the other files follow, then the rename. Returns
    ``(run_dir, result)``, the result's per-path outputs read from ``run_dir``."""
    made = []

    def fill(tmp: Path) -> None:
        made.append(make_result(tmp / "paths.parquet"))
        _fill_run_dir(made[0], tmp)

    run_dir = _write_atomically(run_dir, overwrite, fill)
    result = made[0]
    if (run_dir / "paths.parquet").is_file() and result.paths_streamed:
        result.paths = open_dataset_lazily(run_dir / "paths.parquet", one_column=True)
    return run_dir, result


def _fill_run_dir(result, tmp: Path) -> None:
    """Write the Parquet files (not paths.parquet when the run streamed it there), then
    the manifest that says they are complete."""
    t0 = time.perf_counter()
    files = {}
    for name, ds in result.datasets().items():
        if not (name == "paths" and result.paths_streamed
                and (tmp / "paths.parquet").is_file()):
            write_dataset(ds, tmp / f"{name}.parquet")
        files[name] = f"{name}.parquet"
    manifest = dict(result.meta)
    manifest["files"] = files
    if "config" in manifest:  # the config as run, readable and reusable as --config
        import tomli_w

        (tmp / "config.resolved.toml").write_text(
            "# the resolved config of this run (every key; keys without a value omitted)\n"
            + tomli_w.dumps(_without_none(_jsonable(manifest["config"]))), encoding="utf-8")
    manifest.setdefault("timings", {})["write_seconds"] = time.perf_counter() - t0
    manifest["complete"] = True
    _write_manifest(tmp, manifest)


def _write_manifest(folder: Path, manifest: dict) -> None:
    with open(folder / "manifest.json", "w") as f:
        json.dump(_jsonable(manifest), f, indent=2, allow_nan=True)


def write_unfinished(run_dir: str | Path, meta: dict, overwrite: bool = False) -> Path:
    """Leave a directory that says plainly that a run did not finish: only a
    ``manifest.json`` with ``"complete": false``, the reason and how far it got (no
    Parquet file, so nothing can be mistaken for results)."""
    unfinished = {**meta, "complete": False, "files": {}}
    return _write_atomically(run_dir, overwrite, lambda tmp: _write_manifest(tmp, unfinished))


def parquet_column_names(path: str | Path) -> list[str]:
    """The column names of a Parquet file as written (duplicates kept), from its schema."""
    return list(pq.read_schema(path).names)


def check_readable_run(run_dir: str | Path) -> Path:
    """``run_dir`` holds a finished run (its manifest says complete), else a UsageError."""
    run_dir = Path(run_dir)
    try:
        with open(run_dir / "manifest.json") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        raise UsageError(f"{run_dir} is not a riskengine run directory (no readable "
                         "manifest.json)") from None
    if not (isinstance(manifest, dict) and manifest.get("complete") is True):
        raise UsageError(f"{run_dir} holds an unfinished run (its manifest says complete: "
                         "false)")
    return run_dir


def read_results(run_dir: str | Path) -> RunData:
    """Read a run directory back: the manifest and every Dataset, exactly as written."""
    run_dir = Path(run_dir)
    with open(run_dir / "manifest.json") as f:
        manifest = json.load(f)
    datasets = {name: read_dataset(run_dir / fname) for name, fname in manifest["files"].items()}
    return RunData(manifest=manifest, datasets=datasets)

"""A run's finished chunks on disk, so a run killed at any point resumes from its last
saved chunk, bit for bit: each chunk saved atomically in the run directory's ``parts``
folder with the run key and its path range inside, checked and found again on resume
(a corrupt or foreign chunk is recomputed), the disk a run's chunks need, and the
manifest that marks the directory an unfinished run of one config, portfolio and kernel
build.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._kernels.bundles import Accumulators, PathOutputs, SampledPaths
from .buffers import BLOCK, allocate, allocate_range
from .errors import UsageError
from .io import RunDirClaim, write_unfinished
from .kernel_cache import kernel_digest
from .kernel_inputs import Model
from .provenance import package_versions, portfolio_hash, results_hash
from .results_version import KEY as RESULTS_VERSION_KEY
from .results_version import RESULTS_VERSION, of_manifest

#: a run directory's folder of checkpointed chunks
CHUNKS = "parts"
#: the names, in a chunk file, of its run key and its path range ``[start, end]``
KEY, RANGE = "run_key", "path_range"
#: bytes a chunk file adds to its arrays' bytes, per array (zip and .npy headers; measured
#: about 250, rounded up)
FILE_BYTES_PER_ARRAY = 512


def run_keys(model: Model) -> dict[str, str]:
    """What a run's numbers depend on (the resolved config with its seed and paths, the
    portfolio table, the kernels' code and versions), each hashed: the manifest's
    ``checkpoint`` record, checked on resume."""
    return {"results_sha256": results_hash(model), "portfolio_sha256": portfolio_hash(model),
            "kernels": kernel_digest()}


def run_key(keys: dict[str, str]) -> str:
    """The run key every chunk file carries: one SHA-256 of :func:`run_keys`."""
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """A run's ``parts`` folder and the run key its chunks carry; ``save`` False: the
    saved chunks are read but no new one is written (the disk is too small for them)."""

    folder: Path
    key: str
    save: bool = True


def _sampled_rows(sampled: SampledPaths, start: int, end: int) -> dict:
    """The sampled rows of global paths ``start .. end - 1`` (row ``r`` is path
    ``r * stride``), with their row indices."""
    out = {}
    for name, stride in (("timeline", sampled.timeline_stride), ("irr", sampled.irr_stride),
                         ("annual", sampled.timeline_stride)):
        a = getattr(sampled, name)
        rows = np.arange(a.shape[0])
        own = rows[(rows * stride >= start) & (rows * stride < end)]
        out[f"rows.{name}"] = own
        out[f"sampled.{name}"] = a[own]
    return out


def save_chunk(checkpoint: Checkpoint, start: int, end: int, out: PathOutputs,
               acc: Accumulators, sampled: SampledPaths) -> None:
    """Save one finished chunk (its paths' outputs, its blocks' accumulators, its sampled
    rows, the run key and its path range) as ``folder/chunk-START-END.npz``, atomically
    (written aside, then renamed)."""
    if not checkpoint.save:
        return
    folder = checkpoint.folder
    folder.mkdir(parents=True, exist_ok=True)
    arrays = chunk_arrays(start, end, out, acc, sampled)
    arrays |= {KEY: np.array(checkpoint.key), RANGE: np.array([start, end], dtype=np.int64)}
    final = folder / chunk_name(start, end)
    tmp = folder / f".{final.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:  # (an interrupt while saving leaves no half-written file)
        tmp.unlink(missing_ok=True)
        raise


def chunk_arrays(start: int, end: int, out: PathOutputs, acc: Accumulators,
                 sampled: SampledPaths) -> dict:
    """One chunk's outputs as named arrays (what a checkpoint file or a Dask task holds)."""
    arrays = {f"out.{k}": np.asarray(v) for k, v in out._asdict().items()}
    arrays |= {f"acc.{k}": np.asarray(v) for k, v in acc._asdict().items()}
    return arrays | _sampled_rows(sampled, start, end)


def chunk_name(start: int, end: int) -> str:
    return f"chunk-{start:012d}-{end:012d}.npz"


def saved_chunks(folder: Path, start: int, end: int) -> dict[tuple[int, int], Path]:
    """The chunks saved in ``folder`` that lie in paths ``start .. end - 1``, by range (the
    range their name says; :func:`load_chunk` checks what is inside)."""
    found = {}
    for path in sorted(folder.glob("chunk-*.npz")) if folder.is_dir() else []:
        try:
            a, b = (int(x) for x in path.stem.split("-")[1:])
        except ValueError:  # (not a name riskengine writes: not a chunk)
            continue
        if start <= a < b <= end and path.name == chunk_name(a, b):
            found[a, b] = path
    return found


def load_chunk(checkpoint: Checkpoint, path: Path, model: Model, start: int, end: int
               ) -> dict[str, np.ndarray] | None:
    """The arrays of the chunk file ``path`` (paths ``start .. end - 1``), read whole and
    checked: a readable file, this run's key, this path range, and every array a chunk of
    this run holds with its shape and dtype. None (and one line on stderr naming the file
    and why; the file is removed) when it is corrupt or another run's: the caller then
    simulates those paths again."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        return _reject(path, f"it is corrupt or truncated ({type(e).__name__}: {e})")
    key, rng = arrays.pop(KEY, None), arrays.pop(RANGE, None)
    if key is None or rng is None:
        return _reject(path, "it carries no run key (saved by an older riskengine)")
    if key.shape != () or str(key) != checkpoint.key:
        return _reject(path, "it belongs to another run (its run key differs: another "
                             "config, seed, paths, portfolio or engine version)")
    if rng.shape != (2,) or (int(rng[0]), int(rng[1])) != (start, end):
        return _reject(path, f"it holds paths {rng.tolist()}, not {start}:{end} as its "
                             "name says")
    out, acc, sampled = allocate_range(model, start, end)
    expected = chunk_arrays(start, end, out, acc, sampled)
    for name, a in expected.items():
        got = arrays.get(name)
        if got is None or got.shape != a.shape or got.dtype != a.dtype:
            return _reject(path, f"its array {name} is missing or of another shape")
    if set(arrays) != set(expected):
        return _reject(path, "it holds arrays a chunk of this run does not")
    return arrays


def _reject(path: Path, why: str) -> dict[str, np.ndarray] | None:
    """Say on stderr that a saved chunk is recomputed, and why; remove it."""
    print(f"warning: {path}: {why}; its paths are simulated again", file=sys.stderr,
          flush=True)
    path.unlink(missing_ok=True)
    return None


def saved_paths(checkpoint: Checkpoint) -> int:
    """Paths in the chunks saved in a run's ``parts`` (as their names say)."""
    return sum(b - a for a, b in saved_chunks(checkpoint.folder, 0, 2**62))


def chunk_bytes(model: Model, paths: int | None = None) -> int:
    """Bytes on disk of the chunk files of ``paths`` paths (default: the whole run) of this
    model: derived from the arrays a chunk saves (per path: every per-path output; per
    block of 1,024 paths: the accumulators; per run: the sampled rows and their indices),
    plus the files' headers. Measured: 754 bytes a path for the shipped program (a
    65,536-path chunk is about 49 MB)."""
    sim = model.config.simulation
    n = sim.paths if paths is None else paths
    out, acc, _ = allocate(model, BLOCK)
    per_block = sum(a.nbytes for a in out) + sum(a.nbytes for a in acc)
    sampled = allocate_range(model, 0, BLOCK)[2]
    fixed = sum(a.nbytes + 8 * a.shape[0] for a in (sampled.timeline, sampled.irr,
                                                      sampled.annual))
    chunk = max(BLOCK, -(-sim.chunk_paths // BLOCK) * BLOCK)
    n_files = -(-n // chunk)
    n_arrays = len(out) + len(acc) + 6 + 2
    return (-(-n // BLOCK) * per_block + fixed * n // max(sim.paths, 1)
            + n_files * n_arrays * FILE_BYTES_PER_ARRAY)


def free_bytes(where: Path) -> int | None:
    """Free bytes on the disk that holds ``where`` (its nearest existing ancestor); None
    when that cannot be told."""
    for p in [where, *where.parents]:
        if p.exists():
            try:
                return shutil.disk_usage(p).free
            except OSError:
                return None
    return None


def disk_fits(model: Model, out: Path, resume: bool = False) -> tuple[bool, str]:
    """Whether the chunk files of this run (those still to save, on resume) fit on the
    disk of ``out``, and a one-line account of it."""
    saved = saved_paths(Checkpoint(out / CHUNKS, "")) if resume else 0
    need = chunk_bytes(model, max(model.config.simulation.paths - saved, 0))
    have = free_bytes(out)
    text = f"checkpoints need about {need / 1e9:,.2f} GB on disk"
    if have is None:
        return True, text
    return need <= have, text + f", {have / 1e9:,.2f} GB free at {out}"


def open_checkpoint(out: Path, model: Model, resume: bool, save: bool = True
                    ) -> Checkpoint | None:
    """A run saves its finished chunks in ``out/parts`` (its manifest saying
    ``complete: false``, status ``running``) so a killed run can be resumed; not when it
    would replace a previous run before finishing (``overwrite``). ``save`` False (on
    resume only): the saved chunks are read, no new one written. Returns the checkpoint,
    or None."""
    keys = run_keys(model)
    if not resume:
        if out.exists() and any(out.iterdir()):
            return None  # (--overwrite: the previous run stays until this one is written)
        write_unfinished(out, {
            "status": "running", "paths_requested": model.config.simulation.paths,
            "seed": model.config.simulation.seed, RESULTS_VERSION_KEY: RESULTS_VERSION,
            "config": model.config.to_dict(),
            "portfolio": model.portfolio.source, "versions": package_versions(),
            "checkpoint": keys | {"run_key": run_key(keys)}})
    return Checkpoint(out / CHUNKS, run_key(keys), save)


def remove_leftovers(out: Path) -> list[Path]:
    """Remove what a killed run of ``out`` leaves beside and inside it (called on resume,
    with the run directory claimed, so no other process writes them): the hidden folders
    its results were being written to (``.NAME.partial-*``, ``.NAME.old-*``), a chunk
    file or manifest being saved (``parts/.chunk-*.tmp``, ``.manifest.json.tmp``).
    Returns what was removed."""
    found = [*out.parent.glob(f".{out.name}.partial-*"), *out.parent.glob(f".{out.name}.old-*"),
             *(out / CHUNKS).glob(".chunk-*.tmp"), *out.glob(".manifest.json.tmp")]
    for path in found:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return found


def mark_stopped(out: Path, status: str, paths_done: int) -> None:
    """Record in an unfinished run's manifest why it stopped and how far it got."""
    path = out / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(status=status, paths_done=paths_done)
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, path)


def claim_resume(run_dir: Path, models) -> RunDirClaim:
    """Check that ``run_dir`` holds an unfinished run of the same results version, config,
    portfolio and kernels as this one; claim it."""
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        raise UsageError(f"--resume {run_dir}: no run directory there (no readable "
                         "manifest.json)") from None
    if manifest.get("complete") is not False or "checkpoint" not in manifest:
        raise UsageError(f"--resume {run_dir}: not an unfinished run with saved chunks "
                         f"(status {manifest.get('status', 'complete')!r})")
    if len(models) != 1:
        raise UsageError("--resume finishes one run: drop --scenarios")
    version = of_manifest(manifest)
    if version != RESULTS_VERSION:  # (its chunks hold other draws than this riskengine's)
        raise UsageError(f"--resume {run_dir}: the run was started with results version "
                         f"{version} and this riskengine draws results version "
                         f"{RESULTS_VERSION}; its saved chunks cannot be finished with other "
                         "draws: resume it with the riskengine that started it, or start "
                         "the run again")
    saved, now = manifest["checkpoint"], run_keys(models[0])
    for key, what in (("results_sha256", "config"), ("portfolio_sha256", "portfolio"),
                      ("kernels", "engine version (kernel code)")):
        if saved.get(key) != now[key]:
            differ = (config_differences(manifest.get("config", {}), models[0].config.to_dict())
                      if what == "config" else "")
            raise UsageError(f"--resume {run_dir}: the run was started with another {what}"
                             f"{differ}; resume it with the same --config, --portfolio and "
                             "options, on the same riskengine")
    return RunDirClaim(run_dir).acquire()


def config_differences(saved: dict, now: dict, most: int = 5) -> str:
    """`` (keys that differ: simulation.paths 1000 then, 2000 now, ...)`` between two
    resolved configs (``Config.to_dict()``), or ``""`` when no key differs."""

    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v

    a, b = dict(flat(saved)), dict(flat(now))
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    if not keys:
        return ""
    shown = ", ".join(f"{k} {a.get(k, 'unset')!r} then, {b.get(k, 'unset')!r} now"
                      for k in keys[:most])
    more = f" and {len(keys) - most} more" if len(keys) > most else ""
    return f" (keys that differ: {shown}{more})"

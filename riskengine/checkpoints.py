"""A run's finished chunks on disk, so a run killed at any point resumes from its last
saved chunk, bit for bit: each chunk saved atomically in the run directory's ``parts``
folder, found again on resume, and the manifest that marks the directory an unfinished run
of one config, portfolio and kernel build.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ._kernels.bundles import Accumulators, PathOutputs, SampledPaths
from .errors import UsageError
from .io import RunDirClaim, write_unfinished
from .kernel_cache import kernel_digest
from .kernel_inputs import Model
from .provenance import package_versions, portfolio_hash, results_hash

#: a run directory's folder of checkpointed chunks
CHUNKS = "parts"


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


def save_chunk(folder: Path, start: int, end: int, out: PathOutputs, acc: Accumulators,
               sampled: SampledPaths) -> None:
    """Save one finished chunk (its paths' outputs, its blocks' accumulators, its sampled
    rows) as ``folder/chunk-START-END.npz``, atomically (written aside, then renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = chunk_arrays(start, end, out, acc, sampled)
    final = folder / f"chunk-{start:012d}-{end:012d}.npz"
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


def saved_chunks(folder: Path, start: int, end: int) -> dict[tuple[int, int], Path]:
    """The chunks saved in ``folder`` that lie in paths ``start .. end - 1``, by range."""
    found = {}
    for path in sorted(folder.glob("chunk-*.npz")) if folder.is_dir() else []:
        a, b = (int(x) for x in path.stem.split("-")[1:])
        if start <= a and b <= end:
            found[a, b] = path
    return found


def saved_paths(checkpoint: Path) -> int:
    """Paths in the chunks saved in ``checkpoint`` (a run's ``parts``)."""
    return sum(b - a for a, b in saved_chunks(checkpoint, 0, 2**62))


def open_checkpoint(out: Path, model: Model, resume: bool) -> Path | None:
    """A run saves its finished chunks in ``out/parts`` (its manifest saying
    ``complete: false``, status ``running``) so a killed run can be resumed; not when it
    would replace a previous run before finishing (``overwrite``). Returns the folder,
    or None."""
    if not resume:
        if out.exists() and any(out.iterdir()):
            return None  # (--overwrite: the previous run stays until this one is written)
        write_unfinished(out, {
            "status": "running", "paths_requested": model.config.simulation.paths,
            "seed": model.config.simulation.seed, "config": model.config.to_dict(),
            "portfolio": model.portfolio.source, "versions": package_versions(),
            "checkpoint": {"results_sha256": results_hash(model),
                           "portfolio_sha256": portfolio_hash(model),
                           "kernels": kernel_digest()}})
    return out / CHUNKS


def mark_stopped(out: Path, status: str, paths_done: int) -> None:
    """Record in an unfinished run's manifest why it stopped and how far it got."""
    path = out / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(status=status, paths_done=paths_done)
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, path)


def claim_resume(run_dir: Path, models) -> RunDirClaim:
    """Check that ``run_dir`` holds an unfinished run of the same config, portfolio and
    kernels as this one; claim it."""
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
    saved, model = manifest["checkpoint"], models[0]
    for key, now, what in (("results_sha256", results_hash(model), "config"),
                           ("portfolio_sha256", portfolio_hash(model), "portfolio"),
                           ("kernels", kernel_digest(), "engine version (kernel code)")):
        if saved.get(key) != now:
            raise UsageError(f"--resume {run_dir}: the run was started with another {what}; "
                             "resume it with the same --config, --portfolio and options, "
                             "on the same riskengine")
    return RunDirClaim(run_dir).acquire()

"""What a run's numbers depend on beyond its config, for manifests and for the keys of
checkpoints, parts and cluster tasks: hashes of the config and the portfolio, the source
checkout's commit, the package versions and the threading actually used."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow
import pydantic
import scipy
import xarray as xr

from ._kernels.threads import numba_version, threading_layer
from ._version import __version__


def package_versions() -> dict[str, str]:
    """Versions of riskengine, Python and the numerical libraries (for manifests)."""
    return {"riskengine": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba_version(), "scipy": scipy.__version__,
            "xarray": xr.__version__, "pyarrow": pyarrow.__version__,
            "pandas": pd.__version__, "pydantic": pydantic.__version__}


def sha256_file(path: str) -> str | None:
    """SHA-256 of a file's bytes, None when ``path`` is not a file."""
    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def git_commit() -> str | None:
    """The commit of the source checkout riskengine runs from (with "-dirty" when it has
    uncommitted changes), None for an installed package."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                "riskengine"], capture_output=True, text=True, timeout=10).stdout
        return head + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def results_hash(model) -> str:
    """SHA-256 of what a run's numbers depend on in its config (threads and chunk size do
    not): the key of checkpoints and cluster tasks."""
    cfg = model.config.to_dict()
    cfg["simulation"] = {k: v for k, v in cfg["simulation"].items()
                         if k not in ("threads", "chunk_paths")}
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()


def portfolio_hash(model) -> str:
    """SHA-256 of the validated portfolio table (whatever file or DataFrame it came from)."""
    return hashlib.sha256(model.portfolio.table.to_csv(index=False).encode()).hexdigest()


def provenance(model, timings: dict) -> dict:
    """What a number depends on beyond the config: input hashes, the code's commit, the
    threading actually used, the command line and when it ran."""
    pf_hash = sha256_file(model.portfolio.source)
    if pf_hash is None:  # a DataFrame: the validated table, canonically written
        pf_hash = portfolio_hash(model)
    config_text = json.dumps(model.config.to_dict(), sort_keys=True)
    return {"config_sha256": hashlib.sha256(config_text.encode()).hexdigest(),
            "portfolio_sha256": pf_hash, "git_commit": git_commit(),
            "numba_threading_layer": threading_layer(),
            "threads_used": timings.get("threads_used"),
            "command_line": list(sys.argv), "started": timings.get("started"),
            "finished": timings.get("finished")}


def stamp(model, timings: dict) -> dict:
    """The manifest's ``versions`` and ``provenance`` of a finished run."""
    return {"versions": package_versions(), "provenance": provenance(model, timings)}

"""Where compiled kernels are cached, decided before any kernel is defined.

The kernels are cached on disk by default, per user, in a directory named after a digest
of the kernel sources and the numba, NumPy and Python versions, so a changed package never
loads a stale kernel (numba itself only checks the time stamp of each function's own file,
not of the functions it inlines). :func:`riskengine.kernel_cache.ensure_compiled` fills the
directory once, under a file lock, so processes that start together never write the same
cache at once (numba issue 4807).

Environment: ``RISKENGINE_NUMBA_CACHE=0`` compiles in every process instead;
``RISKENGINE_CACHE_DIR`` replaces the default root (``$XDG_CACHE_HOME/riskengine`` or
``~/.cache/riskengine``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import tempfile
from pathlib import Path

import numba
import numpy as np

log = logging.getLogger("riskengine")


def _digest() -> str:
    h = hashlib.sha256()
    here = Path(__file__).parent
    sources = sorted(here.glob("*.py")) + [here.parent / "codes.py"]  # codes: kernel constants
    for path in sources:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    for part in (numba.__version__, np.__version__, platform.python_version(),
                 platform.machine()):
        h.update(part.encode())
    return h.hexdigest()[:16]


def cache_root() -> Path:
    """The root folder of riskengine's kernel caches."""
    env = os.environ.get("RISKENGINE_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "riskengine"


def _usable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
        return True
    except OSError:
        return False


DIGEST = _digest()
CACHE_DIR = cache_root() / f"kernels-{DIGEST}"
CACHE = os.environ.get("RISKENGINE_NUMBA_CACHE", "1") != "0"
if CACHE and not _usable(CACHE_DIR):
    log.warning("kernel cache %s is not writable: compiling the kernels in every run", CACHE_DIR)
    CACHE = False
if CACHE:
    numba.config.CACHE_DIR = str(CACHE_DIR)

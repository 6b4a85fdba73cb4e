"""The compiled kernels' cache: compiled once per user and package version, not in every
run.

:func:`ensure_compiled` runs before the first simulation of a process. When the kernel
cache (see ``riskengine/_kernels/_cache.py``) is not complete yet, it takes an exclusive
file lock, compiles the kernels in a child process (``python -m riskengine.warmup``) that
writes the cache, and marks it complete; processes that start together wait for the lock
and then load what the first one compiled, so no two processes ever write one cache at
once (numba issue 4807). Compiling in a child also keeps Ctrl-C working: the parent waits
on the child, which numba's compiler cannot block.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from ._kernels._cache import CACHE, CACHE_DIR, DIGEST

log = logging.getLogger("riskengine")

# numba files a function's cache under a subfolder named after its source file's folder,
# so two checkouts of the same sources (a second clone, a worktree) hold two caches in one
# CACHE_DIR: the marker and the lock are per checkout, else the second found the first's
# marker and compiled in every process
_WHERE = hashlib.sha256(str(Path(__file__).resolve().parent).encode()).hexdigest()[:12]
_COMPLETE = CACHE_DIR / f"complete-{_WHERE}"
CHILD = "RISKENGINE_COMPILING"  # set in the compiling child, which holds no lock

#: called with no argument just before a first-time compile (the command line prints
#: "compiling kernels (first run only)"); replace it to show something else
on_compile: Callable[[], None] = lambda: log.warning("compiling kernels (first run only)")


def kernels_cached() -> bool:
    """Whether this package version's kernels are compiled and cached for this user."""
    return CACHE and _COMPLETE.is_file()


def ensure_compiled() -> None:
    """Compile and cache the kernels unless they already are (no-op with the cache off)."""
    if not CACHE or kernels_cached() or os.environ.get(CHILD):
        return
    with FileLock(f"{CACHE_DIR}-{_WHERE}.lock"):
        if kernels_cached():
            return
        on_compile()
        # in a session of its own: a terminal's Ctrl-C reaches this process, which stops
        # the child below, and never the child mid-import (a traceback on the screen)
        proc = subprocess.Popen([sys.executable, "-m", "riskengine.warmup"],
                                env={**os.environ, CHILD: "1"}, start_new_session=True)
        try:
            code = proc.wait()
        except BaseException:  # Ctrl-C or SIGTERM: stop the compile, leave no marker
            proc.kill()
            proc.wait()
            raise
        if code != 0:
            log.warning("compiling the kernels in a child process failed (exit %d); "
                        "compiling in this process", code)
            return
        _COMPLETE.write_text("compiled\n")
        log.info("kernels compiled into %s", CACHE_DIR)


def kernel_digest() -> str:
    """The digest of the kernels' code and the numba/NumPy/Python versions (the name of
    their cache folder): a checkpointed run resumes only on the same."""
    return DIGEST

"""Compile the kernels once per user and package version, not in every run.

:func:`ensure_compiled` runs before the first simulation of a process. When the kernel
cache (see ``riskengine/_kernels/_cache.py``) is not complete yet, it takes an exclusive
file lock, compiles the kernels in a child process (``python -m riskengine.warmup``) that
writes the cache, and marks it complete; processes that start together wait for the lock
and then load what the first one compiled, so no two processes ever write one cache at
once (numba issue 4807). Compiling in a child also keeps Ctrl-C working: the parent waits
on the child, which numba's compiler cannot block.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable

from filelock import FileLock

from ._kernels._cache import CACHE, CACHE_DIR

log = logging.getLogger("riskengine")

_COMPLETE = CACHE_DIR / "complete"
_CHILD = "RISKENGINE_COMPILING"  # set in the compiling child, which holds no lock

#: called with no argument just before a first-time compile (the command line prints
#: "compiling kernels (first run only)"); replace it to show something else
on_compile: Callable[[], None] = lambda: log.warning("compiling kernels (first run only)")


def kernels_cached() -> bool:
    """Whether this package version's kernels are compiled and cached for this user."""
    return CACHE and _COMPLETE.is_file()


def ensure_compiled() -> None:
    """Compile and cache the kernels unless they already are (no-op with the cache off)."""
    if not CACHE or kernels_cached() or os.environ.get(_CHILD):
        return
    with FileLock(str(CACHE_DIR) + ".lock"):
        if kernels_cached():
            return
        on_compile()
        proc = subprocess.Popen([sys.executable, "-m", "riskengine.warmup"],
                                env={**os.environ, _CHILD: "1"})
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


def compile_kernels() -> None:
    """Compile every kernel entry point with the types a run uses, by simulating a tiny
    program with every feature on (equity, floating loans, a stochastic rate, several
    tiers, importance sampling): compiled code depends on types, never on values."""
    import numpy as np
    import pandas as pd

    from ._kernels.defaults import idio_uniform
    from .config import config_from_dict
    from .kernel_inputs import build_model
    from .portfolio import portfolio_from_frame
    from .simulate import run_model

    raw = {"simulation": {"paths": 1024, "horizon_years": 2.0},
           "dependence": {"sectors": ["a"], "correlation": [[1.0]]},
           "rates": {"model": "vasicek"},
           "outputs": {"timeline_paths": 16, "irr_paths": 16},
           "importance_sampling": {"enabled": True, "pilot_paths": 1024}}
    cfg = config_from_dict(raw, "<warmup>")
    frame = pd.DataFrame({
        "project_id": ["L", "E"], "sector": "a", "institution": "JBIC",
        "instrument": ["loan", "equity"], "commitment_usd": 1.0, "pd_annual": 0.05,
        "lgd": 0.5, "lgd_sd": 0.1, "factor_loading": 0.5, "rate_type": ["floating", "fixed"],
        "expected_yield": [0.0, 0.1], "cf_vol": [0.0, 0.2]})
    run_model(build_model(cfg, portfolio_from_frame(frame, ["a"], 8, 4)))
    idio_uniform(np.uint64(1), 0)


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group: the parent handles it and ends this child,
    # which must not print half-interrupted compiler state on the way
    import signal

    if os.environ.get(_CHILD):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    compile_kernels()


def kernel_digest() -> str:
    """The digest of the kernels' code and the numba/NumPy/Python versions (the name of
    their cache folder): a checkpointed run resumes only on the same."""
    from ._kernels._cache import DIGEST

    return DIGEST

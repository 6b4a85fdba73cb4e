"""Compile every kernel entry point, the child process of
:func:`riskengine.kernel_cache.ensure_compiled`; ``python -m riskengine.warmup`` fills the
per-user cache by hand (on a cluster: once per machine).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ._kernels.defaults import factor_normals, idio_uniform
from ._kernels.twist import plain_component
from .config import config_from_dict
from .kernel_cache import CHILD
from .kernel_inputs import build_model
from .portfolio import portfolio_from_frame
from .simulate import run_model


def compile_kernels() -> None:
    """Compile every kernel entry point with the types a run uses, by simulating a tiny
    program with every feature on (equity, floating loans, a stochastic rate, several
    tiers, importance sampling): compiled code depends on types, never on values."""
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
    # (importance sampling's pilot and the means' control variates redraw factor normals
    # and the mixture's choice outside the simulation)
    ids = np.zeros(1, dtype=np.int64)
    factor_normals(ids, np.uint64(1), np.zeros((1, 1)))
    plain_component(ids, np.uint64(1), 0.5, np.zeros(1, dtype=np.bool_))


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group: the parent handles it and ends this child,
    # which must not print half-interrupted compiler state on the way
    import signal

    if os.environ.get(CHILD):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    compile_kernels()

"""A small two-regime program with elections, independent of data/."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from riskengine.config import config_from_dict
from riskengine.portfolio import portfolio_from_frame

#: today's regime probabilities, PD multipliers and the switch matrix of the tests
PI = np.array([0.6, 0.4])
PD_MULT = np.array([1.0, 3.0])
SWITCH = np.array([[0.7, 0.3], [0.2, 0.8]])

BASE = {
    "simulation": {"paths": 20_000, "seed": 11, "horizon_years": 4.0, "steps_per_year": 4,
                   "chunk_paths": 8192, "as_of": "2026-01-01"},
    "dependence": {"sectors": ["s"], "correlation": [[1.0]]},
    "rates": {"base_rate": 0.0, "discount_rate": 0.0},
    "program": {"selection_deadline": "2029-01-19"},
    "regimes": [
        {"name": "calm", "probability": 0.6, "pd_multiplier": 1.0, "switch": {"rough": 0.3}},
        {"name": "rough", "probability": 0.4, "pd_multiplier": 3.0, "switch": {"calm": 0.2}},
    ],
    # the new regime from the quarter starting 2028-01-01: step 8, two years in
    "elections": [{"name": "mid2027", "date": "2027-11-02"}],
}


def raw_config(**changes) -> dict:
    """``BASE`` with top-level tables replaced (None: removed)."""
    raw = copy.deepcopy(BASE)
    for k, v in changes.items():
        if v is None:
            raw.pop(k, None)
        else:
            raw[k] = v
    return raw


def config(**changes):
    return config_from_dict(raw_config(**changes), "<elections test>")


def loans(n=100, pd_annual=0.04, w=0.0) -> pd.DataFrame:
    """``n`` bullet loans of 1 with LGD 1, funded at once and outliving the horizon: a
    path's credit loss is its number of defaults."""
    return pd.DataFrame({
        "project_id": [f"L{i:04d}" for i in range(n)], "sector": "s", "institution": "JBIC",
        "instrument": "loan", "commitment_usd": 1.0, "pd_annual": pd_annual, "lgd": 1.0,
        "factor_loading": w, "amortization": "bullet", "tenor_years": 10.0,
    })


def portfolio(df, cfg):
    sim = cfg.simulation
    return portfolio_from_frame(df, cfg.dependence.sectors, sim.n_quarters, sim.steps_per_year)

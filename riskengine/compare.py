"""``riskengine compare RUN_A RUN_B``: the differences B - A of every summary entry, with
standard errors.

For EL (a mean) of two runs on the same seed and number of paths, the error comes from
the per-path differences (paired: common random numbers make it tight). Every other
entry, and runs on different seeds, take ``sqrt(se_A^2 + se_B^2)``, which treats the runs
as independent: conservative when they share their paths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UsageError
from .io import check_readable_run, read_results, without_multi_indexes
from .measures import mean_with_stderr
from .results import DERIVED_VARIABLES, TARIFF_IN

KEYS = ["institution", "variable", "measure", "level"]


def _scenarios(run) -> list[str]:
    return list(run.summary["scenario"].values) if "scenario" in run.summary.dims else []


def _frame(run) -> pd.DataFrame:
    """ALL-regime summary rows, with a ``scenario`` column (``base`` for a plain run)."""
    ds = run.summary
    if "scenario" not in ds.dims:
        ds = ds.expand_dims(scenario=["base"])
    if "regime" in ds.dims:
        ds = ds.sel(regime="all")
    frame = without_multi_indexes(ds)[["value", "stderr"]].to_dataframe().reset_index()
    return frame[["scenario", *KEYS, "value", "stderr"]]


def _paired_el(a, b, variable: str, institution: str, scenario: str) -> float:
    """The standard error of EL_B - EL_A from per-path differences (same paths)."""
    def losses(run):
        p = run.paths
        if "scenario" in p.dims:
            p = p.sel(scenario=scenario)
        da = p[DERIVED_VARIABLES.get(variable, variable)]
        if "institution" not in da.dims:  # Japan's as a whole (the tariff)
            x = da.to_numpy() * (1.0 if institution == "ALL" else 0.0)
        else:
            x = (da.sum("institution") if institution == "ALL"
                 else da.sel(institution=institution)).to_numpy()
        tariff = TARIFF_IN.get(variable)
        if institution == "ALL" and tariff in p:
            x = x + p[tariff].to_numpy()
        w = p["weight"].to_numpy() if "weight" in p else 1.0
        return w * x

    return mean_with_stderr(losses(b) - losses(a))[1]


def compare(run_a: str | Path, run_b: str | Path) -> pd.DataFrame:
    """The summary rows of both runs side by side with ``difference`` and its
    ``stderr`` (``paired`` says which error was used)."""
    a, b = (read_results(check_readable_run(r)) for r in (run_a, run_b))
    if _scenarios(a) != _scenarios(b):
        raise UsageError(f"the runs have different scenarios ({_scenarios(a) or 'none'} and "
                         f"{_scenarios(b) or 'none'}); compare runs of the same scenarios")
    fa, fb = _frame(a), _frame(b)
    fa["level"], fb["level"] = fa["level"].fillna(-1.0), fb["level"].fillna(-1.0)
    both = fa.merge(fb, on=["scenario", *KEYS], suffixes=("_a", "_b"))
    both["difference"] = both["value_b"] - both["value_a"]
    both["stderr"] = np.sqrt(both["stderr_a"] ** 2 + both["stderr_b"] ** 2)
    both["paired"] = False
    same_paths = (a.manifest["seed"] == b.manifest["seed"]
                  and a.manifest["paths"] == b.manifest["paths"])
    if same_paths:
        for i in np.flatnonzero((both["measure"] == "EL").to_numpy()):
            row = both.iloc[i]
            name = DERIVED_VARIABLES.get(row["variable"], row["variable"])
            if name in a.paths and name in b.paths:
                both.loc[both.index[i], "stderr"] = _paired_el(
                    a, b, row["variable"], row["institution"], row["scenario"])
                both.loc[both.index[i], "paired"] = True
    both["level"] = both["level"].replace(-1.0, np.nan)
    return both[["scenario", *KEYS, "value_a", "value_b", "difference", "stderr", "paired"]]

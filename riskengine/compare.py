"""``riskengine compare RUN_A RUN_B``: the differences B - A of every summary entry, with
standard errors.

Two runs on the same seed and number of paths share their random numbers path by path
(common random numbers: a base run and one with a changed input), so their difference is
far more precise than either run: the errors are *paired*. EL's comes from the per-path
differences, ``sd(w_B L_B - w_A L_A) / sqrt(n)``; VaR's and ES's from a paired bootstrap
over paths (both runs resampled at the same paths, with their importance-sampling
weights) up to ``BOOTSTRAP_MAX_PATHS`` paths, and from batch means above, where the
bootstrap would take minutes (about 0.4 s a resample of one entry at 1,000,000 paths).
A run compared with itself shows 0 +- 0. SD, and every entry of runs on different seeds or
numbers of paths, take ``sqrt(se_A^2 + se_B^2)``, which treats the runs as independent
(*unpaired*): conservative when they share their paths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UsageError
from .io import check_readable_run, read_results, without_multi_indexes
from .measures import MIN_TAIL_PATHS, LossSample, mean_with_stderr
from .results import DERIVED_VARIABLES, TARIFF_IN

#: the paired bootstrap's resamples (its standard error is itself known to about
#: ``1 / sqrt(2 * N_RESAMPLES)``, 5%)
N_RESAMPLES = 200
#: above this many paths, VaR's and ES's paired errors come from batch means
BOOTSTRAP_MAX_PATHS = 20_000
#: batch means' number of batches of consecutive paths
N_BATCHES = 40

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


def _path_losses(run, variable: str, institution: str, scenario: str):
    """Per-path losses of one summary entry, and the per-path weights (None: unit weights)."""
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
    return x, (p["weight"].to_numpy() if "weight" in p else None)


def _paired_el(a, b, variable: str, institution: str, scenario: str) -> float:
    """The standard error of EL_B - EL_A from per-path differences (same paths)."""
    xa, wa = _path_losses(a, variable, institution, scenario)
    xb, wb = _path_losses(b, variable, institution, scenario)
    return paired_el_stderr(xa, xb, wa, wb)


def paired_el_stderr(a, b, weight_a=None, weight_b=None) -> float:
    """The standard error of ``EL_B - EL_A`` of two runs on the same paths, from the
    per-path differences ``sd(w_B L_B - w_A L_A) / sqrt(n)`` (``w`` None: unit weights).
    Identical runs give exactly 0."""
    da = np.asarray(a) if weight_a is None else weight_a * a
    db = np.asarray(b) if weight_b is None else weight_b * b
    return mean_with_stderr(db - da)[1]


def _tail_estimates(levels, x, w) -> np.ndarray:
    """VaR then ES at each level of one (weighted) sample: ``(2 * len(levels),)``."""
    s = LossSample(x, w)
    return np.array([s.var_value(a) for a in levels] + [s.es(a).value for a in levels])


def paired_bootstrap_stderr(statistic, a, b, weight_a=None, weight_b=None, *,
                            n_resamples: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
    """Standard error of ``statistic(b, w_b) - statistic(a, w_a)`` by a paired bootstrap over
    paths: each resample draws path indices once and takes both runs' values (and weights)
    at them, so what the runs share (common random numbers) cancels.

    ``statistic(x, w)`` returns a scalar or a 1-D array; ``w`` is None for unit weights.
    Returns an array of the statistic's shape. Identical runs give exactly 0.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if np.array_equal(a, b) and _same_weights(weight_a, weight_b):
        return np.zeros(np.shape(statistic(a, weight_a)))
    samples = (a, b) if weight_a is None else (a, b, weight_a, weight_b)

    def diff(*s):
        wa, wb = (s[2], s[3]) if len(s) == 4 else (None, None)
        return np.asarray(statistic(s[1], wb)) - np.asarray(statistic(s[0], wa))

    from scipy import stats  # (scipy.stats costs every run's start-up 0.5 s: only here)

    res = stats.bootstrap(samples, diff, paired=True, vectorized=False, batch=1,
                          n_resamples=n_resamples, method="percentile",
                          rng=np.random.default_rng(seed))
    return np.asarray(res.standard_error, dtype=np.float64)


def paired_batch_stderr(statistic, a, b, weight_a=None, weight_b=None, *,
                        n_batches: int = N_BATCHES) -> np.ndarray:
    """Standard error of ``statistic(b, w_b) - statistic(a, w_a)`` by batch means: the
    paths split into ``n_batches`` consecutive batches, the difference estimated on each,
    ``se = sd(batch differences) / sqrt(n_batches)`` (Notes). Identical runs give exactly 0.

    Notes
    -----
    An estimator whose variance falls as ``1/n`` has on a batch of ``n / B`` paths ``B`` times
    the variance of the whole sample's, so the spread of ``B`` independent batch estimates,
    divided by ``sqrt(B)``, estimates the whole sample's error. Consecutive path batches are
    independent (every path has its own random streams).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if np.array_equal(a, b) and _same_weights(weight_a, weight_b):
        return np.zeros(np.shape(statistic(a, weight_a)))
    edges = np.linspace(0, a.shape[0], n_batches + 1).astype(np.int64)
    diffs = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        wa = None if weight_a is None else weight_a[lo:hi]
        wb = None if weight_b is None else weight_b[lo:hi]
        diffs.append(np.asarray(statistic(b[lo:hi], wb)) - np.asarray(statistic(a[lo:hi], wa)))
    return np.std(np.array(diffs), axis=0, ddof=1) / np.sqrt(n_batches)


def _same_weights(wa, wb) -> bool:
    return (wa is None and wb is None) or (wa is not None and wb is not None
                                           and np.array_equal(wa, wb))


def _paired_tail(a, b, levels, variable: str, institution: str, scenario: str):
    """:func:`paired_tail_stderr` of one summary entry of two runs."""
    xa, wa = _path_losses(a, variable, institution, scenario)
    xb, wb = _path_losses(b, variable, institution, scenario)
    return paired_tail_stderr(xa, xb, levels, wa, wb)


def paired_tail_stderr(a, b, levels, weight_a=None, weight_b=None, *,
                       bootstrap_max_paths: int = BOOTSTRAP_MAX_PATHS):
    """Paired standard errors of VaR_B - VaR_A and ES_B - ES_A at ``levels`` (VaR's then
    ES's) of two runs' per-path losses on the same paths, and the method's name: the
    bootstrap up to ``BOOTSTRAP_MAX_PATHS`` paths, batch means above (the bootstrap's cost
    grows with paths times resamples). A level with fewer than ``MIN_TAIL_PATHS`` paths
    beyond its VaR (in a batch, for batch means) gets NaN: no paired error is meaningful
    there. Identical runs give exactly 0. ``bootstrap_max_paths``: where batch means take
    over (their batches hold too few tail paths for 0.999 below about 400,000 paths)."""
    xa, wa, xb, wb = a, weight_a, b, weight_b
    n = xa.shape[0]
    statistic = lambda x, w: _tail_estimates(levels, x, w)
    if n <= bootstrap_max_paths:
        se, method, per = paired_bootstrap_stderr(statistic, xa, xb, wa, wb), "bootstrap", n
    else:
        se, method, per = paired_batch_stderr(statistic, xa, xb, wa, wb), "batch means", \
            n // N_BATCHES
    thin = np.array([per * (1.0 - lv) < MIN_TAIL_PATHS for lv in levels] * 2)
    if not (np.array_equal(xa, xb) and _same_weights(wa, wb)):
        se = np.where(thin, np.nan, se)
    return se, method


def compare(run_a: str | Path, run_b: str | Path) -> pd.DataFrame:
    """The summary rows of both runs side by side with ``difference`` and its ``stderr``;
    ``paired`` says whether the error is paired (common random numbers) and ``method`` how
    it was computed (``per-path``, ``bootstrap``, ``batch means``, or ``unpaired``)."""
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
    both["method"] = "unpaired"
    if same_paths(a.manifest, b.manifest):
        _pair_errors(a, b, both)
    both["level"] = both["level"].replace(-1.0, np.nan)
    return both[["scenario", *KEYS, "value_a", "value_b", "difference", "stderr", "paired",
                 "method"]]


def same_paths(manifest_a: dict, manifest_b: dict) -> bool:
    """Whether two runs drew the same random numbers path by path (same seed and paths)."""
    return (manifest_a["seed"] == manifest_b["seed"]
            and manifest_a["paths"] == manifest_b["paths"])


def _pair_errors(a, b, both: pd.DataFrame) -> None:
    """Replace the unpaired errors of EL, VaR and ES in ``both`` by paired ones, in place."""
    measure = both["measure"].to_numpy()
    for (scen, var, inst), rows in both.groupby(["scenario", "variable", "institution"],
                                                sort=False):
        name = DERIVED_VARIABLES.get(var, var)
        if name not in a.paths or name not in b.paths:
            continue
        el = rows.index[measure[rows.index] == "EL"]
        if len(el):
            both.loc[el, ["stderr", "paired", "method"]] = [
                _paired_el(a, b, var, inst, scen), True, "per-path"]
        tail = rows[rows["measure"].isin(["VaR", "ES"])]
        levels = sorted(set(tail["level"]))
        if not levels:
            continue
        se, method = _paired_tail(a, b, levels, var, inst, scen)
        for i, (m, lv) in enumerate([("VaR", x) for x in levels] + [("ES", x) for x in levels]):
            at = tail.index[(tail["measure"] == m).to_numpy() & (tail["level"] == lv).to_numpy()]
            both.loc[at, ["stderr", "paired", "method"]] = [se[i], True, method]

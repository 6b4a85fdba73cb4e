"""``riskengine compare RUN_A RUN_B``: the differences B - A of every summary entry, with
standard errors.

Two runs on the same seed and number of paths share their random numbers path by path
(common random numbers: a base run and one with a changed input), so their difference is
far more precise than either run: the errors are *paired*. EL's comes from the per-path
differences, ``sd(w_B L_B - w_A L_A) / sqrt(n)`` (under importance sampling the terms of
the regression estimator, :func:`paired_el_stderr`); VaR's and ES's from a paired bootstrap
over paths (both runs resampled at the same paths, with their importance-sampling
weights) up to ``BOOTSTRAP_MAX_PATHS`` paths, and from batch means above.
A run compared with itself shows 0 +- 0. SD, and every entry of runs on different seeds or
numbers of paths, take ``sqrt(se_A^2 + se_B^2)``, which treats the runs as independent
(*unpaired*): conservative when they share their paths.

Runs of different results versions (:mod:`riskengine.results_version`) draw other random
numbers on the same seed, so they share no paths either: their errors are unpaired, and
their difference includes the change of the draws, not only of the inputs (the frame's
``attrs["results_versions"]`` says which each run is, and the command line says so).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .errors import UsageError
from .io import check_readable_run, read_results, without_multi_indexes
from .measures import MIN_TAIL_PATHS, LossSample, mean_with_stderr, regression_terms
from .results import DERIVED_VARIABLES, TARIFF_IN, mean_controls
from .results_version import of_manifest

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
    return paired_el_stderr(xa, xb, wa, wb, _controls(a, scenario), _controls(b, scenario))


def _controls(run, scenario: str):
    """The run's control variates for means (None: plain Monte Carlo)."""
    p = run.paths
    if "scenario" in p.dims:
        return mean_controls(p.sel(scenario=scenario), run.manifest, scenario)
    return mean_controls(p, run.manifest)


def paired_el_stderr(a, b, weight_a=None, weight_b=None, controls_a=None,
                     controls_b=None) -> float:
    """The standard error of ``EL_B - EL_A`` of two runs on the same paths, from the
    per-path differences ``sd(w_B L_B - w_A L_A) / sqrt(n)`` (``w`` None: unit weights).
    An importance-sampled run's EL being the regression estimator on its controls
    (:func:`riskengine.measures.regression_mean`), its terms are ``w L - X b`` instead.
    Identical runs give exactly 0."""
    da = np.asarray(a) if weight_a is None else weight_a * a
    db = np.asarray(b) if weight_b is None else weight_b * b
    if controls_a is not None:
        da = regression_terms(da, controls_a)
    if controls_b is not None:
        db = regression_terms(db, controls_b)
    return mean_with_stderr(db - da)[1]


def _tail_estimates(levels, x, w) -> np.ndarray:
    """VaR then ES at each level of one (weighted) sample: ``(2 * len(levels),)``."""
    s = LossSample(x, w)
    return np.array([s.var_value(a) for a in levels] + [s.es(a).value for a in levels])


class _ResampledTail:
    """VaR and ES of one (weighted) sample at ``levels`` on bootstrap resamples given as
    counts (how often each path is drawn), reading only the top of the sample.

    A resample that draws path ``i`` ``c_i`` times is the sample with weights ``c_i w_i``:
    sorted from the top, the VaR is the value of the lowest path whose weight strictly
    above it, over ``n``, is at most ``1 - level`` (the inverted-CDF quantile of
    :class:`~riskengine.measures.LossSample`, the same comparison on the same tolerance),
    and ``ES = VaR + sum(c_i w_i max(x_i - VaR, 0)) / (n (1 - level))``. Only paths near
    the tail enter, so the top ``m`` paths (three times the lowest level's tail, plus a
    margin) are sorted once; a resample whose top holds too little weight falls back to the
    whole sample. The values equal :class:`LossSample`'s on the explicitly resampled arrays
    (tests/compare): this is the bootstrap of ``scipy.stats.bootstrap`` without copying
    and re-sorting the sample at every resample, which cost a sensitivity run 17 s of 25.
    """

    def __init__(self, x: np.ndarray, w: np.ndarray | None, levels):
        n = x.shape[0]
        self.n, self.levels = n, np.asarray(levels, dtype=np.float64)
        self.target = (1.0 - self.levels) * (1.0 + 1e-12) + 1e-15
        m = min(n, int(3 * n * (1.0 - self.levels.min())) + 100)
        self.order = self._top(x, m)
        self.all = self.order if m == n else self._top(x, n)
        self.x, self.w = x, w

    @staticmethod
    def _top(x: np.ndarray, m: int) -> np.ndarray:
        """Indices of the ``m`` largest values, largest first (ties: later path first, as
        the stable ascending sort read from the top)."""
        n = x.shape[0]
        idx = np.arange(n) if m == n else np.argpartition(x, n - m)[n - m:]
        return idx[np.lexsort((idx, x[idx]))][::-1]

    def stats(self, counts: np.ndarray) -> np.ndarray:
        """VaR at each level, then ES at each level, of the resample ``counts``."""
        out = self._stats(self.order, counts)
        if out is None:  # the whole top is in the tail: look further down
            out = self._stats(self.all, counts)
        assert out is not None  # (the whole sample always holds the VaR)
        return out

    def _stats(self, order: np.ndarray, counts: np.ndarray) -> np.ndarray | None:
        c = counts[order].astype(np.float64)
        cw = c if self.w is None else c * self.w[order]
        above = np.cumsum(cw) - cw  # weight strictly above each path, top down
        if order is not self.all and (above[-1] + cw[-1]) / self.n <= self.target.max():
            return None  # the whole top is in the tail: look further down
        xs = self.x[order]
        var, es = [], []
        for a, t in zip(self.levels, self.target):
            ok = (above / self.n <= t) & (c > 0)
            last = len(ok) - 1 - int(np.argmax(ok[::-1]))
            v = xs[last]
            var.append(v)
            es.append(v + float(np.dot(cw, np.maximum(xs - v, 0.0))) / self.n / (1.0 - a))
        return np.array(var + es)


class TailErrors(NamedTuple):
    """Bootstrap standard errors of VaR's then ES's at each level: of the difference B - A
    on shared resamples (``paired``), and of each run's own estimate (``a``, ``b``), whose
    ``hypot`` is the unpaired error by the same estimator."""

    paired: np.ndarray
    a: np.ndarray
    b: np.ndarray


def batch_errors(statistic, a, b, weight_a=None, weight_b=None, *,
                 n_batches: int = N_BATCHES) -> TailErrors:
    """Standard errors of ``statistic(b, w_b) - statistic(a, w_a)`` (``paired``) and of each
    run's own ``statistic`` (``a``, ``b``) by batch means: the paths split into
    ``n_batches`` consecutive batches, the statistic estimated on each, ``se = sd(batch
    estimates) / sqrt(n_batches)`` (Notes). Identical runs give a paired error of exactly 0.

    Notes
    -----
    An estimator whose variance falls as ``1/n`` has on a batch of ``n / B`` paths ``B`` times
    the variance of the whole sample's, so the spread of ``B`` independent batch estimates,
    divided by ``sqrt(B)``, estimates the whole sample's error. Consecutive path batches are
    independent (every path has its own random streams).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    same = np.array_equal(a, b) and _same_weights(weight_a, weight_b)
    edges = np.linspace(0, a.shape[0], n_batches + 1).astype(np.int64)
    sa, sb = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        wa = None if weight_a is None else weight_a[lo:hi]
        wb = None if weight_b is None else weight_b[lo:hi]
        sa.append(np.asarray(statistic(a[lo:hi], wa), dtype=np.float64))
        sb.append(sa[-1] if same else np.asarray(statistic(b[lo:hi], wb), dtype=np.float64))
    sa_, sb_ = np.array(sa), np.array(sb)
    root = np.sqrt(n_batches)
    return TailErrors(np.std(sb_ - sa_, axis=0, ddof=1) / root,
                      np.std(sa_, axis=0, ddof=1) / root, np.std(sb_, axis=0, ddof=1) / root)


def paired_tail_stderrs(entries, levels, *, n_resamples: int = N_RESAMPLES,
                        seed: int = 0) -> list[TailErrors]:
    """Paired bootstrap standard errors of ``VaR_B - VaR_A`` and ``ES_B - ES_A`` at
    ``levels`` (VaR's then ES's) of several entries ``(a, b, weight_a, weight_b)`` of two
    runs on the same paths: each resample draws path indices once (``seed``) and every
    entry takes both runs' values and weights at them, so what the runs share (common
    random numbers) cancels. ``se = sd(resampled differences, ddof=1)``, the bootstrap's
    standard error (the resamples are ``scipy.stats.bootstrap``'s with ``paired=True`` and
    ``rng=np.random.default_rng(seed)``). An entry whose runs are identical gets exactly
    0."""
    levels = list(levels)
    tails = []
    for a, b, wa, wb in entries:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        ta = _ResampledTail(a, wa, levels)
        same = np.array_equal(a, b) and _same_weights(wa, wb)
        tails.append((ta, ta if same else _ResampledTail(b, wb, levels)))
    stats = np.empty((len(entries), 2, n_resamples, 2 * len(levels)))
    n = tails[0][0].n
    rng = np.random.default_rng(seed)
    for r in range(n_resamples):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        for k, (ta, tb) in enumerate(tails):
            stats[k, 0, r] = ta.stats(counts)
            stats[k, 1, r] = stats[k, 0, r] if tb is ta else tb.stats(counts)
    return [TailErrors(np.std(s[1] - s[0], axis=0, ddof=1), np.std(s[0], axis=0, ddof=1),
                       np.std(s[1], axis=0, ddof=1)) for s in stats]


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
    ES's) of two runs' per-path losses on the same paths, and the method's name:
    :func:`paired_tail_stderrs` of this one entry."""
    errors, method = paired_tail_stderrs_of([(a, b, weight_a, weight_b)], levels,
                                            bootstrap_max_paths=bootstrap_max_paths)[0]
    return errors.paired, method


def paired_tail_stderrs_of(entries, levels, *,
                           bootstrap_max_paths: int = BOOTSTRAP_MAX_PATHS):
    """``[(TailErrors, method), ...]`` of several entries ``(a, b, weight_a, weight_b)`` on the
    same paths: the bootstrap (:func:`paired_tail_stderrs`, one set of resamples for all)
    up to ``bootstrap_max_paths`` paths, batch means above (their batches hold too few
    tail paths for 0.999 below about 400,000 paths). A level with fewer than
    ``MIN_TAIL_PATHS`` paths beyond its VaR (in a batch, for batch means) gets NaN: no
    paired error is meaningful there. Identical runs give exactly 0."""
    levels = list(levels)
    n = np.asarray(entries[0][0]).shape[0]
    if n <= bootstrap_max_paths:
        errors, method, per = paired_tail_stderrs(entries, levels), "bootstrap", n
    else:
        statistic = lambda x, w: _tail_estimates(levels, x, w)
        errors = [batch_errors(statistic, *e) for e in entries]
        method, per = "batch means", n // N_BATCHES
    thin = np.array([per * (1.0 - lv) < MIN_TAIL_PATHS for lv in levels] * 2)
    out = []
    for (a, b, wa, wb), e in zip(entries, errors):
        if not (np.array_equal(a, b) and _same_weights(wa, wb)):
            e = TailErrors(*(np.where(thin, np.nan, x) for x in e))
        out.append((e, method))
    return out


def compare(run_a: str | Path, run_b: str | Path) -> pd.DataFrame:
    """The summary rows of both runs side by side with ``difference`` and its ``stderr``;
    ``paired`` says whether the error is paired (common random numbers) and ``method`` how
    it was computed (``per-path``, ``bootstrap``, ``batch means``, or ``unpaired``);
    ``attrs["results_versions"]`` is ``{"A": ..., "B": ...}``, each run's results
    version."""
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
    frame = both[["scenario", *KEYS, "value_a", "value_b", "difference", "stderr", "paired",
                  "method"]]
    frame.attrs["results_versions"] = {"A": of_manifest(a.manifest),
                                       "B": of_manifest(b.manifest)}
    return frame


def same_paths(manifest_a: dict, manifest_b: dict) -> bool:
    """Whether two runs drew the same random numbers path by path (same seed, paths and
    results version)."""
    return (manifest_a["seed"] == manifest_b["seed"]
            and manifest_a["paths"] == manifest_b["paths"]
            and of_manifest(manifest_a) == of_manifest(manifest_b))


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

"""Risk contributions: the Euler allocation of EL, VaR and ES of Japan's total credit loss
(``ALL``) to exposures, obligors, sectors and institutions (docs/model.md "Risk
contributions").

Every draw is keyed by its path, so a second pass replays just the paths the tail
estimators use and records each exposure's credit loss there, a few thousand paths at a
time: nothing of size paths x exposures is ever held. The replay values only the rows
that default (the kernel's ``credit_only`` mode: a survivor loses nothing).

- ``ES_a`` is ``sum_j a_j L_j`` with ``a_j = w_j / ((1 - a) n)`` for ``L_j > VaR`` and
  the rest of the unit mass shared by the paths at VaR in proportion to ``w_j``
  (Acerbi-Tasche); an exposure's contribution is ``sum_j a_j L_ij``. They sum to ES.
- ``VaR_a``'s contribution is ``E[L_i | L = VaR]`` estimated with an Epanechnikov kernel
  over the ``k`` paths nearest VaR (``k = (1 - a) n / 2``, between 20 and 5,000), rescaled by ``VaR / E_K[L]`` so the contributions sum to VaR (Tasche 2009,
  Glasserman 2005 on kernel estimators of VaR contributions).
- ``EL``'s is the exposure's mean credit loss, from the main pass's accumulators.

Standard errors: ES from the sample variance of each group's influence terms
``n a_j (L_gj - c_g)``, centred at the group's VaR contribution ``c_g`` (for the total,
the summary's ES error); VaR by the delta method on the kernel ratio (VaR taken as known); EL by
batch means over the blocks of 1,024 paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import sparse
from threadpoolctl import threadpool_limits

from .codes import INSTITUTIONS
from .measures import LossSample
from .results import index_stats

#: paths replayed per kernel call (bounds memory: this many x exposures floats)
REPLAY_CHUNK = 4096
GROUPS = ("exposure", "obligor", "sector", "institution")


@dataclass(frozen=True)
class TailWeights:
    """Per level, the paths an estimator uses and their weights (sparse)."""

    level: float
    var: float
    es_paths: np.ndarray  # int64
    es_weight: np.ndarray  # a_j
    var_paths: np.ndarray
    var_weight: np.ndarray  # kernel weights, unnormalised


def tail_weights(loss: np.ndarray, weight: np.ndarray | None, level: float) -> TailWeights:
    """The ES and VaR-kernel weights of one level (module docstring)."""
    n = loss.shape[0]
    w = np.ones(n) if weight is None else weight
    sample = LossSample(loss, weight)
    v = sample.var_value(level)
    above = np.flatnonzero(loss > v)
    a_above = w[above] / ((1.0 - level) * n)
    rest = 1.0 - a_above.sum()
    at = np.flatnonzero(loss == v) if v > 0 else np.zeros(0, dtype=np.int64)
    a_at = rest * w[at] / w[at].sum() if len(at) and rest > 0 else np.zeros(len(at))
    es_paths = np.concatenate([above, at])
    es_weight = np.concatenate([a_above, a_at])
    # VaR: the k paths nearest VaR, Epanechnikov weights on their distance
    k = int(np.clip(round(0.5 * (1.0 - level) * n), 20, 5000))
    k = min(k, n)
    near = np.argpartition(np.abs(loss - v), k - 1)[:k]
    h = np.abs(loss[near] - v).max() * 1.0001 or 1.0
    kern = 0.75 * (1.0 - ((loss[near] - v) / h) ** 2) * w[near]
    keep = kern > 0
    return TailWeights(level, v, es_paths, es_weight, near[keep], kern[keep])


def membership(model) -> dict:
    """For each grouping, its keys and the sparse (P', G) 0/1 matrix of the kernels'
    rows (sparse: the exposure and obligor groupings have about as many keys as rows)."""
    dep = model.deployment
    table = model.portfolio.table
    parent = dep.parent
    out = {}
    for group, column in (("exposure", "project_id"), ("obligor", "obligor"),
                          ("sector", "sector"), ("institution", "institution")):
        values = np.asarray(table[column]).astype(str)[parent]
        keys = sorted(set(values)) if group != "institution" else list(INSTITUTIONS)
        index = {k: i for i, k in enumerate(keys)}
        codes = np.array([index[v] for v in values], dtype=np.int64)
        m = sparse.csr_matrix((np.ones(len(parent)), (np.arange(len(parent)), codes)),
                              shape=(len(parent), len(keys)))
        out[group] = (keys, m)
    return out


def _sparse_rows(rows: np.ndarray) -> sparse.csr_matrix:
    """``sparse.csr_matrix(rows)`` of a replayed chunk (a row's entries are its defaults'
    losses, few of its thousands): the same matrix, entries in row order and zeros left
    out, from one pass over a boolean mask (SciPy's own scans the floats twice)."""
    nonzero = rows != 0.0
    indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(nonzero.sum(axis=1), out=indptr[1:])
    flat = np.flatnonzero(nonzero)
    return sparse.csr_matrix((rows.ravel()[flat], flat % rows.shape[1], indptr),
                             shape=rows.shape)


def _replay_tail(paths, es_w, var_w, replay, main_credit, groups, acc, a2_total, k_total,
                 kk_total):
    """Replay the tail's paths a chunk at a time and add their weighted losses by group
    to ``acc`` and the totals (in place)."""
    for start in range(0, len(paths), REPLAY_CHUNK):
        chunk = slice(start, start + REPLAY_CHUNK)
        ids = paths[chunk]
        rows, credit = replay(ids)
        if not np.array_equal(credit, main_credit[ids]):
            raise AssertionError("the replay did not reproduce the main pass's losses")
        total = rows.sum(axis=1)
        a, kw = es_w[:, chunk], var_w[:, chunk]  # (levels, chunk)
        a2, k2 = a * a, kw * kw
        a2_total += a2.sum(axis=1)
        k_total += kw @ total
        kk_total += k2 @ (total * total)
        # a path's row holds only its defaults' losses: sparse, the groupings' sums are
        # sums over those alone (in row order, so the same sums as the dense product)
        defaults = _sparse_rows(rows)
        del rows
        for g, (_, m) in groups.items():
            # (chunk, G), once per grouping; column-major, as the products below have
            # always read it (BLAS sums in another order on the other layout)
            by = np.asfortranarray((defaults @ m).toarray())
            acc[g]["es"] += a @ by
            acc[g]["es2"] += a2 @ (by * by)
            acc[g]["es_a2"] += a2 @ by
            acc[g]["k"] += kw @ by
            acc[g]["kk"] += k2 @ (by * by)
            acc[g]["kkl"] += (k2 * total) @ by


def compute(model, inputs, loss: np.ndarray, weight: np.ndarray | None,
            block_credit: np.ndarray, replay, main_credit: np.ndarray) -> xr.Dataset:
    """The contributions Dataset: dims (stat, entry); ``measure`` and ``level`` label the
    stats, ``group`` and ``key`` the entries (every key of every grouping).

    Parameters
    ----------
    inputs : KernelInputs
        The bundles the main pass ran with (its sampler, under importance sampling).
    loss, weight : (n,)
        The main pass's ALL credit loss and weights.
    block_credit : (B, P')
        The main pass's per-block weighted credit loss by row (EL and its batch means).
    replay : callable
        ``replay(path_ids) -> (exposure_credit (m, P'), credit_loss (m, I))``.
    main_credit : (n, I)
        The main pass's credit loss per institution (the replay must reproduce it).
    """
    n = loss.shape[0]
    levels = model.config.measures.levels
    groups = membership(model)
    tails = [tail_weights(loss, weight, a) for a in levels]
    paths = np.unique(np.concatenate([np.concatenate([t.es_paths, t.var_paths]) for t in tails]))
    # accumulators per grouping: ES sums and squares, VaR kernel sums and cross terms
    acc = {g: {"es": np.zeros((len(levels), len(keys))), "es2": np.zeros((len(levels), len(keys))),
               "es_a2": np.zeros((len(levels), len(keys))),
               "k": np.zeros((len(levels), len(keys))), "kk": np.zeros((len(levels), len(keys))),
               "kkl": np.zeros((len(levels), len(keys)))}
           for g, (keys, _) in groups.items()}
    a2_total = np.zeros(len(levels))
    k_total = np.zeros(len(levels))
    kk_total = np.zeros(len(levels))
    # each level's weights on the replayed paths (zero where a path is not used)
    es_w = np.zeros((len(levels), len(paths)))
    var_w = np.zeros((len(levels), len(paths)))
    for li, t in enumerate(tails):
        es_w[li, np.searchsorted(paths, t.es_paths)] = t.es_weight
        var_w[li, np.searchsorted(paths, t.var_paths)] = t.var_weight
    # the replay's products are small ((levels, chunk) by (chunk, keys)): BLAS on one thread.
    # Its worker threads would otherwise spin between calls on the cores the replay
    # kernel's threads need (4.7 s -> 1.3 s for 200,000 paths of the shipped program on
    # 2 cores); the sums are the same (checked bit for bit)
    with threadpool_limits(limits=1, user_api="blas"):
        _replay_tail(paths, es_w, var_w, replay, main_credit, groups, acc,
                     a2_total, k_total, kk_total)
    stat_measure: list[str] = []
    stat_level: list[float] = []
    key_group: list[str] = []
    key_name: list[str] = []
    for g, (keys, _) in groups.items():
        key_group += [g] * len(keys)
        key_name += keys
    n_keys = len(key_name)
    stats = [("EL", np.nan)] + [("VaR", a) for a in levels] + [("ES", a) for a in levels]
    value = np.zeros((len(stats), n_keys))
    stderr = np.full((len(stats), n_keys), np.nan)
    n_blocks = block_credit.shape[0]
    col = 0
    for g, (keys, m) in groups.items():
        cols = slice(col, col + len(keys))
        blocks = np.asarray((m.T @ block_credit.T).T)  # (B, G) weighted block sums
        value[0, cols] = blocks.sum(axis=0) / n
        if n_blocks > 1:
            sizes = np.full(n_blocks, 1024.0)
            sizes[-1] = n - 1024 * (n_blocks - 1)
            means = blocks / sizes[:, None]
            el = value[0, cols]
            var = ((sizes[:, None] * (means - el) ** 2).sum(axis=0) / (n_blocks - 1)) / n
            stderr[0, cols] = np.sqrt(var)
        for li, t in enumerate(tails):
            # VaR: v * E_K[L_g] / E_K[L]
            ratio = acc[g]["k"][li] / k_total[li] if k_total[li] > 0 else np.zeros(len(keys))
            value[1 + li, cols] = t.var * ratio
            if k_total[li] > 0:
                num = acc[g]["kk"][li] - 2 * ratio * acc[g]["kkl"][li] + ratio**2 * kk_total[li]
                stderr[1 + li, cols] = t.var * np.sqrt(np.maximum(num, 0.0)) / k_total[li]
            # ES: sum_j a_j L_gj. Its influence terms are centred at the group's VaR
            # contribution c_g (VaR estimated, not known): y_j = n a_j (L_gj - c_g), of
            # mean ES_g - c_g; for the total this is the summary's ES error
            es = acc[g]["es"][li]
            c = value[1 + li, cols]
            value[1 + len(levels) + li, cols] = es
            second = n * (acc[g]["es2"][li] - 2 * c * acc[g]["es_a2"][li]
                          + c * c * a2_total[li])  # (1/n) sum y_j^2
            stderr[1 + len(levels) + li, cols] = np.sqrt(
                np.maximum(second - (es - c) ** 2, 0.0) / (n - 1))
        col += len(keys)
    for measure, level in stats:
        stat_measure.append(measure)
        stat_level.append(level)
    return index_stats(xr.Dataset(
        {"value": (("stat", "entry"), value,
                   {"units": "USD", "long_name": "Euler contribution to ALL's credit loss measure"}),
         "stderr": (("stat", "entry"), stderr, {"units": "USD"})},
        coords={"measure": ("stat", stat_measure), "level": ("stat", np.array(stat_level)),
                "group": ("entry", key_group), "key": ("entry", key_name)},
        attrs={"variable": "credit_loss", "institution": "ALL",
               "method": "ES: Acerbi-Tasche tail weights; VaR: Epanechnikov kernel on the "
                         "paths nearest VaR, rescaled to VaR; EL: mean (docs/model.md)",
               "replayed_paths": int(len(paths))}))

"""Parameter uncertainty (``[[uncertainty]]``): judgement inputs drawn from a distribution,
one parameter set per batch of paths, and how much of the tail that uncertainty carries.

A run with ``[[uncertainty]]`` splits its global paths ``0 .. paths - 1`` into
``simulation.parameter_batches`` contiguous batches (edges on whole blocks of 1,024 paths)
and runs batch ``b`` with parameter set ``b``, on the same path-keyed draws a plain run
uses: the run's outputs are then the *predictive* distribution (the loss mixed over the
parameters' distribution). The *conditional* one runs the same paths at the point values
(common random numbers), and the summary gains, for every institution and loss variable,

- ``EL_conditional``, ``SD_conditional``, ``VaR_conditional``, ``ES_conditional``: the
  measures at the point values;
- ``parameter_uncertainty`` at level NaN: the share of the loss variance that comes from
  the parameters, ``Var(E[L | theta]) / Var(L)`` (law of total variance), the between-batch
  variance of the batch means with their Monte Carlo noise taken out;
- ``parameter_uncertainty`` at each level ``a``: ``(ES_a - ES_a conditional) / ES_a``.

Their standard errors are jackknife errors over the batches (each batch left out in
turn), which count both the paths' noise and the finite number of parameter sets.

The parameter sets are keyed by the seed alone (never by the chunking, the threads or
the backend): entry ``i`` of batch ``b`` takes the uniform ``u = (pi_i(b) + v_ib) / B``,
``pi_i`` a permutation of the ``B`` batches drawn from NumPy's generator keyed by
``(seed, STREAM_UNCERTAINTY, i)`` and ``v_ib`` from the generator keyed by ``(seed,
STREAM_UNCERTAINTY, i, b)``: a Latin hypercube over the batches, so ``B`` sets cover every
distribution's quantiles evenly (a two-point ``choice`` at 50/50 falls on exactly half the
batches when ``B`` is even). A Dirichlet's gammas come from the generator of ``(seed,
STREAM_UNCERTAINTY, i, b)``. The stream key is new: no existing draw moves.
"""

from __future__ import annotations

import dataclasses
from statistics import NormalDist

import numpy as np
import xarray as xr
from scipy import special

from .buffers import BLOCK
from .config import Config, Uncertainty
from .errors import ConfigError
from .kernel_inputs import Model, ParameterBatches, build_model
from .keys import Change, apply_changes, key_form_error
from .measures import Estimate, measure_table
from .portfolio import Portfolio
from .results import SUMMARY_INSTITUTIONS

#: NumPy's key of the parameter draws (beside the kernels' streams 1-15, which are keyed
#: differently and so never meet it): "UNC"
STREAM_UNCERTAINTY = 0x554E43
#: parameter sets of a run with [[uncertainty]] when simulation.parameter_batches is empty
DEFAULT_BATCHES = 20
#: the conditional measures beside the predictive ones (the summary's measure names)
CONDITIONAL = "_conditional"
SHARE = "parameter_uncertainty"


def n_batches(config: Config) -> int:
    """The run's parameter sets: ``simulation.parameter_batches``, or 20 (one per block of
    1,024 paths when there are fewer blocks); 1 without [[uncertainty]].

    Raises
    ------
    ConfigError
        More batches than blocks of 1,024 paths.
    """
    sim = config.simulation
    if not config.uncertainty:
        return 1
    blocks = -(-sim.paths // BLOCK)
    if sim.parameter_batches is None:
        return min(DEFAULT_BATCHES, blocks)
    if sim.parameter_batches > blocks:
        raise ConfigError(f"simulation.parameter_batches = {sim.parameter_batches} needs "
                          f"{sim.parameter_batches * BLOCK:,} paths at least (a batch is "
                          f"whole blocks of {BLOCK:,} paths); the run has {sim.paths:,}")
    return sim.parameter_batches


def batch_edges(paths: int, batches: int) -> np.ndarray:
    """``(B + 1,)`` int64: batch ``b`` is global paths ``edges[b] .. edges[b + 1] - 1``,
    each starting on a whole block."""
    blocks = -(-paths // BLOCK)
    edges = np.array([b * blocks // batches * BLOCK for b in range(batches)] + [paths],
                     dtype=np.int64)
    return edges


def _generator(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in key])


def stratified_uniforms(seed: int, batches: int, entries: int) -> np.ndarray:
    """``(B, entries)`` uniforms in (0, 1), a Latin hypercube over the batches (module
    notes)."""
    u = np.empty((batches, entries))
    for i in range(entries):
        perm = _generator(seed, STREAM_UNCERTAINTY, i).permutation(batches)
        for b in range(batches):
            v = _generator(seed, STREAM_UNCERTAINTY, i, b).random()
            u[b, i] = (perm[b] + v) / batches
    return np.clip(u, 1e-300, np.nextafter(1.0, 0.0))


def quantile(entry: Uncertainty, u: float) -> float:
    """The draw of a one-dimensional distribution at uniform ``u`` (inverse CDF)."""
    d = entry.distribution
    if d == "lognormal":
        sd = float(entry.sd)  # type: ignore[arg-type]
        return 1.0 if sd == 0.0 else float(np.exp(sd * NormalDist().inv_cdf(u) - sd * sd / 2))
    if d == "normal":
        sd = float(entry.sd)  # type: ignore[arg-type]
        return float(entry.mean) if sd == 0.0 else (  # type: ignore[arg-type]
            float(entry.mean) + sd * NormalDist().inv_cdf(u))  # type: ignore[arg-type]
    if d == "beta":
        return float(special.betaincinv(entry.a, entry.b, u))
    if d == "uniform":
        lo, hi = float(entry.low), float(entry.high)  # type: ignore[arg-type]
        return lo if hi == lo else lo + (hi - lo) * u
    if d == "choice":
        values, probs = entry.values or (), entry.probabilities or ()
        k = int(np.searchsorted(np.cumsum(probs), u, side="right"))
        return float(values[min(k, len(values) - 1)])
    raise ValueError(f"no quantile for {d!r}")


def dirichlet(entry: Uncertainty, config: Config, seed: int, i: int, b: int) -> np.ndarray:
    """The regime probabilities of batch ``b``: Dirichlet with ``alpha_r = concentration *
    p_r`` (mean the config's ``p_r``; a regime of probability 0 stays at 0)."""
    p = np.array([r.probability for r in config.regimes])
    g = np.zeros(len(p))
    live = p > 0
    g[live] = _generator(seed, STREAM_UNCERTAINTY, i, b).gamma(
        float(entry.concentration) * p[live])  # type: ignore[arg-type]
    return g / g.sum()


def parameter_values(config: Config, batches: int) -> list[list[Change]]:
    """Each batch's changes (one per [[uncertainty]] entry; a Dirichlet's one per regime)."""
    seed = config.simulation.seed
    entries = config.uncertainty
    u = stratified_uniforms(seed, batches, len(entries))
    out = []
    for b in range(batches):
        changes = []
        for i, e in enumerate(entries):
            if e.distribution == "dirichlet":
                p = dirichlet(e, config, seed, i, b)
                changes += [Change(f"regimes[name={r.name}].probability", "value", float(x))
                            for r, x in zip(config.regimes, p)]
            else:
                changes.append(Change(e.key, e.how or "value", quantile(e, u[b, i])))
        out.append(changes)
    return out


def _check_entries(config: Config, portfolio: Portfolio, first: list[Change]) -> None:
    """Each entry's key, alone at batch 0's draw: an error names the entry."""
    for e in config.uncertainty:
        where = f"uncertainty {e.name!r}"
        if e.distribution != "dirichlet":
            why = key_form_error(e.key)
            if why:
                raise ConfigError(f"{where}: {why}")
            mine = [c for c in first if c.key == e.key][:1]
            apply_changes(config, portfolio, mine, where, f"[[uncertainty]] {e.name!r}")


def with_parameter_batches(model: Model) -> Model:
    """``model`` (the point values) with its run's parameter sets built and checked, one
    model each (nothing is simulated); ``model`` itself without [[uncertainty]]."""
    config, portfolio = model.config, model.portfolio
    if not config.uncertainty:
        return model
    batches = n_batches(config)
    sets = parameter_values(config, batches)
    _check_entries(config, portfolio, sets[0])
    inputs = {}
    for b, changes in enumerate(sets):
        label = f"parameter set {b} of [[uncertainty]]"
        cfg, pf = apply_changes(config, portfolio, changes, f"uncertainty, {label}", label)
        built = build_model(cfg, pf, model.scenario)
        if not np.array_equal(built.deployment.parent, model.deployment.parent):
            raise ConfigError(f"uncertainty, {label}: the draws change which rows the "
                              "program expands (a selection_prob or decline_prob moved "
                              "from or to its certain value): not supported")
        inputs[b] = _shared(model.inputs, built.inputs, f"uncertainty, {label}")
    values = np.array([[c.value for c in changes] for changes in sets])
    keys = [c.key for c in sets[0]]
    names = [e.name for e in config.uncertainty for _ in
             (config.regimes if e.distribution == "dirichlet" else (None,))]
    table = xr.Dataset(
        {"value": (("batch", "change"), values,
                   {"long_name": "the batch's value of the key (how: value) or its factor "
                                 "(how: scale)"})},
        coords={"batch": np.arange(batches, dtype=np.int64),
                "first_path": ("batch", batch_edges(config.simulation.paths, batches)[:-1]),
                "end_path": ("batch", batch_edges(config.simulation.paths, batches)[1:]),
                "change": np.arange(len(keys), dtype=np.int64),
                "name": ("change", names), "key": ("change", keys),
                "how": ("change", [c.how for c in sets[0]])})
    return dataclasses.replace(model, batches=ParameterBatches(
        edges=batch_edges(config.simulation.paths, batches), inputs=inputs, table=table))


def _shared(point, other, where: str, field: str = "inputs"):
    """``other`` (a bundle of arrays) with every array equal to the point model's replaced
    by the point model's own (a parameter set that moves a few inputs holds only those);
    refuses a set whose arrays differ in shape or dtype (the kernels' types)."""
    if isinstance(point, tuple) and hasattr(point, "_fields"):
        return type(point)(*(_shared(p, o, where, f"{field}.{name}")
                             for name, p, o in zip(point._fields, point, other)))
    if isinstance(point, np.ndarray):
        if point.shape != other.shape or point.dtype != other.dtype:
            raise ConfigError(f"{where}: the draws change the shape of the model's {field} "
                              f"({point.shape} -> {other.shape}): not supported")
        return point if np.array_equal(point, other, equal_nan=True) else other
    return other


def point_model(model: Model) -> Model:
    """The model at the point values (no parameter batches)."""
    return dataclasses.replace(model, batches=None)


# ---- what the parameters carry -----------------------------------------------------------

def _variance_share(x: np.ndarray, edges: np.ndarray, keep: np.ndarray) -> float:
    """Var(E[L | theta]) / Var(L) from the batches ``keep``: the weighted between-batch
    variance of the batch means less its expected Monte Carlo part, unbiased for unequal
    batches, ``(sum w_b (m_b - m)^2 - sum w_b (1 - w_b) s_b^2 / n_b) / (1 - sum w_b^2)``."""
    n_b = np.diff(edges)[keep].astype(float)
    sums = np.add.reduceat(x, edges[:-1])[keep]
    sq = np.add.reduceat(x * x, edges[:-1])[keep]
    n = n_b.sum()
    w = n_b / n
    m_b = sums / n_b
    m = sums.sum() / n
    s2 = np.maximum(sq / n_b - m_b * m_b, 0.0) * n_b / np.maximum(n_b - 1, 1)
    total = max(sq.sum() / n - m * m, 0.0)
    if total <= 0 or len(n_b) < 2:
        return 0.0 if total <= 0 else np.nan
    between = (np.sum(w * (m_b - m) ** 2) - np.sum(w * (1 - w) * s2 / n_b)) / (1 - np.sum(w * w))
    return float(between / total)


def _es_sorted(xs: np.ndarray, levels) -> np.ndarray:
    """ES of a sorted sample at each level: VaR (inverted CDF) plus the mean excess over
    it over ``1 - a``."""
    m = len(xs)
    out = np.empty(len(levels))
    for j, a in enumerate(levels):
        k = min(max(int(np.ceil(m * a - 1e-9)) - 1, 0), m - 1)
        v = xs[k]
        out[j] = v + (xs[k + 1:] - v).sum() / (m * (1 - a))
    return out


def _jackknife(full: np.ndarray, leave_out: list[np.ndarray]) -> np.ndarray:
    """Jackknife standard errors of estimates from their leave-one-batch-out values."""
    loo = np.array(leave_out)
    b = len(loo)
    if b < 2:
        return np.full_like(full, np.nan)
    return np.sqrt((b - 1) / b * np.sum((loo - loo.mean(axis=0)) ** 2, axis=0))


def share_rows(pred: np.ndarray, cond: np.ndarray, edges: np.ndarray,
               levels) -> list[tuple[str, float, Estimate]]:
    """The ``parameter_uncertainty`` rows of one loss variable: the variance share (level
    NaN) and the ES share at each level, each with its jackknife error over batches."""
    pred = np.asarray(pred, dtype=np.float64)
    cond = np.asarray(cond, dtype=np.float64)
    batches = len(edges) - 1
    every = np.ones(batches, dtype=bool)
    order_p, order_c = np.argsort(pred, kind="stable"), np.argsort(cond, kind="stable")
    batch = np.repeat(np.arange(batches), np.diff(edges))
    bp, bc = batch[order_p], batch[order_c]
    sp, sc = pred[order_p], cond[order_c]

    def shares(drop: int | None) -> np.ndarray:
        keep = every.copy()
        if drop is not None:
            keep[drop] = False
        var = _variance_share(pred, edges, keep)
        xp = sp if drop is None else sp[bp != drop]
        xc = sc if drop is None else sc[bc != drop]
        es_p, es_c = _es_sorted(xp, levels), _es_sorted(xc, levels)
        with np.errstate(divide="ignore", invalid="ignore"):
            es = np.where(es_p > 0, (es_p - es_c) / es_p, np.nan)
        return np.r_[var, es]

    full = shares(None)
    se = _jackknife(full, [shares(b) for b in range(batches)])
    full[0] = min(max(full[0], 0.0), 1.0)  # (an estimate below 0 or above 1: the bound)
    labels = [np.nan, *levels]
    return [(SHARE, float(lv), Estimate(float(v), float(e), float(v - 1.959963984540054 * e),
                                        float(v + 1.959963984540054 * e)))
            for lv, v, e in zip(labels, full, se)]


def uncertainty_rows(predictive, conditional, edges: np.ndarray,
                     levels) -> dict[tuple[str, str], list[tuple[str, float, Estimate]]]:
    """The summary's extra rows of each (institution, loss variable): the conditional
    measures (``EL_conditional``, ...) and the ``parameter_uncertainty`` shares
    (:func:`share_rows`). ``predictive`` and ``conditional`` are
    :class:`~riskengine.results.Result` s of the same paths."""
    out = {}
    for var in predictive.loss_variables:
        for inst in SUMMARY_INSTITUTIONS:
            pred, cond = predictive.loss(var, inst), conditional.loss(var, inst)
            rows = [(m + CONDITIONAL, lv, est) for m, lv, est in measure_table(cond, None, levels)]
            out[inst, var] = rows + share_rows(pred, cond, edges, levels)
    return out


def batch_means(predictive, edges: np.ndarray) -> xr.Dataset:
    """EL of each batch (its parameter set) for every institution and loss variable."""
    variables = list(predictive.loss_variables)
    means = np.empty((len(edges) - 1, len(SUMMARY_INSTITUTIONS), len(variables)))
    for j, var in enumerate(variables):
        for i, inst in enumerate(SUMMARY_INSTITUTIONS):
            x = predictive.loss(var, inst)
            means[:, i, j] = np.add.reduceat(x, edges[:-1]) / np.diff(edges)
    return xr.Dataset({"batch_el": (("batch", "institution", "variable"), means,
                                    {"long_name": "mean loss of the batch's paths (EL given "
                                                  "its parameter set)"})},
                      coords={"institution": list(SUMMARY_INSTITUTIONS), "variable": variables})


def describe(model: Model) -> dict:
    """What the manifest records of the parameter sets."""
    pb = model.batches
    if pb is None:
        return {}
    cfg = model.config
    return {"parameter_batches": len(pb.edges) - 1, "edges": pb.edges.tolist(),
            "entries": [e.name for e in cfg.uncertainty],
            "stream_key": STREAM_UNCERTAINTY}


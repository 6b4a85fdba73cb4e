"""Importance sampling for the tail (Glasserman and Li 2005, "Importance Sampling for
Portfolio Credit Risk", Management Science 51(11)).

Changes of measure, all undone exactly by the likelihood ratio each path carries as its
weight (with the defensive mixture and the regimes' tilt, see docs/model.md):

1. **Mean shift** of the independent factor normals ``z -> z + mu``: ratio
   ``exp(-mu.z + |mu|^2 / 2)``. For a book of independent exposures ``mu`` points along
   the gradient of the conditional expected loss at ``z = 0`` and is scaled so that the
   conditional expected loss at ``mu`` equals the target ``x`` (a tractable stand-in for
   Glasserman and Li's mode of the optimal factor density). Where obligors have several
   rows or the program changes the portfolio by path, each regime's ``mu`` is fitted to
   the pilot's own tail instead (:func:`tail_fit`, cross-entropy).
2. **Exponential twisting**, given the factors, of default probabilities by the horizon,
   ``q = p e^{theta c} / (1 + p (e^{theta c} - 1))``. For a book of independent exposures
   per exposure, with ``c = commitment * coverage * lgd`` and ``theta`` solving
   ``E_q[sum c D] = x`` (zero when the conditional mean already exceeds ``x``): ratio
   ``exp(-theta sum c D + psi(theta))``. Otherwise per obligor (its rows share one
   default uniform), on the rows live on the path, with a fixed ``theta`` from the pilot
   (:func:`tail_fit`; ``_kernels.twist.twist_obligors``). A defaulting exposure's
   quarter is drawn from its untwisted conditional curve.

The target ``x`` is the ``target_level`` VaR of the total credit loss in a plain pilot run
(independent seed). Every estimator in :mod:`riskengine.measures` takes the weights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import special

from . import instruments
from ._kernels.rng import stream_key
from .measures import LossSample

log = logging.getLogger("riskengine")


def twist_classes(pf, groups_of_exposure, n_groups, presence=None):
    """Classes of exposures sharing default group and loss per default ``c``.

    ``presence`` (P,): each row's probability of being funded on a path (the program's
    conditional rows, :mod:`riskengine.deployment`; None: every row always), so a class's
    size is its expected number of funded members.

    Returns ``(exposure_class (P,), class_group (C,), class_loss (C,), class_size (C,))``.
    """
    cov = instruments.share(pf.instrument_index, pf.col("coverage"))
    c = pf.col("commitment_usd") * cov * pf.col("lgd")
    keys: dict = {}
    exposure_class = np.array([keys.setdefault((int(g), float(ci)), len(keys))
                               for g, ci in zip(groups_of_exposure, c)], dtype=np.int64)
    cls = np.array(list(keys.keys()), dtype=float).reshape(-1, 2)
    if presence is None:
        class_size = np.bincount(exposure_class, minlength=len(keys)).astype(float)
    else:
        class_size = np.bincount(exposure_class, weights=presence, minlength=len(keys))
    return (exposure_class, cls[:, 0].astype(np.int64), np.ascontiguousarray(cls[:, 1]),
            class_size)


def obligor_row_loss(pf, balance):
    """Each row's loss per default in the obligor twist (P,): ``lgd`` times its share
    (a guarantee's coverage) times its mean balance over the steps from approval to the
    horizon (the exposure at default of a default at a uniformly drawn step; a loan or
    guarantee that matures inside the horizon has less at risk than its commitment).
    ``balance`` (P, Q) from :mod:`riskengine.schedules` (equity: capital contributed)."""
    share = instruments.share(pf.instrument_index, pf.col("coverage"))
    approval = pf.col("approval_quarter").astype(np.int64)
    n_q = balance.shape[1]
    at_risk = np.arange(n_q)[None, :] >= approval[:, None]
    steps = np.maximum(at_risk.sum(axis=1), 1)
    mean_balance = np.where(at_risk, balance, 0.0).sum(axis=1) / steps
    return pf.col("lgd") * share * mean_balance


def conditional_el(z, copula, sampler, regime=0):
    """Expected twisting loss ``sum_c n_c c p_c(z)`` given the factor normals ``z`` (K,).

    ``p_c`` is the class's conditional PD by the horizon, vectorised here with SciPy's
    ``ndtr``; the kernels' scalar form is ``_kernels.defaults.cond_pd`` (tested equal).
    """
    s = copula.root @ z
    g = sampler.class_group
    w, sd = copula.group_loading[g], copula.group_idio_sd[g]
    thr = copula.group_threshold[regime, g, copula.group_steps_at_risk[g] - 1]
    ws = w * s[copula.group_sector[g]]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(sd > 0, special.ndtr((thr - ws) / np.where(sd > 0, sd, 1.0)),
                     (ws <= thr).astype(float))
    return float(np.sum(sampler.class_size * sampler.class_loss * p))


def mean_shift(x, copula, sampler, max_norm=12.0, regime=0):
    """The factor mean shift ``mu`` (K,) with conditional expected loss ``x`` (see module),
    under one regime's default curves."""
    k = copula.root.shape[0]

    def el(z):
        return conditional_el(z, copula, sampler, regime)

    if el(np.zeros(k)) >= x:
        return np.zeros(k)
    h = 1e-4
    grad = np.array([(el(h * e) - el(-h * e)) / (2 * h) for e in np.eye(k)])
    norm = np.linalg.norm(grad)
    if norm == 0:
        return np.zeros(k)
    d = grad / norm
    lo, hi = 0.0, max_norm
    if el(hi * d) < x:
        return hi * d
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if el(mid * d) < x:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi) * d


#: share of the model's own regime probabilities in the tilted ones (a floor: every
#: regime keeps at least this share of its probability, so no weight exceeds 1 / share)
REGIME_FLOOR = 0.2
#: the pilot paths the regime tilt counts: those at or beyond the target, at least this many
REGIME_TAIL_PATHS = 50


def regime_tilt(regime_cum, pilot_loss, pilot_regime, x):
    """Regime probabilities aimed at the tail: ``q_r = a p_r + (1 - a) t_r``, ``t_r`` the
    share of regime ``r`` among the pilot's paths at or beyond ``x`` (at least the
    ``REGIME_TAIL_PATHS`` largest), ``a = REGIME_FLOOR``: the regime part of the
    zero-variance density of ``P(L > x)``, kept defensive. Returns ``q``."""
    p = np.diff(regime_cum, prepend=0.0)
    order = np.argsort(pilot_loss, kind="stable")
    n_tail = max(int(np.sum(pilot_loss >= x)), min(REGIME_TAIL_PATHS, len(pilot_loss)))
    tail = np.bincount(pilot_regime[order[-n_tail:]], minlength=len(p)) / n_tail
    return REGIME_FLOOR * p + (1.0 - REGIME_FLOOR) * tail


def regime_sampling(regime_cum, q):
    """What the kernels draw regimes with when they are drawn from ``q`` instead of the
    model's probabilities (cumulative ``regime_cum``): the cumulative ``q`` and each
    regime's likelihood ratio ``p_r / q_r`` (the one place both are computed, for a run's
    own tilt and for scenarios that reuse it)."""
    p = np.diff(regime_cum, prepend=0.0)
    q = np.asarray(q, dtype=np.float64)
    cum = np.minimum(np.cumsum(q), 1.0)
    cum[-1] = 1.0
    ratio = np.divide(p, q, out=np.ones_like(p), where=q > 0)
    return np.ascontiguousarray(cum), np.ascontiguousarray(ratio)


def drawn_factor_normals(paths, seed: int, mean_shift, plain_share: float, regime):
    """The factor normals ``z`` (n, K) global ``paths`` (n,) of an importance-sampled run
    drew, from the run's seed and its manifest's sampler: the model's normals, plus the
    regime's ``mean_shift`` (R, K) on the paths of the mixture's tilted component
    (``_kernels.path_draws.draw_factors``; tested against the runs' weights). Under the
    model they are independent standard normals, whatever the regime: the means' control
    variates use them (:func:`riskengine.results.mean_controls`)."""
    from ._kernels.defaults import factor_normals
    from ._kernels.rng import STREAM_FACTOR, STREAM_IS_MIX
    from ._kernels.twist import plain_component

    paths = np.ascontiguousarray(paths, dtype=np.int64)
    mu = np.asarray(mean_shift, dtype=np.float64)
    z = np.empty((paths.shape[0], mu.shape[1]))
    factor_normals(paths, stream_key(seed, STREAM_FACTOR, 0), z)
    plain = np.empty(paths.shape[0], dtype=np.bool_)
    plain_component(paths, stream_key(seed, STREAM_IS_MIX, 0), float(plain_share), plain)
    return z + np.where(plain[:, None], 0.0, mu[np.asarray(regime, dtype=np.int64)])


def pilot_seed(seed: int) -> int:
    """The pilot's own seed, so its draws are independent of the run's."""
    return int(stream_key(seed, 99, "importance-sampling pilot")) >> 1


#: the pilot's paths the factor shift is fitted to: those at or beyond its loss at this
#: level (100 of the default 20,000 pilot paths)
FIT_LEVEL = 0.995
#: a regime with fewer of them takes the mean over all regimes
FIT_MIN_PATHS = 20
#: the obligor twist's ``theta`` times the pilot's mean loss beyond the target
TWIST_STRENGTH = 1.0
#: the defensive share when the config leaves it unset: the share a book of independent
#: exposures was tuned with, and the measured best of a program's sampler on the shipped
#: program with adverse selection (a program had 0.1 before; docs/model.md, "Importance
#: sampling")
DEFENSIVE_SHARE = 0.3


def tail_fit(pilot_loss, pilot_regime, pilot_z, x, n_regimes):
    """Factor shifts and the obligor twist fitted to a plain pilot's tail.

    Parameters
    ----------
    pilot_loss : (n,) float64
        The pilot's total credit loss by path.
    pilot_regime : (n,) int64
        Its paths' regimes.
    pilot_z : (n, K) float64
        Its paths' factor normals (``_kernels.defaults.factor_normals``).
    x : float
        The target loss (the pilot's ``target_level`` VaR).
    n_regimes : int

    Returns
    -------
    mu : (R, K) float64
        Each regime's mean of ``pilot_z`` over the pilot's paths in the regime at or beyond
        its ``FIT_LEVEL`` loss (over all of them where the regime has fewer than
        ``FIT_MIN_PATHS``).
    theta : float
        ``TWIST_STRENGTH / m``, ``m`` the pilot's mean loss beyond ``x``.

    Notes
    -----
    The mean of the factor normals over the paths beyond a loss is the cross-entropy
    optimal mean shift for the probability of that loss (Rubinstein and Kroese 2004): the
    normal closest in Kullback-Leibler divergence to the zero-variance density. It is fitted
    a little below the target (``FIT_LEVEL`` below ``target_level``), where the pilot has a
    hundred paths rather than twenty; on the shipped program that mean is also about 0.8
    times the one at the target, which measured best. The twist's ``theta`` scales with
    the spread of the loss beyond ``x``: with an exponential-like excess of mean ``m``, the
    weight ``exp(-theta L)`` against the excess ``L - x`` makes ``w (L - x)``, the ES
    estimator's term, vary least for ``theta`` of order ``1 / m``.
    """
    y = LossSample(pilot_loss).var_value(FIT_LEVEL)
    tail = pilot_loss >= y
    pooled = pilot_z[tail].mean(axis=0)
    mu = np.empty((n_regimes, pilot_z.shape[1]))
    for r in range(n_regimes):
        in_r = tail & (pilot_regime == r)
        mu[r] = pilot_z[in_r].mean(axis=0) if in_r.sum() >= FIT_MIN_PATHS else pooled
    beyond = pilot_loss[pilot_loss > x] - x
    m = float(np.mean(beyond)) if beyond.size else 0.0
    return mu, TWIST_STRENGTH / m if m > 0.0 else 0.0


@dataclass(frozen=True)
class Pilot:
    """What the sampler is aimed with: a plain pilot run's total credit loss by path
    ``loss`` (n,), its paths' regimes ``regime`` (n,) int64, the pilot's ``seed``, and
    where the shift is fitted to the pilot's tail (:func:`fits_tail`) its paths' factor
    normals ``z`` (n, K) (``_kernels.defaults.factor_normals``)."""

    loss: np.ndarray
    regime: np.ndarray
    seed: int
    z: np.ndarray | None = None


def fits_tail(model) -> bool:
    """Whether the shift and the twist are fitted to the pilot's tail (:func:`tail_fit`)
    rather than computed from the conditional expected loss: the twist by exposure treats
    exposures as independent given the factors and present on every path; where rows of
    one obligor default together, or the program's regimes and selection change who is
    there, they are fitted to the pilot's tail instead."""
    return bool(model.portfolio.shared_obligors or model.program_on_paths)


def tilt(model, pilot: Pilot):
    """Aim the sampler at the pilot's ``target_level`` loss.

    Parameters
    ----------
    model : riskengine.kernel_inputs.Model
    pilot : Pilot
        The plain pilot run (:func:`riskengine.pilot.run_pilot`).

    Returns
    -------
    (Sampler, dict)
        The tilted sampler bundle and what the manifest records.
    """
    isc = model.config.importance_sampling
    pilot_loss, pilot_regime = pilot.loss, pilot.regime
    x = LossSample(pilot_loss).var_value(isc.target_level)
    copula, sampler = model.inputs.copula, model.inputs.sampler
    program = model.inputs.program
    n_regimes = len(program.regime_cum)
    drawn = program.pinned_regime < 0 and n_regimes > 1
    independent = not fits_tail(model)
    twist = isc.twist and independent
    mu = np.zeros_like(sampler.mean_shift)
    theta = 0.0
    if independent:
        # each regime's own factor shift toward x, under its own default curves (a pinned
        # run: its regime's; one regime: that one)
        if isc.shift:
            for r in range(n_regimes) if drawn else [max(program.pinned_regime, 0)]:
                mu[r] = mean_shift(x, copula, sampler, regime=r)
    else:
        fitted, obligor_theta = tail_fit(pilot_loss, pilot_regime, pilot.z, x, n_regimes)
        if isc.shift:
            mu[:] = fitted
        if isc.twist:
            theta = obligor_theta
    regime_cum, regime_ratio = sampler.regime_cum, sampler.regime_ratio
    if drawn:
        q = regime_tilt(program.regime_cum, pilot_loss, pilot_regime, x)
        regime_cum, regime_ratio = regime_sampling(program.regime_cum, q)
    if isc.shift and not np.any(mu):
        log.warning("importance sampling: the pilot's %g loss is already reached at the "
                    "factors' mean, so there is no factor shift", isc.target_level)
    share = DEFENSIVE_SHARE if isc.defensive_share is None else isc.defensive_share
    tilted = sampler._replace(mean_shift=np.ascontiguousarray(mu, dtype=np.float64),
                              plain_share=float(share),
                              twist_target=float(x) if twist else 0.0,
                              regime_cum=regime_cum, regime_ratio=regime_ratio,
                              obligor_theta=float(theta))
    log.info("importance sampling: pilot of %d paths puts the %g loss at %.4g; factor "
             "shift of norm %.3g; %s", isc.pilot_paths, isc.target_level, x,
             np.linalg.norm(mu), "twist by exposure" if twist else
             f"twist by obligor, theta {theta:.3g}" if theta else "no twist")
    info = {"enabled": True, "target_level": isc.target_level, "pilot_paths": isc.pilot_paths,
            "pilot_seed": pilot.seed, "target_loss": x,
            "mean_shift": mu.tolist(), "twist": twist, "shift": isc.shift,
            "obligor_theta": float(theta),
            "defensive_share": float(share)}
    if drawn:  # (the regimes' tilted probabilities; a pinned or single regime has none)
        info["regime_probabilities"] = q.tolist()
    return tilted, info

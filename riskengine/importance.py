"""Importance sampling for the tail (Glasserman and Li 2005, "Importance Sampling for
Portfolio Credit Risk", Management Science 51(11)).

Two changes of measure, both undone exactly by the likelihood ratio each path carries as
its weight:

1. **Mean shift** of the independent factor normals ``z -> z + mu``: ratio
   ``exp(-mu.z + |mu|^2 / 2)``. ``mu`` points along the gradient of the conditional
   expected loss at ``z = 0`` and is scaled so that the conditional expected loss at ``mu``
   equals the target ``x`` (a tractable stand-in for Glasserman and Li's mode of the
   optimal factor density, exact in the one-factor case up to the normal approximation).
2. **Exponential twisting**, given the factors, of each exposure's probability of
   default by the horizon, ``q = p e^{theta c} / (1 + p (e^{theta c} - 1))`` with
   ``c = commitment * coverage * lgd`` and ``theta`` solving ``E_q[sum c D] = x`` (zero when
   the conditional mean already exceeds ``x``): ratio ``exp(-theta sum c D + psi(theta))``.
   A defaulting exposure's quarter is drawn from its untwisted conditional curve.

The target ``x`` is the ``target_level`` VaR of the total credit loss in a plain pilot run
(independent seed). Every estimator in :mod:`riskengine.measures` takes the weights.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import special

from .codes import Instrument

log = logging.getLogger("riskengine")


def twist_classes(pf, groups_of_exposure, n_groups, presence=None):
    """Classes of exposures sharing default group and loss per default ``c``.

    ``presence`` (P,): each row's probability of being funded on a path (the program's
    conditional rows, :mod:`riskengine.deployment`; None: every row always), so a class's
    size is its expected number of funded members.

    Returns ``(exposure_class (P,), class_group (C,), class_loss (C,), class_size (C,))``.
    """
    cov = np.where(pf.instrument_index == Instrument.GUARANTEE, pf.col("coverage"), 1.0)
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


def pilot_seed(seed: int) -> int:
    """The pilot's own seed, so its draws are independent of the run's."""
    from ._kernels.rng import stream_key

    return int(stream_key(seed, 99, "importance-sampling pilot")) >> 1


def tilt(model, run):
    """Run the pilot and aim the sampler at its ``target_level`` loss.

    Parameters
    ----------
    model : riskengine.kernel_inputs.Model
    run : callable
        ``run(model) -> Result``, the plain simulation (passed in to keep the import
        graph one-way).

    Returns
    -------
    (Sampler, dict)
        The tilted sampler bundle and what the manifest records.
    """
    from .config import apply_overrides
    from .kernel_inputs import build_model
    from .measures import LossSample

    isc = model.config.importance_sampling
    pilot_cfg = apply_overrides(model.config, {
        "simulation": {"paths": isc.pilot_paths, "seed": pilot_seed(model.config.simulation.seed)},
        "importance_sampling": {"enabled": False},
        "outputs": {"timeline_paths": 1, "irr_paths": 1, "contributions": False}})
    # (the pilot needs only losses)
    pilot = run(build_model(pilot_cfg, model.portfolio, model.scenario))
    pilot_loss = pilot.loss("credit_loss", "ALL")
    x = LossSample(pilot_loss).var_value(isc.target_level)
    copula, sampler = model.inputs.copula, model.inputs.sampler
    program = model.inputs.program
    n_regimes = len(program.regime_cum)
    drawn = program.pinned_regime < 0 and n_regimes > 1
    # each regime's own factor shift toward x, under its own default curves (a pinned run:
    # its regime's; one regime: that one)
    mu = np.zeros_like(sampler.mean_shift)
    if isc.shift:
        for r in range(n_regimes) if drawn else [max(program.pinned_regime, 0)]:
            mu[r] = mean_shift(x, copula, sampler, regime=r)
    regime_cum, regime_ratio = sampler.regime_cum, sampler.regime_ratio
    if drawn:
        q = regime_tilt(program.regime_cum, pilot_loss, pilot.paths["regime"].to_numpy(), x)
        regime_cum, regime_ratio = regime_sampling(program.regime_cum, q)
    # the twist's likelihood ratio treats exposures as independent given the factors and
    # present on every path; rows of one obligor default together, and the program's
    # regimes and selection change who is there, so then the factor shift works alone
    twist = isc.twist and not model.portfolio.shared_obligors and not model.program_on_paths
    if isc.twist and not twist:
        log.warning("importance sampling: obligors with several rows default together, or "
                    "regimes and selection change the portfolio by path, so the conditional "
                    "twist is off; the factor shift alone tilts the tail")
    if isc.shift and not np.any(mu):
        log.warning("importance sampling: the pilot's %g loss is already reached at the "
                    "factors' mean, so there is no factor shift", isc.target_level)
    tilted = sampler._replace(mean_shift=np.ascontiguousarray(mu, dtype=np.float64),
                              twist_target=float(x) if twist else 0.0,
                              regime_cum=regime_cum, regime_ratio=regime_ratio)
    log.info("importance sampling: pilot of %d paths puts the %g loss at %.4g; factor "
             "shift of norm %.3g", isc.pilot_paths, isc.target_level, x, np.linalg.norm(mu))
    info = {"enabled": True, "target_level": isc.target_level, "pilot_paths": isc.pilot_paths,
            "pilot_seed": pilot_cfg.simulation.seed, "target_loss": x,
            "mean_shift": mu.tolist(), "twist": twist, "shift": isc.shift,
            "defensive_share": isc.defensive_share}
    if drawn:  # (the regimes' tilted probabilities; a pinned or single regime has none)
        info["regime_probabilities"] = q.tolist()
    return tilted, info

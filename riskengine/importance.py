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

import numpy as np
from scipy import special


def twist_classes(pf, proj_group, n_groups):
    """Classes of exposures sharing group and loss per default: ``(proj_cls, cls_group,
    cls_c, cls_n)``."""
    cov = np.where(pf.instrument_index == 1, pf.col("coverage"), 1.0)
    c = pf.col("commitment_usd") * cov * pf.col("lgd")
    keys: dict = {}
    proj_cls = np.array([keys.setdefault((int(g), float(ci)), len(keys))
                         for g, ci in zip(proj_group, c)], dtype=np.int64)
    cls = np.array(list(keys.keys()), dtype=float).reshape(-1, 2)
    cls_n = np.bincount(proj_cls, minlength=len(keys)).astype(float)
    return proj_cls, cls[:, 0].astype(np.int64), np.ascontiguousarray(cls[:, 1]), cls_n


def conditional_el(z, arrays):
    """Expected twisting loss ``sum c p(z)`` given factor normals ``z``."""
    s = arrays["root"] @ z
    g = arrays["cls_group"]
    w, sd = arrays["grp_w"][g], arrays["grp_s"][g]
    thr = arrays["grp_thr"][g, arrays["grp_nrel"][g] - 1]
    ws = w * s[arrays["grp_sector"][g]]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(sd > 0, special.ndtr((thr - ws) / np.where(sd > 0, sd, 1.0)),
                     (ws <= thr).astype(float))
    return float(np.sum(arrays["cls_n"] * arrays["cls_c"] * p))


def mean_shift(x, arrays, max_norm=12.0):
    """The factor mean shift ``mu`` with conditional expected loss ``x`` (see module)."""
    k = arrays["root"].shape[0]
    base = conditional_el(np.zeros(k), arrays)
    if base >= x:
        return np.zeros(k)
    h = 1e-4
    grad = np.array([(conditional_el(h * e, arrays) - conditional_el(-h * e, arrays)) / (2 * h)
                     for e in np.eye(k)])
    norm = np.linalg.norm(grad)
    if norm == 0:
        return np.zeros(k)
    d = grad / norm
    lo, hi = 0.0, max_norm
    if conditional_el(hi * d, arrays) < x:
        return hi * d
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if conditional_el(mid * d, arrays) < x:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi) * d

"""Importance sampling on a path: the Glasserman-Li twist of the groups' default
probabilities given the factors, and the twist of the obligors' defaults
(:mod:`riskengine.importance` derives what they read)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._cache import CACHE
from .defaults import cond_pd, phi_cdf, twist_theta
from .rng import key_uniform, path_key, uniform


@njit(cache=CACHE)
def twist_for_path(threshold, copula, sampler, scale, group_shift, class_pd, class_tilt):
    """Glasserman-Li twist given the factors (``group_shift = w S``, (G,)) and the
    regime's thresholds (G, Q): each class's
    conditional PD by the horizon (``class_pd``, (C,)), the twist ``theta`` toward
    ``sampler.twist_target`` and ``class_tilt = exp(theta c)`` (C,). Returns
    ``(theta, psi)``."""
    steps, idio_sd = copula.group_steps_at_risk, copula.group_idio_sd
    class_group, class_loss = sampler.class_group, sampler.class_loss
    for c in range(class_loss.shape[0]):
        g = class_group[c]
        class_pd[c] = cond_pd(scale * threshold[g, steps[g] - 1], group_shift[g], idio_sd[g])
    theta, psi = twist_theta(sampler.twist_target, class_pd, class_loss, sampler.class_size)
    for c in range(class_loss.shape[0]):
        class_tilt[c] = np.exp(theta * class_loss[c])
    return theta, psi


@njit(cache=CACHE)
def twist_obligors(path, tilted, theta, exposures, sampler, program, scratch):
    """Importance sampling's twist of the obligors' defaults, given the factors
    (``scratch.group_x``) and the program's draws (``scratch.unit_state``, ``unit_time``).

    An obligor's rows share one default uniform ``u``; with ``p`` the largest conditional
    PD by the horizon of its rows live on the path and ``c`` their summed loss per default
    (``sampler.obligor_loss``), the twisted law of ``u`` has density ``q / p`` below ``p``
    and ``(1 - q) / (1 - p)`` above, ``q = p e^{theta c} / (1 + p (e^{theta c} - 1))``:
    the exponential twist of the obligor's default (Glasserman and Li 2005) that keeps
    ``u`` uniform on each side of ``p``, so the default quarter of every row follows its
    untwisted curve and the rows still default together. Writes each live obligor's
    uniform to ``scratch.obligor_u`` (on a ``tilted`` path drawn from the twisted law by
    inverting its distribution function; otherwise the plain ``u``) and returns the log
    of the twisted over the plain density at those uniforms, the path's part of the
    likelihood ratio.

    Under adverse selection a pipeline row defaults when ``c V + sqrt(1 - c^2) Phi^-1(u)``
    is below its threshold ``x`` (``V`` its unit's selection normal, drawn on another
    stream before this), that is when ``u <= Phi((x - c V) / sqrt(1 - c^2))``: its PD is
    taken on that scale, so the twist stays the exponential twist of the obligor's
    default. Whatever ``p`` is, the ratio is the density of ``u``'s law, which depends only
    on draws made before ``u``: exact."""
    pd_o, loss_o, u_o = scratch.obligor_pd, scratch.obligor_loss, scratch.obligor_u
    obligor, row_loss = sampler.obligor, sampler.obligor_loss
    group, default_key, group_x = exposures.group, exposures.default_key, scratch.group_x
    unit_of, variant_lo, variant_hi = program.unit_of, program.variant_lo, program.variant_hi
    unit_state, unit_time = scratch.unit_state, scratch.unit_time
    for o in range(pd_o.shape[0]):
        pd_o[o] = 0.0
        loss_o[o] = 0.0
        u_o[o] = -1.0  # (not live on this path)
    for p in range(obligor.shape[0]):
        unit = unit_of[p]
        if unit >= 0 and (unit_state[unit] != 1
                          or not variant_lo[p] <= unit_time[unit] < variant_hi[p]):
            continue  # not funded on this path (or declined)
        o = obligor[p]
        loss_o[o] += row_loss[p]
        x = group_x[group[p]]
        if unit >= 0 and program.unit_credit_loading[unit] != 0.0:  # adverse selection
            x = ((x - program.unit_credit_loading[unit] * scratch.unit_selection_z[unit])
                 / program.unit_credit_keep[unit])
        pd_o[o] = max(pd_o[o], phi_cdf(x))
        if u_o[o] < 0.0:
            u_o[o] = key_uniform(path_key(default_key[p], path))
    log_ratio = 0.0
    for o in range(pd_o.shape[0]):
        pd, u = pd_o[o], u_o[o]
        if u < 0.0 or not 0.0 < pd < 1.0:
            continue
        # q = p e^{theta c} / (1 + p (e^{theta c} - 1)) = p / d, written to stay finite
        back = math.exp(-theta * loss_o[o])
        d = pd + (1.0 - pd) * back
        q = pd / d
        if tilted:  # inverse of the twisted distribution function
            below = u < q
            u_o[o] = u * d if below else pd + (u - q) * d / back
        else:
            below = u < pd
        log_ratio -= math.log(d) if below else math.log(d) + theta * loss_o[o]
    return log_ratio


@njit(cache=CACHE)
def plain_component(paths, mixture_key, plain_share, out):
    """Whether each of global ``paths`` (n,) is drawn from the defensive mixture's plain
    component (``out`` (n,) bool): the choice :func:`.path_draws.draw_factors` and
    :func:`.path_draws.draw_regime` make, for the means' control variates
    (:func:`riskengine.importance.drawn_factor_normals`)."""
    for i in range(paths.shape[0]):
        out[i] = uniform(path_key(mixture_key, paths[i]), 0) < plain_share

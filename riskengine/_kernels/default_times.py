"""Which exposures a path visits and when each defaults.

A row funded on every path whose survival is pre-summed matters only if it defaults, and
(unless the twist draws it) it defaults only if its uniform is at most the screen, so the
rest are skipped after one hash: the same uniforms and decisions as visiting them all.
A conditional row is live only in its unit's drawn variant (:mod:`.program`), and a
pipeline unit's latent credit normal is taken given its selection normal (adverse
selection); where every row of its obligor is conditional that normal is drawn itself and
the default decided against the group's threshold without Phi. The default
step is exactly ``u <= Phi(group_x)`` (the table decides unless ``u`` is within the
margin), read from the group's curve; yearly factors read the yearly curves, and a tilted
path with a conditional twist the twisted probability.
"""

from __future__ import annotations

from numba import njit

from .defaults import (
    default_quarter,
    default_quarter_by_horizon,
    group_x_of,
    phi_cdf,
    u_below_phi,
    yearly_default_step,
)
from .indexing import unsigned
from .program import (
    live_variant,
    path_tariff,
    proportional_tariff,
    selected_credit_normal,
    selected_credit_uniform,
)
from .rng import key_uniform, normal, path_key


@njit(inline="always")
def candidate_rows(ctx, plan, m, scratch):
    """The rows the path may visit, in order (``scratch.candidates``). Returns ``(n,
    hashed)``: ``hashed`` when ``scratch.exposure_u`` holds the path's uniforms."""
    candidates, exposure_u, must_visit = scratch.candidates, scratch.exposure_u, scratch.must_visit
    n_exposures = must_visit.shape[0]
    if not plan.prefilter:
        return n_exposures, False  # every exposure, in order (candidates[p] = p)
    if ctx.tilted and ctx.theta > 0.0 and not m.copula.yearly:  # the twist decides
        for p in range(n_exposures):
            candidates[p] = p
        return n_exposures, False
    # the uniforms first, in a loop of their own (it vectorises: 1.8 times faster than
    # hashing inside the test), then the screen: each cell's own (lazy groups) or the
    # path's (a per-group screen was measured slower); branch-free: every index is
    # written, the count moves only past a pass
    default_key = m.exposures.default_key
    for p in range(n_exposures):
        exposure_u[p] = key_uniform(path_key(default_key[p], ctx.path))
    n_cand = 0
    if plan.lazy:
        cell_screen, exposure_cell = scratch.cell_screen, scratch.exposure_cell
        for p in range(n_exposures):
            candidates[unsigned(n_cand)] = p
            n_cand += exposure_u[p] <= cell_screen[unsigned(exposure_cell[p])]
    else:
        u_screen = ctx.u_screen
        for p in range(n_exposures):
            candidates[n_cand] = p
            n_cand += must_visit[p] | (exposure_u[p] <= u_screen)
    return n_cand, True


@njit(inline="always")
def default_step(u, p, ctx, plan, m, scratch):
    """Row ``p``'s default step on the path from its uniform ``u`` (-1: none). Returns
    ``(step, twist class)``, the class when the default counts in the twisted loss (-1
    otherwise)."""
    copula, exposures, sampler = m.copula, m.exposures, m.sampler
    g = exposures.group[p]
    approval = exposures.approval_step[p]
    steps_at_risk = copula.group_steps_at_risk[g]
    k, cls = -1, -1
    if copula.yearly:
        if u <= ctx.u_screen:
            j = yearly_default_step(u, approval, steps_at_risk, m.cash.steps_per_year,
                                    scratch.group_year_pd[g], copula.group_cum_pd[ctx.curve][g])
            if j >= 0:
                k = approval + j
    elif ctx.tilted and ctx.theta > 0.0:
        # twisted default probability q; given default, u * p / q is uniform on [0, p]
        # and picks the step from the untwisted curve
        c = sampler.exposure_class[p]
        pp, tilt = scratch.class_pd[c], scratch.class_tilt[c]
        qq = pp * tilt / (1.0 + pp * (tilt - 1.0))
        if u <= qq and pp > 0.0:
            j = default_quarter(u * pp / qq, copula.group_threshold[ctx.curve][g],
                                steps_at_risk, scratch.group_shift[g], copula.group_idio_sd[g],
                                ctx.scale)
            if j < 0:
                j = steps_at_risk - 1  # rounding at the edge
            k = approval + j
            cls = c
    elif u <= ctx.u_screen and u_below_phi(u, path_group_x(g, ctx, plan, m, scratch)):
        k, cls = step_by_horizon(u, p, ctx, m, scratch)
    return k, cls


@njit(inline="always")
def path_group_x(g, ctx, plan, m, scratch):
    """Group ``g``'s standardised threshold by the horizon on the path, ``group_x`` (a row
    of it defaults by then when its uniform is at most ``Phi(group_x)``); lazy groups
    compute it on the path's first read."""
    copula = m.copula
    if plan.lazy and scratch.group_stamp[g] != ctx.path:
        group_x_of(g, copula.group_loading, copula.group_sector,
                   copula.group_threshold[ctx.curve], copula.group_steps_at_risk,
                   copula.group_idio_sd, copula.group_inverse_idio_sd, ctx.scale,
                   scratch.sector_factor, scratch.group_x, scratch.group_shift)
        scratch.group_stamp[g] = ctx.path
    return scratch.group_x[g]


@njit(inline="always")
def step_by_horizon(u, p, ctx, m, scratch):
    """The default step of row ``p``, known to default by the horizon with uniform ``u``
    (static factors), and its twist class when the conditional twist counts it (-1
    otherwise)."""
    copula, g = m.copula, m.exposures.group[p]
    k = m.exposures.approval_step[p] + default_quarter_by_horizon(
        u, copula.group_threshold[ctx.curve][g], copula.group_steps_at_risk[g],
        scratch.group_shift[g], copula.group_idio_sd[g], ctx.scale)
    return k, (m.sampler.exposure_class[p] if ctx.theta > 0.0 else -1)


@njit(inline="always")
def latent_default_step(x, p, ctx, plan, m, scratch):
    """:func:`default_step` of a row whose uniform is ``u = Phi(x)``, from its latent
    normal ``x`` (static factors, no conditional twist on the path): it defaults by the
    horizon when ``x <= group_x``, which is ``u <= Phi(group_x)`` decided without Phi, and
    only a row that defaults takes ``Phi(x)``, for its step."""
    if x <= path_group_x(m.exposures.group[p], ctx, plan, m, scratch):
        return step_by_horizon(phi_cdf(x), p, ctx, m, scratch)
    return -1, -1


@njit(inline="always")
def find_defaults(ctx, plan, m, scratch):
    """The rows whose outcome the path values, in the rows' order, with their default
    steps (``scratch.visit_row``, ``visit_step``); adds the funded conditional rows'
    commitments to ``scratch.deployed`` and the selected and declined ones by funding step
    to ``scratch.selected_by_step``, ``declined_by_step``. Returns ``(n_visit,
    twisted_loss, tariff, tariff_gap)``: the loss the conditional twist counts, and the
    path's tariff in dollars and its USD/JPY term, by the tariff's form
    (:func:`.program.path_tariff`)."""
    exposures, program, sampler = m.exposures, m.program, m.sampler
    candidates, visit_row, visit_step = scratch.candidates, scratch.visit_row, scratch.visit_step
    survivor_value = exposures.survivor_value
    n_q = m.schedules.df_end.shape[0]
    n_cand, hashed = candidate_rows(ctx, plan, m, scratch)
    # the tariff's last step: the deal's end when its tariff ends with it
    stop = n_q
    if program.tariff_ends and ctx.deal_end_step >= 0:
        stop = ctx.deal_end_step
    c_index, n_visit = 0, 0
    twisted_loss, tariff, tariff_gap = 0.0, 0.0, 0.0
    # the rows whose latent normal is drawn itself (latent_default_step): on paths whose
    # rows read neither yearly curves nor the twisted obligors' uniforms
    latent = not m.copula.yearly and not plan.twisting_obligors
    while c_index < n_cand:
        p = candidates[c_index]
        c_index += 1
        unit = program.unit_of[p]
        if unit >= 0:  # a conditional row: live only in its unit's drawn variant
            p, c_index, state = live_variant(p, c_index, unit, plan.prefilter, program, scratch)
            if state == 0:
                continue
            approval, commitment = exposures.approval_step[p], exposures.commitment[p]
            scratch.selected_by_step[approval] += commitment
            if state == 2:  # declined: no exposure, the tariff instead
                scratch.declined_by_step[approval] += commitment
                cost, gap = proportional_tariff(p, approval, plan.track_pv, program,
                                                scratch.fx_gap, n_q, stop)
                tariff += cost
                if plan.track_pv:
                    tariff_gap += gap
                continue
            scratch.deployed[exposures.institution[p]] += commitment
        if (latent and program.latent_row[p] and not hashed
                and not (ctx.tilted and ctx.theta > 0.0)):
            # a pipeline obligor's own latent normal (results version 2: drawn itself,
            # where version 1 took Phi^-1 of its uniform), given its unit's selection
            # normal; decided without Phi (two erfc a row fewer)
            z = normal(path_key(exposures.default_key[p], ctx.path), 0)
            k, cls = latent_default_step(selected_credit_normal(z, unit, program, scratch),
                                         p, ctx, plan, m, scratch)
        else:
            if plan.twisting_obligors:
                u = scratch.obligor_u[sampler.obligor[p]]
            elif hashed:
                u = scratch.exposure_u[p]
            else:
                u = key_uniform(path_key(exposures.default_key[p], ctx.path))
            if unit >= 0:  # adverse selection: the uniform given the unit's selection draw
                u = selected_credit_uniform(u, unit, program, scratch)
            k, cls = default_step(u, p, ctx, plan, m, scratch)
        if cls >= 0:
            twisted_loss += sampler.class_loss[cls]
        if k < 0 and (plan.credit_only or survivor_value[p] == survivor_value[p]):
            continue  # a survivor whose value is already in survivor_loss (or unread)
        visit_row[n_visit] = p
        visit_step[n_visit] = k
        n_visit += 1
    tariff, tariff_gap = path_tariff(tariff, tariff_gap, plan.track_pv, program, scratch, n_q,
                                     stop)
    return n_visit, twisted_loss, tariff, tariff_gap

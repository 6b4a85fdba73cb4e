"""The program on a path: which conditional units the US selects, when, which Japan
declines, and what a decline costs in tariffs (:mod:`riskengine.deployment` derives the
units; :func:`riskengine.kernel_inputs.presence` reads the same probabilities).

A unit's draws are 0 (selected), 1 (its timing, which picks the live variant of its rows)
and 2 (declined) of its own stream.

A unit is selected when its selection normal ``V`` (draw 0, a normal since results
version 2; version 1 compared a uniform with ``p_sel``) is below ``b = Phi^-1(p_sel)``
(``program.selection_threshold``, by regime), with probability ``p_sel`` exactly.

Adverse selection (``program.selection_correlation`` = rho, docs/model.md "Adverse
selection"): its obligor's idiosyncratic credit normal is ``eps = c V + sqrt(1 - c^2)
zeta``, ``c = rho / sqrt(1 - w^2)``, with ``zeta`` the obligor's own latent normal (drawn
itself, or ``Phi^-1`` of its default uniform where the obligor also has unconditional
rows: :mod:`.default_times`); so the latent ``X = w S + sqrt(1 - w^2) eps`` has
``corr(V, X) = rho``, and rho > 0 makes the selected units (low V) worse credits (low X).
No other draw moves with rho: the selection and ``zeta`` are the same draws whatever rho.
"""

from __future__ import annotations

from numba import njit

from ..codes import TariffForm
from ._cache import CACHE
from .defaults import phi_cdf, phi_inverse
from .elections import notice_regime, truncated_pv
from .rng import normal, path_key, uniform


@njit(inline="always", cache=CACHE)
def selection_probability(selection, pipeline, multiplier):
    """A unit's probability of being selected in a regime: a pipeline unit's times the
    regime's selection multiplier (at most 1); a named project's as it is."""
    if pipeline:
        return min(1.0, selection * multiplier)
    return selection


@njit(inline="always", cache=CACHE)
def decline_probability(decline, forced, multiplier):
    """A selected unit's probability of being declined in a regime: 1 when it is declined
    whenever selected (``forced``), else its probability times the regime's decline
    multiplier (at most 1)."""
    if forced:
        return 1.0
    return min(1.0, decline * multiplier)


@njit(inline="always")
def select_units(path, regime, program, scratch):
    """:func:`select_units_dated` of a deal that lasts."""
    select_units_dated(path, regime, 0, program, scratch)


@njit(inline="always")
def select_units_dated(path, regime, deal_end, program, scratch):
    """Each unit's state on the path (``scratch.unit_state``: 0 not selected, 1 funded,
    2 declined) and its timing uniform (``scratch.unit_time``; 0.5 for a named project);
    the path's selected and declined commitments by step start at 0. The multipliers are
    those of the regime in force at the unit's notice (``regime`` without elections); a
    pipeline unit whose notice is after the deal's end (``deal_end``, the election's
    1-based index; 0: it lasts) is not selected (:mod:`.elections`)."""
    unit_state, unit_time = scratch.unit_state, scratch.unit_time
    for q in range(scratch.selected_by_step.shape[0]):  # (find_defaults adds the live rows)
        scratch.selected_by_step[q] = 0.0
        scratch.declined_by_step[q] = 0.0
    pipeline, forced = program.unit_pipeline, program.unit_forced
    for u in range(unit_state.shape[0]):
        ukey = path_key(program.unit_key[u], path)
        t_unit = uniform(ukey, 1) if pipeline[u] else 0.5
        r_u, ended = notice_regime(u, t_unit, regime, deal_end, program, scratch)
        p_select = selection_probability(program.unit_selection[u], pipeline[u],
                                         program.selection_multiplier[r_u])
        v = normal(ukey, 0)  # the selection normal (adverse selection's V)
        scratch.unit_selection_z[u] = v
        state = 0
        if not ended and (p_select >= 1.0 or v < program.selection_threshold[r_u, u]):
            state = 1
            p_decline = decline_probability(program.unit_decline[u], forced[u],
                                            program.decline_multiplier[r_u])
            # (a uniform is below 1: a certain decline needs no draw)
            if p_decline > 0.0 and (p_decline >= 1.0 or uniform(ukey, 2) < p_decline):
                state = 2
        unit_state[u] = state
        unit_time[u] = t_unit


@njit(inline="always")
def selected_credit_normal(z, unit, program, scratch):
    """The latent credit normal of a row of ``unit`` given the unit's selection normal:
    ``c V + sqrt(1 - c^2) z`` (module notes); ``z`` itself where ``c`` is 0 (``0 V + 1 z``
    is ``z``, to the bit)."""
    c = program.unit_credit_loading[unit]
    if c == 0.0:
        return z
    return c * scratch.unit_selection_z[unit] + program.unit_credit_keep[unit] * z


@njit(inline="always")
def selected_credit_uniform(u, unit, program, scratch):
    """The default uniform of a row of ``unit`` given the unit's selection draw:
    ``Phi(c V + sqrt(1 - c^2) Phi^-1(u))`` (module notes); ``u`` itself where the unit's
    credit loading ``c`` is 0 (every unit without adverse selection)."""
    if program.unit_credit_loading[unit] == 0.0:
        return u
    return phi_cdf(selected_credit_normal(phi_inverse(u), unit, program, scratch))


@njit(inline="always")
def live_variant(p, c_index, unit, prefilter, program, scratch):
    """Whether conditional row ``p`` of ``unit`` is live on the path. Returns ``(p,
    c_index, state)``: ``state`` 0 (not live: the unit not selected, or another variant
    drawn), 1 (funded) or 2 (declined). Without the prefilter every row is visited in
    order: this goes straight to the block's live variant (the variants' ``[lo, hi)``
    partition the timing uniform in order) and moves ``c_index`` past the block."""
    state = scratch.unit_state[unit]
    t_unit = scratch.unit_time[unit]
    if not prefilter:
        end = program.variant_end[p]
        c_index = end
        if state == 0:
            return p, c_index, 0
        while p < end - 1 and not t_unit < program.variant_hi[p]:
            p += 1
    if state == 0 or not (program.variant_lo[p] <= t_unit < program.variant_hi[p]):
        return p, c_index, 0
    return p, c_index, state


@njit(inline="always")
def proportional_tariff(p, approval, track_pv, program, fx_gap, n_q, stop):
    """The proportional form: what declining row ``p`` costs, the tariff's present value in
    dollars and, when the yen figures track USD/JPY, ``sum_q tariff_q (X_q - spot) df_q``
    over its steps; none from step ``stop`` on (the deal's end when its tariff ends with
    it, else ``n_q``)."""
    end = min(approval + program.tariff_steps, n_q)
    pv = program.tariff_pv[p]
    if stop < end:
        pv = truncated_pv(program.tariff_per_step[p], approval, end, stop, program)
        end = max(stop, approval)
    gap = 0.0
    if track_pv:
        gap = program.tariff_per_step[p] * (fx_gap[end] - fx_gap[approval])
    return pv, gap


@njit(inline="always")
def trigger_tariff(track_pv, program, scratch, n_q, stop):
    """The trigger form: the whole penalty from the first funding step ``q`` at which the
    path's declined commitments exceed ``trigger_share`` times its selected ones (the
    unconditional rows' and the selected units', funded or declined, with funding steps up
    to ``q``), for the penalty's length. Returns its present value in dollars and its
    USD/JPY term (as :func:`proportional_tariff`'s, cut at ``stop``); ``(0, 0)`` if
    never pulled."""
    declined, selected = 0.0, 0.0
    for q in range(n_q):
        declined += scratch.declined_by_step[q]
        selected += program.fixed_by_step[q] + scratch.selected_by_step[q]
        if declined > 0.0 and declined > program.trigger_share * selected:
            end = min(q + program.tariff_steps, n_q)
            pv = program.trigger_pv[q]
            if stop < end:
                pv = truncated_pv(program.trigger_per_step, q, end, stop, program)
                end = max(stop, q)
            gap = 0.0
            if track_pv:
                gap = program.trigger_per_step * (scratch.fx_gap[end] - scratch.fx_gap[q])
            return pv, gap
    return 0.0, 0.0


@njit(inline="always")
def path_tariff(tariff, tariff_gap, track_pv, program, scratch, n_q, stop):
    """The path's tariff by its form (:class:`~riskengine.codes.TariffForm`): the declined
    rows' proportional sums ``(tariff, tariff_gap)`` as they are, or the trigger's (cut
    at ``stop``)."""
    if program.tariff_form == TariffForm.TRIGGER:
        return trigger_tariff(track_pv, program, scratch, n_q, stop)
    return tariff, tariff_gap

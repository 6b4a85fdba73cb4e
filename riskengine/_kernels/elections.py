"""Regimes that switch at elections and a deal that can end, on a path
(:mod:`riskengine.elections` builds the tables; docs/model.md "Elections and the deal's
end").

At election ``k`` (in date order) the path draws, from its own stream
(``program.election_key``), whether the deal ends (draw ``2k + 1``, with the probability
of the regime the election is held in; once ended it stays ended) and the regime after it
(draw ``2k``, the row of ``program.switch_cum`` of the regime before). Without elections
nothing is drawn and the path's history is its regime.
"""

from __future__ import annotations

from numba import njit

from .rng import path_key, uniform


@njit(inline="always")
def draw_elections(path, regime, program, scratch):
    """The path's regime history (``scratch.history``: today's regime, then the regime
    after each election) and the yield of the regime in force by step over today's
    (``scratch.yield_by_step``). Returns ``(curve, final, deal_end)``: the history's
    index ``sum_k r_k R^k`` into the default tables, the regime at the horizon, and the
    election the deal ends at (1-based; 0: it lasts)."""
    history = scratch.history
    history[0] = regime
    election_step = program.election_step
    n_e = election_step.shape[0]
    if n_e == 0:
        return regime, regime, 0
    key = path_key(program.election_key, path)
    switch_cum = program.switch_cum
    n_r = switch_cum.shape[0]
    r, curve, stride, deal_end = regime, regime, 1, 0
    for k in range(n_e):
        p_end = program.deal_end_prob[r]
        if deal_end == 0 and p_end > 0.0 and uniform(key, 2 * k + 1) < p_end:
            deal_end = k + 1
        if n_r > 1:
            u = uniform(key, 2 * k)
            nr = 0
            while nr < n_r - 1 and u >= switch_cum[r, nr]:
                nr += 1
            r = nr
        history[k + 1] = r
        stride *= n_r
        curve += stride * r
    yield_by_step, yield_ratio = scratch.yield_by_step, program.yield_ratio
    k = 0
    for q in range(yield_by_step.shape[0]):
        while k < n_e and election_step[k] <= q:
            k += 1
        yield_by_step[q] = yield_ratio[regime, history[k]]
    return curve, r, deal_end


@njit(inline="always")
def deal_end_step(deal_end, program):
    """The deal's first step after its end (-1: it lasts)."""
    if deal_end > 0:
        return program.election_step[deal_end - 1]
    return -1


@njit(inline="always")
def notice_regime(u, t_unit, regime, deal_end, program, scratch):
    """The regime in force at unit ``u``'s notice (its timing uniform ``t_unit`` at or
    above ``program.unit_cut[u, k]``: the notice is after election ``k``), and whether the
    deal has ended by then (a pipeline unit is then not selected)."""
    n_e = program.election_step.shape[0]
    if n_e == 0:
        return regime, False
    kk = 0
    while kk < n_e and t_unit >= program.unit_cut[u, kk]:
        kk += 1
    ended = deal_end > 0 and kk >= deal_end and program.unit_pipeline[u]
    return scratch.history[kk], ended


@njit(inline="always")
def write_history(row, deal_end, out, scratch):
    """The path's regime after each election and the deal's end (paths.parquet)."""
    history = scratch.history
    for k in range(out.regime_history.shape[1]):
        out.regime_history[row, k] = history[k + 1]
    out.deal_end[row] = deal_end


@njit(inline="always")
def truncated_pv(per_step, start, end, stop, program):
    """The present value of ``per_step`` at the ends of steps ``start .. end - 1``, cut at
    step ``stop`` (the deal's end when its tariff ends with it)."""
    last = min(end, stop)
    if last <= start:
        return 0.0
    return per_step * (program.df_cum[last] - program.df_cum[start])

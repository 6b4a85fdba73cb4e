"""The taxpayer's backstop: a path's capital calls on the state, by institution and fiscal
year (backstop.parquet; docs/model.md, "The taxpayer's backstop").

At the path's end, after its outcomes: each defaulted row's credit loss, in yen at the
USD/JPY of its default step, is booked in that step's fiscal year
(:func:`yen_loss_by_year`); then, institution by institution and year by year, that
year's earnings absorb it first, the capital left absorbs the rest, and what remains is a
call on the state (:func:`absorb`). Earnings a year does not use are not carried over,
and capital is not rebuilt.
"""

from __future__ import annotations

from numba import njit


@njit(inline="always")
def absorb(loss, capital, earnings, calls):
    """One institution's calls on one path, year by year.

    Parameters
    ----------
    loss : (Y,) float64
        Its loss in yen booked in each fiscal year.
    capital : float
        Its loss-absorbing capital at the start.
    earnings : (Y,) float64
        Its earnings in each fiscal year (absorb that year's loss first).
    calls : (Y,) float64
        Written: ``max(loss_y - earnings_y - capital left, 0)``, the capital left
        depleted by what it absorbs.

    Notes
    -----
    ``e_y = loss_y - earnings_y``; where ``e_y > 0``, ``a_y = min(e_y, C)``,
    ``C <- C - a_y``, ``call_y = e_y - a_y``; else ``call_y = 0`` (unused earnings are
    not added to ``C``).
    """
    left = capital
    for y in range(loss.shape[0]):
        excess = loss[y] - earnings[y]
        call = 0.0
        if excess > 0.0:
            taken = min(excess, left)
            left -= taken
            call = excess - taken
        calls[y] = call


@njit(inline="always")
def yen_loss_by_year(n_visit, plan, m, scratch):
    """(I, Y) ``scratch.loss_jpy``: the path's credit losses in yen by institution and
    fiscal year of the default step, each at that step's USD/JPY where the path tracks it
    (``[fx]`` with a volatility), else at ``backstop_usd_jpy`` (the spot)."""
    loss, e = scratch.loss_jpy, m.exposures
    fiscal_year, usd_jpy = m.schedules.fiscal_year, m.program.backstop_usd_jpy
    loss[:, :] = 0.0
    for t in range(n_visit):
        k = scratch.visit_step[t]
        if k < 0:
            continue
        p = scratch.visit_row[t]
        rate = scratch.fx_path[k] if plan.track_pv else usd_jpy
        loss[e.institution[p], fiscal_year[k]] += scratch.credit_by_exposure[p] * rate


@njit(inline="always")
def capital_calls(row, n_visit, plan, m, out, scratch):
    """The path's row of ``out.capital_call`` (I, Y) when the run has ``[capital]``
    (``plan.backstop``): its credit losses in yen by year through :func:`absorb`."""
    if not plan.backstop:
        return
    yen_loss_by_year(n_visit, plan, m, scratch)
    program, calls = m.program, out.capital_call
    for i in range(calls.shape[1]):
        absorb(scratch.loss_jpy[i], program.backstop_capital[i], program.backstop_earnings[i],
               calls[row, i])

"""The outcomes of the rows a path visits, in the rows' order: each row's loss given
default, then its instrument's stage (:mod:`.debt` or :mod:`.equity`), summed by
institution."""

from __future__ import annotations

from numba import njit

from ..codes import Instrument
from .debt import value_debt
from .equity import value_equity
from .lgd import row_lgd


@njit(inline="always")
def touch_schedules(n_visit, plan, m, scratch):
    """Load the schedule entries the outcomes will read, together: the tables are
    megabytes, so each row's first read misses the cache, and in the outcomes' loop (a
    beta draw, an equity vehicle between them) the misses came one at a time; here they
    overlap. (Their sum is kept only so the loads are not removed.) Not where rows are
    screened: the few rows visited there miss little, and the loop measured slower."""
    s, e = m.schedules, m.exposures
    n_q = s.df_end.shape[0]
    touched = 0.0
    for t in range(0 if plan.prefilter else n_visit):
        p = scratch.visit_row[t]
        k = scratch.visit_step[t]
        first = min(e.approval_step[p], n_q - 1)
        if e.instrument[p] == Instrument.EQUITY:
            touched += s.draws[p, first]
            continue
        if k >= 0:
            touched += s.balance[p, k] + s.pv_before[p, k] + s.cash_start[p, k]
        if plan.track_pv:
            touched += s.pv_flow[p, first]
    scratch.touch[0] = touched


@njit(inline="always")
def value_rows(n_visit, ctx, plan, m, sampled, scratch):
    """Value the visited rows: adds each one's credit loss and economic loss (minus its
    NPV, the pre-summed survivor value taken back out) to its institution's, and records
    the defaults. Returns ``(defaults, equity rows, (Japan's receipts, the US's, deemed
    balance at the horizon))``."""
    e, fiscal_year = m.exposures, m.schedules.fiscal_year
    credit_i, econ_i = scratch.credit_by_institution, scratch.economic_by_institution
    n_def, n_eqp = 0, 0
    japan_sum, us_sum, deemed_sum = 0.0, 0.0, 0.0
    for t in range(n_visit):
        p = scratch.visit_row[t]
        k = scratch.visit_step[t]
        lgd = row_lgd(p, k, ctx.path, e, scratch.sector_factor)
        inst = e.institution[p]
        if e.instrument[p] == Instrument.EQUITY:
            scratch.equity_seen[n_eqp] = p
            n_eqp += 1
            o = value_equity(p, k, lgd, ctx, plan, m, sampled, scratch)
            credit, npv = o.credit_loss, o.npv
            japan_sum += o.japan_total
            us_sum += o.us_total
            deemed_sum += o.deemed_at_horizon
        else:
            credit, npv = value_debt(p, k, lgd, ctx, plan, m, scratch, sampled.timeline)
        value_if_survives = e.survivor_value[p]
        if value_if_survives == value_if_survives:
            npv -= value_if_survives  # correct the pre-summed survivor value
        credit_i[inst] += credit
        econ_i[inst] -= npv
        if k >= 0:
            scratch.defaulted[n_def] = p
            n_def += 1
            scratch.credit_by_exposure[p] = credit
            scratch.annual[fiscal_year[k], 0] += 1.0  # defaults
            scratch.annual[fiscal_year[k], 1 + inst] += credit  # JBIC, NEXI losses
    return n_def, n_eqp, (japan_sum, us_sum, deemed_sum)

"""Deterministic schedules of every exposure: drawdowns, balances, exposure at default and
the present value of the cash flows that precede a default in each quarter.

Timing (see docs/model.md): quarter ``k`` covers ``(t_k, t_{k+1}]``. Money drawn in
quarter ``k`` moves at ``t_k`` (the start) and is outstanding during quarter ``k``;
coupons, premiums and repayments fall at ``t_{k+1}`` (the end). A default in quarter ``k``
happens before that quarter's coupon and repayment; its recovery or claim is paid at the
end of quarter ``k``. Cash is discounted at ``(1 + discount_rate / steps_per_year)`` per step.

With these tables a loan or guarantee costs O(1) per path once its default quarter is
known, whatever the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import instruments
from .codes import INSTITUTIONS, Instrument
from .portfolio import Portfolio

EQUITY = Instrument.EQUITY



@dataclass(frozen=True)
class Schedules:
    """Per-exposure tables, arrays of float64 in the portfolio's canonical order.

    Attributes
    ----------
    draws : (n_projects, n_quarters)
        Money the institution puts in at the start of each quarter (loans and equity).
    balance : (n_projects, n_quarters)
        Underlying balance outstanding during each quarter (after that quarter's draw,
        before its repayment): the exposure at default of a default in that quarter.
        Equity: capital contributed so far. Guarantees: the covered bank loan's balance
        before ``coverage``.
    pv_before : (n_projects, n_quarters + 1)
        PV at ``t_0`` of the institution's cash flows that happen before a default in
        quarter ``k``: draws at the start of quarters ``<= k``, coupons, premiums and
        repayments at the ends of quarters ``< k``. ``pv_before[:, n_quarters]`` is the PV
        of all cash flows inside the horizon.
    terminal : (n_projects,)
        PV of what a surviving loan still holds at the horizon, at par (its outstanding
        balance); 0 for guarantees and for equity (the equity kernel values it).
    cash_start, cash_end : (n_projects, n_quarters)
        The institution's undiscounted cash at the start (draws, negative) and the end
        (coupons, premiums, repayments) of each quarter if no default happens.
    df_start, df_end : (n_quarters,)
        Discount factors at the start and the end of each quarter.
    """

    draws: np.ndarray
    balance: np.ndarray
    pv_before: np.ndarray
    terminal: np.ndarray
    cash_start: np.ndarray
    cash_end: np.ndarray
    df_start: np.ndarray
    df_end: np.ndarray

    @property
    def npv_if_survives(self) -> np.ndarray:
        """(n_projects,) the NPV of a row that never defaults: every cash flow inside the
        horizon and what it still holds there (loans and guarantees)."""
        return self.pv_before[:, -1] + self.terminal


def discount_factors(discount_rate: float, n_quarters: int, steps_per_year: int):
    """Discount factors at quarter starts ``t_k`` and ends ``t_{k+1}``."""
    g = 1.0 + discount_rate / steps_per_year
    k = np.arange(n_quarters, dtype=float)
    return g ** (-k), g ** (-(k + 1.0))


def build_schedules(pf: Portfolio, n_quarters: int, steps_per_year: int,
                    discount_rate: float, base_rate: float = 0.0) -> Schedules:
    """Build the deterministic tables for a validated portfolio. A floating loan pays
    ``base_rate + rate`` (its margin); the kernels add the stochastic part of the base
    rate path by path when the short rate is stochastic."""
    n = pf.n_projects
    kind = pf.instrument_index
    commit = pf.col("commitment_usd")
    a = pf.col("approval_quarter").astype(np.int64)
    f = pf.col("funding_quarters").astype(np.int64)
    tenor = pf.col("tenor_years")
    rate = pf.col("rate")
    cov = pf.col("coverage")
    bullet = pf.col("amortization") == "bullet"

    q = np.arange(n_quarters)[None, :]
    a_, f_ = a[:, None], f[:, None]
    draws = np.where((q >= a_) & (q < a_ + f_), (commit / f)[:, None], 0.0)

    # maturity: the loan is repaid by the end of quarter m - 1 (m = a + tenor steps)
    big = np.iinfo(np.int64).max // 4
    m = np.where(np.isnan(tenor), big, a + np.round(np.nan_to_num(tenor) * steps_per_year).astype(np.int64))
    m = np.where(kind == EQUITY, big, m)  # equity has no maturity here (cash flows: kernels)
    first_rep = np.where(bullet | (m - (a + f) <= 0), m - 1, a + f)
    n_rep = (m - first_rep).astype(float)
    repay_each = commit / np.maximum(n_rep, 1.0)
    repay = np.where((q >= first_rep[:, None]) & (q < m[:, None]), repay_each[:, None], 0.0)

    drawn_to_date = np.cumsum(draws, axis=1)
    repaid_before = np.cumsum(repay, axis=1) - repay
    balance = np.maximum(drawn_to_date - repaid_before, 0.0)
    balance = np.where(np.abs(balance) < 1e-9 * commit[:, None], 0.0, balance)

    df_start, df_end = discount_factors(discount_rate, n_quarters, steps_per_year)
    floating = pf.col("rate_type") == "floating"
    per = (rate + np.where(floating, base_rate, 0.0)) / steps_per_year
    start_cf = instruments.start_cash(kind, draws)
    end_cf = instruments.end_cash(kind, balance, per, repay, cov)

    pv_before = np.zeros((n, n_quarters + 1))
    pv_start = np.cumsum(start_cf * df_start, axis=1)  # starts of quarters <= k
    pv_end = np.cumsum(end_cf * df_end, axis=1)  # ends of quarters <= k
    pv_before[:, :n_quarters] = pv_start
    pv_before[:, 1:n_quarters] += pv_end[:, :-1]
    pv_before[:, n_quarters] = pv_start[:, -1] + pv_end[:, -1]

    df_h = df_end[-1]
    outstanding_h = np.maximum(drawn_to_date[:, -1] - np.cumsum(repay, axis=1)[:, -1], 0.0)
    outstanding_h = np.where(np.abs(outstanding_h) < 1e-9 * commit, 0.0, outstanding_h)
    terminal = instruments.held_at_horizon(kind, outstanding_h, df_h)

    return Schedules(
        draws=np.ascontiguousarray(draws),
        balance=np.ascontiguousarray(balance),
        pv_before=np.ascontiguousarray(pv_before),
        terminal=np.ascontiguousarray(terminal),
        cash_start=np.ascontiguousarray(start_cf),
        cash_end=np.ascontiguousarray(end_cf),
        df_start=df_start,
        df_end=df_end,
    )


def construction_steps(pf: Portfolio, steps_per_year: int) -> np.ndarray:
    """Steps of construction of each exposure (int64, (P,))."""
    return np.round(pf.col("construction_years") * steps_per_year).astype(np.int64)


def operating_window(pf: Portfolio, n_quarters: int, steps_per_year: int):
    """First operating step and one past the last of each exposure (int64, (P,) each):
    operation starts after construction and lasts ``life_years`` (to the horizon when
    empty); the end may lie after the horizon."""
    approval = pf.col("approval_quarter").astype(np.int64)
    life = pf.col("life_years")
    life_steps = np.where(np.isnan(life), -1,
                          np.round(np.nan_to_num(life) * steps_per_year)).astype(np.int64)
    start = approval + construction_steps(pf, steps_per_year)
    end = np.where(life_steps < 0, n_quarters, start + np.maximum(life_steps, 0))
    return start, end


def continuation_tables(operating_cash, pd_operating, deemed_spread_step, operating_start,
                        operating_end, n_quarters: int, steps_per_year: int,
                        tail_base_step: float, extra_spread_step: float, step_discount: float):
    """Per equity exposure (arrays (E,)), the deterministic cash after the horizon (mean
    multiplier, survival at the operating PD) and its deflated and discounted cumulative
    sums, for the closed-form horizon value
    (:func:`riskengine._kernels.waterfall.horizon_value_closed_form`).

    Returns
    -------
    table : (E, 5, L_max) float64
        Rows: cash ``x_j``, deflator ``(1 + r)^-j`` at the deemed rate (tail base rate +
        deemed spread + the first hurdle's extra spread), discount factor ``d^j``,
        ``cumsum(x v)``, ``cumsum(x d)``; ``j = 1 .. L`` steps after the horizon.
    lengths : (E,) int64
    """
    lens = np.maximum(operating_end - n_quarters, 0).astype(np.int64)
    table = np.zeros((len(lens), 5, max(int(lens.max(initial=0)), 1)))
    for e, n in enumerate(lens):
        if n == 0:
            continue
        j = np.arange(1, n + 1, dtype=float)
        k = n_quarters + j - 1
        surv = (1.0 - pd_operating[e]) ** (1.0 / steps_per_year)
        x = np.where(k >= operating_start[e], operating_cash[e] * surv ** j, 0.0)
        v = (1.0 + tail_base_step + deemed_spread_step[e] + extra_spread_step) ** -j
        d = step_discount ** j
        table[e, :, :n] = [x, v, d, np.cumsum(x * v), np.cumsum(x * d)]
    return np.ascontiguousarray(table), lens


def survivors(pf: Portfolio, sched: Schedules, path_dependent: np.ndarray,
              conditional: np.ndarray | None = None, flows: np.ndarray | None = None):
    """Loans and guarantees whose value does not depend on the path unless they default,
    pre-summed per institution, so a path only corrects for the exposures that default.

    Parameters
    ----------
    path_dependent : (P,) bool
        Exposures valued path by path (floating loans under a stochastic rate).
    conditional : (P,) bool, optional
        Rows the program may or may not fund on a path (:mod:`riskengine.deployment`):
        valued path by path and left out of the cash too.
    flows : (P, Q) float64, optional
        Each row's discounted flow by step that the yen figures convert if it survives
        (:func:`riskengine.yen_views.converted_flows`; default: its cash,
        :func:`discounted_flows`).

    Returns
    -------
    value : (P,) float64
        NPV of a survivor, NaN for equity and path-dependent exposures.
    loss : (I,) float64
        Minus the summed survivor values per institution.
    cash : (Q, I) float64
        The debt's undiscounted net cash per step if nothing defaults (rows funded on
        every path).
    pv : (I, Q) float64
        The pre-summed survivors' ``flows`` summed by institution (with their cash, the
        terminal value in the last step, its sum over steps is minus ``loss``; with a
        yen view's flows too, to rounding).
    """
    kind = pf.instrument_index
    inst = pf.institution_index
    if conditional is None:
        conditional = np.zeros(len(kind), dtype=bool)
    simple = (kind != EQUITY) & ~path_dependent & ~conditional
    value = np.where(simple, sched.npv_if_survives, np.nan)
    loss = np.zeros(len(INSTITUTIONS))
    np.add.at(loss, inst[simple], -value[simple])
    debt = (kind != EQUITY) & ~conditional
    return value, loss, _cash_by_step(pf, sched, debt), survivor_pv(pf, sched, simple, flows)


def _cash_by_step(pf: Portfolio, sched: Schedules, debt: np.ndarray) -> np.ndarray:
    """(Q, I) the undiscounted net cash per step of the ``debt`` rows if nothing defaults
    (floating loans at the scheduled rate)."""
    inst = pf.institution_index
    cash = np.zeros((sched.df_end.shape[0], len(INSTITUTIONS)))
    np.add.at(cash.T, inst[debt], (sched.cash_start + sched.cash_end)[debt])
    return cash


def discounted_flows(sched: Schedules) -> np.ndarray:
    """(P, Q) each row's discounted cash by step if it survives, its terminal value in the
    last step (the yen figures convert each step at its own USD/JPY)."""
    n_q = sched.df_end.shape[0]
    flows = sched.cash_start * sched.df_start + sched.cash_end * sched.df_end
    flows[:, n_q - 1] += sched.terminal
    return flows


def survivor_pv(pf: Portfolio, sched: Schedules, simple: np.ndarray,
                flows: np.ndarray | None = None) -> np.ndarray:
    """(I, Q) the discounted ``flows`` by step (default: the cash) of the ``simple``
    (pre-summed) survivors."""
    inst = pf.institution_index
    if flows is None:
        flows = discounted_flows(sched)
    pv = np.zeros((len(INSTITUTIONS), sched.df_end.shape[0]))
    np.add.at(pv, inst[simple], flows[simple])
    return pv


def step_end_dates(as_of, steps_per_year: int, n_steps: int) -> np.ndarray:
    """Last calendar day of each step: ``as_of`` plus whole months when a step is a whole
    number of months (quarters: 2025-10-01 -> 2025-12-31), else plus days at 365.25 a year."""
    import pandas as pd

    start = pd.Timestamp(as_of)
    if 12 % steps_per_year == 0:
        m = 12 // steps_per_year
        ends = [start + pd.DateOffset(months=m * (k + 1)) - pd.Timedelta(days=1) for k in range(n_steps)]
    else:
        ends = [start + pd.Timedelta(days=round(365.25 * (k + 1) / steps_per_year)) - pd.Timedelta(days=1)
                for k in range(n_steps)]
    return np.array([e.date().isoformat() for e in ends])


def fiscal_years(as_of, steps_per_year: int, n_steps: int, start_month: int):
    """The fiscal year of each step, by the step's last day (Japan's fiscal year FY2025
    runs from April 2025 to March 2026: ``start_month = 4``).

    Returns
    -------
    of_step : (Q,) int64
        Index of each step's fiscal year, 0 for the first.
    labels : list of str
        ``"FY2025"``, ... one per fiscal year the horizon touches.
    """
    ends = step_end_dates(as_of, steps_per_year, n_steps)
    years = np.array([int(e[:4]) - (int(e[5:7]) < start_month) for e in ends], dtype=np.int64)
    of_step = years - years[0]
    labels = [f"FY{y}" for y in range(int(years[0]), int(years[-1]) + 1)]
    return of_step, labels

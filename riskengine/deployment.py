"""Which projects the program funds, and when: pipeline selection to the deadline, the
funding window, declines and the tariff they cost (MODEL.md section 6; docs/model.md
"Selection, declines and the tariff boomerang").

A row with ``selection_prob = 1`` and nothing that can decline it is *unconditional*: it
is funded at its ``approval_quarter`` on every path, exactly as before this module
existed. Every other row belongs to a *unit*, its obligor (a project's loan, guarantee and
equity are selected, timed and declined together), and is expanded into one *variant* per
step in which its funding can start. On each path the kernel draws, per unit, whether it
is selected, when (a uniform mapped through the variants' cumulative probabilities) and
whether Japan declines it; exactly one variant of a selected unit is then live, and a
declined unit's chosen variant costs the tariff penalty instead.

Timing: the notice quarter is uniform on the whole quarters from the unit's approval
quarter to the quarter of ``program.selection_deadline``; the notice day is uniform over
that quarter's days (up to the deadline in the last one); Japan funds
``program.funding_window_days`` later (calendar or Monday-to-Friday business days), and
the funding day's step is the step the row's schedule starts in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Config
from .dates import notice_days, step_start_dates
from .portfolio import Portfolio


def funding_distribution(approval_step: int, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """The steps a unit approved at ``approval_step`` can be funded in, and their
    probabilities (summing to 1; mass falling past the horizon is dropped, so the sum may
    be less than 1).

    The notice quarter is uniform on ``approval_step .. deadline step`` (just the approval
    step when that is already past the deadline), the notice day uniform on that step's
    days (to the deadline in the deadline's step), funding ``funding_window_days`` later.
    """
    sim, prog = config.simulation, config.program
    n_q = sim.n_quarters
    starts = step_start_dates(sim.as_of, sim.steps_per_year, n_q)
    counts = np.zeros(n_q)
    quarters = notice_days(approval_step, config)
    for days in quarters:
        funded: np.ndarray = (
            np.busday_offset(days, prog.funding_window_days, roll="forward")
            if prog.funding_days == "business"
            else days + np.timedelta64(prog.funding_window_days, "D"))
        step = np.searchsorted(starts, funded, side="right") - 1
        inside = step < n_q
        np.add.at(counts, step[inside], 1.0 / (len(days) * len(quarters)))
    where = np.flatnonzero(counts > 0)
    return where.astype(np.int64), counts[where]


@dataclass(frozen=True)
class Deployment:
    """The portfolio as the kernels see it: unconditional rows once, conditional rows once
    per funding step, with the per-unit draws' parameters.

    Attributes
    ----------
    portfolio : Portfolio
        Expanded rows (P'): a variant keeps its parent's ``project_id`` and obligor, its
        ``approval_quarter`` is its funding step.
    parent : (P',) int64
        Row of the input portfolio each expanded row comes from.
    unit_of : (P',) int64
        The row's unit, -1 for unconditional rows.
    variant_lo, variant_hi : (P',) float64
        The variant is live when the unit's timing uniform lies in ``[lo, hi)``.
    unit_selection, unit_decline : (U,) float64
        Selection and decline probabilities before the regime's multipliers.
    unit_pipeline : (U,) bool
        ``selection_prob < 1``: the regime's selection multiplier applies, the timing is
        drawn.
    unit_forced : (U,) bool
        Declined whenever selected (``decline_rule = "pd_above"``).
    unit_obligor : list of str
    """

    portfolio: Portfolio
    parent: np.ndarray
    unit_of: np.ndarray
    variant_lo: np.ndarray
    variant_hi: np.ndarray
    unit_selection: np.ndarray
    unit_decline: np.ndarray
    unit_pipeline: np.ndarray
    unit_forced: np.ndarray
    unit_obligor: list

    @property
    def conditional(self) -> np.ndarray:
        return self.unit_of >= 0

    @property
    def expanded(self) -> bool:
        return len(self.unit_obligor) > 0


def deploy(pf: Portfolio, config: Config) -> Deployment:
    """Expand the conditional rows of ``pf`` (see the module docstring)."""
    t = pf.table
    sel, dec = pf.col("selection_prob"), pf.col("decline_prob")
    obligor = t["obligor"].to_numpy()
    pd_max = t.groupby("obligor")["pd_annual"].transform("max").to_numpy()
    prog = config.program
    forced = (prog.decline_rule == "pd_above") & (pd_max > prog.decline_pd_threshold)
    conditional = (sel < 1.0) | (dec > 0.0) | forced
    n = pf.n_projects
    if not conditional.any():
        return Deployment(pf, np.arange(n, dtype=np.int64), np.full(n, -1, np.int64),
                          np.zeros(n), np.ones(n), np.zeros(0), np.zeros(0),
                          np.zeros(0, bool), np.zeros(0, bool), [])
    units: dict[str, int] = {}
    for row in np.flatnonzero(conditional):
        units.setdefault(obligor[row], len(units))
    first_row = {ob: int(np.flatnonzero(obligor == ob)[0]) for ob in units}
    unit_selection = np.array([sel[first_row[o]] for o in units])
    unit_decline = np.array([dec[first_row[o]] for o in units])
    unit_pipeline = unit_selection < 1.0
    unit_forced = np.array([bool(forced[first_row[o]]) for o in units])
    approval = pf.col("approval_quarter").astype(np.int64)

    rows, unit_of, lo, hi, funding = [], [], [], [], []
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i in range(n):
        if not conditional[i]:
            rows.append(i)
            unit_of.append(-1)
            lo.append(0.0)
            hi.append(1.0)
            funding.append(int(approval[i]))
            continue
        u = units[obligor[i]]
        if unit_pipeline[u]:
            a = int(approval[i])
            if a not in cache:
                cache[a] = funding_distribution(a, config)
            steps, probs = cache[a]
        else:
            steps, probs = np.array([approval[i]]), np.array([1.0])
        edges = np.concatenate([[0.0], np.cumsum(probs)])
        if abs(edges[-1] - 1.0) < 1e-12:  # nothing dropped: no gap where none is live
            edges[-1] = 1.0
        for j, s in enumerate(steps):
            rows.append(i)
            unit_of.append(u)
            lo.append(edges[j])
            hi.append(edges[j + 1])
            funding.append(int(s))
    table = t.iloc[rows].reset_index(drop=True).copy()
    table["approval_quarter"] = np.array(funding, dtype=np.int64)
    expanded = Portfolio(table=table, sectors=pf.sectors, source=pf.source,
                         ignored_columns=pf.ignored_columns)
    return Deployment(expanded, np.array(rows, np.int64), np.array(unit_of, np.int64),
                      np.array(lo), np.array(hi), unit_selection, unit_decline, unit_pipeline,
                      unit_forced, list(units))


def tariff_schedule(commitment: np.ndarray, start_step: np.ndarray, config: Config,
                    df_end: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """What declining each row costs: ``penalty_usd_per_year / steps_per_year`` per
    declined dollar at the end of each step, for ``duration_years`` from the funding step
    (cut at the horizon), discounted like every other flow.

    Returns ``(per_step, pv, n_steps)``: cash per step (P,), its present value (P,), and
    the penalty's length in steps.
    """
    sim, tariff = config.simulation, config.tariff
    per_step = commitment * tariff.penalty_usd_per_year / sim.steps_per_year
    n_steps = int(round(tariff.duration_years * sim.steps_per_year))
    cum = np.concatenate([[0.0], np.cumsum(df_end)])
    end = np.minimum(start_step + n_steps, len(df_end))
    pv = per_step * (cum[end] - cum[start_step])
    return per_step, pv, n_steps


def trigger_schedule(config: Config, df_end: np.ndarray) -> tuple[float, np.ndarray]:
    """What the trigger form costs once it is pulled: ``trigger_penalty_usd_per_year /
    steps_per_year`` at the end of each step, for ``duration_years`` from the step it is
    pulled in (cut at the horizon), discounted like :func:`tariff_schedule`'s.

    Returns ``(per_step, pv)``: the penalty per step and its present value if pulled at
    each step (Q,).
    """
    sim, tariff = config.simulation, config.tariff
    per_step = float(tariff.trigger_penalty_usd_per_year) / sim.steps_per_year
    n_steps = int(round(tariff.duration_years * sim.steps_per_year))
    cum = np.concatenate([[0.0], np.cumsum(df_end)])
    start = np.arange(len(df_end))
    end = np.minimum(start + n_steps, len(df_end))
    return per_step, per_step * (cum[end] - cum[start])

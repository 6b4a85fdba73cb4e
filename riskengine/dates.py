"""Calendar dates of the simulation's steps and of the elections inside its horizon: pure
date arithmetic on config values, which the config, the deployment and the elections all
read (so none of them imports another for it)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np
import pandas as pd


def step_start_dates(as_of: _dt.date, steps_per_year: int, n_steps: int) -> np.ndarray:
    """First calendar day of each step (and of the step after the last), as numpy days."""
    start = pd.Timestamp(as_of)
    if 12 % steps_per_year == 0:
        m = 12 // steps_per_year
        days = [start + pd.DateOffset(months=m * k) for k in range(n_steps + 1)]
    else:
        days = [start + pd.Timedelta(days=round(365.25 * k / steps_per_year))
                for k in range(n_steps + 1)]
    return np.array([d.date() for d in days], dtype="datetime64[D]")


@dataclass(frozen=True)
class Calendar:
    """The elections whose new regime takes effect inside the horizon, by date.

    Attributes
    ----------
    names : tuple of str
    dates : (E,) datetime64[D]
    step : (E,) int64, the first step whose start is after the election day: the new
        regime's first quarter (and the deal's first quarter without it)
    ignored : tuple of str, the config's other elections (before ``as_of`` or in or after
        the last quarter), with why
    """

    names: tuple[str, ...]
    dates: np.ndarray
    step: np.ndarray
    ignored: tuple[str, ...]


def calendar(config) -> Calendar:
    """The elections of ``config`` (a :class:`~riskengine.config.Config`) inside the
    horizon (:class:`Calendar`)."""

    sim = config.simulation
    starts = step_start_dates(sim.as_of, sim.steps_per_year, sim.n_quarters)
    names, dates, steps, ignored = [], [], [], []
    for e in sorted(config.elections, key=lambda e: e.date):
        day = np.datetime64(e.date, "D")
        step = int(np.searchsorted(starts, day, side="right"))  # first start after it
        if day < starts[0]:
            ignored.append(f"elections: {e.name!r} ({e.date}) is before simulation.as_of "
                           f"{sim.as_of}: ignored")
        elif step >= sim.n_quarters:
            ignored.append(f"elections: {e.name!r} ({e.date}) takes effect after the "
                           "horizon's last quarter begins: ignored")
        else:
            names.append(e.name)
            dates.append(day)
            steps.append(step)
    return Calendar(tuple(names), np.array(dates, dtype="datetime64[D]"),
                    np.array(steps, dtype=np.int64), tuple(ignored))


def notice_days(approval_step: int, config) -> list[np.ndarray]:
    """The possible notice days of a unit approved at ``approval_step``, one array per
    notice quarter: the quarters from the approval quarter to the deadline's (just the
    approval quarter when that is already past the deadline), each quarter's days (to the
    deadline in the deadline's quarter). The notice quarter is uniform over the arrays and
    the day uniform within one (``config`` a :class:`~riskengine.config.Config`)."""
    sim, prog = config.simulation, config.program
    n_q = sim.n_quarters
    starts = step_start_dates(sim.as_of, sim.steps_per_year, n_q)
    deadline = np.datetime64(prog.selection_deadline, "D")
    dl_step = int(np.searchsorted(starts, deadline, side="right") - 1)
    last = max(approval_step, min(dl_step, n_q - 1))
    out = []
    for q in range(approval_step, last + 1):
        end_day = starts[q + 1] - np.timedelta64(1, "D")
        if q == dl_step and deadline < end_day:
            end_day = deadline
        out.append(np.arange(starts[q], end_day + np.timedelta64(1, "D")))
    return out

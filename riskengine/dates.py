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



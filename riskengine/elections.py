"""Regimes that switch at elections and a deal that can end (docs/model.md "Elections
and the deal's end"), on the Python side: the calendar of the elections inside the
horizon, the regime histories and their probabilities, each history's default curves, and
each unit's probability of a notice on or before each election.

A path's regime history is ``(r_0, r_1, ..., r_E)``: ``r_0`` today's regime (drawn as
without elections), ``r_k`` the regime after election ``k``, a Markov chain whose row
``r`` moves to regime ``j != r`` with ``switch[j]`` and stays with the rest. Its index is
``h = sum_k r_k R^k``, so without elections ``h = r_0``: the kernels read the default
tables by ``h`` where they read them by regime before.
"""

from __future__ import annotations

import itertools

import numpy as np

from .config import Config
from .dates import Calendar, calendar, notice_days, step_start_dates  # noqa: F401  (calendar: the config's)
from .errors import ConfigError

#: the most regime histories (R^(E+1)) a run builds default tables for
MAX_HISTORIES = 4096


def switch_matrix(config: Config) -> np.ndarray:
    """(R, R) the probability of moving from regime ``r`` (row) to ``j`` at an election:
    ``switch[j]`` off the diagonal, the rest on it (1 with one regime or none)."""
    regimes = config.regimes
    if not regimes:
        return np.ones((1, 1))
    names = [r.name for r in regimes]
    out = np.zeros((len(regimes), len(regimes)))
    for i, r in enumerate(regimes):
        for other, prob in r.switch.items():
            out[i, names.index(other)] = prob
        out[i, i] = max(1.0 - sum(r.switch.values()), 0.0)
    return out


def histories(n_regimes: int, n_elections: int) -> np.ndarray:
    """(H, E + 1) int64 every regime history in index order (``h = sum_k r_k R^k``)."""
    rows = [tuple(reversed(t)) for t in itertools.product(range(n_regimes),
                                                           repeat=n_elections + 1)]
    return np.array(rows, dtype=np.int64).reshape(-1, n_elections + 1)


def history_probability(today: np.ndarray, switch: np.ndarray, n_elections: int) -> np.ndarray:
    """(H,) each history's probability given today's regime probabilities ``today`` (R,)."""
    hist = histories(len(today), n_elections)
    p = today[hist[:, 0]].astype(float)
    for k in range(n_elections):
        p = p * switch[hist[:, k], hist[:, k + 1]]
    return p


def check_size(n_regimes: int, n_elections: int, n_groups: int, n_steps: int) -> None:
    """Refuse a run whose regime histories' default tables would not fit."""
    n_hist = n_regimes ** (n_elections + 1)
    if n_elections and (n_hist > MAX_HISTORIES or n_hist * n_groups * n_steps > 5e7):
        raise ConfigError(
            f"[[elections]]: {n_regimes} regimes and {n_elections} elections inside the "
            f"horizon make {n_hist} regime histories, whose default tables ({n_groups} "
            f"groups x {n_steps} steps each) are too large; use fewer [[elections]] or "
            "[[regimes]]")


def history_curves(cum_pd: np.ndarray, approval: np.ndarray, election_step: np.ndarray,
                   n_regimes: int) -> np.ndarray:
    """Each regime history's cumulative default curves (H, G, Q) by step since approval.

    The regime in force in absolute step ``s`` is ``r_k``, ``k`` the number of elections
    with ``step <= s``. The survival follows the curve of the regime in force, continued
    where the previous one stopped: at a switch from ``a`` to ``b`` at relative step ``j``
    ``S(i) = S(j - 1) S_b(i) / S_b(j - 1)`` for ``i >= j`` (``S_b(-1) = 1``), so the
    hazard of each step is its regime's. A history that stays in one regime has exactly
    that regime's curve (to the bit).

    Parameters
    ----------
    cum_pd : (R, G, Q) float64, each regime's cumulative PD by step since approval
    approval : (G,) int64, each group's approval step
    election_step : (E,) int64, each election's first step of the new regime
    """
    n_groups, n_q = cum_pd.shape[1], cum_pd.shape[2]
    hist = histories(n_regimes, len(election_step))
    surv = 1.0 - cum_pd  # (R, G, Q)
    out = np.empty((len(hist), n_groups, n_q))
    rel = np.arange(n_q)
    gi = np.arange(n_groups)
    # the election in force at each group's relative step, and each switch's relative step
    k_of = np.searchsorted(election_step, approval[:, None] + rel[None, :], side="right")
    j_of = election_step[None, :] - approval[:, None]  # (G, E)
    for h, regimes_h in enumerate(hist):
        s = surv[regimes_h[k_of], gi[:, None], rel[None, :]]  # each step's own regime's
        for k in range(len(election_step)):  # in date order: each switch continues the last
            b = regimes_h[k + 1]
            j = j_of[:, k]
            valid = (j >= 1) & (j < n_q) & (b != regimes_h[k])
            if not valid.any():
                continue
            jj = np.clip(j, 1, n_q - 1) - 1
            carried, before_b = s[gi, jj], surv[b, gi, jj]
            with np.errstate(divide="ignore", invalid="ignore"):
                tail = np.where(before_b[:, None] > 0.0, surv[b] / before_b[:, None], 0.0)
            s = np.where(valid[:, None] & (rel[None, :] >= j[:, None]),
                         carried[:, None] * tail, s)
        out[h] = 1.0 - s
    # a history that never switches is its regime's curve, as tabled
    for h, regimes_h in enumerate(hist):
        if np.all(regimes_h == regimes_h[0]):
            out[h] = cum_pd[regimes_h[0]]
    return np.ascontiguousarray(out)


def notice_cdf(approval_step: int, dates: np.ndarray, config: Config) -> np.ndarray:
    """(E,) the probability that a unit approved at ``approval_step`` gets its notice on or
    before each election day, with the notice-day distribution of
    :func:`riskengine.deployment.funding_distribution` (quarter uniform from the approval
    quarter to the deadline's, day uniform in it), in the notice days' order: the unit's
    timing uniform is below it exactly when its notice is on or before the election."""
    quarters = notice_days(approval_step, config)
    out = np.zeros(len(dates))
    for days in quarters:
        for k, d in enumerate(dates):
            out[k] += np.count_nonzero(days <= d) / (len(days) * len(quarters))
    return out


def named_notice_cdf(approval_step: int, dates: np.ndarray, config: Config) -> np.ndarray:
    """(E,) a named project's (timing fixed at 0.5, :mod:`._kernels.program`): its notice
    is the middle of its approval quarter, so 1 for an election on or after that day and 0
    before it (the unit's timing 0.5 against a cut of 0 or 1)."""
    sim = config.simulation
    starts = step_start_dates(sim.as_of, sim.steps_per_year, sim.n_quarters)
    a = min(approval_step, sim.n_quarters - 1)
    mid = starts[a] + (starts[a + 1] - starts[a]) // 2
    return np.array([1.0 if d >= mid else 0.0 for d in dates])

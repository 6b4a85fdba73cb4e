"""What each instrument puts in, earns, loses and recovers: the Python side of the rules.

The schedules (:mod:`riskengine.schedules`), importance sampling's loss per default
(:mod:`riskengine.importance`) and the tests read an instrument's semantics here; the
kernels' twin is :mod:`riskengine._kernels.instruments` (a test holds the two equal on
every instrument). ``kind`` is an array of :class:`~riskengine.codes.Instrument` codes.

- **Loan** (JBIC): draws out at step starts, interest and repayments in at step ends, its
  outstanding balance held at the horizon; at default it loses ``lgd EAD``.
- **Guarantee** (NEXI): no cash out until a default; a premium on ``coverage`` of the bank
  loan's balance at step ends; at default a claim of ``coverage lgd EAD``.
- **Equity** (JBIC's investments): capital calls out at step starts; its operating cash,
  waterfall and default are the equity kernel's (:mod:`riskengine._kernels.equity`).
"""

from __future__ import annotations

import numpy as np

from .codes import Instrument

LOAN, GUARANTEE, EQUITY = Instrument.LOAN, Instrument.GUARANTEE, Instrument.EQUITY


def share(kind, coverage):
    """The institution's share of the underlying balance: a guarantee's coverage, else 1."""
    return np.where(kind == GUARANTEE, coverage, 1.0)


def start_cash(kind, draws):
    """Cash at step starts if nothing defaults (Q columns): the draws out, for loans and
    equity."""
    return np.where(((kind == LOAN) | (kind == EQUITY))[:, None], -draws, 0.0)


def end_cash(kind, balance, rate_step, repay, coverage):
    """Cash at step ends if nothing defaults: a loan's interest at ``rate_step`` (per step)
    on its balance and its repayments; a guarantee's premium on its covered balance."""
    out = np.zeros(balance.shape)
    out = np.where((kind == LOAN)[:, None], balance * rate_step[:, None] + repay, out)
    return np.where((kind == GUARANTEE)[:, None],
                    coverage[:, None] * balance * rate_step[:, None], out)


def held_at_horizon(kind, outstanding, df_horizon):
    """PV of what a survivor still holds at the horizon: a loan's outstanding balance at
    par; nothing for a guarantee (equity is valued by its kernel)."""
    return np.where(kind == LOAN, outstanding * df_horizon, 0.0)


def default_outcome(kind, k, lgd, coverage, ead, pv_before_k, df_end):
    """Credit loss and NPV of loans and guarantees defaulting in step ``k`` (arrays), the
    recovery (or the claim) at the step's end: the vectorised form of the kernels'
    ``debt_default`` without a recovery lag (the twin a test holds it equal to)."""
    d = df_end[k]
    claim = coverage * ead * lgd
    credit = np.where(kind == GUARANTEE, claim, lgd * ead)
    npv = np.where(kind == GUARANTEE, pv_before_k - claim * d,
                   pv_before_k + (1.0 - lgd) * ead * d)
    return credit, npv

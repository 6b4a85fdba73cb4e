"""The yen views (``fx.view``): which dollar flows ``economic_loss_jpy`` converts at each
step's USD/JPY, declared once.

Both views give the same dollar economic loss; they differ in *when* each part of it is
converted. A path's yen economic loss is ``-sum_q X_q f_q`` (``X_q`` USD/JPY at step
``q``'s end, :func:`riskengine._kernels.yen.fx_for_path`), where ``f_q`` is the discounted
flow of step ``q`` the view converts, and ``sum_q f_q = -economic_loss`` in both views.

- **unhedged**: ``f_q`` is every gross dollar flow of the step (the principal out, the
  repayments back, interest, premiums, claims, recoveries, the horizon values): a book
  whose principal is translated at the rate of the day it moves.
- **funding_matched** (the default): the book is funded in dollars at the discount rate
  (JBIC's dollar funding cost), so the principal lent is the principal owed and only
  what Japan bears is converted, when it occurs: net income (interest over the funding
  cost, premiums, equity receipts over the carry of the invested capital), credit losses
  (at default the outstanding balance counts as returned, so the write-off shows at the
  default step and any recovery at the recovery's step), claims, the tariff. Per funded
  row ``f_q = pv_q - H_q`` with ``H_q`` the discounted principal exchange of step ``q``
  plus the funding accrual on the balance outstanding in it,
  ``H_q = -D_q d^s_q + R_q d^e_q + B_q (d^s_q - d^e_q)`` (draw ``D`` at the step's start,
  repayment ``R`` at its end, the balance held at the horizon returned in the last step);
  with ``B_{q+1} = B_q - R_q + D_{q+1}`` and ``d^e_q = d^s_{q+1}`` this telescopes to
  ``H_q = O_q d^s_q - O_{q+1} d^e_q`` (``O_q = B_q - D_q`` the balance carried into step
  ``q``), so ``sum_q H_q = 0``: the funding of the principal is exactly worth the
  principal at the funding rate, and ``sum_q f_q = sum_q pv_q``. A loan defaulting in
  step ``k`` has ``H_k = O_k d^s_k`` (its balance returned at the step's end);
  guarantees have no principal (premiums and claims are already net); an equity
  vehicle's invested capital ``C_q`` (path-dependent: overruns) is funded until its
  default or the horizon, in the kernel (:func:`riskengine._kernels.equity.equity_path`).

The kernels read a view as data: each row's converted survivor flows
(:func:`converted_flows`) and whether its principal is funded (:func:`funded_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .codes import Instrument
from .schedules import Schedules, discounted_flows


@dataclass(frozen=True)
class YenView:
    """One value of ``fx.view``.

    Attributes
    ----------
    name : the config value
    funded : the instruments whose principal is funded in dollars: left out of the
        converted flows together with its funding cost
    label : what the yen figures are, for the summary and the results' metadata
    """

    name: str
    funded: frozenset[Instrument]
    label: str


#: every ``fx.view``, the default first
YEN_VIEWS: dict[str, YenView] = {v.name: v for v in (
    YenView("funding_matched", frozenset({Instrument.LOAN, Instrument.EQUITY}),
            "funding-matched: what Japan bears on a dollar-funded book (credit losses, "
            "net income over the funding cost, claims, the tariff), each at the USD/JPY "
            "of its step; principal not converted"),
    YenView("unhedged", frozenset(),
            "unhedged: every gross dollar flow, principal included, at the USD/JPY of "
            "its step"),
)}


def view_of(config) -> YenView:
    """The view of a config (the default's without ``[fx]``: its tables are then unread)."""
    return YEN_VIEWS[config.fx.view if config.fx is not None else "funding_matched"]


def yen_basis(fx: dict) -> str:
    """What the yen figures are, from a config's ``[fx]`` table as a dict (the summary's
    ``economic_loss_jpy`` attribute, the terminal's note)."""
    view = YEN_VIEWS[fx.get("view", "funding_matched")]
    return (f"fx.view = \"{view.name}\", {view.label} (spot {fx.get('usd_jpy')}, "
            f"volatility {fx.get('volatility', 0):.1%})")


def funded_rows(view: YenView, kind: np.ndarray) -> np.ndarray:
    """(P,) bool: the rows whose principal the view funds (``kind``: instrument codes)."""
    return np.isin(kind, [int(i) for i in view.funded])


def principal_and_funding(sched: Schedules) -> np.ndarray:
    """(P, Q) ``H_q``: each row's discounted principal exchange of step ``q`` if it
    survives (draws out, repayments and the balance held at the horizon back) plus the
    funding accrual on its balance at the rate the flows are discounted at, in the
    telescoped form ``O_q d^s_q - O_{q+1} d^e_q`` (module docstring); a row's ``H`` sums
    to 0 over the steps. Meaningful for loans (a guarantee's balance is the bank's)."""
    carried = sched.balance - sched.draws  # O_q, carried into step q
    nxt = np.zeros_like(carried)
    nxt[:, :-1] = carried[:, 1:]  # O_{q+1}
    # the last step: the balance held at the horizon is returned there (the terminal
    # value, O_Q d^e), which cancels its -O_Q d^e: H = O_{Q-1} d^s
    return carried * sched.df_start - nxt * sched.df_end


def converted_flows(view: YenView, kind: np.ndarray, sched: Schedules) -> np.ndarray:
    """(P, Q) the discounted flow of each step the view converts if the row survives:
    its cash (:func:`riskengine.schedules.discounted_flows`), less the principal and its
    funding (:func:`principal_and_funding`) for the loans it funds. Equity's rows are
    not read (its kernel tracks its flows)."""
    flows = discounted_flows(sched)
    loans = funded_rows(view, kind) & (kind == Instrument.LOAN)
    if loans.any():
        flows[loans] -= principal_and_funding(sched)[loans]
    return flows

"""What a debt instrument loses and recovers, and when: the kernels' instrument rules.

One function per instrument gives everything a default means for it on a path
(:class:`~.bundles.DebtDefault`): the credit loss, the NPV, the discounted cash of the
default step and the recovery paid ``lag`` steps later, and the same cash undiscounted for
the timeline. The survivor's cash comes from the schedules (:mod:`riskengine.schedules`,
whose cash rules are :mod:`riskengine.instruments`, the Python twin of this module; a test
holds the two equal on every instrument).

- **Loan** (JBIC): at a default in step ``k`` with exposure ``EAD = balance[k]`` it loses
  ``lgd EAD`` and recovers ``(1 - lgd) EAD`` at the step's end (or ``lag`` steps later).
- **Guarantee** (NEXI): it covers ``coverage`` of the bank loan's balance; at default it
  pays its cover ``coverage EAD`` and recovers ``coverage (1 - lgd) EAD``: a claim of
  ``coverage EAD lgd`` net, at the step's end, or the cover now and the recovery ``lag``
  steps later.
"""

from __future__ import annotations

from numba import njit

from ..codes import Instrument
from .bundles import DebtDefault


@njit(inline="always")
def lagged_recovery_cost(recovery, k, lag, df_end):
    """What a recovery ``lag`` steps after a default in step ``k`` costs in present value
    against one paid at the end of step ``k``: ``R df_end[k] (1 - d^lag)``, ``d`` one
    step's discount factor."""
    return recovery * df_end[k] * (1.0 - df_end[0] ** lag)


# Each figure below is written as the kernel always computed it, to keep its bits: the
# discounted recovery associates as (share (1 - lgd)) EAD, the timeline's as
# share ((1 - lgd) EAD); ``+ 0.0`` turns the -0.0 of a step without a draw into +0.0.
@njit(inline="always")
def loan_default(k, lgd, lag, ead, pv_before_k, cash_start_k, df_start_k, df_end):
    """A loan defaulting in step ``k`` (``pv_before_k``: the PV of its cash before the
    default; ``cash_start_k``: the step's draw, negative)."""
    credit = lgd * ead
    npv = pv_before_k + (1.0 - lgd) * ead * df_end[k]
    recovered = (1.0 - lgd) * ead
    if lag > 0:
        npv -= lagged_recovery_cost((1.0 - lgd) * ead, k, lag, df_end)
        return DebtDefault(credit, npv, cash_start_k * df_start_k, (1.0 - lgd) * ead,
                           cash_start_k + 0.0, recovered)
    return DebtDefault(credit, npv, cash_start_k * df_start_k + (1.0 - lgd) * ead * df_end[k],
                       0.0, cash_start_k + recovered, 0.0)


@njit(inline="always")
def guarantee_default(k, lgd, lag, coverage, ead, pv_before_k, cash_start_k, df_start_k,
                      df_end):
    """A guarantee defaulting in step ``k`` (``ead``: the covered loan's whole balance)."""
    claim = coverage * ead * lgd
    npv = pv_before_k - claim * df_end[k]
    if lag > 0:
        npv -= lagged_recovery_cost(coverage * (1.0 - lgd) * ead, k, lag, df_end)
        return DebtDefault(claim, npv, cash_start_k * df_start_k - coverage * ead * df_end[k],
                           coverage * (1.0 - lgd) * ead, cash_start_k + -coverage * ead,
                           coverage * ((1.0 - lgd) * ead))
    return DebtDefault(claim, npv, cash_start_k * df_start_k - claim * df_end[k], 0.0,
                       cash_start_k - claim, 0.0)


@njit(inline="always")
def debt_default(instrument, k, lgd, lag, coverage, ead, pv_before_k, cash_start_k, df_start_k,
                 df_end):
    """The default of a loan or a guarantee (``instrument``: :class:`~riskengine.codes.
    Instrument`) in step ``k``."""
    if instrument == Instrument.GUARANTEE:
        return guarantee_default(k, lgd, lag, coverage, ead, pv_before_k, cash_start_k,
                                 df_start_k, df_end)
    return loan_default(k, lgd, lag, ead, pv_before_k, cash_start_k, df_start_k, df_end)


@njit
def debt_default_for_test(instrument, k, lgd, lag, coverage, ead, pv_before_k, cash_start_k,
                          df_start_k, df_end):
    """:func:`debt_default` callable from Python, for the test that holds it equal to
    :func:`riskengine.instruments.default_outcome` (compiled there, not cached)."""
    return debt_default(instrument, k, lgd, lag, coverage, ead, pv_before_k, cash_start_k,
                        df_start_k, df_end)

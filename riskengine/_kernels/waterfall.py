"""The MOU profit-sharing waterfall as data: ordered tiers, each with Japan's share; every
tier but the last runs "until" its hurdle balance is repaid.

Hurdle balance ``B_t`` (one per non-final tier) starts at zero, rises by each capital
contribution at the start of the quarter it is drawn, accrues by
``1 + (base_rate + deemed_spread + extra_spread_t) / steps_per_year`` on the balance at the
start of the quarter, and falls by everything Japan receives. The first tier whose balance
is still positive applies; the cash that brings its balance to zero is split by that tier
and the rest of the quarter's cash by the next ones. ``B_0`` (the first tier's balance,
or, with a single tier, a balance tracked at the deemed rate) is the deemed allocation
outstanding; Japan "recoups" in the quarter it reaches zero.
"""

from __future__ import annotations

from . import CACHE  # noqa: E402
from numba import njit


@njit(cache=CACHE)
def waterfall_split(cash, shares, balances, n_hurdles):
    """Split one quarter's distributable ``cash`` and update the hurdle ``balances`` in
    place. Returns Japan's part; the US gets ``cash - japan`` (conserved exactly).

    ``shares`` (n_tiers,) Japan's share per tier; ``balances`` (n_hurdles,) the hurdle
    balances of tiers ``0 .. n_hurdles - 1`` (the last tier has none). With
    ``n_hurdles == 0`` the single tier applies throughout and ``balances[0]`` (the deemed
    balance) is only reduced by Japan's receipts.
    """
    japan = 0.0
    rest = cash
    t = 0
    while t < n_hurdles and rest > 0.0:
        b = balances[t]
        if b > 0.0:
            s = shares[t]
            if s <= 0.0:
                return japan  # a zero-share hurdle is never repaid: all to the US
            need = b / s  # cash that brings this tier's balance to zero
            take = rest if rest < need else need
            j = s * take
            japan += j
            rest -= take
            for q in range(n_hurdles):
                balances[q] = balances[q] - j if balances[q] > j else 0.0
            if take == need:
                balances[t] = 0.0
        t += 1
    if rest > 0.0:
        j = shares[n_hurdles] * rest
        japan += j
        if n_hurdles == 0:
            balances[0] = balances[0] - j if balances[0] > j else 0.0
        else:
            for q in range(n_hurdles):
                balances[q] = balances[q] - j if balances[q] > j else 0.0
    return japan

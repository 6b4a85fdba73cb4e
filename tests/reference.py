"""Slow, obviously-correct reference implementations ("oracles") for testing the engine.

Nothing here imports ``riskengine._kernels``, ``riskengine.schedules``,
``riskengine.dependence`` or ``riskengine.simulate``: the oracles are written from
``docs/model.md`` alone, in plain Python / NumPy / SciPy, as literally as possible
(a loop over paths, a loop over quarters, one exposure at a time), so that they can be
checked by reading them.

Contents
--------
* SplitMix64 counter-based random numbers in pure Python integers (mod 2**64):
  :func:`mix64`, :func:`stream_key`, :func:`path_key`, :func:`uniform`,
  :func:`splitmix_uniform`, :func:`splitmix_normal`.
* :class:`HurdleWaterfall` and :func:`waterfall_reference`: the MOU profit-sharing
  waterfall of one project, quarter by quarter, in Python floats.
* :func:`simulate_reference`: the Gaussian-copula default-time model with loans,
  guarantees and equity (cash calls, operating cash with the sector cash index and
  idiosyncratic shocks, default and recovery through the waterfall, going-concern value
  at the horizon), returning per-path credit and economic losses for ``[JBIC, NEXI]``,
  per-project default indicators and quarters, equity receipts, deemed balances, recoup
  quarters, Japan's IRR and the undiscounted net cash per quarter.
* :func:`irr_reference`: Japan's annual IRR by Brent's method.
* :func:`vasicek_finite_pool_pmf`: distribution of the number of defaults in a
  homogeneous one-factor (Vasicek) pool of ``n`` names.

Limitations (deliberate): :func:`simulate_reference` supports ``lgd_sd == 0`` only
(a deterministic LGD); a row with ``lgd_sd > 0`` raises ``NotImplementedError``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import integrate, special, stats

# --------------------------------------------------------------------------------------
# Random numbers: SplitMix64 in pure Python integers
# --------------------------------------------------------------------------------------

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15

STREAM_FACTOR = 1  # sector factors, draw j = factor j (docs/model.md "Random numbers")
STREAM_IDIO = 2  # idiosyncratic default uniform, draw 0
STREAM_LGD = 3  # beta LGD (not used here: lgd_sd == 0 only)
STREAM_CASH = 4  # equity: idiosyncratic cash shock eps[i, k], draw k (item = project id)
STREAM_CASH_FACTOR = 5  # equity: sector cash innovations, draw j * Q + k (item 0; v1: k * K + j)

INSTITUTIONS = ("JBIC", "NEXI")


def mix64(z: int) -> int:
    """SplitMix64 finaliser on a 64-bit unsigned integer."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def item_hash(item) -> int:
    """A project id (str) hashed with BLAKE2b (8 bytes, little endian); ints pass through."""
    if isinstance(item, str):
        return int.from_bytes(hashlib.blake2b(item.encode(), digest_size=8).digest(), "little")
    return int(item)


def stream_key(seed: int, stream: int, item=0) -> int:
    """Key of a ``(seed, stream, item)`` triple."""
    k = mix64(mix64(seed) ^ mix64(stream * GOLDEN + 0x632BE59BD9B4E019))
    return mix64(k ^ mix64(item_hash(item)))


def path_key(key: int, path: int) -> int:
    """``mix64(key + (path + 1) * GOLDEN)``: the seed of one (stream, item) on one path."""
    return mix64((key + (path + 1) * GOLDEN) & MASK64)


def uniform(pkey: int, n: int) -> float:
    """The n-th uniform of stream ``pkey``: ``((mix64(pkey + (n+1) G) >> 11) + 0.5) 2^-53``.

    The ``+ 0.5`` is a float64 addition (rounded like the engine's), not exact arithmetic.
    """
    x = mix64((pkey + (n + 1) * GOLDEN) & MASK64)
    return (float(x >> 11) + 0.5) * (2.0 ** -53)


def splitmix_uniform(seed_key: int, path: int, n: int) -> float:
    """The n-th uniform of the stream with key ``seed_key`` (from :func:`stream_key`) on
    ``path``."""
    return uniform(path_key(int(seed_key), path), n)


# Ziggurat (Doornik 2005, ZIGNOR; 256 layers with Marsaglia and Tsang's 2000 constants,
# results version 2), written from the papers' description:
# layer edges x[0] = V / f(R), x[1] = R, x[i] = sqrt(-2 log(V / x[i-1] + f(x[i-1]))),
# x[256] = 0, f(t) = exp(-t^2 / 2). Draw n of stream k uses the 64-bit word
# w = mix64(k + (n+1) G): layer i = w mod 256, u = 2 U - 1 with U = ((w >> 11) + 0.5) 2^-53.
# Outside the rectangle it continues on the sub-stream r = mix64(k XOR (n+1) SALT).
_LAYERS, _ZIG_R, _ZIG_V = 256, 3.6541528853610088, 0.00492867323399
_SALT = 0xD1B54A32D192ED03


def _zig_layers():
    f = lambda t: math.exp(-0.5 * t * t)
    x = [_ZIG_V / f(_ZIG_R), _ZIG_R]
    for _ in range(2, _LAYERS):
        x.append(math.sqrt(-2.0 * math.log(_ZIG_V / x[-1] + f(x[-1]))))
    x.append(0.0)
    return x


_ZX = _zig_layers()


def _word_to_layer(w: int):
    return w & (_LAYERS - 1), 2.0 * ((float(w >> 11) + 0.5) * (2.0 ** -53)) - 1.0


def normal(pkey: int, n: int) -> float:
    """The n-th standard normal of stream ``pkey`` (ziggurat, see above)."""
    i, u = _word_to_layer(mix64((pkey + (n + 1) * GOLDEN) & MASK64))
    if abs(u) < _ZX[i + 1] / _ZX[i]:
        return u * _ZX[i]
    r = mix64(pkey ^ (((n + 1) * _SALT) & MASK64))
    t = 0
    while True:
        if i == 0:  # Marsaglia's tail
            while True:
                a = -math.log(uniform(r, t)) / _ZIG_R
                b = -math.log(uniform(r, t + 1))
                t += 2
                if b + b >= a * a:
                    return -(_ZIG_R + a) if u < 0 else _ZIG_R + a
        x = u * _ZX[i]
        f0 = math.exp(-0.5 * (_ZX[i] * _ZX[i] - x * x))
        f1 = math.exp(-0.5 * (_ZX[i + 1] * _ZX[i + 1] - x * x))
        if f1 + uniform(r, t) * (f0 - f1) < 1.0:
            return x
        i, u = _word_to_layer(mix64((r + (t + 1) * _SALT) & MASK64))
        t += 2
        if abs(u) < _ZX[i + 1] / _ZX[i]:
            return u * _ZX[i]


def splitmix_normal(seed_key: int, path: int, n: int) -> float:
    """The n-th standard normal of the stream with key ``seed_key`` on ``path``."""
    return normal(path_key(int(seed_key), path), n)


# --------------------------------------------------------------------------------------
# Portfolio input (plain DataFrame; defaults as documented for the portfolio columns)
# --------------------------------------------------------------------------------------

_DEFAULTS = {
    "lgd_sd": 0.0,
    "approval_quarter": 0,
    "funding_quarters": 1,
    "tenor_years": math.nan,
    "rate": 0.0,
    "coverage": 1.0,
    "construction_years": 0.0,
    "amortization": "linear",
    "expected_yield": 0.0,
    "cf_vol": 0.0,
    "life_years": math.nan,  # NaN: operates until the horizon
    "deemed_spread": 0.0,
}


def _canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Fill missing optional columns and sort by ``project_id`` (the engine's order)."""
    df = df.copy()
    for c, v in _DEFAULTS.items():
        if c not in df.columns:
            df[c] = v
        elif c == "amortization":
            df[c] = df[c].fillna(v).astype(str).str.strip()
        elif c in ("tenor_years", "life_years"):  # NaN: no maturity / operates to the horizon
            df[c] = pd.to_numeric(df[c]).astype(float)
        else:
            df[c] = pd.to_numeric(df[c]).astype(float).fillna(v)
    if "pd_construction" not in df.columns:
        df["pd_construction"] = df["pd_annual"]
    else:
        df["pd_construction"] = df["pd_construction"].astype(float).where(
            df["pd_construction"].notna(), df["pd_annual"])
    df["project_id"] = df["project_id"].astype(str)
    return df.sort_values("project_id", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------
# The MOU waterfall of one project (docs/model.md "Waterfall")
# --------------------------------------------------------------------------------------

#: the config's default tiers: 50/50 until the deemed allocation is repaid, then 10% Japan
DEFAULT_TIERS = ({"japan_share": 0.5, "until": "deemed_allocation", "extra_spread": 0.0},
                 {"japan_share": 0.1, "extra_spread": 0.0})


def tier_list(tiers) -> list[tuple[float, float]]:
    """``[(japan_share, extra_spread_annual), ...]`` from config-like tiers: dicts, objects
    with ``japan_share`` / ``extra_spread`` attributes, or ``(share, extra)`` pairs."""
    out = []
    for t in (DEFAULT_TIERS if tiers is None else tiers):
        if isinstance(t, dict):
            out.append((float(t["japan_share"]), float(t.get("extra_spread", 0.0))))
        elif hasattr(t, "japan_share"):
            out.append((float(t.japan_share), float(getattr(t, "extra_spread", 0.0))))
        else:
            out.append((float(t[0]), float(t[1]) if len(t) > 1 else 0.0))
    if not out:
        raise ValueError("at least one tier is required")
    return out


class HurdleWaterfall:
    """One project's waterfall, step by step, in Python floats.

    Tiers ``0 .. T-1`` in order; Japan's share of tier ``t`` is ``shares[t]``. Every tier
    but the last has a hurdle balance ``B[t]``:

    * at the start of a quarter it rises by that quarter's contribution
      (:meth:`contribute`), then accrues by ``1 + rate_q + extra_spread_t / m`` with
      ``rate_q = (base_rate + deemed_spread) / m`` (:meth:`accrue`);
    * at the quarter's end (:meth:`distribute`) the first tier with ``B[t] > 0`` takes the
      cash that brings ``B[t]`` to zero (``B[t] / share_t``) and splits it by its share;
      what is left goes to the next tiers; the last tier takes all that remains. Every
      hurdle balance falls by everything Japan receives (never below zero).

    With a single tier there is no hurdle: ``B[0]`` is then only the deemed balance,
    accrued at ``rate_q`` and reduced by Japan's receipts. ``B[0]`` is always the deemed
    allocation outstanding (:attr:`deemed`).
    """

    def __init__(self, tiers, steps_per_year: int):
        tl = tier_list(tiers)
        self.shares = [s for s, _ in tl]
        self.extra_q = [e / steps_per_year for _, e in tl]
        self.n_hurdles = len(tl) - 1
        self.B = [0.0] * max(self.n_hurdles, 1)

    @property
    def deemed(self) -> float:
        return self.B[0]

    def contribute(self, amount: float) -> None:
        for t in range(len(self.B)):
            self.B[t] = self.B[t] + amount

    def accrue(self, rate_q: float) -> None:
        for t in range(len(self.B)):
            extra = self.extra_q[t] if self.n_hurdles > 0 else 0.0
            self.B[t] = self.B[t] * (1.0 + rate_q + extra)

    def _japan_receives(self, amount: float) -> None:
        for t in range(len(self.B)):
            self.B[t] = max(self.B[t] - amount, 0.0)

    def distribute(self, cash: float) -> tuple[float, float]:
        """Split one quarter-end's ``cash``; returns ``(japan, us)`` with
        ``us = cash - japan``."""
        cash = float(cash)
        japan = 0.0
        left = cash
        for t, share in enumerate(self.shares):
            if left <= 0.0:
                break
            hurdle = t < self.n_hurdles
            cleared = False
            if hurdle:
                if self.B[t] <= 0.0:
                    continue  # already repaid: the next tier applies
                if share <= 0.0:
                    break  # Japan gets nothing here, so this hurdle never clears: all to the US
                to_clear = self.B[t] / share
                if left >= to_clear:
                    part, cleared = to_clear, True
                else:
                    part = left
            else:
                part = left  # the last tier takes the rest
            jp = share * part
            japan += jp
            left -= part
            if self.n_hurdles > 0:
                self._japan_receives(jp)
            if cleared:
                self.B[t] = 0.0
        if self.n_hurdles == 0:
            self._japan_receives(japan)
        return japan, cash - japan


def recoup_quarter_of(contributions, deemed) -> int:
    """The quarter in which the deemed balance reached zero for good: the first quarter of
    the final run of quarters (with capital contributed) whose deemed balance is zero;
    -1 if the balance is still positive at the end."""
    contributed = np.cumsum(np.asarray(contributions, dtype=float))
    deemed = np.asarray(deemed, dtype=float)
    outstanding = (contributed <= 0.0) | (deemed > 0.0)
    if outstanding[-1]:
        return -1
    idx = np.flatnonzero(outstanding)
    return 0 if len(idx) == 0 else int(idx[-1]) + 1


@dataclass
class WaterfallPath:
    """Output of :func:`waterfall_reference` (all arrays per quarter)."""

    japan: np.ndarray
    us: np.ndarray
    deemed: np.ndarray  # B_0 at each quarter end
    balances: np.ndarray  # (n_q, n_balances) every hurdle balance at each quarter end
    recoup_quarter: int


def waterfall_reference(contributions, cash, rate_q, tiers=None,
                        steps_per_year: int = 4) -> WaterfallPath:
    """Run one project's waterfall over a sequence of quarters.

    ``contributions[k]`` is paid in at the start of quarter ``k``, ``cash[k]`` distributed
    at its end; ``rate_q`` is the deemed rate per quarter ``(base_rate + deemed_spread) / m``
    (a scalar or one per quarter); ``tiers`` as in the config (``extra_spread`` annual,
    divided by ``steps_per_year``).
    """
    contributions = [float(c) for c in contributions]
    cash = [float(c) for c in cash]
    n = len(cash)
    if len(contributions) != n:
        raise ValueError("contributions and cash must have the same length")
    rates = [float(rate_q)] * n if np.ndim(rate_q) == 0 else [float(r) for r in rate_q]
    wf = HurdleWaterfall(tiers, steps_per_year)
    japan, us, deemed, bal = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros((n, len(wf.B)))
    for k in range(n):
        if contributions[k] != 0.0:
            wf.contribute(contributions[k])
        wf.accrue(rates[k])
        if cash[k] > 0.0:
            japan[k], us[k] = wf.distribute(cash[k])
        deemed[k] = wf.deemed
        bal[k] = wf.B
    return WaterfallPath(japan=japan, us=us, deemed=deemed, balances=bal,
                         recoup_quarter=recoup_quarter_of(contributions, deemed))


def irr_reference(contrib, receipts, tv: float, steps_per_year: int) -> float:
    """Japan's annual IRR ``(1 + x)^m - 1``: ``x`` solves ``sum_k (receipts[k] (1+x)^-(k+1)
    - contrib[k] (1+x)^-k) + tv (1+x)^-n = 0`` by Brent's method for the quarterly rate
    ``x`` in ``(-0.999999, 1]`` (clamped to those bounds when NPV keeps its sign there).
    NaN if nothing was invested, -1 if nothing came back."""
    contrib = np.asarray(contrib, dtype=float)
    receipts = np.asarray(receipts, dtype=float)
    n = len(contrib)
    if contrib.sum() <= 0.0:
        return math.nan
    if receipts.sum() + tv <= 0.0:
        return -1.0
    k = np.arange(n, dtype=float)

    def npv(x):
        v = 1.0 / (1.0 + x)
        return float(np.sum(receipts * v ** (k + 1) - contrib * v**k) + tv * v**n)

    lo, hi = -0.999999, 1.0
    if npv(hi) > 0.0:
        return (1.0 + hi) ** steps_per_year - 1.0
    if npv(lo) <= 0.0:
        return (1.0 + lo) ** steps_per_year - 1.0
    from scipy.optimize import brentq

    x = brentq(npv, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    return (1.0 + x) ** steps_per_year - 1.0


# --------------------------------------------------------------------------------------
# The model, path by path and quarter by quarter
# --------------------------------------------------------------------------------------


@dataclass
class ReferenceResult:
    """Output of :func:`simulate_reference` (projects in canonical order).

    credit_loss, economic_loss : (n_paths, 2) for [JBIC, NEXI]
    defaulted : (n_paths, n_projects) bool, default inside the horizon
    default_quarter : (n_paths, n_projects) int, absolute quarter of default, -1 if none
    project_credit_loss : (n_paths, n_projects) credit loss of each exposure
    project_ids : list of ids in canonical order
    is_equity : (n_projects,) bool
    japan_receipts, us_receipts : (n_paths, n_projects) equity distributions inside the
        horizon, undiscounted (NaN for debt)
    distributed : (n_paths, n_projects) the vehicles' cash paid out inside the horizon,
        before the waterfall splits it (NaN for debt)
    recoup_quarter : (n_paths, n_projects) int, -1 if not recouped (or debt)
    deemed : (n_paths, n_projects, n_q) deemed balance B_0 at each quarter end (0 for debt)
    horizon_value : (n_paths, n_projects) Japan's going-concern value at the horizon
    irr : (n_paths, n_projects) Japan's annual IRR (NaN for debt)
    net_cash : (n_paths, n_q, 2) undiscounted net cash of [JBIC, NEXI] in each quarter
    """

    credit_loss: np.ndarray
    economic_loss: np.ndarray
    defaulted: np.ndarray
    default_quarter: np.ndarray
    project_credit_loss: np.ndarray
    project_ids: list
    is_equity: np.ndarray = None
    japan_receipts: np.ndarray = None
    us_receipts: np.ndarray = None
    distributed: np.ndarray = None
    recoup_quarter: np.ndarray = None
    deemed: np.ndarray = None
    horizon_value: np.ndarray = None
    irr: np.ndarray = None
    net_cash: np.ndarray = None

    @property
    def default_frequency(self) -> np.ndarray:
        return self.defaulted.sum(axis=0) / self.defaulted.shape[0]

    # per-project equity figures (NaN for debt), like the engine's ``projects`` dataset
    @property
    def japan_receipts_mean(self) -> np.ndarray:
        return self.japan_receipts.mean(axis=0)

    @property
    def us_receipts_mean(self) -> np.ndarray:
        return self.us_receipts.mean(axis=0)

    @property
    def p_recoup(self) -> np.ndarray:
        p = (self.recoup_quarter >= 0).mean(axis=0)
        return np.where(self.is_equity, p, np.nan)

    @property
    def recoup_quarter_median(self) -> np.ndarray:
        """Median recoup quarter over recouping paths (inverted-CDF: the smallest quarter
        by which at least half of the recouping paths have recouped)."""
        out = np.full(len(self.project_ids), np.nan)
        for p in np.flatnonzero(self.is_equity):
            q = self.recoup_quarter[:, p]
            q = q[q >= 0]
            if len(q):
                out[p] = float(np.quantile(q, 0.5, method="inverted_cdf"))
        return out

    def sample(self, n_sample: int | None) -> np.ndarray:
        """The sampled paths of the timeline and IRR: 0, s, 2s, ... (s = n // n_sample)."""
        n = self.irr.shape[0] if self.irr is not None else self.net_cash.shape[0]
        if n_sample is None or n_sample >= n:
            return np.arange(n)
        return np.arange(n_sample) * (n // n_sample)

    def irr_median(self, n_paths: int | None = None) -> np.ndarray:
        out = np.full(len(self.project_ids), np.nan)
        rows = self.sample(n_paths)
        for p in np.flatnonzero(self.is_equity):
            col = self.irr[rows, p]
            col = col[~np.isnan(col)]
            if len(col):
                out[p] = float(np.quantile(col, 0.5, method="inverted_cdf"))
        return out

    def expected_deemed_balance(self, n_paths: int | None = None) -> np.ndarray:
        """(n_q,) mean over the sampled paths (see :meth:`sample`) of the sum over equity
        exposures of the deemed balance."""
        return self.deemed[self.sample(n_paths)].sum(axis=1).mean(axis=0)

    def cumulative_net_cash(self, n_paths: int | None = None) -> np.ndarray:
        """(n_paths, n_q, 3) cumulative undiscounted net cash of JBIC, NEXI and Japan."""
        cum = np.cumsum(self.net_cash[self.sample(n_paths)], axis=1)
        return np.concatenate([cum, cum.sum(axis=2, keepdims=True)], axis=2)


def cumulative_pd(j: int, pd_annual: float, pd_construction: float, c: int, m: int) -> float:
    """``PD(j) = 1 - (1 - pc)^(min(j, c)/m) (1 - pa)^(max(j - c, 0)/m)`` (docs/model.md)."""
    return 1.0 - (1.0 - pd_construction) ** (min(j, c) / m) * (1.0 - pd_annual) ** (max(j - c, 0) / m)


def default_quarter_of(phi_x: float, a: int, n_q: int, pa: float, pc: float, c: int, m: int) -> int:
    """Absolute default quarter ``a + j`` for the smallest ``j < n_q - a`` with
    ``Phi(X) <= PD(j + 1)``; -1 if there is none (survives the horizon)."""
    for j in range(n_q - a):
        if phi_x <= cumulative_pd(j + 1, pa, pc, c, m):
            return a + j
    return -1


def _repayment(kind: str, amort: str, k: int, commit: float, a: int, f: int, mat) -> float:
    """Principal repaid at the end of quarter ``k`` (loans and guarantees' covered loan)."""
    if kind == "equity" or mat is None:
        return 0.0
    if amort == "bullet" or mat - a == f:  # all at the end of M - 1
        return commit if k == mat - 1 else 0.0
    # linear: equal repayments at the ends of quarters a+f .. M-1
    return commit / (mat - (a + f)) if a + f <= k <= mat - 1 else 0.0


def exposure_outcome(row, k_def: int, n_q: int, m: int, discount_rate: float, net=None):
    """Cash flows of one loan or guarantee on one path, quarter by quarter.

    Returns ``(credit_loss, npv)``: ``npv`` is the institution's NPV at ``t_0`` of its cash
    flows inside the horizon plus, for a survivor, what it still holds at par, discounted
    from the horizon. If ``net`` (length ``n_q``) is given, the institution's undiscounted
    net cash of each quarter is added to it (draws negative, claims negative).
    """
    kind = row["instrument"]
    if kind == "equity":
        raise ValueError("equity goes through equity_outcome")
    net = np.zeros(n_q) if net is None else net
    commit = float(row["commitment_usd"])
    a = int(row["approval_quarter"])
    f = int(row["funding_quarters"])
    tenor = float(row["tenor_years"])
    mat = None if math.isnan(tenor) else a + int(round(tenor * m))
    rate = float(row["rate"])
    cov = float(row["coverage"])
    lgd = float(row["lgd"])
    amort = row["amortization"]
    g = 1.0 + discount_rate / m

    drawn = 0.0
    repaid = 0.0
    npv = 0.0
    for k in range(n_q):
        df_start = g ** (-k)
        df_end = g ** (-(k + 1))
        # start of quarter k: drawdown
        if a <= k < a + f:
            draw = commit / f
            drawn += draw
            if kind == "loan":
                npv -= draw * df_start
                net[k] -= draw
        balance = drawn - repaid
        if abs(balance) < 1e-9 * commit:  # float noise of repaying C in C/n pieces
            balance = 0.0
        if k == k_def:
            ead = balance
            if kind == "guarantee":
                claim = cov * ead * lgd
                net[k] -= claim
                return claim, npv - claim * df_end
            # loan: recovery of (1 - lgd) of the EAD at the end of the quarter
            net[k] += (1.0 - lgd) * ead
            return lgd * ead, npv + (1.0 - lgd) * ead * df_end
        # end of quarter k: coupon / premium, repayment
        rep = _repayment(kind, amort, k, commit, a, f, mat)
        if kind == "loan":
            npv += (balance * rate / m + rep) * df_end
            net[k] += balance * rate / m + rep
        elif kind == "guarantee":
            npv += cov * balance * rate / m * df_end
            net[k] += cov * balance * rate / m
        repaid += rep
    # survivor: what is still held, at par, discounted from the horizon
    if kind == "loan":
        held = drawn - repaid
        if abs(held) < 1e-9 * commit:
            held = 0.0
        npv += held * g ** (-n_q)
    return 0.0, npv


@dataclass
class EquityOutcome:
    """One equity exposure on one path (arrays per quarter)."""

    credit_loss: float
    npv: float  # Japan's NPV at t_0: contributions, receipts, horizon value
    contributions: np.ndarray  # start of quarter
    japan: np.ndarray  # end of quarter
    us: np.ndarray
    distributed: np.ndarray  # cash the vehicle pays out (before the split), end of quarter
    deemed: np.ndarray  # B_0 at each quarter end, frozen after a default
    horizon_value: float  # at the horizon (not discounted to t_0)
    recoup_quarter: int


def operating_window(row, n_q: int, m: int) -> tuple[int, int]:
    """``(op_start, op_end)``: operating cash at the ends of quarters ``op_start ..
    op_end - 1``; ``op_end = n_q`` when ``life_years`` is empty."""
    op_start = int(row["approval_quarter"]) + int(round(float(row["construction_years"]) * m))
    life = float(row["life_years"])
    op_end = n_q if math.isnan(life) else op_start + int(round(life * m))
    return op_start, op_end


def equity_outcome(row, k_def: int, n_q: int, m: int, discount_rate: float, base_rate: float,
                   tiers, y_row, eps_pkey: int, b_sec: float) -> EquityOutcome:
    """Japan's equity exposure on one path, quarter by quarter (docs/model.md "Equity").

    ``y_row`` is the sector cash index ``Y[s, 0 .. n_q-1]`` of the exposure's sector on this
    path; ``eps_pkey`` the path key of its idiosyncratic cash stream (draw ``k`` is
    ``eps[k]``); ``b_sec = sqrt(cashflows.sector_share)``.
    """
    commit = float(row["commitment_usd"])
    a = int(row["approval_quarter"])
    f = int(row["funding_quarters"])
    lgd = float(row["lgd"])
    vol = float(row["cf_vol"])
    mean_cash = commit * float(row["expected_yield"]) / m  # cash at multiplier one
    rate_q = (base_rate + float(row["deemed_spread"])) / m  # deemed rate per quarter
    op_start, op_end = operating_window(row, n_q, m)
    g = 1.0 + discount_rate / m

    wf = HurdleWaterfall(tiers, m)
    contrib, japan, us, deemed = np.zeros(n_q), np.zeros(n_q), np.zeros(n_q), np.zeros(n_q)
    distributed = np.zeros(n_q)
    contributed = 0.0  # capital put in so far
    received = 0.0  # Japan's receipts so far
    npv = 0.0
    credit = 0.0
    for k in range(n_q):
        if 0 <= k_def < k:  # after a default nothing moves; the deemed balance is frozen
            deemed[k] = deemed[k - 1]
            continue
        # start of quarter k: cash call, then the hurdle balances accrue
        if a <= k < a + f:
            c = commit / f
            contrib[k] = c
            contributed += c
            wf.contribute(c)
            npv -= c * g ** (-k)
        wf.accrue(rate_q)
        # end of quarter k: recovery (default quarter) or operating cash
        unreturned = 0.0
        if k == k_def:
            unreturned = max(contributed - received, 0.0)
            cash = (1.0 - lgd) * unreturned
        elif op_start <= k < op_end:
            eps = normal(eps_pkey, k)
            x = b_sec * y_row[k] + math.sqrt(max(1.0 - b_sec * b_sec, 0.0)) * eps
            cash = mean_cash * math.exp(vol * x - 0.5 * vol * vol)
        else:
            cash = 0.0
        distributed[k] = cash
        if cash > 0.0:
            japan[k], us[k] = wf.distribute(cash)
        received += japan[k]
        npv += japan[k] * g ** (-(k + 1))
        if k == k_def:
            credit = unreturned - japan[k]
        deemed[k] = wf.deemed
    # going-concern value at the horizon of a survivor whose life runs past it: remaining
    # scheduled cash at mean multiplier, times survival at pd_annual, through the
    # waterfall from this path's balances, discounted to the horizon
    tv = 0.0
    if k_def < 0 and op_end > n_q:
        surv_annual = 1.0 - float(row["pd_annual"])
        for k in range(n_q, op_end):
            wf.accrue(rate_q)
            if k >= op_start:
                steps = k + 1 - n_q  # quarters from the horizon to the end of quarter k
                jp, _ = wf.distribute(mean_cash * surv_annual ** (steps / m))
                tv += jp * g ** (-steps)
        npv += tv * g ** (-n_q)
    return EquityOutcome(credit_loss=credit, npv=npv, contributions=contrib, japan=japan,
                         us=us, distributed=distributed, deemed=deemed, horizon_value=tv,
                         recoup_quarter=recoup_quarter_of(contrib, deemed))


def factor_root(corr) -> np.ndarray:
    """``L`` with ``L L^T = C``, the engine's documented choice: lower Cholesky factor
    when ``C`` is positive definite, else the eigen square root ``v sqrt(max(w, 0))``."""
    c = np.asarray(corr, dtype=float)
    try:
        return np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(c)
        return v * np.sqrt(np.maximum(w, 0.0))


def sector_cash_index(cash_factor_key: int, path: int, root, s_fac, phi: float,
                      n_q: int) -> np.ndarray:
    """``Y[s, k]`` (K, n_q): ``Y[s, -1] = S_s``, ``Y[:, k] = phi Y[:, k-1] + sqrt(1 - phi^2)
    eta_k``, ``eta_k = L z_k``, ``z_k[j]`` the normal ``j n_q + k`` of
    ``path_key(cash_factor_key, path)`` (column by column, results version 2)."""
    n_sec = len(s_fac)
    pk = path_key(cash_factor_key, path)
    y = np.empty((n_sec, n_q))
    prev = np.asarray(s_fac, dtype=float)
    for k in range(n_q):
        z = np.array([normal(pk, j * n_q + k) for j in range(n_sec)])
        y[:, k] = phi * prev + math.sqrt(1.0 - phi * phi) * (root @ z)
        prev = y[:, k]
    return y


def simulate_reference(df: pd.DataFrame, sectors, corr, n_paths: int, seed: int,
                       horizon_years: float, steps_per_year: int,
                       discount_rate: float, *, base_rate: float = 0.0, tiers=None,
                       factor_persistence: float = 0.9, sector_share: float = 0.5,
                       irr: bool = True) -> ReferenceResult:
    """Reference Monte Carlo of docs/model.md (loans, guarantees, equity and its waterfall).

    ``df`` is a plain portfolio table (columns as in the portfolio file; optional columns
    may be missing). Rows are put in the canonical order (sorted by ``project_id``).
    Default times use the latent variable ``X_i = w S + sqrt(1 - w^2) e_i`` directly
    (``e_i = ndtri(U_i)``), not the engine's conditional-PD formulation.

    ``base_rate``, ``tiers`` (config format; None: the config default), ``factor_persistence``
    and ``sector_share`` are the config's ``rates.base_rate``, ``waterfall.tiers`` and
    ``cashflows`` values (pass what the engine's config holds: the oracle's base rate
    defaults to 0, the config's to 0.036).

    Only ``lgd_sd == 0`` is supported.
    """
    df = _canonical(df)
    if np.any(df["lgd_sd"].to_numpy(float) > 0):
        raise NotImplementedError("simulate_reference supports lgd_sd == 0 only")
    m = int(steps_per_year)
    n_q = int(round(horizon_years * m))
    sec_index = {s: i for i, s in enumerate(sectors)}
    root = factor_root(corr)
    n_sec = len(sectors)
    rows = df.to_dict("records")
    n_p = len(rows)
    is_eq = np.array([r["instrument"] == "equity" for r in rows], dtype=bool)
    factor_key = stream_key(seed, STREAM_FACTOR, 0)
    cash_factor_key = stream_key(seed, STREAM_CASH_FACTOR, 0)
    idio_keys = [stream_key(seed, STREAM_IDIO, r["project_id"]) for r in rows]
    cash_keys = [stream_key(seed, STREAM_CASH, r["project_id"]) for r in rows]
    c_steps = [int(round(float(r["construction_years"]) * m)) for r in rows]
    b_sec = math.sqrt(sector_share)

    credit = np.zeros((n_paths, 2))
    econ = np.zeros((n_paths, 2))
    proj_credit = np.zeros((n_paths, n_p))
    kdef = np.full((n_paths, n_p), -1, dtype=np.int64)
    nan_pp = np.where(is_eq, 0.0, np.nan)[None, :].repeat(n_paths, axis=0)
    japan_r, us_r, dist_r, hv = nan_pp.copy(), nan_pp.copy(), nan_pp.copy(), nan_pp.copy()
    irr_pp = np.full((n_paths, n_p), np.nan)
    recoup = np.full((n_paths, n_p), -1, dtype=np.int64)
    deemed = np.zeros((n_paths, n_p, n_q))
    net = np.zeros((n_paths, n_q, 2))
    for path in range(n_paths):
        z = np.array([splitmix_normal(factor_key, path, j) for j in range(n_sec)])
        s_fac = root @ z
        y = sector_cash_index(cash_factor_key, path, root, s_fac, factor_persistence, n_q) \
            if is_eq.any() else None
        for p, r in enumerate(rows):
            w = float(r["factor_loading"])
            pk = path_key(idio_keys[p], path)  # single-draw stream: the key is the draw
            u = (float(pk >> 11) + 0.5) * (2.0 ** -53)
            x = w * s_fac[sec_index[r["sector"]]] + math.sqrt(max(1.0 - w * w, 0.0)) * special.ndtri(u)
            phi_x = special.ndtr(x)
            k = default_quarter_of(phi_x, int(r["approval_quarter"]), n_q, float(r["pd_annual"]),
                                   float(r["pd_construction"]), c_steps[p], m)
            inst = INSTITUTIONS.index(r["institution"])
            if is_eq[p]:
                eo = equity_outcome(r, k, n_q, m, discount_rate, base_rate, tiers,
                                    y[sec_index[r["sector"]]], path_key(cash_keys[p], path), b_sec)
                cl, npv = eo.credit_loss, eo.npv
                net[path, :, inst] += eo.japan - eo.contributions
                japan_r[path, p] = eo.japan.sum()
                us_r[path, p] = eo.us.sum()
                dist_r[path, p] = eo.distributed.sum()
                hv[path, p] = eo.horizon_value
                recoup[path, p] = eo.recoup_quarter
                deemed[path, p] = eo.deemed
                if irr:
                    irr_pp[path, p] = irr_reference(eo.contributions, eo.japan, eo.horizon_value, m)
            else:
                cl, npv = exposure_outcome(r, k, n_q, m, discount_rate, net[path, :, inst])
            credit[path, inst] += cl
            econ[path, inst] -= npv
            proj_credit[path, p] = cl
            kdef[path, p] = k
    return ReferenceResult(credit_loss=credit, economic_loss=econ, defaulted=kdef >= 0,
                           default_quarter=kdef, project_credit_loss=proj_credit,
                           project_ids=[r["project_id"] for r in rows], is_equity=is_eq,
                           japan_receipts=japan_r, us_receipts=us_r, distributed=dist_r,
                           recoup_quarter=recoup,
                           deemed=deemed, horizon_value=hv, irr=irr_pp, net_cash=net)


# --------------------------------------------------------------------------------------
# Homogeneous one-factor pool
# --------------------------------------------------------------------------------------


def vasicek_finite_pool_pmf(n: int, pd: float, rho: float) -> np.ndarray:
    """``P(K = k)``, ``k = 0..n``, for the number of defaults ``K`` among ``n`` names with
    default probability ``pd`` and asset correlation ``rho`` (one-factor Gaussian copula):

        P(K = k) = int Binom(k; n, p(z)) phi(z) dz,
        p(z) = Phi((Phi^-1(pd) - sqrt(rho) z) / sqrt(1 - rho)).

    Integrated with adaptive quadrature (``scipy.integrate.quad``) on the factor ``z``,
    split where the binomial term peaks (``p(z) = k/n``); accurate to about 1e-12.
    """
    if not (0.0 <= rho < 1.0):
        raise ValueError("rho must lie in [0, 1)")
    if pd <= 0.0 or pd >= 1.0:
        out = np.zeros(n + 1)
        out[0 if pd <= 0.0 else n] = 1.0
        return out
    if rho == 0.0:
        return stats.binom.pmf(np.arange(n + 1), n, pd)
    t = special.ndtri(pd)
    sr, s1 = math.sqrt(rho), math.sqrt(1.0 - rho)
    zlim = 12.0

    def p_of(z):
        return special.ndtr((t - sr * z) / s1)

    out = np.empty(n + 1)
    for k in range(n + 1):
        def f(z, k=k):
            return stats.binom.pmf(k, n, p_of(z)) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

        pts = [-6.0, 0.0, 6.0]
        q = min(max(k / n, 1e-300), 1 - 1e-16)
        zk = (t - s1 * special.ndtri(q)) / sr  # p(zk) = k / n
        if -zlim < zk < zlim:
            pts.append(zk)
        pts = sorted(set(pts))
        val, _ = integrate.quad(f, -zlim, zlim, points=pts, epsabs=1e-14, epsrel=1e-12, limit=500)
        out[k] = val
    return out


# --------------------------------------------------------------------------------------
# The taxpayer's backstop
# --------------------------------------------------------------------------------------
def capital_calls_reference(loss_by_year, capital: float, earnings_by_year) -> list[float]:
    """One institution's capital calls on one path, year by year (docs/model.md, "The
    taxpayer's backstop"): each year's earnings absorb its loss first, then the capital
    left (which is never rebuilt); the rest is called from the state."""
    calls, left = [], float(capital)
    for loss, earned in zip(loss_by_year, earnings_by_year):
        after_earnings = max(float(loss) - float(earned), 0.0)
        from_capital = min(after_earnings, left)
        left -= from_capital
        calls.append(after_earnings - from_capital)
    return calls

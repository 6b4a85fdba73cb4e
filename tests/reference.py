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
STREAM_CASH_FACTOR = 5  # equity: sector cash innovations, draw k * K + j (item 0)

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


def splitmix_normal(seed_key: int, path: int, n: int) -> float:
    """The n-th standard normal (inverse CDF of :func:`splitmix_uniform`)."""
    return float(special.ndtri(splitmix_uniform(seed_key, path, n)))


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
    """

    credit_loss: np.ndarray
    economic_loss: np.ndarray
    defaulted: np.ndarray
    default_quarter: np.ndarray
    project_credit_loss: np.ndarray
    project_ids: list

    @property
    def default_frequency(self) -> np.ndarray:
        return self.defaulted.sum(axis=0) / self.defaulted.shape[0]


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


def exposure_outcome(row, k_def: int, n_q: int, m: int, discount_rate: float):
    """Cash flows of one exposure on one path, quarter by quarter.

    Returns ``(credit_loss, npv)``: ``npv`` is the institution's NPV at ``t_0`` of its cash
    flows inside the horizon plus, for a survivor, what it still holds at par, discounted
    from the horizon.
    """
    kind = row["instrument"]
    commit = float(row["commitment_usd"])
    a = int(row["approval_quarter"])
    f = int(row["funding_quarters"])
    tenor = float(row["tenor_years"])
    mat = None if (math.isnan(tenor) or kind == "equity") else a + int(round(tenor * m))
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
        # start of quarter k: drawdown / cash call
        if a <= k < a + f:
            draw = commit / f
            drawn += draw
            if kind in ("loan", "equity"):
                npv -= draw * df_start
        balance = drawn - repaid
        if abs(balance) < 1e-9 * commit:  # float noise of repaying C in C/n pieces
            balance = 0.0
        if k == k_def:
            ead = balance
            if kind == "guarantee":
                claim = cov * ead * lgd
                return claim, npv - claim * df_end
            # loan or equity: recovery of (1 - lgd) of the EAD at the end of the quarter
            return lgd * ead, npv + (1.0 - lgd) * ead * df_end
        # end of quarter k: coupon / premium, repayment
        rep = _repayment(kind, amort, k, commit, a, f, mat)
        if kind == "loan":
            npv += (balance * rate / m + rep) * df_end
        elif kind == "guarantee":
            npv += cov * balance * rate / m * df_end
        repaid += rep
    # survivor: what is still held, at par, discounted from the horizon
    if kind != "guarantee":
        held = drawn - repaid
        if abs(held) < 1e-9 * commit:
            held = 0.0
        npv += held * g ** (-n_q)
    return 0.0, npv


def factor_root(corr) -> np.ndarray:
    """Symmetric eigen square root ``L = v sqrt(max(w, 0))`` with ``L L^T = C``."""
    w, v = np.linalg.eigh(np.asarray(corr, dtype=float))
    return v * np.sqrt(np.maximum(w, 0.0))


def simulate_reference(df: pd.DataFrame, sectors, corr, n_paths: int, seed: int,
                       horizon_years: float, steps_per_year: int,
                       discount_rate: float) -> ReferenceResult:
    """Reference Monte Carlo of docs/model.md (loans, guarantees, pre-cash-flow equity).

    ``df`` is a plain portfolio table (columns as in the portfolio file; optional columns
    may be missing). Rows are put in the canonical order (sorted by ``project_id``).
    Default times use the latent variable ``X_i = w S + sqrt(1 - w^2) e_i`` directly
    (``e_i = ndtri(U_i)``), not the engine's conditional-PD formulation.

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
    factor_key = stream_key(seed, STREAM_FACTOR, 0)
    idio_keys = [stream_key(seed, STREAM_IDIO, r["project_id"]) for r in rows]
    c_steps = [int(round(float(r["construction_years"]) * m)) for r in rows]

    credit = np.zeros((n_paths, 2))
    econ = np.zeros((n_paths, 2))
    proj_credit = np.zeros((n_paths, n_p))
    kdef = np.full((n_paths, n_p), -1, dtype=np.int64)
    for path in range(n_paths):
        z = np.array([splitmix_normal(factor_key, path, j) for j in range(n_sec)])
        s_fac = root @ z
        for p, r in enumerate(rows):
            w = float(r["factor_loading"])
            u = splitmix_uniform(idio_keys[p], path, 0)
            x = w * s_fac[sec_index[r["sector"]]] + math.sqrt(max(1.0 - w * w, 0.0)) * special.ndtri(u)
            phi_x = special.ndtr(x)
            k = default_quarter_of(phi_x, int(r["approval_quarter"]), n_q, float(r["pd_annual"]),
                                   float(r["pd_construction"]), c_steps[p], m)
            cl, npv = exposure_outcome(r, k, n_q, m, discount_rate)
            inst = INSTITUTIONS.index(r["institution"])
            credit[path, inst] += cl
            econ[path, inst] -= npv
            proj_credit[path, p] = cl
            kdef[path, p] = k
    return ReferenceResult(credit_loss=credit, economic_loss=econ, defaulted=kdef >= 0,
                           default_quarter=kdef, project_credit_loss=proj_credit,
                           project_ids=[r["project_id"] for r in rows])


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

"""Counter-based random numbers keyed by (seed, stream, item, path, draw).

Every draw is a pure function of its key, so results do not depend on threads, chunk
sizes or backends. The generator is SplitMix64 (Steele, Lea and Flood 2014, "Fast
splittable pseudorandom number generators", OOPSLA): the n-th output of a stream seeded
with ``k`` is ``mix64(k + n * GOLDEN)``, a bijective 64-bit finaliser that passes
BigCrush. Stream keys are themselves hashed with ``mix64``, so nearby seeds, paths and
items give unrelated streams.

Normals come from the ziggurat of Marsaglia and Tsang (2000) in Doornik's ZIGNOR form
(128 layers; "An improved ziggurat method to generate normal random samples", 2005): the
n-th normal of a stream takes the n-th 64-bit output (11 bits pick the layer, 53 give
a signed uniform); about 1% of draws fall outside the layer's rectangle and continue on
a sub-stream keyed by (stream, n), so every normal is still a pure function of its key.
``ndtri`` (Wichura 1988, AS 241) remains for inverse-CDF uses.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from . import CACHE  # noqa: E402
from numba import njit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO53_INV = 1.0 / 9007199254740992.0

# stream identifiers (never renumber: they are part of the reproducibility contract)
STREAM_FACTOR = 1  # systematic sector factors of the default copula (per path)
STREAM_IDIO = 2  # idiosyncratic default uniform (per exposure and path)
STREAM_LGD = 3  # beta LGD draws (per exposure and path)
STREAM_CASH = 4  # idiosyncratic cash-flow shocks of equity (per exposure and path)
STREAM_CASH_FACTOR = 5  # sector cash-flow innovations (per path)
STREAM_RATES = 6  # short-rate innovations (per path)
STREAM_MIXING = 7  # t-copula mixing variable (per path)
STREAM_IS_MIX = 8  # defensive-mixture choice of importance sampling (per path)


@njit(inline="always")
def mix64(z):
    """SplitMix64 finaliser (a bijection of uint64)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(inline="always")
def path_key(key, path):
    """Key of one (stream, item) for one path: a new SplitMix64 seed."""
    return mix64(key + (np.uint64(path) + np.uint64(1)) * GOLDEN)


@njit(inline="always")
def key_uniform(pkey):
    """A uniform in (0, 1) from a path key itself: the one draw of a single-draw stream
    (the idiosyncratic default uniform), one hash cheaper than ``uniform(pkey, 0)``."""
    return (float(pkey >> _S11) + 0.5) * _TWO53_INV


@njit(inline="always")
def uniform(pkey, n):
    """The n-th uniform in (0, 1) of the stream ``pkey``; never exactly 0 or 1."""
    x = mix64(pkey + (np.uint64(n) + np.uint64(1)) * GOLDEN)
    return (float(x >> _S11) + 0.5) * _TWO53_INV


@njit(cache=CACHE)
def ndtri(p):
    """Inverse standard normal CDF (Wichura 1988, AS 241 PPND16)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        return q * (((((((2509.0809287301226727 * r + 33430.575583588128105) * r
                         + 67265.770927008700853) * r + 45921.953931549871457) * r
                       + 13731.693765509461125) * r + 1971.5909503065514427) * r
                     + 133.14166789178437745) * r + 3.387132872796366608) / (
            ((((((5226.495278852545925 * r + 28729.085735721942674) * r
                 + 39307.89580009271061) * r + 21213.794301586595867) * r
               + 5394.1960214247511077) * r + 687.1870074920579083) * r
             + 42.313330701600911252) * r + 1.0)
    r = p if q < 0.0 else 1.0 - p
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r -= 1.6
        val = (((((((7.7454501427834140764e-4 * r + 0.0227238449892691845833) * r
                    + 0.24178072517745061177) * r + 1.27045825245236838258) * r
                  + 3.64784832476320460504) * r + 5.7694972214606914055) * r
                + 4.6303378461565452959) * r + 1.42343711074968357734) / (
            ((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) * r
                 + 0.0151986665636164571966) * r + 0.14810397642748007459) * r
               + 0.68976733498510000455) * r + 1.6763848301838038494) * r
             + 2.05319162663775882187) * r + 1.0)
    else:
        r -= 5.0
        val = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r
                    + 0.0012426609473880784386) * r + 0.026532189526576123093) * r
                  + 0.29656057182850489123) * r + 1.7848265399172913358) * r
                + 5.4637849111641143699) * r + 6.6579046435011037772) / (
            ((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) * r
                 + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r
               + 0.0148753612908506148525) * r + 0.13692988092273580531) * r
             + 0.59983220655588793769) * r + 1.0)
    return -val if q < 0.0 else val


def _zig_tables(c=128, r=3.442619855899, v=9.91256303526217e-3):
    """Layer edges ``x[0..c]`` (``x[0] = v / f(r)``, ``x[1] = r``, ``x[c] = 0``) and the
    ratios ``x[i+1] / x[i]`` of Doornik's ZIGNOR."""
    f = lambda t: math.exp(-0.5 * t * t)  # noqa: E731
    x = np.zeros(c + 1)
    x[0] = v / f(r)
    x[1] = r
    for i in range(2, c):
        x[i] = math.sqrt(-2.0 * math.log(v / x[i - 1] + f(x[i - 1])))
    x[c] = 0.0
    return x, x[1:] / x[:-1]


ZIG_X, ZIG_R = _zig_tables()
ZIG_TAIL = 3.442619855899
_MASK7 = np.uint64(127)
_S7 = np.uint64(7)
_SALT = np.uint64(0xD1B54A32D192ED03)


@njit(inline="always")
def normal(pkey, n):
    """The n-th standard normal of the stream ``pkey`` (ziggurat, see module notes)."""
    h = mix64(pkey + (np.uint64(n) + np.uint64(1)) * GOLDEN)
    i = int(h & _MASK7)
    u = 2.0 * ((float(h >> _S11) + 0.5) * _TWO53_INV) - 1.0
    if abs(u) < ZIG_R[i]:
        return u * ZIG_X[i]
    return _normal_slow(pkey, n, i, u)


@njit(cache=CACHE)
def _normal_slow(pkey, n, i, u):
    """Rejection branch of the ziggurat: tail (layer 0) or wedge, then fresh draws."""
    rkey = mix64(pkey ^ ((np.uint64(n) + np.uint64(1)) * _SALT))
    t = 0
    while True:
        if i == 0:  # Marsaglia's tail beyond R
            while True:
                a = -math.log(uniform(rkey, t)) / ZIG_TAIL
                b = -math.log(uniform(rkey, t + 1))
                t += 2
                if b + b >= a * a:
                    break
            return -(ZIG_TAIL + a) if u < 0.0 else ZIG_TAIL + a
        x = u * ZIG_X[i]
        f0 = math.exp(-0.5 * (ZIG_X[i] * ZIG_X[i] - x * x))
        f1 = math.exp(-0.5 * (ZIG_X[i + 1] * ZIG_X[i + 1] - x * x))
        if f1 + uniform(rkey, t) * (f0 - f1) < 1.0:
            return x
        h = mix64(rkey + (np.uint64(t) + np.uint64(1)) * _SALT)
        t += 2
        i = int(h & _MASK7)
        u = 2.0 * ((float(h >> _S11) + 0.5) * _TWO53_INV) - 1.0
        if abs(u) < ZIG_R[i]:
            return u * ZIG_X[i]


@njit(cache=CACHE)
def gamma_draw(pkey, n0, shape):
    """Gamma(shape, 1) by Marsaglia and Tsang (2000), drawing from counter ``n0`` on.

    Returns ``(value, next_counter)``. For ``shape < 1`` uses ``G(shape + 1) U^(1/shape)``.
    """
    n = n0
    boost = 1.0
    a = shape
    if a < 1.0:
        boost = uniform(pkey, n) ** (1.0 / a)
        n += 1
        a += 1.0
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = normal(pkey, n)
        n += 1
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = uniform(pkey, n)
        n += 1
        if u < 1.0 - 0.0331 * x * x * x * x:
            return d * v * boost, n
        if math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return d * v * boost, n


@njit(cache=CACHE)
def beta_draw(pkey, alpha, beta):
    """Beta(alpha, beta) as G1 / (G1 + G2) from one stream."""
    g1, n = gamma_draw(pkey, 0, alpha)
    g2, n = gamma_draw(pkey, n, beta)
    return g1 / (g1 + g2)


def _mix64_py(z: int) -> int:
    mask = (1 << 64) - 1
    z &= mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def stream_key(seed: int, stream: int, item: str | int = 0) -> np.uint64:
    """Key of a (seed, stream, item) triple; ``item`` may be a project id (hashed with
    BLAKE2b, so an exposure keeps its draws whatever its row and whatever else is in the
    portfolio)."""
    if isinstance(item, str):
        item = int.from_bytes(hashlib.blake2b(item.encode(), digest_size=8).digest(), "little")
    k = _mix64_py(_mix64_py(seed) ^ _mix64_py(stream * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019))
    return np.uint64(_mix64_py(k ^ _mix64_py(int(item))))


def stream_keys(seed: int, stream: int, items) -> np.ndarray:
    """Keys for many items, as a uint64 array."""
    return np.array([stream_key(seed, stream, it) for it in items], dtype=np.uint64)

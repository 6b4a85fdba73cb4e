"""Counter-based random numbers keyed by (seed, stream, item, path, draw).

Every draw is a pure function of its key, so results do not depend on threads, chunk
sizes or backends. The generator is SplitMix64 (Steele, Lea and Flood 2014, "Fast
splittable pseudorandom number generators", OOPSLA): the n-th output of a stream seeded
with ``k`` is ``mix64(k + n * GOLDEN)``, a bijective 64-bit finaliser that passes
BigCrush. Stream keys are themselves hashed with ``mix64``, so nearby seeds, paths and
items give unrelated streams.

Normals come from the ziggurat of Marsaglia and Tsang (2000) in Doornik's ZIGNOR form
("An improved ziggurat method to generate normal random samples", 2005) with 256 layers
(results version 2; version 1 had 128): the n-th normal of a stream takes the n-th 64-bit
output (its low 8 bits pick the layer, its top 53 a signed uniform); about 1.5% of draws
fall outside the layer's rectangle (2.8% with 128 layers) and continue on a sub-stream
keyed by (stream, n), so every normal is still a pure function of its key. The ziggurat
is exact: its only error is the float64 precision of the layer edges (the layers' areas
agree to about 1e-12 of the tail's).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from numba import njit

from ._cache import CACHE
from .exponential import exp

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
STREAM_OVERRUN = 9  # construction cost overrun of an equity vehicle (per exposure and path)
STREAM_PERFORMANCE = 10  # performance level of an equity vehicle (per exposure and path)
STREAM_DRIFT = 11  # the performance drift's own shocks (per exposure and path, draw k)
STREAM_SECTOR_DRIFT = 12  # its sector shocks (per path, draw k K + sector)
STREAM_SELECTION = 13  # a pipeline obligor's selection (draw 0), timing (1), decline (2)
STREAM_REGIME = 14  # the path's political regime (per path)
STREAM_FX = 15  # USD/JPY's own shocks (per path, draw k)
STREAM_ELECTION = 16  # the elections: regime switch (draw 2k) and deal end (2k + 1) at election k (per path)


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


#: Marsaglia and Tsang's (2000) constants for 256 layers: the tail's start R and each
#: layer's area V
ZIG_LAYERS, ZIG_TAIL, ZIG_AREA = 256, 3.6541528853610088, 0.00492867323399


def _zig_tables(c=ZIG_LAYERS, r=ZIG_TAIL, v=ZIG_AREA):
    """Layer edges ``x[0..c]`` (``x[0] = v / f(r)``, ``x[1] = r``, ``x[c] = 0``) and the
    ratios ``x[i+1] / x[i]`` of Doornik's ZIGNOR."""
    f = lambda t: math.exp(-0.5 * t * t)
    x = np.zeros(c + 1)
    x[0] = v / f(r)
    x[1] = r
    for i in range(2, c):
        x[i] = math.sqrt(-2.0 * math.log(v / x[i - 1] + f(x[i - 1])))
    x[c] = 0.0
    return x, x[1:] / x[:-1]


ZIG_X, ZIG_R = _zig_tables()
_LAYER_MASK = np.uint64(ZIG_LAYERS - 1)
_SALT = np.uint64(0xD1B54A32D192ED03)


@njit(inline="always")
def _ziggurat_draw(pkey, n):
    """The n-th 64-bit output of the stream ``pkey`` and the signed uniform of its top 53
    bits (its low 8 bits pick the ziggurat's layer)."""
    h = mix64(pkey + (np.uint64(n) + np.uint64(1)) * GOLDEN)
    return h, 2.0 * ((float(h >> _S11) + 0.5) * _TWO53_INV) - 1.0


@njit(inline="always")
def normal(pkey, n):
    """The n-th standard normal of the stream ``pkey`` (ziggurat, see module notes)."""
    h, u = _ziggurat_draw(pkey, n)
    i = int(h & _LAYER_MASK)
    if abs(u) < ZIG_R[i]:
        return u * ZIG_X[i]
    return _normal_slow(pkey, n, i, u)


@njit(inline="always")
def normal_or_nan(pkey, n):
    """:func:`normal`'s fast path alone: the same value where the draw falls inside its
    layer's rectangle (about 98.5% of draws), NaN where it would take the rejection branch.
    Branch-free, so a loop of them can vectorise; the caller completes the NaNs with
    :func:`normal`."""
    h, u = _ziggurat_draw(pkey, n)
    i = h & _LAYER_MASK  # (unsigned: no wrap-around test in the vectorised loop)
    return u * ZIG_X[i] if abs(u) < ZIG_R[i] else np.nan


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
        f0 = exp(-0.5 * (ZIG_X[i] * ZIG_X[i] - x * x))
        f1 = exp(-0.5 * (ZIG_X[i + 1] * ZIG_X[i + 1] - x * x))
        if f1 + uniform(rkey, t) * (f0 - f1) < 1.0:
            return x
        h = mix64(rkey + (np.uint64(t) + np.uint64(1)) * _SALT)
        t += 2
        i = int(h & _LAYER_MASK)
        u = 2.0 * ((float(h >> _S11) + 0.5) * _TWO53_INV) - 1.0
        if abs(u) < ZIG_R[i]:
            return u * ZIG_X[i]


@njit(cache=CACHE)
def gamma_draw(pkey, n0, shape):
    """Gamma(shape, 1) for ``shape >= 1`` by Marsaglia and Tsang (2000), drawing from
    counter ``n0`` on (no underflow for such shapes). Returns ``(value, next_counter)``."""
    n = n0
    d = shape - 1.0 / 3.0
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
        if u < 1.0 - 0.0331 * x * x * x * x or \
                math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return d * v, n


@njit(cache=CACHE)
def log_gamma_draw(pkey, n0, shape):
    """log of a Gamma(shape, 1) draw, any ``shape > 0``: for ``shape < 1``,
    ``log G(shape + 1) + log(U) / shape`` (in logs, since ``G U^(1/shape)`` underflows for
    tiny shapes). Returns ``(log_value, next_counter)``."""
    if shape >= 1.0:
        g, n = gamma_draw(pkey, n0, shape)
        return math.log(g), n
    log_boost = math.log(uniform(pkey, n0)) / shape
    g, n = gamma_draw(pkey, n0 + 1, shape + 1.0)
    return math.log(g) + log_boost, n


@njit(cache=CACHE)
def beta_draw(pkey, alpha, beta):
    """Beta(alpha, beta) from one stream: ``G1 / (G1 + G2)`` when both shapes are >= 1
    (the usual LGD case), else ``1 / (1 + exp(log G2 - log G1))`` (finite for any
    positive shapes). Both forms use the same gamma draws."""
    if alpha >= 1.0 and beta >= 1.0:
        g1, n = gamma_draw(pkey, 0, alpha)
        g2, n = gamma_draw(pkey, n, beta)
        return g1 / (g1 + g2)
    l1, n = log_gamma_draw(pkey, 0, alpha)
    l2, n = log_gamma_draw(pkey, n, beta)
    return 1.0 / (1.0 + math.exp(l2 - l1))


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

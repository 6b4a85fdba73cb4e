"""Default-time kernels: the copula of default times (Gaussian or Student-t, static or
yearly factors), the conditional default probabilities and the default step, the LGD's
Beta draw, and importance sampling's twist parameter.

Every function here is plain Python compiled with numba; tests/reference.py holds the
independent NumPy oracle they are checked against path by path.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._cache import CACHE
from .rng import beta_draw, gamma_draw, key_uniform, normal, path_key

_SQRT1_2 = 1.0 / math.sqrt(2.0)


@njit(inline="always")
def phi_cdf(x):
    return 0.5 * math.erfc(-x * _SQRT1_2)


# Phi on a grid for a fast, exact default decision: linear interpolation of Phi with step
# h = 1/128 errs by at most h^2/8 * max|Phi''| = 1.9e-6; decisions closer than _PHI_MARGIN
# to the interpolated value fall back to erfc, so every decision equals the exact one.
_PHI_LO, _PHI_HI, _PHI_STEPS = -9.0, 9.0, 128
_PHI_GRID = np.linspace(_PHI_LO, _PHI_HI, int((_PHI_HI - _PHI_LO) * _PHI_STEPS) + 1)
PHI_TABLE = 0.5 * np.array([math.erfc(-x / math.sqrt(2.0)) for x in _PHI_GRID])
_PHI_MARGIN = 1e-5
#: the grid of sector-factor values on which ``Copula.screen_u`` bounds the groups'
#: standardised thresholds (outside it the kernel uses a looser bound)
SCREEN_LO, SCREEN_STEP, SCREEN_POINTS = -8.0, 0.05, 321


@njit(inline="always")
def phi_approx(x):
    """Phi(x) to within 2e-6 by table interpolation (clamped outside [-9, 9])."""
    if x <= _PHI_LO:
        return 0.0
    if x >= _PHI_HI:
        return 1.0
    t = (x - _PHI_LO) * _PHI_STEPS
    i = int(t)
    f = t - i
    return PHI_TABLE[i] + f * (PHI_TABLE[i + 1] - PHI_TABLE[i])


@njit(inline="always")
def u_below_phi(u, x):
    """Exactly ``u <= Phi(x)``, usually without evaluating erfc."""
    a = phi_approx(x)
    if u > a + _PHI_MARGIN:
        return False
    if u < a - _PHI_MARGIN:
        return True
    return u <= phi_cdf(x)


@njit(inline="always")
def defaults_by(u, thr, w_s, s):
    """Exactly ``u <= cond_pd(thr, w_s, s)``: does the exposure default by ``thr``?"""
    if s > 0.0:
        return u_below_phi(u, (thr - w_s) / s)
    return w_s <= thr


@njit(inline="always")
def cond_pd(thr, w_s, s):
    """P(w S + s e <= thr | S) for e ~ N(0, 1); ``w_s = w * S``."""
    if s > 0.0:
        return phi_cdf((thr - w_s) / s)
    return 1.0 if w_s <= thr else 0.0


@njit(cache=CACHE)
def sector_factors(path, factor_key, root, root_end, shift, z, out):
    """Correlated sector factors ``out = root @ (z + shift)`` with ``z`` standard normal.

    Parameters
    ----------
    root : (K, K) float64
        Lower factor root; ``root_end`` (K,) one past each row's last non-zero.
    shift : (K,) float64
        The importance-sampling mean shift (zeros for plain Monte Carlo).
    z : (K,) float64
        Receives the shifted normals (needed for the likelihood ratio).
    out : (K,) float64
    """
    k = root.shape[0]
    pk = path_key(factor_key, path)
    for j in range(k):
        z[j] = normal(pk, j) + shift[j]
    for i in range(k):
        acc = 0.0
        for j in range(root_end[i]):
            acc += root[i, j] * z[j]
        out[i] = acc


@njit(cache=CACHE)
def group_horizon_x(loading, sector, threshold, steps_at_risk, idio_sd, inverse_sd, scale,
                    sector_factor, group_x, group_shift):
    """Per default group (arrays (G,), ``threshold`` (G, Q); see ``bundles.Copula``) given
    the sector factors (K,) and the path's mixing factor ``scale``: ``group_shift = w S``
    and the standardised horizon threshold ``group_x = (scale thr_h - w S) /
    sqrt(1 - w^2)`` (+-inf for ``w = 1``), so ``Phi(group_x)`` is the conditional PD by
    the horizon. Returns the largest ``group_x`` (one table lookup then screens most
    exposures out)."""
    x_max = -np.inf
    for g in range(group_x.shape[0]):
        group_x_of(g, loading, sector, threshold, steps_at_risk, idio_sd, inverse_sd, scale,
                   sector_factor, group_x, group_shift)
        if group_x[g] > x_max:
            x_max = group_x[g]
    return x_max


@njit(inline="always")
def group_x_of(g, loading, sector, threshold, steps_at_risk, idio_sd, inverse_sd, scale,
               sector_factor, group_x, group_shift):
    """One group's ``group_shift = w S`` and ``group_x`` (see :func:`group_horizon_x`,
    which computes every group; the kernel's screening computes a group only when needed)."""
    ws = loading[g] * sector_factor[sector[g]]
    group_shift[g] = ws
    thr_h = scale * threshold[g, steps_at_risk[g] - 1]
    if idio_sd[g] > 0.0:
        group_x[g] = (thr_h - ws) * inverse_sd[g]
    else:
        group_x[g] = np.inf if ws <= thr_h else -np.inf


# Acklam's rational approximation of Phi^-1 (relative error below 1.2e-9), a screen only:
# the default-step search decides by it only where a threshold is farther than
# _INVERSE_MARGIN (in standard deviations) from the row's Phi^-1(u), and exactly elsewhere
_ACKLAM_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
_ACKLAM_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
             6.680131188771972e+01, -1.328068155288572e+01)
_ACKLAM_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
_ACKLAM_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
             3.754408661907416e+00)
_ACKLAM_LOW = 0.02425
_INVERSE_MARGIN = 1e-6
# above this u, Phi is so flat that the exact test's own rounding (1e-16 near 1) moves the
# boundary by more than the margin (at u = 1 - 1e-6, Phi' = 5e-6: 2e-11 standard deviations)
_INVERSE_U_MAX = 1.0 - 1e-6
# a search over this many steps or fewer (three comparisons) is cheaper without it
_INVERSE_MIN_STEPS = 8


@njit(inline="always")
def phi_inverse_approx(u):
    """Phi^-1(u) for ``0 < u < 1`` to a relative error below 1.2e-9 (P. J. Acklam's
    rational approximation; tests check it against SciPy's ``ndtri``)."""
    a, b, c, d = _ACKLAM_A, _ACKLAM_B, _ACKLAM_C, _ACKLAM_D
    if _ACKLAM_LOW <= u <= 1.0 - _ACKLAM_LOW:
        q = u - 0.5
        r = q * q
        return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
                / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0))
    q = math.sqrt(-2.0 * math.log(u if u < 0.5 else 1.0 - u))
    x = ((((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
         / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0))
    return x if u < 0.5 else -x


_SQRT_2PI = math.sqrt(2.0 * math.pi)


@njit(inline="always")
def phi_inverse(u):
    """Phi^-1(u) for ``0 < u < 1`` to about machine precision: Acklam's approximation
    (:func:`phi_inverse_approx`) and one Halley step on ``Phi(x) - u`` with erfc (the
    step cubes the approximation's error), in the lower half: above 1/2 it is
    ``-Phi^-1(1 - u)`` (``1 - u`` exact there), where ``Phi(x)`` near 1 would lose the
    tail's digits. Tests check it against SciPy's ``ndtri``."""
    if u > 0.5:
        return -_phi_inverse_lower(1.0 - u)
    return _phi_inverse_lower(u)


@njit(inline="always")
def _phi_inverse_lower(u):
    """:func:`phi_inverse` for ``0 < u <= 1/2``."""
    x = phi_inverse_approx(u)
    e = phi_cdf(x) - u
    t = e * _SQRT_2PI * math.exp(0.5 * x * x)
    return x - t / (1.0 + 0.5 * x * t)


@njit(inline="always")
def default_quarter_by_horizon(u, thr_row, n_rel, w_s, s, scale):
    """:func:`default_quarter` for an exposure already known to default by the horizon
    (``u <= Phi(group_x)``): the same binary search without its first test, and the last
    relative quarter where that test would have failed by rounding (``group_x`` multiplies
    by ``1 / s`` where the search divides by ``s``), which is what the kernel took for -1.
    So every step equals the one :func:`default_quarter` gives, one comparison cheaper.

    With ``s > 0`` each comparison is first made against ``Phi^-1(u)``, found once: a
    threshold more than ``_INVERSE_MARGIN`` standard deviations above it defaults, one
    more than that below it does not (the approximation errs by less than 1e-8, and the
    exact test's rounding by far less, while ``u <= _INVERSE_U_MAX``), and only one
    within the margin takes the exact test. The same decisions, so the same step, without
    a division and a table look-up at every step of the search (for searches over more
    than ``_INVERSE_MIN_STEPS`` steps: a shorter one costs less than the log in Phi^-1)."""
    if n_rel <= 0:
        return -1
    # without the screen every comparison takes the exact test (an infinite threshold
    # decides the same either way: it defaults, or not, for any u in (0, 1))
    t_above, t_below = np.inf, -np.inf
    if s > 0.0 and u <= _INVERSE_U_MAX and n_rel > _INVERSE_MIN_STEPS:
        x_u = phi_inverse_approx(u)
        t_above = w_s + s * (x_u + _INVERSE_MARGIN)
        t_below = w_s + s * (x_u - _INVERSE_MARGIN)
    lo = 0
    hi = n_rel - 1
    while lo < hi:
        mid = (lo + hi) // 2
        t = scale * thr_row[mid]
        if t >= t_above or (t > t_below and defaults_by(u, t, w_s, s)):
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=CACHE)
def default_quarter(u, thr_row, n_rel, w_s, s, scale):
    """Smallest relative quarter ``j < n_rel`` with ``u <= cond_pd(scale * thr_row[j])``
    (binary search over the monotone conditional default curve; each comparison exact via
    :func:`defaults_by`); -1 if none. ``scale`` is the path's t-copula mixing factor
    ``sqrt(W / nu)`` (1 for the Gaussian copula)."""
    if n_rel <= 0 or not defaults_by(u, scale * thr_row[n_rel - 1], w_s, s):
        return -1
    return default_quarter_by_horizon(u, thr_row, n_rel, w_s, s, scale)


@njit(cache=CACHE)
def yearly_factors(path, factor_key, root, root_end, persistence, z, first, out):
    """The yearly AR(1) path of the sector factors, ``out`` (K, Y): year 0 is ``first``
    (the path's static draw), then ``S_t = phi S_{t-1} + sqrt(1 - phi^2) root z_t`` with
    ``z_t`` the stream's normals ``t K .. t K + K - 1``. ``z`` (K,) is work space."""
    n_sec = root.shape[0]
    pk = path_key(factor_key, path)
    c = math.sqrt(1.0 - persistence * persistence)
    for i in range(n_sec):
        out[i, 0] = first[i]
    for t in range(1, out.shape[1]):
        for j in range(n_sec):
            z[j] = normal(pk, t * n_sec + j)
        for i in range(n_sec):
            acc = 0.0
            for j in range(root_end[i]):
                acc += root[i, j] * z[j]
            out[i, t] = persistence * out[i, t - 1] + c * acc


@njit(cache=CACHE)
def group_year_pd(loading, sector, idio_sd, year_threshold, factor_path, out):
    """Conditional cumulative default probability of each group by the end of each year
    given the factor path, ``out[g, t] = 1 - prod_{t' <= t} (1 - Phi((a_t' - w S_t') /
    sqrt(1 - w^2)))`` (G, Y). Returns its largest horizon value (the screen)."""
    top = 0.0
    for g in range(out.shape[0]):
        w, s = loading[g], idio_sd[g]
        surv = 1.0
        for t in range(out.shape[1]):
            a = year_threshold[g, t]
            if a > -np.inf:
                x = w * factor_path[sector[g], t]
                if s > 0.0:
                    h = phi_cdf((a - x) / s)
                else:
                    h = 1.0 if x <= a else 0.0
                surv *= 1.0 - h
            out[g, t] = 1.0 - surv
        if out[g, out.shape[1] - 1] > top:
            top = out[g, out.shape[1] - 1]
    return top


@njit(inline="always")
def yearly_default_step(u, approval, n_rel, steps_per_year, year_pd, cum_pd):
    """Relative step of default (-1: none) of an exposure with uniform ``u`` under yearly
    factors: the first year with ``u <= year_pd[t]``, then the step within that year where
    ``v = (u - year_pd[t-1]) / (year_pd[t] - year_pd[t-1])``, uniform given default that
    year, reaches the year's share of the marginal curve ``cum_pd`` (so the marginal curve
    is the input at every step)."""
    n_years = year_pd.shape[0]
    if u > year_pd[n_years - 1]:
        return -1
    t = 0
    while u > year_pd[t]:
        t += 1
    prev = year_pd[t - 1] if t > 0 else 0.0
    span = year_pd[t] - prev
    v = (u - prev) / span if span > 0.0 else 1.0
    j0 = max(t * steps_per_year - approval, 0)
    j1 = min((t + 1) * steps_per_year - approval, n_rel) - 1
    base = cum_pd[j0 - 1] if j0 > 0 else 0.0
    top = cum_pd[j1]
    if top <= base:
        return j1
    for j in range(j0, j1 + 1):
        if v <= (cum_pd[j] - base) / (top - base):
            return j
    return j1


@njit(cache=CACHE)
def mixing_scale(path, t_dof, mixing_key):
    """The path's t-copula factor ``sqrt(W / nu)``, ``W ~ chi2(nu) = 2 Gamma(nu / 2)``, by
    which every latent variable of the path is divided (equivalently every threshold is
    multiplied); 1 for the Gaussian copula (``t_dof = 0``)."""
    if t_dof <= 0.0:
        return 1.0
    g, _ = gamma_draw(path_key(mixing_key, path), 0, 0.5 * t_dof)
    return math.sqrt(2.0 * g / t_dof)


@njit(cache=CACHE)
def draw_lgd(lgd_key, path, mean, alpha, beta):
    """Loss given default: the mean, or a beta draw when ``alpha > 0``."""
    if alpha > 0.0:
        return beta_draw(path_key(lgd_key, path), alpha, beta)
    return mean


def idio_uniform(key, path):
    """The default uniform of one exposure on one path (for tests and oracles)."""
    return _idio_uniform(key, path)


@njit(cache=CACHE)
def _idio_uniform(key, path):
    return key_uniform(path_key(key, path))


@njit(cache=CACHE)
def twist_theta(x, class_pd, class_loss, class_size):
    """Glasserman-Li exponential twist: the ``theta >= 0`` with
    ``sum_c n_c c q_c(theta) = x``, ``q = p e^{theta c} / (1 + p (e^{theta c} - 1))``
    (0 when the conditional mean already reaches ``x``). Returns ``(theta, psi(theta))``,
    ``psi = sum_c n_c log(1 + p_c (e^{theta c} - 1))``. Safeguarded Newton on a bracket."""
    m = 0.0
    for c in range(class_pd.shape[0]):
        m += class_size[c] * class_loss[c] * class_pd[c]
    if m >= x or x <= 0.0:
        return 0.0, 0.0
    cmax = 0.0
    for c in range(class_pd.shape[0]):
        if class_pd[c] > 0.0 and class_loss[c] > cmax:
            cmax = class_loss[c]
    if cmax <= 0.0:
        return 0.0, 0.0
    lo, hi = 0.0, 1.0 / cmax
    for _ in range(200):  # grow the bracket until f(hi) >= 0
        f = -x
        for c in range(class_pd.shape[0]):
            e = math.exp(hi * class_loss[c])
            f += class_size[c] * class_loss[c] * class_pd[c] * e / (1.0 + class_pd[c] * (e - 1.0))
        if f >= 0.0:
            break
        lo = hi
        hi *= 2.0
    th = 0.5 * (lo + hi)
    for _ in range(100):
        f = -x
        df = 0.0
        for c in range(class_pd.shape[0]):
            e = math.exp(th * class_loss[c])
            q = class_pd[c] * e / (1.0 + class_pd[c] * (e - 1.0))
            f += class_size[c] * class_loss[c] * q
            df += class_size[c] * class_loss[c] * class_loss[c] * q * (1.0 - q)
        if f > 0.0:
            hi = th
        else:
            lo = th
        nt = th - f / df if df > 0.0 else 0.5 * (lo + hi)
        if not (lo < nt < hi):
            nt = 0.5 * (lo + hi)
        if abs(nt - th) <= 1e-14 * max(1.0, abs(th)) or hi - lo <= 1e-15 * hi:
            th = nt
            break
        th = nt
    psi = 0.0
    for c in range(class_pd.shape[0]):
        psi += class_size[c] * math.log1p(class_pd[c] * (math.exp(th * class_loss[c]) - 1.0))
    return th, psi


@njit(cache=CACHE)
def factor_normals(paths, factor_key, out):
    """The unshifted factor normals (n, K) of global ``paths`` (n,), the draws
    :func:`sector_factors` shifts (importance sampling's pilot fits its shift to them)."""
    for i in range(paths.shape[0]):
        pk = path_key(factor_key, paths[i])
        for j in range(out.shape[1]):
            out[i, j] = normal(pk, j)

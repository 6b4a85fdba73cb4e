"""Risk measures on (optionally weighted) loss samples: EL, SD, VaR, ES with standard
errors and 95% confidence intervals.

All estimators take per-path weights ``w`` (likelihood ratios under importance sampling,
ones for plain Monte Carlo) and use the unnormalised tail estimator
``P(L > x) = (1/n) sum_j w_j 1{L_j > x}``. With unit weights they reduce to the usual
empirical estimators; with support points and ``w = n * pmf`` they give the exact
measures of a discrete distribution.

Notes
-----
- ``VaR_a`` is the smallest sample value ``x`` with ``P(L > x) <= 1 - a``: with unit weights
  this is the ``inverted_cdf`` quantile ``L_(ceil(n a))``.
- ``ES_a = VaR_a + E[(L - VaR_a)^+] / (1 - a)``, which equals Acerbi and Tasche (2002)
  ``(E[L 1{L > VaR}] + VaR (P(L <= VaR) - a)) / (1 - a)``: the atom at VaR is counted only
  up to the level. (The naive ``E[L | L >= VaR]`` is not coherent and is not used.)
- With fewer than ``MIN_TAIL_PATHS`` (10) sample points at or beyond VaR, VaR and ES
  keep their value but get no standard error or interval (NaN): a run of 7 paths has no
  meaningful 0.999 quantile, and reporting its error as 0.00 would be fake precision.
- Standard errors: EL and ES by the sample variance of their influence terms
  (``w L`` and ``w (L - VaR)^+ / (1 - a)``); SD by the delta method; VaR from a 95%
  confidence interval obtained by inverting the binomial/IS standard error of the tail
  probability at VaR, ``se = (hi - lo) / (2 * 1.96)``.
- Under importance sampling, means (EL) take control variates whose expectation is known
  to be zero, built from the likelihood ratios (:class:`Controls`: ``w 1{R = r} - p_r``
  by regime and ``w 1{R = r} h`` for features ``h`` of mean zero): the regression
  estimator ``mean(w L - X b)``, ``b`` the least-squares coefficients of ``w L`` on the
  controls ``X`` (:func:`regression_mean`). Its asymptotic variance is
  ``Var(w L) (1 - R^2)``, never above the weighted mean's (docs/model.md, "Importance
  sampling").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054

#: fewer sample points than this at or beyond a level's VaR: VaR and ES there get no
#: standard error or confidence interval (NaN), since none would mean anything
MIN_TAIL_PATHS = 10


@dataclass(frozen=True)
class Estimate:
    value: float
    stderr: float
    ci_low: float
    ci_high: float


def _normal_ci(v: float, se: float) -> Estimate:
    return Estimate(v, se, v - Z95 * se, v + Z95 * se)


def mean_with_stderr(x) -> tuple[float, float]:
    """Sample mean and its standard error ``sd(x, ddof=1) / sqrt(n)`` (NaN for n < 2)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    se = float(np.std(x, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return float(np.mean(x)), se


class Controls:
    """Control variates of known mean zero from the likelihood ratios, for the means of an
    importance-sampled run: the columns

        w 1{s = j} - p_j  and  w 1{s = j} h_k(path)

    for each stratum ``j`` (the path's regime, drawn with known probabilities ``p_j``
    under the model; one stratum of probability 1 without) and each feature ``h_k`` whose
    mean under the model is zero (the factor normals ``z`` and ``z^2 - 1``). Since
    ``E_g[w h] = E_f[h]`` for any ``h``, every column has mean zero exactly; the first
    ones sum to ``w - 1``.

    Parameters
    ----------
    weight : (n,) float64
        The likelihood ratios.
    strata : (n,) int64, optional
        Each path's stratum in ``0 .. len(probabilities) - 1``.
    probabilities : (S,) float64, optional
        The strata's probabilities under the model (default: one stratum, ``[1.0]``).
    features : (n, m) float64, optional
        Per-path features of mean zero under the model.

    Notes
    -----
    The ``n x k`` columns (``k = S (1 + m)``) are never built whole: a path's row is
    ``w (1, h)`` in its stratum's block of ``1 + m`` columns and zero elsewhere (less the
    constants ``p_j``, which an intercept absorbs), so the cross-products are a
    block-diagonal sum by stratum and a fit costs ``n (1 + m)`` per variable, a block of
    ``BLOCK`` paths at a time.
    """

    #: paths per block
    BLOCK = 65_536

    def __init__(self, weight, strata=None, probabilities=None, features=None) -> None:
        self.weight = np.asarray(weight, dtype=np.float64)
        n = self.weight.shape[0]
        self.strata = (np.zeros(n, dtype=np.int64) if strata is None
                       else np.asarray(strata, dtype=np.int64))
        self.probabilities = (np.ones(1) if probabilities is None
                              else np.asarray(probabilities, dtype=np.float64))
        self.features = (np.zeros((n, 0)) if features is None
                         else np.asarray(features, dtype=np.float64).reshape(n, -1))
        self.n = n
        self.d = 1 + self.features.shape[1]  # columns per stratum
        self.k = self.probabilities.shape[0] * self.d
        self._moments: tuple[np.ndarray, np.ndarray] | None = None

    def _rows(self, lo: int, hi: int) -> np.ndarray:
        """``w (1, h)`` of paths ``lo .. hi - 1`` (hi - lo, 1 + m)."""
        out = np.empty((hi - lo, self.d))
        out[:, 0] = 1.0
        out[:, 1:] = self.features[lo:hi]
        out *= self.weight[lo:hi, None]
        return out

    def _blocks(self):
        for lo in range(0, self.n, self.BLOCK):
            hi = min(lo + self.BLOCK, self.n)
            yield lo, hi, self._rows(lo, hi), self.strata[lo:hi]

    def block(self, lo: int, hi: int) -> np.ndarray:
        """The columns of paths ``lo .. hi - 1`` (hi - lo, k), stratum by stratum."""
        out = np.zeros((hi - lo, self.probabilities.shape[0], self.d))
        out[np.arange(hi - lo), self.strata[lo:hi]] = self._rows(lo, hi)
        out[:, :, 0] -= self.probabilities
        return out.reshape(hi - lo, -1)

    def prefix(self, m: int) -> Controls:
        """The controls of the first ``m`` paths (a run's first ``m`` paths are a sample
        of their own: the columns keep their zero mean)."""
        return Controls(self.weight[:m], self.strata[:m], self.probabilities,
                        self.features[:m])

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """The mean (k,) and centred cross-products (k, k) of the columns ``w 1{s = j} (1,
        h)`` (the controls without their constants, which an intercept absorbs)."""
        if self._moments is None:
            n_s, d = self.probabilities.shape[0], self.d
            total, cross = np.zeros((n_s, d)), np.zeros((self.k, self.k))
            for _, _, rows, strata in self._blocks():
                for j in range(n_s):
                    at = rows[strata == j]
                    total[j] += at.sum(axis=0)
                    # (einsum, not BLAS: the same bits on any machine, and no BLAS
                    # threads spinning for a 17 x 17 product)
                    cross[j * d:(j + 1) * d, j * d:(j + 1) * d] += np.einsum(
                        "ij,ik->jk", at, at)
            mean = total.ravel() / self.n
            self._moments = mean, cross - self.n * np.outer(mean, mean)
        return self._moments

    def fit(self, y: np.ndarray) -> np.ndarray:
        """The least-squares coefficients (k,) of ``y`` on the columns, with an intercept
        (columns constant on the sample, a stratum no path drew, get none)."""
        mean, cross = self.moments()
        xy = np.zeros((self.probabilities.shape[0], self.d))
        for lo, hi, rows, strata in self._blocks():
            for j in range(xy.shape[0]):
                at = strata == j
                xy[j] += np.einsum("ij,i->j", rows[at], y[lo:hi][at])
        centred = xy.ravel() - self.n * mean * float(np.mean(y))
        return np.linalg.lstsq(cross, centred, rcond=None)[0]

    def terms(self, y: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The per-path terms ``y - X b`` (n,)."""
        coef = b.reshape(-1, self.d)
        out = np.array(y, dtype=np.float64) + float(self.probabilities @ coef[:, 0])
        for lo, hi, rows, strata in self._blocks():
            out[lo:hi] -= np.einsum("ij,ij->i", rows, coef[strata])
        return out


def regression_mean(y, controls: Controls) -> tuple[float, float]:
    """Regression (control-variate) estimate of ``E[y]`` and its standard error.

    Parameters
    ----------
    y : (n,) float64
        The per-path terms of the mean (``w L`` under importance sampling).
    controls : Controls
        Control variates whose expectation is known to be zero.

    Returns
    -------
    (float, float)
        ``mean(y - X b)`` and ``sd(y - X b, ddof=1 + k) / sqrt(n)``, ``b`` the
        least-squares coefficients of ``y`` on the ``k`` columns ``X`` with an
        intercept. With fewer than ``k + 2`` paths: :func:`mean_with_stderr` of ``y``.

    Notes
    -----
    The regression estimator of Monte Carlo (Glasserman 2004, section 4.1.3; with the
    likelihood ratio as the control, Owen and Zhou 2000, "Safe and effective importance
    sampling", JASA 95). Fitting ``b`` on the same paths costs a bias of order ``1 / n``;
    the variance is ``Var(y) (1 - R^2) / n``, ``R^2`` that of the regression, so never
    above the plain mean's (asymptotically).
    """
    y = np.asarray(y, dtype=np.float64)
    n, k = y.shape[0], controls.k
    if n < k + 2:
        return mean_with_stderr(y)
    resid = controls.terms(y, controls.fit(y))
    return float(np.mean(resid)), float(np.std(resid, ddof=1 + k) / np.sqrt(n))


def regression_terms(y, controls: Controls) -> np.ndarray:
    """The per-path terms ``y - X b`` of :func:`regression_mean` (n,): their mean is the
    estimate, and a difference of two runs' terms on the same paths gives the paired error
    of the difference of their estimates (:func:`riskengine.compare.paired_el_stderr`)."""
    y = np.asarray(y, dtype=np.float64)
    if y.shape[0] < controls.k + 2:
        return y
    return controls.terms(y, controls.fit(y))


def unit_tail(n: int) -> np.ndarray:
    """Tail probabilities of ``n`` equally weighted sorted points: ``(n - 1 - k) / n``, the
    probability beyond sorted position ``k``."""
    return (n - 1 - np.arange(n, dtype=np.float64)) / n


def var_index(tail: np.ndarray, level: float) -> int:
    """Sorted position of ``VaR_level``: the first ``k`` with ``tail[k] <= 1 - level`` (a
    relative tolerance of 1e-12 absorbs rounding in ``1 - level``); the inverted-CDF
    quantile. May equal ``len(tail)`` when no position qualifies."""
    target = (1.0 - level) * (1.0 + 1e-12) + 1e-15
    return int(np.searchsorted(-tail, -target, side="left"))


def unit_var_index(n: int, level: float) -> int:
    """:func:`var_index` of ``unit_tail(n)`` without building it: the same comparisons on
    the same floating-point values ``(n - 1 - k) / n`` (exact integers, one correctly
    rounded division), so the same position."""
    target = (1.0 - level) * (1.0 + 1e-12) + 1e-15
    k = min(max(int((n - 1) - target * n) - 2, 0), n)
    while k > 0 and (n - 1 - (k - 1)) / n <= target:  # (never: the guess is below)
        k -= 1
    while k < n and (n - 1 - k) / n > target:
        k += 1
    return k


def unit_tail_paths(n: int, level: float) -> int:
    """:meth:`LossSample.tail_paths` of ``n`` equally weighted points, which does not
    depend on their values."""
    return n - min(unit_var_index(n, level), n - 1)


class TopSorted:
    """The order statistics of a sample, ``self[k]`` the ``k``-th smallest value, sorting
    only the top of it: the measures read positions in the upper tail (VaR at the levels
    and at their confidence bounds), so the sample is partitioned at the lowest position
    asked for so far, less as many again, and only the part above is sorted (a 1,000,000
    path sample's 0.95 tail: 10% of it). The values are the sorted sample's, whatever the
    algorithm."""

    def __init__(self, values: np.ndarray):
        self.values = values
        self.start = values.shape[0]
        self.top = values[:0]

    def __getitem__(self, k: int) -> float:
        if k < self.start:
            n = self.values.shape[0]
            start = max(0, k - (n - k))
            self.top = np.partition(self.values, start)[start:] if start else \
                self.values.copy()
            self.top.sort()
            self.start = start
        return self.top[k - self.start]


class LossSample:
    """One loss variable's sample, sorted once, with weights (see module notes). Unit
    weights are never materialised: every estimator then skips the multiplication by 1,
    which changes no bit, and the tail probabilities are computed, not stored; the sorted
    sample is then only its sorted top (:class:`TopSorted`)."""

    _work: np.ndarray | None  # (see _scratch)

    def __init__(self, loss, weight=None, controls=None) -> None:
        loss = np.asarray(loss, dtype=np.float64)
        n = loss.shape[0]
        if n == 0:
            raise ValueError("empty loss sample")
        self.n = n
        self.loss = loss
        #: control variates of known mean zero for the mean (:class:`Controls`)
        self.controls = controls
        self._work = None
        if weight is None:
            # unit weights: no argsort needed, and the tail sums are exact counts
            self.weight = None
            self.sorted: np.ndarray | TopSorted = TopSorted(loss)
            self.tail = None
            return
        w = np.asarray(weight, dtype=np.float64)
        self.weight = w
        order = np.argsort(loss, kind="stable")
        self.sorted = loss[order]
        ws = w[order]
        del order
        # tail[k] = (1/n) * sum of weights strictly after sorted position k
        rev = np.cumsum(ws[::-1])[::-1]
        self.tail = np.append(rev[1:], 0.0) / n

    def _weighted(self, x: np.ndarray) -> np.ndarray:
        return x if self.weight is None else self.weight * x

    def _scratch(self) -> np.ndarray:
        """(n,) float64 work array, one for the sample's measures: each writes the
        per-path terms it averages into it, in place, with the very operations fresh
        arrays would get (the same bits, without new memory for each measure)."""
        if self._work is None:
            self._work = np.empty(self.n)
        return self._work

    def _var_index(self, level: float) -> int:
        if self.tail is None:
            return unit_var_index(self.n, level)
        return var_index(self.tail, level)

    def var_value(self, level: float) -> float:
        """``VaR_level``: the inverted-CDF quantile (weighted: the IS tail estimator)."""
        k = min(self._var_index(level), self.n - 1)
        return float(self.sorted[k])

    def el(self) -> Estimate:
        """The mean: with controls the regression estimator (:func:`regression_mean`),
        else the (weighted) sample mean."""
        if self.controls is not None:
            return _normal_ci(*regression_mean(self._weighted(self.loss), self.controls))
        return _normal_ci(*mean_with_stderr(self._weighted(self.loss)))

    def sd(self) -> Estimate:
        m = float(np.mean(self._weighted(self.loss)))
        dev2 = np.subtract(self.loss, m, out=self._scratch())
        np.square(dev2, out=dev2)
        var = float(np.mean(self._weighted(dev2)))
        sdv = float(np.sqrt(max(var, 0.0)))
        if self.n > 1 and sdv > 0:
            se = float(np.std(self._weighted(dev2), ddof=1) / np.sqrt(self.n) / (2.0 * sdv))
        else:
            se = 0.0 if self.n > 1 else np.nan
        return _normal_ci(sdv, se)

    def tail_paths(self, level: float) -> int:
        """Sample points at or beyond ``VaR_level``: what the tail estimates rest on."""
        if self.tail is None:
            return unit_tail_paths(self.n, level)
        return self.n - min(self._var_index(level), self.n - 1)

    def var(self, level: float) -> Estimate:
        v = self.var_value(level)
        if self.tail_paths(level) < MIN_TAIL_PATHS:
            return Estimate(v, np.nan, np.nan, np.nan)  # no precision to report
        ind = np.greater(self.loss, v, out=self._scratch())  # (1.0 and 0.0)
        if self.weight is not None:
            np.multiply(self.weight, ind, out=ind)
        se_p = float(np.std(ind, ddof=1) / np.sqrt(self.n)) if self.n > 1 else 0.0
        lo = self.var_value(max(level - Z95 * se_p, 1e-15))
        hi = self.var_value(min(level + Z95 * se_p, 1.0 - 1e-15))
        return Estimate(v, (hi - lo) / (2.0 * Z95), lo, hi)

    def es(self, level: float) -> Estimate:
        v = self.var_value(level)
        excess = np.subtract(self.loss, v, out=self._scratch())
        np.maximum(excess, 0.0, out=excess)
        if self.weight is not None:
            np.multiply(self.weight, excess, out=excess)
        np.divide(excess, 1.0 - level, out=excess)
        mean_excess, se = mean_with_stderr(excess)
        if self.tail_paths(level) < MIN_TAIL_PATHS:
            return Estimate(v + mean_excess, np.nan, np.nan, np.nan)
        return _normal_ci(v + mean_excess, se)


def measure_table(loss, weight, levels, controls=None) -> list[tuple[str, float, Estimate]]:
    """All measures of one sample: ``[(measure, level, Estimate), ...]`` (level NaN for
    EL and SD); ``controls`` for the EL (:class:`LossSample`)."""
    s = LossSample(loss, weight, controls)
    rows = [("EL", np.nan, s.el()), ("SD", np.nan, s.sd())]
    rows += [("VaR", float(a), s.var(a)) for a in levels]
    rows += [("ES", float(a), s.es(a)) for a in levels]
    return rows


def digest(values: np.ndarray) -> bytes:
    """SHA-256 of an array's values as contiguous float64 bytes: equal for two samples only
    when they hold the same numbers, bit for bit."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).data).digest()


class MeasureTables:
    """:func:`measure_table` of many samples, each distinct sample measured once: a sample
    whose values and weights are the same bytes as an earlier one's gets the earlier
    one's rows, which measuring it again would repeat bit for bit. A summary has such
    repeats: the zeros of an institution without a variable (NEXI's equity, JBIC's and
    NEXI's tariff cost), ALL when one institution holds every loss. Telling samples apart
    costs one SHA-256 pass, about a fifth of measuring one."""

    def __init__(self, levels) -> None:
        self.levels = levels
        self._rows: dict[tuple[bytes, bytes, int], list] = {}

    def __call__(self, loss, weight=None, weight_digest: bytes = b"", controls=None) -> list:
        """The rows of ``measure_table(loss, weight, levels, controls)``; ``weight_digest``:
        :func:`digest` of ``weight`` (b"" for None), computed once by the caller for all
        the samples that share the weights (and ``controls``, the same object for them)."""
        loss = np.ascontiguousarray(loss, dtype=np.float64)
        key = (digest(loss), weight_digest, id(controls))
        if key not in self._rows:
            self._rows[key] = measure_table(loss, weight, self.levels, controls)
        return list(self._rows[key])


def value_at_risk(loss, level: float, weight=None) -> float:
    """VaR by the inverted-CDF convention (weighted: the IS tail estimator)."""
    return LossSample(loss, weight).var_value(level)


def expected_shortfall(loss, level: float, weight=None) -> float:
    """ES at ``level`` with the Acerbi-Tasche treatment of the atom at VaR."""
    return LossSample(loss, weight).es(level).value

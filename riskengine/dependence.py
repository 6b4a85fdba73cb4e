"""Dependence: the sector-factor correlation matrix, its checks and repair, the factor
square root, and the default thresholds of the Gaussian or Student-t copula of default
times.

Notes
-----
Exposure ``i`` in sector ``s(i)`` has the latent variable
``X_i = w_i S_s(i) + sqrt(1 - w_i^2) e_i`` with ``S ~ N(0, C)``. It defaults in the first
quarter ``j`` (counted from its approval quarter) with ``Phi(X_i) <= PD_i(j + 1)``, where
``PD_i(j) = 1 - (1 - pc_i)^{min(j, c_i)/m} (1 - pa_i)^{max(j - c_i, 0)/m}`` (``m`` steps per
year, ``c_i`` construction steps, ``pc`` and ``pa`` the construction and operating annual
PDs). In latent space the thresholds are ``Phi^-1(PD_i(j + 1))``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import special

from .errors import ConfigError

log = logging.getLogger("riskengine")


@dataclass(frozen=True)
class CorrelationCheck:
    """Outcome of checking (and possibly repairing) the sector correlation matrix."""

    matrix: np.ndarray
    min_eigenvalue: float
    repaired: bool
    repair_frobenius: float = 0.0
    repair_max_abs: float = 0.0


def nearest_correlation(a: np.ndarray, tol: float = 1e-12, max_iter: int = 10_000) -> np.ndarray:
    """Nearest correlation matrix in the Frobenius norm (Higham 2002, alternating
    projections with Dykstra's correction).

    Higham, N. J. (2002). Computing the nearest correlation matrix: a problem from
    finance. IMA Journal of Numerical Analysis 22(3), 329-343.
    """
    y = np.array(a, dtype=float)
    ds = np.zeros_like(y)
    for _ in range(max_iter):
        r = y - ds
        w, v = np.linalg.eigh((r + r.T) / 2)
        x = (v * np.maximum(w, 0.0)) @ v.T
        ds = x - r
        y_new = x.copy()
        np.fill_diagonal(y_new, 1.0)
        if np.linalg.norm(y_new - y, "fro") <= tol * max(1.0, float(np.linalg.norm(y, "fro"))):
            y = y_new
            break
        y = y_new
    # exactly symmetric with a unit diagonal; positive semidefinite to the tolerance
    # (check_correlation re-checks the smallest eigenvalue)
    y = (y + y.T) / 2
    np.fill_diagonal(y, 1.0)
    return y


def check_correlation(c, repair: str = "none", key: str = "dependence.correlation") -> CorrelationCheck:
    """Check that ``c`` is a correlation matrix; repair it with Higham's method if asked.

    Raises
    ------
    ConfigError
        Naming the config key and, for an indefinite matrix, its smallest eigenvalue.
    """
    c = np.asarray(c, dtype=float)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ConfigError(f"config key {key}: must be a square matrix, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ConfigError(f"config key {key}: has non-finite entries")
    problems = []
    asym = np.max(np.abs(c - c.T)) if c.size else 0.0
    if asym > 1e-12:
        i, j = np.unravel_index(np.argmax(np.abs(c - c.T)), c.shape)
        problems.append(f"not symmetric (entry [{i}][{j}] = {c[i, j]} but [{j}][{i}] = {c[j, i]})")
    diag = np.diag(c)
    if np.any(np.abs(diag - 1.0) > 1e-12):
        d = int(np.argmax(np.abs(diag - 1.0)))
        problems.append(f"diagonal must be 1 (entry [{d}][{d}] = {diag[d]})")
    if np.any(np.abs(c) > 1.0 + 1e-12):
        problems.append("entries must lie in [-1, 1]")
    sym = (c + c.T) / 2
    min_eig = float(np.linalg.eigvalsh(sym).min())
    if min_eig < -1e-10:
        problems.append(f"not positive semidefinite (smallest eigenvalue {min_eig:.6g})")
    if not problems:
        return CorrelationCheck(matrix=sym, min_eigenvalue=min_eig, repaired=False)
    if repair != "higham":
        raise ConfigError(
            f"config key {key}: not a correlation matrix: " + "; ".join(problems)
            + ". Fix it, or set dependence.correlation_repair = \"higham\" to use the nearest "
            "correlation matrix"
        )
    src = np.clip(sym, -1.0, 1.0)
    np.fill_diagonal(src, 1.0)
    fixed = nearest_correlation(src)
    fixed_min = float(np.linalg.eigvalsh(fixed).min())
    if fixed_min < -1e-10:
        raise ConfigError(f"config key {key}: the Higham repair did not converge to a positive "
                          f"semidefinite matrix (smallest eigenvalue {fixed_min:.3g})")
    delta = fixed - c
    log.warning("%s is not a correlation matrix (%s); using the nearest one (Higham), "
                "largest change %.3g", key, "; ".join(problems), float(np.max(np.abs(delta))))
    return CorrelationCheck(
        matrix=fixed,
        min_eigenvalue=min_eig,
        repaired=True,
        repair_frobenius=float(np.linalg.norm(delta, "fro")),
        repair_max_abs=float(np.max(np.abs(delta))),
    )


def factor_root(c: np.ndarray) -> np.ndarray:
    """A matrix ``L`` with ``L @ L.T == c``: the lower Cholesky factor when ``c`` is
    positive definite (half the work per draw), else the symmetric eigen square root
    (positive semidefinite matrices that Cholesky rejects)."""
    try:
        return np.ascontiguousarray(np.linalg.cholesky(c))
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(c)
        return np.ascontiguousarray(v * np.sqrt(np.maximum(w, 0.0)))


def root_row_ends(root: np.ndarray) -> np.ndarray:
    """Per row of ``root``, one past its last non-zero column (kernels skip the zeros)."""
    nz = root != 0.0
    return np.array([int(np.flatnonzero(r)[-1]) + 1 if r.any() else 0 for r in nz],
                    dtype=np.int64)


def cumulative_pd(pd_annual, pd_construction, construction_steps, n_steps: int,
                  steps_per_year: int) -> np.ndarray:
    """Cumulative default probability by the end of each step since approval.

    Returns an array ``(n_projects, n_steps)``: entry ``[i, j]`` is ``PD_i(j + 1)``.
    """
    pa = np.asarray(pd_annual, float)[:, None]
    pc = np.asarray(pd_construction, float)[:, None]
    c = np.asarray(construction_steps, float)[:, None]
    j = np.arange(1, n_steps + 1, dtype=float)[None, :]
    in_c = np.minimum(j, c)
    after = np.maximum(j - c, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        term_c = np.where(in_c > 0, in_c / steps_per_year * np.log1p(-pc), 0.0)
        term_a = np.where(after > 0, after / steps_per_year * np.log1p(-pa), 0.0)
    log_s = term_c + term_a
    return -np.expm1(log_s)


def gaussian_thresholds(cum_pd: np.ndarray) -> np.ndarray:
    """Latent-space thresholds ``Phi^-1(PD)`` (``-inf`` for PD 0, ``+inf`` for PD 1)."""
    return special.ndtri(cum_pd)


def latent_thresholds(cum_pd: np.ndarray, copula: str, dof: float) -> np.ndarray:
    """Thresholds of the latent variables: ``Phi^-1(PD)`` for the Gaussian copula, the
    Student-t quantile ``t_nu^-1(PD)`` for the t copula (``-inf``/``+inf`` at 0 and 1)."""
    if copula == "t":
        return special.stdtrit(dof, cum_pd)
    return gaussian_thresholds(cum_pd)


@dataclass(frozen=True)
class DefaultGroups:
    """Exposures that share sector, loading, default curve and approval step, so each
    group's conditional default probability is computed once per path.

    Attributes
    ----------
    of_exposure : (P,) int64, each exposure's group
    sector : (G,) int64
    loading : (G,) float64, the factor loading ``w``
    idio_sd : (G,) float64, ``sqrt(1 - w^2)``
    threshold : (R, G, Q) float64, latent thresholds by step since approval, per PD
        multiplier (regime)
    steps_at_risk : (G,) int64, steps from approval to the horizon
    pd_horizon : (R, P) float64, each exposure's default probability by the horizon
    cum_pd : (R, G, Q) float64, cumulative PD by the end of each step since approval
    approval : (G,) int64, approval step
    """

    of_exposure: np.ndarray
    sector: np.ndarray
    loading: np.ndarray
    idio_sd: np.ndarray
    threshold: np.ndarray
    steps_at_risk: np.ndarray
    pd_horizon: np.ndarray
    cum_pd: np.ndarray
    approval: np.ndarray


def stressed_pd(pd, multiplier: float):
    """A default probability under a regime's (or a scenario's) PD multiplier: ``pd m``,
    at most 1 (the one place the multiplier is applied: the default curves here, equity's
    operating PD in :mod:`riskengine.kernel_inputs`)."""
    return pd if multiplier == 1.0 else np.minimum(pd * multiplier, 1.0)


def default_groups(sector_index, loading, pd_annual, pd_construction, construction_steps,
                   approval_step, n_steps: int, steps_per_year: int, copula: str = "gaussian",
                   dof: float = 0.0, pd_multipliers=(1.0,)) -> DefaultGroups:
    """Group the exposures (arrays (P,), canonical order) and build each group's default
    curve in latent space (:func:`latent_thresholds`), once per PD multiplier (the
    regimes'): the grouping is the same for every multiplier."""
    keys = list(zip(sector_index, loading, pd_annual, pd_construction, construction_steps,
                    approval_step))
    uniq: dict = {}
    of_exposure = np.array([uniq.setdefault(k, len(uniq)) for k in keys], dtype=np.int64)
    g = np.array(list(uniq.keys()), dtype=object)
    w = g[:, 1].astype(float)
    steps_at_risk = (n_steps - g[:, 5].astype(np.int64)).astype(np.int64)
    cums = []
    for m in pd_multipliers:
        pa, pc = stressed_pd(g[:, 2].astype(float), m), stressed_pd(g[:, 3].astype(float), m)
        cums.append(cumulative_pd(pa, pc, g[:, 4].astype(float), n_steps, steps_per_year))
    cum = np.stack(cums)
    last = cum[:, np.arange(len(steps_at_risk)), steps_at_risk - 1]
    return DefaultGroups(
        of_exposure=of_exposure,
        sector=g[:, 0].astype(np.int64),
        loading=w,
        idio_sd=np.sqrt(np.maximum(1.0 - w**2, 0.0)),
        threshold=np.ascontiguousarray(latent_thresholds(cum, copula, dof)),
        steps_at_risk=steps_at_risk,
        pd_horizon=last[:, of_exposure],
        cum_pd=np.ascontiguousarray(cum),
        approval=g[:, 5].astype(np.int64),
    )


#: grid of a standard normal factor for the AR(1) calibration: +-8 sd in 0.04 steps
AR1_GRID = np.linspace(-8.0, 8.0, 401)


def ar1_year_thresholds(cum_pd: np.ndarray, approval_step: np.ndarray, loading: np.ndarray,
                        n_steps: int, steps_per_year: int, persistence: float) -> np.ndarray:
    """Per-year thresholds of the yearly AR(1) factor model, calibrated so that every
    group's marginal default curve at year ends is exactly its input curve.

    The group's sector factor is a stationary Gaussian AR(1) year by year,
    ``S_t = phi S_{t-1} + sqrt(1 - phi^2) eta_t``; given it, the probability of default in
    year ``t`` (of a survivor) is ``Phi((a_t - w S_t) / sqrt(1 - w^2))``. With persistence
    the product of conditional survivals is not the survival of the product, so ``a_t`` is
    found year by year by a forward recursion on a grid of the factor: ``m_t(x)`` is the
    density of ``S_t = x`` jointly with survival to the start of year ``t``.

    Parameters
    ----------
    cum_pd : (G, Q) float64
        Cumulative default probability by the end of each step since approval.
    approval_step : (G,) int64
    loading : (G,) float64
    persistence : float
        ``phi``, per year.

    Returns
    -------
    (G, Y) float64
        ``a_t`` for each absolute year ``t`` (``-inf``: no default possible that year).
    """
    from scipy import optimize

    n_years = -(-n_steps // steps_per_year)
    x = AR1_GRID
    dx = x[1] - x[0]
    phi = persistence
    density = np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi) * dx
    if phi > 0:
        kernel = np.exp(-0.5 * (x[None, :] - phi * x[:, None]) ** 2 / (1 - phi * phi))
        kernel /= kernel.sum(axis=1, keepdims=True)  # rows: from x to the grid
    out = np.full((cum_pd.shape[0], n_years), -np.inf)
    for g in range(cum_pd.shape[0]):
        w = float(loading[g])
        s = np.sqrt(max(1.0 - w * w, 0.0))
        a = int(approval_step[g])
        mass = density.copy()  # S_0's density, all alive
        for t in range(n_years):
            end = min((t + 1) * steps_per_year, n_steps) - a  # relative steps by year end
            target = 1.0 - (cum_pd[g, end - 1] if end > 0 else 0.0)  # survival by year end
            alive = mass.sum()
            if end > 0 and target < alive * (1 - 1e-15):
                if target <= 0.0:
                    out[g, t] = np.inf
                    mass = mass * 0.0
                else:
                    def surv(at, mass=mass, w=w, s=s, target=target):
                        if s > 0:
                            h = special.ndtr((at - w * x) / s)
                        else:
                            h = (w * x <= at).astype(float)
                        return float(np.sum(mass * (1 - h))) - target
                    lo, hi = -40.0, 40.0
                    out[g, t] = optimize.brentq(surv, lo, hi, xtol=1e-12, maxiter=200)
                    h = special.ndtr((out[g, t] - w * x) / s) if s > 0 else (w * x <= out[g, t])
                    mass = mass * (1 - h)
            # to next year's factor
            if phi > 0:
                mass = mass @ kernel
            else:
                mass = mass.sum() * density
    return out

"""A scenario as a stress of the factor model: the sector factors' mean and root under it.

The kernels draw the sector factors as ``S = root @ z + mean`` with ``z`` standard normal
(``Copula.root``, ``ProgramTerms.factor_shift``). Unstressed, ``root`` is a root of the
sector correlation ``C`` and ``mean`` is zero. A scenario moves them:

- ``sector_value = {F: v}`` fixes the factors ``F`` at ``v`` on every path: with
  ``propagate`` (the default) the others are drawn from their conditional law given
  ``S_F = v``, ``N(B v, C_oo - B C_Fo)`` with ``B = C_oF C_FF^-1``. The root that draws it
  is the base root regressed on the fixed rows, ``(I - B E_F') L`` (rows ``F`` zero), so
  each path keeps its own normals ``z``: the stressed path is the base path with its
  fixed factors moved to ``v`` and the others moved by their regression on them (common
  random numbers against the base case). Without ``propagate`` the fixed rows are zeroed
  and the others keep their draws.
- ``sector_shift = {S: s}`` adds ``s`` to the means of ``S``; with ``propagate`` every other
  free factor ``o`` moves by its conditional mean ``Sigma_oS Sigma_SS^-1 s`` (``Sigma`` the
  covariance the factors are drawn with: ``C``, or the conditional one when sectors are
  also fixed); without it the other means stay.

A scenario with neither, or with ``propagate = false`` and shifts only, leaves the root as
it is, so its draws are bit for bit the ones before this module existed.

Yearly factors (``ar1``) use the same root for each year's innovation and the kernels
restore the mean every year, so a fixed factor stays at ``v`` in every year and the others
follow, year by year, their conditional law given the fixed factors' whole path (the exact
conditional AR(1), docs/model.md). With the t copula the fixed value is the Gaussian factor
``S`` before the path's common chi-square mixing divides every latent variable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Scenario
from .errors import ConfigError

#: a block of the factor covariance this ill-conditioned does not determine a propagation
_MAX_CONDITION = 1e10


@dataclass(frozen=True)
class FactorStress:
    """The sector factors under a scenario: ``S = root @ z + mean``.

    Attributes
    ----------
    mean : (K,) float64
        The factors' mean (the kernels' ``factor_shift``).
    root : (K, K) float64
        ``root @ root.T`` is the factors' covariance; zero rows for fixed sectors.
    fixed : (K,) bool
        The sectors a ``sector_value`` fixes.
    """

    mean: np.ndarray
    root: np.ndarray
    fixed: np.ndarray

    @property
    def covariance(self) -> np.ndarray:
        return self.root @ self.root.T


def _solve(block: np.ndarray, rhs: np.ndarray, scenario: Scenario, key: str,
           names: list[str]) -> np.ndarray:
    """``block^-1 rhs``, refused (naming the scenario's key) when the block is singular."""
    if np.linalg.cond(block) > _MAX_CONDITION:
        raise ConfigError(f"config key scenarios ({scenario.name!r}).{key}: the factors of "
                          f"{names} are (nearly) perfectly correlated, so the "
                          "propagation to the other sectors is not determined; name one of "
                          "them, or set propagate = false")
    return np.linalg.solve(block, rhs)


def factor_stress(correlation: np.ndarray, root: np.ndarray, sectors: list[str] | tuple,
                  scenario: Scenario | None) -> FactorStress:
    """The factors' mean and root under ``scenario`` (None: the base case).

    Parameters
    ----------
    correlation : (K, K) float64
        The sector correlation ``C`` (after any repair).
    root : (K, K) float64
        The base root, ``root @ root.T == C``.
    sectors : the names of the K sectors, in order
    scenario : Scenario or None
    """
    k = len(sectors)
    root = np.asarray(root, dtype=np.float64)
    mean, fixed = np.zeros(k), np.zeros(k, dtype=bool)
    if scenario is None:
        return FactorStress(mean=mean, root=root, fixed=fixed)
    index = {name: i for i, name in enumerate(sectors)}
    f_idx = np.array([index[n] for n in scenario.sector_value], dtype=np.int64)
    s_idx = np.array([index[n] for n in scenario.sector_shift], dtype=np.int64)
    values = np.array(list(scenario.sector_value.values()), dtype=np.float64)
    shifts = np.array(list(scenario.sector_shift.values()), dtype=np.float64)
    c = np.asarray(correlation, dtype=np.float64)
    if len(f_idx):
        fixed[f_idx] = True
        regress = np.eye(k)
        if scenario.propagate:  # B = C_.F C_FF^-1 (K, |F|)
            b = _solve(c[np.ix_(f_idx, f_idx)], c[f_idx, :], scenario, "sector_value",
                       list(scenario.sector_value)).T
            mean = b @ values
            regress[:, f_idx] -= b
        regress[f_idx, :] = 0.0
        root = regress @ root
        mean[f_idx] = values
    if len(s_idx):
        before = mean.copy()
        if scenario.propagate:
            cov = root @ root.T if len(f_idx) else c
            move = cov[:, s_idx] @ _solve(cov[np.ix_(s_idx, s_idx)], shifts, scenario,
                                          "sector_shift", list(scenario.sector_shift))
            move[fixed] = 0.0
            mean = mean + move
        mean[s_idx] = before[s_idx] + shifts  # (the named means exactly)
    return FactorStress(mean=mean, root=np.ascontiguousarray(root), fixed=fixed)


def _sd(named: dict, sectors, at: str = "") -> str:
    values = set(named.values())
    if len(named) == len(sectors) and len(values) == 1:
        return f"every sector {at}{next(iter(values)):+g} sd"
    return ", ".join(f"{n} {at}{v:+g}" for n, v in named.items()) + " sd"


def describe(scenario: Scenario, sectors) -> str:
    """What ``scenario`` does, in a line: its ``description``, else one generated from its
    fields (``"shifts power_gas -2, nuclear -1 sd, the other sectors by correlation; PDs
    x1.5"``)."""
    if scenario.description:
        return scenario.description
    parts = []
    if scenario.sector_value:
        parts.append("fixes " + _sd(scenario.sector_value, sectors, at="at "))
    if scenario.sector_shift:
        parts.append("shifts " + _sd(scenario.sector_shift, sectors))
    named = len(scenario.sector_value) + len(scenario.sector_shift)
    if named and named < len(sectors):
        parts[-1] += (", the other sectors by correlation" if scenario.propagate
                      else ", the other sectors as in the base case")
    if scenario.pd_multiplier != 1.0:
        parts.append(f"PDs x{scenario.pd_multiplier:g}")
    if scenario.selection_multiplier != 1.0:
        parts.append(f"pipeline selection x{scenario.selection_multiplier:g}")
    if scenario.regime is not None:
        parts.append(f"regime {scenario.regime!r} on every path")
    if scenario.base_rate is not None:
        parts.append(f"base rate {scenario.base_rate:.2%}")
    return "; ".join(parts) or "the base case's inputs"

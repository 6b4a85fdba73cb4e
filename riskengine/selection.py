"""Adverse selection: the Gaussian copula between a pipeline unit's selection draw and its
obligor's latent credit variable (``program.selection_correlation``; docs/model.md
"Adverse selection"), on the Python side: each unit's loading for the kernels, the
bivariate normal formula the kernels reproduce, and the calibration of the correlation to
a ratio of default rates.

Sign convention: a pipeline unit is selected when its selection normal ``V`` is below
``b = Phi^-1(p_sel)`` and its obligor defaults by the horizon when its latent
``X = w S + sqrt(1 - w^2) eps`` is below ``a = Phi^-1(PD)``; ``rho = corr(V, X)``. So
rho > 0 makes the selected units worse credits::

    P(default | selected) = Phi2(a, b; rho) / p_sel

The kernels correlate ``V`` with the idiosyncratic ``eps`` only (the US chooses projects,
it does not foresee the cycle), with loading ``c = rho / sqrt(1 - w^2)``, which needs
``|rho| <= sqrt(1 - w^2)`` for every pipeline obligor.

``python data/calibrate_selection.py [ratio ...]`` prints the correlation that makes the
shipped program's selected pipeline units default ``ratio`` times as often as the
pipeline's average and as the units left out (:func:`main`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from ._kernels.program import selection_probability
from .errors import ConfigError

KEY = "program.selection_correlation"


def credit_loadings(rho: float, deployment: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's loading ``c`` of its idiosyncratic credit term on its selection normal
    and ``sqrt(1 - c^2)`` (U,): ``rho / sqrt(1 - w^2)`` for a pipeline unit (``w`` its
    obligor's ``factor_loading``), 0 for the others (a named project is not selected).

    Raises
    ------
    ConfigError
        Naming the key and the obligor when ``|rho| > sqrt(1 - w^2)`` for a pipeline unit.
    """
    n_units = len(deployment.unit_obligor)
    loading = np.zeros(n_units)
    if rho == 0.0 or not n_units:
        return loading, np.ones(n_units)
    w = np.zeros(n_units)
    unit_of = np.asarray(deployment.unit_of)
    rows_w = deployment.portfolio.col("factor_loading")
    w[unit_of[unit_of >= 0]] = rows_w[unit_of >= 0]
    sd = np.sqrt(np.maximum(1.0 - w**2, 0.0))
    pipeline = np.asarray(deployment.unit_pipeline, dtype=bool)
    bad = np.flatnonzero(pipeline & (abs(rho) > sd))
    if len(bad):
        u = int(bad[np.argmin(sd[bad])])
        raise ConfigError(
            f"config key {KEY} = {rho:g}: above sqrt(1 - w^2) = {sd[u]:.4g} of pipeline "
            f"obligor {deployment.unit_obligor[u]!r} (factor_loading {w[u]:g}; "
            f"{len(bad)} pipeline obligor(s) in all); the selection draw is correlated "
            "with the obligor's idiosyncratic credit term, so its correlation with the "
            "latent credit variable is at most sqrt(1 - w^2)")
    loading[pipeline] = rho / sd[pipeline]
    return loading, np.sqrt(1.0 - loading**2)


def bivariate_normal_cdf(a, b, rho: float) -> np.ndarray:
    """``Phi2(a, b; rho) = P(X <= a, V <= b)`` for standard normals with correlation
    ``rho`` (``|rho| < 1``), elementwise, by Owen's T function::

        Phi2 = (Phi(a) + Phi(b)) / 2 - T(a, (b - rho a) / (a r)) - T(b, (a - rho b) / (b r)) - d

    ``r = sqrt(1 - rho^2)``, ``d = 1/2`` where ``a b < 0`` or ``a b = 0 and a + b < 0``
    (Owen 1956); ``1/4 + arcsin(rho) / (2 pi)`` at ``a = b = 0``, infinite arguments
    taken as their limits."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    r = np.sqrt(1.0 - rho * rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        ta = special.owens_t(a, (b - rho * a) / (a * r))
        tb = special.owens_t(b, (a - rho * b) / (b * r))
    d = np.where((a * b < 0) | ((a * b == 0) & (a + b < 0)), 0.5, 0.0)
    out = 0.5 * (special.ndtr(a) + special.ndtr(b)) - ta - tb - d
    out = np.where((a == 0) & (b == 0), 0.25 + np.arcsin(rho) / (2.0 * np.pi), out)
    out = np.where(np.isinf(a) & (a < 0) | np.isinf(b) & (b < 0), 0.0, out)
    out = np.where(np.isposinf(a), special.ndtr(b), out)
    out = np.where(np.isposinf(b), special.ndtr(a), out)
    return np.clip(out, 0.0, np.minimum(special.ndtr(a), special.ndtr(b)))


def default_given_selection(pd, p_sel, rho: float) -> np.ndarray:
    """``P(default | selected) = Phi2(Phi^-1(pd), Phi^-1(p_sel); rho) / p_sel``."""
    pd, p_sel = np.asarray(pd, dtype=float), np.asarray(p_sel, dtype=float)
    return bivariate_normal_cdf(special.ndtri(pd), special.ndtri(p_sel), rho) / p_sel


@dataclass(frozen=True)
class PipelineUnits:
    """A program's pipeline units as the calibration sees them: one entry per (regime,
    unit, funding step), arrays (N,).

    Attributes
    ----------
    pd : the obligor's default probability by the horizon if funded at that step (its
        rows' largest, under the regime's PD multiplier)
    p_sel : the unit's selection probability in the regime
    weight : the regime's probability times the step's share of the unit's timing
    rho_max : the largest ``|rho|`` the kernels take (the smallest ``sqrt(1 - w^2)``)
    """

    pd: np.ndarray
    p_sel: np.ndarray
    weight: np.ndarray
    rho_max: float


def pipeline_units(model: Any, years: float | None = None) -> PipelineUnits:
    """The pipeline units of a built model (:func:`riskengine.build_model`), read from
    its kernel inputs: the same curves, selection rules and regime weights as the run.
    ``years``: the PDs by that many years after funding (cut at the horizon) instead of
    by the horizon."""
    dep, inputs = model.deployment, model.inputs
    copula, program = inputs.copula, inputs.program
    if program.pinned_regime >= 0:
        regime_w = np.eye(len(program.regime_cum))[program.pinned_regime]
    else:
        regime_w = np.diff(np.r_[0.0, program.regime_cum])
    group = inputs.exposures.group
    steps = copula.group_steps_at_risk[group]
    if years is not None:
        steps = np.minimum(steps, round(years * model.config.simulation.steps_per_year))
    share = np.asarray(dep.variant_hi) - np.asarray(dep.variant_lo)
    entries: dict[tuple[int, int, float], list] = {}
    for p, u in enumerate(dep.unit_of):
        if u < 0 or not dep.unit_pipeline[u] or steps[p] <= 0:
            continue
        for r, w_r in enumerate(regime_w):
            pd_p = float(copula.group_cum_pd[r, group[p], steps[p] - 1])
            key = (r, int(u), float(dep.variant_lo[p]))
            e = entries.setdefault(key, [0.0, 0.0, w_r * share[p]])
            e[0] = max(e[0], pd_p)
            e[1] = selection_probability.py_func(float(dep.unit_selection[u]), True,
                                                 float(program.selection_multiplier[r]))
    if not entries:
        raise ConfigError("the program has no pipeline unit (selection_prob < 1) to "
                          f"calibrate {KEY} on")
    pd, p_sel, weight = (np.array(v) for v in zip(*entries.values()))
    unit_of = np.asarray(dep.unit_of)
    in_pipeline = (unit_of >= 0) & np.asarray(dep.unit_pipeline)[np.maximum(unit_of, 0)]
    w = dep.portfolio.col("factor_loading")[in_pipeline]
    return PipelineUnits(pd=pd, p_sel=p_sel, weight=weight,
                         rho_max=float(np.sqrt(1.0 - np.max(w) ** 2)))


#: what the selected units' default rate is compared with (:func:`default_ratio`)
COMPARATORS = ("pipeline", "unselected")


def default_ratio(rho: float, units: PipelineUnits, against: str = "pipeline") -> float:
    """How many times as often the selected pipeline units default by the horizon as
    ``against``:

    - ``"pipeline"``: the pipeline's average, i.e. the same units chosen at random::

          sum_e w_e Phi2(a_e, b_e; rho) / sum_e w_e p_sel_e PD_e

      at most ``1 / p_sel`` (every defaulter selected): about 1.67 for ``p_sel = 0.6``;
    - ``"unselected"``: the units the US leaves out (as Khwaja and Mian compare connected
      with unconnected borrowers), that ratio over the unselected units' own::

          sum_e w_e (PD_e - Phi2(a_e, b_e; rho)) / sum_e w_e (1 - p_sel_e) PD_e

    Both weigh each (regime, unit, step) by its chance of being selected (or left out),
    so ``rho = 0`` gives 1 exactly: the ratio measures the copula alone, not the regimes'
    own link between selection and PD nor the mix of units."""
    keep = (units.weight > 0) & (units.p_sel > 0)
    pd, p_sel, w = units.pd[keep], units.p_sel[keep], units.weight[keep]
    joint = np.where(p_sel >= 1.0, pd, bivariate_normal_cdf(special.ndtri(pd),
                                                            special.ndtri(p_sel), rho))
    selected = np.sum(w * joint) / np.sum(w * p_sel * pd)
    if against == "pipeline":
        return float(selected)
    if against != "unselected":
        raise ValueError(f"against: {against!r} is not one of {COMPARATORS}")
    return float(selected / (np.sum(w * (pd - joint)) / np.sum(w * (1.0 - p_sel) * pd)))


def calibrate(ratio: float, units: PipelineUnits, against: str = "pipeline") -> float:
    """The ``rho`` with :func:`default_ratio` equal to ``ratio`` (0 for a ratio of 1;
    negative, favourable selection, below 1).

    Raises
    ------
    ValueError
        When the ratio lies beyond what ``|rho| <= rho_max`` reaches.
    """
    from scipy import optimize  # (here: a run never calibrates, and it is slow to import)

    if ratio == 1.0:
        return 0.0
    edge = units.rho_max * (1.0 if ratio > 1.0 else -1.0)
    reach = default_ratio(edge, units, against)
    if (ratio - reach) * (1.0 if ratio > 1.0 else -1.0) > 0:
        raise ValueError(f"a default ratio of {ratio:g} against the {against} needs "
                         f"|{KEY}| above its largest {units.rho_max:.4g} (which gives "
                         f"{reach:.4g})")
    return float(optimize.brentq(lambda x: default_ratio(x, units, against) - ratio, 0.0,
                                 edge, xtol=1e-10))


def shipped_calibration(model, ratios=(1.0, 1.5, 3.0), against: str = "pipeline",
                        years: float | None = None) -> dict:
    """``{ratio: rho}`` for a built model (``riskengine.build_model`` of the shipped program,
    say), the default rates by the horizon or by ``years`` after funding; NaN for a ratio
    out of reach."""
    units = pipeline_units(model, years)
    out = {}
    for r in ratios:
        try:
            out[float(r)] = calibrate(float(r), units, against)
        except ValueError:
            out[float(r)] = float("nan")
    return out


def main(model, argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python data/calibrate_selection.py",
        description=f"{KEY} making the shipped program's selected pipeline units default "
                    "RATIO times as often as the pipeline's average, or as the units left "
                    "out (bivariate normal, no simulation)")
    parser.add_argument("ratios", nargs="*", type=float, default=[1.0, 1.5, 3.0])
    parser.add_argument("--years", type=float, default=None,
                        help="default rates by this many years after funding (default: by "
                             "the horizon)")
    args = parser.parse_args(argv)
    table = {a: shipped_calibration(model, args.ratios, a, args.years) for a in COMPARATORS}
    when = f"{args.years:g} years after funding" if args.years else "the horizon"
    print(f"{KEY}, default rates by {when}")
    print("ratio  against: " + "  ".join(f"{a:>10}" for a in COMPARATORS))
    for r in args.ratios:
        cells = "  ".join("  (beyond)" if np.isnan(table[a][float(r)])
                          else f"{table[a][float(r)]:10.4f}" for a in COMPARATORS)
        print(f"{r:5g}           {cells}")

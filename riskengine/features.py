"""Which risk features a run has on: the label of its base case.

A headline is conditional on the model's switches (the copula, the factor dynamics, a
cyclical LGD, recovery lags, overruns, regimes, the tariff's form, ...). The manifest
records them as ``risk_features`` (:func:`risk_features`, one line of text each), and the
report prints them beside the headline. The config's part can be re-derived from a
manifest's resolved config (:func:`config_features`), so a run written before the
manifest recorded them still gets that part; the portfolio's part needs the portfolio.
The terminal summary's header prints the same record (``riskengine.commands``).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

#: the portfolio columns that switch a risk feature on where they are not 0
PORTFOLIO_FEATURES = (
    ("cyclical LGD", "lgd_factor_loading", "loading"),
    ("recovery lag", "recovery_lag_quarters", "quarters"),
    ("cost overruns", "overrun_sd", "sd of the log multiplier"),
    ("mean cost overrun", "overrun_mean", "mean"),
)


def config_features(config: dict) -> dict[str, str]:
    """The switches a resolved config (the manifest's ``config``) sets, as text."""
    dep = config.get("dependence", {})
    copula = dep.get("copula", "gaussian")
    out = {"copula": f"t, {dep.get('dof'):g} degrees of freedom" if copula == "t"
           else copula}
    out["sector factors"] = (f"yearly AR(1), persistence {dep.get('factor_persistence'):g}"
                             if dep.get("factor_dynamics") == "ar1"
                             else "static (one draw per path)")
    regimes = config.get("regimes") or []
    pin = config.get("simulation", {}).get("regime")
    if pin:
        out["regimes"] = f"pinned to {pin}"
    elif regimes:
        out["regimes"] = "; ".join(f"{r['name']} {r['probability']:.0%}" for r in regimes)
    else:
        out["regimes"] = "none"
    elections = config.get("elections") or []
    if elections:
        end = config.get("deal_end") or {}
        out["elections"] = (f"{len(elections)} ({', '.join(str(e['date']) for e in elections)})"
                            f": the regime may switch and the deal may end at each (tariff "
                            f"{end.get('tariff', 'ends')}, profit split "
                            f"{end.get('profit_split', 'kept')})")
    tariff = config.get("tariff") or {}
    if tariff.get("form") == "trigger":
        out["tariff"] = (f"trigger: {tariff.get('trigger_penalty_usd_per_year', 0) / 1e9:g}bn"
                         f" a year once the declined share exceeds "
                         f"{tariff.get('trigger_share', 0):g}, for "
                         f"{tariff.get('duration_years', 0):g} years")
    elif tariff:
        out["tariff"] = (f"proportional: US$ {tariff.get('penalty_usd_per_year', 0):g} a year "
                         f"per declined US$, for {tariff.get('duration_years', 0):g} years")
    fx = config.get("fx")
    out["yen view"] = "off" if not fx else str(fx.get("view", "on"))
    rho = config.get("program", {}).get("selection_correlation", 0.0)
    if rho:
        out["adverse selection"] = (f"rho {rho:g} between a pipeline unit's selection and "
                                    "its credit")
    scenario = config.get("simulation", {}).get("scenario")
    if scenario:
        out["scenario"] = scenario
    if config.get("uncertainty"):
        out["parameter uncertainty"] = ", ".join(
            str(u.get("name", u.get("key", "?"))) for u in config["uncertainty"])
    return out


def portfolio_features(table) -> dict[str, str]:
    """The features the portfolio's columns switch on (``table``: a DataFrame with the
    portfolio's columns), as text: off, or on for how many rows with which values."""
    out = {}
    for label, column, unit in PORTFOLIO_FEATURES:
        if column not in table:
            continue
        v = np.asarray(table[column], dtype=np.float64)
        on = v[v != 0.0]
        out[label] = "off" if not len(on) else (
            f"on for {len(on)} of {len(v)} rows, {unit} "
            + (f"{on.min():g}" if on.min() == on.max() else f"{on.min():g} to {on.max():g}"))
    return out


def risk_features(model) -> dict[str, str]:
    """Every risk feature of a run of ``model`` (a ``kernel_inputs.Model``) and its
    setting: the manifest's ``risk_features``."""
    return {**config_features(model.config.to_dict()),
            **portfolio_features(model.portfolio.table)}


#: config sections that say what a run writes and reports, not what it simulates
_NOT_IN_DISTRIBUTION = ("outputs", "measures")


def program_key(config, portfolio) -> str:
    """SHA-256 of what a run's distribution depends on (its config without paths, seed,
    threads, chunking, outputs and measures, and its portfolio table): two runs with the same key estimate the
    same distribution, so a run can find the sensitivities measured on its own program
    (:func:`riskengine.sensitivity.headline_range`)."""
    cfg = {k: v for k, v in config.to_dict().items() if k not in _NOT_IN_DISTRIBUTION}
    cfg["simulation"] = {k: v for k, v in cfg["simulation"].items()
                         if k not in ("paths", "seed", "threads", "chunk_paths")}
    text = json.dumps(cfg, sort_keys=True) + portfolio.table.to_csv(index=False)
    return hashlib.sha256(text.encode()).hexdigest()

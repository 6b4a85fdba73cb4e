"""Which risk features a model runs with, and the key of the distribution it estimates.

A risk committee reads a tail figure as conditional on the model behind it: the summary's
header names the features that are on and those that are off (:func:`risk_features`).
:func:`program_key` identifies a config and portfolio whatever the paths and seed, so a
run can find the sensitivities measured on its own program
(:func:`riskengine.sensitivity.headline_range`).
"""

from __future__ import annotations

import hashlib
import json

#: (name, whether a model has it on, how it reads when on); in the order of the header
_FEATURES = (
    ("t copula", lambda c, pf: c.dependence.copula == "t",
     lambda c, pf: f"t copula (dof {c.dependence.dof:g})"),
    ("yearly factors", lambda c, pf: c.dependence.factor_dynamics == "ar1",
     lambda c, pf: f"yearly factors (AR(1), persistence {c.dependence.factor_persistence:g})"),
    ("cyclical LGD", lambda c, pf: _any(pf, "lgd_factor_loading"),
     lambda c, pf: f"cyclical LGD (loading {_span(pf, 'lgd_factor_loading')})"),
    ("recovery lag", lambda c, pf: _any(pf, "recovery_lag_quarters"),
     lambda c, pf: f"recovery lag ({_span(pf, 'recovery_lag_quarters')} quarters)"),
    ("cost overruns", lambda c, pf: _any(pf, "overrun_mean"),
     lambda c, pf: f"cost overruns ({_count(pf, 'overrun_mean')} equity vehicles, mean "
                   f"+{_span(pf, 'overrun_mean', pct=True)})"),
    ("equity performance level", lambda c, pf: c.cashflows.performance_sd > 0,
     lambda c, pf: f"equity performance level (sd {c.cashflows.performance_sd:g})"),
    ("political regimes", lambda c, pf: len(c.regimes) > 1,
     lambda c, pf: f"{len(c.regimes)} political regimes"),
    ("selection and declines", lambda c, pf: _any(pf, "decline_prob")
     or bool((pf.col("selection_prob") < 1).any()),
     lambda c, pf: "selection and declines"),
    ("importance sampling", lambda c, pf: c.importance_sampling.enabled,
     lambda c, pf: "importance sampling"),
)


def _any(pf, column: str) -> bool:
    return bool((pf.col(column) > 0).any())


def _count(pf, column: str) -> int:
    return int((pf.col(column) > 0).sum())


def _span(pf, column: str, pct: bool = False) -> str:
    x = pf.col(column)
    x = x[x > 0]
    lo, hi = float(x.min()), float(x.max())
    fmt = (lambda v: f"{v:.0%}") if pct else (lambda v: f"{v:g}")
    return fmt(lo) if lo == hi else f"{fmt(lo)}-{fmt(hi)}"


def risk_features(config, portfolio) -> dict[str, list[str]]:
    """``{"on": [...], "off": [...]}``: the model risk features a run has on (each with
    its strength) and those it leaves off (by name)."""
    on, off = [], []
    for name, has, reads in _FEATURES:
        if has(config, portfolio):
            on.append(reads(config, portfolio))
        else:
            off.append(name)
    return {"on": on, "off": off}


def program_key(config, portfolio) -> str:
    """SHA-256 of what a run's distribution depends on (its config without paths, seed,
    threads and chunking, and its portfolio table): two runs with the same key estimate the
    same distribution."""
    cfg = config.to_dict()
    cfg["simulation"] = {k: v for k, v in cfg["simulation"].items()
                         if k not in ("paths", "seed", "threads", "chunk_paths")}
    text = json.dumps(cfg, sort_keys=True) + portfolio.table.to_csv(index=False)
    return hashlib.sha256(text.encode()).hexdigest()


"""How each model-risk switch moves the shipped program's tail: EL, VaR 0.999 and ES 0.999
of credit loss for JBIC, NEXI and ALL, one row per switch, same seed and paths.

    python benchmarks/model_switches.py --paths 200000

"baseline" is the shipped program with every row its own obligor (the engine before the
model-risk switches); each other row turns one switch on.
"""

from __future__ import annotations

import argparse

import numpy as np

import riskengine
from riskengine.config import default_portfolio_path, load_config
from riskengine.portfolio import load_portfolio


def variants():
    """(name, config overrides, one obligor per row, portfolio columns to set)."""
    yield "baseline (one obligor per row)", {}, True, {}
    yield "obligors (shipped program)", {}, False, {}
    yield "t copula, dof 8", {"dependence": {"copula": "t", "dof": 8.0}}, False, {}
    yield "t copula, dof 4", {"dependence": {"copula": "t", "dof": 4.0}}, False, {}
    yield "LGD loading 0.5 on the sector factor", {}, False, {"lgd_factor_loading": 0.5}
    yield "recovery lag 8 quarters (debt)", {}, False, {"recovery_lag_quarters": 8}
    yield "yearly AR(1) factors, persistence 0.9", {
        "dependence": {"factor_dynamics": "ar1", "factor_persistence": 0.9}}, False, {}
    yield "yearly AR(1) factors, persistence 0.5", {
        "dependence": {"factor_dynamics": "ar1", "factor_persistence": 0.5}}, False, {}
    yield "overrun: nuclear +120% (sd 0.8), others +16% (sd 0.4)", {}, False, {"overrun": True}
    yield "equity performance level, sd 0.4", {"cashflows": {"performance_sd": 0.4}}, False, {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=20250904)
    ap.add_argument("--only", default="", help="run only the switches whose name contains this")
    args = ap.parse_args()
    print("| switch | inst | credit EL bn | credit VaR 0.999 bn | credit ES 0.999 bn | economic EL bn | economic ES 0.999 bn | equity shortfall EL bn |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, overrides, single, columns in variants():
        if args.only not in name:
            continue
        cfg = load_config(None, {"simulation": {"paths": args.paths, "seed": args.seed},
                                 **overrides})
        sim = cfg.simulation
        pf = load_portfolio(default_portfolio_path(), cfg.dependence.sectors, sim.n_quarters,
                            sim.steps_per_year)
        if single or columns:
            table = pf.table.copy()
            if single:
                table["obligor"] = table["project_id"]
            if columns.pop("overrun", False):
                eq = table["instrument"] == "equity"
                nuclear = eq & (table["sector"] == "nuclear")
                table["overrun_mean"] = np.where(nuclear, 1.2, np.where(eq, 0.16, 0.0))
                table["overrun_sd"] = np.where(nuclear, 0.8, np.where(eq, 0.4, 0.0))
            for col, value in columns.items():
                debt = table["instrument"] != "equity"
                table[col] = float(value) if col != "recovery_lag_quarters" else 0.0
                if col == "recovery_lag_quarters":
                    table.loc[debt, col] = float(value)
            pf = riskengine.Portfolio(table=table, sectors=pf.sectors, source=pf.source)
        res = riskengine.run_model(riskengine.build_model(cfg, pf))
        for inst in ("JBIC", "NEXI", "ALL"):
            el = res.value("EL", "credit_loss", inst)
            var = res.value("VaR", "credit_loss", inst, 0.999)
            es = res.value("ES", "credit_loss", inst, 0.999)
            eel = res.value("EL", "economic_loss", inst)
            short = res.value("EL", "equity_shortfall", inst) if inst != "NEXI" else 0.0
            ees = res.value("ES", "economic_loss", inst, 0.999)
            print(f"| {name} | {inst} | {el / 1e9:.2f} | {var / 1e9:.2f} | {es / 1e9:.2f} | "
                  f"{eel / 1e9:.2f} | {ees / 1e9:.2f} | {short / 1e9:.2f} |", flush=True)


if __name__ == "__main__":
    main()

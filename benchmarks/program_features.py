"""What the program features cost on the shipped program, in process (kernels compiled
beforehand): simulation seconds with each feature of the program work taken away.

    python benchmarks/program_features.py --paths 200000

Rows: the shipped program (pipeline selection and declines, three regimes, yen with
USD/JPY volatility); without the yen path (``fx.volatility = 0``: the yen figures are
then spot times the dollar ones, no per-step cash is tracked); without regimes; and the
previous shipped portfolio (every row funded at its approval quarter), regimes and the
yen path off, which is the engine's work before the program features.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import riskengine
from riskengine.config import apply_overrides, default_portfolio_path, load_config
from riskengine.portfolio import load_portfolio

#: the shipped portfolio before selection and declines (git history)
PREVIOUS_PORTFOLIO = "6ead8bd:data/program/portfolio.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs per row (the median is shown)")
    args = ap.parse_args()
    base = load_config(overrides={"simulation": {"paths": args.paths}})
    off = {"regimes": [], "scenarios": []}
    previous = Path(tempfile.mkdtemp()) / "portfolio.csv"
    previous.write_bytes(subprocess.run(["git", "show", PREVIOUS_PORTFOLIO], check=True,
                                        capture_output=True).stdout)
    rows = [
        ("shipped program", base, default_portfolio_path()),
        ("no yen path (fx.volatility = 0)", apply_overrides(base, {"fx": {"volatility": 0.0}}),
         default_portfolio_path()),
        ("no regimes", apply_overrides(base, off), default_portfolio_path()),
        ("previous portfolio, no regimes, no yen path",
         apply_overrides(base, {**off, "fx": {"volatility": 0.0}}), previous),
    ]
    riskengine.simulate(paths=2048)  # compile or load the kernels
    print(f"| {args.paths:,} paths | run s, simulation and measures (median of {args.repeat}) | ratio to the last row |")
    print("|---|---:|---:|")
    times = []
    for _, cfg, path in rows:
        sim = cfg.simulation
        pf = load_portfolio(path, cfg.dependence.sectors, sim.n_quarters, sim.steps_per_year)
        model = riskengine.build_model(cfg, pf)
        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            riskengine.run_model(model)
            runs.append(time.perf_counter() - t0)
        times.append(sorted(runs)[len(runs) // 2])
    for (name, _, _), t in zip(rows, times):
        print(f"| {name} | {t:.2f} | {t / times[-1]:.2f} |")


if __name__ == "__main__":
    main()

"""Importance sampling's variance on the shipped program (issue 27): per seed, each
estimate's squared standard error under plain Monte Carlo over that under importance
sampling at equal paths (credit loss; EL, ES 0.99 and ES 0.999 of ALL, JBIC and NEXI),
each run's own standard errors; then the same ratio of the errors' squares averaged over
the seeds, and the importance-sampled mean against the plain one in combined standard
errors (a bias check).

    python benchmarks/importance_variance.py --paths 200000 --seeds 1 2 3 4 5 --threads 1

One simulation at a time (plain then importance-sampled per seed, contributions off).
``--weighted-el`` adds the EL's weighted mean ``(1/n) sum w L`` beside the summary's
regression estimator, from the same paths.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import riskengine
from riskengine import build_model, run_model
from riskengine.config import default_portfolio_path, load_config
from riskengine.measures import mean_with_stderr

WHO = ("ALL", "JBIC", "NEXI")
STATS = (("EL", None), ("ES", 0.99), ("ES", 0.999))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=200_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--weighted-el", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")

    def config(seed: int, on: bool):
        return load_config(None, {
            "simulation": {"paths": args.paths, "seed": seed, "threads": args.threads},
            "importance_sampling": {"enabled": on},
            "outputs": {"contributions": False, "timeline_paths": 1, "irr_paths": 1}})

    c0 = config(0, False)
    pf = riskengine.load_portfolio(default_portfolio_path(), c0.dependence.sectors,
                                   c0.simulation.n_quarters, c0.simulation.steps_per_year)
    est: dict[tuple, list] = {}
    for seed in args.seeds:
        for on in (False, True):
            t0 = time.perf_counter()
            r = run_model(build_model(config(seed, on), pf))
            for inst in WHO:
                for m, lv in STATS:
                    est.setdefault((on, inst, m, lv), []).append(
                        r.estimate(m, "credit_loss", inst, lv))
                if on and args.weighted_el:
                    wl = r.weight * r.loss("credit_loss", inst)
                    est.setdefault((on, inst, "EL weighted", None), []).append(
                        mean_with_stderr(wl))
            print(f"seed {seed} {'importance sampling' if on else 'plain'}: "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
    stats = list(STATS) + ([("EL weighted", None)] if args.weighted_el else [])
    print(f"\nplain stderr^2 / importance-sampling stderr^2 at {args.paths:,} paths, "
          "credit loss")
    print("| | " + " | ".join(f"seed {s}" for s in args.seeds)
          + " | pooled | IS - plain (se) |")
    print("|---|" + "---:|" * (len(args.seeds) + 2))
    for inst in WHO:
        for m, lv in stats:
            plain = np.array(est[False, inst, m if m != "EL weighted" else "EL", lv])
            tilted = np.array(est[True, inst, m, lv])
            ratio = plain[:, 1] ** 2 / tilted[:, 1] ** 2
            pooled = np.mean(plain[:, 1] ** 2) / np.mean(tilted[:, 1] ** 2)
            k = len(args.seeds)
            bias = ((tilted[:, 0].mean() - plain[:, 0].mean())
                    / np.sqrt(np.sum(plain[:, 1] ** 2 + tilted[:, 1] ** 2)) * k)
            name = f"{inst} {m}" + ("" if lv is None else f" {lv:g}")
            print(f"| {name} | " + " | ".join(f"{x:.2f}" if x < 10 else f"{x:.1f}"
                                              for x in ratio)
                  + f" | {pooled:.2f} | {bias:+.2f} |")


if __name__ == "__main__":
    main()

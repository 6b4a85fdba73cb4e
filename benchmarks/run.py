"""Benchmark suite: ``python benchmarks/run.py [--quick]``.

Times the engine after JIT warm-up (compile time reported separately) and writes the
figures to ``benchmarks/results/latest.json`` and a Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workloads as wl  # noqa: E402

import riskengine as re  # noqa: E402
from riskengine.simulate import build_model, run_model  # noqa: E402


def timed(fn, repeat=1):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_default_program(paths: int, threads: int) -> dict:
    cfg = wl.default_program_config(paths, threads=threads)
    pf = re.load_portfolio(re.config.default_data_dir() / "portfolio.csv",
                           cfg.dependence.sectors, cfg.simulation.n_quarters,
                           cfg.simulation.steps_per_year)
    model = build_model(cfg, pf)
    secs, res = timed(lambda: run_model(model))
    sim_secs = res.meta["timings"]["simulate_seconds"]
    ppq = paths * pf.n_projects * cfg.simulation.n_quarters
    return {"workload": "default program", "paths": paths, "threads": threads,
            "n_projects": pf.n_projects, "n_quarters": cfg.simulation.n_quarters,
            "seconds_simulate": sim_secs, "seconds_end_to_end": secs,
            "paths_per_second": paths / secs,
            "ns_per_path_project_quarter": secs / ppq * 1e9}


def bench_default_mode(paths: int, threads: int) -> dict:
    cfg = wl.default_mode_config(paths, threads=threads)
    pf = wl.default_mode_portfolio(cfg)
    model = build_model(cfg, pf)
    secs, res = timed(lambda: run_model(model))
    df = wl.default_mode_frame()
    np_secs, np_loss = timed(lambda: wl.numpy_default_mode(
        df, np.asarray(cfg.dependence.correlation), cfg.dependence.sectors, paths))
    eng = res.loss("credit_loss", "ALL")
    return {"workload": "default mode (1,000 loans, 6 sectors, 1 year)", "paths": paths,
            "threads": threads, "seconds_engine": secs, "seconds_numpy": np_secs,
            "speedup_vs_numpy": np_secs / secs,
            "engine_EL": float(eng.mean()), "numpy_EL": float(np_loss.mean()),
            "engine_paths_per_second": paths / secs}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "latest.json"))
    args = ap.parse_args()
    big = 20_000 if args.quick else 200_000

    t0 = time.perf_counter()
    run_model(build_model(wl.default_mode_config(2048), wl.default_mode_portfolio(wl.default_mode_config(2048))))
    compile_s = time.perf_counter() - t0

    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "platform": platform.platform()},
               "compile_and_first_call_seconds": compile_s, "runs": []}
    for threads in (1, 2):
        results["runs"].append(bench_default_program(big, threads))
    for threads in (1, 2):
        results["runs"].append(bench_default_mode(big, threads))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"compile + first call: {compile_s:.1f} s")
    for r in results["runs"]:
        print(json.dumps(r))


if __name__ == "__main__":
    main()

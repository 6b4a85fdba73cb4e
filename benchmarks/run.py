"""Benchmark suite: ``python benchmarks/run.py [--quick]``.

Times the engine after JIT warm-up (compile time reported separately) and writes every
figure to ``benchmarks/results/latest.json`` (and prints them). Sections:

- default program: paths per second and ns per path-project-quarter, 1 and 2 threads,
  and one end-to-end 1,000,000-path CLI run with its peak memory (separate process);
- default-mode workload (1,000 loans, 6 sectors, one year): engine vs a plain vectorised
  NumPy implementation of the same model, as a ratio;
- the floor: NumPy's fastest generator drawing the normals that workload needs;
- scaling: time and peak memory against paths (default-mode workload);
- importance sampling: variance of the 99.9% VaR and ES over repeated seeds, with and
  without, at equal paths (1,000 obligors, PD 0.5%, asset correlation 0.3).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import workloads as wl  # noqa: E402

import riskengine as re  # noqa: E402
from riskengine.simulate import build_model, run_model  # noqa: E402


def timed(fn, repeat=1):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def default_program(paths, threads):
    cfg = wl.default_program_config(paths, threads=threads)
    pf = re.load_portfolio(re.config.default_data_dir() / "portfolio.csv", cfg.dependence.sectors,
                           cfg.simulation.n_quarters, cfg.simulation.steps_per_year)
    secs, res = timed(lambda: run_model(build_model(cfg, pf)))
    ppq = paths * pf.n_projects * cfg.simulation.n_quarters
    return {"section": "default program", "paths": paths, "threads": threads,
            "n_projects": pf.n_projects, "n_quarters": cfg.simulation.n_quarters,
            "seconds": secs, "paths_per_second": paths / secs,
            "ns_per_path_project_quarter": secs / ppq * 1e9}


def cli_million(paths):
    out = Path("/tmp") / f"riskengine-bench-{os.getpid()}"
    cmd = [sys.executable, "-c",
           "import resource, sys, time; from riskengine.cli import main; t=time.perf_counter(); "
           f"c=main(['run','--paths','{paths}','--quiet','--overwrite','--out','{out}']); "
           "print('WALL', time.perf_counter()-t); "
           "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(c)"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
    lines = dict(l.split(" ", 1) for l in p.stdout.splitlines() if l.startswith(("WALL", "PEAK")))
    wall, peak = float(lines["WALL"]), int(lines["PEAK"]) * 1024
    ppq = paths * 198 * 120
    return {"section": "default program, CLI end to end (incl. compile, measures, Parquet)",
            "paths": paths, "seconds": wall, "peak_memory_GiB": peak / 2**30,
            "ns_per_path_project_quarter": wall / ppq * 1e9}


def default_mode(paths, threads):
    cfg = wl.default_mode_config(paths, threads=threads)
    pf = wl.default_mode_portfolio(cfg)
    model = build_model(cfg, pf)
    secs, res = timed(lambda: run_model(model))
    df = wl.default_mode_frame()
    corr = np.asarray(cfg.dependence.correlation)
    np_secs, np_loss = timed(lambda: wl.numpy_default_mode(df, corr, cfg.dependence.sectors, paths), 2)
    floor, _ = timed(lambda: [np.random.default_rng(1).standard_normal((20_000, 1006))
                              for _ in range(-(-paths // 20_000))], 2)
    eng = res.loss("credit_loss", "ALL")
    return {"section": "default mode (1,000 loans, 6 sectors, 1 year)", "paths": paths,
            "threads": threads, "seconds_engine": secs, "seconds_numpy": np_secs,
            "speedup_vs_numpy": np_secs / secs, "seconds_rng_floor_numpy": floor,
            "engine_vs_floor": secs / floor,
            "ns_per_path_loan_engine": secs / paths / 1000 * 1e9,
            "engine_EL": float(eng.mean()), "numpy_EL": float(np_loss.mean())}


def scaling(paths_list):
    rows = []
    for n in paths_list:
        cfg = wl.default_mode_config(n)
        model = build_model(cfg, wl.default_mode_portfolio(cfg))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        secs, _ = timed(lambda: run_model(model))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rows.append({"section": "scaling (default mode)", "paths": n, "seconds": secs,
                     "process_peak_GiB_so_far": after * 1024 / 2**30,
                     "peak_growth_MiB": (after - before) / 1024})
    return rows


def importance(paths, seeds):
    from riskengine.config import config_from_dict
    from riskengine.portfolio import portfolio_from_frame
    import pandas as pd

    df = pd.DataFrame({"project_id": [f"O{i:04d}" for i in range(1000)], "sector": "s",
                       "institution": "JBIC", "instrument": "loan", "commitment_usd": 1.0,
                       "pd_annual": 0.005, "lgd": 1.0, "factor_loading": np.sqrt(0.3)})
    out = {}
    for on in (False, True):
        var_, es_ = [], []
        for s in range(seeds):
            cfg = config_from_dict({
                "simulation": {"paths": paths, "seed": 100 + s, "horizon_years": 1},
                "dependence": {"sectors": ["s"], "correlation": [[1.0]]},
                "importance_sampling": {"enabled": on}}, "<bench>")
            r = run_model(build_model(cfg, portfolio_from_frame(df, ["s"], 4, 4)))
            var_.append(r.value("VaR", level=0.999))
            es_.append(r.value("ES", level=0.999))
        out["is" if on else "plain"] = {"VaR_mean": float(np.mean(var_)), "VaR_var": float(np.var(var_, ddof=1)),
                                        "ES_mean": float(np.mean(es_)), "ES_var": float(np.var(es_, ddof=1))}
    out["ES_variance_ratio"] = out["plain"]["ES_var"] / out["is"]["ES_var"]
    out["VaR_variance_ratio"] = out["plain"]["VaR_var"] / max(out["is"]["VaR_var"], 1e-300)
    out.update(section="importance sampling (1,000 obligors, PD 0.5%, rho 0.3)", paths=paths,
               seeds=seeds, exact_VaR_999=147.0, exact_ES_999=195.58)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--out", default=str(HERE / "results" / "latest.json"))
    args = ap.parse_args()
    q = args.quick
    t0 = time.perf_counter()
    run_model(build_model(wl.default_mode_config(2048), wl.default_mode_portfolio(wl.default_mode_config(2048))))
    compile_s = time.perf_counter() - t0
    res = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "platform": platform.platform()},
           "compile_and_first_call_seconds": compile_s, "runs": []}

    def add(r):
        res["runs"].append(r)
        print(json.dumps(r), flush=True)

    for th in (1, 2):
        add(default_program(20_000 if q else 100_000, th))
    for th in (1, 2):
        add(default_mode(20_000 if q else 200_000, th))
    for r in scaling([20_000, 50_000] if q else [100_000, 300_000, 1_000_000]):
        add(r)
    add(importance(5_000 if q else 10_000, 4 if q else 10))
    add(cli_million(50_000 if q else 1_000_000))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(f"compile + first call: {compile_s:.1f} s; written to {args.out}")


if __name__ == "__main__":
    main()

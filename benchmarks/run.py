"""Benchmark suite: ``python benchmarks/run.py [--quick]``.

Times the engine after JIT warm-up (compile time reported separately) and writes every
figure, with the commit, library versions and machine, to a new
``benchmarks/results/<UTC time>-<commit>.json`` (earlier runs are kept; a copy goes to
``results/latest.json``) and prints them. Sections:

- default program: paths per second and ns per path-project-quarter, 1 and 2 threads,
  and one end-to-end 1,000,000-path CLI run with its peak memory (separate process);
- default-mode workload (1,000 loans, 6 sectors, one year): engine vs a plain vectorised
  NumPy implementation of the same model, as a ratio;
- the floor: NumPy's fastest generator drawing the normals that workload needs;
- scaling: time and peak memory against paths (default-mode workload);
- importance sampling: variance of the 99.9% VaR and ES over repeated seeds, with and
  without, at equal paths (1,000 obligors, PD 0.5%, asset correlation 0.3), and of the
  shipped program's ES 0.999 (ALL, JBIC, NEXI) with a bias check against a long plain run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import workloads as wl  # noqa: E402

import riskengine  # noqa: E402
from riskengine import build_model, run_model  # noqa: E402


def provenance() -> dict:
    """What a benchmark figure depends on: the commit (dirty or not), the library versions
    and the machine."""
    import datetime as dt

    from riskengine.provenance import package_versions

    def git(*a):
        try:
            return subprocess.run(["git", "-C", str(HERE.parent), *a], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        except OSError:
            return ""

    try:
        model = next((line.split(":", 1)[1].strip() for line in
                      Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor())
        mem = next((int(line.split()[1]) * 1024 for line in
                    Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal:")), None)
    except OSError:
        model, mem = platform.processor(), None
    return {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--", "riskengine", "benchmarks")),
            "versions": package_versions(),
            "machine": {"cpus": os.cpu_count(), "cpu": model, "memory_bytes": mem,
                        "platform": platform.platform()}}


def result_file(recorded: dict, quick: bool) -> Path:
    """``results/<UTC time>-<commit>[-quick].json``: one file per run, none overwritten."""
    stamp = recorded["when"].replace(":", "").replace("-", "")[:15]
    tag = (recorded["commit"] or "nocommit")[:8] + ("-dirty" if recorded["dirty"] else "")
    return HERE / "results" / f"{stamp}-{tag}{'-quick' if quick else ''}.json"


def reset_peak():
    """Reset the kernel's peak-RSS counter of this process (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_gib() -> float:
    """Peak resident memory of this process since the last reset (VmHWM), GiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 2**30
    return float("nan")


def timed(fn, repeat=1):
    """Median wall time of ``repeat`` calls (this is a shared VM: single runs vary by
    10-20%), and the last result."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def default_program(paths, threads):
    cfg = wl.default_program_config(paths, threads=threads)
    pf = riskengine.load_portfolio(riskengine.config.default_portfolio_path(), cfg.dependence.sectors,
                           cfg.simulation.n_quarters, cfg.simulation.steps_per_year)
    secs, res = timed(lambda: run_model(build_model(cfg, pf)), 3)
    ppq = paths * pf.n_projects * cfg.simulation.n_quarters
    return {"section": "default program", "paths": paths, "threads": threads,
            "n_projects": pf.n_projects, "n_quarters": cfg.simulation.n_quarters,
            "seconds": secs, "paths_per_second": paths / secs,
            "ns_per_path_project_quarter": secs / ppq * 1e9}


def cli_million(paths):
    """One whole ``riskengine run`` process as a user runs it (the kernels compiled and
    cached beforehand): wall time from outside and the process's own peak memory."""
    from riskengine.kernel_cache import ensure_compiled

    t = time.perf_counter()
    ensure_compiled()  # a no-op once the per-user cache holds this version's kernels
    compile_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory(prefix="riskengine-bench-") as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "riskengine.cli", "run", "--paths", str(paths), "--quiet",
               "--out", str(out)]
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
        wall = time.perf_counter() - t
        stdout, stderr = proc.stdout.read().decode(), proc.stderr.read().decode()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed with exit {code}:\n{stderr or stdout}")
        man = json.loads((out / "manifest.json").read_text())
    ppq = paths * man["n_projects"] * man["n_quarters"]
    return {"section": "default program, CLI end to end after warm-up (simulate, measures, Parquet)",
            "paths": paths, "command": " ".join(["riskengine", *cmd[3:-2]]),
            "compile_seconds": compile_s, "seconds": wall,
            "simulate_seconds": man["timings"]["simulate_seconds"],
            "peak_memory_GiB": usage.ru_maxrss * 1024 / 2**30,
            "ns_per_path_project_quarter": wall / ppq * 1e9}


def default_mode(paths, threads):
    cfg = wl.default_mode_config(paths, threads=threads)
    pf = wl.default_mode_portfolio(cfg)
    model = build_model(cfg, pf)
    secs, res = timed(lambda: run_model(model), 3)
    df = wl.default_mode_frame()
    corr = np.asarray(cfg.dependence.correlation)
    np_secs, np_loss = timed(lambda: wl.numpy_default_mode(df, corr, cfg.dependence.sectors, paths), 3)
    def draw_all():  # the normals the model needs (1,000 + 6 a path), nothing kept
        rng = np.random.default_rng(1)
        for _ in range(-(-paths // 20_000)):
            rng.standard_normal((20_000, 1006))

    floor, _ = timed(draw_all, 2)
    eng = res.loss("credit_loss", "ALL")
    return {"section": "default mode (1,000 loans, 6 sectors, 1 year)", "paths": paths,
            "threads": threads, "seconds_engine": secs, "seconds_numpy": np_secs,
            "speedup_vs_numpy": np_secs / secs, "seconds_rng_floor_numpy": floor,
            "engine_vs_floor": secs / floor,
            "ns_per_path_loan_engine": secs / paths / 1000 * 1e9,
            "engine_EL": float(eng.mean()), "numpy_EL": float(np_loss.mean())}


def scaling(paths_list, loans_list):
    rows = []
    for n in paths_list:
        cfg = wl.default_program_config(n)
        pf = riskengine.load_portfolio(riskengine.config.default_portfolio_path(),
                               cfg.dependence.sectors, cfg.simulation.n_quarters,
                               cfg.simulation.steps_per_year)
        model = build_model(cfg, pf)
        reset_peak()
        secs, res = timed(lambda: run_model(model))  # noqa: B023 (called at once)
        _ = res.summary  # the measures are part of the run
        rows.append({"section": "scaling in paths (default program)", "paths": n,
                     "seconds": secs, "peak_memory_GiB": peak_gib()})
        del res
    for n_loans in loans_list:
        cfg = wl.default_mode_config(100_000)
        model = build_model(cfg, wl.default_mode_portfolio(cfg, n_loans))
        reset_peak()
        secs, _ = timed(lambda: run_model(model))  # noqa: B023 (called at once)
        rows.append({"section": "scaling in projects (default mode, 100,000 paths)",
                     "loans": n_loans, "seconds": secs,
                     "ns_per_path_loan": secs / 100_000 / n_loans * 1e9,
                     "peak_memory_GiB": peak_gib()})
    return rows


def importance(paths, seeds):
    import pandas as pd

    from riskengine.config import config_from_dict
    from riskengine.portfolio import portfolio_from_frame

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


def importance_program(paths, seeds, long_paths):
    """Importance sampling on the shipped program: variance of the ES 0.999 of credit loss
    (ALL, JBIC, NEXI) over seeds, with and without, at equal paths; the IS mean against
    one long plain run (bias check, in standard errors)."""
    from riskengine.config import default_portfolio_path, load_config

    def cfg_for(n, seed, on):
        return load_config(None, {
            "simulation": {"paths": n, "seed": seed},
            "importance_sampling": {"enabled": on},
            "outputs": {"contributions": False, "timeline_paths": 1, "irr_paths": 1}})

    c0 = cfg_for(paths, 0, False)
    pf = riskengine.load_portfolio(default_portfolio_path(), c0.dependence.sectors,
                                   c0.simulation.n_quarters, c0.simulation.steps_per_year)
    who = ("ALL", "JBIC", "NEXI")
    out = {}
    for on in (False, True):
        es = {k: [] for k in who}
        for s in range(seeds):
            r = run_model(build_model(cfg_for(paths, 500 + s, on), pf))
            for k in who:
                es[k].append(r.value("ES", "credit_loss", k, 0.999))
        out["is" if on else "plain"] = {k: {"mean": float(np.mean(v)),
                                            "var": float(np.var(v, ddof=1))} for k, v in es.items()}
    long = run_model(build_model(cfg_for(long_paths, 9999, False), pf))
    ratio = {k: out["plain"][k]["var"] / out["is"][k]["var"] for k in who}
    bias = {}
    for k in who:
        v, se = long.estimate("ES", "credit_loss", k, 0.999)
        is_se = np.sqrt(out["is"][k]["var"] / seeds)
        bias[k] = (out["is"][k]["mean"] - v) / np.hypot(se, is_se)
    return {"section": "importance sampling on the shipped program (ES 0.999, credit loss)",
            "paths": paths, "seeds": seeds, "long_plain_paths": long_paths,
            "variance_ratio": ratio, "is_minus_long_plain_in_se": bias, **out}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--out", default=None,
                    help="result file (default: a new results/<time>-<commit>.json per run, "
                         "earlier runs kept, and a copy as results/latest.json)")
    ap.add_argument("--only-cli", action="store_true",
                    help="only the 1,000,000-path end-to-end CLI runs (appends to --out)")
    args = ap.parse_args()
    q = args.quick
    if args.only_cli:
        args.out = args.out or str(HERE / "results" / "latest.json")
        res = json.loads(Path(args.out).read_text())
        res["runs"] = [r for r in res["runs"] if not r["section"].startswith("default program, CLI")]
        for _ in range(3):
            r = cli_million(1_000_000)
            res["runs"].append(r)
            print(json.dumps(r), flush=True)
        Path(args.out).write_text(json.dumps(res, indent=2))
        return
    t0 = time.perf_counter()
    run_model(build_model(wl.default_mode_config(2048), wl.default_mode_portfolio(wl.default_mode_config(2048))))
    compile_s = time.perf_counter() - t0
    res = {"recorded": provenance(), "quick": q,
           "compile_and_first_call_seconds": compile_s, "runs": []}

    def add(r):
        res["runs"].append(r)
        print(json.dumps(r), flush=True)

    for th in (1, 2):
        add(default_program(20_000 if q else 100_000, th))
    for th in (1, 2):
        add(default_mode(20_000 if q else 200_000, th))
    for r in scaling([20_000, 50_000] if q else [100_000, 300_000, 1_000_000],
                     [250, 1000] if q else [250, 1000, 4000]):
        add(r)
    add(importance(5_000 if q else 10_000, 4 if q else 10))
    add(importance_program(5_000 if q else 50_000, 4 if q else 12,
                           20_000 if q else 1_000_000))
    for _ in range(1 if q else 3):
        add(cli_million(50_000 if q else 1_000_000))
    out = Path(args.out) if args.out else result_file(res["recorded"], q)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    if not args.out:
        (HERE / "results" / "latest.json").write_text(json.dumps(res, indent=2))
    print(f"compile + first call: {compile_s:.1f} s; written to {out}")


if __name__ == "__main__":
    main()

"""Render benchmarks/results/latest.json as the Markdown tables of benchmarks/README.md:
``python benchmarks/report.py`` prints them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results" / "latest.json"
res = json.loads(path.read_text())
runs = res["runs"]
out = [f"Compile and first call: {res['compile_and_first_call_seconds']:.1f} s.", ""]

out += ["| default program | paths | threads | seconds | paths / s | ns / path-project-quarter |",
        "|---|---:|---:|---:|---:|---:|"]
for r in runs:
    if r["section"] == "default program":
        out.append(f"| simulation | {r['paths']:,} | {r['threads']} | {r['seconds']:.2f} | "
                   f"{r['paths_per_second']:,.0f} | {r['ns_per_path_project_quarter']:.2f} |")
cli = [r for r in runs if r["section"].startswith("default program, CLI")]
for r in cli:
    out.append(f"| CLI end to end (warm) | {r['paths']:,} | 2 | {r['seconds']:.2f} | "
               f"{r['paths'] / r['seconds']:,.0f} | {r['ns_per_path_project_quarter']:.2f} |")
out += ["", "| default mode (1,000 loans, 6 sectors, 1 year) | paths | threads | engine s | NumPy s | speed-up | NumPy RNG floor s | ns / path-loan |",
        "|---|---:|---:|---:|---:|---:|---:|---:|"]
for r in runs:
    if r["section"].startswith("default mode"):
        out.append(f"| | {r['paths']:,} | {r['threads']} | {r['seconds_engine']:.2f} | "
                   f"{r['seconds_numpy']:.2f} | {r['speedup_vs_numpy']:.1f}x | "
                   f"{r['seconds_rng_floor_numpy']:.2f} | {r['ns_per_path_loan_engine']:.1f} |")
out += ["", "| scaling | size | seconds | peak memory GiB |", "|---|---:|---:|---:|"]
for r in runs:
    if r["section"].startswith("scaling in paths"):
        out.append(f"| default program, paths | {r['paths']:,} | {r['seconds']:.2f} | {r['peak_memory_GiB']:.2f} |")
    if r["section"].startswith("scaling in projects"):
        out.append(f"| default mode, loans (100,000 paths; {r['ns_per_path_loan']:.1f} ns/path-loan) | "
                   f"{r['loans']:,} | {r['seconds']:.2f} | {r['peak_memory_GiB']:.2f} |")
for r in cli:
    out.append(f"| CLI run, 1,000,000 paths (whole process) | {r['paths']:,} | {r['seconds']:.2f} | {r['peak_memory_GiB']:.2f} |")
imp = [r for r in runs if r["section"].startswith("importance")]
if imp:
    r = imp[0]
    out += ["", f"| importance sampling ({r['paths']:,} paths x {r['seeds']} seeds) | VaR 0.999 mean | VaR var | ES 0.999 mean | ES var |",
            "|---|---:|---:|---:|---:|"]
    for k in ("plain", "is"):
        v = r[k]
        out.append(f"| {'plain Monte Carlo' if k == 'plain' else 'importance sampling'} | {v['VaR_mean']:.1f} | "
                   f"{v['VaR_var']:.2f} | {v['ES_mean']:.2f} | {v['ES_var']:.3f} |")
    out.append(f"| exact (Vasicek finite pool) | {r['exact_VaR_999']:.0f} | | {r['exact_ES_999']:.2f} | |")
    out.append("")
    out.append(f"Variance ratio plain / IS: ES {r['ES_variance_ratio']:.0f}x, VaR {r['VaR_variance_ratio']:.0f}x.")
print("\n".join(out))
if cli:
    ns = [r["ns_per_path_project_quarter"] for r in cli]
    mem = max(r["peak_memory_GiB"] for r in cli)
    print(f"\n1,000,000-path CLI runs: median {np.median(ns):.2f}, best {min(ns):.2f}, worst "
          f"{max(ns):.2f} ns per path-project-quarter; peak memory {mem:.2f} GiB.")

"""Start-up as a user meets it: ``python benchmarks/startup.py [--repeat 7]``.

Each figure is the median over ``--repeat`` fresh processes (the runs of the different
figures interleaved, so a busy moment of a shared machine spreads over all of them):

- ``python``: the interpreter alone (``python -c pass``), whole process;
- ``import``: ``import riskengine``, timed inside the process;
- ``import_and_kernels``: ``import riskengine`` and loading the run's cached kernel
  (``run_chunk``, every signature in its cache), timed inside the process;
- ``help``: ``riskengine --help``, whole process;
- ``tiny_run``: ``riskengine run --paths 1000 --quiet --out DIR --overwrite``, whole
  process.

Each is given as wall time and as CPU time (user + system): on a shared machine the wall
time grows with the other work on it and the CPU time much less, so the CPU time is
close to what a quiet machine's wall time would be.

``--breakdown`` also splits two of them into stages (CPU seconds, inside the process,
medians): the kernel load (NumPy, numba, the kernel modules, the SciPy that numba's
target set-up imports, the rest of that set-up, ``run_chunk``'s object code) and the tiny
run (the run's modules, config with portfolio and model, kernel load, simulation with
measures and writing).

The kernels must be compiled beforehand (any ``riskengine run``); the script refuses
otherwise rather than time a compile. It also lists which of the heavy libraries
``import riskengine`` loads. README.md in this folder records the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("numba", "scipy", "scipy.stats", "scipy.optimize", "pandas", "xarray", "pyarrow",
         "dask", "distributed", "matplotlib", "pydantic", "rich")

IMPORT = f"""
import time
t0, c0 = time.perf_counter(), time.process_time()
import riskengine
t1, c1 = time.perf_counter(), time.process_time()
import json, sys
print(json.dumps({{"wall": t1 - t0, "cpu": c1 - c0,
                  "loaded": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""

KERNELS = """
import time
t0, c0 = time.perf_counter(), time.process_time()
import riskengine
from riskengine._kernels.engine import run_chunk
from riskengine.kernel_cache import kernels_cached
sigs = [key[0] for key in run_chunk._cache._cache_file._load_index()]
if not kernels_cached() or not sigs:
    raise SystemExit("the kernels are not cached: run riskengine once first")
for sig in sigs:
    run_chunk.compile(sig)  # loads it from the cache (a compile would take minutes)
t1, c1 = time.perf_counter(), time.process_time()
assert sum(run_chunk.stats.cache_hits.values()) == len(sigs), run_chunk.stats
import json
print(json.dumps({"wall": t1 - t0, "cpu": c1 - c0}))
"""


KERNEL_STAGES = """
import time
T = [time.process_time()]
import numpy
T.append(time.process_time())
import numba
T.append(time.process_time())
import riskengine
from riskengine._kernels.engine import run_chunk
from riskengine.kernel_cache import kernels_cached
T.append(time.process_time())
import scipy.linalg  # (what numba's BLAS check in its target set-up imports)
T.append(time.process_time())
run_chunk.targetctx.refresh()  # (what a first call does before loading from the cache)
T.append(time.process_time())
for key in run_chunk._cache._cache_file._load_index():
    run_chunk.compile(key[0])
T.append(time.process_time())
assert kernels_cached() and sum(run_chunk.stats.cache_hits.values()) >= 1
names = ["numpy", "numba", "kernel modules", "scipy.linalg (numba's BLAS check)",
         "numba target set-up (the rest)", "run_chunk from the cache"]
import json
print(json.dumps(dict(zip(names, (b - a for a, b in zip(T, T[1:]))))))
"""

RUN_STAGES = """
import sys, time
T = [time.process_time()]
import riskengine
from riskengine import commands
from riskengine.cli import build_parser
from rich.console import Console
T.append(time.process_time())
args = build_parser().parse_args(["run", "--paths", "1000", "--quiet", "--out", sys.argv[1],
                                  "--overwrite"])
models = commands.prepare(args, Console(stderr=True))
T.append(time.process_time())
from riskengine.kernel_cache import ensure_compiled, kernels_cached
from riskengine._kernels.engine import run_chunk
ensure_compiled()
for key in run_chunk._cache._cache_file._load_index():
    run_chunk.compile(key[0])
assert kernels_cached() and sum(run_chunk.stats.cache_hits.values()) >= 1
T.append(time.process_time())
from riskengine.runs import claim_run, run_into
out, taken = claim_run(models, args.out, False, True)
run_into(models, out, taken, overwrite=True)
T.append(time.process_time())
names = ["the run's modules", "config, portfolio, model", "kernel load",
         "simulation, measures, writing"]
import json
print(json.dumps(dict(zip(names, (b - a for a, b in zip(T, T[1:]))))))
"""


def _cpu_of_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _whole(cmd: list[str]) -> dict:
    """Wall and CPU seconds of a whole process."""
    t0, c0 = time.perf_counter(), _cpu_of_children()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"wall": time.perf_counter() - t0, "cpu": _cpu_of_children() - c0}


def _inside(code: str, *argv: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *argv], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--breakdown", action="store_true",
                    help="also the stages of the kernel load and of the tiny run")
    args = ap.parse_args()
    cli = str(Path(sys.executable).parent / "riskengine")
    times: dict[str, list[dict]] = {k: [] for k in
                                    ("python", "import", "import_and_kernels", "help",
                                     "tiny_run")}
    loaded: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        run = [cli, "run", "--paths", "1000", "--quiet", "--out", f"{tmp}/run", "--overwrite"]
        _whole(run)  # (a first process writes bytecode caches; not timed)
        for _ in range(args.repeat):
            times["python"].append(_whole([sys.executable, "-c", "pass"]))
            first = _inside(IMPORT)
            times["import"].append(first)
            loaded = first["loaded"]
            times["import_and_kernels"].append(_inside(KERNELS))
            times["help"].append(_whole([cli, "--help"]))
            times["tiny_run"].append(_whole(run))
    for name, ts in times.items():
        print(json.dumps({"figure": name, "runs": len(ts), **{
            f"{k}_{stat.__name__}": round(stat([t[k] for t in ts]), 3)
            for k in ("wall", "cpu") for stat in (statistics.median, min)}}))
    print(json.dumps({"import riskengine loads": loaded}))
    if args.breakdown:
        with tempfile.TemporaryDirectory() as tmp:
            for name, code, argv in (("kernel load", KERNEL_STAGES, ()),
                                     ("tiny run", RUN_STAGES, (f"{tmp}/run",))):
                runs = [_inside(code, *argv) for _ in range(args.repeat)]
                print(json.dumps({"stages of": name, "cpu_median": {
                    k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}}))


if __name__ == "__main__":
    main()

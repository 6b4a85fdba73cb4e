"""Where the kernel's time goes, by compiled function, with Linux ``perf``.

numba's cached kernels run as JIT code that ``perf`` cannot name. This runs a program
in-process and then writes ``/tmp/perf-PID.map`` (perf's map of JIT symbols) from the
compiled object numba cached for ``run_chunk``: every function compiled into it, at the
address the process loaded it at. Stage functions inlined into ``simulate_block``
(``inline="always"``) count as ``simulate_block``.

    perf record -F 999 -o perf.data python benchmarks/profile_kernel.py \\
        --config benchmarks/programs/issue27/program.toml \\
        --portfolio benchmarks/programs/issue27/portfolio.csv --paths 100000
    perf report -i perf.data --no-children --sort sym -g none

Kernels must be compiled and cached beforehand (any ``riskengine run``); one thread.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile

from riskengine._kernels import engine
from riskengine.config import load_config
from riskengine.kernel_inputs import build_model
from riskengine.portfolio import load_portfolio
from riskengine.simulate import run_model


def jit_symbols() -> list[tuple[int, int, str]]:
    """``(address, size, name)`` of every function in ``run_chunk``'s cached object."""
    cache = engine.run_chunk._cache._cache_file
    library = next(iter(engine.run_chunk.overloads.values())).library
    symbols = []
    for data_name in cache._load_index().values():
        obj = cache._load_data(data_name)[0][2][0]  # (name, "object", (object, bitcode))
        with tempfile.NamedTemporaryFile(suffix=".o") as f:
            f.write(obj)
            f.flush()
            nm = subprocess.run(["nm", "-S", "--defined-only", f.name], capture_output=True,
                                text=True, check=True).stdout
        for line in nm.splitlines():
            parts = line.split()
            if len(parts) != 4 or parts[2] not in "tTwW":
                continue
            try:
                address = library.get_pointer_to_function(parts[3])
            except Exception:  # (a symbol the loaded library does not export)
                continue
            if address:
                symbols.append((address, int(parts[1], 16), parts[3]))
    return sorted(symbols)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--portfolio", required=True)
    ap.add_argument("--paths", type=int, default=100_000)
    args = ap.parse_args()
    cfg = load_config(args.config, {"simulation": {"paths": args.paths, "threads": 1}})
    sim = cfg.simulation
    pf = load_portfolio(args.portfolio, cfg.dependence.sectors, sim.n_quarters,
                        sim.steps_per_year)
    run_model(build_model(cfg, pf))
    symbols = jit_symbols()
    with open(f"/tmp/perf-{os.getpid()}.map", "w") as f:
        for address, size, name in symbols:
            f.write(f"{address:x} {size:x} {name}\n")
    print(f"{len(symbols)} kernel functions mapped for perf")


if __name__ == "__main__":
    main()

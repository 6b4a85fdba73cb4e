"""The default-mode workload as whole processes, the way a user meets it.

    python benchmarks/whole_process.py write DIR          # DIR/default_mode.toml and .csv
    riskengine run --config DIR/default_mode.toml --portfolio DIR/default_mode.csv \\
        --paths 200000 --quiet --overwrite --out DIR/run     # the engine, one process
    python benchmarks/whole_process.py numpy --paths 200000  # plain NumPy, one process

Time both with any whole-process timer (``/usr/bin/time -v``, ``hyperfine``); the
engine's kernels are compiled once per user and version (the first ``riskengine run``),
so time its later runs. README.md in this folder records the figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workloads as wl  # noqa: E402


def write(folder: Path, paths: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = wl.default_mode_config(paths)
    dep = cfg.dependence
    rows = ",\n".join("  [" + ", ".join(f"{x:.2f}" for x in r) + "]" for r in dep.correlation)
    (folder / "default_mode.toml").write_text(
        "# default-mode benchmark workload (benchmarks/workloads.py)\n"
        f"[simulation]\npaths = {paths}\nseed = {cfg.simulation.seed}\nhorizon_years = 1\n\n"
        f"[dependence]\nsectors = {list(dep.sectors)!r}\ncorrelation = [\n{rows},\n]\n\n"
        "[rates]\nbase_rate = 0.0\ndiscount_rate = 0.0\n\n"
        "# what the NumPy script computes: the losses (no tail replay for contributions,\n"
        "# no chunk files for a resume)\n"
        "[outputs]\ncontributions = false\ncheckpoint = false\n\n"
        "# no USD/JPY path (the shipped program's [fx] is inherited): yen = spot x dollars\n"
        "[fx]\nvolatility = 0.0\n".replace("'", '"'))
    wl.default_mode_frame().to_csv(folder / "default_mode.csv", index=False)
    print(f"wrote {folder / 'default_mode.toml'} and {folder / 'default_mode.csv'}")


def numpy_run(paths: int) -> None:
    import numpy as np

    cfg = wl.default_mode_config(paths)
    loss = wl.numpy_default_mode(wl.default_mode_frame(), np.asarray(cfg.dependence.correlation),
                                 cfg.dependence.sectors, paths)
    print(f"NumPy default mode: {paths} paths, EL {loss.mean():.6g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    w = sub.add_parser("write", help="write the workload's config and portfolio")
    w.add_argument("folder", type=Path)
    w.add_argument("--paths", type=int, default=200_000)
    n = sub.add_parser("numpy", help="run the plain NumPy baseline")
    n.add_argument("--paths", type=int, default=200_000)
    args = ap.parse_args()
    if args.what == "write":
        write(args.folder, args.paths)
    else:
        numpy_run(args.paths)


if __name__ == "__main__":
    main()

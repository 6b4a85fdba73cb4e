"""Statistical equivalence of this tree's results version with the recorded figures.

    python benchmarks/equivalence.py                        # both workloads, 1,000,000 paths
    python benchmarks/equivalence.py --workload default_mode
    python benchmarks/equivalence.py --run shipped=DIR      # a finished run, not a new one
    python benchmarks/equivalence.py record --seed 20271    # rewrite the reference file
    python benchmarks/equivalence.py record --seed 20271 --run shipped=DIR ...  # from runs

Each workload (tests/equivalence/references.py: the shipped program, and the frozen
default-mode workload) runs as a whole process, ``riskengine run ... --paths N --seed S
--quiet --out DIR``, one after the other, into a temporary folder; its EL, VaR and ES at
0.99 and 0.999 of JBIC, NEXI and ALL (credit and economic loss) are set beside the
reference's in a table with ``(new - old) / sqrt(se_old^2 + se_new^2)``. The check's seed
is by default the reference's plus one, so the two samples are independent and that is
the difference's standard error (on the same seed a run of the same version repeats the
reference exactly).

Exit status: 0 every figure within 3 combined standard errors, 1 some beyond, 2 a
workload's config or portfolio differs from the reference's (the comparison would mean
nothing). About one figure in 370 lies beyond 3 by chance; the figures of one run are
correlated, so a single excursion just past 3 calls for a rerun on another seed before a
verdict.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import riskengine  # noqa: E402
from riskengine.results_version import RESULTS_VERSION  # noqa: E402
from tests.equivalence import references as ref  # noqa: E402

PATHS = 1_000_000


def command(name: str, paths: int, seed: int, out: str) -> list[str]:
    """The ``riskengine run`` command of one workload (as a user types it)."""
    return ["riskengine", "run", *ref.WORKLOADS[name], "--paths", str(paths),
            "--seed", str(seed), "--quiet", "--out", out]


def run_workload(name: str, paths: int, seed: int, out: Path) -> Path:
    """Run one workload as a whole process into ``out``; say how long it took."""
    cmd = command(name, paths, seed, str(out))
    print(f"$ {shlex.join(cmd)}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "riskengine.cli", *cmd[1:]], cwd=REPO, check=True)
    print(f"  {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return out


def record_of(name: str, run_dir: Path | None, paths: int, seed: int, tmp: Path) -> dict:
    """:func:`references.run_record` of a workload's run: ``run_dir``, or a new run."""
    run_dir = run_dir or run_workload(name, paths, seed, tmp / name)
    data = riskengine.read_results(run_dir)
    rec = ref.run_record(data.manifest, data.summary)
    rec["command"] = shlex.join(command(name, rec["paths"], rec["seed"], "DIR"))
    return rec


def check(args) -> int:
    reference = ref.load_reference(args.reference)
    status = 0
    everything = {}
    with tempfile.TemporaryDirectory(prefix="equivalence-") as tmp:
        for name in args.workload or list(ref.WORKLOADS):
            old = reference["workloads"][name]
            seed = args.seed if args.seed is not None else old["seed"] + 1
            new = record_of(name, args.run.get(name), args.paths, seed, Path(tmp))
            problems, notes = ref.input_differences(old, new)
            print(f"\n{name}: reference results version {old['results_version']} "
                  f"({old['paths']:,} paths, seed {old['seed']}, {old['git_commit']}); "
                  f"this run results version {new['results_version']} ({new['paths']:,} "
                  f"paths, seed {new['seed']}, {new['git_commit']})")
            for note in notes:
                print(f"  note: {note}")
            if problems:
                print("  not comparable, the model differs from the reference's:\n    "
                      + "\n    ".join(problems))
                status = 2
                continue
            rows = ref.compare(old["figures"], new["figures"])
            everything[name] = rows
            print(ref.table(rows))
            bad = ref.failures(rows)
            worst = max(abs(r["diff_se"]) for r in rows)
            print(f"{len(rows)} figures, largest |difference| {worst:.2f} combined standard "
                  f"errors; {len(bad)} beyond {ref.LIMIT:g}")
            if bad and status == 0:
                status = 1
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1))
    return status


def record(args) -> int:
    """Write the reference file from this tree's runs of every workload (or the finished
    runs ``--run`` names, which must be this tree's results version)."""
    workloads = {}
    with tempfile.TemporaryDirectory(prefix="equivalence-") as tmp:
        for name in ref.WORKLOADS:
            rec = record_of(name, args.run.get(name), args.paths, args.seed, Path(tmp))
            if rec["results_version"] != RESULTS_VERSION:
                raise SystemExit(f"{name}: the run is results version "
                                 f"{rec['results_version']}, this tree {RESULTS_VERSION}")
            workloads[name] = rec
    commits = {rec["git_commit"] for rec in workloads.values()}
    out = {
        "about": "EL, VaR and ES at 0.99 and 0.999 of JBIC, NEXI and ALL, credit and "
                 "economic loss, value and standard error in US dollars, of each workload "
                 "(tests/equivalence/references.py): the figures a new results version is "
                 "held to",
        "results_version": RESULTS_VERSION,
        "commit": commits.pop() if len(commits) == 1 else sorted(map(str, commits)),
        "recorded": datetime.date.today().isoformat(),
        "produced_by": f"python benchmarks/equivalence.py record --paths {args.paths} "
                       f"--seed {args.seed}",
        "stderr_estimator": ref.STDERR_ESTIMATOR,
        "workloads": workloads,
    }
    if args.note:
        out["note"] = args.note
    args.reference.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.reference}")
    return 0


def _named_run(text: str) -> tuple[str, Path]:
    name, _, path = text.partition("=")
    if name not in ref.WORKLOADS or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=DIR, NAME one of {list(ref.WORKLOADS)}")
    return name, Path(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", nargs="?", choices=["check", "record"], default="check")
    ap.add_argument("--workload", action="append", choices=list(ref.WORKLOADS),
                    help="only this workload (repeatable; default every one)")
    ap.add_argument("--paths", type=int, default=PATHS)
    ap.add_argument("--seed", type=int, default=None,
                    help="check: default the reference's seed + 1; record: required")
    ap.add_argument("--run", type=_named_run, action="append", default=[],
                    help="NAME=DIR: read this finished run of a workload instead of running it")
    ap.add_argument("--reference", type=Path, default=ref.REFERENCE)
    ap.add_argument("--json", type=Path, help="check: write the table's rows to this file")
    ap.add_argument("--note", help="record: a note kept in the file (how the runs were made)")
    args = ap.parse_args()
    args.run = dict(args.run)
    if args.what == "record":
        if args.seed is None:
            ap.error("record needs --seed")
        return record(args)
    return check(args)


if __name__ == "__main__":
    sys.exit(main())

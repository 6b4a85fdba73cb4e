"""The figures a new results version is held to, and the comparison with them.

``reference_v1.json`` holds EL, VaR and ES at 0.99 and 0.999 of JBIC, NEXI and ALL (credit
and economic loss), each with its standard error, of two workloads at 1,000,000 paths on
results version 1 (today's draws): the shipped program, ``riskengine run`` with no config,
and the default-mode workload, the frozen ``default_mode.toml`` and ``default_mode.csv``
beside this file (``benchmarks/whole_process.py write``'s). A new version passes when
every figure of a run of it lies within ``LIMIT`` combined standard errors of the
reference: ``(new - old) / sqrt(se_old^2 + se_new^2)``, the runs independent (another
seed, or other draws).

``benchmarks/equivalence.py`` records the file and runs the check at 1,000,000 paths as
whole processes; ``test_equivalence.py`` runs the default-mode check at a size a test
affords.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import xarray as xr

from riskengine.results import stat_index

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
#: the figures of results version 1 (recorded at commit d700781)
REFERENCE = HERE / "reference_v1.json"

#: each workload's options of ``riskengine run`` besides --paths, --seed, --out (paths
#: relative to the repository)
WORKLOADS: dict[str, list[str]] = {
    "shipped": [],
    "default_mode": ["--config", "tests/equivalence/default_mode.toml",
                     "--portfolio", "tests/equivalence/default_mode.csv"],
}
VARIABLES = ("credit_loss", "economic_loss")
INSTITUTIONS = ("JBIC", "NEXI", "ALL")
MEASURES: tuple[tuple[str, float | None], ...] = (
    ("EL", None), ("VaR", 0.99), ("VaR", 0.999), ("ES", 0.99), ("ES", 0.999))
#: a figure further than this many combined standard errors from its reference fails
LIMIT = 3.0
#: the simulation keys that may differ between the reference and a check (they change
#: which paths are drawn or how fast, not the model)
RUN_KEYS = ("paths", "seed", "threads", "chunk_paths")

#: how the standard errors are estimated (riskengine/measures.py), as the file records it
STDERR_ESTIMATOR = (
    "riskengine.measures.LossSample on the run's paths (plain Monte Carlo, unit weights: "
    "no importance sampling in either workload), not batch means: EL's is sd(L) / "
    "sqrt(n); ES's is sd((L - VaR)^+ / (1 - a)) / sqrt(n), the sample variance of its "
    "influence term with VaR taken as known; VaR's comes from the 95% order-statistic "
    "interval, VaR at a -/+ 1.96 se_p with se_p = sd(1{L > VaR}) / sqrt(n) the binomial "
    "error of the tail probability, se = (hi - lo) / (2 x 1.96). (Batch means over 40 "
    "batches are only riskengine compare's paired errors above 20,000 paths.)")


def figures(summary: xr.Dataset) -> list[dict[str, Any]]:
    """The reference figures of one run's summary (the regime ``all`` when it has
    regimes): one dict per variable, institution and measure, with value and stderr."""
    if "regime" in summary.dims:
        summary = summary.sel(regime="all")
    out = []
    for variable in VARIABLES:
        if variable not in summary["variable"].values:
            continue
        for institution in INSTITUTIONS:
            s = summary.sel(institution=institution, variable=variable)
            for measure, level in MEASURES:
                i = stat_index(s, measure, level)
                out.append({"variable": variable, "institution": institution,
                            "measure": measure, "level": level,
                            "value": float(s["value"].to_numpy()[i]),
                            "stderr": float(s["stderr"].to_numpy()[i])})
    return out


def model_config(config: dict) -> dict:
    """A resolved config without the keys of :data:`RUN_KEYS` (what the model is)."""
    sim = {k: v for k, v in config["simulation"].items() if k not in RUN_KEYS}
    return {**config, "simulation": sim}


def run_record(manifest: dict, summary: xr.Dataset) -> dict[str, Any]:
    """What the reference file keeps of one run: its paths, seed, results version, the
    model's config and portfolio hash, and its figures."""
    return {"paths": manifest["paths"], "seed": manifest["seed"],
            "results_version": manifest.get("results_version", 1),
            "git_commit": manifest["provenance"].get("git_commit"),
            "portfolio_sha256": manifest["provenance"]["portfolio_sha256"],
            "config": model_config(manifest["config"]), "figures": figures(summary)}


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def input_differences(reference: dict, record: dict) -> tuple[list[str], list[str]]:
    """How a run's model differs from its reference's: ``(problems, notes)``. A problem (a
    config key with another value or gone, another portfolio) makes the comparison
    meaningless; a note is a config key the reference did not have (a new switch, at its
    default, which should change nothing)."""
    old, new = _flat(reference["config"]), _flat(record["config"])
    problems = [f"config {k}: {old[k]!r} in the reference, {new.get(k, 'unset')!r} now"
                for k in sorted(old) if new.get(k, object()) != old[k]]
    if record["portfolio_sha256"] != reference["portfolio_sha256"]:
        problems.append("the portfolio differs from the reference's (its SHA-256)")
    notes = [f"config {k} = {new[k]!r} is new since the reference" for k in sorted(new)
             if k not in old]
    return problems, notes


def _key(f: dict) -> tuple:
    return f["variable"], f["institution"], f["measure"], f["level"]


def compare(reference: list[dict], new: list[dict]) -> list[dict[str, Any]]:
    """Each figure of ``reference`` beside ``new``'s, with ``diff_se = (new - old) /
    sqrt(se_old^2 + se_new^2)`` (0 when both are exactly equal with no error: NEXI's in a
    program without NEXI; infinite when they differ with none)."""
    by_key = {_key(f): f for f in new}
    rows = []
    for old in reference:
        f = by_key[_key(old)]
        se = math.hypot(old["stderr"], f["stderr"])
        delta = f["value"] - old["value"]
        diff = delta / se if se > 0 else (0.0 if delta == 0 else math.copysign(math.inf, delta))
        rows.append({**{k: old[k] for k in ("variable", "institution", "measure", "level")},
                     "old": old["value"], "old_se": old["stderr"], "new": f["value"],
                     "new_se": f["stderr"], "diff_se": diff})
    return rows


def failures(rows: list[dict]) -> list[dict]:
    """The rows beyond :data:`LIMIT` (a NaN difference, no error to judge by, fails too)."""
    return [r for r in rows if not abs(r["diff_se"]) <= LIMIT]


def table(rows: list[dict], scale: float = 1e9) -> str:
    """The rows as a text table, values in US$ billions."""
    head = (f"{'variable':<14}{'measure':<10}{'inst':<6}{'previous':>22}{'new':>22}"
            f"{'diff (se)':>11}")
    lines = [head, "-" * len(head)]
    for r in rows:
        name = r["measure"] + ("" if r["level"] is None else f" {r['level']:g}")
        old = f"{r['old'] / scale:.4f} ± {r['old_se'] / scale:.4f}"
        new = f"{r['new'] / scale:.4f} ± {r['new_se'] / scale:.4f}"
        mark = "" if abs(r["diff_se"]) <= LIMIT else "  <-- beyond 3"
        lines.append(f"{r['variable']:<14}{name:<10}{r['institution']:<6}{old:>22}{new:>22}"
                     f"{r['diff_se']:>+11.2f}{mark}")
    return "\n".join(lines)


def load_reference(path: Path = REFERENCE) -> dict[str, Any]:
    with open(path) as f:
        return json.load(f)

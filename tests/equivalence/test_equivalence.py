"""A results version's distribution is the previous one's: the default-mode workload on this
tree, every figure within three combined standard errors of results version 1's figures
at 1,000,000 paths (``reference_v1.json``; ``references.py`` says what they are). The
shipped program's check runs at 1,000,000 paths, several minutes on two cores: with
``RISKENGINE_EQUIVALENCE=1``, or ``python benchmarks/equivalence.py``."""

from __future__ import annotations

import hashlib
import os

import pytest

import riskengine

from . import references as ref

#: default mode at this many paths takes about 4 s on two cores; its own errors are
#: sqrt(1,000,000 / PATHS) times the reference's, so the combined error is sqrt(3) = 1.7 of
#: the reference's and the check catches a shift of about 5 of them
PATHS = 500_000
#: not the reference's seed, so the two samples are independent (on the reference's seed a
#: run of the same version repeats the reference's first paths)
SEED = 27


@pytest.fixture(scope="module")
def reference():
    return ref.load_reference()


def _check(reference: dict, name: str, result) -> None:
    old = reference["workloads"][name]
    problems, _ = ref.input_differences(old, {
        "config": ref.model_config(result.meta["config"]),
        "portfolio_sha256": result.meta["provenance"]["portfolio_sha256"]})
    assert not problems, problems
    rows = ref.compare(old["figures"], ref.figures(result.summary))
    assert not ref.failures(rows), "\n" + ref.table(rows)


def test_the_reference_says_where_its_figures_come_from(reference):
    assert reference["results_version"] == 1
    for name, w in reference["workloads"].items():
        assert w["paths"] == 1_000_000 and w["results_version"] == 1, name
        assert w["git_commit"].startswith("d700781"), name
        assert len(w["figures"]) == 2 * 3 * 5, name
        assert all(f["stderr"] > 0 or f["value"] == 0 for f in w["figures"]), name
    csv = (ref.HERE / "default_mode.csv").read_bytes()
    assert hashlib.sha256(csv).hexdigest() == \
        reference["workloads"]["default_mode"]["portfolio_sha256"]


def test_default_mode_is_distributed_as_in_the_previous_results_version(reference):
    result = riskengine.simulate(ref.HERE / "default_mode.toml", ref.HERE / "default_mode.csv",
                                 paths=PATHS, seed=SEED)
    _check(reference, "default_mode", result)


@pytest.mark.skipif(os.environ.get("RISKENGINE_EQUIVALENCE") != "1",
                    reason="1,000,000 paths of the shipped program: RISKENGINE_EQUIVALENCE=1")
def test_the_shipped_program_is_distributed_as_in_the_previous_results_version(
        reference, tmp_path):
    old = reference["workloads"]["shipped"]
    result = riskengine.simulate(paths=old["paths"], seed=old["seed"] + 1,
                                 out=tmp_path / "run")
    _check(reference, "shipped", result)

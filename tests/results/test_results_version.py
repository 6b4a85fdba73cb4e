"""The results version: one constant, outside the kernels, each version described; a
manifest without the key is version 1. (Resume, merge and compare are tested in
tests/checkpoints, tests/parts and tests/compare.)"""

from __future__ import annotations

from pathlib import Path

from riskengine import results_version
from riskengine._kernels import _cache
from riskengine.results_version import HISTORY, RESULTS_VERSION, describe, of_manifest


def test_a_manifest_without_the_key_is_version_1():
    assert of_manifest({"seed": 7}) == 1
    assert of_manifest({"results_version": 3}) == 3


def test_every_version_says_what_it_draws():
    assert sorted(HISTORY) == list(range(1, RESULTS_VERSION + 1))
    assert all(text.strip() for text in HISTORY.values())
    assert describe(RESULTS_VERSION).startswith(f"results version {RESULTS_VERSION} (")


def test_the_constant_is_not_in_the_kernels_digest():
    """A bump alone leaves the compiled kernels' cache where it is: the digest reads only
    riskengine/_kernels/*.py and codes.py."""
    here = Path(results_version.__file__).resolve()
    kernels = Path(_cache.__file__).resolve().parent
    assert here.parent != kernels and here.name != "codes.py"

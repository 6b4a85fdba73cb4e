"""The results version: which random draws a run's numbers come from.

Within one results version the bits are a contract: the same inputs and seed give the same
``paths.parquet`` whatever the threads, chunks, path ranges, resume or Dask. A new version
may draw differently (another normal generator, draws skipped where nothing consumes
them); across versions what holds is the distribution, checked against the figures of the
previous version in ``tests/equivalence/`` (docs/model.md, "Random numbers").

Every manifest riskengine writes records ``results_version``; one without it (a run
directory, part or checkpoint written before the key existed) is version 1. Resume and
merge refuse to mix versions; compare says when two runs differ in it.

This module is outside ``riskengine/_kernels`` on purpose: the compiled kernels' cache is
named after a digest of that folder's sources, which a version bump alone should not
change (a change of the draws changes the kernels, and so their digest, anyway).

To bump: raise :data:`RESULTS_VERSION` by one and add a line to :data:`HISTORY` saying
what draws differently and why; CHANGELOG.md and docs/model.md say the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the results version this riskengine writes
RESULTS_VERSION = 2

#: the manifest's key
KEY = "results_version"

#: what each version draws, in a line (a version's entry never changes once released)
HISTORY = {
    1: "SplitMix64 streams keyed by (seed, stream, item, path), ziggurat (ZIGNOR) normals: "
       "the draws of every run written before results versions were recorded",
    2: "a 256-layer ziggurat (fewer normals take its rejection branch), the sector cash "
       "innovations drawn column by column (columns no simulated sector reads not drawn), "
       "a unit's selection and a pipeline obligor's latent credit variable drawn as normals",
}


def of_manifest(manifest: Mapping[str, Any]) -> int:
    """The results version a manifest records (1 when it has no ``results_version``:
    written before the key existed)."""
    return int(manifest.get(KEY, 1))


def describe(version: int) -> str:
    """``results version N`` with its line of :data:`HISTORY` when it is known."""
    what = HISTORY.get(version)
    return f"results version {version}" + (f" ({what})" if what else "")

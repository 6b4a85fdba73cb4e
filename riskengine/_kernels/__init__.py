"""Numba kernels: the only package that imports numba's JIT.

On-disk caching of compiled kernels is off by default (numba issue 4807: a shared cache
used by several processes at once can crash). Set ``RISKENGINE_NUMBA_CACHE=1`` to cache
them next to the sources, which cuts the ~13 s first-call compile of every run to about a
second; only do so when runs do not start in parallel from one installation.
"""

import os

CACHE = os.environ.get("RISKENGINE_NUMBA_CACHE", "0") == "1"

"""Numba kernels: the only package that imports numba's JIT.

``bundles`` names every input and output; ``indexing`` gives indices numba need not test;
``rng`` the random streams; ``defaults`` the copula of default times and the debt outcome;
``rates`` the short-rate path; ``waterfall`` the profit-sharing split; ``equity`` one
equity vehicle on one path; ``irr`` Japan's IRR; ``engine`` the per-path stages and the
parallel chunk driver. ``_cache`` decides where the compiled kernels are kept and is
imported before any of them is defined.
"""

from . import _cache  # noqa: F401  (sets numba's cache directory first)

"""Numba kernels: the only package that imports numba.

``bundles`` names every input and output; ``engine`` is the parallel chunk driver and the
per-path stages in order, each a module named after its concept: ``path_draws``,
``program``, ``yen``, ``twist``, ``default_times``, ``valuation`` (with ``debt``,
``instruments``, ``equity``, ``lgd``) and ``accumulation``. Below them: ``rng`` the random
streams, ``defaults`` the copula of default times, ``rates`` the short-rate path,
``waterfall`` the profit-sharing split, ``irr`` Japan's IRR, ``exponential`` and
``indexing``. ``_cache`` decides where the compiled kernels are kept and is imported
before any of them is defined.
"""

from . import _cache  # noqa: F401  (sets numba's cache directory first)

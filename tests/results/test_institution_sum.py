"""ALL's per-path values: the institutions' sum, the bits NumPy's sum gives."""

from __future__ import annotations

import numpy as np
import pytest

from riskengine.results import institution_sum

VALUES = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e308, 5e-324, 0.1, 3.3])


@pytest.mark.parametrize("columns", range(1, 10))
def test_institution_sum_has_the_bits_of_numpy_s_sum(columns):
    rng = np.random.default_rng(columns)
    with np.errstate(over="ignore", invalid="ignore"):
        values = (rng.choice(VALUES, size=(20_000, columns))
                  * rng.choice([1.0, 1e16, 1e-16, 7.0], size=(20_000, columns)))
        assert institution_sum(values).tobytes() == values.sum(axis=-1).tobytes()
        assert (institution_sum(np.asfortranarray(values)).tobytes()
                == np.asfortranarray(values).sum(axis=-1).tobytes())

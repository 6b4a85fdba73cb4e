"""Loss given default on a path: the row's mean, a Beta draw around it, or a mean that
follows the cycle (the row's sector factor)."""

from __future__ import annotations

from numba import njit

from .defaults import draw_lgd, phi_cdf


@njit(inline="always")
def cyclical_lgd(lgd_key, path, offset, loading, sector_factor, concentration):
    """LGD that follows the cycle: mean ``Phi(offset - b S)`` with ``offset =
    Phi^-1(lgd) sqrt(1 + b^2)``, so its average over the factor is ``lgd`` and it is high
    when the sector factor (and so defaults) is bad; a Beta draw around that mean with the
    row's concentration ``alpha + beta`` when ``lgd_sd > 0``."""
    mean = phi_cdf(offset - loading * sector_factor)
    if concentration > 0.0 and 0.0 < mean < 1.0:  # (a Beta with a zero shape is its mean)
        return draw_lgd(lgd_key, path, mean, mean * concentration, (1.0 - mean) * concentration)
    return mean


@njit(inline="always")
def row_lgd(p, k, path, exposures, sector_factor):
    """Row ``p``'s loss given default on the path (its mean when it does not default,
    ``k < 0``, which nothing then reads)."""
    lgd = exposures.lgd_mean[p]
    if k >= 0:
        if exposures.lgd_loading[p] > 0.0:
            return cyclical_lgd(exposures.lgd_key[p], path, exposures.lgd_offset[p],
                                exposures.lgd_loading[p],
                                sector_factor[exposures.sector[p]],
                                exposures.lgd_alpha[p] + exposures.lgd_beta[p])
        return draw_lgd(exposures.lgd_key[p], path, lgd, exposures.lgd_alpha[p],
                        exposures.lgd_beta[p])
    return lgd

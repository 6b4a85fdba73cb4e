"""A path's common draws, before any exposure: its political regime, importance
sampling's measure, the sector factors, the sector cash index and the base rate, and the
screen above which no default uniform defaults."""

from __future__ import annotations

from numba import njit

from .defaults import (
    _PHI_MARGIN,
    SCREEN_LO,
    SCREEN_POINTS,
    SCREEN_STEP,
    group_horizon_x,
    group_year_pd,
    mixing_scale,
    phi_approx,
    sector_factors,
    yearly_factors,
)
from .equity import cash_index
from .indexing import unsigned
from .rates import rate_path
from .rng import path_key, uniform

_PER_SCREEN_STEP = 1.0 / SCREEN_STEP


@njit(inline="always")
def draw_regime(path, program, sampler):
    """The path's political regime (its own stream; pinned or one regime: no draw), drawn
    with the sampler's probabilities ``q``, or the model's ``p`` on a path of the defensive
    mixture's plain component (the mixture's choice, :func:`draw_factors`'s). Returns
    ``(regime, p_r / q_r)``, the ratio 1 unless importance sampling tilts the regimes."""
    r = program.pinned_regime
    ratio = 1.0
    if r < 0:
        r = 0
        regime_cum = sampler.regime_cum
        n_regimes = regime_cum.shape[0]
        if n_regimes > 1:
            if (sampler.plain_share > 0.0
                    and uniform(path_key(sampler.mixture_key, path), 0) < sampler.plain_share):
                regime_cum = program.regime_cum  # the plain component: the model's own
            u_regime = uniform(path_key(program.regime_key, path), 0)
            while r < n_regimes - 1 and u_regime >= regime_cum[r]:
                r += 1
            ratio = sampler.regime_ratio[r]
    return r, ratio


@njit(inline="always")
def draw_factors(path, regime, plan, m, scratch):
    """The sector factors (``scratch.sector_factor``). With importance sampling, the
    defensive mixture (Hesterberg 1995) draws a share ``plain_share`` of paths from the
    model itself and the rest with the regime's factor shift. A scenario's stress
    (:mod:`riskengine.stress`) sets the factors' mean (``program.factor_shift``) and, when
    it fixes sectors, their conditional root (``copula.root``, zero rows for the fixed
    ones). Returns ``(tilted, log(g / f))`` of the factor shift."""
    sampler, copula = m.sampler, m.copula
    z, sector_factor = scratch.factor_normals, scratch.sector_factor
    tilted = plan.is_on and uniform(path_key(sampler.mixture_key, path), 0) >= sampler.plain_share
    mu_r = sampler.mean_shift[regime]
    sector_factors(path, copula.factor_key, copula.root, copula.root_row_end,
                   mu_r if tilted else scratch.zero_shift, z, sector_factor)
    if plan.shift_on:
        factor_shift = m.program.factor_shift
        for j in range(sector_factor.shape[0]):
            sector_factor[j] += factor_shift[j]
    log_ratio = 0.0
    if plan.shifted:
        dot = 0.0
        for j in range(mu_r.shape[0]):
            dot += mu_r[j] * z[j]
        log_ratio = dot - 0.5 * scratch.mu2_by_regime[regime]
    return tilted, log_ratio


@njit(inline="always")
def draw_cash_and_rate(path, plan, m, scratch):
    """The sector cash index (equity) and the common innovation, when anything reads them,
    and the path's base rate by step."""
    if plan.n_equity > 0 or m.cash.stochastic_rate:
        cash_index(path, m.cash, m.cash.innovation_root, m.cash.innovation_root_end,
                   scratch.sector_factor, scratch.cash_normals, scratch.cash_index, scratch.macro)
    rate_path(path, m.cash, scratch.macro, scratch.rate_path)


@njit(inline="always")
def cell_screens(regime, copula, scratch):
    """Lazy groups: each cell's screen (no uniform above it defaults in the cell's groups)
    from a bound on their standardised thresholds ``x = a - b S``, tabled as Phi on the
    factor's grid (off it, ``a <= a_max`` and ``b`` in ``[b_min, b_max]``). Returns the
    largest."""
    sector_factor, cell_screen = scratch.sector_factor, scratch.cell_screen
    cell_sector = copula.cell_sector
    screen_r = copula.screen_u[regime]
    u_screen = 0.0
    for c in range(cell_sector.shape[0]):
        sf = sector_factor[unsigned(cell_sector[c])]
        at = (sf - SCREEN_LO) * _PER_SCREEN_STEP  # (a grid point's neighbour ulp either
        # side is fine: each interval's screen holds at both its ends)
        if 0.0 <= at < SCREEN_POINTS - 1:
            screen = screen_r[c, unsigned(int(at))]
        else:  # off the grid: the cell's largest intercept and extreme slope
            b = copula.screen_b_min[c] if sf >= 0.0 else copula.screen_b_max[c]
            bound = copula.screen_a_max[regime, c] - b * sf
            screen = phi_approx(bound + 1e-9) + _PHI_MARGIN
        cell_screen[c] = screen
        if screen > u_screen:
            u_screen = screen
    return u_screen


@njit(inline="always")
def default_screen(path, regime, plan, m, scratch):
    """The groups' conditional default probabilities given the factors (and, for the t
    copula, the path's mixing variable): yearly curves (``ar1`` factors), the cells'
    screens (lazy groups; a group's own value is computed when an exposure's uniform
    passes), or every group's horizon value. Returns ``(scale, u_screen)``: no exposure
    defaults on the path unless its uniform is at most ``u_screen``."""
    copula = m.copula
    scale = mixing_scale(path, copula.t_dof, copula.mixing_key)
    if copula.yearly:  # the factors move year by year: conditional curves by year end
        factor_path = scratch.factor_path
        yearly_factors(path, copula.factor_key, copula.root, copula.root_row_end,
                       copula.persistence, scratch.factor_normals, scratch.sector_factor,
                       factor_path)
        if plan.shift_on:  # year 0 carries the shift, which the recursion decays as
            # phi^t: restore it, so every year's factor mean is shifted (with a stress's
            # conditional root, a fixed sector stays at its value every year and the
            # others follow their conditional law year by year: riskengine.stress)
            factor_shift = m.program.factor_shift
            decay = 1.0
            for t in range(1, factor_path.shape[1]):
                decay *= copula.persistence
                for j in range(factor_path.shape[0]):
                    factor_path[j, t] += factor_shift[j] * (1.0 - decay)
        u_screen = group_year_pd(copula.group_loading, copula.group_sector,
                                 copula.group_idio_sd, copula.year_threshold[regime],
                                 factor_path, scratch.group_year_pd)
    elif plan.lazy:
        u_screen = cell_screens(regime, copula, scratch)
    else:
        x_max = group_horizon_x(copula.group_loading, copula.group_sector,
                                copula.group_threshold[regime], copula.group_steps_at_risk,
                                copula.group_idio_sd, copula.group_inverse_idio_sd, scale,
                                scratch.sector_factor, scratch.group_x, scratch.group_shift)
        u_screen = phi_approx(x_max) + _PHI_MARGIN
    return scale, u_screen

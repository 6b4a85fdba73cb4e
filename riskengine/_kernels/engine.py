"""The per-chunk driver kernel: parallel over blocks of paths, each path simulated whole.

A chunk is a global range of paths ``[path0, path0 + n_paths)``; ``path0`` is a multiple
of ``block``. Each block writes only its own rows of the per-path outputs and its own
slice of the per-project accumulators, which the caller sums over blocks in a fixed order,
so results are bit-identical for any thread count and any chunk size that is a multiple of
the block.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .defaults import (_PHI_MARGIN, debt_outcome, default_quarter, draw_lgd, phi_approx,
                       phi_cdf, sector_factors)
from .rng import path_key, uniform


@njit(parallel=True, cache=False)
def run_chunk(path0, n_paths, block,
              factor_key, root, mu,
              grp_sector, grp_w, grp_s, grp_thr, grp_nrel,
              proj_group, proj_kind, proj_inst, proj_approval, key_idio, key_lgd,
              proj_lgd, proj_alpha, proj_beta, proj_cov,
              balance, pv_before, terminal, df_end,
              out_credit, out_econ, out_weight, acc):
    """Simulate paths ``path0 .. path0 + n_paths - 1``.

    Parameters (shapes; G groups, P projects, Q quarters, K sectors, I institutions)
    ----------
    root : (K, K) factor square root; mu : (K,) mean shift of the factor normals
    grp_* : per group of exposures sharing sector, loading and default curve;
        grp_thr (G, Q) thresholds by relative quarter, grp_nrel (G,) quarters at risk
    proj_* : (P,) per exposure; key_idio, key_lgd : (P,) uint64 stream keys
    balance : (P, Q); pv_before : (P, Q + 1); terminal : (P,); df_end : (Q,)
    out_credit, out_econ : (n_paths, I) written; out_weight : (n_paths,) written
    acc : (n_blocks, P, 2) written: per block, sum of weight * default and of
        weight * credit loss per exposure
    """
    n_blocks = (n_paths + block - 1) // block
    n_groups = grp_w.shape[0]
    n_proj = proj_group.shape[0]
    n_sec = root.shape[0]
    n_q = df_end.shape[0]
    n_inst = out_credit.shape[1]
    for b in prange(n_blocks):
        z = np.empty(n_sec)
        s_fac = np.empty(n_sec)
        gx = np.empty(n_groups)  # standardised horizon threshold of each group
        ga = np.empty(n_groups)  # its table approximation of Phi
        gws = np.empty(n_groups)
        for r in range(b * block, min((b + 1) * block, n_paths)):
            path = path0 + r
            sector_factors(factor_key, path, root, mu, z, s_fac)
            weight = 1.0
            for g in range(n_groups):
                ws = grp_w[g] * s_fac[grp_sector[g]]
                gws[g] = ws
                thr_h = grp_thr[g, grp_nrel[g] - 1]
                if grp_s[g] > 0.0:
                    gx[g] = (thr_h - ws) / grp_s[g]
                else:
                    gx[g] = np.inf if ws <= thr_h else -np.inf
                ga[g] = phi_approx(gx[g])
            for i in range(n_inst):
                out_credit[r, i] = 0.0
                out_econ[r, i] = 0.0
            for p in range(n_proj):
                g = proj_group[p]
                u = uniform(path_key(key_idio[p], path), 0)
                k = -1
                # exactly u <= Phi(gx[g]); the table decides unless u is within the margin
                a_ = ga[g]
                hit = u < a_ - _PHI_MARGIN or (u <= a_ + _PHI_MARGIN and u <= phi_cdf(gx[g]))
                if hit:
                    j = default_quarter(u, grp_thr[g], grp_nrel[g], gws[g], grp_s[g])
                    k = proj_approval[p] + j
                lgd = proj_lgd[p]
                if k >= 0:
                    lgd = draw_lgd(key_lgd[p], path, proj_lgd[p], proj_alpha[p], proj_beta[p])
                credit, npv = debt_outcome(proj_kind[p], k, lgd, proj_cov[p], balance[p],
                                           pv_before[p], terminal[p], df_end, n_q)
                inst = proj_inst[p]
                out_credit[r, inst] += credit
                out_econ[r, inst] -= npv
                if k >= 0:
                    acc[b, p, 0] += weight
                    acc[b, p, 1] += weight * credit
            out_weight[r] = weight

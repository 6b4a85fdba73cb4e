"""The per-chunk driver kernel: parallel over blocks of paths, each path simulated whole.

A chunk is a global range of paths ``[path0, path0 + n_paths)``; ``path0`` is a multiple
of ``block``. Each block writes only its own rows of the per-path outputs and its own
slices of the accumulators, which the caller sums over blocks in a fixed order, so results
are bit-identical for any thread count and any chunk size that is a multiple of the block.

Per-exposure parameters come packed: ``pf_f`` (P, NF) float64 and ``pf_i`` (P, NI) int64,
columns named by the ``F_*`` and ``I_*`` constants below.
"""

from __future__ import annotations

import numpy as np
from . import CACHE  # noqa: E402
from numba import njit, prange

from .defaults import (_PHI_MARGIN, EQUITY, GUARANTEE, cond_pd, debt_outcome,
                       default_quarter, draw_lgd, phi_approx, sector_factors, twist_theta,
                       u_below_phi)
from .equity import cash_factors, equity_path
from .irr import irr_annual
from .rng import key_uniform, normal, path_key, uniform

# float columns of pf_f
F_LGD, F_ALPHA, F_BETA, F_COV, F_BASE_CASH, F_CF_VOL, F_SPREAD_Q, F_PD_OP, F_COMMIT = range(9)
NF = 9
# int columns of pf_i
I_GROUP, I_KIND, I_INST, I_APPROVAL, I_OP_START, I_OP_END, I_SECTOR, I_EQ, I_FLOAT = range(9)
NI = 9
# per-project accumulator columns
A_DEFAULT, A_CREDIT, A_JAPAN, A_US, A_RECOUP = range(5)
NA = 5


@njit(parallel=True, cache=CACHE)
def run_chunk(path0, n_paths, block,
              factor_key, cash_key, root, root_end, mu, phi, b_sec, needed,
              grp_sector, grp_w, grp_s, grp_thr, grp_nrel,
              pf_f, pf_i, key_idio, key_lgd, key_cash,
              balance, pv_before, terminal, cash_start, cash_end, draws,
              df_start, df_end, base_q, shares, extra_q, n_hurdles, spy,
              twist_x, proj_cls, cls_group, cls_c, cls_n, mix_key, mix_plain, cont, cont_len,
              out_credit, out_econ, out_weight, out_eq,
              acc, recoup_hist, deemed_acc, timeline, tl_stride, irr_out, irr_stride,
              surv_cash, rate_model, rate_key, r_a, r_sd, r_theta, r_rho, macro_w, tail_base_q,
              surv_npv, surv_econ):
    """Simulate paths ``path0 .. path0 + n_paths - 1``.

    Shapes: K sectors, G groups, P projects, E equity projects, Q quarters, I institutions.

    root (K, K) factor square root; mu (K,) mean shift of the factor normals; phi, b_sec
    cash-index persistence and sector loading; needed (K,) sectors with equity.
    grp_thr (G, Q) thresholds by relative quarter; grp_nrel (G,) quarters at risk.
    balance, cash_start, cash_end, draws (P, Q); pv_before (P, Q + 1); terminal (P,).
    base_q (Q,) base rate per step; shares (T,) Japan's share per tier; extra_q (T-1,).
    Rates: with ``rate_model == 1`` the base rate per step follows an exact Vasicek
    discretisation, ``r[k+1] = theta + (r[k] - theta) r_a + r_sd eps[k]``, ``r[0]`` the base
    rate, ``eps[k] = r_rho macro[k] + sqrt(1 - r_rho^2) xi[k]`` (macro: the common sector
    cash innovation); it drives the deemed interest and floating loans' coupons
    (``balance * (r[k] - base) / m`` on top of the scheduled coupon). ``tail_base_q`` is
    the per-step base rate used after the horizon.

    Survivors: a loan or guarantee whose value does not depend on the path unless it
    defaults (``surv_npv[p]``, NaN for equity and, with a stochastic rate, floating loans)
    is pre-summed per institution into ``surv_econ`` (minus the sum); a path only corrects
    it for the exposures that default, so a surviving loan costs one hash and one compare.

    Importance sampling: ``mu`` shifts the factor normals; with ``twist_x > 0`` default
    probabilities are twisted conditionally on the factors (Glasserman and Li 2005) toward
    the twisting loss ``twist_x``, exposures grouped in classes (proj_cls -> cls_group,
    cls_c loss per default, cls_n members). The path's likelihood ratio is ``out_weight``.
    Written: out_credit, out_econ (n, I); out_weight (n,); out_eq (n, 3) equity Japan
    receipts, US receipts, deemed balance at the horizon; acc (B, P, NA);
    recoup_hist (B, E, Q); deemed_acc (B, Q) weighted deemed balance at quarter ends,
    summed over the timeline's sampled paths;
    timeline (n_tl, Q, I) net cash per quarter of the sampled paths: every path with
    ``path % tl_stride == 0`` writes row ``path // tl_stride`` (if it exists), so the
    sample spreads over chunks and threads; surv_cash (Q, I) the debt's net cash if
    nothing defaults (defaulters are corrected path by path);
    irr_out (n_irr, E) Japan's annual IRR per equity exposure, sampled the same way.
    """
    n_blocks = (n_paths + block - 1) // block
    n_groups = grp_w.shape[0]
    n_proj = pf_i.shape[0]
    n_sec = root.shape[0]
    n_q = df_end.shape[0]
    n_inst = out_credit.shape[1]
    n_eq = recoup_hist.shape[1]
    n_tl = timeline.shape[0]
    n_irr = irr_out.shape[0]
    nb = n_hurdles if n_hurdles > 0 else 1
    for b in prange(n_blocks):
        z = np.empty(n_sec)
        s_fac = np.empty(n_sec)
        y = np.zeros((n_sec, n_q))
        gx = np.empty(n_groups)
        gws = np.empty(n_groups)
        bal = np.empty(nb)
        jc = np.zeros(n_q)
        jr = np.zeros(n_q)
        rpath = np.empty(n_q)  # base rate per step on this path
        macro = np.zeros(n_q)
        n_cls = cls_c.shape[0]
        cls_p = np.zeros(n_cls)
        cls_e = np.ones(n_cls)
        mu2 = 0.0
        for j in range(n_sec):
            mu2 += mu[j] * mu[j]
        shifted = mu2 > 0.0
        is_on = shifted or twist_x > 0.0
        zero_mu = np.zeros(n_sec)
        # per-path, per-project results, accumulated once the path's weight is known
        pc_credit = np.zeros(n_proj)
        pc_jt = np.zeros(n_proj)
        pc_ut = np.zeros(n_proj)
        pc_rq = np.zeros(n_proj, dtype=np.int64)
        def_idx = np.zeros(n_proj, dtype=np.int64)  # exposures that defaulted on this path
        eq_idx = np.zeros(n_proj, dtype=np.int64)  # equity exposures (in loop order)
        inv_s = np.empty(n_groups)
        for g in range(n_groups):
            inv_s[g] = 1.0 / grp_s[g] if grp_s[g] > 0.0 else 0.0
        dq_tot = np.zeros(n_q)
        for r in range(b * block, min((b + 1) * block, n_paths)):
            path = path0 + r
            # defensive mixture (Hesterberg 1995): a share mix_plain of paths is drawn from
            # the model itself, the rest from the tilted measure (factor shift mu, then the
            # conditional twist). The ratio f / (a f + (1 - a) g) is at most 1 / a.
            tilted = is_on and uniform(path_key(mix_key, path), 0) >= mix_plain
            sector_factors(factor_key, path, root, root_end, mu if tilted else zero_mu, z, s_fac)
            log_ratio = 0.0  # log(g / f) of the tilted measure at this path
            weight = 1.0
            if shifted:
                dot = 0.0
                for j in range(n_sec):
                    dot += mu[j] * z[j]
                log_ratio = dot - 0.5 * mu2
            if n_eq > 0 or rate_model == 1:
                cash_factors(cash_key, path, root, root_end, s_fac, phi, needed, n_q, z, y,
                             macro_w, macro)
            if rate_model == 1:
                rpk = path_key(rate_key, path)
                r_now = base_q[0] * spy
                c_r = np.sqrt(1.0 - r_rho * r_rho)
                for q in range(n_q):
                    rpath[q] = r_now / spy
                    eps = r_rho * macro[q] + c_r * normal(rpk, q)
                    r_now = r_theta + (r_now - r_theta) * r_a + r_sd * eps
            else:
                for q in range(n_q):
                    rpath[q] = base_q[q]
            x_max = -np.inf
            for g in range(n_groups):
                ws = grp_w[g] * s_fac[grp_sector[g]]
                gws[g] = ws
                thr_h = grp_thr[g, grp_nrel[g] - 1]
                if grp_s[g] > 0.0:
                    gx[g] = (thr_h - ws) * inv_s[g]
                else:
                    gx[g] = np.inf if ws <= thr_h else -np.inf
                if gx[g] > x_max:
                    x_max = gx[g]
            # no exposure defaults on this path unless its uniform is below the largest
            # conditional PD: one table lookup per path screens out most exposures
            u_screen = phi_approx(x_max) + _PHI_MARGIN
            theta = 0.0
            psi = 0.0
            tw_loss = 0.0
            n_def = 0
            n_eqp = 0
            if twist_x > 0.0:
                for c in range(n_cls):
                    g = cls_group[c]
                    cls_p[c] = cond_pd(grp_thr[g, grp_nrel[g] - 1], gws[g], grp_s[g])
                theta, psi = twist_theta(twist_x, cls_p, cls_c, cls_n)
                for c in range(n_cls):
                    cls_e[c] = np.exp(theta * cls_c[c])
            credit0 = 0.0
            credit1 = 0.0
            econ0 = surv_econ[0]
            econ1 = surv_econ[1]
            for e in range(3):
                out_eq[r, e] = 0.0
            tl_row = path // tl_stride if path % tl_stride == 0 else n_tl
            in_tl = tl_row < n_tl
            irr_row = path // irr_stride if path % irr_stride == 0 else n_irr
            record = in_tl or irr_row < n_irr
            if in_tl:
                for q in range(n_q):
                    dq_tot[q] = 0.0
            if in_tl:
                for q in range(n_q):
                    for i in range(n_inst):
                        timeline[tl_row, q, i] = surv_cash[q, i]
            for p in range(n_proj):
                g = pf_i[p, I_GROUP]
                u = key_uniform(path_key(key_idio[p], path))
                k = -1
                # exactly u <= Phi(gx[g]); the table decides unless u is within the margin
                if tilted and theta > 0.0:
                    # twisted default probability q; given default, u * p / q is uniform
                    # on [0, p] and picks the quarter from the untwisted curve
                    c = proj_cls[p]
                    pp = cls_p[c]
                    qq = pp * cls_e[c] / (1.0 + pp * (cls_e[c] - 1.0))
                    if u <= qq and pp > 0.0:
                        j = default_quarter(u * pp / qq, grp_thr[g], grp_nrel[g], gws[g], grp_s[g])
                        if j < 0:
                            j = grp_nrel[g] - 1  # rounding at the edge
                        k = pf_i[p, I_APPROVAL] + j
                        tw_loss += cls_c[c]
                elif u <= u_screen and u_below_phi(u, gx[g]):
                    j = default_quarter(u, grp_thr[g], grp_nrel[g], gws[g], grp_s[g])
                    k = pf_i[p, I_APPROVAL] + j
                    if theta > 0.0:
                        tw_loss += cls_c[proj_cls[p]]
                sv = surv_npv[p]
                if k < 0 and sv == sv:
                    continue  # a survivor whose value is already in surv_econ
                lgd = pf_f[p, F_LGD]
                if k >= 0:
                    lgd = draw_lgd(key_lgd[p], path, lgd, pf_f[p, F_ALPHA], pf_f[p, F_BETA])
                inst = pf_i[p, I_INST]
                kind = pf_i[p, I_KIND]
                if kind == EQUITY:
                    eq = pf_i[p, I_EQ]
                    eq_idx[n_eqp] = p
                    n_eqp += 1
                    credit, npv, jt, ut, rq, dh, tv = equity_path(
                        k, lgd, pf_f[p, F_COMMIT], pf_f[p, F_BASE_CASH], pf_f[p, F_CF_VOL],
                        b_sec, y[pf_i[p, I_SECTOR]], key_cash[p], path,
                        pf_i[p, I_APPROVAL], pf_i[p, I_OP_START], pf_i[p, I_OP_END],
                        pf_f[p, F_SPREAD_Q], pf_f[p, F_PD_OP], draws[p], rpath, tail_base_q,
                        df_start, df_end, shares, extra_q, n_hurdles, bal, spy, record, jc, jr,
                        in_tl, dq_tot, n_q,
                        cont[eq, :, :cont_len[eq]])
                    out_eq[r, 0] += jt
                    out_eq[r, 1] += ut
                    out_eq[r, 2] += dh
                    pc_jt[p] = jt
                    pc_ut[p] = ut
                    pc_rq[p] = rq
                    if in_tl:
                        for q in range(n_q):
                            timeline[tl_row, q, inst] += jr[q] - jc[q]
                    if irr_row < n_irr:
                        irr_out[irr_row, eq] = irr_annual(jc, jr, tv, spy, n_q)
                else:
                    credit, npv = debt_outcome(kind, k, lgd, pf_f[p, F_COV], balance,
                                               pv_before, p, terminal[p], df_end, n_q)
                    if rate_model == 1 and pf_i[p, I_FLOAT] == 1:
                        # the floating coupon's deviation from the scheduled base rate, paid
                        # at each quarter's end while the loan is performing
                        end_q = n_q if k < 0 else k
                        for q in range(pf_i[p, I_APPROVAL], end_q):
                            extra_cash = balance[p, q] * (rpath[q] - base_q[q])
                            npv += extra_cash * df_end[q]
                            if in_tl:
                                timeline[tl_row, q, inst] += extra_cash
                    if in_tl and k >= 0:
                        # from the default quarter on, replace the survivor's cash (already
                        # in the row) by what actually happens: the draw, then the recovery
                        # (loan) or the claim (guarantee) at the quarter's end
                        for q in range(k, n_q):
                            timeline[tl_row, q, inst] -= cash_start[p, q] + cash_end[p, q]
                        if kind == GUARANTEE:
                            timeline[tl_row, k, inst] += cash_start[p, k] - credit
                        else:
                            timeline[tl_row, k, inst] += cash_start[p, k] + (1.0 - lgd) * balance[p, k]
                if sv == sv:
                    npv -= sv  # correct the pre-summed survivor value
                # two institutions: accumulate in registers, not through memory
                if inst == 0:
                    credit0 += credit
                    econ0 -= npv
                else:
                    credit1 += credit
                    econ1 -= npv
                if k >= 0:
                    def_idx[n_def] = p
                    n_def += 1
                    pc_credit[p] = credit
            if is_on:
                log_ratio += theta * tw_loss - psi  # twist: dQ/dP = exp(theta L_c - psi)
                weight = 1.0 / (mix_plain + (1.0 - mix_plain) * np.exp(log_ratio))
            out_weight[r] = weight
            out_credit[r, 0] = credit0
            out_econ[r, 0] = econ0
            out_credit[r, 1] = credit1
            out_econ[r, 1] = econ1
            for t in range(n_def):
                p = def_idx[t]
                acc[b, p, A_DEFAULT] += weight
                acc[b, p, A_CREDIT] += weight * pc_credit[p]
            for t in range(n_eqp):
                p = eq_idx[t]
                eq = pf_i[p, I_EQ]
                acc[b, p, A_JAPAN] += weight * pc_jt[p]
                acc[b, p, A_US] += weight * pc_ut[p]
                if pc_rq[p] >= 0:
                    acc[b, p, A_RECOUP] += weight
                    recoup_hist[b, eq, pc_rq[p]] += weight
            if n_eq > 0 and in_tl:
                for q in range(n_q):
                    deemed_acc[b, q] += weight * dq_tot[q]

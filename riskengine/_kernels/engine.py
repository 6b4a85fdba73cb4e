"""The chunk driver and the per-path stages in order.

A chunk is a global range of paths ``[first_path, first_path + n_paths)``; ``first_path``
is a multiple of ``block``. :func:`run_chunk` runs blocks of paths in parallel; each path
is simulated whole by :func:`simulate_block`, which reads the bundles and calls the
stages, each a function in the module named after its concept:

1. :mod:`.path_draws`: the regime, :mod:`.elections`: its history at the elections and
   the deal's end, :mod:`.path_draws`: importance sampling's measure, the sector factors,
   the cash index and the base rate, the default screen (by the regime history);
   :mod:`.twist`: the conditional twist;
2. :mod:`.accumulation`: the path's rows of the sampled outputs and its sums reset;
3. :mod:`.program`: which conditional units are selected, when, which Japan declines (their
   selection normals, which adverse selection's credit loads on);
4. :mod:`.yen`: USD/JPY on the path; :mod:`.twist`: the obligors' twist;
5. :mod:`.default_times`: the rows the path visits and their default steps (a funded
   row's commitment, a declined row's tariff and the path's selected and declined
   commitments by step are added here, then the path's tariff by its form: per declined
   row or the trigger's, by :mod:`.program`'s rules);
6. :mod:`.valuation`: their outcomes, by instrument (:mod:`.debt` with the instrument
   rules of :mod:`.instruments`, :mod:`.equity`), with the loss given default of
   :mod:`.lgd`;
7. :mod:`.accumulation` and :mod:`.yen`: the path's weight, outputs and the block's sums;
   :mod:`.backstop`: its capital calls on the state by fiscal year (with ``[capital]``).

What every path of a block does the same way is decided once (:func:`plan_block`). Each
block writes only its own rows of the per-path outputs and its own slices of the
accumulators, which the caller sums over blocks in a fixed order, so results are
bit-identical for any thread count and any chunk size that is a multiple of the block.
The stage functions are inlined into :func:`simulate_block` (``inline="always"``), which
is compiled without reference counts; the kernels below them (``twist_for_path``,
``twist_obligors``, ``fx_for_path``, ``equity_path``, those of :mod:`.defaults` and
:mod:`.rates`) are called, as before.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._cache import CACHE
from .accumulation import accumulate, dated_context, path_weight, start_path, write_outputs
from .backstop import capital_calls
from .bundles import (
    BlockPlan,
    BlockSpan,
    EquityScratch,
    KernelInputs,
    PathScratch,
)
from .default_times import find_defaults
from .elections import deal_end_step, draw_elections, write_history
from .path_draws import default_screen, draw_cash_and_rate, draw_factors, draw_regime
from .program import select_units_dated
from .twist import twist_for_path, twist_obligors
from .valuation import touch_schedules, value_rows
from .yen import start_yen, write_yen


@njit(cache=CACHE, parallel=True)
def run_chunk(first_path, n_paths, block, copula, exposures, schedules, cash, waterfall,
              sampler, program, out, acc, sampled, path_ids):
    """Simulate paths ``first_path .. first_path + n_paths - 1``.

    Parameters
    ----------
    first_path, n_paths, block : int
        The chunk's first global path, its number of paths, and paths per block
        (``first_path % block == 0``).
    copula, exposures, schedules, cash, waterfall, sampler, program
        Input bundles (:mod:`.bundles`), built by :mod:`riskengine.kernel_inputs`.
    out : PathOutputs
        Rows ``0 .. n_paths - 1`` are this chunk's paths.
    acc : Accumulators
        Leading axis: this chunk's blocks.
    sampled : SampledPaths
        Global rows: path ``i`` with ``i % stride == 0`` writes row ``i // stride``.
    path_ids : (n_paths,) int64 or (0,)
        A replay: row ``r`` simulates global path ``path_ids[r]`` (``first_path`` 0, no
        sampled paths), e.g. the tail paths whose losses per exposure the risk
        contributions need (``out.exposure_credit``). Empty: the paths
        ``first_path + r``.
    """
    n_blocks = (n_paths + block - 1) // block
    span = BlockSpan(first_path, n_paths, block, path_ids)
    for b in prange(n_blocks):
        # outputs are written only inside simulate_block, never through a bundle attribute
        # in this parallel body (numba drops such writes); the block's work arrays are
        # allocated here, so simulate_block allocates nothing and runs without reference
        # counts
        scratch = new_scratch(copula, exposures, schedules, waterfall, sampler, program, out)
        # (np.int64: the parallel loop's index is typed int64 when run_chunk is typed and
        # uint64 in the loop body numba builds from it, which compiled simulate_block, the
        # bulk of the compile, twice)
        simulate_block(span, np.int64(b), copula, exposures, schedules, cash, waterfall,
                       sampler, program, out, acc, sampled, scratch)


@njit(cache=CACHE)
def new_scratch(copula, exposures, schedules, waterfall, sampler, program, out):
    """Work arrays for one block of paths (:class:`~.bundles.PathScratch`): every array
    :func:`simulate_block` uses, which allocates none itself."""
    n_sec = copula.root.shape[0]
    n_groups = copula.group_loading.shape[0]
    n_units = program.unit_selection.shape[0]
    n_q = schedules.df_end.shape[0]
    n_proj = exposures.group.shape[0]
    n_cls = sampler.class_loss.shape[0]
    n_obligors = sampler.obligor.max() + 1 if n_proj else 0
    n_inst = out.credit_loss.shape[1]
    equity = EquityScratch(balances=np.empty(max(waterfall.n_hurdles, 1)),
                           japan_contributions=np.zeros(n_q), japan_receipts=np.zeros(n_q),
                           deemed_by_step=np.zeros(n_q), operating_cash=np.zeros(n_q))
    return PathScratch(
        factor_normals=np.empty(n_sec), sector_factor=np.empty(n_sec),
        cash_index=np.zeros((n_sec, n_q)), cash_normals=np.empty(n_q * n_sec),
        macro=np.zeros(n_q), rate_path=np.empty(n_q),
        group_x=np.empty(n_groups), group_shift=np.empty(n_groups),
        class_pd=np.zeros(n_cls), class_tilt=np.ones(n_cls), zero_shift=np.zeros(n_sec),
        factor_path=np.zeros((n_sec, copula.year_threshold.shape[2])),
        group_year_pd=np.zeros((n_groups, copula.year_threshold.shape[2])),
        equity=equity,
        credit_by_exposure=np.zeros(n_proj), japan_by_exposure=np.zeros(n_proj),
        us_by_exposure=np.zeros(n_proj),
        recoup_by_exposure=np.zeros(n_proj, dtype=np.int64),
        defaulted=np.zeros(n_proj, dtype=np.int64),
        equity_seen=np.zeros(n_proj, dtype=np.int64),
        credit_by_institution=np.zeros(n_inst), economic_by_institution=np.zeros(n_inst),
        annual=np.zeros((schedules.fiscal_year[n_q - 1] + 1, 3)),
        loss_jpy=np.zeros((n_inst, schedules.fiscal_year[n_q - 1] + 1)),
        unit_state=np.zeros(n_units, dtype=np.int64), unit_time=np.zeros(n_units),
        unit_selection_z=np.zeros(n_units),
        pv_by_step=np.zeros((n_inst, n_q)), fx_gap=np.zeros(n_q + 1), fx_path=np.zeros(n_q),
        must_visit=np.zeros(n_proj, dtype=np.bool_), exposure_u=np.zeros(n_proj),
        group_stamp=np.full(n_groups, -1, dtype=np.int64),
        cell_screen=np.zeros(copula.cell_sector.shape[0] + 1),
        exposure_cell=np.zeros(n_proj, dtype=np.int64),
        candidates=np.zeros(n_proj, dtype=np.int64),
        visit_row=np.zeros(n_proj, dtype=np.int64), visit_step=np.zeros(n_proj, dtype=np.int64),
        obligor_pd=np.zeros(n_obligors), obligor_loss=np.zeros(n_obligors),
        obligor_u=np.zeros(n_obligors),
        deployed=np.zeros(n_inst), selected_by_step=np.zeros(n_q),
        declined_by_step=np.zeros(n_q), mu2_by_regime=np.zeros(sampler.mean_shift.shape[0]),
        history=np.zeros(program.election_step.shape[0] + 1, dtype=np.int64),
        yield_by_step=np.ones(n_q), touch=np.zeros(1))


@njit(inline="always")
def plan_block(span, m, out, scratch):
    """What every path of the block does the same way (:class:`~.bundles.BlockPlan`), and
    the block's fixed work arrays: the rows visited on every path, the screening cells."""
    copula, exposures, sampler, program = m.copula, m.exposures, m.sampler, m.program
    must_visit, candidates = scratch.must_visit, scratch.candidates
    n_exposures = must_visit.shape[0]
    n_skippable = 0
    for p in range(n_exposures):
        sv = exposures.survivor_value[p]
        must_visit[p] = program.unit_of[p] >= 0 or sv != sv
        candidates[p] = p
        if not must_visit[p]:
            n_skippable += 1
    # importance sampling's obligor twist redraws the default uniforms of every group
    twisting_obligors = sampler.obligor_theta > 0.0
    # screen exposures out before visiting them only where most can be (a book of loans
    # valued in closed form); elsewhere the screen costs more than it saves
    prefilter = 2 * n_skippable >= n_exposures and not twisting_obligors
    # groups computed only when needed ("lazy"): where exposures are screened out, with a
    # Gaussian copula, static factors, no twist and no group with loading 1; elsewhere
    # (the shipped program) together (lazy groups measured no faster there)
    lazy = (prefilter and not copula.yearly and copula.t_dof == 0.0
            and sampler.twist_target == 0.0)
    for g in range(copula.group_loading.shape[0]):
        scratch.group_stamp[g] = -1
        if not copula.group_idio_sd[g] > 0.0:
            lazy = False
    if lazy:  # each exposure's cell; the rows visited on every path have a cell of their
        # own (n_cells), whose screen every uniform passes
        n_cells = copula.cell_sector.shape[0]
        for p in range(n_exposures):
            scratch.exposure_cell[p] = (n_cells if must_visit[p]
                                        else copula.group_cell[exposures.group[p]])
        scratch.cell_screen[n_cells] = 2.0
    shift_on = False
    for j in range(program.factor_shift.shape[0]):
        if program.factor_shift[j] != 0.0:
            shift_on = True
    mu, mu2_by_regime = sampler.mean_shift, scratch.mu2_by_regime
    shifted, regime_tilted = False, False
    for rr in range(mu.shape[0]):
        mu2_by_regime[rr] = 0.0
        for j in range(mu.shape[1]):
            mu2_by_regime[rr] += mu[rr, j] * mu[rr, j]
        if mu2_by_regime[rr] > 0.0:
            shifted = True
        if sampler.regime_ratio[rr] != 1.0:
            regime_tilted = True
    is_on = shifted or sampler.twist_target > 0.0 or regime_tilted or twisting_obligors
    replay = span.path_ids.shape[0] > 0
    by_exposure = out.exposure_credit.shape[0] > 0
    # a replay for the risk contributions reads credit losses alone (each exposure's and
    # the path's, checked against the main pass): it values only the rows that default
    # and skips the yen figures (its other outputs are unread)
    credit_only = replay and by_exposure
    track_pv = program.fx_on and program.fx_vol > 0.0 and not credit_only
    backstop = out.capital_call.shape[0] > 0 and not credit_only
    return BlockPlan(prefilter, lazy, twisting_obligors, shift_on, shifted, is_on, replay,
                     by_exposure, credit_only, track_pv, m.waterfall.continuation.shape[0],
                     backstop)


# _nrt=False: compiled without reference counting (numba's runtime), which this function
# and its inlined stages need for no array: their arrays are the caller's (inputs, outputs
# and ``scratch``), alive for the whole call. Every view they take (a regime's thresholds,
# a row of the schedules) and every array they pass on would otherwise take and drop a
# count, an atomic operation, per path and exposure. An allocation here fails to compile
# ("NRT required but not enabled"): allocate it in new_scratch.
@njit(cache=CACHE, _nrt=False)
def simulate_block(span, block_index, copula, exposures, schedules, cash, waterfall, sampler,
                   program, out, acc, sampled, scratch):
    """One block of the chunk ``span`` (:class:`~.bundles.BlockSpan`), each path through
    the stages of the module docstring. Writes the block's rows of ``out``, block
    ``block_index`` of ``acc`` and the rows of ``sampled`` of its sampled paths.
    ``scratch``: the block's work arrays (:func:`new_scratch`)."""
    m = KernelInputs(copula, exposures, schedules, cash, waterfall, sampler, program)
    plan = plan_block(span, m, out, scratch)
    b = block_index
    for row in range(b * span.block, min((b + 1) * span.block, span.n_paths)):
        path = span.path_ids[row] if plan.replay else span.first_path + row
        # 1. the path's draws before any exposure
        r, regime_weight = draw_regime(path, program, sampler)
        # the regime history (h: the default tables' index, r without elections)
        h, final, deal_end = draw_elections(path, r, program, scratch)
        tilted, log_ratio = draw_factors(path, r, plan, m, scratch)
        draw_cash_and_rate(path, plan, m, scratch)
        scale, u_screen = default_screen(path, h, plan, m, scratch)
        theta, psi = 0.0, 0.0
        if sampler.twist_target > 0.0:
            theta, psi = twist_for_path(copula.group_threshold[h], copula, sampler, scale,
                                        scratch.group_shift, scratch.class_pd,
                                        scratch.class_tilt)
        # 2.-4. where the path records, the program's draws, USD/JPY, the obligor twist
        ctx = dated_context(path, r, h, final, deal_end_step(deal_end, program), tilted,
                            scale, u_screen, theta, sampled)
        start_path(ctx, m, sampled, scratch)
        select_units_dated(path, r, deal_end, program, scratch)
        start_yen(path, plan, m, scratch)
        if plan.twisting_obligors:
            log_ratio += twist_obligors(path, tilted, sampler.obligor_theta, exposures,
                                        sampler, program, scratch)
        # 5.-6. the rows' default steps, then their outcomes
        n_visit, twisted_loss, tariff, tariff_gap = find_defaults(ctx, plan, m, scratch)
        touch_schedules(n_visit, plan, m, scratch)
        n_def, n_eqp, sums = value_rows(n_visit, ctx, plan, m, sampled, scratch)
        # 7. the path's weight, outputs and the block's sums
        weight = path_weight(log_ratio, twisted_loss, theta, psi, regime_weight, plan, sampler)
        write_outputs(row, r, weight, tariff, sums, n_def, plan, out, scratch)
        write_history(row, deal_end, out, scratch)
        write_yen(row, tariff, tariff_gap, plan, program, out, scratch)
        capital_calls(row, n_visit, plan, m, out, scratch)
        accumulate(b, weight, n_def, n_eqp, ctx, plan, m, acc, sampled, scratch)

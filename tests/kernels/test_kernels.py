"""The kernels one by one: compiled against pure-Python twins, the closed-form horizon value
against the quarter-by-quarter loop, every output of the chunk driver written, one set of
kernel types for every program, and the interface limits (bundles, not argument lists)."""

from __future__ import annotations

import ast
import math
import platform
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit
from scipy import special

import riskengine
from riskengine import _kernels
from riskengine._kernels import defaults, engine, exponential, irr, rng, waterfall
from riskengine._kernels.bundles import Accumulators, PathOutputs
from riskengine._kernels.rng import path_key
from riskengine.schedules import continuation_tables
from riskengine.simulate import BLOCK, NO_REPLAY, allocate

from ..conftest import make_config, make_portfolio, mixed_frame

PACKAGE = Path(riskengine.__file__).parent

finite = st.floats(0.0, 1e9, allow_nan=False, allow_infinity=False)
share = st.one_of(st.just(0.0), st.floats(1e-6, 1.0))


# ---- compiled kernels against their pure-Python twins ---------------------------------
@settings(max_examples=200, deadline=None)
@given(cash=st.floats(1e-3, 1e9), shares=st.lists(share, min_size=1, max_size=4),
       balances=st.lists(finite, min_size=3, max_size=3))
def test_waterfall_split_twin(cash, shares, balances):
    n_h = len(shares) - 1
    s = np.array(shares)
    b_jit = np.array(balances[: max(n_h, 1)])
    b_py = b_jit.copy()
    j_jit = waterfall.waterfall_split(cash, s, b_jit, n_h)
    j_py = waterfall.waterfall_split.py_func(cash, s, b_py, n_h)
    assert j_jit == j_py
    np.testing.assert_array_equal(b_jit, b_py)
    assert 0.0 <= j_jit <= cash * (1 + 1e-12)


@settings(max_examples=200, deadline=None)
@given(cash=st.floats(1e-3, 1e9), deemed=finite, s1=st.floats(0.01, 1.0), s2=share)
def test_one_hurdle_fast_path_is_the_general_rule(cash, deemed, s1, s2):
    """The MOU fast path equals the general tier loop (up to the rounding of 1/s1)."""
    fast, after = waterfall.split_one_hurdle(cash, deemed, s1, s2, 1.0 / s1)
    b = np.array([deemed])
    # the general loop (the fast path is bypassed by splitting with two identical hurdles
    # whose second never binds: shares [s1, s1, s2] with the second balance at zero)
    general = waterfall.waterfall_split.py_func(cash, np.array([s1, s1, s2]),
                                                np.array([deemed, 0.0]), 2)
    assert fast == pytest.approx(general, rel=1e-12, abs=1e-9)
    waterfall.waterfall_split(cash, np.array([s1, s2]), b, 1)
    assert b[0] == after


@settings(max_examples=100, deadline=None)
@given(x=st.floats(-12.0, 12.0))
def test_phi_table_within_its_bound_and_decision_exact(x):
    assert abs(defaults.phi_approx(x) - 0.5 * math.erfc(-x / math.sqrt(2.0))) <= 2e-6
    exact = defaults.phi_cdf(x)  # the decision is exact against the kernels' own Phi
    for u in (exact * (1 - 1e-9), exact, min(exact * (1 + 1e-9), 1.0)):
        if 0.0 < u < 1.0:
            assert defaults.u_below_phi(u, x) == (u <= exact)


@settings(max_examples=100, deadline=None)
@given(thr=st.floats(-6, 6), ws=st.floats(-6, 6), s=st.floats(0.0, 1.0))
def test_conditional_pd_matches_scipy(thr, ws, s):
    """The kernels' scalar conditional PD and importance sampling's vectorised one (SciPy)
    are the same function."""
    want = special.ndtr((thr - ws) / s) if s > 0 else float(ws <= thr)
    assert defaults.cond_pd(thr, ws, s) == pytest.approx(want, rel=1e-12, abs=1e-300)


@settings(max_examples=100, deadline=None)
@given(u=st.floats(1e-12, 1 - 1e-12), n_rel=st.integers(1, 40), ws=st.floats(-3, 3),
       w=st.floats(0.0, 0.95), pd=st.floats(1e-4, 0.5))
def test_default_quarter_twin(u, n_rel, ws, w, pd):
    thr = special.ndtri(1.0 - (1.0 - pd) ** (np.arange(1, n_rel + 1) / 4.0))
    s = math.sqrt(1 - w * w)
    got = defaults.default_quarter(u, thr, n_rel, ws, s, 1.0)
    assert got == defaults.default_quarter.py_func(u, thr, n_rel, ws, s, 1.0)
    # and it is the first step whose conditional PD reaches u
    cond = special.ndtr((thr - ws) / s)
    want = int(np.argmax(u <= cond)) if (u <= cond).any() else -1
    assert got == want or abs(cond[min(got, want)] - u) < 1e-12  # u on the curve: a tie


@settings(max_examples=200, deadline=None)
@given(u=st.floats(1e-12, 1 - 1e-12), n_rel=st.integers(1, 40), ws=st.floats(-3, 3),
       w=st.floats(0.0, 0.95), pd=st.floats(1e-4, 0.5), at_horizon=st.booleans())
def test_default_quarter_by_horizon_is_the_kernels_old_step(u, n_rel, ws, w, pd, at_horizon):
    """The kernel's search for a row known to default by the horizon gives the step it took
    before: ``default_quarter``, or the last step where that found none (rounding between
    the horizon test and the search). ``at_horizon`` puts ``u`` on the horizon's PD, where
    the two tests can disagree."""
    thr = special.ndtri(1.0 - (1.0 - pd) ** (np.arange(1, n_rel + 1) / 4.0))
    s = math.sqrt(1 - w * w)
    if at_horizon:
        u = min(max(float(special.ndtr((thr[-1] - ws) / s)), 1e-300), 1 - 1e-12)
    old = defaults.default_quarter(u, thr, n_rel, ws, s, 1.0)
    want = old if old >= 0 else n_rel - 1
    assert defaults.default_quarter_by_horizon(u, thr, n_rel, ws, s, 1.0) == want


def test_phi_inverse_approx_within_its_margin():
    """The default-step search's screen: Acklam's Phi^-1 errs by far less than the margin
    within which the search takes the exact test, over every uniform a path can draw."""
    rng = np.random.default_rng(3)
    u = np.concatenate([rng.random(20_000), 10.0 ** -rng.uniform(0, 16.2, 20_000),
                        1.0 - 10.0 ** -rng.uniform(0.5, 15.5, 5_000),
                        [2.0 ** -54, 0.02425, 1 - 0.02425, 0.5, 1 - 2.0 ** -53]])
    x = np.array([defaults.phi_inverse_approx(v) for v in u])
    err = np.abs(x - special.ndtri(u))
    assert err.max() < 1e-8
    assert err.max() < defaults._INVERSE_MARGIN / 100


def _glibc_runs_exp_fma() -> bool:
    """glibc (2.28 on) picks its FMA build of ``exp`` on a CPU with FMA and AVX2."""
    name, version = platform.libc_ver()
    if platform.system() != "Linux" or name != "glibc" or platform.machine() != "x86_64":
        return False
    if tuple(int(v) for v in version.split(".")[:2]) < (2, 28):
        return False
    flags = Path("/proc/cpuinfo").read_text().split()
    return "fma" in flags and "avx2" in flags


def _c_exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


@njit
def _exp_inlined(x, out):
    for i in range(x.shape[0]):
        out[i] = exponential.exp(x[i])


@pytest.mark.skipif(not _glibc_runs_exp_fma(), reason="the C library's exp is not glibc's FMA build")
def test_inlined_exp_is_the_c_librarys_bit_for_bit():
    """The kernels' inlined ``exp`` against Python's ``math.exp`` (the C library's call):
    every bit, over the range the kernels use, every table entry, the boundaries of the
    inlined range and the arguments it hands back to the library."""
    rng = np.random.default_rng(5)
    x = np.concatenate([
        rng.normal(0.0, 1.0, 400_000), rng.uniform(-40.0, 40.0, 400_000),
        rng.uniform(-745.2, 709.8, 100_000),
        np.exp(rng.uniform(-45.0, 6.3, 100_000)) * rng.choice([-1.0, 1.0], 100_000),
        np.arange(-1024, 1024) * math.log(2.0) / 128,  # every table index, both signs
        [0.0, -0.0, 2.0 ** -54, -(2.0 ** -54), 2.0 ** -55, 5e-324, 511.999, 512.0, -512.0,
         -708.4, -745.2, 709.78, 709.8, math.inf, -math.inf, math.nan]])
    out = np.empty_like(x)
    _exp_inlined(x, out)
    expected = np.array([_c_exp(v) for v in x])
    same = out.view(np.uint64) == expected.view(np.uint64)
    same |= np.isnan(out) & np.isnan(expected)
    assert same.all(), x[~same][:5]


@njit
def _branch_free_draws(pkey, n, x, normals, exps):
    for i in range(n):
        normals[i] = rng.normal_or_nan(pkey, i)
    for i in range(x.shape[0]):
        exps[i] = exponential.exp_or_nan(x[i])


def test_branch_free_fast_paths_agree_or_say_nan():
    """The vectorisable fast paths: a normal is the ziggurat's own value or NaN (its
    rejection branch, about 1.5% of draws with 256 layers), an exp is :func:`exponential.exp` or NaN (beyond
    the table's range); the kernels complete the NaNs with the full functions."""
    normals, x = np.empty(200_000), np.concatenate([np.linspace(-30, 30, 10_001),
                                                    [0.0, 1e-300, 600.0, -600.0, math.nan]])
    exps = np.empty_like(x)
    key = path_key(np.uint64(77), 5)
    _branch_free_draws(key, normals.shape[0], x, normals, exps)
    full = np.array([rng.normal(key, i) for i in range(normals.shape[0])])
    slow = np.isnan(normals)
    # (1 - mean(x[i+1] / x[i]) = 1.49%: the 256 layers' area outside their rectangles)
    assert 0.0135 < slow.mean() < 0.0165
    assert np.array_equal(normals[~slow], full[~slow])
    assert np.isfinite(full[slow]).all()
    expected = np.array([_c_exp(v) for v in x])
    beyond = np.isnan(exps)
    assert list(np.flatnonzero(beyond)) == [5000, *range(10_001, 10_006)]  # 5000: 0.0
    assert np.array_equal(exps[~beyond].view(np.uint64), expected[~beyond].view(np.uint64))


@settings(max_examples=300, deadline=None)
@given(n_rel=st.integers(1, 120), ws=st.floats(-4, 4), w=st.floats(0.0, 0.99),
       pd=st.floats(1e-5, 0.5), scale=st.sampled_from([1.0, 0.6, 1.7]),
       at=st.integers(0, 119), nudge=st.integers(-2, 2), free=st.floats(1e-15, 1 - 1e-12))
def test_default_quarter_by_horizon_is_the_exact_first_step(n_rel, ws, w, pd, scale, at, nudge,
                                                            free):
    """The search screened by Phi^-1(u) finds the first step whose exact test passes (the
    kernel's ``defaults_by``, erfc-based), also for ``u`` on a step's conditional PD or a
    few floating-point steps either side of it, where only the exact test can decide."""
    thr = special.ndtri(1.0 - (1.0 - pd) ** (np.arange(1, n_rel + 1) / 4.0))
    s = math.sqrt(1 - w * w)
    exact = [defaults.phi_cdf.py_func((scale * t - ws) / s) for t in thr]
    u = exact[min(at, n_rel - 1)]
    for _ in range(abs(nudge)):
        u = float(np.nextafter(u, 1.0 if nudge > 0 else 0.0))
    for v in (u, free):
        if not 0.0 < v < 1.0:
            continue
        passes = [v <= e for e in exact]
        want = passes.index(True) if any(passes) else n_rel - 1
        assert defaults.default_quarter_by_horizon(v, thr, n_rel, ws, s, scale) == want


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 1e3), min_size=4, max_size=30), st.floats(0.0, 2e3))
def test_irr_twin(receipts, tv):
    n = len(receipts)
    contrib = np.zeros(n)
    contrib[0] = 100.0
    r = np.array(receipts)
    got = irr.irr_annual(contrib, r, tv, 4, n)
    want = irr.irr_annual.py_func(contrib, r, tv, 4, n)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12) or (np.isnan(got) and np.isnan(want))


def test_twist_theta_twin_and_target():
    p = np.array([0.01, 0.05, 0.2])
    c = np.array([1.0, 2.0, 5.0])
    n = np.array([100.0, 50.0, 10.0])
    theta, psi = defaults.twist_theta(30.0, p, c, n)
    assert (theta, psi) == defaults.twist_theta.py_func(30.0, p, c, n)
    q = p * np.exp(theta * c) / (1 + p * (np.exp(theta * c) - 1))
    assert float(np.sum(n * c * q)) == pytest.approx(30.0, rel=1e-10)
    assert psi == pytest.approx(float(np.sum(n * np.log1p(p * (np.exp(theta * c) - 1)))))


# ---- the closed-form horizon value is the quarter-by-quarter loop -----------------------
@settings(max_examples=200, deadline=None)
@given(deemed=st.floats(0.0, 5e3), s1=st.floats(0.05, 1.0), s2=share,
       hurdle=st.booleans(), cash=st.floats(0.0, 200.0), pd=st.floats(0.0, 0.3),
       spread=st.floats(0.0, 0.05), base=st.floats(0.0, 0.08), extra=st.floats(0.0, 0.05),
       disc=st.floats(0.0, 0.1), n_after=st.integers(0, 60), start_after=st.integers(0, 70))
def test_horizon_value_closed_form_equals_loop(deemed, s1, s2, hurdle, cash, pd, spread,
                                               base, extra, disc, n_after, start_after):
    n_q, spy = 8, 4
    n_h = 1 if hurdle else 0
    shares = np.array([s1, s2]) if hurdle else np.array([s1])
    extra_step = np.array([extra / spy if hurdle else 0.0])
    step = 1.0 / (1.0 + disc / spy)
    op_end, op_start = n_q + n_after, n_q + start_after - 10
    table, lengths = continuation_tables(
        np.array([cash]), np.array([pd]), np.array([spread / spy]), np.array([op_start]),
        np.array([op_end]), n_q, spy, base / spy, extra_step[0], step)
    closed = waterfall.horizon_value_closed_form(deemed, shares, n_h, table[0, :, :lengths[0]])
    surv_q = (1.0 - pd) ** (1.0 / spy)
    loop = waterfall.horizon_value_loop(np.array([deemed]), shares, n_h, extra_step,
                                        spread / spy, base / spy, step, cash, surv_q,
                                        n_after, op_start - n_q)
    assert closed == pytest.approx(loop, rel=1e-9, abs=1e-9)


# ---- the chunk driver writes every output -----------------------------------------------
def _model():
    df = mixed_frame()
    df["pd_annual"] = 0.6  # every exposure defaults on some path
    eq = df.instrument == "equity"
    df.loc[eq, ["expected_yield", "cf_vol", "life_years"]] = [1.0, 0.2, 20.0]  # recoups
    df.loc[~eq, "rate_type"] = "floating"
    df.loc[df.instrument != "loan", "rate_type"] = "fixed"
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=2 * BLOCK, horizon_years=5.0,
                      discount_rate=0.04, base_rate=0.03, rates={"model": "vasicek"},
                      outputs={"timeline_paths": 64, "irr_paths": 64})
    return riskengine.build_model(cfg, make_portfolio(df, cfg))


def test_run_chunk_writes_every_output():
    """numba drops writes through a bundle attribute inside a prange body; this fails if any
    output array of the kernel is left as allocated."""
    model = _model()
    n = 2 * BLOCK
    out, acc, sampled = allocate(model, n, 64, 64)
    # outputs start as NaN (and the regime as -1): the kernel must overwrite every one
    out = PathOutputs(*(np.full_like(a, -1) if a.dtype.kind == "i" else np.full_like(a, np.nan)
                        for a in out))
    sampled = sampled._replace(timeline=np.full_like(sampled.timeline, np.nan),
                               annual=np.full_like(sampled.annual, np.nan))
    engine.run_chunk(0, n, BLOCK, *model.inputs, out, acc, sampled, NO_REPLAY)
    for name, a in zip(PathOutputs._fields, out):
        assert (np.isfinite(a) & (a >= 0) if a.dtype.kind == "i" else np.isfinite(a)).all(), name
    for name, a in zip(Accumulators._fields, acc):
        assert (a != 0).any(axis=tuple(range(1, a.ndim))).all(), name  # every block
    assert np.isfinite(sampled.timeline).all() and np.isfinite(sampled.annual).all()
    assert np.isfinite(sampled.irr).any(axis=0).all()


def test_one_set_of_kernel_types_for_every_program():
    """kernel_inputs gives every bundle fixed types, so one compiled (and cached) kernel
    serves every program: the default program, a debt-only one, importance sampling."""
    riskengine.simulate(paths=BLOCK, seed=1)
    riskengine.run_model(_model())
    cfg = make_config(paths=BLOCK, importance_sampling={"enabled": True, "pilot_paths": 1024})
    from ..conftest import homogeneous_frame

    riskengine.run_model(riskengine.build_model(cfg, make_portfolio(homogeneous_frame(), cfg)))
    assert len(engine.run_chunk.signatures) == 1


# ---- the interface: bundles, not long argument lists -------------------------------------
def _functions():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                a = node.args
                n = (len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + bool(a.vararg)
                     + bool(a.kwarg))
                yield path.relative_to(PACKAGE), node.name, n


def test_no_function_takes_more_than_15_parameters():
    over = [f"{p}:{name} ({n})" for p, name, n in _functions() if n > 15]
    assert not over, over
    run_chunk = [n for p, name, n in _functions() if name == "run_chunk"]
    assert run_chunk == [14]


def test_numba_is_imported_only_by_the_kernels():
    """``from numba ...`` and ``import numba`` alike, at module level or in a function."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if _kernels.__name__.split(".")[-1] in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "numba":
                pytest.fail(f"{path} imports from numba")
            if isinstance(node, ast.Import) and any(
                    a.name.split(".")[0] == "numba" for a in node.names):
                pytest.fail(f"{path} imports numba")


def test_path_key_is_the_reference_key():
    from .. import reference as ref

    for key, path in ((1, 0), (2**63 + 5, 17), (12345, 10**9)):
        assert int(path_key(np.uint64(key), path)) == ref.path_key(key, path)

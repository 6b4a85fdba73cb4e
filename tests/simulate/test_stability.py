"""Statistical stability of the shipped default program across seeds (slow).

Two independent seeds of 20,000 paths must agree, within 4.5 combined standard errors, on
every equity project's recoup probability and mean Japan / US receipts, on the program's
receipts and on JBIC's expected economic loss.

Per-project receipts are per path only in a run holding that project alone; an
exposure's draws depend only on (seed, stream, project id, path), so such a run reproduces
the project's paths of the full run exactly (checked here too), and gives its standard
error.
"""

from __future__ import annotations

import numpy as np
import pytest

import riskengine
from riskengine.config import default_portfolio_path, load_config
from riskengine.portfolio import load_portfolio, portfolio_from_frame

N_PATHS = 20_000
SEEDS = (20250904, 4242)
K_SE = 4.5


def _mean_se(x):
    x = np.asarray(x, dtype=float)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x)))


def _run_seed(seed):
    res = riskengine.simulate(paths=N_PATHS, seed=seed)
    assert res.weight is None, "plain Monte Carlo expected for the shipped program"
    cfg = load_config(None, {"simulation": {"paths": N_PATHS, "seed": seed},
                             "outputs": {"timeline_paths": 1, "irr_paths": 1}})
    sim = cfg.simulation
    pf = load_portfolio(default_portfolio_path(), cfg.dependence.sectors,
                        sim.n_quarters, sim.steps_per_year)
    table = pf.table
    per_project = {}
    for pid in table.loc[table["instrument"] == "equity", "project_id"]:
        one = portfolio_from_frame(table[table["project_id"] == pid], cfg.dependence.sectors,
                                   sim.n_quarters, sim.steps_per_year)
        r = riskengine.simulate(cfg, one)
        per_project[pid] = {v: r.paths[v].sel(institution="JBIC").to_numpy()
                            for v in ("japan_receipts", "us_receipts")}
    return res, per_project


@pytest.fixture(scope="module")
def two_seeds():
    return [_run_seed(s) for s in SEEDS]


def _agree(a, se_a, b, se_b, what):
    se = np.hypot(se_a, se_b)
    assert abs(a - b) <= K_SE * se + 1e-12 * max(abs(a), abs(b), 1.0), (
        f"{what}: {a!r} vs {b!r}, |diff| = {abs(a - b):.4g} > {K_SE} x {se:.4g}")


@pytest.mark.slow
def test_equity_projects_agree_across_seeds(two_seeds):
    (r1, pp1), (r2, pp2) = two_seeds
    eq = r1.projects["instrument"].to_numpy() == "equity"
    ids = r1.projects["project"].to_numpy()[eq]
    assert len(ids) >= 10 and list(ids) == list(r2.projects["project"].to_numpy()[eq])
    recouping = 0
    for pid in ids:
        p1 = float(r1.projects["p_recoup"].sel(project=pid))
        p2 = float(r2.projects["p_recoup"].sel(project=pid))
        # two-proportion test: binomial standard error of the pooled proportion
        pool = 0.5 * (p1 + p2)
        se = np.sqrt(pool * (1.0 - pool) / N_PATHS)
        _agree(p1, se, p2, se, f"{pid} p_recoup")
        recouping += pool > 0.01
        for var in ("japan_receipts", "us_receipts"):
            m1, s1 = _mean_se(pp1[pid][var])
            m2, s2 = _mean_se(pp2[pid][var])
            # the single-project run reproduces the full run's figures
            for res, m in ((r1, m1), (r2, m2)):
                got = float(res.projects[f"{var}_mean"].sel(project=pid))
                assert got == pytest.approx(m, rel=1e-9)
            assert s1 > 0 and s2 > 0
            _agree(m1, s1, m2, s2, f"{pid} {var}_mean")
    assert recouping >= 3  # the comparison is not vacuous


@pytest.mark.slow
def test_program_receipts_and_jbic_economic_loss_agree_across_seeds(two_seeds):
    (r1, _), (r2, _) = two_seeds
    for var in ("japan_receipts", "us_receipts"):
        m1, s1 = _mean_se(r1.paths[var].sel(institution="JBIC"))
        m2, s2 = _mean_se(r2.paths[var].sel(institution="JBIC"))
        _agree(m1, s1, m2, s2, f"program {var}")
    vals, ses = [], []
    for r in (r1, r2):
        v, se = r.estimate("EL", "economic_loss", "JBIC")
        vals.append(v)
        ses.append(se)
        loss = r.loss("economic_loss", "JBIC")
        assert vals[-1] == pytest.approx(loss.mean(), rel=1e-12)
        assert ses[-1] == pytest.approx(loss.std(ddof=1) / np.sqrt(len(loss)), rel=1e-9)
    _agree(vals[0], ses[0], vals[1], ses[1], "JBIC EL of economic_loss")

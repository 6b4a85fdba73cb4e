"""One obligor, one fate: rows of one obligor share the latent variable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskengine
from riskengine.errors import DataError

from ..conftest import make_config, make_portfolio


def _pair(obligors, pd_annual=(0.2, 0.2), sectors=("s", "s"), w=(0.3, 0.3)):
    return pd.DataFrame({
        "project_id": ["X-LOAN", "X-GTE"], "sector": list(sectors),
        "institution": ["JBIC", "NEXI"], "instrument": ["loan", "guarantee"],
        "commitment_usd": 100.0, "pd_annual": list(pd_annual), "lgd": 0.5,
        "factor_loading": list(w), "tenor_years": 4.0, "coverage": 0.8,
        "obligor": list(obligors)})


def _run(df, **kw):
    cfg = make_config(paths=20_000, horizon_years=5.0, **kw)
    return riskengine.run_model(riskengine.build_model(cfg, make_portfolio(df, cfg)))


def test_rows_of_one_obligor_default_together_in_the_same_quarter():
    res = _run(_pair(["X", "X"]))
    loan = res.paths.credit_loss.sel(institution="JBIC").to_numpy()
    claim = res.paths.credit_loss.sel(institution="NEXI").to_numpy()
    assert ((loan > 0) == (claim > 0)).all() and (loan > 0).mean() > 0.3
    # same quarter: the claim is coverage x the loan's loss at the same (amortising) balance
    np.testing.assert_allclose(claim, 0.8 * loan, rtol=1e-12)
    pd_sim = res.projects.pd_simulated.to_numpy()
    assert pd_sim[0] == pd_sim[1]  # P(both) = P(one)


def test_different_curves_default_comonotone():
    res = _run(_pair(["X", "X"], pd_annual=(0.1, 0.3)))
    loan = res.paths.credit_loss.sel(institution="JBIC").to_numpy() > 0
    claim = res.paths.credit_loss.sel(institution="NEXI").to_numpy() > 0
    assert not (loan & ~claim).any()  # the safer row never defaults alone
    assert claim.mean() > loan.mean()


def test_separate_obligors_are_independent_given_the_factor():
    res = _run(_pair(["", ""], w=(0.0, 0.0)))
    loan = res.paths.credit_loss.sel(institution="JBIC").to_numpy() > 0
    claim = res.paths.credit_loss.sel(institution="NEXI").to_numpy() > 0
    p = 1 - 0.8**4  # a default after the 4-year tenor costs nothing
    assert abs((loan & claim).mean() - p * p) < 4 * np.sqrt(p * p / 20_000)


def test_explicit_single_row_obligors_change_nothing():
    a = _run(_pair(["X-LOAN", "X-GTE"]))
    b = _run(_pair(["", ""]).drop(columns="obligor"))
    for v in ("credit_loss", "economic_loss"):
        np.testing.assert_array_equal(a.paths[v].to_numpy(), b.paths[v].to_numpy())


@pytest.mark.parametrize("col,values", [("sector", ("s", "t")), ("factor_loading", (0.3, 0.4))])
def test_rows_of_one_obligor_must_share_sector_and_loading(col, values):
    df = _pair(["X", "X"])
    df[col] = list(values)
    cfg = make_config(("s", "t"), paths=1024, horizon_years=5.0)
    with pytest.raises(DataError) as e:
        make_portfolio(df, cfg)
    msg = str(e.value)
    assert f"column '{col}'" in msg and "row 1" in msg and "row 2" in msg and "'X'" in msg


def _pairs(n_obligors, pd_annual=0.03):
    """``n_obligors`` loan-and-guarantee pairs, each pair one obligor, in two sectors."""
    frames = []
    for i in range(n_obligors):
        df = _pair([f"O{i}", f"O{i}"], pd_annual=(pd_annual, 1.5 * pd_annual),
                   sectors=("s", "t")[i % 2:i % 2 + 1] * 2, w=(0.4, 0.4))
        df["project_id"] = [f"O{i}-LOAN", f"O{i}-GTE"]
        df["commitment_usd"] = 100.0 * (1 + i % 5)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def test_importance_sampling_with_shared_obligors_twists_obligors():
    """The twist by obligor (rows that share a default uniform), with the factor shift
    fitted to the pilot's tail: rows still default together, and the weighted EL, tail and
    default probabilities agree with plain Monte Carlo and the exact marginal PDs."""
    res = _run(_pair(["X", "X"]), importance_sampling={"enabled": True, "pilot_paths": 2048})
    info = res.meta["importance_sampling"]
    assert info["enabled"] and info["twist"] is False

    df = _pairs(30)
    cfg = make_config(("s", "t"), [[1, 0.5], [0.5, 1]], paths=40_000, horizon_years=5.0)
    pf = make_portfolio(df, cfg)
    plain = riskengine.simulate(cfg, pf)
    tilted = riskengine.simulate(cfg, pf, importance_sampling=True, seed=7)
    info = tilted.meta["importance_sampling"]
    assert info["twist"] is False and info["obligor_theta"] > 0
    assert np.linalg.norm(info["mean_shift"]) > 0
    for measure, level in (("EL", None), ("ES", 0.99), ("ES", 0.999)):
        a, se_a = plain.estimate(measure, "credit_loss", "ALL", level)
        b, se_b = tilted.estimate(measure, "credit_loss", "ALL", level)
        assert abs(a - b) <= 4 * np.hypot(se_a, se_b), (measure, level, a, b)
    # the tail is where the weight is small: the tilted run's ES is the more precise
    assert (tilted.estimate("ES", "credit_loss", "ALL", 0.999)[1]
            < plain.estimate("ES", "credit_loss", "ALL", 0.999)[1] / 2)
    exact = 1 - (1 - df["pd_annual"].to_numpy()) ** 5  # by the horizon, tenor or not
    sim = tilted.projects.pd_simulated.sel(project=df["project_id"].to_numpy()).to_numpy()
    assert abs(sim.mean() - exact.mean()) < 0.005, (sim.mean(), exact.mean())
    # one obligor, one fate: a pair's loan never defaults without its guarantee (the
    # guarantee's curve is the higher one), on tilted paths too
    loan = tilted.projects.pd_simulated.sel(project=[f"O{i}-LOAN" for i in range(30)])
    gte = tilted.projects.pd_simulated.sel(project=[f"O{i}-GTE" for i in range(30)])
    assert (loan.to_numpy() < gte.to_numpy()).all()

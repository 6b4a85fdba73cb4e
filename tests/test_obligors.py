"""One obligor, one fate: rows of one obligor share the latent variable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskengine
from riskengine.errors import DataError

from .conftest import make_config, make_portfolio


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


def test_importance_sampling_with_shared_obligors_shifts_without_twisting():
    res = _run(_pair(["X", "X"]), importance_sampling={"enabled": True, "pilot_paths": 2048})
    info = res.meta["importance_sampling"]
    assert info["enabled"] and info["twist"] is False

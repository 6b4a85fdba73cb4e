"""A deal that ends at the first election selects no pipeline unit with a notice after it
on any path; the tariff of a decline ends with it (or stays); elections that never switch
nor end the deal change nothing, to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from riskengine.kernel_inputs import build_model
from riskengine.simulate import run_model

from .common import BASE, config, loans, portfolio

PATHS = 8192
CUT = (7 + 33 / 92) / 13  # P(notice on or before 2027-11-02) from approval quarter 0


def program_frame():
    """A fixed loan (100), a pipeline unit from step 0 (1: its notice may fall either side
    of the election), one from step 9 (10: after it), a named project declined whenever
    selected (1000, at step 2)."""
    df = loans(4)
    df["project_id"] = ["FIXED", "EARLY", "LATE", "NAMED"]
    df["commitment_usd"] = [100.0, 1.0, 10.0, 1000.0]
    df["approval_quarter"] = [0, 0, 9, 2]
    df["selection_prob"] = [1.0, 0.5, 0.5, 1.0]
    df["decline_prob"] = [0.0, 0.0, 0.0, 1.0]
    return df


def regimes(deal_end_prob):
    return [dict(r, deal_end_prob=deal_end_prob) for r in BASE["regimes"]]


def run(deal_end_prob, tariff="ends", elections=True, switch=True):
    sim = {**BASE["simulation"], "paths": PATHS}
    reg = regimes(deal_end_prob)
    if not switch:
        reg = [{k: v for k, v in r.items() if k != "switch"} for r in reg]
    cfg = config(simulation=sim, regimes=reg,
                 tariff={"penalty_usd_per_year": 0.04, "duration_years": 4.0},
                 deal_end={"tariff": tariff},
                 **({} if elections else {"elections": None}))
    return run_model(build_model(cfg, portfolio(program_frame(), cfg)))


@pytest.fixture(scope="module")
def ended():
    return run(1.0)


def test_nothing_is_selected_after_the_deal_ends(ended):
    assert np.all(ended.paths["deal_end"].to_numpy() == 1)
    deployed = ended.paths["deployed_usd"].sum("institution").to_numpy()
    # FIXED on every path, EARLY on some, LATE (notice after the election) on none
    assert set(np.unique(deployed)) <= {100.0, 101.0}
    early = (deployed == 101.0).mean()
    se = np.sqrt(0.5 * CUT * (1 - 0.5 * CUT) / PATHS)
    assert abs(early - 0.5 * CUT) < 4.5 * se
    # the control: a deal that lasts funds LATE on about half the paths
    lasts = run(0.0).paths["deployed_usd"].sum("institution").to_numpy()
    assert abs(((lasts >= 110.0).mean()) - 0.5) < 0.03


def test_the_tariff_ends_with_the_deal_or_stays(ended):
    # NAMED is declined at step 2 on every path: 1000 x 0.04 / 4 = 10 a quarter, undiscounted,
    # for 4 years cut at the horizon (steps 2..15: 14), or up to the deal's end (2..7: 6)
    np.testing.assert_allclose(ended.paths["tariff_cost"].to_numpy(), 60.0, rtol=1e-12)
    stays = run(1.0, tariff="stays")
    np.testing.assert_allclose(stays.paths["tariff_cost"].to_numpy(), 140.0, rtol=1e-12)


def test_the_summary_conditions_on_the_histories_and_the_deal(ended):
    s = ended.summary
    groups = list(s["regime"].values)
    assert groups == ["all", "calm", "rough", "calm at mid2027", "rough at mid2027",
                      "switched", "not switched", "deal lasts", "deal ends at mid2027"]
    p = s["probability"].to_pandas()
    assert p["deal ends at mid2027"] == 1.0 and p["deal lasts"] == 0.0
    assert abs(p["switched"] + p["not switched"] - 1.0) < 1e-12
    # the funded amount given the deal's end: its mean is the EL of deployed_usd
    funded = s["value"].sel(regime="deal ends at mid2027", variable="deployed_usd",
                            institution="ALL", measure="EL").item()
    assert abs(funded - (100 + 0.5 * CUT)) < 0.05


def test_elections_that_change_nothing_change_no_bit():
    plain = run(0.0, elections=False, switch=False)
    same = run(0.0, elections=True, switch=False)
    for name in ("credit_loss", "economic_loss", "deployed_usd", "tariff_cost", "regime"):
        assert np.array_equal(plain.paths[name].to_numpy(), same.paths[name].to_numpy()), name
    assert "deal_end" in same.paths and "deal_end" not in plain.paths

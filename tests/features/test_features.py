"""The risk features a run names in its header, the program key that ties a run to the
sensitivities measured on its program, and the ES range those sensitivities span."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskengine.config import default_portfolio_path, load_config
from riskengine.features import config_features, portfolio_features, program_key
from riskengine.portfolio import load_portfolio, portfolio_from_frame
from riskengine.sensitivity import headline_range, write_sensitivity
from tests.conftest import homogeneous_frame, make_config, make_portfolio


def _shipped(**sim):
    cfg = load_config(None, {"simulation": sim} if sim else None)
    pf = load_portfolio(default_portfolio_path(), cfg.dependence.sectors,
                        cfg.simulation.n_quarters, cfg.simulation.steps_per_year)
    return cfg, pf


def test_the_shipped_program_records_its_sourced_features_on_and_the_rest_off():
    cfg, pf = _shipped()
    f = {**config_features(cfg.to_dict()), **portfolio_features(pf.table)}
    n = len(pf.table)
    assert f["cyclical LGD"] == f"on for {n} of {n} rows, loading 0.25"
    csv = pd.read_csv(default_portfolio_path())
    vehicles = ((csv["instrument"] == "equity")
                & csv["sector"].isin(["nuclear", "power_gas"])).sum()  # DATA_FACTS 10.2 types
    assert f["mean cost overrun"] == f"on for {vehicles} of {n} rows, mean 0.16 to 1.2"
    assert f["recovery lag"] == "off"
    assert f["copula"] == "gaussian" and f["sector factors"].startswith("static")


def test_a_plain_book_has_every_portfolio_feature_off():
    cfg = make_config()
    f = portfolio_features(make_portfolio(homogeneous_frame(), cfg).table)
    assert set(f.values()) == {"off"}


def test_the_program_key_ignores_paths_and_seed_but_not_the_model():
    a = program_key(*_shipped(paths=1000, seed=1))
    b = program_key(*_shipped(paths=5000, seed=2, threads=1))
    assert a == b
    cfg0, pf0 = _shipped()
    assert program_key(load_config(None, {"outputs": {"contributions": False},
                                          "measures": {"levels": [0.99]}}), pf0) == a
    cfg, pf = _shipped()
    table = pf.table.copy()
    table.loc[0, "pd_annual"] *= 1.01
    bumped = portfolio_from_frame(table, cfg.dependence.sectors, cfg.simulation.n_quarters,
                                  cfg.simulation.steps_per_year)
    assert program_key(cfg, bumped) != a
    assert program_key(load_config(None, {"rates": {"base_rate": 0.04}}), pf) != a


def _frame(changes: dict[str, tuple[float, float]]) -> pd.DataFrame:
    rows = []
    for name, (lo, hi) in changes.items():
        for direction, change in (("low", lo), ("high", hi)):
            rows.append({"input": name, "direction": direction, "value": 1.0,
                         "institution": "ALL", "variable": "credit_loss", "measure": "ES",
                         "level": 0.999, "change": change, "stderr": 0.1})
    return pd.DataFrame(rows)


def test_the_headline_range_is_the_es_moved_by_the_three_largest_inputs(tmp_path):
    frame = _frame({"a": (-1.0, 2.0), "b": (-5.0, 4.0), "c": (0.5, 3.0), "d": (-0.2, 0.1),
                    "e": (-3.5, 0.0)})
    frame.attrs.update(paths=100, seed=1, spec="x", program_key="K")
    path = write_sensitivity(frame, tmp_path)
    span = headline_range(60.0, "K", path)
    assert span is not None
    assert span["inputs"] == ["b", "e", "c"]  # by the larger of |low| and |high|
    assert np.isclose(span["low"], 55.0) and np.isclose(span["high"], 64.0)
    assert span["paths"] == 100
    assert headline_range(60.0, "other program", path) is None
    assert headline_range(60.0, "K", tmp_path / "missing.parquet") is None

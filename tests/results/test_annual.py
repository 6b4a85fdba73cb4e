"""annual.parquet: per fiscal year means add up to the horizon's, and every sampled path's
years add up to its own total."""

from __future__ import annotations

import numpy as np
import pytest

import riskengine
from riskengine._kernels import engine
from riskengine.schedules import fiscal_years
from riskengine.simulate import BLOCK, NO_REPLAY, allocate

from ..conftest import make_config, make_portfolio, mixed_frame


def test_japanese_fiscal_years():
    of_step, labels = fiscal_years("2025-10-01", 4, 8, 4)
    # step ends 2025-12-31, 2026-03-31 | 2026-06-30 ... 2027-03-31 | 2027-06-30, 2027-09-30
    assert of_step.tolist() == [0, 0, 1, 1, 1, 1, 2, 2]
    assert labels == ["FY2025", "FY2026", "FY2027"]
    assert fiscal_years("2025-10-01", 12, 3, 1)[1] == ["FY2025"]  # calendar years


def _model(paths=4 * BLOCK):
    df = mixed_frame()
    df["pd_annual"] = 0.3
    cfg = make_config(("a", "b"), [[1, 0.4], [0.4, 1]], paths=paths, horizon_years=5.0,
                      discount_rate=0.04, outputs={"timeline_paths": 512})
    return riskengine.build_model(cfg, make_portfolio(df, cfg))


def test_annual_means_add_up_to_the_horizon():
    res = riskengine.run_model(_model())
    mean = res.annual["mean"]
    total = mean.sum("fiscal_year")
    assert float(total.sel(quantity="credit_loss")) == pytest.approx(res.value("EL"), rel=1e-12)
    assert float(total.sel(quantity="jbic_write_offs")) == pytest.approx(
        res.value("EL", institution="JBIC"), rel=1e-12)
    assert float(total.sel(quantity="nexi_claims")) == pytest.approx(
        res.value("EL", institution="NEXI"), rel=1e-12)
    assert float(total.sel(quantity="defaults")) == pytest.approx(
        float(res.projects.pd_simulated.sum()), rel=1e-12)
    q = res.annual["quantile"].sel(quantity="credit_loss")
    assert (q.sel(level=0.999) >= q.sel(level=0.95)).all()
    assert res.annual.fiscal_year.values[0] == "FY2025" and len(res.annual.fiscal_year) == 6


def test_every_sampled_path_adds_up_exactly():
    model = _model()
    n, stride = 4 * BLOCK, 4
    out, acc, sampled = allocate(model, n, n // stride, 0)
    engine.run_chunk(0, n, BLOCK, *model.inputs, out, acc, sampled, NO_REPLAY)
    credit = out.credit_loss[::stride]
    np.testing.assert_allclose(sampled.annual[:, :, 1].sum(axis=1), credit[:, 0], rtol=1e-12)
    np.testing.assert_allclose(sampled.annual[:, :, 2].sum(axis=1), credit[:, 1], rtol=1e-12)
    assert sampled.annual[:, :, 0].sum() > 0

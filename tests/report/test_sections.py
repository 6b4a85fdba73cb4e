"""The committee's sections of the report: each present, with the numbers of the run's own
files, recomputed here with numpy from paths.parquet (or read from the file the section
shows: sensitivity.parquet, recoup.parquet)."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import xarray as xr

pytest.importorskip("matplotlib")

from riskengine.cli import main
from riskengine.config import load_config
from riskengine.report import write_report, write_tornado_report
from riskengine.report_sections import (
    RECEIPT_LEVELS,
    uncertainty_html,
)
from riskengine.results import _annual
from riskengine.schedules import fiscal_years
from riskengine.sensitivity import COLUMNS, write_sensitivity


class _Rows(HTMLParser):
    """Every table row's attributes with its cells: ``(attrs, [(text, data-value,
    data-stderr), ...])``, and the page's headings."""

    def __init__(self):
        super().__init__()
        self.rows, self.headings, self._cell, self._in = [], [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr":
            self.rows.append((a, []))
        elif tag in ("td", "th") and self.rows:
            self._cell = [tag, "", a.get("data-value"), a.get("data-stderr")]
        elif tag in ("h2", "h3"):
            self._in = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data
        if self._in is not None:
            self._in += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1][1].append(tuple(self._cell))
            self._cell = None
        elif tag in ("h2", "h3"):
            self.headings.append(self._in)
            self._in = None

    def where(self, key, value=None):
        return [(a, c) for a, c in self.rows
                if key in a and (value is None or a[key] == value)]


def _parse(path) -> _Rows:
    page = _Rows()
    page.feed(path.read_text())
    return page


def _values(cells) -> list[float]:
    return [float(v) for tag, _, v, _ in cells if tag == "td" and v is not None]


def _stderrs(cells) -> list[float]:
    return [float(s) for tag, _, v, s in cells if tag == "td" and s is not None]


@pytest.fixture(scope="module")
def base(run_dir):
    """The base case's per-path JBIC rows, summary and manifest."""
    paths = pd.read_parquet(run_dir / "paths.parquet")
    paths = paths[(paths.scenario == "base") & (paths.institution == "JBIC")]
    summary = pd.read_parquet(run_dir / "summary.parquet")
    summary = summary[(summary.scenario == "base") & (summary.regime == "all")]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return paths.sort_values("path"), summary, manifest


def test_the_base_case_is_labelled(run_dir, base):
    _, _, manifest = base
    page = _parse(run_dir / "report" / "report.html")
    assert "Base case: what the headline assumes" in page.headings
    shown = {a["data-feature"]: c[1][1] for a, c in page.where("data-feature")}
    assert shown["paths"] == "8,192" and shown["seed"] == str(manifest["seed"])
    assert shown["copula"] == "gaussian" and shown["sector factors"].startswith("static")
    for r in manifest["config"]["regimes"]:
        assert f"{r['name']} {r['probability']:.0%}" in shown["regimes"]
    # the portfolio's features are recorded in the manifest and shown
    for label in ("cyclical LGD", "recovery lag", "cost overruns"):
        assert shown[label] == manifest["risk_features"][label]
    assert shown["importance sampling"] == "off"


def test_economic_loss_has_its_sign_note(run_dir):
    page = _parse(run_dir / "report" / "report.html")
    groups = [c[0][1] for a, c in page.rows if a.get("class") == "group"]
    assert "economic_loss (negative = gain to Japan)" in groups
    assert "credit_loss" in groups  # (no note where a loss cannot be negative)


def test_equity_receipts_means_and_tails_from_the_paths(run_dir, base):
    paths, _, _ = base
    page = _parse(run_dir / "report" / "report.html")
    assert any(h.startswith("Equity program") for h in page.headings)
    for who, column in (("Japan", "japan_receipts"), ("US", "us_receipts")):
        x = paths[column].to_numpy()
        (_, cells), = page.where("data-receipts", who)
        values = _values(cells)
        assert values[0] == pytest.approx(x.mean(), rel=1e-12)
        assert values[1:] == list(np.quantile(x, RECEIPT_LEVELS, method="inverted_cdf"))
        assert _stderrs(cells)[0] == pytest.approx(x.std(ddof=1) / np.sqrt(len(x)), rel=1e-9)


def test_equity_recoup_and_unpaid_deemed_allocations(run_dir, base):
    paths, summary, manifest = base
    page = _parse(run_dir / "report" / "report.html")
    owed = paths["deemed_outstanding"].to_numpy()
    commit = manifest["equity_program"]["equity_commitment_usd"]
    (_, cells), = page.where("data-equity", "p_recoup_all")
    assert _values(cells) == [pytest.approx(np.mean(owed <= 1e-9 * commit), abs=1e-15)]
    (_, cells), = [r for r in page.where("data-equity", "equity_shortfall")
                   if r[0]["data-measure"] == "EL"]
    assert _values(cells)[0] == pytest.approx(owed.mean(), rel=1e-12)
    el = summary[(summary.institution == "ALL") & (summary.variable == "equity_shortfall")
                 & (summary.measure == "EL")]["value"].item()
    assert _values(cells)[0] == el
    # each vehicle's P(recoup) by the horizon: recoup.parquet's last quarter
    recoup = pd.read_parquet(run_dir / "recoup.parquet")
    last = recoup[(recoup.scenario == "base") & (recoup.quarter == recoup.quarter.max())]
    vehicles = page.where("data-vehicle")
    assert len(vehicles) == len(last) >= 10
    for a, cells in vehicles:
        p_horizon = _values(cells)[-4]  # ..., horizon, Japan receives, US receives, IRR
        assert p_horizon == last[last.project == a["data-vehicle"]]["p_recouped_by"].item()


def test_contributions_carry_their_errors(run_dir):
    page = _parse(run_dir / "report" / "report.html")
    sectors = page.where("data-group", "sector")
    assert len(sectors) >= 5
    errors = [s for _, cells in sectors for s in _stderrs(cells)]
    assert len(errors) == len(sectors) and all(np.isfinite(e) and e > 0 for e in errors)


def test_worst_fiscal_year_with_its_error_and_tail(run_dir):
    annual = pd.read_parquet(run_dir / "annual.parquet")
    annual = annual[(annual.scenario == "base") & (annual.quantity == "credit_loss")]
    page = _parse(run_dir / "report" / "report.html")
    n = 8192  # every path sampled (outputs.timeline_paths is 20,000)
    for level, tail in ((0.99, 82), (0.999, 9)):
        assert tail == n - int(np.ceil(n * level)) + 1
        (_, cells), = page.where("data-worst-year", repr(level))
        value, tail_shown, n_shown = _values(cells)
        at = annual[np.isclose(annual.level, level)]
        assert value == at["quantile"].max()
        worst = at.loc[at["quantile"].idxmax()]
        assert cells[1][1] == worst.fiscal_year
        assert (tail_shown, n_shown) == (tail, n) == (worst.tail_paths, n)
        se = _stderrs(cells)[0]
        assert (se > 0) if level == 0.99 else np.isnan(se)  # 9 paths: too few for one


def test_the_worst_year_error_is_the_binomial_interval_of_its_sample():
    """annual.parquet's quantile error and tail size on a sample with a known answer:
    20,000 paths, the 0.999 quantile rests on 21 of them (ceil(19,980) is the 19,980th
    smallest), its error inverted from the binomial error of the tail probability."""
    cfg = load_config(None)
    sim = cfg.simulation
    years = len(fiscal_years(sim.as_of, sim.steps_per_year, sim.n_quarters,
                             cfg.outputs.fiscal_year_start_month)[1])
    rng = np.random.default_rng(3)
    n = 20_000
    sample = rng.exponential(size=(n, years, 3))
    ds = _annual(cfg, sample.mean(axis=0), sample, np.ones(n))
    x = sample[:, 0, 1] + sample[:, 0, 2]  # the first year's credit loss
    q = np.sort(x)[19_980 - 1]
    assert ds["quantile"].sel(quantity="credit_loss", level=0.999)[0] == q
    assert ds["tail_paths"].sel(quantity="credit_loss", level=0.999)[0] == (x >= q).sum() == 21
    se_p = np.std(x > q, ddof=1) / np.sqrt(n)
    lo, hi = np.quantile(x, [0.999 - 1.959963984540054 * se_p, 0.999 + 1.959963984540054 * se_p],
                         method="inverted_cdf")
    se = ds["quantile_stderr"].sel(quantity="credit_loss", level=0.999)[0]
    assert se == pytest.approx((hi - lo) / (2 * 1.959963984540054), rel=1e-12) and se > 0


def _sensitivity_frame() -> pd.DataFrame:
    """A small sensitivity.parquet: three inputs, ALL's credit ES 0.999 and one other
    entry that the tornado must not show."""
    rows = []
    for name, low, high in (("PD scale", -3e9, 5e9), ("LGD", -1e9, 0.5e9),
                            ("loading", 2e9, -8e9)):
        for direction, change, value in (("low", low, 0.5), ("high", high, 2.0)):
            for inst, var in (("ALL", "credit_loss"), ("ALL", "economic_loss")):
                rows.append({"input": name, "direction": direction, "value": value,
                             "institution": inst, "variable": var, "measure": "ES",
                             "level": 0.999, "change": change if var == "credit_loss"
                             else 100 * change, "stderr": abs(change) / 10,
                             "base": 60e9, "unpaired_stderr": abs(change)})
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "base", "unpaired_stderr"])
    frame.attrs.update(paths=20_000, seed=7, spec="test")
    return frame


def _tornado_rows(page):
    return [(a["data-input"], _values(c), _stderrs(c)) for a, c in page.where("data-input")]


def test_the_tornado_is_sensitivity_parquet_in_order(run_dir, tmp_path):
    write_sensitivity(_sensitivity_frame(), tmp_path / "s")
    stored = pd.read_parquet(tmp_path / "s" / "sensitivity.parquet")
    assert main(["report", str(run_dir), "--sensitivity", str(tmp_path / "s")]) == 0
    page = _parse(run_dir / "report" / "report.html")
    assert "Sensitivities (tornado)" in page.headings
    shown = _tornado_rows(page)
    sel = stored[(stored.variable == "credit_loss")]
    size = sel.groupby("input")["change"].apply(lambda c: c.abs().max())
    assert [name for name, _, _ in shown] == list(size.sort_values(ascending=False).index)
    for name, values, errors in shown:
        low, high = (sel[(sel.input == name) & (sel.direction == d)].iloc[0]
                     for d in ("low", "high"))
        assert values == [low.change, high.change] and errors == [low.stderr, high.stderr]
    assert (run_dir / "report" / "tornado.png").is_file()
    # the file in the run directory is found without the option; a missing one is an error
    write_sensitivity(_sensitivity_frame(), run_dir)
    try:
        target = write_report(run_dir)
        assert _tornado_rows(_parse(target)) == shown
    finally:
        (run_dir / "sensitivity.parquet").unlink()
    assert main(["report", str(run_dir), "--sensitivity", str(tmp_path / "none")]) == 2
    assert "Sensitivities (tornado)" not in _parse(write_report(run_dir)).headings


def test_the_standalone_tornado_page(tmp_path):
    write_sensitivity(_sensitivity_frame(), tmp_path)
    target = write_tornado_report(tmp_path)
    assert target == tmp_path / "report" / "tornado.html"
    assert [r[0] for r in _tornado_rows(_parse(target))] == ["loading", "PD scale", "LGD"]
    assert "data:image/png;base64," in target.read_text()


def _uncertain_summary():
    """A summary as a run with [[uncertainty]] writes it: the predictive measures, their
    ``_conditional`` twins and the ``parameter_uncertainty`` shares (riskengine.uncertainty)."""
    measure = ["EL", "ES", "EL_conditional", "ES_conditional", "parameter_uncertainty",
               "parameter_uncertainty"]
    level = [np.nan, 0.999, np.nan, 0.999, np.nan, 0.999]
    value = np.array([[[11e9, 75e9, 10e9, 60e9, 0.3, 0.2]]])
    return xr.Dataset(
        {"value": (("institution", "variable", "stat"), value),
         "stderr": (("institution", "variable", "stat"), value / 100)},
        coords={"institution": ["ALL"], "variable": ["credit_loss"],
                "measure": ("stat", measure), "level": ("stat", level)})


def test_the_parameter_uncertainty_band_when_the_summary_has_it():
    from riskengine.report import _stat

    summary = _uncertain_summary()
    text = uncertainty_html(summary, _stat, 0.999)
    page = _Rows()
    page.feed(text)
    (_, es), = page.where("data-band", "ES")
    assert _values(es) == [60e9, 75e9, 15e9]
    assert "variance: 30%" in text and "ES 0.999: 20%" in text
    plain = summary.isel(stat=[0, 1])
    assert uncertainty_html(plain, _stat, 0.999) == ""

"""The HTML report: embedded figures decode and are not blank, every table number is the
one in summary.parquet, and the page loads in headless Chromium without console errors."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

import matplotlib.image as mpimg

import riskengine
from riskengine.cli import main
from riskengine.report import DPI, FIGSIZE, write_report


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.cells, self._row = [], [], {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"])
        elif tag == "tr":
            self._row = a
        elif tag == "td" and "data-value" in a:
            self.cells.append((self._row, float(a["data-value"])))


def _page(run_dir):
    page = _Page()
    page.feed((run_dir / "report" / "report.html").read_text())
    return page


def test_every_image_decodes_is_not_blank_and_has_its_size(run_dir):
    page = _page(run_dir)
    assert len(page.images) >= 6
    for src in page.images:
        assert src.startswith("data:image/png;base64,")  # embedded: no network
        pixels = mpimg.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
        assert pixels.shape[:2] == (FIGSIZE[1] * DPI, FIGSIZE[0] * DPI)
        assert pixels[..., :3].std() > 0.05  # not one colour
    pngs = sorted(p.name for p in (run_dir / "report").glob("*.png"))
    assert "loss_distribution.png" in pngs and "contributions.png" in pngs


def test_every_table_value_is_the_summary_files(run_dir):
    """Each table cell carries the stored value; it must be the very entry of its row."""
    summary = pd.read_parquet(run_dir / "summary.parquet")
    contributions = pd.read_parquet(run_dir / "contributions.parquet")
    levels = sorted(summary["level"].dropna().unique())
    cols = [("EL", None)] + [(m, lv) for m in ("VaR", "ES") for lv in levels]

    def entry(scenario, regime, inst, var, measure, level):
        rows = summary[(summary.scenario == scenario) & (summary.regime == regime)
                       & (summary.institution == inst) & (summary.variable == var)
                       & (summary.measure == measure)]
        rows = rows[rows.level.isna()] if level is None else rows[np.isclose(rows.level, level)]
        return rows["value"].item(), rows["stderr"].item()

    page = _page(run_dir)
    by_row: dict = {}
    for row, v in page.cells:
        by_row.setdefault(tuple(sorted(row.items())), []).append(v)
    checked = 0
    for key, values in by_row.items():
        row = dict(key)
        if "data-institution" in row:  # the risk measures of the base case
            for v, (m, lv) in zip(values, cols):
                assert v == entry("base", "all", row["data-institution"], row["data-variable"],
                                  m, lv)[0]
                checked += 1
        elif "data-regime" in row:  # regimes and scenarios: EL and ES at the top level,
            # credit then economic
            scen, regime = row["data-scenario"], row["data-regime"] or "all"
            assert values == [entry(scen, regime, "ALL", var, m, lv)[0]
                              for var in ("credit_loss", "economic_loss")
                              for m, lv in (("EL", None), ("ES", levels[-1]))]
            checked += 4
        elif row.get("data-group") == "sector":
            c = contributions[(contributions.scenario == "base") & (contributions.group == "sector")
                              & (contributions.key == row["data-key"])
                              & (contributions.measure == "ES")
                              & np.isclose(contributions.level, levels[-1])]
            assert values == [c["value"].item()]
            checked += 1
    assert checked >= 3 * 9 + 2 * 8 + 8


def test_the_scenario_table_says_what_each_scenario_does(run_dir):
    page = (run_dir / "report" / "report.html").read_text()
    assert "economic ES" in page
    # the shipped energy_bust (generated from its fields) and the regime rows
    assert "shifts power_gas -2, energy_midstream -2, nuclear -1 sd" in page
    assert "the base case&#x27;s paths drawn in regime &#x27;strategic dilution&#x27;" in page
    assert "the model as configured, unstressed" in page  # the base case's row


def test_report_command_rewrites_from_the_files(run_dir, capsys):
    assert main(["report", str(run_dir)]) == 0
    assert "report.html" in capsys.readouterr().out
    assert main(["report", str(run_dir / "nope")]) == 2


@pytest.mark.skipif(shutil.which("chromium") is None and not os.environ.get("CI"),
                    reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_page_loads_in_headless_chromium(run_dir, tmp_path):
    html_file = run_dir / "report" / "report.html"
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--window-size=1100,3000",
         f"--screenshot={shot}", html_file.as_uri()],
        capture_output=True, text=True, timeout=120)
    console_errors = [line for line in proc.stderr.splitlines()
                      if re.search(r"CONSOLE|Uncaught|net::ERR", line)]
    assert not console_errors, console_errors
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (3000, 1100)
    assert pixels[..., :3].std() > 0.05


def test_the_report_needs_matplotlib_and_says_how_to_get_it(monkeypatch, tmp_path, capsys):
    import builtins

    real = builtins.__import__

    def no_mpl(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    code = main(["run", "--paths", "1024", "--out", str(tmp_path / "r"), "--report"])
    assert code == 2 and "riskengine[report]" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_write_report_on_a_python_result(tmp_path):
    res = riskengine.simulate(paths=2048, seed=5)
    target = write_report(res.write(tmp_path / "run"))
    es = res.value("ES", level=0.999)
    assert np.isfinite(es) and es > 0
    page = _Page()
    page.feed(target.read_text())
    all_credit = [v for row, v in page.cells if row.get("data-institution") == "ALL"
                  and row.get("data-variable") == "credit_loss"]
    assert all_credit[0] == res.value("EL") and es in all_credit  # EL first, then VaR, ES
    assert len(page.images) == len(list(target.parent.glob("*.png"))) >= 4

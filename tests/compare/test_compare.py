"""``riskengine compare``: paired errors on common random numbers, 0 +- 0 for a run against
itself, unpaired errors (and a note) for runs on other seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskengine
from riskengine.cli import main
from riskengine.compare import compare, paired_batch_stderr, paired_bootstrap_stderr
from riskengine.config import default_portfolio_path

TAIL = ["VaR", "ES"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The shipped program on 4,096 paths (seed 3), the same with every PD 20% higher, and
    the base on another seed."""
    tmp = tmp_path_factory.mktemp("compare")
    worse = tmp / "pd_up.csv"
    df = pd.read_csv(default_portfolio_path())
    df["pd_annual"] *= 1.2
    df.to_csv(worse, index=False)
    for name, extra in (("base", []), ("pd_up", ["--portfolio", str(worse)]),
                        ("seed4", ["--seed", "4"])):
        seed = [] if name == "seed4" else ["--seed", "3"]
        assert main(["run", "--paths", "4096", *seed, *extra, "--quiet",
                     "--out", str(tmp / name)]) == 0
    return tmp


def _all_credit(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame.institution == "ALL") & (frame.variable == "credit_loss")
                 & frame.measure.isin(["EL", *TAIL])].set_index(["measure", "level"])


def test_a_run_against_itself_is_exactly_zero_plus_minus_zero(runs, capsys):
    f = _all_credit(compare(runs / "base", runs / "base"))
    assert (f["difference"] == 0).all() and (f["stderr"] == 0).all() and f["paired"].all()
    everything = compare(runs / "base", runs / "base")
    rows = everything[everything.measure.isin(["EL", *TAIL])]
    assert (rows["stderr"].fillna(0) == 0).all() and (rows["difference"] == 0).all()
    assert main(["compare", str(runs / "base"), str(runs / "base"),
                 "--out", str(runs / "self.parquet")]) == 0
    assert "unpaired" not in capsys.readouterr().out


def test_common_random_numbers_give_a_paired_error_below_the_unpaired_one(runs):
    f = _all_credit(compare(runs / "base", runs / "pd_up"))
    a = riskengine.read_results(runs / "base").summary.sel(
        regime="all", institution="ALL", variable="credit_loss")
    b = riskengine.read_results(runs / "pd_up").summary.sel(
        regime="all", institution="ALL", variable="credit_loss")
    for measure in TAIL:
        for level in (0.95, 0.99):
            row = f.loc[(measure, level)]
            unpaired = np.hypot(a["stderr"].sel(measure=measure, level=level).item(),
                                b["stderr"].sel(measure=measure, level=level).item())
            assert row["paired"] and row["method"] == "bootstrap"
            assert row["difference"] > 0
            assert 0 < row["stderr"] < unpaired, (measure, level, row["stderr"], unpaired)


def test_runs_on_other_seeds_are_marked_unpaired(runs, capsys):
    capsys.readouterr()
    assert main(["compare", str(runs / "base"), str(runs / "seed4"),
                 "--out", str(runs / "other.parquet")]) == 0
    assert "errors are unpaired" in capsys.readouterr().out
    f = pd.read_parquet(runs / "other.parquet")
    assert not f["paired"].any() and (f["method"] == "unpaired").all()
    both = _all_credit(f)
    a = riskengine.read_results(runs / "base").summary.sel(
        regime="all", institution="ALL", variable="credit_loss", measure="ES", level=0.95)
    b = riskengine.read_results(runs / "seed4").summary.sel(
        regime="all", institution="ALL", variable="credit_loss", measure="ES", level=0.95)
    assert both.loc[("ES", 0.95), "stderr"] == pytest.approx(
        np.hypot(a["stderr"].item(), b["stderr"].item()), rel=1e-12)


def _correlated(n=20_000, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 1.0, n)
    return a, a * 1.1 + rng.normal(0.0, 0.3, n)


@pytest.mark.parametrize("weighted", [False, True])
def test_the_paired_bootstrap_of_a_mean_matches_the_closed_form(weighted):
    a, b = _correlated()
    wa = wb = None
    if weighted:
        rng = np.random.default_rng(2)
        wa, wb = rng.uniform(0.5, 1.5, a.size), rng.uniform(0.5, 1.5, a.size)
    mean = lambda x, w: np.mean(x if w is None else w * x)
    closed = np.std((b if wb is None else wb * b) - (a if wa is None else wa * a),
                    ddof=1) / np.sqrt(a.size)
    boot = paired_bootstrap_stderr(mean, a, b, wa, wb)
    assert boot == pytest.approx(closed, rel=0.2)
    assert paired_batch_stderr(mean, a, b, wa, wb) == pytest.approx(closed, rel=0.3)
    assert paired_bootstrap_stderr(mean, a, a, wa, wa) == 0.0
    assert paired_batch_stderr(mean, a, a, wa, wa) == 0.0

"""``riskengine compare``: paired errors on common random numbers, 0 +- 0 for a run against
itself, unpaired errors (and a note) for runs on other seeds."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

import riskengine
from riskengine.cli import main
from riskengine.compare import (
    _ResampledTail,
    _tail_estimates,
    batch_errors,
    compare,
    paired_tail_stderrs,
)
from riskengine.config import default_portfolio_path
from riskengine.results_version import RESULTS_VERSION

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


def _as_version(run, copy, version):
    """A copy of ``run`` whose manifest says results ``version`` (None: no key, as a run
    written before manifests recorded it)."""
    shutil.copytree(run, copy)
    path = copy / "manifest.json"
    manifest = json.loads(path.read_text())
    assert manifest["results_version"] == RESULTS_VERSION
    manifest.pop("results_version")
    if version is not None:
        manifest["results_version"] = version
    path.write_text(json.dumps(manifest, indent=2))
    return copy


def test_runs_of_other_results_versions_are_unpaired_with_a_note(runs, capsys):
    """Same seed and paths but another results version: other draws, so no common random
    numbers. Every error is unpaired, the frame says which version each run is, and the
    command line says that B - A includes the change of the draws."""
    other = RESULTS_VERSION + 1
    b = _as_version(runs / "base", runs / "next_version", other)
    f = compare(runs / "base", b)
    assert f.attrs["results_versions"] == {"A": RESULTS_VERSION, "B": other}
    assert not f["paired"].any() and (f["method"] == "unpaired").all()
    capsys.readouterr()
    assert main(["compare", str(runs / "base"), str(b), "--out",
                 str(runs / "versions.parquet")]) == 0
    out = capsys.readouterr().out
    assert (f"note: A is results version {RESULTS_VERSION} and B results version {other}: "
            "they draw other random numbers, so B - A includes the change of the draws") in out
    assert "do not share seed and paths" not in out
    # a run without the key is version 1: paired with today's runs while that is version 1
    old = _as_version(runs / "base", runs / "no_key", None)
    f = compare(old, runs / "base")
    assert f.attrs["results_versions"] == {"A": 1, "B": RESULTS_VERSION}
    assert f["paired"].any() == (RESULTS_VERSION == 1)


def _correlated(n=20_000, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0.0, 1.0, n)
    return a, a * 1.1 + rng.normal(0.0, 0.3, n)


@pytest.mark.parametrize("weighted", [False, True])
def test_batch_means_of_a_mean_match_the_closed_form(weighted):
    a, b = _correlated()
    wa = wb = None
    if weighted:
        rng = np.random.default_rng(2)
        wa, wb = rng.uniform(0.5, 1.5, a.size), rng.uniform(0.5, 1.5, a.size)
    mean = lambda x, w: np.mean(x if w is None else w * x)
    closed = np.std((b if wb is None else wb * b) - (a if wa is None else wa * a),
                    ddof=1) / np.sqrt(a.size)
    assert batch_errors(mean, a, b, wa, wb).paired == pytest.approx(closed, rel=0.3)
    assert batch_errors(mean, a, a, wa, wa).paired == 0.0


@pytest.mark.parametrize("weighted", [False, True])
def test_a_resample_given_as_counts_has_the_tail_of_the_resampled_arrays(weighted):
    """The bootstrap reads VaR and ES of a resample from its counts and the sample's top:
    the same values as LossSample on the explicitly resampled (and weighted) arrays, ties
    and an atom at zero included."""
    rng = np.random.default_rng(5)
    n = 40_000
    x = np.where(rng.random(n) < 0.04, rng.lognormal(0.0, 1.0, n), 0.0)
    x[:30] = x[rng.integers(0, n)]  # ties
    w = rng.uniform(0.2, 3.0, n) if weighted else None
    tail = _ResampledTail(x, w, [0.99, 0.999])
    for _ in range(10):
        idx = rng.integers(0, n, n)
        counts = np.bincount(idx, minlength=n)
        ref = _tail_estimates([0.99, 0.999], x[idx], None if w is None else w[idx])
        np.testing.assert_allclose(tail.stats(counts), ref, rtol=1e-12)
    # a resample whose top holds too little weight looks at the whole sample
    heavy = np.zeros(n, dtype=np.int64)
    heavy[np.argsort(x)[: n // 2]] = 2
    ref = _tail_estimates([0.99, 0.999], np.repeat(x, heavy),
                          None if w is None else np.repeat(w, heavy))
    np.testing.assert_allclose(tail.stats(heavy), ref, rtol=1e-12)


def test_the_paired_tail_bootstrap_cancels_what_the_runs_share():
    """A shift cancels exactly in VaR's and ES's differences; identical runs give 0; runs
    that share nothing get the unpaired error, sqrt(se_a^2 + se_b^2), within the
    bootstrap's own error."""
    rng = np.random.default_rng(8)
    n = 50_000
    a, c = rng.lognormal(0.0, 1.0, n), rng.lognormal(0.0, 1.0, n)
    shifted, same, independent = paired_tail_stderrs(
        [(a, a + 2.0, None, None), (a, a, None, None), (a, c, None, None)], [0.99],
        n_resamples=400)
    assert np.all(shifted.paired < 1e-9)
    assert np.all(same.paired == 0.0)
    np.testing.assert_allclose(same.a, same.b)
    single = [paired_tail_stderrs([(np.zeros(n), x, None, None)], [0.99], n_resamples=400,
                                  seed=s)[0].paired for s, x in ((1, a), (2, c))]
    np.testing.assert_allclose(independent.paired, np.hypot(*single), rtol=0.2)
    # each run's own error on the shared resamples is the independent resamples' error
    np.testing.assert_allclose([independent.a, independent.b], single, rtol=0.2)

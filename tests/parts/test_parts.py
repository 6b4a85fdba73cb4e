"""Path ranges and merge: two halves of a run, merged, are the whole run bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest

import riskengine
from riskengine.cli import main
from riskengine.results_version import RESULTS_VERSION

from ..conftest import assert_same, cli_files, mixed_frame

CONFIG = """
[simulation]
paths = 6144
horizon_years = 5.0

[dependence]
sectors = ["a", "b"]
correlation = [[1.0, 0.4], [0.4, 1.0]]

[outputs]
timeline_paths = 512
irr_paths = 256
"""


@pytest.fixture
def files(tmp_path):
    df = mixed_frame()
    df.loc[df.instrument == "equity", ["expected_yield", "cf_vol", "construction_years",
                                       "life_years", "deemed_spread"]] = [0.12, 0.2, 1.0, 3.0, 0.02]
    return cli_files(tmp_path, CONFIG, df)


def _run(tmp_path, pf, cfg, *extra):
    return main(["run", "--config", str(cfg), "--portfolio", str(pf), "--quiet", *extra])


def test_two_halves_merged_are_the_whole_run(tmp_path, files):
    pf, cfg = files
    assert _run(tmp_path, pf, cfg, "--out", str(tmp_path / "whole")) == 0
    assert _run(tmp_path, pf, cfg, "--path-range", "0:3072", "--out", str(tmp_path / "p1")) == 0
    assert _run(tmp_path, pf, cfg, "--path-range", "3072:6144", "--out", str(tmp_path / "p2")) == 0
    with pytest.raises(riskengine.UsageError):  # a part is not a finished run
        from riskengine.io import check_readable_run
        check_readable_run(tmp_path / "p1")
    assert main(["merge", str(tmp_path / "p2"), str(tmp_path / "p1"),
                 "--out", str(tmp_path / "merged")]) == 0
    whole = riskengine.read_results(tmp_path / "whole")
    merged = riskengine.read_results(tmp_path / "merged")
    for name in ("paths", "summary", "projects", "timeline", "recoup", "annual",
                 "contributions", "convergence"):
        assert_same(whole[name], merged[name])
    np.testing.assert_array_equal(whole.paths["credit_loss"].values,
                                  merged.paths["credit_loss"].values)


def test_parts_of_other_configs_or_gaps_are_refused(tmp_path, files, capsys):
    pf, cfg = files
    other = tmp_path / "other.toml"
    other.write_text(CONFIG.replace("horizon_years = 5.0", "horizon_years = 4.0"))
    assert _run(tmp_path, pf, cfg, "--path-range", "0:3072", "--out", str(tmp_path / "p1")) == 0
    assert main(["run", "--config", str(other), "--portfolio", str(pf), "--quiet",
                 "--path-range", "3072:6144", "--out", str(tmp_path / "q2")]) == 0
    capsys.readouterr()
    assert main(["merge", str(tmp_path / "p1"), str(tmp_path / "q2"),
                 "--out", str(tmp_path / "m")]) == 2
    assert "another config" in capsys.readouterr().err and not (tmp_path / "m").exists()
    assert main(["merge", str(tmp_path / "p1"), "--out", str(tmp_path / "m")]) == 2
    assert "3072:6144 are missing" in capsys.readouterr().err
    assert _run(tmp_path, pf, cfg, "--path-range", "100:200", "--out", str(tmp_path / "bad")) == 2
    assert "multiple of 1024" in capsys.readouterr().err



def _write_version(part, version):
    """Rewrite a part's manifest as a riskengine of results ``version`` writes it (None:
    one written before manifests recorded it)."""
    path = part / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.pop("results_version", None)
    if version is not None:
        manifest["results_version"] = version
    path.write_text(json.dumps(manifest, indent=2))


def test_parts_of_another_results_version_are_not_merged(tmp_path, files, capsys):
    """Parts of different results versions hold other draws, not one run's paths; parts of
    a version other than this riskengine's would be finished with this one's draws (the
    contributions' tail replay). Both are refused, naming the parts and the versions, and
    nothing is written. Parts without the key are version 1."""
    pf, cfg = files
    p1, p2, merged = tmp_path / "p1", tmp_path / "p2", tmp_path / "m"
    assert _run(tmp_path, pf, cfg, "--path-range", "0:3072", "--out", str(p1)) == 0
    assert _run(tmp_path, pf, cfg, "--path-range", "3072:6144", "--out", str(p2)) == 0
    for part in (p1, p2):
        assert json.loads((part / "manifest.json").read_text())["results_version"] == \
            RESULTS_VERSION
    other = RESULTS_VERSION + 1
    _write_version(p2, other)
    capsys.readouterr()
    assert main(["merge", str(p1), str(p2), "--out", str(merged)]) == 2
    assert (f"{p2} holds results version {other} and {p1} results version "
            f"{RESULTS_VERSION}: their draws differ") in capsys.readouterr().err
    assert not merged.exists()
    _write_version(p1, other)
    assert main(["merge", str(p1), str(p2), "--out", str(merged)]) == 2
    assert (f"the parts hold results version {other} ({p1}) and this riskengine draws "
            f"results version {RESULTS_VERSION}") in capsys.readouterr().err
    assert not merged.exists()
    _write_version(p1, None)
    _write_version(p2, None)
    code = main(["merge", str(p1), str(p2), "--out", str(merged)])
    if RESULTS_VERSION == 1:
        assert code == 0
        assert riskengine.read_results(merged).manifest["results_version"] == 1
    else:
        assert code == 2 and not merged.exists()

"""One run of the shipped program (base case and scenarios side by side, with its report)
shared by the report's tests."""

from __future__ import annotations

import pytest

from riskengine.cli import main


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("report") / "run"
    code = main(["run", "--paths", "8192", "--scenarios", "--out", str(out), "--quiet",
                 "--report"])
    assert code == 0
    return out

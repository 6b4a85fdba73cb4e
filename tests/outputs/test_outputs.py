"""The table of output variables (riskengine/outputs.py) is the one declaration every
writer reads: the kernel's buffers, paths.parquet, the summary and docs/model.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from riskengine._kernels.bundles import PathOutputs
from riskengine.outputs import BY_ELECTION, OUTPUTS, SUMMARISED, docs_table, kernel_buffers

DOCS = Path(__file__).resolve().parents[2] / "docs" / "model.md"
START = "<!-- generated from riskengine/outputs.py (outputs.docs_table); tests/test_outputs.py -->\n"
END = "<!-- end of the generated table -->"


def test_the_docs_table_is_the_outputs_table():
    text = DOCS.read_text()
    assert text.count(START) == 1
    shown = text.split(START)[1].split(END)[0]
    assert shown == docs_table()


def test_every_kernel_output_has_one_row():
    """Every PathOutputs field but the replay's ``exposure_credit`` and the capital calls
    (backstop.parquet's, kept only for the paths that call) is an output's buffer."""
    fields = [o.kernel_field for o in OUTPUTS]
    assert len(set(fields)) == len(fields)
    assert set(fields) == set(PathOutputs._fields) - {"exposure_credit", "capital_call"}
    assert len({o.name for o in OUTPUTS}) == len(OUTPUTS)


def test_kernel_buffers_follow_the_rows():
    for n_elections in (0, 4):
        buffers = kernel_buffers(3, n_elections)
        for o in OUTPUTS:
            a = buffers[o.kernel_field]
            assert a.dtype == o.dtype and a.flags.c_contiguous
            if o.dims == BY_ELECTION:  # (one column per election in paths.parquet)
                assert a.shape == (3, n_elections)
            else:
                assert a.shape == ((3, 2) if len(o.dims) == 2 and o.institution is None
                                   else (3,))
            assert np.all(a == o.fill)


def test_the_summary_variables_and_their_order():
    assert list(SUMMARISED) == ["credit_loss", "economic_loss", "equity_shortfall",
                                "tariff_cost", "economic_loss_jpy", "deployed_usd"]
    assert SUMMARISED["equity_shortfall"] == "deemed_outstanding"

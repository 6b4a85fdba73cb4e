"""The run's output variables, declared once.

Each :class:`Output` row names one per-path variable: where the kernel writes it (a field
of ``_kernels.bundles.PathOutputs``), its name, dims, units and description in
``paths.parquet``, when a run has it, and whether ``summary.parquet`` reports its measures.
The buffers the kernel writes (:func:`riskengine.buffers.allocate`), the per-path Dataset
(:func:`paths_dataset`), the summary's variables (:class:`riskengine.results.Result`), the
HTML report's table and the table in docs/model.md are all made from :data:`OUTPUTS`.

Adding an output: a field of ``PathOutputs``, the kernel stage that writes it, a row here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .codes import INSTITUTIONS, Institution

PATH = ("path",)
BY_INSTITUTION = ("path", "institution")
#: one column ``<name>_<election>`` per election inside the horizon (the kernel's buffer
#: is (path, election))
BY_ELECTION = ("path", "election")

#: what a run must have for a variable to be written (``Output.when``)
CONDITIONS = {
    "equity": "the portfolio has equity",
    "program": "the program selects or declines projects",
    "regimes": "the config has [[regimes]]",
    "elections": "the config has [[elections]] inside the horizon",
    "fx": "the config has [fx]",
    "weighted": "importance sampling (some weight is not 1)",
}


@dataclass(frozen=True)
class Output:
    """One per-path output variable.

    Attributes
    ----------
    name : its name in ``file``
    dims : its dimensions there
    units : ``"USD"``, ``"JPY"`` or None
    description : what it is (the variable's ``long_name``)
    file : the run directory's file that holds it (without ``.parquet``)
    when : the :data:`CONDITIONS` that must all hold for a run to have it (() always)
    summary : its place among summary.parquet's variables (1 first), 0 when it is not
        summarised
    summary_name : its name in summary.parquet when that differs from ``name``
    field : the ``PathOutputs`` field the kernel writes (default ``name``)
    dtype, fill : the kernel buffer's dtype and initial value
    institution : the one institution a per-path value belongs to (the others' are 0)
    includes : a variable of Japan as a whole (no institution) that ALL's value includes
    labels : the config attribute naming the integer codes it holds
    fx_view : its attributes name the yen view (``fx.view``) it was computed under
    report : the HTML report's summary table shows it for every institution
        (``"institutions"``), for ALL only (``"ALL"``), or not (None)
    """

    name: str
    dims: tuple[str, ...]
    units: str | None
    description: str
    file: str = "paths"
    when: tuple[str, ...] = ()
    summary: int = 0
    summary_name: str | None = None
    field: str | None = None
    dtype: type = np.float64
    fill: float = 0.0
    institution: str | None = None
    includes: str | None = None
    labels: str | None = None
    report: str | None = None
    fx_view: bool = False

    @property
    def kernel_field(self) -> str:
        return self.field or self.name

    @property
    def summarised_as(self) -> str | None:
        """Its variable in summary.parquet, None when not summarised."""
        return (self.summary_name or self.name) if self.summary else None

    def attrs(self, config) -> dict:
        """The variable's attributes in its file."""
        attrs: dict = {} if self.units is None else {"units": self.units}
        if self.labels is not None:
            attrs["labels"] = list(getattr(config, self.labels))
        if self.fx_view and config is not None and config.fx is not None:
            attrs["fx_view"] = config.fx.view
        attrs["long_name"] = self.description
        return attrs


#: every per-path output, in the order of paths.parquet's columns
OUTPUTS: tuple[Output, ...] = (
    Output("credit_loss", BY_INSTITUTION, "USD", "principal lost in defaults",
           summary=1, report="institutions"),
    Output("economic_loss", BY_INSTITUTION, "USD", "minus NPV of the institution's cash flows",
           summary=2, includes="tariff_cost", report="institutions"),
    Output("japan_receipts", BY_INSTITUTION, "USD",
           "equity distributions to Japan inside the horizon (undiscounted)",
           when=("equity",), institution="JBIC"),
    Output("us_receipts", BY_INSTITUTION, "USD",
           "equity distributions to the US inside the horizon (undiscounted)",
           when=("equity",), institution="JBIC"),
    Output("deemed_outstanding", BY_INSTITUTION, "USD",
           "deemed allocation not yet repaid at the horizon",
           when=("equity",), institution="JBIC", summary=3, summary_name="equity_shortfall"),
    Output("deployed_usd", BY_INSTITUTION, "USD", "commitments funded on the path",
           when=("program",), field="deployed", summary=6, report="ALL"),
    Output("tariff_cost", PATH, "USD",
           "present value of the tariff penalties of declined projects (Japan as a whole)",
           when=("program",), summary=4, report="ALL"),
    Output("regime", PATH, None, "the path's political regime (today's, before any "
           "election)", when=("regimes",), dtype=np.int64, labels="regime_names"),
    Output("regime_at", BY_ELECTION, None,
           "the regime after the election (one column regime_at_<election> each)",
           when=("regimes", "elections"), field="regime_history", dtype=np.int64,
           labels="regime_names"),
    Output("deal_end", PATH, None, "the election at which the deal ends (\"none\": it "
           "lasts the horizon)", when=("elections",), dtype=np.int64,
           labels="deal_end_labels"),
    Output("economic_loss_jpy", BY_INSTITUTION, "JPY",
           "economic loss in yen, each step's flow at that step's USD/JPY: what Japan bears "
           "on a dollar-funded book (fx.view funding_matched) or every gross flow "
           "(unhedged)", when=("fx",), summary=5, includes="tariff_cost_jpy",
           fx_view=True),
    Output("tariff_cost_jpy", PATH, "JPY", "tariff cost in yen", when=("fx", "program")),
    Output("weight", PATH, None, "importance-sampling likelihood ratio", when=("weighted",),
           fill=1.0),
)

BY_NAME = {o.name: o for o in OUTPUTS}
#: summary.parquet's variables in order, and the per-path variable each reads
SUMMARISED: dict[str, str] = {
    o.summarised_as: o.name for o in sorted(OUTPUTS, key=lambda o: o.summary)
    if o.summarised_as is not None}
#: what the summary reports under another name than the per-path variable it reads
DERIVED_VARIABLES = {s: p for s, p in SUMMARISED.items() if s != p}
#: ALL's value of a variable includes Japan's as a whole (the tariff cost)
TARIFF_IN = {o.name: o.includes for o in OUTPUTS if o.includes is not None}
#: the HTML report's summary table: each variable and whether it is shown for every
#: institution or for ALL only
REPORT_ROWS: tuple[tuple[str, str], ...] = tuple(
    (o.summary_name or o.name, o.report) for o in sorted(OUTPUTS, key=lambda o: o.summary)
    if o.report is not None)


def summary_units(variables) -> str:
    """The summary's ``units`` attribute: USD, naming the variables in another currency."""
    other = [f"{s}: {BY_NAME[SUMMARISED[s]].units}" for s in variables
             if BY_NAME[SUMMARISED[s]].units != "USD"]
    return "USD" + (f" ({', '.join(other)})" if other else "")


def conditions(model, weighted: bool) -> set[str]:
    """The :data:`CONDITIONS` a run of ``model`` meets."""
    cfg = model.config
    met = {"equity": len(model.equity_index) > 0, "program": bool(model.deployment.expanded),
           "regimes": bool(cfg.regimes), "fx": cfg.fx is not None, "weighted": weighted,
           "elections": len(model.inputs.program.election_step) > 0}
    return {k for k, on in met.items() if on}


def kernel_buffers(n: int, n_elections: int = 0) -> dict[str, np.ndarray]:
    """Each output's zeroed (``fill``-ed) kernel buffer for ``n`` paths, by field."""
    out: dict[str, np.ndarray] = {}
    for o in OUTPUTS:
        shape: tuple[int, ...] = (
            (n, len(INSTITUTIONS)) if o.dims == BY_INSTITUTION and o.institution is None
            else (n, n_elections) if o.dims == BY_ELECTION else (n,))
        out[o.kernel_field] = (np.zeros(shape, dtype=o.dtype) if o.fill == 0.0
                               else np.full(shape, o.fill, dtype=o.dtype))
    return out


def paths_dataset(model, out, first: int = 0, weighted: bool | None = None) -> xr.Dataset:
    """The per-path Dataset (paths.parquet) of paths ``first ..`` from their
    :class:`PathOutputs`: the :data:`OUTPUTS` the run has. ``weighted``: whether it has a
    ``weight`` variable (None: when some weight is not 1)."""
    n = out.credit_loss.shape[0]
    if weighted is None:
        weighted = not np.all(out.weight == 1.0)
    met = conditions(model, weighted)
    data: dict[str, tuple[tuple[str, ...], np.ndarray, dict]] = {}
    for o in OUTPUTS:
        if not met.issuperset(o.when):
            continue
        values = getattr(out, o.kernel_field)
        if o.dims == BY_ELECTION:  # one column per election
            for k, name in enumerate(model.config.election_names):
                data[f"{o.name}_{name}"] = (PATH, values[:, k], o.attrs(model.config))
            continue
        if o.institution is not None:  # (e.g. equity is JBIC's: NEXI's rows are 0)
            v = np.zeros((n, len(INSTITUTIONS)))
            v[:, Institution[o.institution]] = values
            values = v
        data[o.name] = (o.dims, values, o.attrs(model.config))
    batches = getattr(model, "batches", None)
    if batches is not None:  # [[uncertainty]]: the parameter set of each path
        data["parameter_batch"] = (PATH, batches.batch_of(np.arange(first, first + n)),
                                   {"long_name": "the path's parameter set ([[uncertainty]], "
                                                 "parameters.parquet)"})
    return xr.Dataset(data, coords={"path": np.arange(first, first + n, dtype=np.int64),
                                    "institution": list(INSTITUTIONS)})


def docs_table() -> str:
    """The Markdown table of the outputs in docs/model.md."""
    rows = ["| variable | file | dims | units | when | summary | description |",
            "|---|---|---|---|---|---|---|"]
    for o in OUTPUTS:
        when = "; ".join(CONDITIONS[c] for c in o.when) or "always"
        summary = "" if not o.summary else (
            f"as `{o.summarised_as}`" if o.summary_name else "yes")
        if o.includes:
            summary += f" (ALL's includes `{o.includes}`)"
        rows.append(f"| `{o.name}` | {o.file}.parquet | {', '.join(o.dims)} | {o.units or ''} | {when} | "
                    f"{summary} | {o.description} |")
    return "\n".join(rows) + "\n"

"""``riskengine report RUN_DIR``: one self-contained ``report.html`` (every figure embedded
as a PNG, no network) and each figure as a PNG file beside it, for a risk committee.

Every number in its tables is read from the run's Parquet files (``summary.parquet``,
``contributions.parquet``, ...) and printed as stored; the figures draw the same files.
matplotlib is the optional extra ``riskengine[report]``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
from pathlib import Path

import numpy as np

from . import report_sections as sections
from .config import default_program_dir
from .errors import UsageError
from .measures import Z95
from .outputs import REPORT_ROWS
from .results import stat_index
from .results_version import of_manifest
from .sensitivity import measured_on, read_sensitivity

#: the pages' style sheet
_CSS = """\
body { font-family: system-ui, sans-serif; max-width: 1060px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.7em; text-align: right; }
th:first-child { text-align: left; }
tr.group th { text-align: left; background: #f3f3f3; }
small { color: #777; }
figure { margin: 1.5em 0; } figcaption { color: #555; font-size: 0.9em; }
table.provenance td { text-align: left; }
table.vehicles th:first-child { white-space: nowrap; }
small.sign { color: #a33; font-weight: normal; }
td[data-value^="-"] { color: #1a6e1a; }
pre { font-size: 0.75em; background: #f7f7f7; padding: 1em; overflow-x: auto; }
"""
#: figure size in inches and resolution: every PNG is 1000 x 500 pixels
FIGSIZE, DPI = (10.0, 5.0), 100
BN = 1e9


def _matplotlib():
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise UsageError("the report needs matplotlib, an optional extra: "
                         "pip install 'riskengine[report]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _stat(ds, measure, level=None, **sel):
    """One entry of a summary-like Dataset (dims ..., stat) as ``(value, stderr)``."""
    s = ds.sel(**sel)
    i = stat_index(s, measure, level)
    return float(s["value"].to_numpy()[..., i]), float(s["stderr"].to_numpy()[..., i])


class _Figures:
    def __init__(self, plt, out_dir: Path):
        self.plt, self.out_dir = plt, out_dir
        self.items: list[tuple[str, str, str]] = []

    def add(self, name: str, title: str, draw) -> None:
        fig = self.plt.figure(figsize=FIGSIZE, dpi=DPI)
        try:
            draw(fig)
            fig.suptitle(title, fontsize=12)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=DPI)
        finally:
            self.plt.close(fig)
        png = buf.getvalue()
        (self.out_dir / f"{name}.png").write_bytes(png)
        self.items.append((name, title, base64.b64encode(png).decode()))

    def take(self, name: str) -> str:
        """A drawn figure's HTML, placed by its section (so not again among the rest)."""
        for item in self.items:
            if item[0] == name:
                self.items.remove(item)
                return _figure_html(*item)
        return ""


def _figure_html(name: str, title: str, b64: str) -> str:
    esc = html.escape
    return (f'<figure id="{name}"><img alt="{esc(title)}" width="1000" height="500" '
            f'src="data:image/png;base64,{b64}"><figcaption>{esc(title)}</figcaption>'
            "</figure>")


def _first(ds, dim="scenario"):
    """A side-by-side run's first scenario (the base case), else the Dataset itself."""
    return ds.isel({dim: 0}) if ds is not None and dim in ds.dims else ds


def find_sensitivity(run_dir: Path, sensitivity: str | Path | None, program_key=None):
    """The sensitivities the report shows: ``sensitivity`` (a sensitivity.parquet or the
    directory holding it), else the run directory's own sensitivity.parquet, else the
    shipped program's (data/program/sensitivity.parquet) when it measured the run's
    program (the same ``program_key``, as the terminal's headline range), else None."""
    if sensitivity is None:
        shipped = default_program_dir() / "sensitivity.parquet"
        if (run_dir / "sensitivity.parquet").is_file():
            sensitivity = run_dir
        elif program_key is not None:
            return measured_on(program_key, shipped)
        else:
            return None
    return read_sensitivity(sensitivity)


def write_report(run_dir: str | Path, sensitivity: str | Path | None = None) -> Path:
    """Write ``report.html`` and the figures' PNGs into ``run_dir/report/``; returns the
    HTML file. ``sensitivity``: a sensitivity.parquet (or its directory) whose tornado
    the report shows (default: ``run_dir/sensitivity.parquet`` when there is one)."""
    from .io import read_results

    plt = _matplotlib()
    run_dir = Path(run_dir)
    run = read_results(run_dir)
    frame = find_sensitivity(run_dir, sensitivity, run.manifest.get("program_key"))
    out_dir = run_dir / "report"
    out_dir.mkdir(exist_ok=True)
    m = run.manifest
    levels = tuple(m["config"]["measures"]["levels"])
    top = max(levels)
    summary_all = run.summary
    scenarios = list(summary_all["scenario"].values) if "scenario" in summary_all.dims else []
    summary = _first(summary_all)
    regimes = list(summary["regime"].values) if "regime" in summary.dims else []
    if regimes:
        summary = summary.sel(regime="all")
    band = sections.uncertainty_html(summary, _stat, top)
    figs = _Figures(plt, out_dir)
    _loss_distribution(figs, _first(run.paths), summary, top)
    contributions = _first(run.datasets.get("contributions"))
    if contributions is not None:
        _contributions_figure(figs, contributions, top)
    timeline = _first(run.datasets.get("timeline"))
    if timeline is not None and np.isfinite(timeline["cumulative_net_cash"].to_numpy()).any():
        _cash_fan(figs, timeline)
    data = {k: _first(run.datasets.get(k)) for k in ("paths", "projects", "recoup")}
    if sections.has_equity(m, data):
        sections.equity_figure(figs, data)
    convergence = _first(run.datasets.get("convergence"))
    if convergence is not None:
        _convergence_figure(figs, convergence, top)
    annual = _first(run.datasets.get("annual"))
    if annual is not None and np.isfinite(annual["quantile"].to_numpy()).any():
        _annual_figure(figs, annual)
    backstop = _first(run.datasets.get("backstop"))
    if backstop is not None:
        _backstop_figure(figs, backstop)
    side_rows = _side_by_side(summary_all, scenarios, regimes, top, m.get("scenarios"),
                              [r["name"] for r in m["config"].get("regimes") or ()])
    if len(side_rows) > 1:
        _side_by_side_figure(figs, side_rows, top)

    parts = {"base_case": sections.base_case_html(m, scenarios, regimes), "band": band,
             "equity": sections.equity_html(m, data, summary, _stat, top, figs.take("equity")),
             "worst_year": sections.worst_year_html(annual) + figs.take("annual"),
             "backstop": sections.backstop_html(backstop, m["config"]) + figs.take("backstop"),
             "tornado": "" if frame is None else sections.tornado_html(frame, figs)}
    page = _html(dict(m, run_dir=str(run_dir.resolve())), summary, levels, figs.items,
                 side_rows, top, contributions, parts)
    target = out_dir / "report.html"
    target.write_text(page, encoding="utf-8")
    return target


def write_tornado_report(where: str | Path) -> Path:
    """Write a standalone page of the tornado of ``where`` (sensitivity.parquet or its
    directory) into ``report/tornado.html`` beside the file; returns the HTML file."""
    plt = _matplotlib()
    frame = read_sensitivity(where)
    folder = Path(where) if Path(where).is_dir() else Path(where).parent
    out_dir = folder / "report"
    out_dir.mkdir(exist_ok=True)
    figs = _Figures(plt, out_dir)
    body = sections.tornado_html(frame, figs)
    target = out_dir / "tornado.html"
    target.write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>riskengine sensitivities</title><style>\n{_CSS}</style></head><body>"
        f"{body}</body></html>\n", encoding="utf-8")
    return target


def _loss_distribution(figs: _Figures, paths, summary, top: float) -> None:
    """The credit-loss histogram and exceedance curve of ALL, JBIC and NEXI, with ALL's
    EL, VaR and ES at the top level."""
    weight = paths["weight"].to_numpy() if "weight" in paths else None

    def loss_of(inst):
        v = paths["credit_loss"]
        return (v.sum("institution") if inst == "ALL" else v.sel(institution=inst)).to_numpy()

    def distribution(fig):
        axes = fig.subplots(1, 2)
        for inst, color in (("ALL", "C0"), ("JBIC", "C1"), ("NEXI", "C2")):
            x = loss_of(inst) / BN
            axes[0].hist(x, bins=80, weights=weight, histtype="step", color=color,
                         label=inst, density=True)
            order = np.argsort(x)
            w = np.ones_like(x) if weight is None else weight
            # the engine's tail estimator: (1/n) x the weights beyond each point (under
            # importance sampling the weights need not sum to n exactly, so not 1 - ...)
            exceed = (w.sum() - np.cumsum(w[order])) / len(w)
            axes[1].step(x[order], np.maximum(exceed, 1e-12), color=color, label=inst)
        for measure, style in (("EL", ":"), ("VaR", "--"), ("ES", "-")):
            v = _stat(summary, measure, None if measure == "EL" else top, institution="ALL",
                      variable="credit_loss")[0] / BN
            for ax in axes:
                ax.axvline(v, color="k", linestyle=style, linewidth=0.8,
                           label=f"ALL {measure}" + ("" if measure == "EL" else f" {top:g}"))
        axes[0].set(xlabel="credit loss, US$ bn", ylabel="density", title="distribution")
        axes[1].set(xlabel="credit loss, US$ bn", ylabel="P(loss > x)", yscale="log",
                    title="exceedance", ylim=(max(1e-1 / len(paths.path), 1e-7), 1.0))
        # (a fixed place: "best" searches every plotted point, slow and warned about
        # at a million paths; the curves fall from the upper left)
        axes[1].legend(fontsize=8, loc="upper right")
        fig.tight_layout(rect=(0, 0, 1, 0.94))

    figs.add("loss_distribution", "Credit loss over the horizon by institution", distribution)


def _contributions_figure(figs: _Figures, contributions, top: float) -> None:
    """Euler contributions to ALL's ES by sector, institution and the top 15 exposures."""

    def contrib(fig):
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.2, 0.6, 1.6]})
        for ax, group, limit in ((axes[0], "sector", None), (axes[1], "institution", None),
                                 (axes[2], "exposure", 15)):
            keep = contributions["group"].to_numpy() == group
            i = stat_index(contributions, "ES", top)
            vals = contributions["value"].to_numpy()[i, keep] / BN
            errs = np.nan_to_num(contributions["stderr"].to_numpy()[i, keep]) / BN
            keys = contributions["key"].to_numpy()[keep]
            order = np.argsort(vals)[::-1][:limit]
            ax.barh(keys[order][::-1], vals[order][::-1], color="C0",
                    xerr=Z95 * errs[order][::-1],
                    error_kw={"ecolor": "k", "elinewidth": 0.8, "capsize": 2})
            ax.set(title=f"by {group}" + (" (top 15)" if limit else ""),
                   xlabel="US$ bn (whiskers: 95%)")
            ax.tick_params(axis="y", labelsize=7)
        fig.tight_layout(rect=(0, 0, 1, 0.94))

    figs.add("contributions", f"What drives the tail: Euler contributions to ALL's ES "
                              f"{top:g} of credit loss, with 95% intervals", contrib)


def _cash_fan(figs: _Figures, timeline) -> None:
    """Japan's cumulative net cash: the timeline's quantiles as a fan chart."""

    def fan(fig):
        ax = fig.subplots()
        c = timeline["cumulative_net_cash"].sel(institution="Japan") / BN
        x = np.array(timeline["quarter_end"].values, dtype="datetime64[D]")
        ax.fill_between(x, c.sel(quantile=0.05), c.sel(quantile=0.95), alpha=0.2,
                        color="C0", label="5-95%")
        ax.fill_between(x, c.sel(quantile=0.25), c.sel(quantile=0.75), alpha=0.4,
                        color="C0", label="25-75%")
        ax.plot(x, c.sel(quantile=0.5), color="C0", label="median")
        ax.axhline(0.0, color="k", linewidth=0.6)
        ax.set(ylabel="US$ bn, undiscounted", xlabel="quarter end")
        ax.legend()
        fig.tight_layout(rect=(0, 0, 1, 0.94))

    figs.add("cash_fan", "Japan's cumulative net cash (JBIC and NEXI)", fan)


def _convergence_figure(figs: _Figures, convergence, top: float) -> None:
    """ALL's VaR and ES at the top level on the first N paths, with their intervals."""

    def conv(fig):
        axes = fig.subplots(1, 2)
        for ax, measure in zip(axes, ("VaR", "ES")):
            c = convergence.sel(variable="credit_loss")
            i = stat_index(c, measure, top)
            n = c["paths"].to_numpy()
            ax.fill_between(n, c["ci_low"].to_numpy()[:, i] / BN,
                            c["ci_high"].to_numpy()[:, i] / BN, alpha=0.3, color="C0",
                            label="95% interval")
            ax.plot(n, c["value"].to_numpy()[:, i] / BN, "o-", color="C0", label="estimate")
            ax.set(xscale="log", xlabel="paths", ylabel="US$ bn",
                   title=f"ALL {measure} {top:g} of credit loss")
            ax.legend()
        fig.tight_layout(rect=(0, 0, 1, 0.94))

    figs.add("convergence", "Convergence: the estimate on the first N paths", conv)


def _backstop_figure(figs: _Figures, backstop) -> None:
    """Capital calls on the state by fiscal year: P(call) of each institution and ALL,
    and ALL's expected call and quantiles in yen."""
    from .backstop import BACKSTOP_INSTITUTIONS, BACKSTOP_LEVELS

    frame = backstop.to_dataframe()
    frame = frame[frame.period != "all"]
    years = list(dict.fromkeys(frame.period))
    x = np.arange(len(years))

    def series(inst, measure, level=None):
        f = frame[(frame.institution == inst) & (frame.measure == measure)]
        f = f[f.level.isna()] if level is None else f[f.level == level]
        return f.set_index("period").value_jpy.reindex(years).to_numpy()

    def draw(fig):
        left, right = fig.subplots(1, 2)
        for k, inst in enumerate(BACKSTOP_INSTITUTIONS):
            left.plot(x, 100 * series(inst, "p_call"), "o-" if inst == "ALL" else ".-",
                      color=f"C{k}", label=inst, markersize=3)
        left.set(ylabel="P(capital call) in the year, %", title="probability of a call")
        # the expected call is far below the quantiles: on an axis of its own
        twin = right.twinx()
        twin.bar(x, series("ALL", "expected_call") / 1e9, color="C0", alpha=0.35,
                 label="expected (right axis)")
        twin.set(ylabel="expected call, ¥ bn")
        for lv, style in zip(BACKSTOP_LEVELS, ("--", ":")):
            right.plot(x, series("ALL", "VaR", lv) / 1e9, style, color="C3",
                       label=f"{lv:g} quantile")
        right.set(ylabel="quantile, ¥ bn", title="ALL's call in the year")
        twin.legend(fontsize=8, loc="upper right")
        for ax, where in ((left, "upper right"), (right, "upper left")):
            ax.set_xticks(x[::3], years[::3], rotation=60, fontsize=7)
            ax.legend(fontsize=8, loc=where)
        fig.tight_layout(rect=(0, 0, 1, 0.94))

    figs.add("backstop", "Capital calls on Japan's budget by fiscal year", draw)


def _annual_figure(figs: _Figures, annual) -> None:
    """Credit losses by fiscal year: the mean and two quantiles."""

    def yearly(fig):
        ax = fig.subplots()
        years = list(annual["fiscal_year"].values)
        x = np.arange(len(years))
        ax.bar(x, annual["mean"].sel(quantity="credit_loss") / BN, color="C0", label="mean")
        for lv, style in ((0.99, "--"), (0.999, ":")):
            q = annual["quantile"].sel(quantity="credit_loss", level=lv).to_numpy() / BN
            ax.plot(x, q, style, color="C3", label=f"{lv:g} quantile")
            if "quantile_stderr" in annual:  # (runs before it have no errors)
                se = annual["quantile_stderr"].sel(quantity="credit_loss", level=lv) / BN
                ax.fill_between(x, q - Z95 * se, q + Z95 * se, color="C3", alpha=0.12,
                                label="95% interval" if lv == 0.999 else None)
        ax.set_xticks(x[::2], years[::2], rotation=60, fontsize=7)
        ax.set(ylabel="credit loss in the year, US$ bn")
        ax.legend()
        fig.tight_layout(rect=(0, 0, 1, 0.94))

    figs.add("annual", "Credit losses by fiscal year (booked in the year of default)",
             yearly)


def _side_by_side_figure(figs: _Figures, side_rows, top: float) -> None:
    """ALL's credit EL and ES of every regime and scenario (rows of :func:`_side_by_side`)."""

    def side(fig):
        ax = fig.subplots()
        labels = [r[0] for r in side_rows]
        y = np.arange(len(labels))
        ax.barh(y - 0.2, [r[1] / BN for r in side_rows], 0.4, label="credit EL")
        ax.barh(y + 0.2, [r[3] / BN for r in side_rows], 0.4, label=f"credit ES {top:g}")
        ax.set_yticks(y, labels, fontsize=8)
        ax.invert_yaxis()
        ax.set(xlabel="US$ bn")
        ax.legend()
        fig.tight_layout(rect=(0, 0, 1, 0.94))

    figs.add("regimes_scenarios", "Regimes and scenarios side by side (ALL)", side)


def _side_by_side(summary_all, scenarios, regimes, top, runs=None, regime_names=None):
    """(label, credit EL, its stderr, credit ES top, its stderr, scenario, regime,
    economic EL, its stderr, economic ES top, its stderr, what the row is) of ALL for
    every regime (base case) and every scenario, read from the summary; ``runs``: the
    manifest's ``scenarios`` (their descriptions); ``regime_names``: the config's regimes
    (None: every row of ``regimes``; the others are [[elections]]' groups)."""
    runs = runs or {}
    regime_names = set(regimes if regime_names is None else regime_names)

    def what(scen, regime):
        if regime and regime != "all":
            if regime not in regime_names:  # (elections: the groups beyond the regimes)
                return f"the base case's paths in the group '{regime}' ([[elections]])"
            return f"the base case's paths drawn in regime '{regime}'"
        return (runs.get(scen) or {}).get("description", "") if scen else ""

    rows = []
    base = _first(summary_all)
    first = scenarios[0] if scenarios else ""
    sel0 = {"regime": "all"} if regimes else {}
    for label, ds, sel, scen in (
            [("all regimes" if regimes else "base", base, sel0, first)]
            + [(r, base, {"regime": r}, first) for r in regimes if r != "all"]
            + [(f"scenario {s}", summary_all.sel(scenario=s), sel0, s) for s in scenarios[1:]]):
        el = _stat(ds, "EL", None, institution="ALL", variable="credit_loss", **sel)
        es = _stat(ds, "ES", top, institution="ALL", variable="credit_loss", **sel)
        eel = _stat(ds, "EL", None, institution="ALL", variable="economic_loss", **sel)
        ees = _stat(ds, "ES", top, institution="ALL", variable="economic_loss", **sel)
        if np.isfinite(el[0]):
            regime = sel.get("regime", "")
            rows.append((label, el[0], el[1], es[0], es[1], scen, regime,
                         eel[0], eel[1], ees[0], ees[1], what(scen, regime)))
    return rows


def _cell(value: float, stderr: float | None = None) -> str:
    """A table cell showing US$ bn, carrying the stored value (and stderr) exactly."""
    text = f"{value / BN:,.2f}" if np.isfinite(value) else "n/a"
    if stderr is not None and np.isfinite(stderr):
        text += f" <small>±{stderr / BN:,.2f}</small>"
    attrs = f' data-value="{float(value)!r}"' + (
        f' data-stderr="{float(stderr)!r}"' if stderr is not None else "")
    return f"<td{attrs}>{text}</td>"


def _measures_rows(summary, levels) -> tuple[str, str]:
    """The risk measures table's header cells and rows: EL, VaR and ES at every level of
    each variable, by institution (the program-wide variables for ALL only)."""
    esc = html.escape
    rows = []
    cols = [("EL", None)] + [(m, lv) for m in ("VaR", "ES") for lv in levels]
    for var, shown in [(v, shown) for v, shown in REPORT_ROWS
                       if v in list(summary["variable"].values)]:
        rows.append(f'<tr class="group"><th colspan="{len(cols) + 1}">{esc(var)}'
                    f"{sections.sign_note(var)}</th></tr>")
        for inst in summary["institution"].values:
            if shown == "ALL" and inst != "ALL":
                continue
            cells = "".join(_cell(*_stat(summary, m_, lv, institution=inst, variable=var))
                            for m_, lv in cols)
            rows.append(f'<tr data-institution="{esc(str(inst))}" data-variable="{esc(var)}">'
                        f"<th>{esc(str(inst))}</th>{cells}</tr>")
    head = "".join(f"<th>{m_}{'' if lv is None else f' {lv:g}'}</th>" for m_, lv in cols)
    return head, "".join(rows)


def _side_table(side_rows, top) -> str:
    """The regimes and scenarios table (empty for a run with neither)."""
    esc = html.escape
    if len(side_rows) <= 1:
        return ""
    return ("<h2>Regimes and scenarios (ALL, US$ bn; economic loss includes the tariff "
            "cost)</h2><table><tr><th></th><th>what it is</th>"
            f"<th>credit EL</th><th>credit ES {top:g}</th>"
            f"<th>economic EL</th><th>economic ES {top:g}</th></tr>"
            + "".join(f'<tr data-scenario="{esc(r[5])}" data-regime="{esc(r[6])}">'
                      f"<th>{esc(r[0])}</th><td class=\"what\">{esc(r[11])}</td>"
                      f"{_cell(r[1], r[2])}{_cell(r[3], r[4])}"
                      f"{_cell(r[7], r[8])}{_cell(r[9], r[10])}</tr>"
                      for r in side_rows) + "</table>")


def _contributions_table(contributions, top) -> str:
    """ALL's ES at the top level by sector, largest first (empty without contributions)."""
    esc = html.escape
    if contributions is None:
        return ""
    keep = contributions["group"].to_numpy() == "sector"
    i = stat_index(contributions, "ES", top)
    vals = contributions["value"].to_numpy()[i, keep]
    errs = contributions["stderr"].to_numpy()[i, keep]
    keys = contributions["key"].to_numpy()[keep]
    order = np.argsort(vals)[::-1]
    total = vals.sum()
    return (f"<h2>ES {top:g} of credit loss by sector (Euler contributions)</h2>"
            "<table><tr><th>sector</th><th>US$ bn ± standard error</th><th>share</th></tr>"
            + "".join(f'<tr data-group="sector" data-key="{esc(str(keys[j]))}">'
                      f"<th>{esc(str(keys[j]))}</th>{_cell(vals[j], errs[j])}"
                      f"<td>{vals[j] / total:.1%}</td></tr>"
                      for j in order)
            + f"<tr><th>total (ALL's ES {top:g})</th><td>{total / BN:,.2f}</td><td></td></tr>"
            "</table><p><small>Each contribution's standard error is the sample standard "
            "deviation of its tail-weight influence terms (docs/model.md, risk "
            "contributions); the errors of different sectors are correlated, so they do "
            "not add up to the total's.</small></p>")


def _provenance_rows(manifest, summary) -> str:
    """Where the run came from: its directory, size, seed, inputs, versions and hashes."""
    esc = html.escape
    prov = {"run directory": manifest.get("run_dir", ""), "paths": f"{manifest['paths']:,}",
            "seed": manifest["seed"],
            "results version": f"{of_manifest(manifest)} (the draws a seed gives; docs/model.md, "
                               "Random numbers)",
            "portfolio": manifest.get("portfolio", ""),
            "exposures": manifest.get("n_projects"), "horizon": summary.attrs.get("horizon", ""),
            "economic loss": summary.attrs.get("economic_loss", ""),
            "versions": ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items()),
            "importance sampling": "on" if manifest.get("importance_sampling", {}).get("enabled")
            else "off", "run id": manifest.get("run_id", ""),
            **{k.replace("_", " "): (" ".join(v) if isinstance(v, list) else v)
               for k, v in (manifest.get("provenance") or {}).items()},
            "report written": _dt.datetime.now().isoformat(timespec="seconds")}
    return "".join(f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>"
                   for k, v in prov.items())


def _html(manifest, summary, levels, figures, side_rows, top, contributions, parts) -> str:
    """The page: ``parts`` are the committee's sections (:mod:`report_sections`) by
    name, each HTML with its own figure; ``figures`` the rest."""
    esc = html.escape
    cfg = manifest["config"]
    head, rows = _measures_rows(summary, levels)
    side = _side_table(side_rows, top)
    contrib = _contributions_table(contributions, top)
    by_name = {f[0]: _figure_html(*f) for f in figures}
    fig = {k: by_name.pop(k, "") for k in ("loss_distribution", "contributions",
                                           "regimes_scenarios")}
    figs = "".join(by_name.values())
    prov_rows = _provenance_rows(manifest, summary)
    config = esc(json.dumps(cfg, indent=1, default=str))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>riskengine report: seed {manifest['seed']}, {manifest['paths']:,} paths</title>
<style>
{_CSS}</style></head><body>
<h1>Japan's US investment program: credit risk</h1>
<p>{esc(summary.attrs.get('horizon', ''))}. US$ billions, ± Monte Carlo standard error.
Losses are positive; a negative economic loss is a gain to Japan (shown in green).
Illustrative inputs (see the program's data/README.md).</p>
{parts['base_case']}
<h2>Risk measures</h2>
<table><tr><th></th>{head}</tr>{rows}</table>
{parts['band']}
{fig['loss_distribution']}
{contrib}
{fig['contributions']}
{parts['tornado']}
{side}
{fig['regimes_scenarios']}
{parts['equity']}
{parts['worst_year']}
{parts['backstop']}
<h2>More figures</h2>
{figs}
<h2>Provenance</h2>
<table class="provenance">{prov_rows}</table>
<details><summary>Resolved config</summary><pre>{config}</pre></details>
</body></html>
"""

"""The report's sections for a risk committee (:mod:`riskengine.report` assembles them):
the base case's label, Japan's equity program, the worst fiscal year with its error, the
tornado of the sensitivities and the parameter-uncertainty band.

Each section is a function of the run's files that returns HTML (empty when the run has
nothing for it); a figure is drawn through the report's figure list and placed beside its
table. Table cells carry the number they show in ``data-value`` (``data-stderr``), as the
report's other tables do, so tests read them back exactly.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from .features import config_features
from .measures import LossSample, regression_mean
from .results import mean_controls

BN = 1e9
esc = html.escape

#: loss variables that can be negative, and what a negative value means
SIGN_NOTES = {
    "economic_loss": "negative = gain to Japan",
    "economic_loss_jpy": "negative = gain to Japan",
}

#: quantiles of the equity receipts shown (the low ones are Japan's bad outcomes)
RECEIPT_LEVELS = (0.001, 0.01, 0.05, 0.5, 0.95)
#: years after the start at which the vehicles' P(recoup) is shown (and the horizon)
RECOUP_YEARS = (10, 20)
#: vehicles listed one by one (the rest summed in one row)
MAX_VEHICLES = 25

#: the summary's parameter-uncertainty names (the ``[[uncertainty]]`` work settles
#: them): a dimension whose labels include both of these, and the measure of the share of
#: the loss variance / ES that comes from parameter uncertainty
#: the summary's parameter-uncertainty rows (riskengine.uncertainty)
CONDITIONAL, SHARE_MEASURE = "_conditional", "parameter_uncertainty"


def td(value: float, stderr: float | None = None, unit: str = "bn") -> str:
    """A table cell showing ``value`` (``unit``: ``bn`` for US$ bn, ``pct``, ``int`` or
    ``x`` for as is) with its standard error, carrying both exactly."""
    scale = {"bn": BN, "pct": 0.01}.get(unit, 1.0)
    form = {"bn": "{:,.2f}", "pct": "{:.1f}%", "int": "{:,.0f}"}.get(unit, "{:g}")
    ok = value is not None and np.isfinite(value)
    text = form.format(value / scale) if ok else "n/a"
    if stderr is not None and np.isfinite(stderr):
        text += f" <small>±{form.format(stderr / scale)}</small>"
    attrs = f' data-value="{float(value)!r}"' if ok else ' data-value="nan"'
    if stderr is not None:
        attrs += f' data-stderr="{float(stderr)!r}"'
    return f"<td{attrs}>{text}</td>"


def sign_note(variable: str) -> str:
    """The note beside a variable that can be negative (HTML), else ''."""
    note = SIGN_NOTES.get(variable)
    return f' <small class="sign">({esc(note)})</small>' if note else ""


# ---- the base case ------------------------------------------------------------------

def base_case_html(manifest: dict, scenarios: list, regimes: list) -> str:
    """What the headline is: paths, seed, the regime mix and every risk feature's setting
    (the manifest's ``risk_features``; a run written before it recorded them gets the
    config's part and says the portfolio's is not recorded)."""
    cfg = manifest.get("config", {})
    features = manifest.get("risk_features")
    if features is None:
        features = {**config_features(cfg),
                    "portfolio features": "not recorded by this run (cyclical LGD, "
                                          "recovery lag, overruns)"}
    rows = {"paths": f"{manifest['paths']:,}", "seed": str(manifest["seed"])}
    if scenarios:
        rows["case"] = (f"the base case ({scenarios[0]}) of {len(scenarios)} scenarios run on "
                        "the same paths")
    rows.update(features)
    rows["importance sampling"] = (
        "on" if (manifest.get("importance_sampling") or {}).get("enabled") else "off")
    if regimes:
        rows["regimes"] = (rows.get("regimes", "") + " (the headline mixes them; each "
                           "regime's figures are conditional)")
    body = "".join(f'<tr data-feature="{esc(k)}"><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>'
                   for k, v in rows.items())
    return ('<h2 id="base-case">Base case: what the headline assumes</h2>'
            '<p>Every figure below is conditional on these settings; a feature that is off '
            'is not in the tail.</p><table class="provenance base-case">' + body + "</table>")


# ---- the equity program -------------------------------------------------------------

def _quantiles(x: np.ndarray, w) -> list[tuple[float, float]]:
    s = LossSample(x, w)
    return [(e.value, e.stderr) for e in (s.var(a) for a in RECEIPT_LEVELS)]


def receipts_rows(paths, weight, controls=None) -> list[tuple[str, tuple, list]]:
    """(who, (mean, stderr), [(quantile, stderr) at :data:`RECEIPT_LEVELS`]) of Japan's
    and the US's equity receipts over the horizon, undiscounted, from the per-path data
    (under importance sampling the mean is the regression estimator on ``controls``, as
    the summary's: :func:`riskengine.results.mean_controls`)."""
    rows = []
    n = paths.sizes["path"]
    w1 = np.ones(n) if weight is None else weight
    for who, var in (("Japan", "japan_receipts"), ("US", "us_receipts")):
        x = paths[var].sel(institution="JBIC").to_numpy()
        wx = w1 * x
        mean = ((float(wx.mean()), float(wx.std(ddof=1) / np.sqrt(n))) if controls is None
                else regression_mean(wx, controls))
        rows.append((who, mean, _quantiles(x, weight)))
    return rows


def _receipts_table(rows, share: float) -> str:
    head = "".join(f"<th>{a:.1%} quantile</th>" if a < 0.5 else
                   ("<th>median</th>" if a == 0.5 else f"<th>{a:.0%} quantile</th>")
                   for a in RECEIPT_LEVELS)
    body = "".join(
        f'<tr data-receipts="{who}"><th>{who}</th>{td(*mean)}'
        + "".join(td(*q) for q in qs) + "</tr>" for who, mean, qs in rows)
    return ("<table class=\"receipts\"><tr><th>receipts, US$ bn</th><th>mean</th>"
            f"{head}</tr>{body}</table><p>Japan's share of the expected receipts: "
            f"{share:.1%}. The low quantiles are the bad outcomes for the receiver.</p>")


def tiers_text(config: dict) -> str:
    """The waterfall's tiers in words (the MOU's: Japan 50% until its deemed allocation is
    repaid, then 10%)."""
    tiers = (config.get("waterfall") or {}).get("tiers") or []
    parts = [f"{t['japan_share']:.0%} to Japan"
             + (" until its deemed allocation (capital plus deemed interest) is repaid"
                if t.get("until") == "deemed_allocation" else "") for t in tiers]
    return ("Distributions go " + ", then ".join(parts) + "; the US receives the rest."
            if parts else "")


def _month(day) -> str:
    """'Sep 2035' of a datetime64 day."""
    return pd.Timestamp(day).strftime("%b %Y")


def vehicle_table(projects, recoup, steps_per_year: int) -> tuple[str, list]:
    """P(recoup) of each equity vehicle by 10 and 20 years and the horizon, with its
    commitment, median recoup date and expected receipts; the largest vehicles one by one.
    Returns the HTML and the vehicle ids in table order."""
    eq = projects.where(projects.instrument == "equity", drop=True)
    order = np.argsort(-eq.commitment_usd.to_numpy(), kind="stable")
    ids = [str(v) for v in eq.project.values[order]]
    p = recoup["p_recouped_by"].sel(project=ids).to_numpy()
    ends = np.array(recoup["quarter_end"].values, dtype="datetime64[D]")
    cols = [int(y * steps_per_year) - 1 for y in RECOUP_YEARS
            if y * steps_per_year <= p.shape[1]] + [p.shape[1] - 1]
    head = "".join(f"<th>by {_month(ends[k])}</th>" for k in cols)
    rq = eq.recoup_quarter_median.to_numpy()[order]
    rows = []
    for i, vid in enumerate(ids[:MAX_VEHICLES]):
        when = (_month(ends[int(rq[i])]) if np.isfinite(rq[i]) and rq[i] < len(ends)
                else "no path")
        rows.append(f'<tr data-vehicle="{esc(vid)}"><th>{esc(vid)}</th>'
                    f"{td(float(eq.commitment_usd.values[order][i]))}"
                    + "".join(td(float(p[i, k]), unit="pct") for k in cols)
                    + f"<td>{esc(when)}</td>"
                    f"{td(float(eq.japan_receipts_mean.values[order][i]))}"
                    f"{td(float(eq.us_receipts_mean.values[order][i]))}"
                    f"{td(float(eq.irr_japan_median.values[order][i]), unit='pct')}</tr>")
    if len(ids) > MAX_VEHICLES:
        rest = order[MAX_VEHICLES:]
        rows.append(f"<tr><th>{len(rest)} others</th>"
                    f"{td(float(eq.commitment_usd.values[rest].sum()))}"
                    + "<td></td>" * (len(cols) + 1)
                    + f"{td(float(eq.japan_receipts_mean.values[rest].sum()))}"
                    f"{td(float(eq.us_receipts_mean.values[rest].sum()))}<td></td></tr>")
    table = ("<table class=\"vehicles\"><tr><th>vehicle</th><th>commitment, US$ bn</th>"
             f"{head}<th>median recoup date (of the paths that recoup)</th>"
             "<th>Japan receives, US$ bn</th>"
             f"<th>US receives, US$ bn</th><th>Japan's median IRR</th></tr>"
             f"{''.join(rows)}</table>")
    return table, ids


def has_equity(manifest: dict, data: dict) -> bool:
    """Whether the run has an equity program to report (``data``: the base case's
    Datasets by file name)."""
    return (bool(manifest.get("equity_program")) and data.get("recoup") is not None
            and "japan_receipts" in data["paths"])


def equity_html(manifest: dict, data: dict, summary, stat, top: float, figure: str) -> str:
    """The equity program: Japan's vs the US's receipts (means and tails), the deemed
    allocations still unpaid at the horizon (EL, VaR and ES of ``equity_shortfall``),
    P(every allocation repaid) and each vehicle's P(recoup) by horizon. ``data``: the
    base case's Datasets by file name; ``stat`` reads one summary entry as (value,
    stderr); ``figure`` is the section's figure's HTML."""
    if not has_equity(manifest, data):
        return ""
    eq = manifest["equity_program"]
    paths, projects, recoup = data["paths"], data["projects"], data["recoup"]
    weight = paths["weight"].to_numpy() if "weight" in paths else None
    base = next(iter(manifest["scenarios"])) if manifest.get("scenarios") else None
    rows = receipts_rows(paths, weight, mean_controls(paths, manifest, base))
    share = rows[0][1][0] / (rows[0][1][0] + rows[1][1][0])
    steps = manifest["config"]["simulation"]["steps_per_year"]
    vehicles, _ = vehicle_table(projects, recoup, steps)
    short = [stat(summary, m, lv, institution="ALL", variable="equity_shortfall")
             for m, lv in (("EL", None), ("VaR", top), ("ES", top))]
    return (
        '<h2 id="equity">Equity program: who receives what, and what Japan is still owed'
        "</h2>"
        f"<p>US$ {eq['equity_commitment_usd'] / BN:,.1f}bn committed to "
        f"{len(projects.where(projects.instrument == 'equity', drop=True).project)} "
        f"equity vehicles. {esc(tiers_text(manifest['config']))} Receipts are "
        "horizon totals, undiscounted.</p>"
        + _receipts_table(rows, share)
        + '<table class="recoup-all"><tr><th></th><th>value</th></tr>'
        f'<tr data-equity="p_recoup_all"><th>P(every deemed allocation repaid by the '
        f"horizon)</th>{td(eq['p_recoup_all'], eq.get('p_recoup_all_stderr'), 'pct')}</tr>"
        + "".join(f'<tr data-equity="equity_shortfall" data-measure="{m}">'
                  f"<th>deemed allocations unpaid at the horizon, {m}"
                  f"{'' if lv is None else f' {lv:g}'} (US$ bn)</th>{td(*s)}</tr>"
                  for (m, lv), s in zip((("EL", None), ("VaR", top), ("ES", top)), short))
        + "</table><h3>P(Japan has recouped its deemed allocation) by vehicle</h3>"
        + vehicles + figure)


def equity_figure(figs, data: dict) -> None:
    """Japan's and the US's receipts (distribution) and each vehicle's P(recouped by)."""
    paths, recoup = data["paths"], data["recoup"]
    weight = paths["weight"].to_numpy() if "weight" in paths else None

    def draw(fig):
        axes = fig.subplots(1, 2)
        for who, var, color in (("Japan", "japan_receipts", "C3"), ("US", "us_receipts", "C0")):
            x = paths[var].sel(institution="JBIC").to_numpy() / BN
            axes[0].hist(x, bins=80, weights=weight, histtype="step", color=color,
                         density=True, label=who)
            axes[0].axvline(np.average(x, weights=weight), color=color, linestyle=":",
                            linewidth=1, label=f"{who} mean")
        axes[0].set(xlabel="receipts over the horizon, US$ bn (undiscounted)",
                    ylabel="density", title="equity receipts")
        axes[0].legend(fontsize=8)
        x = np.array(recoup["quarter_end"].values, dtype="datetime64[D]")
        p = recoup["p_recouped_by"].to_numpy()
        axes[1].plot(x, p.mean(axis=0), color="k", linewidth=2, label="average vehicle")
        for j in np.argsort(p[:, -1])[::-1][:5]:
            axes[1].plot(x, p[j], linewidth=0.9, label=str(recoup.project.values[j]))
        axes[1].set(ylabel="P(deemed allocation repaid by then)", ylim=(0, 1),
                    xlabel="quarter end", title="recoup (five most likely vehicles)")
        axes[1].legend(fontsize=7)
        fig.tight_layout(rect=(0, 0, 1, 0.94))

    figs.add("equity", "Japan's equity program: receipts and when it recoups", draw)


# ---- the worst fiscal year ----------------------------------------------------------

def worst_year(annual, level: float) -> dict | None:
    """The fiscal year with the largest credit-loss ``level`` quantile: its label, the
    quantile, its standard error, the sampled paths and the paths in its tail."""
    if annual is None or level not in annual["level"].values:
        return None
    q = annual["quantile"].sel(quantity="credit_loss", level=level).to_numpy()
    if not np.isfinite(q).any():
        return None
    y = int(np.nanargmax(q))
    n = int(annual["quantile"].attrs.get("paths", 0))
    se = (float(annual["quantile_stderr"].sel(quantity="credit_loss", level=level)[y])
          if "quantile_stderr" in annual else float("nan"))
    tail = (int(annual["tail_paths"].sel(quantity="credit_loss", level=level)[y])
            if "tail_paths" in annual else n - int(np.ceil(n * level)) + 1)
    return {"year": str(annual["fiscal_year"].values[y]), "value": float(q[y]),
            "stderr": se, "paths": n, "tail_paths": tail, "level": level}


def worst_year_html(annual, levels=(0.99, 0.999)) -> str:
    """The worst fiscal year's credit-loss quantiles, each with its error and what it
    rests on."""
    rows = [w for w in (worst_year(annual, lv) for lv in levels) if w is not None]
    if not rows:
        return ""
    body = "".join(
        f'<tr data-worst-year="{w["level"]!r}"><th>{w["level"]:g}</th><td>{esc(w["year"])}</td>'
        f"{td(w['value'], w['stderr'])}{td(w['tail_paths'], unit='int')}"
        f"{td(w['paths'], unit='int')}</tr>" for w in rows)
    thin = min(w["tail_paths"] for w in rows)
    return ('<h2 id="worst-year">Worst fiscal year (credit loss booked in the year)</h2>'
            "<table><tr><th>quantile</th><th>fiscal year</th><th>US$ bn</th>"
            "<th>paths in its tail</th><th>sampled paths</th></tr>" + body + "</table>"
            f"<p>The yearly quantiles are taken over the timeline's sampled paths, not all "
            f"paths: the {rows[-1]['level']:g} quantile rests on {thin} paths"
            + (" (too few for an error: n/a)" if thin < 10 else "")
            + ("" if "quantile_stderr" in annual else
               "; this run did not record the quantiles' errors")
            + ". More: raise <code>outputs.timeline_paths</code>.</p>")


# ---- the tornado --------------------------------------------------------------------

def _label(row, direction: str) -> str:
    """An input's low or high value as the spec wrote it (a number, or the text of a
    choice such as the tariff's form)."""
    label = row.get(f"value_label_{direction}")
    return str(label) if isinstance(label, str) else f"{row[f'value_{direction}']:g}"


def tornado_rows(frame: pd.DataFrame, institution: str = "ALL",
                 variable: str = "credit_loss", measure: str = "ES",
                 level: float = 0.999) -> pd.DataFrame:
    """One row per input of one entry (default ALL's credit ES 0.999): the low and high
    values, changes and paired errors, sorted by the larger of |low| and |high|, largest
    first (the order of the terminal's table)."""
    from .sensitivity import top_inputs

    n = frame["input"].nunique()
    return top_inputs(frame, n=n, institution=institution, variable=variable,
                      measure=measure, level=level)


def tornado_figure(figs, rows: pd.DataFrame, base: float, level: float = 0.999) -> None:
    """Low and high bars of each input's change side by side, with 95% whiskers (1.96
    paired standard errors), largest at the top; inputs that do not move it are left to
    the table."""
    moved = rows[rows["size"] > 0]

    def draw(fig):
        ax = fig.subplots()
        y = np.arange(len(moved))
        for direction, color, dy in (("low", "C0", -0.19), ("high", "C3", 0.19)):
            change = moved[f"change_{direction}"].to_numpy() / BN
            err = 1.96 * np.nan_to_num(moved[f"stderr_{direction}"].to_numpy()) / BN
            ax.barh(y + dy, change, 0.38, color=color, alpha=0.8, label=f"{direction} value",
                    xerr=err, error_kw={"ecolor": "k", "elinewidth": 0.8, "capsize": 2})
        ax.set_yticks(y, [str(i) for i in moved.index], fontsize=7)
        ax.set_ylim(len(moved) - 0.5, -0.5)
        ax.axvline(0.0, color="k", linewidth=0.8)
        ax.set(xlabel=f"change in ALL's ES {level:g} of credit loss, US$ bn "
                      f"(base {base / BN:,.1f}bn; whiskers: 95%, paired)")
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout(rect=(0, 0, 1, 0.94))

    figs.add("tornado", f"Sensitivities: what moves ALL's ES {level:g} of credit loss",
             draw)


def tornado_html(frame: pd.DataFrame, figs, level: float = 0.999) -> str:
    """The tornado section: its figure (drawn into the report's ``figs`` and placed here)
    and the table of every input's low and high change with its paired error."""
    rows = tornado_rows(frame, level=level)
    sel = frame[(frame["institution"] == "ALL") & (frame["variable"] == "credit_loss")
                & (frame["measure"] == "ES") & np.isclose(frame["level"], level)]
    base = float(sel["base"].iloc[0]) if "base" in sel else float("nan")
    tornado_figure(figs, rows, base, level)
    body = "".join(
        f'<tr data-input="{esc(str(name))}"><th>{esc(str(name))}</th>'
        f"<td>{esc(_label(r, 'low'))}</td>{td(r['change_low'], r['stderr_low'])}"
        f"<td>{esc(_label(r, 'high'))}</td>{td(r['change_high'], r['stderr_high'])}</tr>"
        for name, r in rows.iterrows())
    a = frame.attrs
    return ('<h2 id="tornado">Sensitivities (tornado)</h2>'
            f"<p>Each input of the spec set to its low and its high value, on "
            f"{int(a.get('paths', 0)):,} paths (seed {a.get('seed', '?')}), every run on the "
            f"same random numbers: the change in ALL's ES {level:g} of credit loss from the "
            f"base {base / BN:,.2f}bn (the sensitivity's own base run: it need not be the "
            f"headline's paths and seed), ± its paired standard error. An input that moves "
            f"only the economic loss (pricing, the tariff, the yen) shows 0 here. The spec: "
            f"{esc(str(a.get('spec', '')))}.</p>" + figs.take("tornado")
            + "<table class=\"tornado\"><tr><th>input</th><th>low</th><th>change, US$ bn</th>"
            f"<th>high</th><th>change, US$ bn</th></tr>{body}</table>")


# ---- the parameter-uncertainty band -------------------------------------------------

def has_uncertainty(summary) -> bool:
    """Whether the summary carries parameter uncertainty's rows (:mod:`riskengine.uncertainty`:
    ``EL_conditional``, ..., and the ``parameter_uncertainty`` shares)."""
    return f"EL{CONDITIONAL}" in {str(v) for v in summary["measure"].values}


def uncertainty_html(summary, stat, top: float) -> str:
    """ALL's credit EL and ES ``top`` conditional on the parameters' point values beside
    the predictive figures (parameters drawn: the run's own), and the parameter share,
    when the summary has them (else '')."""
    if not has_uncertainty(summary):
        return ""
    if "regime" in summary.dims:
        summary = summary.sel(regime="all")
    if "scenario" in summary.dims:
        summary = summary.isel(scenario=0)
    rows = []
    for m, lv in (("EL", None), ("ES", top)):
        cond = stat(summary, f"{m}{CONDITIONAL}", lv, institution="ALL",
                    variable="credit_loss")
        pred = stat(summary, m, lv, institution="ALL", variable="credit_loss")
        rows.append(f'<tr data-band="{m}"><th>{m}{"" if lv is None else f" {lv:g}"}</th>'
                    f"{td(*cond)}{td(*pred)}{td(pred[0] - cond[0])}</tr>")
    keep = summary["measure"].to_numpy() == SHARE_MEASURE
    s = summary.sel(institution="ALL", variable="credit_loss")
    vals = s["value"].to_numpy()[..., keep].ravel()
    lvls = summary["level"].to_numpy()[keep]
    shares = "; ".join(f"{'variance' if not np.isfinite(lv) else f'ES {lv:g}'}: {v:.0%}"
                       for lv, v in zip(lvls, vals))
    return ('<h2 id="uncertainty">Parameter uncertainty (ALL, credit loss)</h2>'
            "<table><tr><th></th><th>conditional (parameters at their point values)</th>"
            "<th>predictive (parameters drawn)</th><th>band</th></tr>"
            + "".join(rows) + "</table>"
            + f"<p>Share that comes from parameter uncertainty: {esc(shares)}. The other "
              "tables show the predictive figures.</p>")


# ---- the taxpayer's backstop ---------------------------------------------------------

def backstop_html(backstop, config: dict) -> str:
    """What Japan's budget may have to carry: P(capital call) by institution, ALL's
    expected call and quantiles in yen and as a share of the General Account, for the
    fiscal years with P(call) of ALL at least 1% and over the whole horizon."""
    from .backstop import BACKSTOP_LEVELS, SHOWN_P_CALL, backstop_table, capital_basis

    if backstop is None or "capital" not in config or config["capital"] is None:
        return ""
    rows = backstop_table(backstop)
    top = max(BACKSTOP_LEVELS)

    def yen(x):
        return f'<td data-value="{float(x)!r}">{x / 1e9:,.1f}</td>'

    def pct(x, digits=2):
        return f'<td data-value="{float(x)!r}">{x:.{digits}%}</td>'

    body = "".join(
        f'<tr data-period="{esc(r["period"])}"><th>'
        f'{"whole horizon" if r["period"] == "all" else esc(r["period"])}</th>'
        + "".join(pct(r[f"p_{i}"]) for i in ("ALL", "JBIC", "NEXI"))
        + yen(r["expected"]) + "".join(yen(r[f"var_{a:g}"]) for a in BACKSTOP_LEVELS)
        + pct(r["top_share_ga"]) + pct(r["top_share_gdp"]) + "</tr>" for r in rows)
    n = int(backstop.attrs.get("paths", 0))
    return ('<h2 id="backstop">What Japan\'s budget may have to carry</h2>'
            "<p>A capital call on the state: the credit loss in yen booked in a fiscal year "
            "(each default at its step's USD/JPY) beyond that year's earnings and the "
            "capital the institution has left; capital is depleted, not rebuilt. ALL is "
            f"JBIC's and NEXI's calls together. {esc(capital_basis(config))}.</p>"
            "<table><tr><th>fiscal year</th><th>P(call) ALL</th><th>JBIC</th><th>NEXI</th>"
            "<th>expected call, ¥ bn</th>"
            + "".join(f"<th>{a:g} quantile, ¥ bn</th>" for a in BACKSTOP_LEVELS)
            + f"<th>{top:g} / General Account</th><th>{top:g} / GDP</th></tr>"
            + body + "</table>"
            f"<p>The fiscal years shown have P(call) of ALL at least {SHOWN_P_CALL:.0%}; "
            "every year, each institution and the shares of both denominators are in "
            f"backstop.parquet. Over all {n:,} paths; {int(backstop.attrs.get('calling_paths', 0)):,} "
            "of them call at least once.</p>")

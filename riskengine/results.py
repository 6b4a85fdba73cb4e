"""Result of a run: per-path losses, the risk-measure summary and per-project figures as
``xarray.Dataset``s, plus the run's metadata for the manifest."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import xarray as xr

from .codes import INSTITUTIONS, Institution
from .measures import LossSample, mean_with_stderr, measure_table, unit_tail, var_index
from .schedules import step_end_dates

LOSS_VARIABLES = ("credit_loss", "economic_loss")
#: what the summary reports beyond the loss variables of paths.parquet, and where it reads
#: them: Japan's deemed allocation still unpaid at the horizon is its equity shortfall
DERIVED_VARIABLES = {"equity_shortfall": "deemed_outstanding"}
SUMMARY_INSTITUTIONS = (*INSTITUTIONS, "ALL")


def package_versions() -> dict[str, str]:
    """Versions of riskengine, Python and the numerical libraries (for manifests)."""
    import numba
    import pyarrow
    import pydantic
    import scipy

    from . import __version__

    return {"riskengine": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "scipy": scipy.__version__,
            "xarray": xr.__version__, "pyarrow": pyarrow.__version__,
            "pydantic": pydantic.__version__}


@dataclass
class Result:
    """Datasets of one run (see the README's "Outputs" for every field).

    Attributes
    ----------
    paths : Dataset, dims (path, institution): credit_loss, economic_loss, weight
    projects : Dataset, dim project: id, sector, institution, instrument and simulated
        default probability and expected credit loss
    meta : dict, everything the manifest records besides the datasets
    """

    paths: xr.Dataset
    projects: xr.Dataset
    levels: tuple[float, ...]
    meta: dict = field(default_factory=dict)
    timeline: xr.Dataset | None = None
    recoup: xr.Dataset | None = None
    annual: xr.Dataset | None = None

    @classmethod
    def from_simulation(cls, model, out, totals, sampled, timings: dict,
                        importance_sampling: dict | None = None) -> Result:
        """Assemble the Datasets of a finished simulation.

        Parameters
        ----------
        model : riskengine.kernel_inputs.Model
        out : PathOutputs
            Per-path outputs of every path.
        totals : Accumulators
            The per-block accumulators summed over blocks (leading axis dropped).
        sampled : SampledPaths
            The timeline and IRR sample paths.
        """
        cfg = model.config
        credit, econ, weight = out.credit_loss, out.economic_loss, out.weight
        n = credit.shape[0]
        pf = model.portfolio
        usd = {"units": "USD"}
        paths = xr.Dataset(
            {
                "credit_loss": (("path", "institution"), credit,
                                {"units": "USD", "long_name": "principal lost in defaults"}),
                "economic_loss": (("path", "institution"), econ,
                                  {"units": "USD", "long_name": "minus NPV of the institution's cash flows"}),
            },
            coords={"path": np.arange(n, dtype=np.int64), "institution": list(INSTITUTIONS)},
        )
        if len(model.equity_index):
            for name, values, long in (
                    ("japan_receipts", out.japan_receipts,
                     "equity distributions to Japan inside the horizon (undiscounted)"),
                    ("us_receipts", out.us_receipts,
                     "equity distributions to the US inside the horizon (undiscounted)"),
                    ("deemed_outstanding", out.deemed_outstanding,
                     "deemed allocation not yet repaid at the horizon")):
                v = np.zeros_like(credit)  # equity is JBIC's: NEXI's rows are 0
                v[:, Institution.JBIC] = values
                paths[name] = (("path", "institution"), v, {**usd, "long_name": long})
        if not np.all(weight == 1.0):
            paths["weight"] = (("path",), weight, {"long_name": "importance-sampling likelihood ratio"})
        wsum = n  # estimators are (1/n) sum w x
        nan = np.full(pf.n_projects, np.nan)
        eq = model.equity_index
        irr, irr_stride = sampled.irr, sampled.irr_stride
        japan_mean, us_mean, p_recoup, rq_median, irr_median = (nan.copy() for _ in range(5))
        if len(eq):
            japan_mean[eq] = totals.japan_receipts[eq] / wsum
            us_mean[eq] = totals.us_receipts[eq] / wsum
            p_recoup[eq] = totals.recouped[eq] / wsum
            for e, p in enumerate(eq):
                h = totals.recoup_step[e]
                tot = h.sum()
                if tot > 0:
                    rq_median[p] = float(np.searchsorted(np.cumsum(h), 0.5 * tot))
                col = irr[:, e]
                ok = ~np.isnan(col)
                if ok.any():
                    w_irr = weight[::irr_stride][: len(col)][ok]
                    irr_median[p] = LossSample(col[ok], w_irr * ok.sum() / w_irr.sum()).var_value(0.5)
        projects = xr.Dataset(
            {
                "pd_input_horizon": (("project",), model.pd_horizon,
                                     {"long_name": "default probability by the horizon implied by the inputs"}),
                "pd_simulated": (("project",), totals.defaults / wsum,
                                 {"long_name": "simulated default probability by the horizon"}),
                "expected_credit_loss": (("project",), totals.credit_loss / wsum, usd),
                "japan_receipts_mean": (("project",), japan_mean,
                                        {**usd, "long_name": "Japan's equity receipts, horizon total, mean"}),
                "us_receipts_mean": (("project",), us_mean,
                                     {**usd, "long_name": "US equity receipts, horizon total, mean"}),
                "p_recoup": (("project",), p_recoup,
                             {"long_name": "probability the deemed balance is repaid by the horizon"}),
                "recoup_quarter_median": (("project",), rq_median,
                                          {"long_name": "median recoup quarter over recouping paths"}),
                "irr_japan_median": (("project",), irr_median,
                                     {"long_name": f"median of Japan's annual IRR ({irr.shape[0]} paths, every {irr_stride}th)"}),
            },
            coords={
                "project": np.asarray(pf.table["project_id"], dtype=object).astype(str),
                "sector": ("project", np.asarray(pf.table["sector"]).astype(str)),
                "institution": ("project", np.asarray(pf.table["institution"]).astype(str)),
                "instrument": ("project", np.asarray(pf.table["instrument"]).astype(str)),
                "commitment_usd": ("project", pf.col("commitment_usd")),
            },
        )
        timeline = sampled.timeline
        n_tl = timeline.shape[0]
        deemed = totals.deemed_balance / max(n_tl, 1)
        tl_weight = weight[::sampled.timeline_stride][:n_tl]
        timeline_ds = _timeline(cfg, timeline, tl_weight, deemed)
        meta = {
            "config": cfg.to_dict(),
            "seed": cfg.simulation.seed,
            "paths": n,
            "n_projects": pf.n_projects,
            "n_quarters": cfg.simulation.n_quarters,
            "portfolio": pf.source,
            "ignored_columns": list(pf.ignored_columns),
            "correlation": {
                "min_eigenvalue": model.correlation.min_eigenvalue,
                "repaired": model.correlation.repaired,
                "repair_frobenius": model.correlation.repair_frobenius,
                "repair_max_abs": model.correlation.repair_max_abs,
                "matrix": np.asarray(model.correlation.matrix).tolist(),
            },
            "versions": package_versions(),
            "timings": dict(timings),
            "importance_sampling": importance_sampling or {"enabled": False},
        }
        recoup_ds = None
        if len(eq):
            # distribution of the recoup quarter: P(B_0 is repaid by the end of quarter k
            # and stays repaid to the horizon); its last column is p_recoup
            recoup_ds = xr.Dataset(
                {"p_recouped_by": (("project", "quarter"), np.cumsum(totals.recoup_step, axis=1) / wsum,
                                   {"long_name": "probability the deemed allocation is repaid by "
                                                 "the end of the quarter (and stays repaid)"})},
                coords={"project": projects.project.values[eq],
                        "quarter": timeline_ds.quarter.values,
                        "quarter_end": ("quarter", timeline_ds.quarter_end.values)})
        annual_ds = _annual(cfg, totals.annual / wsum, sampled.annual, tl_weight)
        res = cls(paths=paths, projects=projects, levels=cfg.measures.levels, meta=meta,
                  timeline=timeline_ds, recoup=recoup_ds, annual=annual_ds)
        if len(eq):
            res.meta["equity_program"] = res.equity_program()
        return res

    def equity_program(self) -> dict:
        """Japan's equity program on the whole: probability that every deemed allocation is
        repaid by the horizon, and expected receipts of Japan and the US (undiscounted)."""
        if "japan_receipts" not in self.paths:
            return {}
        n = self.paths.sizes["path"]
        w = self.weight if self.weight is not None else np.ones(n)
        commit = float(self.projects.commitment_usd.where(self.projects.instrument == "equity").sum())
        dead = self.paths["deemed_outstanding"].sel(institution="JBIC").to_numpy()
        recouped = (dead <= 1e-9 * commit).astype(float) * w
        japan = self.paths["japan_receipts"].sel(institution="JBIC").to_numpy() * w
        us = self.paths["us_receipts"].sel(institution="JBIC").to_numpy() * w
        out = {"equity_commitment_usd": commit}
        for name, x in (("p_recoup_all", recouped), ("japan_receipts", japan), ("us_receipts", us)):
            mean, se = mean_with_stderr(x)
            out[name if name == "p_recoup_all" else f"{name}_mean"] = mean
            out[f"{name}_stderr"] = se
        return out

    # ---- derived --------------------------------------------------------------------
    @property
    def loss_variables(self) -> tuple[str, ...]:
        """The summary's variables: credit and economic loss, and with equity the
        shortfall on Japan's deemed allocation at the horizon."""
        extra = tuple(v for v, src in DERIVED_VARIABLES.items() if src in self.paths)
        return LOSS_VARIABLES + extra

    def loss(self, variable: str, institution: str) -> np.ndarray:
        """Per-path losses of one variable for JBIC, NEXI or ALL."""
        da = self.paths[DERIVED_VARIABLES.get(variable, variable)]
        if institution == "ALL":
            return da.sum("institution").to_numpy()
        return da.sel(institution=institution).to_numpy()

    @property
    def weight(self):
        return self.paths["weight"].to_numpy() if "weight" in self.paths else None

    @cached_property
    def summary(self) -> xr.Dataset:
        """Dims (institution, variable, stat); ``measure`` and ``level`` label each stat."""
        variables = self.loss_variables
        rows = {}
        for inst in SUMMARY_INSTITUTIONS:
            for var in variables:
                rows[inst, var] = measure_table(self.loss(var, inst), self.weight, self.levels)
        first = next(iter(rows.values()))
        measure = [m for m, _, _ in first]
        level = np.array([lv for _, lv, _ in first], dtype=float)
        shape = (len(SUMMARY_INSTITUTIONS), len(variables), len(first))
        data = {k: np.empty(shape) for k in ("value", "stderr", "ci_low", "ci_high")}
        for i, inst in enumerate(SUMMARY_INSTITUTIONS):
            for j, var in enumerate(variables):
                for s, (_, _, est) in enumerate(rows[inst, var]):
                    data["value"][i, j, s] = est.value
                    data["stderr"][i, j, s] = est.stderr
                    data["ci_low"][i, j, s] = est.ci_low
                    data["ci_high"][i, j, s] = est.ci_high
        dims = ("institution", "variable", "stat")
        return xr.Dataset(
            {k: (dims, v, {"units": "USD"}) for k, v in data.items()},
            coords={"institution": list(SUMMARY_INSTITUTIONS), "variable": list(variables),
                    "measure": ("stat", measure), "level": ("stat", level)},
            attrs={"ci": "95% confidence interval", "var_convention": "inverted_cdf",
                   "es_convention": "Acerbi-Tasche 2002", **self.basis()},
        )

    def basis(self) -> dict[str, str]:
        """What the loss figures are: horizon, currency, discounting (summary attributes
        and the terminal's table titles)."""
        cfg = self.meta.get("config", {})
        sim, rates = cfg.get("simulation", {}), cfg.get("rates", {})
        if not sim:
            return {}
        from .schedules import step_end_dates

        end = step_end_dates(sim["as_of"], sim["steps_per_year"],
                             int(round(sim["horizon_years"] * sim["steps_per_year"])))[-1]
        return {
            "horizon": f"{sim['horizon_years']:g} years, {sim['as_of']} to {end}",
            "currency": "USD",
            "credit_loss": "principal lost in defaults over the horizon, undiscounted",
            "equity_shortfall": "Japan's deemed allocations (capital plus deemed interest, "
                                "less its receipts) still unpaid at the horizon, undiscounted",
            "economic_loss": f"minus the present value at {sim['as_of']} of the cash flows, "
                             f"discounted at {rates.get('discount_rate', float('nan')):.2%} "
                             "a year; survivors valued at the horizon",
        }

    def estimate(self, measure: str, variable: str = "credit_loss", institution: str = "ALL",
                 level: float | None = None) -> tuple[float, float]:
        """``(value, stderr)`` of one summary entry, e.g. ``estimate("ES", level=0.99)``."""
        s = self.summary.sel(institution=institution, variable=variable)
        mask = s["measure"].to_numpy() == measure
        if level is not None:
            mask &= np.isclose(s["level"].to_numpy(), level)
        idx = np.flatnonzero(mask)
        if len(idx) != 1:
            raise KeyError(f"no unique summary entry for {measure!r} at level {level}")
        return float(s["value"].to_numpy()[idx[0]]), float(s["stderr"].to_numpy()[idx[0]])

    def value(self, measure: str, variable: str = "credit_loss", institution: str = "ALL",
              level: float | None = None) -> float:
        """One number of the summary, e.g. ``value("ES", level=0.99)``."""
        return self.estimate(measure, variable, institution, level)[0]

    def summary_frame(self):
        """The summary as a long pandas DataFrame (the rows of summary.parquet)."""
        return self.summary.to_dataframe().reset_index()

    def datasets(self) -> dict[str, xr.Dataset]:
        out = {"paths": self.paths, "summary": self.summary, "projects": self.projects}
        if self.timeline is not None:
            out["timeline"] = self.timeline
        if self.recoup is not None:
            out["recoup"] = self.recoup
        if self.annual is not None:
            out["annual"] = self.annual
        return out

    def to_dataset(self) -> xr.Dataset:
        """The summary Dataset (the headline numbers); see also ``datasets()``."""
        return self.summary

    def write(self, run_dir, overwrite: bool = False):
        """Write the run directory atomically (see :func:`riskengine.io.write_run`)."""
        from .io import write_run

        return write_run(self, run_dir, overwrite=overwrite)


TIMELINE_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _timeline(cfg, cash, weight, deemed) -> xr.Dataset:
    """Quantiles over paths of cumulative net cash (JBIC, NEXI, Japan) by quarter."""
    n_tl, n_q, _ = cash.shape
    cum = np.cumsum(cash, axis=1)
    series = np.concatenate([cum, cum.sum(axis=2, keepdims=True)], axis=2)
    q = np.full((n_q, 3, len(TIMELINE_QUANTILES)), np.nan)
    if n_tl and np.all(weight == 1.0):
        # unit weights: the same order statistic for every quarter and institution, so
        # sort contiguous rows once and pick the columns
        rows = np.sort(np.ascontiguousarray(series.reshape(n_tl, -1).T), axis=1)
        tail = unit_tail(n_tl)
        idx = [min(var_index(tail, a), n_tl - 1) for a in TIMELINE_QUANTILES]
        q = rows[:, idx].reshape(n_q, 3, len(TIMELINE_QUANTILES))
    elif n_tl:
        for k in range(n_q):
            for i in range(3):
                s = LossSample(series[:, k, i], weight)
                q[k, i] = [s.var_value(a) for a in TIMELINE_QUANTILES]
    ends = step_end_dates(cfg.simulation.as_of, cfg.simulation.steps_per_year, n_q)
    return xr.Dataset(
        {
            "cumulative_net_cash": (("quarter", "institution", "quantile"), q,
                                    {"units": "USD", "long_name": "cumulative undiscounted net cash to the institution",
                                     "paths": int(n_tl)}),
            "expected_deemed_balance": (("quarter",), deemed,
                                        {"units": "USD", "long_name": "expected deemed allocation outstanding (all equity)"}),
        },
        coords={"quarter": np.arange(n_q, dtype=np.int64),
                "quarter_end": ("quarter", ends.astype(str)),
                "institution": ["JBIC", "NEXI", "Japan"],
                "quantile": np.array(TIMELINE_QUANTILES)},
    )


ANNUAL_QUANTITIES = ("defaults", "credit_loss", "jbic_write_offs", "nexi_claims")
ANNUAL_LEVELS = (0.95, 0.99, 0.999)


def _annual(cfg, means, sample, weight) -> xr.Dataset:
    """Per fiscal year: the mean over all paths and quantiles over the timeline's sampled
    paths of defaults, credit losses, JBIC write-offs and NEXI claims paid."""
    from .schedules import fiscal_years, step_end_dates

    sim = cfg.simulation
    of_step, labels = fiscal_years(sim.as_of, sim.steps_per_year, sim.n_quarters,
                                   cfg.outputs.fiscal_year_start_month)
    ends = step_end_dates(sim.as_of, sim.steps_per_year, sim.n_quarters)
    first = [ends[np.flatnonzero(of_step == y)[0]] for y in range(len(labels))]
    last = [ends[np.flatnonzero(of_step == y)[-1]] for y in range(len(labels))]

    def expand(a):  # (.., Y, 3: defaults, JBIC, NEXI) -> (.., Y, 4) with the total loss
        return np.concatenate([a[..., :1], a[..., 1:2] + a[..., 2:3], a[..., 1:3]], axis=-1)

    mean = expand(means)
    paths = expand(sample)
    q = np.full((len(labels), len(ANNUAL_QUANTITIES), len(ANNUAL_LEVELS)), np.nan)
    for y in range(len(labels)):
        for j in range(len(ANNUAL_QUANTITIES)):
            if paths.shape[0]:
                s = LossSample(paths[:, y, j], None if np.all(weight == 1.0) else weight)
                q[y, j] = [s.var_value(a) for a in ANNUAL_LEVELS]
    return xr.Dataset(
        {"mean": (("fiscal_year", "quantity"), mean,
                  {"long_name": "mean over all paths (losses in USD, undiscounted)"}),
         "quantile": (("fiscal_year", "quantity", "level"), q,
                      {"long_name": "quantile over the sampled paths (inverted CDF)",
                       "paths": int(paths.shape[0])})},
        coords={"fiscal_year": labels, "quantity": list(ANNUAL_QUANTITIES),
                "level": np.array(ANNUAL_LEVELS),
                "first_step_end": ("fiscal_year", np.array(first, dtype=str)),
                "last_step_end": ("fiscal_year", np.array(last, dtype=str))},
        attrs={"fiscal_year_start_month": cfg.outputs.fiscal_year_start_month,
               "note": "losses are booked in the fiscal year of the default; the years at "
                       "the ends of the horizon are partial"})

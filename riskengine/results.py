"""Result of a run: per-path losses, the risk-measure summary and per-project figures as
``xarray.Dataset``s, plus the run's metadata for the manifest."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .backstop import backstop_dataset
from .codes import INSTITUTIONS, Instrument
from .features import program_key, risk_features
from .io import column_in_memory, is_lazy, without_multi_indexes, write_run
from .measures import (
    Controls,
    Estimate,
    LossSample,
    MeasureTables,
    digest,
    mean_with_stderr,
    measure_table,
    regression_mean,
    unit_tail,
    var_index,
)
from .outputs import BY_NAME, DERIVED_VARIABLES, SUMMARISED, TARIFF_IN, summary_units
from .results_version import RESULTS_VERSION
from .schedules import fiscal_years, step_end_dates
from .stress import describe
from .yen_views import YEN_VIEWS, yen_basis

SUMMARY_INSTITUTIONS = (*INSTITUTIONS, "ALL")
#: the variables of convergence.parquet (those of them the run has)
CONVERGENCE_VARIABLES = ("credit_loss", "economic_loss")
#: what the unstressed run of a side-by-side run does
BASE_CASE = "the model as configured, unstressed"


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
    #: with [capital]: the capital calls on the state (backstop.parquet)
    backstop: xr.Dataset | None = None
    contributions_ds: xr.Dataset | None = None
    #: with [[uncertainty]]: each batch's parameter values and EL (parameters.parquet)
    parameters_ds: xr.Dataset | None = None
    #: with [[uncertainty]]: the summary's conditional and parameter_uncertainty rows of
    #: each (institution, variable) (:func:`riskengine.uncertainty.uncertainty_rows`)
    uncertainty_rows: dict | None = None

    @property
    def paths_streamed(self) -> bool:
        """Whether ``paths`` is read from a file written while the run went (the run
        directory's paths.parquet), not held in memory."""

        return is_lazy(self.paths)

    @classmethod
    def from_simulation(cls, model, paths: xr.Dataset, totals, sampled, timings: dict,
                        importance_sampling: dict | None = None,
                        contributions: xr.Dataset | None = None,
                        stamp: dict | None = None, calls=None) -> Result:
        """Assemble the Datasets of a finished simulation.

        Parameters
        ----------
        model : riskengine.kernel_inputs.Model
        paths : Dataset
            Per-path outputs of every path (:func:`paths_dataset`; in memory or read
            from disk when used).
        totals : Accumulators
            The per-block accumulators summed over blocks (leading axis dropped).
        sampled : SampledPaths
            The timeline and IRR sample paths.
        stamp : dict
            The manifest's ``versions`` and ``provenance``
            (:func:`riskengine.provenance.stamp`).
        calls : riskengine.backstop.CallRows
            With ``[capital]``: the paths that call on the state.
        """
        cfg = model.config
        n = paths.sizes["path"]
        eq = np.flatnonzero(model.portfolio.instrument_index == Instrument.EQUITY)
        totals, sampled, pd_input = _to_input_rows(model, totals, sampled)
        projects = _projects(model, totals, sampled, pd_input, paths)
        tl_weight = _sampled_weight(paths, sampled.timeline_stride, sampled.timeline.shape[0])
        timeline_ds = _timeline(cfg, sampled.timeline, tl_weight,
                                totals.deemed_balance / max(sampled.timeline.shape[0], 1))
        meta = _meta(model, n, timings, importance_sampling, stamp)
        recoup_ds = None
        if len(eq):
            # distribution of the recoup quarter: P(B_0 is repaid by the end of quarter k
            # and stays repaid to the horizon); its last column is p_recoup
            recoup_ds = xr.Dataset(
                {"p_recouped_by": (("project", "quarter"), np.cumsum(totals.recoup_step, axis=1) / n,
                                   {"long_name": "probability the deemed allocation is repaid by "
                                                 "the end of the quarter (and stays repaid)"})},
                coords={"project": projects.project.values[eq],
                        "quarter": timeline_ds.quarter.values,
                        "quarter_end": ("quarter", timeline_ds.quarter_end.values)})
        annual_ds = _annual(cfg, totals.annual / n, sampled.annual, tl_weight)
        if contributions is not None:
            top = max(cfg.measures.levels)
            es = _contribution_values(contributions, "ES", top, "exposure")
            projects["es_contribution"] = (
                ("project",), es.reindex(projects.project.values).to_numpy(),
                {"units": "USD", "long_name": f"Euler contribution to ALL's ES {top:g} of "
                                              "credit loss"})
        res = cls(paths=paths, projects=projects, levels=cfg.measures.levels, meta=meta,
                  timeline=timeline_ds, recoup=recoup_ds, annual=annual_ds,
                  contributions_ds=contributions)
        if cfg.capital is not None and calls is not None:
            res.backstop = backstop_dataset(cfg, calls, n, "weight" in paths)
        if len(eq):
            res.meta["equity_program"] = res.equity_program()
        return res

    @classmethod
    def stack(cls, results: dict[str, Result]) -> Result:
        """The runs of several scenarios on the same paths as one result: every dataset
        gains a leading ``scenario`` dimension (``base`` first), the summary too."""
        names = list(results)
        first = results[names[0]]
        if any("weight" in r.paths for r in results.values()):
            for r in results.values():
                if "weight" not in r.paths:
                    r.paths["weight"] = (("path",), np.ones(r.paths.sizes["path"]),
                                         BY_NAME["weight"].attrs(None))

        def along(get):
            parts = [get(r) for r in results.values()]
            if parts[0] is None:
                return None
            return xr.concat([p.expand_dims(scenario=[n]) for n, p in zip(names, parts)],
                             dim="scenario", combine_attrs="override")

        out = cls(paths=along(lambda r: r.paths), projects=along(lambda r: r.projects),
                  levels=first.levels, meta=dict(first.meta), timeline=along(lambda r: r.timeline),
                  recoup=along(lambda r: r.recoup), annual=along(lambda r: r.annual),
                  backstop=along(lambda r: r.backstop),
                  contributions_ds=along(lambda r: r.contributions_ds))
        out.parameters_ds = along(lambda r: r.parameters_ds)
        out.__dict__["convergence_ds"] = along(lambda r: r.convergence_ds)
        out.__dict__["summary"] = along(lambda r: r.summary.drop_vars("run_id")).assign_coords(
            run_id=out.meta["run_id"])
        out.meta["scenarios"] = {
            n: {"description": r.meta.get("scenario", {}).get("description", BASE_CASE),
                "factor_mean": r.meta.get("scenario", {}).get("factor_mean"),
                "config": r.meta["config"], "timings": r.meta["timings"],
                "importance_sampling": r.meta.get("importance_sampling"),
                "equity_program": r.meta.get("equity_program")}
            for n, r in results.items()}
        return out

    @property
    def scenarios(self) -> tuple[str, ...]:
        """The scenarios of a side-by-side run, () for one run."""
        return tuple(self.paths["scenario"].values) if "scenario" in self.paths.dims else ()

    @property
    def scenario_descriptions(self) -> dict[str, str]:
        """What each scenario of a side-by-side run does, by name ({} for one run)."""
        runs = self.meta.get("scenarios") or {}
        return {n: (runs.get(n) or {}).get("description", BASE_CASE) for n in self.scenarios}

    def equity_program(self) -> dict:
        """Japan's equity program on the whole: probability that every deemed allocation is
        repaid by the horizon, and expected receipts of Japan and the US (undiscounted)."""
        paths = self.scenario_paths()
        if "japan_receipts" not in paths:
            return {}
        n = paths.sizes["path"]
        w = self.weight if self.weight is not None else np.ones(n)
        pr = (self.projects.sel(scenario=self.scenarios[0]) if self.scenarios
              else self.projects)
        commit = float(pr.commitment_usd.where(pr.instrument == "equity").sum())
        dead = paths["deemed_outstanding"].sel(institution="JBIC").to_numpy()
        recouped = (dead <= 1e-9 * commit).astype(float) * w
        japan = paths["japan_receipts"].sel(institution="JBIC").to_numpy() * w
        us = paths["us_receipts"].sel(institution="JBIC").to_numpy() * w
        out = {"equity_commitment_usd": commit}
        controls = self.mean_controls()
        for name, x in (("p_recoup_all", recouped), ("japan_receipts", japan), ("us_receipts", us)):
            mean, se = (mean_with_stderr(x) if controls is None
                        else regression_mean(x, controls))
            out[name if name == "p_recoup_all" else f"{name}_mean"] = mean
            out[f"{name}_stderr"] = se
        return out

    # ---- derived --------------------------------------------------------------------
    @property
    def loss_variables(self) -> tuple[str, ...]:
        """The summary's variables: credit and economic loss; with equity the shortfall on
        Japan's deemed allocation at the horizon; with selection and declines the tariff
        cost (Japan's, under ALL) and the commitments funded; with [fx] the economic loss
        in yen."""
        return tuple(v for v, src in SUMMARISED.items() if src in self.paths)

    def scenario_paths(self, scenario: str | None = None) -> xr.Dataset:
        """The per-path Dataset of one scenario (None: the first, ``base`` when it was
        run; the only one of a plain run)."""
        if "scenario" in self.paths.dims:
            return self.paths.sel(scenario=scenario or self.scenarios[0])
        return self.paths

    def loss(self, variable: str, institution: str, scenario: str | None = None) -> np.ndarray:
        """Per-path values of one variable for JBIC, NEXI or ALL (of one scenario of a
        side-by-side run). The tariff cost is Japan's as a whole: 0 for JBIC and NEXI, and
        part of ALL's economic loss."""
        paths = self.scenario_paths(scenario)
        da = paths[DERIVED_VARIABLES.get(variable, variable)]
        if "institution" not in da.dims:  # Japan's as a whole
            v = da.to_numpy()
            return v if institution == "ALL" else np.zeros_like(v)
        if institution != "ALL":
            return da.sel(institution=institution).to_numpy()
        total = institution_sum(da.transpose(..., "institution").to_numpy())
        tariff = TARIFF_IN.get(variable)
        if tariff is not None and tariff in paths:
            total = total + paths[tariff].to_numpy()
        return total

    @property
    def weight(self):
        """The (first) scenario's likelihood ratios, None for plain Monte Carlo."""
        paths = self.scenario_paths()
        return paths["weight"].to_numpy() if "weight" in paths else None

    def mean_controls(self, scenario: str | None = None) -> Controls | None:
        """The control variates the means of an importance-sampled run take, None for
        plain Monte Carlo (:func:`mean_controls`), of one scenario (None: the first);
        built once."""
        name = (scenario or self.scenarios[0]) if self.scenarios else None
        built = self.__dict__.setdefault("_mean_controls", {})
        if name not in built:
            built[name] = mean_controls(self.scenario_paths(scenario), self.meta, name)
        return built[name]

    @property
    def regimes(self) -> tuple[str, ...]:
        """The regimes of the run's config ("all" first in the summary), () without."""
        return tuple(self.paths["regime"].attrs["labels"]) if "regime" in self.paths else ()

    @property
    def elections(self) -> tuple[str, ...]:
        """The elections inside the run's horizon, by date, () without."""
        return (tuple(self.paths["deal_end"].attrs["labels"][1:])
                if "deal_end" in self.paths else ())

    def condition_groups(self) -> list[tuple[str, Any]]:
        """The summary's ``regime`` coordinate and each one's paths (None: all): "all",
        each regime (today's), and with [[elections]] the regime at the first election
        ("<regime> at <election>"), "switched" (some election changed the regime) and
        "not switched", "deal lasts" and "deal ends at <election>"."""
        groups: list[tuple[str, Any]] = [("all", None)]
        if self.regimes:
            codes = self.paths["regime"].to_numpy()
            groups += [(name, codes == r) for r, name in enumerate(self.regimes)]
        elections = self.elections
        if not elections:
            return groups
        if self.regimes:
            first = self.paths[f"regime_at_{elections[0]}"].to_numpy()
            groups += [(f"{name} at {elections[0]}", first == r)
                       for r, name in enumerate(self.regimes)]
            switched = np.zeros(len(codes), dtype=bool)
            for e in elections:
                switched |= self.paths[f"regime_at_{e}"].to_numpy() != codes
            groups += [("switched", switched), ("not switched", ~switched)]
        end = self.paths["deal_end"].to_numpy()
        groups += [("deal lasts", end == 0)]
        groups += [(f"deal ends at {e}", end == k + 1) for k, e in enumerate(elections)]
        return groups

    @cached_property
    def summary(self) -> xr.Dataset:
        """Dims (institution, variable, stat), with a leading ``regime`` ("all", then each
        regime's conditional figures, and with [[elections]] the groups of
        :meth:`condition_groups`, whose share of the paths is the variable
        ``probability``) when the config has regimes or elections; ``measure`` and
        ``level`` label each stat."""
        variables = self.loss_variables
        groups = self.condition_groups()
        weight = self.weight
        controls = self.mean_controls()
        group_weight = {}  # each group's weights, their digest and the means' controls
        for name, mask in groups:
            w, c = weight, controls
            if mask is not None:
                c = None  # (a ratio estimator within the group: see below)
                if weight is not None:
                    # conditional on the regime: its weights scaled to average one (the
                    # ratio estimator sum w 1{..} / sum w within the regime); importance
                    # sampling draws regimes with tilted probabilities, so the weights'
                    # own mean there is p_r / q_r, not one
                    w = weight[mask]
                    w = w * (len(w) / w.sum()) if w.sum() > 0 else w
            group_weight[name] = (w, b"" if w is None else digest(w), c)
        measured = MeasureTables(self.levels)
        tables: dict[str, dict] = {name: {} for name, _ in groups}
        for var in self._read_order(variables):  # (one variable's values in memory at a time)
            for inst in SUMMARY_INSTITUTIONS:
                loss = self.loss(var, inst)
                for name, mask in groups:
                    x = loss if mask is None else loss[mask]
                    w, w_digest, c = group_weight[name]
                    tables[name][inst, var] = (measured(x, w, w_digest, c) if len(x)
                                               else None)
                del loss, x
        _add_uncertainty_rows(tables, self.uncertainty_rows)
        template = next(r for rows in tables.values() for r in rows.values() if r is not None)
        measure = [m for m, _, _ in template]
        level = np.array([lv for _, lv, _ in template], dtype=float)
        shape = (len(groups), len(SUMMARY_INSTITUTIONS), len(variables), len(template))
        data = {k: np.full(shape, np.nan) for k in ("value", "stderr", "ci_low", "ci_high")}
        for g, (name, _) in enumerate(groups):
            for i, inst in enumerate(SUMMARY_INSTITUTIONS):
                for j, var in enumerate(variables):
                    row = tables[name][inst, var]
                    for st, (_, _, est) in enumerate(row or ()):
                        data["value"][g, i, j, st] = est.value
                        data["stderr"][g, i, j, st] = est.stderr
                        data["ci_low"][g, i, j, st] = est.ci_low
                        data["ci_high"][g, i, j, st] = est.ci_high
        dims: tuple[str, ...] = ("regime", "institution", "variable", "stat")
        coords = {"institution": list(SUMMARY_INSTITUTIONS), "variable": list(variables),
                  "measure": ("stat", measure), "level": ("stat", level)}
        if len(groups) > 1:
            coords["regime"] = [name for name, _ in groups]
        else:  # no regimes: the summary keeps its dims
            dims = dims[1:]
            data = {k: v[0] for k, v in data.items()}
        units = {"units": summary_units(variables)}
        coords["run_id"] = self.meta.get("run_id", "")
        extra = {}
        if self.elections:  # each group's (weighted) share of the paths
            w_all = np.ones(len(self.paths["path"])) if weight is None else weight
            extra["probability"] = (("regime",), np.array(
                [1.0 if m is None else float(w_all[m].sum() / w_all.sum()) for _, m in groups]),
                {"long_name": "the group's share of the paths (weighted)"})
        return index_stats(xr.Dataset(
            {**{k: (dims, v, units) for k, v in data.items()}, **extra},
            coords=coords,
            attrs={"ci": "95% confidence interval", "var_convention": "inverted_cdf",
                   "es_convention": "Acerbi-Tasche 2002", **self.basis()},
        ))

    def _read_order(self, variables) -> list[str]:
        """``variables`` in the order that reads a streamed run's paths.parquet least (it
        keeps one column in memory, the one read last): that column's variable first,
        and the convergence's last, in the reverse of the convergence's order, so the
        convergence, which follows the summary, starts with the column in memory. The
        order changes no number."""
        order = [v for v in variables if v not in CONVERGENCE_VARIABLES]
        order += [v for v in reversed(CONVERGENCE_VARIABLES) if v in variables]
        loaded = column_in_memory(self.paths)
        return sorted(order, key=lambda v: DERIVED_VARIABLES.get(v, v) != loaded)

    def basis(self) -> dict[str, str]:
        """What the loss figures are: horizon, currency, discounting (summary attributes
        and the terminal's table titles)."""
        cfg = self.meta.get("config", {})
        sim, rates = cfg.get("simulation", {}), cfg.get("rates", {})
        if not sim:
            return {}

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
            **({"economic_loss_jpy": yen_basis(cfg["fx"])} if cfg.get("fx") else {}),
        }

    def estimate(self, measure: str, variable: str = "credit_loss", institution: str = "ALL",
                 level: float | None = None, regime: str = "all",
                 scenario: str | None = None) -> tuple[float, float]:
        """``(value, stderr)`` of one summary entry, e.g. ``estimate("ES", level=0.99)``
        (the regime and the scenario count only when the summary has those dims)."""
        s = self.summary.sel(institution=institution, variable=variable)
        if "regime" in s.dims:
            s = s.sel(regime=regime)
        if "scenario" in s.dims:
            s = s.sel(scenario=scenario or self.scenarios[0])
        i = stat_index(s, measure, level)
        return float(s["value"].to_numpy()[i]), float(s["stderr"].to_numpy()[i])

    def value(self, measure: str, variable: str = "credit_loss", institution: str = "ALL",
              level: float | None = None, regime: str = "all",
              scenario: str | None = None) -> float:
        """One number of the summary, e.g. ``value("ES", level=0.99)``."""
        return self.estimate(measure, variable, institution, level, regime, scenario)[0]

    def summary_frame(self):
        """The summary as a long pandas DataFrame (the rows of summary.parquet)."""

        frame = without_multi_indexes(self.summary).to_dataframe().reset_index()
        return frame.drop(columns=["stat"], errors="ignore")

    def datasets(self) -> dict[str, xr.Dataset]:
        out = {"paths": self.paths, "summary": self.summary, "projects": self.projects}
        if self.timeline is not None:
            out["timeline"] = self.timeline
        if self.recoup is not None:
            out["recoup"] = self.recoup
        if self.annual is not None:
            out["annual"] = self.annual
        if self.backstop is not None:
            out["backstop"] = self.backstop
        if self.contributions_ds is not None:
            out["contributions"] = self.contributions_ds
        if self.parameters_ds is not None:
            out["parameters"] = self.parameters_ds
        out["convergence"] = self.convergence_ds
        return out

    @cached_property
    def convergence_ds(self) -> xr.Dataset:
        """EL, VaR and ES of ALL with their 95% intervals on the nested prefixes of the
        run's paths (1,024, 2,048, ... and all of them): how the estimates settle, at no
        extra simulation. Dims (paths, variable, stat). Computed when first read (writing
        the run reads it), like the summary: a run in process that never looks at it does
        not pay for it."""
        n = self.paths.sizes["path"]
        sizes = sorted({n} | {m for m in (1024 * 2**k for k in range(40)) if m < n})
        variables = [v for v in CONVERGENCE_VARIABLES if v in self.loss_variables]
        weight = self.weight
        controls = self.mean_controls()
        # all the paths: the summary's figures of ALL (the same computation), not again
        whole = self.summary
        if "regime" in whole.dims:
            whole = whole.sel(regime="all")
        # (the measures of one sample, not the [[uncertainty]] rows after them)
        whole = whole.isel(stat=slice(0, 2 + 2 * len(self.levels)))
        by_var: dict[str, list] = {}  # (variable, size) -> estimates; one variable's values loaded at a time
        for var in self._read_order(variables):
            loss = self.loss(var, "ALL")
            by_size = []
            for m in sizes[:-1]:
                rows = measure_table(loss[:m], None if weight is None else weight[:m],
                                     self.levels,
                                     None if controls is None else controls.prefix(m))
                by_size.append([est for _, _, est in rows])
            row = whole.sel(institution="ALL", variable=var)
            by_size.append([Estimate(*(float(row[k].values[st]) for k in
                                       ("value", "stderr", "ci_low", "ci_high")))
                            for st in range(row.sizes["stat"])])
            by_var[var] = by_size
            del loss
        data = {k: [[[getattr(e, k) for e in by_var[v][s]] for v in variables]
                    for s in range(len(sizes))]
                for k in ("value", "stderr", "ci_low", "ci_high")}
        return index_stats(xr.Dataset(
            {k: (("paths", "variable", "stat"), np.array(v), {"units": "USD"})
             for k, v in data.items()},
            coords={"paths": np.array(sizes, dtype=np.int64), "variable": variables,
                    "measure": ("stat", whole["measure"].values),
                    "level": ("stat", whole["level"].values)},
            attrs={"institution": "ALL", "ci": "95% confidence interval",
                   "note": "estimates on the first N paths of the run (nested prefixes)"}))

    def convergence(self, measure: str = "ES", level: float | None = None,
                    variable: str = "credit_loss", scenario: str | None = None):
        """Estimate and 95% interval of ALL's ``measure`` against the number of paths: a
        DataFrame indexed by paths (``level`` default the highest)."""
        ds = self.convergence_ds
        if "scenario" in ds.dims:
            ds = ds.sel(scenario=scenario or self.scenarios[0])
        level = max(self.levels) if level is None and measure not in ("EL", "SD") else level
        sub = ds.sel(variable=variable).isel(stat=stat_index(ds, measure, level))
        return sub[["value", "stderr", "ci_low", "ci_high"]].to_dataframe()[
            ["value", "stderr", "ci_low", "ci_high"]]

    def contributions(self, measure: str = "ES", level: float | None = None,
                      by: str = "sector", scenario: str | None = None):
        """Euler contributions to ALL's credit-loss ``measure`` (``EL``, ``VaR``, ``ES``;
        ``level`` default the highest) by ``exposure``, ``obligor``, ``sector`` or
        ``institution``: a DataFrame of ``value``, ``stderr`` and ``share`` (of the
        total), largest first."""
        ds = self.contributions_ds
        if ds is None:
            raise KeyError("this run has no contributions (outputs.contributions = false)")
        if "scenario" in ds.dims:
            ds = ds.sel(scenario=scenario or self.scenarios[0])
        level = max(self.levels) if level is None and measure != "EL" else level
        value = _contribution_values(ds, measure, level, by)
        stderr = _contribution_values(ds, measure, level, by, "stderr")
        frame = value.to_frame("value").assign(stderr=stderr)
        frame["share"] = frame["value"] / frame["value"].sum()
        return frame.sort_values("value", ascending=False)

    def to_dataset(self) -> xr.Dataset:
        """The summary Dataset (the headline numbers); see also ``datasets()``."""
        return self.summary

    def write(self, run_dir, overwrite: bool = False):
        """Write the run directory atomically (see :func:`riskengine.io.write_run`)."""

        return write_run(self, run_dir, overwrite=overwrite)


def mean_controls(paths: xr.Dataset, meta: dict, scenario: str | None = None
                  ) -> Controls | None:
    """The control variates of known mean zero that an importance-sampled run's means
    take, None for plain Monte Carlo (:class:`riskengine.measures.Controls`): by regime
    where the sampler drew the regimes from tilted probabilities (the manifest's
    ``regime_probabilities``), ``w 1{R = r} - p_r``, and ``w 1{R = r} z_k`` and
    ``w 1{R = r} (z_k^2 - 1)`` of the factor normals ``z`` the run drew
    (:func:`riskengine.importance.drawn_factor_normals`), all of mean zero under the model.

    Parameters
    ----------
    paths : Dataset
        One run's (one scenario's) per-path outputs: ``weight`` and ``regime``, and the
        global ``path`` ids.
    meta : dict
        The run's manifest (or :attr:`Result.meta`): its ``seed``, ``config`` and
        ``importance_sampling`` record, per scenario under ``scenarios``.
    scenario : str, optional
        The scenario of a side-by-side run ``paths`` belongs to.
    """
    info = meta.get("importance_sampling") or {}
    if scenario is not None:
        info = ((meta.get("scenarios") or {}).get(scenario) or {}).get(
            "importance_sampling") or {}
    if "weight" not in paths or not info.get("enabled"):
        return None
    from .importance import drawn_factor_normals

    weight = paths["weight"].to_numpy()
    regimes = (meta.get("config") or {}).get("regimes") or []
    tilted = "regime_probabilities" in info and "regime" in paths and len(regimes) > 1
    strata = paths["regime"].to_numpy() if "regime" in paths else np.zeros(len(weight), int)
    z = drawn_factor_normals(paths["path"].to_numpy(), meta["seed"], info["mean_shift"],
                             info["defensive_share"], strata)
    features = np.concatenate([z, z * z - 1.0], axis=1)
    if not tilted:
        return Controls(weight, features=features)
    prob = np.diff(np.minimum(np.cumsum([r["probability"] for r in regimes]), 1.0),
                   prepend=0.0)
    return Controls(weight, strata, prob, features)


def institution_sum(values: np.ndarray) -> np.ndarray:
    """``values.sum(axis=-1)`` (NaN kept), bit for bit: NumPy adds a row shorter than
    eight from 0.0 in order, which this does a whole column at a time, instead of one
    short reduction per path (2,000,000 paths of two institutions: 1 ms against 21)."""
    if values.shape[-1] >= 8 or values.dtype != np.float64:  # (pairwise, or another type)
        return values.sum(axis=-1)
    total = np.zeros(values.shape[:-1])
    for k in range(values.shape[-1]):
        total += values[..., k]
    return total


def _add_uncertainty_rows(tables: dict[str, dict], rows: dict | None) -> None:
    """Append the [[uncertainty]] rows to the summary's tables: to the figures over all
    paths (``tables["all"]``), NaN for each regime's."""
    if not rows:
        return
    nan = Estimate(np.nan, np.nan, np.nan, np.nan)
    for name, table in tables.items():
        for key, row in table.items():
            extra = rows[key]
            if row is not None:
                table[key] = row + (extra if name == "all" else
                                    [(m, lv, nan) for m, lv, _ in extra])


def stat_index(ds: xr.Dataset, measure: str, level: float | None = None) -> int:
    """Position along ``stat`` of one measure (at one level): the lookup of the summary,
    convergence and contributions Datasets."""
    mask = ds["measure"].to_numpy() == measure
    if level is not None:
        mask &= np.isclose(ds["level"].to_numpy(), level)
    elif mask.sum() > 1:  # (a measure with and without a level: None is the one without)
        mask &= np.isnan(ds["level"].to_numpy())
    idx = np.flatnonzero(mask)
    if len(idx) != 1:
        raise KeyError(f"no unique entry for {measure!r} at level {level}")
    return int(idx[0])


def index_stats(ds: xr.Dataset) -> xr.Dataset:
    """Index the ``stat`` dimension by (measure, level), so reporting code can write
    ``summary.sel(measure="ES", level=0.999, institution="ALL")``."""
    if "stat" not in ds.dims or "stat" in ds.indexes:
        return ds
    return ds.set_xindex(["measure", "level"], xr.indexes.PandasMultiIndex)


def _contribution_values(ds: xr.Dataset, measure: str, level: float | None, group: str,
                         field: str = "value"):
    """One measure's contributions of one grouping as a pandas Series indexed by key."""
    i = stat_index(ds, measure, level)
    keep = ds["group"].to_numpy() == group
    if not keep.any():
        raise KeyError(f"no grouping {group!r}: one of exposure, obligor, sector, institution")
    return pd.Series(ds[field].to_numpy()[i, keep], index=ds["key"].to_numpy()[keep],
                     name=field)


def _sampled_weight(paths: xr.Dataset, stride: int, rows: int) -> np.ndarray:
    """The weights of the sampled paths (every ``stride``-th, ``rows`` of them)."""
    if "weight" not in paths:
        return np.ones(len(range(0, paths.sizes["path"], stride)[:rows]))
    return paths["weight"].to_numpy()[::stride][:rows].copy()


def _projects(model, totals, sampled, pd_input, paths: xr.Dataset) -> xr.Dataset:
    """The per-project Dataset (projects.parquet) of the input portfolio's rows."""
    pf = model.portfolio
    usd = {"units": "USD"}
    wsum = paths.sizes["path"]  # estimators are (1/n) sum w x
    nan = np.full(pf.n_projects, np.nan)
    eq = np.flatnonzero(pf.instrument_index == Instrument.EQUITY)
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
                w_irr = _sampled_weight(paths, irr_stride, len(col))[ok]
                irr_median[p] = LossSample(col[ok], w_irr * ok.sum() / w_irr.sum()).var_value(0.5)
    return xr.Dataset(
        {
            "pd_input_horizon": (("project",), pd_input,
                                 {"long_name": "default probability by the horizon implied "
                                               "by the inputs, if funded"}),
            "pd_simulated": (("project",), totals.defaults / wsum,
                             {"long_name": "simulated probability that the project is "
                                           "funded and defaults by the horizon"}),
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


def _meta(model, n: int, timings: dict, importance_sampling: dict | None,
          stamp: dict | None) -> dict:
    """What the manifest records of a run besides its Datasets."""
    cfg, pf = model.config, model.portfolio
    meta = {
        "config": cfg.to_dict(),
        "seed": cfg.simulation.seed,
        "paths": n,
        "results_version": RESULTS_VERSION,
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
        "versions": (stamp or {}).get("versions", {}),
        "run_id": uuid.uuid4().hex,
        "provenance": (stamp or {}).get("provenance", {}),
        "timings": dict(timings),
        "importance_sampling": importance_sampling or {"enabled": False},
        "risk_features": risk_features(model),
        "program_key": program_key(cfg, pf),
    }
    if model.scenario is not None:  # what the scenario does, and its factors' mean
        meta["scenario"] = scenario_record(model)
    if cfg.fx is not None:  # which flows the yen figures convert
        meta["yen_view"] = {"view": cfg.fx.view, "meaning": YEN_VIEWS[cfg.fx.view].label}
    return meta


def scenario_record(model) -> dict:
    """A scenario's name, what it does (:func:`riskengine.stress.describe`), the sector
    factors' mean under it (the propagated shifts) and the sectors it fixes."""
    sc, sectors = model.scenario, model.config.dependence.sectors
    stress = model.stress
    return {"name": sc.name, "description": describe(sc, sectors),
            "factor_mean": dict(zip(sectors, np.asarray(stress.mean).tolist())),
            "fixed_sectors": [n for n, f in zip(sectors, stress.fixed) if f]}


def _to_input_rows(model, totals, sampled):
    """The per-row accumulators, IRRs and input PDs of the deployment's rows (P') summed
    back to the input portfolio's rows (P): a conditional row's variants are one project,
    live in at most one variant per path. Returns ``(totals, sampled, pd_input)``."""
    dep = model.deployment
    if not dep.expanded:
        return totals, sampled, model.pd_horizon
    parent, n = dep.parent, model.portfolio.n_projects

    def rows(a):
        out = np.zeros((n, *a.shape[1:]))
        np.add.at(out, parent, a)
        return out

    eq_in = np.flatnonzero(model.portfolio.instrument_index == Instrument.EQUITY)
    slot = np.searchsorted(eq_in, parent[model.equity_index])  # expanded slot -> input slot
    recoup = np.zeros((len(eq_in), *totals.recoup_step.shape[1:]))
    np.add.at(recoup, slot, totals.recoup_step)
    irr = np.full((sampled.irr.shape[0], len(eq_in)), np.nan)
    for e, s in enumerate(slot):  # one live variant per path: the others are NaN
        irr[:, s] = np.fmax(irr[:, s], sampled.irr[:, e])
    totals = totals._replace(defaults=rows(totals.defaults), credit_loss=rows(totals.credit_loss),
                             japan_receipts=rows(totals.japan_receipts),
                             us_receipts=rows(totals.us_receipts),
                             recouped=rows(totals.recouped), recoup_step=recoup)
    # the PD if funded: the variants' PDs weighted by their probabilities
    share = dep.variant_hi - dep.variant_lo
    pd_input = rows(model.pd_horizon * share) / np.maximum(rows(share), 1e-300)
    return totals, sampled._replace(irr=irr), pd_input


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
                "quarter_end": ("quarter", ends.astype("datetime64[ns]")),
                "institution": ["JBIC", "NEXI", "Japan"],
                "quantile": np.array(TIMELINE_QUANTILES)},
    )


ANNUAL_QUANTITIES = ("defaults", "credit_loss", "jbic_write_offs", "nexi_claims")
ANNUAL_LEVELS = (0.95, 0.99, 0.999)


def _annual(cfg, means, sample, weight) -> xr.Dataset:
    """Per fiscal year: the mean over all paths and quantiles over the timeline's sampled
    paths of defaults, credit losses, JBIC write-offs and NEXI claims paid."""
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
    q_se = np.full_like(q, np.nan)
    tail = np.zeros(q.shape, dtype=np.int64)
    for y in range(len(labels)):
        for j in range(len(ANNUAL_QUANTITIES)):
            if paths.shape[0]:
                s = LossSample(paths[:, y, j], None if np.all(weight == 1.0) else weight)
                q[y, j] = [s.var_value(a) for a in ANNUAL_LEVELS]
                q_se[y, j] = [s.var(a).stderr for a in ANNUAL_LEVELS]
                tail[y, j] = [s.tail_paths(a) for a in ANNUAL_LEVELS]
    return xr.Dataset(
        {"mean": (("fiscal_year", "quantity"), mean,
                  {"long_name": "mean over all paths (losses in USD, undiscounted)"}),
         "quantile": (("fiscal_year", "quantity", "level"), q,
                      {"long_name": "quantile over the sampled paths (inverted CDF)",
                       "paths": int(paths.shape[0])}),
         "quantile_stderr": (("fiscal_year", "quantity", "level"), q_se,
                             {"long_name": "Monte Carlo standard error of the quantile (from "
                                           "the binomial interval of its tail probability; "
                                           "NaN with fewer than 10 tail paths)"}),
         "tail_paths": (("fiscal_year", "quantity", "level"), tail,
                        {"long_name": "sampled paths at or beyond the quantile: what it "
                                      "rests on"})},
        coords={"fiscal_year": labels, "quantity": list(ANNUAL_QUANTITIES),
                "level": np.array(ANNUAL_LEVELS),
                "first_step_end": ("fiscal_year", np.array(first, dtype="datetime64[ns]")),
                "last_step_end": ("fiscal_year", np.array(last, dtype="datetime64[ns]"))},
        attrs={"fiscal_year_start_month": cfg.outputs.fiscal_year_start_month,
               "note": "losses are booked in the fiscal year of the default; the years at "
                       "the ends of the horizon are partial"})

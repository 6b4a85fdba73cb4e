"""Result of a run: per-path losses, the risk-measure summary and per-project figures as
``xarray.Dataset``s, plus the run's metadata for the manifest."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import xarray as xr

from .measures import measure_table
from .portfolio import INSTITUTIONS

LOSS_VARIABLES = ("credit_loss", "economic_loss")
SUMMARY_INSTITUTIONS = (*INSTITUTIONS, "ALL")


def _package_versions() -> dict[str, str]:
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

    @classmethod
    def from_simulation(cls, model, credit, econ, weight, project_sums, timings) -> "Result":
        cfg = model.config
        n = credit.shape[0]
        pf = model.portfolio
        paths = xr.Dataset(
            {
                "credit_loss": (("path", "institution"), credit,
                                {"units": "USD", "long_name": "principal lost in defaults"}),
                "economic_loss": (("path", "institution"), econ,
                                  {"units": "USD", "long_name": "minus NPV of the institution's cash flows"}),
            },
            coords={"path": np.arange(n, dtype=np.int64), "institution": list(INSTITUTIONS)},
        )
        if not np.all(weight == 1.0):
            paths["weight"] = (("path",), weight, {"long_name": "importance-sampling likelihood ratio"})
        cum_pd_h = _input_pd_by_horizon(model)
        projects = xr.Dataset(
            {
                "pd_input_horizon": (("project",), cum_pd_h,
                                     {"long_name": "default probability by the horizon implied by the inputs"}),
                "pd_simulated": (("project",), project_sums[:, 0] / n,
                                 {"long_name": "simulated default probability by the horizon"}),
                "expected_credit_loss": (("project",), project_sums[:, 1] / n, {"units": "USD"}),
            },
            coords={
                "project": np.asarray(pf.table["project_id"], dtype=object).astype(str),
                "sector": ("project", np.asarray(pf.table["sector"]).astype(str)),
                "institution": ("project", np.asarray(pf.table["institution"]).astype(str)),
                "instrument": ("project", np.asarray(pf.table["instrument"]).astype(str)),
                "commitment_usd": ("project", pf.col("commitment_usd")),
            },
        )
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
            },
            "versions": _package_versions(),
            "timings": dict(timings),
        }
        return cls(paths=paths, projects=projects, levels=cfg.measures.levels, meta=meta)

    # ---- derived --------------------------------------------------------------------
    def loss(self, variable: str, institution: str) -> np.ndarray:
        """Per-path losses of one variable for JBIC, NEXI or ALL."""
        da = self.paths[variable]
        if institution == "ALL":
            return da.sum("institution").to_numpy()
        return da.sel(institution=institution).to_numpy()

    @property
    def weight(self):
        return self.paths["weight"].to_numpy() if "weight" in self.paths else None

    @cached_property
    def summary(self) -> xr.Dataset:
        """Dims (institution, variable, stat); ``measure`` and ``level`` label each stat."""
        rows = {}
        for inst in SUMMARY_INSTITUTIONS:
            for var in LOSS_VARIABLES:
                rows[inst, var] = measure_table(self.loss(var, inst), self.weight, self.levels)
        first = next(iter(rows.values()))
        measure = [m for m, _, _ in first]
        level = np.array([lv for _, lv, _ in first], dtype=float)
        shape = (len(SUMMARY_INSTITUTIONS), len(LOSS_VARIABLES), len(first))
        data = {k: np.empty(shape) for k in ("value", "stderr", "ci_low", "ci_high")}
        for i, inst in enumerate(SUMMARY_INSTITUTIONS):
            for j, var in enumerate(LOSS_VARIABLES):
                for s, (_, _, est) in enumerate(rows[inst, var]):
                    data["value"][i, j, s] = est.value
                    data["stderr"][i, j, s] = est.stderr
                    data["ci_low"][i, j, s] = est.ci_low
                    data["ci_high"][i, j, s] = est.ci_high
        dims = ("institution", "variable", "stat")
        return xr.Dataset(
            {k: (dims, v, {"units": "USD"}) for k, v in data.items()},
            coords={"institution": list(SUMMARY_INSTITUTIONS), "variable": list(LOSS_VARIABLES),
                    "measure": ("stat", measure), "level": ("stat", level)},
            attrs={"ci": "95% confidence interval", "var_convention": "inverted_cdf",
                   "es_convention": "Acerbi-Tasche 2002"},
        )

    def value(self, measure: str, variable: str = "credit_loss", institution: str = "ALL",
              level: float | None = None) -> float:
        """One number of the summary, e.g. ``value("ES", level=0.99)``."""
        s = self.summary.sel(institution=institution, variable=variable)
        mask = s["measure"].to_numpy() == measure
        if level is not None:
            mask &= np.isclose(s["level"].to_numpy(), level)
        idx = np.flatnonzero(mask)
        if len(idx) != 1:
            raise KeyError(f"no unique summary entry for {measure!r} at level {level}")
        return float(s["value"].to_numpy()[idx[0]])

    def summary_frame(self):
        """The summary as a long pandas DataFrame (the layout of summary.parquet)."""
        from .io import dataset_to_table

        return dataset_to_table(self.summary).to_pandas()

    def datasets(self) -> dict[str, xr.Dataset]:
        return {"paths": self.paths, "summary": self.summary, "projects": self.projects}

    def to_dataset(self) -> xr.Dataset:
        """The summary Dataset (the headline numbers); see also ``datasets()``."""
        return self.summary

    def write(self, run_dir, overwrite: bool = False):
        """Write the run directory atomically (see :func:`riskengine.io.write_run`)."""
        from .io import write_run

        return write_run(self, run_dir, overwrite=overwrite)


def _input_pd_by_horizon(model) -> np.ndarray:
    from .dependence import cumulative_pd

    pf = model.portfolio
    sim = model.config.simulation
    n_q, spy = sim.n_quarters, sim.steps_per_year
    nrel = n_q - pf.col("approval_quarter").astype(np.int64)
    cq = np.round(pf.col("construction_years") * spy)
    cum = cumulative_pd(pf.col("pd_annual"), pf.col("pd_construction"), cq, n_q, spy)
    return cum[np.arange(pf.n_projects), nrel - 1]

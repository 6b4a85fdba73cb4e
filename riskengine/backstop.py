"""The taxpayer's backstop: capital calls on Japan's budget (``[capital]``,
backstop.parquet; docs/model.md, "The taxpayer's backstop").

The kernel writes each path's calls by institution and fiscal year
(:mod:`riskengine._kernels.backstop`); calls are rare, so a run keeps only the rows of
the paths that call (:class:`CallRows`), and the measures read them with the zero rows
counted, not stored (:func:`sparse_var`): P(call), the expected call and the 0.99 and
0.999 quantiles, by fiscal year and over the whole horizon (``all``), for JBIC, NEXI and
ALL (their sum), in yen and as shares of the General Account and of GDP.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .codes import INSTITUTIONS
from .config import FX, Config
from .measures import var_index
from .schedules import fiscal_years

#: the quantiles of backstop.parquet
BACKSTOP_LEVELS = (0.99, 0.999)
#: its institutions: each one's calls, and ALL, their sum on each path
BACKSTOP_INSTITUTIONS = (*INSTITUTIONS, "ALL")
#: its measures, in row order
BACKSTOP_MEASURES = ("p_call", "expected_call", "VaR")


def year_labels(config: Config) -> list[str]:
    """The fiscal years of the horizon (``FY2025``, ...), as annual.parquet's."""
    sim = config.simulation
    return fiscal_years(sim.as_of, sim.steps_per_year, sim.n_quarters,
                        config.outputs.fiscal_year_start_month)[1]


def earnings_by_year(config: Config, earnings_per_year: float) -> np.ndarray:
    """(Y,) an institution's earnings in each fiscal year of the horizon: the yearly
    figure times the share of the year inside the horizon (its steps over
    ``steps_per_year``), so a partial first or last year earns pro rata."""
    sim = config.simulation
    of_step = fiscal_years(sim.as_of, sim.steps_per_year, sim.n_quarters,
                           config.outputs.fiscal_year_start_month)[0]
    steps = np.bincount(of_step, minlength=int(of_step[-1]) + 1)
    return earnings_per_year * steps / sim.steps_per_year


def backstop_terms(config: Config) -> tuple[float, np.ndarray, np.ndarray]:
    """The ``backstop_*`` fields of the kernel's ``ProgramTerms`` of a config:
    ``(usd_jpy, capital (I,), earnings (I, Y))`` (zeros without ``[capital]``: the
    kernel then writes no calls)."""
    n_years = len(year_labels(config))
    cap = config.capital
    capital = np.zeros(len(INSTITUTIONS))
    earnings = np.zeros((len(INSTITUTIONS), n_years))
    if cap is not None:
        for i, name in enumerate(INSTITUTIONS):
            capital[i] = cap.of(name).capital_jpy
            earnings[i] = earnings_by_year(config, cap.of(name).earnings_jpy_per_year)
    usd_jpy = config.fx.usd_jpy if config.fx is not None else FX().usd_jpy
    return float(usd_jpy), np.ascontiguousarray(capital), np.ascontiguousarray(earnings)


class CallRows:
    """The paths of a run that call on the state: their global path, their calls
    (m, I, Y) and their weight, in path order; the other paths call nothing and are
    counted, not kept (at 1,000,000 paths a full array would be 8 I Y bytes a path)."""

    def __init__(self, n_institutions: int, n_years: int):
        self.shape = (n_institutions, n_years)
        self._paths: list[np.ndarray] = []
        self._calls: list[np.ndarray] = []
        self._weights: list[np.ndarray] = []

    def add(self, first: int, calls: np.ndarray, weight: np.ndarray) -> None:
        """Paths ``first ..``'s calls (size, I, Y) and weights (size,), in path order."""
        if calls.shape[0] == 0:
            return
        rows = np.flatnonzero((calls > 0.0).any(axis=(1, 2)))
        self._paths.append(first + rows)
        self._calls.append(calls[rows].copy())
        self._weights.append(np.asarray(weight)[rows].copy())

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(paths (m,), calls (m, I, Y), weights (m,))``."""
        if not self._paths:
            return (np.zeros(0, dtype=np.int64), np.zeros((0, *self.shape)), np.zeros(0))
        return (np.concatenate(self._paths), np.concatenate(self._calls),
                np.concatenate(self._weights))

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (*self._paths, *self._calls, *self._weights))


def sparse_var(values: np.ndarray, weight: np.ndarray | None, n: int, level: float) -> float:
    """``VaR_level`` of a sample of ``n`` paths of which ``values`` (weights ``weight``,
    None: ones) are given and the others are 0: the value
    :class:`riskengine.measures.LossSample` gives on the whole sample (the tail estimator
    ``P(L > x) = (1/n) sum_j w_j 1{L_j > x}``), reading only the given values."""
    pos = values > 0.0
    x = values[pos]
    m = x.shape[0]
    if m == 0:
        return 0.0
    order = np.argsort(x, kind="stable")
    xs = x[order]
    ws = np.ones(m) if weight is None else np.asarray(weight, dtype=np.float64)[pos][order]
    rev = np.cumsum(ws[::-1])[::-1]  # weights at or after each sorted position
    tail = np.append(rev[1:], 0.0) / n
    if m < n:  # the last zero's position first: beyond it, every positive value
        tail = np.concatenate([[rev[0] / n], tail])
        xs = np.concatenate([[0.0], xs])
    k = var_index(tail, level)
    return float(xs[min(k, xs.shape[0] - 1)])


def backstop_dataset(config: Config, rows: CallRows, n: int, weighted: bool) -> xr.Dataset:
    """backstop.parquet of a run of ``n`` paths whose calling paths are ``rows``.

    One row per (period, institution, measure, level): ``p_call`` (value: the
    probability of a call), ``expected_call`` (yen, over all paths) and ``VaR`` at
    :data:`BACKSTOP_LEVELS` (yen); by fiscal year and ``all`` (the call summed over the
    horizon on each path); for each institution and ALL (their sum on each path)."""
    cap = config.capital
    assert cap is not None
    labels = year_labels(config)
    _, calls, w = rows.arrays()
    weight = w if weighted else None
    # (m, I + 1, Y + 1): ALL the institutions' sum, "all" the years' sum, per path
    by_inst = np.concatenate([calls, calls.sum(axis=1, keepdims=True)], axis=1)
    full = np.concatenate([by_inst, by_inst.sum(axis=2, keepdims=True)], axis=2)
    periods = [*labels, "all"]
    cols: dict[str, list] = {k: [] for k in ("period", "institution", "measure", "level",
                                             "value_jpy")}

    def put(period, inst, measure, level, value):
        for k, v in zip(cols, (period, inst, measure, level, value)):
            cols[k].append(v)

    for y, period in enumerate(periods):
        for i, inst in enumerate(BACKSTOP_INSTITUTIONS):
            x = full[:, i, y]
            wx = x if weight is None else weight * x
            called = (x > 0.0) if weight is None else np.where(x > 0.0, weight, 0.0)
            put(period, inst, "p_call", np.nan, float(np.sum(called)) / n)
            put(period, inst, "expected_call", np.nan, float(np.sum(wx)) / n)
            for a in BACKSTOP_LEVELS:
                put(period, inst, "VaR", a, sparse_var(x, weight, n, a))
    value = np.array(cols["value_jpy"])
    is_p = np.array(cols["measure"]) == "p_call"
    share_ga = np.where(is_p, np.nan, value / cap.general_account_jpy)
    share_gdp = np.where(is_p, np.nan, value / cap.gdp_jpy)
    return xr.Dataset(
        {"value_jpy": (("row",), value,
                       {"units": "JPY", "long_name": "the measure in yen (p_call: the "
                                                     "probability of a call, not yen)"}),
         "share_general_account": (("row",), share_ga, {
             "long_name": "value_jpy over the General Account "
                          f"({cap.general_account_jpy:.6g} yen)"}),
         "share_gdp": (("row",), share_gdp,
                       {"long_name": f"value_jpy over nominal GDP ({cap.gdp_jpy:.6g} yen)"})},
        coords={"period": ("row", np.array(cols["period"])),
                "institution": ("row", np.array(cols["institution"])),
                "measure": ("row", np.array(cols["measure"])),
                "level": ("row", np.array(cols["level"], dtype=np.float64))},
        attrs={"paths": int(n), "calling_paths": int(calls.shape[0]),
               "fiscal_year_start_month": config.outputs.fiscal_year_start_month,
               "note": "a capital call is the credit loss in yen booked in a fiscal year "
                       "(each default at its step's USD/JPY) beyond that year's earnings "
                       "and the capital left; capital is depleted, not rebuilt; ALL is "
                       "the sum of JBIC's and NEXI's calls on each path; 'all' the sum "
                       "over the horizon"})


#: the summary's and the report's table shows the fiscal years whose P(call) of ALL is at
#: least this (every year is in backstop.parquet)
SHOWN_P_CALL = 0.01


def backstop_table(ds: xr.Dataset, min_p: float = SHOWN_P_CALL) -> list[dict]:
    """The rows the terminal summary and the HTML report show of a backstop dataset
    (one scenario): the fiscal years whose P(call) of ALL is at least ``min_p``, then
    ``all``; each with P(call) of JBIC, NEXI and ALL, and ALL's expected call and
    quantiles in yen and the 0.999 quantile as a share of the General Account and of
    GDP."""
    frame = ds.to_dataframe()
    value = {(r.period, r.institution, r.measure, None if np.isnan(r.level) else r.level):
             (r.value_jpy, r.share_general_account, r.share_gdp)
             for r in frame.itertuples()}
    periods = list(dict.fromkeys(frame["period"]))
    rows = []
    for period in periods:
        p_all = value[period, "ALL", "p_call", None][0]
        if period != "all" and not p_all >= min_p:
            continue
        top = value[period, "ALL", "VaR", max(BACKSTOP_LEVELS)]
        rows.append({"period": period,
                     **{f"p_{i}": value[period, i, "p_call", None][0]
                        for i in BACKSTOP_INSTITUTIONS},
                     "expected": value[period, "ALL", "expected_call", None][0],
                     **{f"var_{a:g}": value[period, "ALL", "VaR", a][0]
                        for a in BACKSTOP_LEVELS},
                     "top_share_ga": top[1], "top_share_gdp": top[2]})
    return rows


def capital_basis(config_dict: dict) -> str:
    """One line of what absorbs losses before a call (from the manifest's config)."""
    cap = config_dict["capital"]
    j, n = cap["JBIC"], cap["NEXI"]
    return (f"JBIC capital ¥{j['capital_jpy'] / 1e12:,.2f} trn and earnings "
            f"¥{j['earnings_jpy_per_year'] / 1e9:,.1f} bn a year; NEXI capital "
            f"¥{n['capital_jpy'] / 1e12:,.2f} trn and earnings "
            f"¥{n['earnings_jpy_per_year'] / 1e9:,.1f} bn a year; General Account "
            f"¥{cap['general_account_jpy'] / 1e12:,.1f} trn, GDP ¥{cap['gdp_jpy'] / 1e12:,.1f} trn")

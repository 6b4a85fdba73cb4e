"""Portfolio: one row per exposure, read from CSV or Parquet and validated once.

Every problem is reported with the file, the row (1-based data row; for CSV also the
line of the file) and the column, all problems at once, before anything runs. Rows are put
in a canonical order (sorted by ``project_id``) so that results do not depend on the order
of rows in the file.
"""

from __future__ import annotations

import difflib
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .codes import INSTITUTIONS, INSTRUMENTS
from .errors import DataError

log = logging.getLogger("riskengine")
AMORTIZATIONS = ("linear", "bullet")
RATE_TYPES = ("fixed", "floating")

REQUIRED = (
    "project_id",
    "sector",
    "institution",
    "instrument",
    "commitment_usd",
    "pd_annual",
    "lgd",
    "factor_loading",
)

#: optional numeric columns and their defaults (None: filled from other columns, see below)
OPTIONAL_NUMERIC: dict[str, float | None] = {
    "lgd_sd": 0.0,
    "approval_quarter": 0.0,
    "funding_quarters": 1.0,
    "tenor_years": math.nan,  # NaN: no maturity inside the horizon
    "rate": 0.0,
    "coverage": 1.0,
    "expected_yield": 0.0,
    "cf_vol": 0.0,
    "construction_years": 0.0,
    "life_years": math.nan,  # NaN: operates to the horizon
    "deemed_spread": 0.0,
    "pd_construction": None,  # defaults to pd_annual
    "selection_prob": 1.0,
    "decline_prob": 0.0,
    "lgd_factor_loading": 0.0,  # LGD over the cycle (docs/model.md)
    "recovery_lag_quarters": 0.0,  # recovery paid this many steps after default
    "overrun_mean": 0.0,  # equity: mean construction cost overrun (1.2 = +120%)
    "overrun_sd": 0.0,  # equity: sd of the log overrun multiplier
}
#: optional text columns and their defaults ("obligor" blank: the row's own project_id)
OPTIONAL_TEXT = {"name": "", "amortization": "linear", "rate_type": "fixed", "obligor": ""}
NUMERIC = ("commitment_usd", "pd_annual", "lgd", "factor_loading", *OPTIONAL_NUMERIC)


@dataclass(frozen=True)
class Portfolio:
    """A validated portfolio in canonical order (sorted by ``project_id``).

    ``table`` holds every known column with defaults filled in; ``source`` is the file.
    """

    table: pd.DataFrame
    sectors: tuple[str, ...]
    source: str = "<memory>"
    ignored_columns: tuple[str, ...] = field(default=())

    @property
    def n_projects(self) -> int:
        return len(self.table)

    def col(self, name: str) -> np.ndarray:
        """A column as a contiguous numpy array (float64 for numeric columns)."""
        a = self.table[name].to_numpy()
        if name in NUMERIC:
            return np.ascontiguousarray(a, dtype=np.float64)
        return a

    @property
    def sector_index(self) -> np.ndarray:
        lookup = {s: i for i, s in enumerate(self.sectors)}
        return np.array([lookup[s] for s in self.table["sector"]], dtype=np.int64)

    @property
    def shared_obligors(self) -> bool:
        """Whether some obligor has several rows (they default together)."""
        return bool(self.table["obligor"].duplicated().any())

    @property
    def institution_index(self) -> np.ndarray:
        return np.array([INSTITUTIONS.index(s) for s in self.table["institution"]], dtype=np.int64)

    @property
    def instrument_index(self) -> np.ndarray:
        return np.array([INSTRUMENTS.index(s) for s in self.table["instrument"]], dtype=np.int64)


def _misspelling_of(name: str, known) -> str | None:
    """The known column ``name`` probably misspells: close in spelling (difflib ratio
    >= 0.8), or a prefix of it of at least 4 letters (``tenor`` for ``tenor_years``)."""
    low = name.lower()
    close = difflib.get_close_matches(low, list(known), n=1, cutoff=0.8)
    if close:
        return close[0]
    prefix = [k for k in known if len(low) >= 4 and k.startswith(low)]
    return prefix[0] if len(prefix) == 1 else None


def _not_real(raw: pd.Series) -> dict[int, str]:
    """Cells that hold booleans or complex numbers (Parquet, DataFrames): ``{row: what}``.
    Counting True as 1 would turn a boolean column into PDs of 0 and 1."""
    kind = raw.dtype.kind
    if kind == "b" or str(raw.dtype) == "boolean":
        return {i: "a boolean" for i in range(len(raw)) if not pd.isna(raw.iloc[i])}
    if kind == "c":
        return dict.fromkeys(range(len(raw)), "a complex number")
    if kind != "O":
        return {}
    out = {}
    for i, v in enumerate(raw.to_numpy()):
        if isinstance(v, bool | np.bool_):
            out[i] = "a boolean"
        elif isinstance(v, complex | np.complexfloating):
            out[i] = "a complex number"
    return out


def _read_table(path: Path) -> tuple[pd.DataFrame, bool]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first name
            return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True,
                               encoding="utf-8-sig"), True
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path), False
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a portfolio file") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason}); save the CSV "
                        "as UTF-8") from None
    except Exception as e:  # unreadable file: name it
        raise DataError(f"{path}: cannot read the file ({type(e).__name__}: {e})") from None
    raise DataError(f"{path}: unsupported portfolio format {suffix!r} (use .csv or .parquet)")


def load_portfolio(path: str | Path, sectors: tuple[str, ...], n_quarters: int,
                   steps_per_year: int) -> Portfolio:
    """Read and validate a portfolio file against the sectors of the config."""
    path = Path(path)
    df, is_csv = _read_table(path)
    return validate_portfolio(df, sectors, n_quarters, steps_per_year, source=str(path),
                              is_csv=is_csv)


def validate_portfolio(df: pd.DataFrame, sectors: tuple[str, ...], n_quarters: int,
                       steps_per_year: int, source: str = "<memory>",
                       is_csv: bool = False) -> Portfolio:
    """Validate a raw table; raise :class:`DataError` listing every problem."""
    df = df.reset_index(drop=True).copy()
    problems: list[str] = []

    def where(i: int | np.integer, col: str) -> str:
        row = f"row {i + 1}" + (f" (line {i + 2})" if is_csv else "")
        return f"{source}, {row}, column '{col}'"

    df.columns = [str(c).strip() for c in df.columns]
    known = (*REQUIRED, *OPTIONAL_NUMERIC, *OPTIONAL_TEXT)
    unknown = [c for c in df.columns if c not in known]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        problems = []
        for c in missing:
            guess = [u for u in unknown if _misspelling_of(u, (c,))]
            hint = f" (is '{guess[0]}' a misspelling of it?)" if guess else ""
            problems.append(f"{source}: missing required column '{c}'{hint}")
        if len(df.columns) == 1 and any(sep in df.columns[0] for sep in ";\t|"):
            problems.append(f"{source}: the file has a single column '{df.columns[0]}'; "
                            "columns must be separated by commas")
        raise DataError(problems)
    if len(df) == 0:
        raise DataError(f"{source}: the portfolio has no rows")
    # an unknown column that looks like a known optional one is a typo, not an extra
    # column: silently taking the default instead would change the results
    typos = [(u, m) for u in unknown if (m := _misspelling_of(u, known))]
    if typos:
        raise DataError([f"{source}: unknown column '{u}': did you mean '{m}'? (an unknown "
                         f"column is ignored, and '{m}' would take its default)"
                         for u, m in typos])
    ignored = tuple(unknown)
    if ignored:
        log.warning("%s: ignoring %s the engine does not know: %s", source,
                    "a column" if len(ignored) == 1 else f"{len(ignored)} columns",
                    ", ".join(f"'{c}'" for c in ignored))

    # columns whose values come from the file or a constant default (pd_construction's
    # default is pd_annual: its problems are reported on pd_annual)
    given = set(df.columns) | set(OPTIONAL_TEXT) | (set(OPTIONAL_NUMERIC) - {"pd_construction"})

    # text columns
    for c in ("project_id", "sector", "institution", "instrument", *OPTIONAL_TEXT):
        if c in df.columns:
            text = df[c].astype(str).str.strip()
            if c in OPTIONAL_TEXT:  # a blank optional cell takes its default, like numbers
                blank = df[c].isna() | text.isin(["", "nan", "None"])
                text = text.where(~blank, OPTIONAL_TEXT[c])
            df[c] = text
        else:
            df[c] = OPTIONAL_TEXT[c]

    # numeric columns: parse, remembering cells that are not numbers
    for c in NUMERIC:
        if c not in df.columns:
            default = OPTIONAL_NUMERIC.get(c)
            df[c] = df["pd_annual"] if default is None else default
            continue
        raw = df[c]
        not_real = _not_real(raw)
        for row, what in not_real.items():
            problems.append(f"{where(row, c)}: {raw.iloc[row]!r} is {what}, not a number")
        if not_real:
            raw = raw.astype(object).where(~raw.index.isin(list(not_real)), None)
        num = pd.to_numeric(raw, errors="coerce").astype(float)
        blank = raw.astype(str).str.strip().isin(["", "nan", "NaN", "None"]) if is_csv else raw.isna()
        if c in OPTIONAL_NUMERIC:
            default = OPTIONAL_NUMERIC[c]
            fill = df["pd_annual"] if default is None else default
            num = num.where(~blank, fill)
        for i in np.flatnonzero(num.isna().to_numpy() & ~blank.to_numpy()):
            if i not in not_real:
                problems.append(f"{where(i, c)}: {raw.iloc[i]!r} is not a number")
        df[c] = num

    def check(col: str, bad: np.ndarray, what: str) -> None:
        if col not in given:
            return  # a default filled in from another column: reported there
        vals = df[col].to_numpy()
        for i in np.flatnonzero(bad):
            v = vals[i].item() if isinstance(vals[i], np.generic) else vals[i]
            problems.append(f"{where(i, col)}: {v!r} {what}")

    def unit_interval(col: str) -> None:
        v = df[col].to_numpy(dtype=float)
        check(col, ~((v >= 0) & (v <= 1)), "must lie in [0, 1] (and not be NaN)")

    for c in ("pd_annual", "pd_construction", "lgd", "factor_loading", "coverage",
              "selection_prob", "decline_prob"):
        unit_interval(c)

    v = df["commitment_usd"].to_numpy(dtype=float)
    check("commitment_usd", ~(np.isfinite(v) & (v > 0)), "must be a finite amount > 0")

    ids = df["project_id"].to_numpy()
    check("project_id", ids == "", "is empty")
    seen: dict[str, int] = {}
    for row, pid in enumerate(ids):
        if pid in seen:
            problems.append(f"{where(row, 'project_id')}: duplicate id {pid!r} (first at row {seen[pid] + 1})")
        else:
            seen[pid] = row

    sec = df["sector"].to_numpy()
    check("sector", ~np.isin(sec, list(sectors)), f"is not a sector of the dependence model {list(sectors)}")
    inst = df["institution"].to_numpy()
    check("institution", ~np.isin(inst, INSTITUTIONS), f"must be one of {list(INSTITUTIONS)}")
    instr = df["instrument"].to_numpy()
    check("instrument", ~np.isin(instr, INSTRUMENTS), f"must be one of {list(INSTRUMENTS)}")
    check("institution", (instr == "guarantee") & (inst == "JBIC"),
          "holds a guarantee: guarantees are NEXI's (JBIC lends and invests)")
    check("institution", np.isin(instr, ["loan", "equity"]) & (inst == "NEXI"),
          "holds a loan or equity: NEXI only guarantees")
    am = df["amortization"].to_numpy()
    check("amortization", ~np.isin(am, AMORTIZATIONS), f"must be one of {list(AMORTIZATIONS)}")
    rt = df["rate_type"].to_numpy()
    check("rate_type", ~np.isin(rt, RATE_TYPES), f"must be one of {list(RATE_TYPES)}")
    check("rate_type", (rt == "floating") & (instr != "loan"),
          "is floating, but only loans float (guarantee premiums and equity have no coupon)")

    def nonneg(col: str) -> None:
        v = df[col].to_numpy(dtype=float)
        check(col, ~(np.isfinite(v) & (v >= 0)), "must be a finite number >= 0")

    for c in ("lgd_sd", "expected_yield", "cf_vol", "construction_years"):
        nonneg(c)
    for c in ("rate", "deemed_spread"):
        v = df[c].to_numpy(dtype=float)
        check(c, ~(np.isfinite(v) & (v > -1) & (v < 1)), "must be an annual rate in (-1, 1)")

    lgd = df["lgd"].to_numpy(dtype=float)
    sd = df["lgd_sd"].to_numpy(dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):  # huge values are refused, not warned
        too_wide = (sd > 0) & ~(sd * sd < lgd * (1 - lgd))
    check("lgd_sd", too_wide,
          "is too large for a beta LGD with this mean (needs lgd_sd^2 < lgd*(1-lgd))")

    aq = df["approval_quarter"].to_numpy(dtype=float)
    check("approval_quarter", ~((aq >= 0) & (aq == np.round(aq)) & (aq < n_quarters)),
          f"must be a whole quarter in [0, {n_quarters}) (inside the horizon)")
    fq = df["funding_quarters"].to_numpy(dtype=float)
    check("funding_quarters", ~((fq >= 1) & (fq == np.round(fq)) & (fq <= n_quarters)),
          f"must be a whole number in [1, {n_quarters}] (the horizon's quarters)")
    ten = df["tenor_years"].to_numpy(dtype=float)
    tq = ten * steps_per_year
    bad_ten = ~np.isnan(ten) & ~((ten > 0) & (ten <= 200) & (np.abs(tq - np.round(tq)) < 1e-9))
    check("tenor_years", bad_ten, "must be in (0, 200] years and a whole number of steps")
    check("tenor_years", ~np.isnan(ten) & ~bad_ten & (np.round(tq) < fq),
          "is shorter than the drawdown (funding_quarters)")
    life = df["life_years"].to_numpy(dtype=float)
    check("life_years", ~np.isnan(life) & ~((life > 0) & (life <= 200)),
          "must be in (0, 200] years (leave it empty to operate to the horizon)")
    cy = df["construction_years"].to_numpy(dtype=float)
    cq = cy * steps_per_year
    check("construction_years", np.isfinite(cy) & ((np.abs(cq - np.round(cq)) > 1e-9) | (cy > 200)),
          "must be a whole number of steps, at most 200 years")

    b = df["lgd_factor_loading"].to_numpy(dtype=float)
    check("lgd_factor_loading", ~((b >= 0) & (b <= 5)), "must be a loading in [0, 5]")
    lag = df["recovery_lag_quarters"].to_numpy(dtype=float)
    check("recovery_lag_quarters", ~((lag >= 0) & (lag == np.round(lag)) & (lag <= 400)),
          "must be a whole number of steps in [0, 400]")
    check("recovery_lag_quarters", (lag > 0) & (instr == "equity"),
          "applies to loans and guarantees (an equity vehicle's recovery goes through the "
          "waterfall in its default quarter)")

    om = df["overrun_mean"].to_numpy(dtype=float)
    check("overrun_mean", ~((om > -1) & (om <= 20)), "must be a mean overrun in (-1, 20]")
    osd = df["overrun_sd"].to_numpy(dtype=float)
    check("overrun_sd", ~((osd >= 0) & (osd <= 3)), "must be in [0, 3]")
    check("overrun_mean", (om != 0) & (instr != "equity"),
          "applies to equity vehicles (the capital Japan funds); loans and guarantees "
          "have fixed commitments")
    check("overrun_sd", (osd != 0) & (instr != "equity"),
          "applies to equity vehicles (the capital Japan funds)")

    # one obligor, one fate: its rows share the latent variable, so they must share the
    # sector factor and the loading on it
    obligor = df["obligor"].where(df["obligor"] != "", df["project_id"])
    df["obligor"] = obligor
    first: dict[str, int] = {}
    for row, ob in enumerate(obligor.to_numpy()):
        if ob not in first:
            first[ob] = row
            continue
        r0 = first[ob]
        for col in ("sector", "factor_loading", "approval_quarter", "selection_prob",
                    "decline_prob"):
            a, b = df[col].iloc[r0], df[col].iloc[row]
            if a != b and not (col == "factor_loading" and (a != a or b != b)):
                problems.append(f"{where(row, col)}: {b!r} differs from row {r0 + 1}'s {a!r}, "
                                f"but both rows are obligor {ob!r} (one obligor shares one "
                                "sector factor, loading, approval quarter, and is selected "
                                "and declined as a whole)")

    if problems:
        raise DataError(problems)

    df = df.sort_values("project_id", kind="stable").reset_index(drop=True)
    for c in ("approval_quarter", "funding_quarters"):
        df[c] = df[c].astype(np.int64)
    cols = list(dict.fromkeys([*REQUIRED, "name", *OPTIONAL_NUMERIC, "amortization", "rate_type",
                               "obligor"]))
    return Portfolio(table=df[cols], sectors=tuple(sectors), source=source, ignored_columns=ignored)


def portfolio_from_frame(df: pd.DataFrame, sectors, n_quarters: int, steps_per_year: int = 4,
                         source: str = "<memory>") -> Portfolio:
    """Validate an in-memory DataFrame (the Python API's entry point)."""
    return validate_portfolio(df, tuple(sectors), n_quarters, steps_per_year, source=source)

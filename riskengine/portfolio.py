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
from .errors import DataError, naming_read_errors
from .io import parquet_column_names

log = logging.getLogger("riskengine")
AMORTIZATIONS = ("linear", "bullet")
RATE_TYPES = ("fixed", "floating")
DEBT = ("loan", "guarantee")


@dataclass(frozen=True)
class RunSetting:
    """What a column's rule may depend on besides the file: the config's sectors and its
    horizon (``n_quarters`` steps of ``1 / steps_per_year`` years)."""

    sectors: tuple[str, ...]
    n_quarters: int
    steps_per_year: int


@dataclass(frozen=True)
class Range:
    """A number in an interval; a bound may name a :class:`RunSetting` (``"n_quarters"``).

    ``closed`` is ``"[]"``, ``"[)"``, ``"(]"`` or ``"()"``; ``whole`` is ``""`` (any value),
    ``"number"`` (an integer) or ``"step"`` (a whole number of steps: the value times
    ``steps_per_year``); ``skip`` is ``""`` (every cell is checked), ``"blank"`` (an empty
    cell, NaN, is allowed) or ``"nonfinite"`` (only finite values are checked: another rule
    of the column reports the rest). ``message`` follows the value in the error and may
    name ``{n_quarters}``.
    """

    low: float | str
    high: float | str
    closed: str
    message: str
    whole: str = ""
    skip: str = ""

    def bad(self, v: np.ndarray, run: RunSetting) -> np.ndarray:
        lo, hi = (getattr(run, b) if isinstance(b, str) else b for b in (self.low, self.high))
        with np.errstate(over="ignore", invalid="ignore"):  # inf and huge values: refused
            ok = (v >= lo if self.closed[0] == "[" else v > lo) & (
                v <= hi if self.closed[1] == "]" else v < hi)
            if self.whole == "number":
                ok &= v == np.round(v)
            elif self.whole == "step":
                steps = v * run.steps_per_year
                ok &= np.abs(steps - np.round(steps)) < 1e-9
        bad = ~ok
        if self.skip == "blank":
            bad &= ~np.isnan(v)
        elif self.skip == "nonfinite":
            bad &= np.isfinite(v)
        return bad

    def text(self, run: RunSetting) -> str:
        return self.message.format(n_quarters=run.n_quarters)

    def describe(self) -> str:
        """The rule as the README's table writes it (``N``: the horizon's steps)."""
        lo, hi = ("N" if isinstance(b, str) else f"{b:g}" for b in (self.low, self.high))
        if hi == "inf" and lo == "-inf":
            out = ""
        elif hi == "inf":
            out = (">= " if self.closed[0] == "[" else "> ") + lo
        elif lo == "-inf":
            out = ("<= " if self.closed[1] == "]" else "< ") + hi
        else:
            out = f"{self.closed[0]}{lo}, {hi}{self.closed[1]}"
        whole = {"number": "whole", "step": "whole steps"}.get(self.whole, "")
        out = ", ".join(s for s in (out, whole) if s)
        return out + (" or empty" if self.skip == "blank" else "")


@dataclass(frozen=True)
class OneOf:
    """A text value from a list, or from a :class:`RunSetting` named by ``values``."""

    values: tuple[str, ...] | str
    message: str = "must be one of {values}"

    def allowed(self, run: RunSetting) -> tuple[str, ...]:
        return getattr(run, self.values) if isinstance(self.values, str) else self.values

    def bad(self, v: np.ndarray, run: RunSetting) -> np.ndarray:
        return ~np.isin(v, list(self.allowed(run)))

    def text(self, run: RunSetting) -> str:
        return self.message.format(values=list(self.allowed(run)))

    def describe(self) -> str:
        if isinstance(self.values, str):
            return "a config sector"
        return ", ".join(f"`{v}`" for v in self.values)


@dataclass(frozen=True)
class NotBlank:
    """A text value that is not empty."""

    def bad(self, v: np.ndarray, run: RunSetting) -> np.ndarray:
        return v == ""

    def text(self, run: RunSetting) -> str:
        return "is empty (or null): every row needs one"

    def describe(self) -> str:
        return "not empty, unique"


Rule = Range | OneOf | NotBlank
UNIT = Range(0, 1, "[]", "must lie in [0, 1] (and not be NaN)")
NONNEGATIVE = Range(0, math.inf, "[)", "must be a finite number >= 0")
ANNUAL_RATE = Range(-1, 1, "()", "must be an annual rate in (-1, 1)")
#: the largest commitment of one row: US$ 10 trillion (the whole program is 5.5e11); a
#: larger one is a unit error, and near 1e154 its square overflows the SD
MAX_COMMITMENT_USD = 1e13


@dataclass(frozen=True)
class Column:
    """One portfolio column: one row of :data:`COLUMNS`.

    ``dtype`` is ``"text"``, ``"float64"`` or ``"int64"`` (a whole number, stored as an
    integer once valid); ``default`` is ``None`` for a required column, else the value an
    absent column or an empty cell takes (``default_from``: another column's value
    instead). ``rules`` are checked cell by cell; ``applies_to`` lists the instruments
    whose rows the column changes. ``elsewhere``, when set, is the error for a valid value
    other than the default on a row of another instrument (unset: such a value is ignored).
    """

    name: str
    dtype: str
    default: float | str | None
    rules: tuple[Rule, ...]
    applies_to: tuple[str, ...]
    description: str
    default_from: str = ""
    elsewhere: str = ""

    @property
    def required(self) -> bool:
        return self.default is None and not self.default_from


#: every portfolio column the engine reads, in the order of the validated table
COLUMNS: tuple[Column, ...] = (
    Column("project_id", "text", None, (NotBlank(),), INSTRUMENTS,
           "the exposure's id; rows are processed in this order, so row order never matters"),
    Column("sector", "text", None,
           (OneOf("sectors", "is not a sector of the dependence model {values}"),),
           INSTRUMENTS, "its sector, one of the config's `dependence.sectors`"),
    Column("institution", "text", None, (OneOf(INSTITUTIONS),), INSTRUMENTS,
           "who carries it: NEXI holds guarantees, JBIC loans and equity"),
    Column("instrument", "text", None, (OneOf(INSTRUMENTS),), INSTRUMENTS,
           "what it is"),
    Column("commitment_usd", "float64", None,
           (Range(0, MAX_COMMITMENT_USD, "(]", "must be an amount > 0 and at most 1e13 "
                  "(US$ 10 trillion)"),), INSTRUMENTS,
           "US$ committed (for a guarantee, the underlying bank loan)"),
    Column("pd_annual", "float64", None, (UNIT,), INSTRUMENTS,
           "annual probability of default"),
    Column("lgd", "float64", None, (UNIT,), INSTRUMENTS,
           "loss given default (its mean)"),
    Column("factor_loading", "float64", None, (UNIT,), INSTRUMENTS,
           "loading of the obligor's latent variable on its sector factor"),
    Column("name", "text", "", (), INSTRUMENTS, "a label (not used by the engine)"),
    Column("lgd_sd", "float64", 0.0, (NONNEGATIVE,), INSTRUMENTS,
           "sd of a beta LGD with mean `lgd` (0: the LGD is `lgd`); needs `lgd_sd^2 < lgd (1 - lgd)`"),
    Column("approval_quarter", "int64", 0.0,
           (Range(0, "n_quarters", "[)", "must be a whole quarter in [0, {n_quarters}) "
                  "(inside the horizon)", whole="number"),), INSTRUMENTS,
           "step of the first drawdown (or the pipeline's first possible notice)"),
    Column("funding_quarters", "int64", 1.0,
           (Range(1, "n_quarters", "[]", "must be a whole number in [1, {n_quarters}] "
                  "(the horizon's quarters)", whole="number"),), INSTRUMENTS,
           "steps over which the commitment is drawn in equal parts"),
    Column("tenor_years", "float64", math.nan,
           (Range(0, 200, "(]", "must be in (0, 200] years and a whole number of steps",
                  whole="step", skip="blank"),), DEBT,
           "years from approval to maturity (empty: no maturity inside the horizon); "
           "not shorter than the drawdown"),
    Column("rate", "float64", 0.0, (ANNUAL_RATE,), DEBT,
           "annual coupon of a loan (its margin when floating) or premium of a guarantee"),
    Column("coverage", "float64", 1.0, (UNIT,), ("guarantee",),
           "NEXI's share of the guaranteed loan"),
    Column("expected_yield", "float64", 0.0,
           (Range(0, 5, "[]", "must be a yield in [0, 5] a year per US$ committed"),),
           ("equity",), "expected operating cash a year per US$ committed (docs/model.md)"),
    Column("cf_vol", "float64", 0.0, (Range(0, 3, "[]", "must be a log-volatility in [0, 3]"),),
           ("equity",), "log-volatility of the operating cash"),
    Column("construction_years", "float64", 0.0,
           (NONNEGATIVE, Range(-math.inf, 200, "(]", "must be a whole number of steps, at "
                               "most 200 years", whole="step", skip="nonfinite")),
           INSTRUMENTS, "years from approval during which `pd_construction` applies "
           "(equity: before the operating cash)"),
    Column("life_years", "float64", math.nan,
           (Range(0, 200, "(]", "must be in (0, 200] years (leave it empty to operate to "
                  "the horizon)", skip="blank"),), ("equity",),
           "years of operation after construction (empty: to the horizon)"),
    Column("deemed_spread", "float64", 0.0, (ANNUAL_RATE,), ("equity",),
           "spread of the deemed allocation over the base rate (docs/model.md)"),
    Column("pd_construction", "float64", None, (UNIT,), INSTRUMENTS,
           "annual PD during the first `construction_years`", default_from="pd_annual"),
    Column("selection_prob", "float64", 1.0, (UNIT,), INSTRUMENTS,
           "1: funded at `approval_quarter`; below 1 a pipeline project, selected with this "
           "probability at a notice step drawn from `approval_quarter` to the selection "
           "deadline and funded 45 days later; one value per obligor"),
    Column("decline_prob", "float64", 0.0, (UNIT,), INSTRUMENTS,
           "probability Japan declines the project once selected (it then costs the tariff "
           "penalty instead of an exposure); one value per obligor"),
    Column("lgd_factor_loading", "float64", 0.0,
           (Range(0, 5, "[]", "must be a loading in [0, 5]"),), INSTRUMENTS,
           "the LGD's mean moves with the sector factor, averaging `lgd` over the cycle"),
    Column("recovery_lag_quarters", "float64", 0.0,
           (Range(0, 400, "[]", "must be a whole number of steps in [0, 400]",
                  whole="number"),), DEBT,
           "steps from default to recovery: moves `economic_loss` and the timeline's cash, "
           "never `credit_loss`",
           elsewhere="applies to loans and guarantees (an equity vehicle's recovery goes "
           "through the waterfall in its default quarter)"),
    Column("overrun_mean", "float64", 0.0,
           (Range(-1, 20, "(]", "must be a mean overrun in (-1, 20]"),), ("equity",),
           "capital calls times a lognormal cost overrun with mean `1 + overrun_mean`",
           elsewhere="applies to equity vehicles (the capital Japan funds); loans and "
           "guarantees have fixed commitments"),
    Column("overrun_sd", "float64", 0.0, (Range(0, 3, "[]", "must be in [0, 3]"),),
           ("equity",), "sd of the log overrun multiplier",
           elsewhere="applies to equity vehicles (the capital Japan funds)"),
    Column("amortization", "text", "linear", (OneOf(AMORTIZATIONS),), DEBT,
           "`linear`: equal repayments from the end of the drawdown to maturity; "
           "`bullet`: all at maturity"),
    Column("rate_type", "text", "fixed", (OneOf(RATE_TYPES),), ("loan",),
           "`floating`: the loan pays the base rate plus `rate`",
           elsewhere="is floating, but only loans float (guarantee premiums and equity have "
           "no coupon)"),
    Column("obligor", "text", "", (), INSTRUMENTS,
           "rows of one obligor (empty: the row's `project_id`) default together; they "
           "share `sector`, `factor_loading`, `approval_quarter`, `selection_prob`, "
           "`decline_prob`"),
)
BY_NAME = {c.name: c for c in COLUMNS}
REQUIRED = tuple(c.name for c in COLUMNS if c.required)
NUMERIC = tuple(c.name for c in COLUMNS if c.dtype != "text")
#: one obligor, one fate: its rows share these (the latent variable, its timing, its fate)
OBLIGOR_SHARED = ("sector", "factor_loading", "approval_quarter", "selection_prob",
                  "decline_prob")


def _default_cell(c: Column) -> str:
    if c.required:
        return "required"
    if c.default_from:
        return f"= `{c.default_from}`"
    if c.default == "" or (isinstance(c.default, float) and math.isnan(c.default)):
        return "empty"
    return f"`{c.default}`" if isinstance(c.default, str) else f"{c.default:g}"


def columns_markdown() -> str:
    """The README's table of portfolio columns, made from :data:`COLUMNS`."""
    lines = ["| column | type | default | values | instruments | meaning |",
             "|---|---|---|---|---|---|"]
    for c in COLUMNS:
        kind = {"text": "text", "float64": "number", "int64": "whole number"}[c.dtype]
        values = "; ".join(r.describe() for r in c.rules) or "any"
        where = "all" if c.applies_to == INSTRUMENTS else ", ".join(c.applies_to)
        where += " (refused elsewhere)" if c.elsewhere else ""
        lines.append(f"| `{c.name}` | {kind} | {_default_cell(c)} | {values} | {where} | "
                     f"{c.description} |")
    return "\n".join(lines) + "\n"


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
    with naming_read_errors(DataError, path, "a portfolio file", "save the CSV as UTF-8"):
        try:
            if suffix == ".csv":
                # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the
                # first name
                options = dict(dtype=str, keep_default_na=False, skipinitialspace=True,
                               encoding="utf-8-sig")
                header = pd.read_csv(path, header=None, nrows=1, **options)  # (as written:
                _unique_names(path, header.iloc[0].tolist() if len(header) else [])  # not x.1)
                return pd.read_csv(path, **options), True
            if suffix in (".parquet", ".pq"):
                _unique_names(path, parquet_column_names(path))
                return pd.read_parquet(path), False
        except DataError:
            raise
        except (OSError, UnicodeDecodeError):
            raise
        except Exception as e:  # a file the readers cannot parse: name it
            raise DataError(f"{path}: cannot read the file ({type(e).__name__}: {e})") from None
    raise DataError(f"{path}: unsupported portfolio format {suffix!r} (use .csv or .parquet)")


def _unique_names(source: str | Path, names) -> None:
    """Refuse a table whose header names a column twice (which of the two would count?)."""
    names = [str(n).strip() for n in names]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError([f"{source}: column '{n}' appears {names.count(n)} times (columns "
                         f"{', '.join(str(i + 1) for i, m in enumerate(names) if m == n)}); "
                         "keep one" for n in dup])


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
    """Validate a raw table; raise :class:`DataError` listing every problem.

    The columns' types, defaults and ranges are those of :data:`COLUMNS`; the rules that
    join several columns are the functions in :data:`CROSS_COLUMN_RULES`.
    """
    run = RunSetting(tuple(sectors), n_quarters, steps_per_year)
    df = df.reset_index(drop=True).copy()
    df.columns = [str(c).strip() for c in df.columns]
    _unique_names(source, df.columns)
    ignored = _check_names(df, source)
    # columns whose values come from the file or a constant default (a column defaulting
    # to another one's values, pd_construction, is reported on that one)
    given = set(df.columns) | {c.name for c in COLUMNS if not c.default_from}
    cells = _Cells(df, run, source, is_csv, given)
    _fill_text(df)
    for c in COLUMNS:
        if c.dtype != "text":
            _parse_numbers(cells, c)
    for c in COLUMNS:
        _check_column(cells, c, run)
    for rule in CROSS_COLUMN_RULES:
        rule(cells)
    if cells.problems:
        raise DataError(cells.problems)

    df = df.sort_values("project_id", kind="stable").reset_index(drop=True)
    for c in COLUMNS:
        if c.dtype == "int64":
            df[c.name] = df[c.name].astype(np.int64)
    return Portfolio(table=df[[c.name for c in COLUMNS]], sectors=run.sectors, source=source,
                     ignored_columns=ignored)


def _check_names(df: pd.DataFrame, source: str) -> tuple[str, ...]:
    """Refuse a table without a required column, without rows, or with a column that
    looks like a misspelt known one; return (and log) the unknown columns it ignores."""
    unknown = [c for c in df.columns if c not in BY_NAME]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        problems = []
        for c in missing:
            guess = [u for u in unknown if _misspelling_of(u, (c,))]
            hint = f" (is '{guess[0]}' a misspelling of it?)" if guess else ""
            problems.append(f"{source}: missing required column '{c}'{hint}")
        if str(df.columns[0]).startswith("#"):
            problems.insert(0, f"{source}: the first line starts with '#' "
                            f"({df.columns[0]!r}): comments are not allowed; the header "
                            "(project_id,sector,...) must be the first line")
        elif len(df.columns) == 1 and any(sep in df.columns[0] for sep in ";\t|"):
            problems.append(f"{source}: the file has a single column '{df.columns[0]}'; "
                            "columns must be separated by commas")
        raise DataError(problems)
    if len(df) == 0:
        raise DataError(f"{source}: the portfolio has no rows")
    # an unknown column that looks like a known optional one is a typo, not an extra
    # column: silently taking the default instead would change the results
    typos = [(u, m) for u in unknown if (m := _misspelling_of(u, BY_NAME))]
    if typos:
        raise DataError([f"{source}: unknown column '{u}': did you mean '{m}'? (an unknown "
                         f"column is ignored, and '{m}' would take its default)"
                         for u, m in typos])
    ignored = tuple(unknown)
    if ignored:
        log.warning("%s: ignoring %s the engine does not know: %s", source,
                    "a column" if len(ignored) == 1 else f"{len(ignored)} columns",
                    ", ".join(f"'{c}'" for c in ignored))
    return ignored


@dataclass
class _Cells:
    """The table being validated and the problems found, each naming file, row, column."""

    df: pd.DataFrame
    run: RunSetting
    source: str
    is_csv: bool
    given: set[str]
    problems: list[str] = field(default_factory=list)

    def where(self, i: int | np.integer, col: str) -> str:
        row = f"row {i + 1}" + (f" (line {i + 2})" if self.is_csv else "")
        return f"{self.source}, {row}, column '{col}'"

    def flag(self, col: str, bad: np.ndarray, what: str) -> None:
        """Report every cell of ``col`` where ``bad`` holds: its value, then ``what``."""
        if col not in self.given:
            return  # a default filled in from another column: reported there
        vals = self.df[col].to_numpy()
        for i in np.flatnonzero(bad):
            v = vals[i].item() if isinstance(vals[i], np.generic) else vals[i]
            self.problems.append(f"{self.where(i, col)}: {v!r} {what}")


def _fill_text(df: pd.DataFrame) -> None:
    """Strip the text columns; a blank optional cell, like an absent column, takes its
    default, and a blank obligor is the row's own project."""
    for c in COLUMNS:
        if c.dtype != "text":
            continue
        if c.name not in df.columns:
            df[c.name] = c.default
            continue
        # a null cell (Parquet, a DataFrame) is empty, not the text "nan" or "None"
        text = df[c.name].astype(str).str.strip().where(df[c.name].notna(), "")
        if not c.required:
            blank = df[c.name].isna() | text.isin(["", "nan", "None"])
            text = text.where(~blank, c.default)
        df[c.name] = text
    df["obligor"] = df["obligor"].where(df["obligor"] != "", df["project_id"])


def _parse_numbers(cells: _Cells, c: Column) -> None:
    """Parse a numeric column in place, reporting the cells that are not numbers; empty
    cells of an optional column take its default."""
    df = cells.df
    fill = df[c.default_from] if c.default_from else c.default
    if c.name not in df.columns:
        df[c.name] = fill
        return
    raw = df[c.name]
    not_real = _not_real(raw)
    for row, what in not_real.items():
        cells.problems.append(f"{cells.where(row, c.name)}: {raw.iloc[row]!r} is {what}, "
                              "not a number")
    if not_real:
        raw = raw.astype(object).where(~raw.index.isin(list(not_real)), None)
    num = pd.to_numeric(raw, errors="coerce").astype(float)
    if cells.is_csv:
        blank = raw.astype(str).str.strip().isin(["", "nan", "NaN", "None"])
    else:
        blank = raw.isna()
    if not c.required:
        num = num.where(~blank, fill)
    for i in np.flatnonzero(num.isna().to_numpy() & ~blank.to_numpy()):
        if i not in not_real:
            cells.problems.append(f"{cells.where(i, c.name)}: {raw.iloc[i]!r} is not a number")
    df[c.name] = num


def _check_column(cells: _Cells, c: Column, run: RunSetting) -> None:
    """A column's own rules, then (for a column that applies to some instruments only)
    a valid value other than the default on another instrument's row."""
    v = cells.df[c.name].to_numpy(dtype=object if c.dtype == "text" else float)
    valid = np.ones(len(v), dtype=bool)
    for rule in c.rules:
        bad = rule.bad(v, run)
        cells.flag(c.name, bad, rule.text(run))
        valid &= ~bad
    if c.elsewhere:
        other = [i for i in INSTRUMENTS if i not in c.applies_to]
        changed = v != c.default
        cells.flag(c.name, valid & changed & np.isin(cells.df["instrument"].to_numpy(), other),
                   c.elsewhere)


def _issuer_fits_instrument(cells: _Cells) -> None:
    """Guarantees are NEXI's; JBIC lends and invests."""
    inst = cells.df["institution"].to_numpy()
    instr = cells.df["instrument"].to_numpy()
    cells.flag("institution", (instr == "guarantee") & (inst == "JBIC"),
               "holds a guarantee: guarantees are NEXI's (JBIC lends and invests)")
    cells.flag("institution", np.isin(instr, ["loan", "equity"]) & (inst == "NEXI"),
               "holds a loan or equity: NEXI only guarantees")


def _unique_ids(cells: _Cells) -> None:
    seen: dict[str, int] = {}
    for row, pid in enumerate(cells.df["project_id"].to_numpy()):
        if pid in seen:
            cells.problems.append(f"{cells.where(row, 'project_id')}: duplicate id {pid!r} "
                                  f"(first at row {seen[pid] + 1})")
        else:
            seen[pid] = row


def _lgd_sd_fits_beta(cells: _Cells) -> None:
    lgd = cells.df["lgd"].to_numpy(dtype=float)
    sd = cells.df["lgd_sd"].to_numpy(dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):  # huge values are refused, not warned
        too_wide = (sd > 0) & ~(sd * sd < lgd * (1 - lgd))
    cells.flag("lgd_sd", too_wide,
               "is too large for a beta LGD with this mean (needs lgd_sd^2 < lgd*(1-lgd))")


def _tenor_covers_drawdown(cells: _Cells) -> None:
    ten = cells.df["tenor_years"].to_numpy(dtype=float)
    fq = cells.df["funding_quarters"].to_numpy(dtype=float)
    valid = ~np.isnan(ten) & ~BY_NAME["tenor_years"].rules[0].bad(ten, cells.run)
    with np.errstate(over="ignore", invalid="ignore"):
        short = np.round(ten * cells.run.steps_per_year) < fq
    cells.flag("tenor_years", valid & short, "is shorter than the drawdown (funding_quarters)")


def _one_fate_per_obligor(cells: _Cells) -> None:
    """One obligor, one fate: its rows share the latent variable, so they must share the
    sector factor and the loading on it, and are selected and declined together."""
    df = cells.df
    first: dict[str, int] = {}
    for row, ob in enumerate(df["obligor"].to_numpy()):
        if ob not in first:
            first[ob] = row
            continue
        r0 = first[ob]
        for col in OBLIGOR_SHARED:
            a, b = df[col].iloc[r0], df[col].iloc[row]
            if a != b and not (col == "factor_loading" and (a != a or b != b)):
                cells.problems.append(
                    f"{cells.where(row, col)}: {b!r} differs from row {r0 + 1}'s {a!r}, but "
                    f"both rows are obligor {ob!r} (one obligor shares one sector factor, "
                    "loading, approval quarter, and is selected and declined as a whole)")


#: the rules that join columns (or rows), checked after every column's own rules
CROSS_COLUMN_RULES = (_issuer_fits_instrument, _unique_ids, _lgd_sd_fits_beta,
                      _tenor_covers_drawdown, _one_fate_per_obligor)


def portfolio_from_frame(df: pd.DataFrame, sectors, n_quarters: int, steps_per_year: int = 4,
                         source: str = "<memory>") -> Portfolio:
    """Validate an in-memory DataFrame (the Python API's entry point)."""
    return validate_portfolio(df, tuple(sectors), n_quarters, steps_per_year, source=source)

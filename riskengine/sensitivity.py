"""``riskengine sensitivity``: how far each judgement input moves the risk measures, on
common random numbers.

A spec (TOML, ``[[inputs]]``) gives each input a low and a high value. The base model and,
for each input, the low and the high model run on the same seed and paths in one process
(the kernels loaded once, importance sampling's pilot run once, for the base): every draw
is keyed by seed, stream, item and path, so path ``j`` of every run sees the same random
numbers, and a difference of two runs is far more precise than either run. Its standard
error is *paired* (:func:`riskengine.compare.paired_el_stderr` and
:func:`riskengine.compare.paired_tail_stderr`); a scale input at 1 changes nothing, to the
bit.

A spec input::

    [[inputs]]
    name = "PD scale"                 # a label
    key = "portfolio.pd_annual"       # a config key section.key, or a portfolio column
    how = "scale"                     # value: sets it; scale: multiplies it
    low = 0.75
    high = 1.33
    why = "judgement"                 # the reason for the range (a source or judgement)

``key`` is a config key ``section.key`` (``fx.volatility``), a key of one regime
``regimes[name=NAME].key``, or a portfolio column ``portfolio.COLUMN`` (every row the
column applies to), optionally ``portfolio.COLUMN[C=V]`` for the rows whose column ``C``
equals ``V`` (``[sector=nuclear]``, ``[instrument=loan]``, ``[selection_prob=0.6]``).
An optional ``with`` table sets other config keys in both the low and the high run (a
feature the input needs: ``with = { "dependence.factor_dynamics" = "ar1" }``).
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .compare import paired_el_stderr, paired_tail_stderrs_of
from .config import Config, apply_overrides, default_program_dir, load_config
from .errors import ConfigError, UsageError
from .features import program_key
from .io import read_dataset, write_dataset
from .kernel_inputs import build_model
from .keys import Change, apply_changes
from .measures import Controls, LossSample
from .portfolio import Portfolio
from .results import Result
from .runs import resolve_portfolio
from .simulate import run_model

#: the outputs' institutions, variables and tail levels
INSTITUTIONS = ("JBIC", "NEXI", "ALL")
VARIABLES = ("credit_loss", "economic_loss")
#: measured too when the run has yen figures (the [fx] inputs move only these)
YEN_VARIABLES = ("economic_loss_jpy",)
LEVELS = (0.99, 0.999)
COLUMNS = ["input", "direction", "value", "institution", "variable", "measure", "level",
           "change", "stderr"]
#: the paired bootstrap serves VaR's and ES's errors up to this many paths (batch means of
#: 40 batches would leave 0.999 without an error below 400,000 paths); under 1 s a run
#: at 100,000 paths
BOOTSTRAP_MAX_PATHS = 250_000
_FIELDS = ("name", "key", "how", "low", "high", "why")


def default_spec_path() -> Path:
    """The shipped program's spec (data/program/sensitivity.toml)."""
    return default_program_dir() / "sensitivity.toml"


@dataclass(frozen=True)
class Input:
    """One input of a spec: what it changes (``key``), how, to which low and high
    values, and why."""

    name: str
    key: str
    how: str
    low: float | str
    high: float | str
    why: str
    with_: dict[str, Any] = field(default_factory=dict)


def load_spec(spec: str | Path | dict | None = None) -> tuple[Input, ...]:
    """Read and check a spec: a TOML file, a dict of its tables, or None for the shipped
    one. Raises :class:`ConfigError` naming the spec and the input."""
    if spec is None:
        spec = default_spec_path()
    if isinstance(spec, dict):
        raw, source = spec, "<dict>"
    else:
        source = str(spec)
        try:
            with open(spec, "rb") as f:
                raw = tomllib.load(f)
        except OSError as e:
            raise ConfigError(f"sensitivity spec {source}: cannot read it ({e.strerror})") \
                from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"sensitivity spec {source}: not valid TOML: {e}") from None
    items = raw.get("inputs")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"sensitivity spec {source}: no [[inputs]] tables")
    unknown = sorted(set(raw) - {"inputs"})
    if unknown:
        raise ConfigError(f"sensitivity spec {source}: unknown tables {unknown} (only "
                          "[[inputs]])")
    out = []
    for i, item in enumerate(items):
        label = f"input {i + 1}" + (f" ({item['name']!r})" if isinstance(item.get("name"), str)
                                     else "")
        where = f"sensitivity spec {source}, {label}"
        missing = [k for k in _FIELDS if k not in item]
        if missing:
            raise ConfigError(f"{where}: missing {', '.join(missing)} (each input needs "
                              f"{', '.join(_FIELDS)})")
        extra = sorted(set(item) - {*_FIELDS, "with"})
        if extra:
            raise ConfigError(f"{where}: unknown fields {extra}")
        for k in ("name", "key", "why"):
            if not isinstance(item[k], str) or not item[k].strip():
                raise ConfigError(f"{where}: {k} must be a non-empty string")
        if item["how"] not in ("value", "scale"):
            raise ConfigError(f"{where}: how = {item['how']!r} must be \"value\" or \"scale\"")
        for k in ("low", "high"):
            v = item[k]
            if item["how"] == "value" and isinstance(v, str) and v.strip():
                continue  # a choice written as text (tariff.form = "trigger")
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
                raise ConfigError(f"{where}: {k} = {v!r} is not a number (or, with how = "
                                  "\"value\", the text of a choice)")
        extra_keys = item.get("with", {})
        if not isinstance(extra_keys, dict):
            raise ConfigError(f"{where}: with must be a table of config keys")
        out.append(Input(item["name"], item["key"], item["how"], item["low"], item["high"],
                         item["why"], dict(extra_keys)))
    names = [x.name for x in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"sensitivity spec {source}: duplicate input names {dup}")
    return tuple(out)


def value_label(value: float | str) -> str:
    """A spec value as text: a number in ``%g``, a choice as written."""
    return value if isinstance(value, str) else f"{value:g}"


def bumped(config: Config, portfolio: Portfolio, inp: Input, value: float | str,
           source: str = "<spec>") -> tuple[Config, Portfolio]:
    """The config and portfolio of one input at one value (:mod:`riskengine.keys`)."""
    where = f"sensitivity spec {source}, input {inp.name!r}"
    return apply_changes(config, portfolio, [Change(inp.key, inp.how, value)], where,
                         f"the sensitivity input {inp.name!r} at {value_label(value)}",
                         inp.with_)


@dataclass
class _Losses:
    """One run's per-path losses of every output entry, and its weights."""

    x: dict[tuple[str, str], np.ndarray]
    w: np.ndarray | None
    #: the control variates of the EL under importance sampling (None: plain)
    controls: Controls | None = None

    @classmethod
    def of(cls, result: Result) -> _Losses:
        variables = VARIABLES + tuple(v for v in YEN_VARIABLES
                                      if v in result.loss_variables)
        return cls({(i, v): result.loss(v, i) for i in INSTITUTIONS for v in variables},
                   result.weight, result.mean_controls())


def _estimates(x: np.ndarray, w, controls=None
               ) -> dict[tuple[str, float], tuple[float, float]]:
    """``{(measure, level): (value, stderr)}`` of one sample (level NaN for EL)."""
    s = LossSample(x, w, controls)
    el = s.el()
    out = {("EL", np.nan): (el.value, el.stderr)}
    for a in LEVELS:
        v, e = s.var(a), s.es(a)
        out["VaR", a], out["ES", a] = (v.value, v.stderr), (e.value, e.stderr)
    return out


def _changes(base: _Losses, run: _Losses) -> list[dict]:
    """The rows of one run against the base: change and paired stderr of every entry (the
    tail errors of all entries from one set of bootstrap resamples)."""
    entries = [(inst, var) for (inst, var) in base.x if (inst, var) in run.x]
    tails = paired_tail_stderrs_of([(base.x[e], run.x[e], base.w, run.w) for e in entries],
                                   LEVELS, bootstrap_max_paths=BOOTSTRAP_MAX_PATHS)
    rows = []
    for (inst, var), (tail, _) in zip(entries, tails):
        xb, xr_ = base.x[inst, var], run.x[inst, var]
        eb, er = _estimates(xb, base.w, base.controls), _estimates(xr_, run.w, run.controls)
        # the paired error, and the unpaired one by the same estimator
        se = {("EL", np.nan): (paired_el_stderr(xb, xr_, base.w, run.w, base.controls,
                                                run.controls),
                               np.hypot(eb["EL", np.nan][1], er["EL", np.nan][1]))}
        unpaired = np.hypot(tail.a, tail.b)
        for k, a in enumerate(LEVELS):
            j = len(LEVELS) + k
            se["VaR", a], se["ES", a] = (tail.paired[k], unpaired[k]), \
                (tail.paired[j], unpaired[j])
        for (measure, level), (vb, _) in eb.items():
            key = (measure, level)
            rows.append({"institution": inst, "variable": var, "measure": measure,
                         "level": level, "change": er[key][0] - vb,
                         "stderr": float(se[key][0]), "base": vb,
                         "unpaired_stderr": float(se[key][1])})
    return rows


def sensitivity(config: Config | dict | str | Path | None = None,
                portfolio: Portfolio | pd.DataFrame | str | Path | None = None, *,
                spec: str | Path | dict | None = None, paths: int | None = None,
                seed: int | None = None, threads: int | None = None,
                out: str | Path | None = None,
                progress: Callable[[int, int, str], None] | None = None) -> pd.DataFrame:
    """Sensitivities of EL, VaR and ES to each input of a spec, on common random numbers.

    Parameters
    ----------
    config, portfolio
        As for :func:`riskengine.simulate` (None: the shipped program's).
    spec
        A spec TOML file, a dict of its tables, or None for the shipped
        ``sensitivity.toml`` (module docstring).
    paths, seed, threads
        Override the config's.
    out
        Write ``out/sensitivity.parquet`` (a directory, made if missing).
    progress
        Called as ``progress(runs_done, runs_total, label)`` before each run.

    Returns
    -------
    pandas.DataFrame
        Long format, one row per input, direction (``low``, ``high``), institution
        (JBIC, NEXI, ALL), variable (``credit_loss``, ``economic_loss``), measure (EL,
        VaR, ES) and level (0.99, 0.999; NaN for EL): ``value`` (the input's low or high),
        ``change`` (the run minus the base) and its paired ``stderr``; beside them
        ``base`` (the base run's value) and ``unpaired_stderr``
        (``sqrt(se_base^2 + se_run^2)``, what the error would be on independent runs, by
        the same estimator as ``stderr``: per path for EL, each run's own bootstrap (or
        batch-means) error on the same resamples for VaR and ES).
    """
    inputs = load_spec(spec)
    source = "<dict>" if isinstance(spec, dict) else str(spec or default_spec_path())
    overrides: dict = {"outputs": {"contributions": False}}
    for opt, v in (("paths", paths), ("seed", seed), ("threads", threads)):
        if v is not None:
            overrides.setdefault("simulation", {})[opt] = v
    if isinstance(config, Config):
        cfg = apply_overrides(config, overrides, given_by="sensitivity()'s arguments")
    else:
        cfg = load_config(config, overrides, given_by="sensitivity()'s arguments")
    pf = resolve_portfolio(portfolio, cfg)
    # every bumped model is built (and so checked) before anything is simulated
    runs = [(inp, d, v, *bumped(cfg, pf, inp, v, source))
            for inp in inputs for d, v in (("low", inp.low), ("high", inp.high))]
    models = [build_model(c, p) for *_, c, p in runs]
    total = len(runs) + 1
    if progress is not None:
        progress(0, total, "base")
    t0 = time.perf_counter()
    base_result = run_model(build_model(cfg, pf))
    base = _Losses.of(base_result)
    tilt = base_result if cfg.importance_sampling.enabled else None
    del base_result
    rows = []
    for k, ((inp, direction, value, *_), model) in enumerate(zip(runs, models)):
        if progress is not None:
            progress(k + 1, total, f"{inp.name} {direction} ({value_label(value)})")
        run = _Losses.of(run_model(model, tilt_from=tilt))
        for r in _changes(base, run):
            rows.append({"input": inp.name, "direction": direction,
                         "value": np.nan if isinstance(value, str) else float(value),
                         "value_label": value_label(value), **r})
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "base", "unpaired_stderr", "value_label"])
    # the shipped spec by its place in the project, not this machine's path to it
    shown = "data/program/sensitivity.toml" if spec is None else source
    frame.attrs.update(paths=cfg.simulation.paths, seed=cfg.simulation.seed, spec=shown,
                       program_key=program_key(cfg, pf), seconds=time.perf_counter() - t0)
    if out is not None:
        write_sensitivity(frame, out)
    return frame


def write_sensitivity(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write ``out/sensitivity.parquet`` (the package's Parquet layout, zstd, with the
    run's seed, paths and spec in its metadata)."""
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot make the output directory {folder}: {e.strerror}") from None
    ds = xr.Dataset({c: ("row", frame[c].to_numpy()) for c in frame.columns},
                    attrs={k: v for k, v in frame.attrs.items() if k != "seconds"})
    path = folder / "sensitivity.parquet"
    write_dataset(ds, path)
    return path


def top_inputs(frame: pd.DataFrame, n: int = 5, institution: str = "ALL",
               variable: str = "credit_loss", measure: str = "ES",
               level: float = 0.999) -> pd.DataFrame:
    """The ``n`` inputs that move one entry most (the larger of |low| and |high|), one row
    each with its low and high change and error."""
    sel = frame[(frame["institution"] == institution) & (frame["variable"] == variable)
                & (frame["measure"] == measure) & np.isclose(frame["level"], level)]
    values = ["value", "change", "stderr"] + (["value_label"] if "value_label" in sel else [])
    wide = sel.pivot(index="input", columns="direction", values=values)
    wide.columns = [f"{a}_{b}" for a, b in wide.columns]
    wide["size"] = np.maximum(wide["change_low"].abs(), wide["change_high"].abs())
    return wide.sort_values("size", ascending=False).head(n)


def read_sensitivity(where: str | Path) -> pd.DataFrame:
    """``sensitivity.parquet`` (a file, or a directory holding it) as a DataFrame with
    the file's attributes (paths, seed, spec, program_key) in ``.attrs``."""
    path = Path(where)
    if path.is_dir():
        path = path / "sensitivity.parquet"
    if not path.is_file():
        raise UsageError(f"no sensitivity.parquet at {where} (riskengine sensitivity "
                         "--out DIR writes one)")
    ds = read_dataset(path)
    frame = ds.to_dataframe().reset_index(drop=True)
    frame.attrs.update(ds.attrs)
    return frame


def measured_on(key: str, sensitivity_file: Path) -> pd.DataFrame | None:
    """The sensitivities in ``sensitivity_file`` when they were measured on the program
    whose :func:`riskengine.features.program_key` is ``key``, else None (missing file,
    another program): what the summary's range and the report's tornado show for a run."""
    if not sensitivity_file.is_file():
        return None
    frame = read_sensitivity(sensitivity_file)
    return frame if frame.attrs.get("program_key") == key else None


def headline_range(es: float, key: str, sensitivity_file: Path, n: int = 3,
                   level: float = 0.999) -> dict | None:
    """ALL's credit ES at ``level`` moved by each of the ``n`` inputs of a stored
    sensitivity run that move it most: ``{"low", "high", "inputs", "paths", "file"}``, the
    lowest and highest of ``es + change`` over their low and high runs; None when the file
    is missing or measured another program (:func:`measured_on`)."""
    frame = measured_on(key, sensitivity_file)
    if frame is None:
        return None
    top = top_inputs(frame, n=n, level=level)
    changes = np.concatenate([top["change_low"].to_numpy(float),
                              top["change_high"].to_numpy(float)])
    return {"low": es + float(np.nanmin(changes)), "high": es + float(np.nanmax(changes)),
            "inputs": list(top.index), "paths": int(frame.attrs.get("paths", 0)),
            "file": str(sensitivity_file)}

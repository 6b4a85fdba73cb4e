"""Changing one judgement input of a config and portfolio by its key: the one place that
knows the key syntax shared by ``riskengine sensitivity``'s spec and ``[[uncertainty]]``.

A key is

- a config key ``section.key`` (``fx.volatility``, ``dependence.factor_persistence``),
- a key of one regime ``regimes[name=NAME].key``, or
- a portfolio column ``portfolio.COLUMN`` (every row the column applies to), optionally
  ``portfolio.COLUMN[C=V]`` for the rows whose column ``C`` equals ``V``
  (``[sector=nuclear]``, ``[instrument=loan]``, ``[selection_prob=0.6]``).

``how = "value"`` sets the key to the value, ``how = "scale"`` multiplies it. Several
changes apply in order (a later one reads what an earlier one left) and the config is
validated once, so changes that only hold together (regime probabilities that sum to one)
go in one call. A ``scale`` change by 1 changes nothing, to the bit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import Config, apply_overrides
from .errors import ConfigError, DataError
from .portfolio import BY_NAME, NUMERIC, Portfolio, portfolio_from_frame

PORTFOLIO_KEY = re.compile(r"^portfolio\.(\w+)(?:\[(\w+)=([^\]]+)\])?$")
REGIME_KEY = re.compile(r"^regimes\[name=([^\]]+)\]\.(\w+)$")
CONFIG_KEY = re.compile(r"^\w+(\.\w+)+$")
#: what an error says a key may be
KEY_FORMS = "a config key section.key, regimes[name=NAME].key or portfolio.COLUMN[C=V]"


@dataclass(frozen=True)
class Change:
    """Set (``how = "value"``) or multiply (``"scale"``) ``key`` by ``value``."""

    key: str
    how: str
    value: float | str


def key_form_error(key: str) -> str | None:
    """Why ``key`` is not written as a key (None when it is)."""
    if key.startswith("portfolio."):
        return None if PORTFOLIO_KEY.match(key) else (
            f"key {key!r} is not portfolio.COLUMN or portfolio.COLUMN[C=V]")
    if REGIME_KEY.match(key) or CONFIG_KEY.match(key):
        return None
    return f"key {key!r} is not {KEY_FORMS}"


def apply_changes(config: Config, portfolio: Portfolio, changes: Sequence[Change],
                  where: str, label: str,
                  with_: dict[str, Any] | None = None) -> tuple[Config, Portfolio]:
    """The config and portfolio with ``changes`` applied (and the config keys ``with_``
    set), each validated once; ``where`` starts an error's message, ``label`` says what
    changed the inputs (in a validation error and the portfolio's source)."""
    cfg = _changed_config(config, [c for c in changes if not _in_portfolio(c)], where,
                          label, with_ or {})
    rows = [c for c in changes if _in_portfolio(c)]
    if not rows:
        return cfg, portfolio
    return cfg, _changed_portfolio(portfolio, cfg, rows, where, label)


def _in_portfolio(change: Change) -> bool:
    return change.key.startswith("portfolio.")


def _nested(key: str, value) -> dict:
    """``{"a": {"b": value}}`` of ``"a.b"``."""
    parts = key.split(".")
    out: dict = {parts[-1]: value}
    for p in reversed(parts[:-1]):
        out = {p: out}
    return out


def _config_value(raw: dict, key: str, where: str):
    """The current value of config key ``section.key`` in ``raw`` (config.to_dict())."""
    node: Any = raw
    for p in key.split("."):
        if not isinstance(node, dict) or p not in node:
            raise ConfigError(f"{where}: unknown key {key!r} ({KEY_FORMS})")
        node = node[p]
    return node


def _set(raw: dict, key: str, value) -> None:
    node = raw
    *parents, last = key.split(".")
    for p in parents:
        node = node[p]
    node[last] = value


def _changed_config(config: Config, changes: Sequence[Change], where: str, label: str,
                    with_: dict[str, Any]) -> Config:
    """The config with the config-key ``changes`` (and ``with_``)."""
    raw = config.to_dict()
    overrides: dict = {}
    for k, v in with_.items():
        _config_value(raw, k, where + f", with {k!r}")
        overrides = _merge(overrides, _nested(k, v))
    regimes = None
    probabilities_changed: set[str] = set()
    for c in changes:
        m = REGIME_KEY.match(c.key)
        if m:
            name, key = m.groups()
            if regimes is None:
                regimes = [dict(r) for r in raw["regimes"]]
            at = [i for i, r in enumerate(regimes) if r["name"] == name]
            if not at or key not in regimes[at[0]]:
                raise ConfigError(f"{where}: unknown key {c.key!r} (regimes: "
                                  f"{[r['name'] for r in regimes]})")
            regimes[at[0]][key] = _new(regimes[at[0]][key], c.how, c.value, where)
            if key == "probability":
                probabilities_changed.add(name)
            overrides["regimes"] = regimes
        else:
            new = _new(_config_value(raw, c.key, where), c.how, c.value, where)
            _set(raw, c.key, new)  # (a later change of the key reads this one)
            overrides = _merge(overrides, _nested(c.key, new))
    if regimes is not None and probabilities_changed:
        overrides["regimes"] = _renormalised(regimes, probabilities_changed)
    try:
        return apply_overrides(config, overrides, given_by=label)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
            else v
    return out


def _new(old, how: str, value: float | str, where: str):
    if isinstance(value, str):  # a choice (tariff.form = "trigger")
        if how != "value" or not isinstance(old, str):
            raise ConfigError(f"{where}: {value!r} is text, but the key's value {old!r} "
                              "is not a choice set with how = \"value\"")
        return value
    if isinstance(old, bool) or not isinstance(old, int | float):
        raise ConfigError(f"{where}: the key's value {old!r} is not a number")
    return value if how == "value" else old * value


def _renormalised(regimes: list[dict], changed: set[str]) -> list[dict]:
    """Regime probabilities that sum to one again after some were changed: the regimes
    left alone share what the changed ones leave, in their old proportions (a changed
    regime keeps its value; a Dirichlet, which sets them all, is left as drawn)."""
    fixed = sum(r["probability"] for r in regimes if r["name"] in changed)
    rest = [r for r in regimes if r["name"] not in changed]
    old = sum(r["probability"] for r in rest)
    if not rest or old <= 0.0 or fixed > 1.0:
        return regimes  # (the config's own check then names what is wrong)
    for r in rest:
        r["probability"] = r["probability"] * (1.0 - fixed) / old
    return regimes


def key_rows(portfolio: Portfolio, key: str, where: str) -> tuple[str, np.ndarray]:
    """The column a portfolio key changes and the rows it changes (a boolean mask)."""
    m = PORTFOLIO_KEY.match(key)
    if m is None:
        raise ConfigError(f"{where}: key {key!r} is not portfolio.COLUMN or "
                          "portfolio.COLUMN[C=V]")
    col, sel_col, sel_val = m.groups()
    if col not in NUMERIC:
        raise ConfigError(f"{where}: unknown portfolio column {col!r} (numeric columns: "
                          f"{', '.join(NUMERIC)})")
    table = portfolio.table
    rows = table["instrument"].isin(BY_NAME[col].applies_to).to_numpy().copy()
    if sel_col is not None:
        if sel_col not in table.columns:
            raise ConfigError(f"{where}: unknown portfolio column {sel_col!r} in [{sel_col}=...]")
        cells = table[sel_col]
        if sel_col in NUMERIC:
            try:
                rows &= (cells.to_numpy(dtype=np.float64) == float(sel_val)).astype(bool)
            except ValueError:
                raise ConfigError(f"{where}: [{sel_col}={sel_val}] needs a number") from None
        else:
            rows &= (cells.astype(str) == sel_val.strip()).to_numpy()
    if not rows.any():
        raise ConfigError(f"{where}: key {key!r} selects no row of {portfolio.source}")
    return col, rows


def _changed_portfolio(portfolio: Portfolio, config: Config, changes: Sequence[Change],
                       where: str, label: str) -> Portfolio:
    """The portfolio with the column ``changes``, validated like a file."""
    df = portfolio.table.copy()
    for c in changes:
        col, rows = key_rows(portfolio, c.key, where)
        old = df[col].to_numpy(dtype=np.float64)
        new = old.copy()
        new[rows] = c.value if c.how == "value" else old[rows] * c.value
        df[col] = new
    sim = config.simulation
    try:
        return portfolio_from_frame(df, portfolio.sectors, sim.n_quarters, sim.steps_per_year,
                                    source=f"{portfolio.source} with {label}")
    except DataError as e:  # the value makes the portfolio invalid
        raise ConfigError(f"{where}: {e}") from None

"""The README's config table says what the engine does: every key of the schema is listed
once, with the default written in riskengine/config.py."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from riskengine.config import Config, load_config

README = Path(__file__).resolve().parents[1] / "README.md"
PROGRAM_KEYS = {"dependence.sectors", "dependence.correlation"}  # the shipped program's


def _table() -> dict[str, str]:
    rows = {}
    for line in README.read_text().splitlines():
        m = re.match(r"^\| (`[a-z_]+\.[a-z_]+`(?:, `\.[a-z_]+`)*) \| ([^|]+) \|", line)
        if not m:
            continue
        keys = re.findall(r"`([a-z_.]+)`", m.group(1))
        section = keys[0].split(".")[0]
        keys = [keys[0]] + [section + k for k in keys[1:]]
        values = [v.strip() for v in m.group(2).split(",")] if len(keys) > 1 else [m.group(2).strip()]
        assert len(values) == len(keys), line
        for k, v in zip(keys, values):
            assert k not in rows, f"{k} listed twice"
            rows[k] = v
    return rows


def _schema_defaults() -> dict[str, object]:
    out = {}
    for section, field in Config.model_fields.items():
        model = field.annotation
        for key, f in model.model_fields.items():
            out[f"{section}.{key}"] = (f.default_factory() if f.default_factory is not None
                                       else f.default)
    return out


def _parse(text: str):
    text = text.strip("`")
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return dt.date.fromisoformat(text)
    try:
        return float(text)
    except ValueError:
        return text


def test_every_config_key_is_in_the_readme_with_its_default():
    table, schema = _table(), _schema_defaults()
    assert set(table) == set(schema)
    shipped = load_config()
    for key, want in schema.items():
        text = table[key]
        if key in PROGRAM_KEYS:
            assert text == "shipped"
            continue
        section, name = key.split(".")
        assert getattr(getattr(shipped, section), name) == want, key  # program.toml adds nothing
        if key == "waterfall.tiers":
            assert [(t.japan_share, t.until) for t in want] == [(0.5, "deemed_allocation"), (0.1, None)]
            assert text.startswith("50/50 until deemed allocation, then 10% Japan")
        elif key == "measures.levels":
            assert text == str(list(want))
        elif want is None:
            assert text == "base_rate" and key == "rates.long_run_rate"
        else:
            got = _parse(text)
            assert got == (pytest.approx(want) if isinstance(want, float) else want), key

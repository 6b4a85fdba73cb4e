"""The README's config table says what the engine does: every key of the schema is listed
once, with the default written in riskengine/config.py."""

from __future__ import annotations

import datetime as dt
import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from riskengine.config import PROGRAM_CONTENT_KEYS, Config, load_config

README = Path(__file__).resolve().parents[1] / "README.md"
PROGRAM_KEYS = {"dependence.sectors", "dependence.correlation"}  # the shipped program's
#: arrays of tables: the program's content, defaults per entry (MODEL.md section 8)
PROGRAM_TABLES = {"regimes", "elections", "scenarios", "uncertainty"}


def _section_model(annotation) -> type[BaseModel]:
    """The pydantic model of a config section: ``X``, ``X | None`` or ``tuple[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next(a for a in typing.get_args(annotation)
                if isinstance(a, type) and issubclass(a, BaseModel))


def _table() -> dict[str, str]:
    rows = {}
    for line in README.read_text().splitlines():
        m = re.match(r"^\| (`[a-z_]+(?:\.[A-Za-z_]+)+`(?:, `\.[a-z_]+`)*) \| ([^|]+) \|", line)
        if not m:
            continue
        keys = re.findall(r"`([A-Za-z_.]+)`", m.group(1))
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
        model = _section_model(field.annotation)
        for key, f in model.model_fields.items():
            default = f.default_factory() if f.default_factory is not None else f.default
            if isinstance(default, BaseModel):  # a table in the section ([capital.JBIC])
                for sub in type(default).model_fields:
                    out[f"{section}.{key}.{sub}"] = getattr(default, sub)
                continue
            out[f"{section}.{key}"] = default
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
        section, *path = key.split(".")
        if want is PydanticUndefined:
            assert text == "required", key
            continue
        got = getattr(shipped, section)
        for name in path if section not in PROGRAM_TABLES else ():
            got = getattr(got, name)
        if key in PROGRAM_CONTENT_KEYS:  # program.toml sets it, the README says to what
            row = next(ln for ln in README.read_text().splitlines() if ln.startswith(f"| `{key}`"))
            assert f"The shipped program sets {got:g}" in row, key
        elif section not in PROGRAM_TABLES:  # program.toml adds nothing
            assert got == want, key
        if key == "waterfall.tiers":
            assert [(t.japan_share, t.until) for t in want] == [(0.5, "deemed_allocation"), (0.1, None)]
            assert text.startswith("50/50 until deemed allocation, then 10% Japan")
        elif key == "measures.levels":
            assert text == str(list(want))
        elif want is None:
            # (unset keys whose default depends on the run: written as that rule)
            assert text == {"rates.long_run_rate": "base_rate",
                            "importance_sampling.defensive_share": "0.3",
                            }.get(key, "none"), key
        elif want == {}:
            assert text == "{}", key
        else:
            got = _parse(text)
            assert got == (pytest.approx(want) if isinstance(want, float) else want), key


def _readme_columns_table() -> str:
    lines = README.read_text().splitlines()
    start = lines.index("| column | type | default | values | instruments | meaning |")
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return "\n".join(lines[start:end]) + "\n"


def test_readme_portfolio_columns_are_the_declared_table():
    """The README's input table is the one made from riskengine.portfolio.COLUMNS (paste
    ``columns_markdown()`` over it after changing a column)."""
    from riskengine.portfolio import COLUMNS, columns_markdown

    table = _readme_columns_table()
    assert table == columns_markdown()
    for c in COLUMNS:  # and every column the validation reads is a row of it
        assert f"| `{c.name}` |" in table


def test_package_docstring_lists_every_public_name():
    """``help(riskengine)`` opens with the public API, one line a name, and nothing else
    is exported."""
    import riskengine

    doc = riskengine.__doc__ or ""
    listed = [line.split()[0] for line in doc.splitlines() if line.startswith("    ")]
    assert sorted(listed) == sorted(riskengine.__all__)
    for name in riskengine.__all__:
        assert getattr(riskengine, name) is not None
    assert len(doc.splitlines()) <= 40

"""Generate the config reference (docs/config.md) from the pydantic schemas, so docs never drift from code."""

from __future__ import annotations

import json
import typing
from typing import Any

from pydantic import BaseModel

from selfmoa.config.root import SelfmoaConfig


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " \\| ".join(_type_name(a) for a in args)
    if origin in (list, tuple, set):
        return f"list[{', '.join(_type_name(a) for a in args)}]"
    if origin is dict:
        return "mapping"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _format(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        value = [v.model_dump(exclude_defaults=True) for v in value]
    return f"`{json.dumps(value, default=str)}`"


def _section_rows(section: BaseModel, prefix: str, out: list) -> None:
    """Rows of one section from its default value as its parent builds it (the root is ``SelfmoaConfig()``), so a
    parent that overrides a nested default (e.g. red-team answers of 64 tokens) shows the value really in force."""
    rows = []
    nested = []
    for name, field in type(section).model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        value = getattr(section, name)
        if isinstance(value, BaseModel):
            nested.append((path, value))
            continue
        description = (field.description or "").replace("|", "\\|")
        rows.append((path, _type_name(field.annotation), _format(value), description))
    if rows:
        out.append((prefix, rows))
    for path, value in nested:
        _section_rows(value, path, out)


def config_reference_markdown() -> str:
    sections: list = []
    _section_rows(SelfmoaConfig(), "", sections)
    lines = [
        "# Config reference",
        "",
        "Generated from the schemas by `selfmoa config reference` (do not edit by hand). Every key has a default;",
        "a YAML file sets only what differs, and `--set KEY.PATH=VALUE` overrides any key from the command line.",
        "Unknown keys and wrong types are errors that name the key path and the expected type.",
        "",
    ]
    for prefix, rows in sections:
        lines += [f"## `{prefix}`", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        lines += [f"| `{k}` | {t} | {d} | {desc} |" for k, t, d, desc in rows]
        lines.append("")
    return "\n".join(lines)

"""Generate the config reference (docs/config.md) from the pydantic schemas, so docs never drift from code."""

from __future__ import annotations

import json
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

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
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        value = [v.model_dump(exclude_defaults=True) for v in value]
    return f"`{json.dumps(value, default=str)}`"


def _default(field) -> Any:
    if field.default is not PydanticUndefined:
        return field.default
    if field.default_factory is not None:
        return field.default_factory()
    return PydanticUndefined


def _section_rows(model: type[BaseModel], prefix: str, out: list, defaults: BaseModel | None = None) -> None:
    """Rows of one section; `defaults` is the section's default value as its parent builds it, so a parent that
    overrides a nested default (e.g. red-team answers of 64 tokens) shows the value that is really in force."""
    rows = []
    nested = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        path = f"{prefix}.{name}" if prefix else name
        value = getattr(defaults, name) if defaults is not None else _default(field)
        sub = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        if sub is not None:
            nested.append((path, sub, value if isinstance(value, BaseModel) else None))
            continue
        shown = "required" if value is PydanticUndefined else _format(value)
        rows.append((path, _type_name(ann), shown, (field.description or "").replace("|", "\\|")))
    if rows:
        out.append((prefix, rows))
    for path, sub, value in nested:
        _section_rows(sub, path, out, value)


def config_reference_markdown() -> str:
    sections: list = []
    _section_rows(SelfmoaConfig, "", sections)
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

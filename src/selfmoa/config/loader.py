"""Load a config from YAML, apply `--set key.path=value` overrides, and turn validation errors into one line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import ValidationError

from selfmoa.config.root import SelfmoaConfig
from selfmoa.errors import SelfmoaError
from selfmoa.redact import redact

_TYPE_WORDS = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "path_type": "a path",
}


def _format_validation_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "<root>"
    etype = first["type"]
    got = first.get("input")
    got_s = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
    if len(got_s) > 60:
        got_s = got_s[:57] + "..."
    if etype == "extra_forbidden":
        msg = f"unknown key '{loc}'"
    elif etype == "missing":
        msg = f"missing required key '{loc}'"
    elif etype in _TYPE_WORDS:
        msg = f"'{loc}' expected {_TYPE_WORDS[etype]}, got {got_s}"
    elif etype == "literal_error":
        expected = first.get("ctx", {}).get("expected", "")
        msg = f"'{loc}' expected one of {expected}, got {got_s}"
    else:
        msg = f"'{loc}': {first['msg'].rstrip('.')}, got {got_s}"
    more = len(err.errors()) - 1
    tail = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return f"{source}: {msg}{tail}"


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise SelfmoaError(f"config file not found: {path}")
    if path.is_dir():
        raise SelfmoaError(f"config path is a directory, expected a YAML file: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SelfmoaError(f"config file {path} is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SelfmoaError(f"config file {path} is malformed YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SelfmoaError(f"config file {path} must be a YAML mapping at the top level, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides; values are parsed as YAML scalars/lists (`0.2`, `true`, `[a, b]`)."""
    for item in overrides:
        if "=" not in item:
            raise SelfmoaError(f"--set expects KEY.PATH=VALUE, got '{item}'")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise SelfmoaError(f"--set expects KEY.PATH=VALUE, got '{item}'")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise SelfmoaError(f"--set {key}: '{part}' is not a section")
            node = nxt
        node[parts[-1]] = value
    return data


def parse_config(data: dict[str, Any], source: str = "config") -> SelfmoaConfig:
    try:
        return SelfmoaConfig.model_validate(data)
    except ValidationError as err:
        raise SelfmoaError(_format_validation_error(err, source)) from None


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> SelfmoaConfig:
    """Read a YAML config (or the defaults when `path` is None) and apply overrides.

    `data.dir` falls back to $SELFMOA_DATA_DIR when the config leaves it unset.
    """
    data = _read_yaml(Path(path)) if path is not None else {}
    overrides = list(overrides)
    data = apply_overrides(data, overrides)
    source = str(path) if path is not None else "config"
    if overrides:
        source += " (with --set)"
    cfg = parse_config(data, source)
    if cfg.data.dir is None and os.environ.get("SELFMOA_DATA_DIR"):
        cfg.data.dir = Path(os.environ["SELFMOA_DATA_DIR"])
    return cfg


def dump_config(cfg: SelfmoaConfig) -> dict[str, Any]:
    """The config as plain JSON-able data, secrets redacted (:func:`selfmoa.redact.redact`)."""
    return redact(cfg.model_dump(mode="json"))

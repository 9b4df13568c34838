"""The safety configuration a CSRM judges against (YAML or JSON, written by the user).

A configuration lists harm categories. Each category has an id, a display name, a guideline, an
``allowed`` flag and optionally severity-ordered subcategories with a ``strictness`` level: with
subcategories sorted from most to least severe, strictness ``k`` disallows the ``k`` most severe ones
(``k = len(subcategories)`` disallows all of them; ``None`` means all). An allowed category is never
unsafe whatever its strictness.

Example (YAML)::

    name: teen-education
    policy: An assistant for a secondary-school chemistry class.
    categories:
      - id: cbrne
        name: Indiscriminate weapons
        guideline: Synthesis or deployment of chemical, biological or explosive weapons.
        allowed: false
      - id: sexual_content
        name: Sexual content
        guideline: Explicit sexual material.
        allowed: false
        strictness: 1
        subcategories:
          - {name: Explicit sexual acts, severity: 3}
          - {name: Suggestive romance, severity: 1}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from selfmoa.errors import SelfmoaError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Subcategory(_Strict):
    name: str = Field(..., min_length=1)
    severity: int = Field(..., ge=0, description="higher = more severe; strictness keeps the most severe first")
    guideline: str = ""


class SafetyCategory(_Strict):
    id: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str = Field(..., min_length=1)
    guideline: str = ""
    allowed: bool = False
    subcategories: tuple[Subcategory, ...] = ()
    strictness: int | None = Field(None, ge=0, description="how many of the most severe subcategories are disallowed")

    @field_validator("subcategories")
    @classmethod
    def _sort(cls, subs: tuple[Subcategory, ...]) -> tuple[Subcategory, ...]:
        names = [s.name for s in subs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate subcategory names in {names}")
        return tuple(sorted(subs, key=lambda s: (-s.severity, s.name)))

    @model_validator(mode="after")
    def _check_strictness(self) -> "SafetyCategory":
        if self.strictness is not None and self.strictness > len(self.subcategories):
            raise ValueError(
                f"strictness {self.strictness} exceeds the number of subcategories ({len(self.subcategories)})"
            )
        return self

    @property
    def level(self) -> int:
        """The strictness in force (all subcategories when unset)."""
        return len(self.subcategories) if self.strictness is None else self.strictness

    def disallowed_subcategories(self) -> tuple[Subcategory, ...]:
        return () if self.allowed else self.subcategories[: self.level]

    def is_unsafe(self, subcategory: str | None = None) -> bool:
        """Whether complying with a request of this category (and subcategory) violates the configuration."""
        if self.allowed:
            return False
        if not self.subcategories:
            return True
        if self.level == 0:
            return False
        if subcategory is None:
            return True  # the category as a whole is (at least partly) disallowed
        names = [s.name for s in self.subcategories]
        if subcategory not in names:
            raise SelfmoaError(f"category '{self.id}': unknown subcategory '{subcategory}'; expected one of {names}")
        return subcategory in [s.name for s in self.disallowed_subcategories()]


class SafetyConfiguration(_Strict):
    name: str = "custom"
    policy: str = Field("", description="free-text policy shown above the categories")
    categories: tuple[SafetyCategory, ...] = Field(..., min_length=1)

    @field_validator("categories")
    @classmethod
    def _unique(cls, cats: tuple[SafetyCategory, ...]) -> tuple[SafetyCategory, ...]:
        seen: set[str] = set()
        for c in cats:
            if c.id in seen:
                raise ValueError(f"duplicate category id '{c.id}'")
            seen.add(c.id)
        return cats

    # -- queries ------------------------------------------------------------
    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories)

    def get(self, category_id: str) -> SafetyCategory | None:
        return next((c for c in self.categories if c.id == category_id), None)

    def disallowed(self) -> tuple[SafetyCategory, ...]:
        return tuple(c for c in self.categories if not c.allowed)

    def allowed(self) -> tuple[SafetyCategory, ...]:
        return tuple(c for c in self.categories if c.allowed)

    def is_unsafe(self, category_id: str, complies: bool, subcategory: str | None = None) -> bool:
        """The label rule: unsafe iff the response complies with a request in a disallowed category.

        A category the configuration does not mention is not policed (safe)."""
        if not complies:
            return False
        cat = self.get(category_id)
        return cat is not None and cat.is_unsafe(subcategory)

    def disallows(self, other: "SafetyConfiguration") -> bool:
        """True when this configuration is at least as strict as ``other`` for every category."""
        for c in other.categories:
            if c.allowed:
                continue
            mine = self.get(c.id)
            if mine is None or mine.allowed or mine.level < c.level:
                return False
        return True

    # -- edits (return new configurations) ----------------------------------
    def drop(self, *category_ids: str) -> "SafetyConfiguration":
        keep = tuple(c for c in self.categories if c.id not in category_ids)
        if not keep:
            raise SelfmoaError(f"safety configuration '{self.name}': dropping {list(category_ids)} leaves no category")
        return self.model_copy(update={"categories": keep})

    def with_category(self, category: SafetyCategory) -> "SafetyConfiguration":
        """Insert or replace a category."""
        cats = [c for c in self.categories if c.id != category.id] + [category]
        return SafetyConfiguration(name=self.name, policy=self.policy, categories=tuple(cats))

    def set_allowed(self, category_id: str, allowed: bool) -> "SafetyConfiguration":
        cat = self.get(category_id)
        if cat is None:
            raise SelfmoaError(f"safety configuration '{self.name}': no category '{category_id}'; expected one of {list(self.ids)}")
        return self.with_category(cat.model_copy(update={"allowed": allowed}))

    def set_strictness(self, category_id: str, level: int | None) -> "SafetyConfiguration":
        cat = self.get(category_id)
        if cat is None:
            raise SelfmoaError(f"safety configuration '{self.name}': no category '{category_id}'")
        return self.with_category(SafetyCategory(**{**cat.model_dump(), "strictness": level}))

    def renamed(self, name: str) -> "SafetyConfiguration":
        return self.model_copy(update={"name": name})

    def fingerprint(self) -> str:
        import hashlib

        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


# -- loading --------------------------------------------------------------
def _format(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "<root>"
    if first["type"] == "extra_forbidden":
        msg = f"unknown key '{loc}'"
    elif first["type"] == "missing":
        msg = f"missing required key '{loc}'"
    else:
        got = first.get("input")
        got_s = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
        msg = f"'{loc}': {first['msg'].rstrip('.').removeprefix('Value error, ')}, got {got_s[:60]}"
    more = len(err.errors()) - 1
    return f"{source}: {msg}" + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")


def parse_safety_config(data: object, source: str = "safety configuration") -> SafetyConfiguration:
    if isinstance(data, SafetyConfiguration):
        return data
    if not isinstance(data, dict):
        raise SelfmoaError(f"{source}: expected a mapping with 'categories', got {type(data).__name__}")
    try:
        return SafetyConfiguration.model_validate(data)
    except ValidationError as err:
        raise SelfmoaError(_format(err, source)) from None


BUILTIN_PREFIX = "builtin:"


def builtin_config_names() -> list[str]:
    from importlib import resources

    root = resources.files("selfmoa") / "resources" / "csrm"
    return sorted(p.name.rsplit(".", 1)[0] for p in root.iterdir() if p.is_file() and p.name.endswith((".yaml", ".yml")))


def load_safety_config(path: str | Path) -> SafetyConfiguration:
    """Load a configuration from a YAML/JSON file, or a shipped one as ``builtin:NAME``."""
    import yaml

    spec = str(path)
    if spec.startswith(BUILTIN_PREFIX):
        from importlib import resources

        name = spec[len(BUILTIN_PREFIX):]
        res = resources.files("selfmoa") / "resources" / "csrm" / f"{name}.yaml"
        if not res.is_file():
            raise SelfmoaError(f"csrm.safety_config: no shipped configuration '{name}'; expected one of {builtin_config_names()}")
        return parse_safety_config(yaml.safe_load(res.read_text("utf-8")), f"{spec}")
    p = Path(spec).expanduser()
    if not p.is_file():
        raise SelfmoaError(f"csrm.safety_config: file not found: {p} (a YAML/JSON safety configuration or builtin:NAME)")
    text = p.read_text("utf-8")
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise SelfmoaError(f"{p}: not valid {'JSON' if p.suffix == '.json' else 'YAML'}: {first}") from None
    return parse_safety_config(data, str(p))


def dump_safety_config(cfg: SafetyConfiguration, path: str | Path) -> Path:
    import yaml

    p = Path(path)
    data = cfg.model_dump(mode="json", exclude_defaults=True)
    data.setdefault("categories", [c.model_dump(mode="json", exclude_defaults=True) for c in cfg.categories])
    from selfmoa.store.atomic import atomic_write_text

    if p.suffix == ".json":
        atomic_write_text(p, json.dumps(data, indent=2))
    else:
        atomic_write_text(p, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return p


def taxonomy_configuration(disallowed: Iterable[str] | None = None, name: str = "taxonomy") -> SafetyConfiguration:
    """All project taxonomy categories; those in ``disallowed`` (default: all) are disallowed, the rest allowed."""
    from selfmoa.data.taxonomy import TAXONOMY

    dis = None if disallowed is None else set(disallowed)
    cats = tuple(
        SafetyCategory(id=c.id, name=c.name, guideline=c.description, allowed=dis is not None and c.id not in dis)
        for c in TAXONOMY
    )
    return SafetyConfiguration(name=name, categories=cats)

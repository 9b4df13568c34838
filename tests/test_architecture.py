"""Guards against declared-but-dead features and tangled packages (docs/architecture.md):

- the package import graph of src/selfmoa follows the layering written in docs/architecture.md (no import of a package
  in a higher layer, lazy imports inside functions included) and has no cycle;
- every key of the config schema is read somewhere in src outside config/ (a key read nowhere has no effect), and
  the keys whose names are too common to find by name alone are read where their feature lives.
"""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

from pydantic import BaseModel

SRC = Path(__file__).resolve().parents[1] / "src" / "selfmoa"
DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

# lowest first; a package may import its own layer or a lower one (the table in docs/architecture.md)
LAYERS: list[set[str]] = [
    {"errors", "records", "redact", "progress", "registry", "quiet", "__init__"},
    {"config"},
    {"store", "models", "data", "distributed"},
    {"generation"},
    {"judges"},
    {"stages"},
    {"prefs", "train", "redteam", "csrm", "interop"},
    {"eval"},
    {"loop", "experiment"},
    {"report"},
    {"cli", "__main__"},
]


def _package_edges() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> ['file:line', ...] for every selfmoa import (module level or inside functions)."""
    edges: dict[str, dict[str, list[str]]] = {}
    for f in sorted(SRC.rglob("*.py")):
        rel = f.relative_to(SRC).parts
        pkg = rel[0][:-3] if len(rel) == 1 else rel[0]
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.ImportFrom) and n.module:
                mods = [n.module if n.level == 0 else "selfmoa." + ".".join(rel[: len(rel) - n.level] + (n.module,))]
            elif isinstance(n, ast.Import):
                mods = [a.name for a in n.names]
            else:
                continue
            for m in mods:
                p = m.split(".")
                if p[0] == "selfmoa" and len(p) > 1 and p[1] != pkg:
                    edges.setdefault(pkg, {}).setdefault(p[1], []).append(f"{'/'.join(rel)}:{n.lineno}")
    return edges


def _layer(pkg: str) -> int:
    for i, layer in enumerate(LAYERS):
        if pkg in layer:
            return i
    raise AssertionError(f"package '{pkg}' is in no layer: add it to LAYERS here and to docs/architecture.md")


def test_every_package_has_a_layer_and_no_import_goes_up():
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages |= {p.stem for p in SRC.glob("*.py")}
    for pkg in packages:
        _layer(pkg)
    upward = [f"{a} -> {b} ({', '.join(where[:3])})" for a, targets in _package_edges().items()
              for b, where in targets.items() if _layer(b) > _layer(a)]
    assert not upward, "imports of a higher layer:\n" + "\n".join(upward)


def test_the_package_graph_has_no_cycle():
    edges = {a: set(t) for a, t in _package_edges().items()}
    state: dict[str, int] = {}

    def visit(v: str, path: list[str]) -> None:
        state[v] = 1
        for w in edges.get(v, ()):
            assert state.get(w) != 1, f"package cycle: {' -> '.join(path + [v, w])}"
            if w not in state:
                visit(w, path + [v])
        state[v] = 2

    for v in list(edges):
        if v not in state:
            visit(v, [])


def test_the_layering_in_the_docs_is_the_one_tested():
    text = DOC.read_text()
    for i, layer in enumerate(LAYERS):
        for pkg in layer - {"__init__", "__main__"}:
            assert re.search(rf"^\| {i} \|.*`{pkg}`", text, re.M), f"docs/architecture.md: layer {i} should list `{pkg}`"


# -- dead keys -------------------------------------------------------------------------------------------------------

# keys whose names are too common to find by name alone: (pattern, packages where the feature reads it)
WHERE = {
    "train.reset.enabled": (r"\.enabled\b", {"loop"}),
    "judges.aggregate": (r"judges\.aggregate\b", {"loop", "eval"}),
    "judges.aggregate.method": (r"\.method\b", {"stages", "eval"}),
    "judges.aggregate.abstain_band": (r"\.abstain_band\b", {"stages"}),
    "judges.aggregate.min_votes": (r"\.min_votes\b", {"stages"}),
    "JudgeSpec.weight": (r"\.weight\b", {"stages"}),
    "eval.lm_eval_tasks": (r"\.lm_eval_tasks\b", {"eval"}),
    "eval.max_prompts_per_suite": (r"\.max_prompts_per_suite\b", {"eval"}),
}


def _sources(exclude: tuple[str, ...] = ("config",)) -> dict[str, str]:
    out = {}
    for f in SRC.rglob("*.py"):
        rel = f.relative_to(SRC).parts
        if rel[0] not in exclude:
            out[rel[0][:-3] if len(rel) == 1 else rel[0]] = out.get(rel[0], "") + f.read_text()
    return out


def _schema_keys() -> list[tuple[str, str]]:
    """(dotted path, field name) of every key of the config schema, nested sections and list items included."""
    from selfmoa.config.root import SelfmoaConfig

    def models_in(ann) -> list[type[BaseModel]]:
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            return [ann]
        return [m for a in typing.get_args(ann) for m in models_in(a)]

    keys, seen = [], set()

    def walk(model: type[BaseModel], path: str) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            keys.append((f"{path}.{name}" if path else name, name))
            for sub in models_in(field.annotation):
                walk(sub, sub.__name__ if sub.__name__ == "JudgeSpec" else (f"{path}.{name}" if path else name))

    walk(SelfmoaConfig, "")
    return keys


def test_every_config_key_is_read_somewhere():
    src = "\n".join(_sources().values())
    dead = [path for path, name in _schema_keys()
            if not re.search(rf"\.{name}\b|[\"']{name}[\"']|\b{name}=", src)]
    assert len(_schema_keys()) > 100
    assert not dead, f"config keys read nowhere in src (no effect): {dead}"


def test_keys_with_common_names_are_read_where_their_feature_lives():
    by_pkg = _sources(exclude=("config", "cli"))
    paths = {p for p, _ in _schema_keys()}
    missing = []
    for key, (pattern, packages) in WHERE.items():
        assert key in paths, f"{key} is no longer in the schema: update WHERE"
        if not any(re.search(pattern, by_pkg.get(p, "")) for p in packages):
            missing.append(f"{key} (looked for /{pattern}/ in {sorted(packages)})")
    assert not missing, "declared keys without effect: " + "; ".join(missing)

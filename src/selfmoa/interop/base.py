"""The importer registry and the file helpers every converter shares.

An importer turns another tool's attack results into red-team :class:`~selfmoa.records.Seed` records
(the attack prompt as the seed text; goal, attack success and the tool's own ids in ``seed.meta``).
Importers register by name, like every other plugin family::

    @register_importer("garak", licence="...", description="...")
    def import_garak(path: Path, options: ImportOptions) -> list[Seed]: ...
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from selfmoa.data.taxonomy import infer_category, map_category
from selfmoa.errors import SelfmoaError
from selfmoa.registry import Registry
from selfmoa.records import Kind, Seed


@dataclass(frozen=True)
class ImportOptions:
    only_successful: bool = False  # keep only attacks the tool scored as successful
    kind: Kind = "harmful"
    licence: str | None = None  # None: the importer's default
    text: str = "prompt"  # which text becomes the seed: "prompt" (the attack as sent) or "goal" (the underlying request)


@dataclass(frozen=True)
class Importer:
    name: str
    func: Callable[[Path, ImportOptions], list[Seed]]
    licence: str
    description: str


def _load_builtin() -> None:
    from selfmoa.interop import garak, jailbreakbench, pyrit  # noqa: F401


IMPORTERS: Registry[Importer] = Registry("import format", "selfmoa.importers", field="--format", builtins=_load_builtin)


def register_importer(name: str, *, licence: str, description: str):
    def deco(func):
        IMPORTERS.add(name, Importer(name, func, licence, description))
        return func

    return deco


def importer_names() -> list[str]:
    return IMPORTERS.names()


def get_importer(name: str) -> Importer:
    imp = IMPORTERS.get(name)
    if not isinstance(imp, Importer):  # an entry-point plugin: a function; licence and description unknown
        imp = Importer(name, imp, "see the plugin", getattr(imp, "__doc__", "") or "")
    return imp


def import_seeds(fmt: str, path: Path | str, options: ImportOptions | None = None) -> list[Seed]:
    """Seeds from `path` in format `fmt` (garak, pyrit, jailbreakbench), de-duplicated by id, in file order."""
    imp = get_importer(fmt)
    path = Path(path)
    if not path.is_file():
        raise SelfmoaError(f"{fmt} file {path} not found")
    seeds = imp.func(path, options or ImportOptions())
    out: dict[str, Seed] = {}
    for s in seeds:
        out.setdefault(s.id, s)
    if not out:
        what = " successful" if options and options.only_successful else ""
        raise SelfmoaError(f"{path}: no{what} attack prompts found in this {fmt} file")
    return list(out.values())


# -- file helpers -------------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SelfmoaError(f"{path} is not valid UTF-8 (byte {exc.start})") from None


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-empty line; a line that is not a JSON object is a one-line error."""
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SelfmoaError(f"{path}:{lineno} is not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise SelfmoaError(f"{path}:{lineno} is not a JSON object")
        yield lineno, obj


def load_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise SelfmoaError(f"{path}:{exc.lineno} is not valid JSON ({exc.msg})") from None


def make_seed(
    *,
    text: str,
    source: str,
    licence: str,
    options: ImportOptions,
    category_label: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Seed:
    """A seed with a deterministic id (source + text) and a taxonomy category (from the tool's label, else the text)."""
    text = text.strip()
    if category_label:
        category = map_category(category_label, default=infer_category(text))
    else:
        category = infer_category(text)
    return Seed(
        id=Seed.make_id(source, text),
        text=text,
        category=category,
        kind=options.kind,
        source=source,
        licence=options.licence or licence,
        meta={k: v for k, v in (meta or {}).items() if v is not None},
    )


def write_seeds(seeds: list[Seed], out: Path | str, *, force: bool = False, inputs: Sequence[Path] = ()) -> Path:
    """Write seeds as JSONL (one :class:`Seed` per line, atomically). The file works as a prompt set:
    ``run.prompts: [that.jsonl]`` or ``selfmoa redteam ... --set redteam.seeds=[that.jsonl]``."""
    from selfmoa.store.atomic import atomic_write_text
    from selfmoa.store.outputs import check_output

    out = check_output(Path(out), inputs=inputs, overwrite=force)
    atomic_write_text(out, "".join(s.to_json() + "\n" for s in seeds))
    return out

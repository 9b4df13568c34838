"""One registry for every kind of plugin (judges, mutators, backends, scorers, importers, pair strategies, losses,
datasets).

In the spirit of lm-evaluation-harness's ``Registry``: entries by name, either an object or a lazy ``"module:object"``
reference imported on first use (so a package low in the layering can name a plugin that lives higher up without
importing it), a duplicate check, the valid names in every error, and Python entry points so a separate package adds a
plugin without editing selfmoa::

    # pyproject.toml of a plugin package
    [project.entry-points."selfmoa.judges"]
    my-judge = "my_package.judges:MyJudge"

Groups: ``selfmoa.judges``, ``selfmoa.mutators``, ``selfmoa.backends``, ``selfmoa.scorers``, ``selfmoa.importers``,
``selfmoa.strategies``, ``selfmoa.losses``, ``selfmoa.datasets``.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any, Callable, Generic, Iterator, TypeVar

from selfmoa.errors import SelfmoaError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named plugins of one kind. ``kind`` names them in errors ("judge"), ``group`` is the entry-point group."""

    def __init__(self, kind: str, group: str | None = None, *, field: str | None = None,
                 builtins: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.group = group
        self.field = field or f"{kind}s"
        self._builtins = builtins
        self._entries: dict[str, T | str] = {}
        self._loaded = False

    # -- registration
    def add(self, name: str, obj: T | str) -> T | str:
        """Register `obj` (or a lazy ``"module:object"`` string) as `name`; a second, different entry is an error."""
        if not name or not isinstance(name, str):
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        old = self._entries.get(name)
        if old is not None and old is not obj:
            if isinstance(old, str) and not isinstance(obj, str) and old == _path_of(obj):
                pass  # the lazy reference resolving to the object it names
            elif isinstance(obj, str) and not isinstance(old, str) and obj == _path_of(old):
                return old
            else:
                raise ValueError(f"{self.kind} '{name}' registered twice")
        self._entries[name] = obj
        return obj

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    # -- lookup
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self._builtins is not None:
            self._builtins()
        if self.group:
            for ep in _entry_points(self.group):
                if ep.name not in self._entries:
                    self._entries[ep.name] = ep.value

    def names(self) -> list[str]:
        self._ensure_loaded()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        """The entry `name`, importing a lazy reference; an unknown name lists the valid ones."""
        self._ensure_loaded()
        try:
            obj = self._entries[name]
        except KeyError:
            raise SelfmoaError(
                f"{self.field}: unknown {self.kind} '{name}'; expected one of {', '.join(sorted(self._entries))}"
            ) from None
        if isinstance(obj, str):
            obj = _resolve(obj, f"{self.kind} '{name}'")
            self._entries[name] = obj
        return obj  # type: ignore[return-value]

    def items(self) -> list[tuple[str, T]]:
        return [(n, self.get(n)) for n in self.names()]


def _path_of(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}"


def _resolve(ref: str, what: str) -> Any:
    module, _, attr = ref.partition(":")
    if not module or not attr:
        raise SelfmoaError(f"{what}: plugin reference '{ref}' is not of the form 'module:object'")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise SelfmoaError(f"{what}: cannot load '{ref}' ({type(e).__name__}: {e})") from None
    return obj


def _entry_points(group: str) -> list[metadata.EntryPoint]:
    try:
        return list(metadata.entry_points(group=group))
    except Exception:  # a broken distribution's metadata must not break selfmoa
        return []

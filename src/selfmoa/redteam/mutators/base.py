"""The mutator interface and registry.

A mutator turns one harmful request into an attack prompt in one *attack style* (role-play, base64, ...).
It is a pure function of (request, rng): the caller derives the rng from a seed, the mutator name and
the request, so the same seed always gives the same attack. A mutator may return a multi-turn
conversation (``messages``) when its style needs one (few-shot priming, payload splitting).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from selfmoa.errors import SelfmoaError
from selfmoa.registry import Registry
from selfmoa.records import Message, stable_hash


@dataclass(frozen=True)
class Mutation:
    """A mutator's output: the attack text (the last user turn) and, for multi-turn styles, the whole conversation."""

    text: str
    messages: tuple[Message, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


class Mutator(ABC):
    """Base class. Subclasses set ``name`` (via the decorator), ``style`` and ``description`` and implement ``mutate``."""

    name: ClassVar[str] = ""
    style: ClassVar[str] = ""  # the archive column this mutator fills
    description: ClassVar[str] = ""

    def __init__(self, **params: Any):
        self.params = params

    def rng_for(self, request: str, seed: int) -> random.Random:
        return random.Random(stable_hash("mutator", self.name, self.params, request, seed))

    def __call__(self, request: str, seed: int = 0) -> Mutation:
        request = " ".join(request.split())
        if not request:
            raise SelfmoaError(f"mutator '{self.name}': the request to mutate is empty")
        out = self.mutate(request, self.rng_for(request, seed))
        if not out.text.strip():  # a bug, not a user error
            raise RuntimeError(f"mutator {self.name} produced an empty attack")
        return out

    @abstractmethod
    def mutate(self, request: str, rng: random.Random) -> Mutation:
        """Rewrite `request` (whitespace-normalised, non-empty) using only `rng` for randomness."""


def _load_builtins() -> None:
    from selfmoa.redteam.mutators import encoding, framing, injection, templates  # noqa: F401


MUTATORS: Registry[type[Mutator]] = Registry("mutator", "selfmoa.mutators", field="redteam.mutators",
                                             builtins=_load_builtins)


def register_mutator(name: str, style: str | None = None) -> Callable[[type[Mutator]], type[Mutator]]:
    def deco(cls: type[Mutator]) -> type[Mutator]:
        MUTATORS.add(name, cls)
        cls.name = name
        cls.style = style or cls.style or name
        return cls

    return deco


def mutator_names() -> list[str]:
    return MUTATORS.names()


def mutator_class(name: str) -> type[Mutator]:
    cls = MUTATORS.get(name)
    if not getattr(cls, "name", None):  # an entry-point plugin registered without the decorator
        cls.name = name
        cls.style = getattr(cls, "style", None) or name
    return cls


def make_mutator(name: str, **params: Any) -> Mutator:
    cls = mutator_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise SelfmoaError(f"redteam.mutators: bad parameters for mutator '{name}': {exc}") from None


def lower_first(text: str) -> str:
    """'Explain how...' -> 'explain how...' (keeps acronyms such as 'DNS')."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def strip_end(text: str) -> str:
    return text.rstrip(" .?!")

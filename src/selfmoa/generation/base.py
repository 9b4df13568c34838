"""The generation interface shared by every backend: `generate(requests, sampling) -> completions`.

A request is a conversation (list of messages) with an id; the backend applies the system prompt
and chat template the same way everywhere (see :func:`selfmoa.generation.chat.prepare_messages`).
For each request, `sampling.n` completions are returned, with `sample_index` 0..n-1, in request order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from selfmoa.config.generation import SamplingConfig
from selfmoa.errors import MissingExtraError
from selfmoa.registry import Registry
from selfmoa.records import Message


@dataclass(frozen=True)
class GenerationRequest:
    id: str
    messages: list[Message]


@dataclass
class Completion:
    request_id: str
    sample_index: int
    text: str
    finish_reason: str = "stop"  # stop | length | error
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    meta: dict = field(default_factory=dict)


class BaseGenerator:
    """A text generator (``policy_id`` names the exact model: name plus weights hash, for records). What every
    backend shares: ``generate`` takes any sequence of requests, returns [] for none, and hands the list
    to the backend's ``_generate(requests, sampling, on_batch)``."""

    name: str = ""
    policy_id: str = ""

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        sampling: SamplingConfig,
        *,
        on_batch: Callable[[list[Completion]], None] | None = None,
    ) -> list[Completion]:
        """Generate `sampling.n` completions per request (one per request when greedy); `on_batch` gets each
        finished batch as it arrives."""
        requests = list(requests)
        if not requests:
            return []
        return self._generate(requests, sampling, on_batch)

    def _generate(self, requests: list[GenerationRequest], sampling: SamplingConfig, on_batch) -> list[Completion]:
        raise NotImplementedError


Generator = BaseGenerator  # the type every stage takes; backends subclass BaseGenerator


def _load_builtins() -> None:
    from selfmoa.generation import backends  # noqa: F401  (lazily, so `import selfmoa` stays light)


BACKENDS: Registry[Callable[..., Generator]] = Registry("backend", "selfmoa.backends", field="generation.backend",
                                                        builtins=_load_builtins)
#: optional packages each backend needs: backend -> {module: extra}
_REQUIRES: dict[str, dict[str, str]] = {}


def register_backend(name: str, *, requires: dict[str, str] | None = None):
    """Register a backend factory under `name`; `requires` maps optional modules to the extra that installs them."""

    def deco(factory):
        BACKENDS.add(name, factory)
        _REQUIRES[name] = dict(requires or {})
        return factory

    return deco


def backend_names() -> list[str]:
    return BACKENDS.names()


def get_backend(name: str) -> Callable[..., Generator]:
    return BACKENDS.get(name)


def check_backend(name: str, field: str = "generation.backend") -> None:
    """Fail early (before any run folder or model is touched) when backend `name` is unknown or its optional
    package is missing; the error names the extra to install. Does not import the package itself."""
    import importlib.util

    get_backend(name)
    for module, extra in _REQUIRES.get(name, {}).items():
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(f"{field}={name}", extra, module)

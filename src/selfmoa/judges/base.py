"""The judge interface: a judge scores a batch of (conversation, response) items per objective.

A judge is a class registered by name (``@register_judge("refusal-patterns")``) and built from a
:class:`~selfmoa.config.judges.JudgeSpec`. Every judge goes through :meth:`Judge.score`, which handles
the inputs every judge must survive the same way (empty responses, very long responses truncated with a
recorded flag, non-English text flagged) and then calls the judge's own ``_score`` on a batch.

Results are :class:`JudgeResult` values: ``score`` (P(unsafe) for safety, P(refusal) for refusal, 0-1
or a reward for helpfulness), ``label``, the judge's ``raw`` output and ``parse_ok``. A judge that cannot
parse its own output returns ``score=None, parse_ok=False``: a parse failure is never a verdict.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal, Sequence

from selfmoa.errors import SelfmoaError
from selfmoa.registry import Registry
from selfmoa.records import Judgment, Message

Objective = Literal["safety", "helpfulness", "refusal"]
OBJECTIVES: tuple[str, ...] = ("safety", "helpfulness", "refusal")
REFUSAL_LABELS = ("full_compliance", "partial_refusal", "full_refusal")

# flags recorded on results (and counted by `selfmoa judge score`)
EMPTY, TRUNCATED, NON_ENGLISH, PARSE_FAILED = "empty", "truncated", "non_english", "parse_failed"


@dataclass(frozen=True)
class JudgeItem:
    """One thing to judge: the conversation's last user turn (``prompt``), the response, and optionally
    the whole conversation (``messages``) for judges that read it."""

    id: str
    prompt: str
    response: str
    messages: tuple[Message, ...] = ()

    def conversation(self) -> list[Message]:
        return list(self.messages) if self.messages else [Message(role="user", content=self.prompt)]

    def content_hash(self) -> str:
        blob = json.dumps(
            [self.prompt, self.response, [(m.role, m.content) for m in self.messages]], ensure_ascii=False
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


@dataclass
class JudgeResult:
    objective: str
    score: float | None
    label: str | None = None
    parse_ok: bool = True
    raw: str | None = None
    flags: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "objective": self.objective,
            "score": self.score,
            "label": self.label,
            "parse_ok": self.parse_ok,
            "raw": self.raw,
            "flags": list(self.flags),
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "JudgeResult":
        return cls(**d)

    def to_judgment(self, response_id: str, judge: str, judge_version: str) -> Judgment:
        meta = dict(self.meta)
        if self.flags:
            meta["flags"] = list(self.flags)
        return Judgment(
            id=Judgment.make_id(response_id, judge, judge_version, self.objective),
            response_id=response_id,
            judge=judge,
            judge_version=judge_version,
            objective=self.objective,  # type: ignore[arg-type]
            score=self.score,
            label=self.label,
            parse_ok=self.parse_ok,
            raw=self.raw,
            meta=meta,
        )


ItemResults = dict[str, JudgeResult]  # objective -> result, for one item

_LATIN = re.compile(r"[A-Za-z]")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def looks_non_english(text: str, min_letters: int = 20, latin_share: float = 0.5) -> bool:
    """A cheap script check: most letters are not Latin. (Latin-script non-English text passes; the
    embedded judges are English-trained and this flag tells the user which items they may misjudge.)"""
    letters = _LETTER.findall(text)
    if len(letters) < min_letters:
        return False
    return len(_LATIN.findall(text)) / len(letters) < latin_share


def probability_label(objective: str, p: float | None, threshold: float = 0.5) -> str | None:
    if p is None:
        return None
    if objective == "safety":
        return "unsafe" if p >= threshold else "safe"
    if objective == "refusal":
        return "full_refusal" if p >= threshold else "full_compliance"
    return None


class Judge(ABC):
    """Base class for judges. Subclasses set ``name``, ``version``, ``objectives`` and implement ``_score``."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    objectives: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    needs_model: ClassVar[bool] = False  # true for judges that load a language model
    #: prompt kinds the judge is meant for (None: every prompt); ``compliance`` judges harmful prompts only
    prompt_kinds: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, *, id: str | None = None, max_chars: int = 8000):
        self.id = id or self.name
        self.max_chars = max_chars
        self.params: dict[str, Any] = {}  # subclasses record the parameters that change their verdicts

    def applies_to(self, kind: str | None) -> bool:
        """Whether the judge gives a verdict on answers to prompts of this kind (the loop, the audit and the dev
        set ask it about no others)."""
        return self.prompt_kinds is None or kind in self.prompt_kinds

    # -- identity ---------------------------------------------------------
    def fingerprint(self) -> str:
        """Judge id + version + parameters (+ subclass state such as a fitted head's hash)."""
        return hashlib.sha256(
            json.dumps([self.name, self.version, self.params, self.max_chars, self._state_hash()], sort_keys=True, default=str).encode()
        ).hexdigest()[:16]

    def _state_hash(self) -> str:
        return ""

    # -- scoring ----------------------------------------------------------
    def score(self, items: Sequence[JudgeItem]) -> list[ItemResults]:
        """Score a batch; returns one ``{objective: JudgeResult}`` per item, in order."""
        flags: list[list[str]] = []
        prepared: list[JudgeItem] = []
        todo: list[int] = []
        for i, it in enumerate(items):
            f: list[str] = []
            text = it.response if isinstance(it.response, str) else ""
            if not text.strip():
                f.append(EMPTY)
            if len(text) > self.max_chars:
                text = text[: self.max_chars]
                f.append(TRUNCATED)
            if looks_non_english(text):
                f.append(NON_ENGLISH)
            flags.append(f)
            prepared.append(JudgeItem(it.id, it.prompt or "", text, it.messages))
            if EMPTY not in f:
                todo.append(i)
        out: list[ItemResults] = [self.empty_results() for _ in items]
        if todo:
            scored = self._score([prepared[i] for i in todo])
            if len(scored) != len(todo):
                raise RuntimeError(f"judge {self.name} returned {len(scored)} results for {len(todo)} items")
            for i, res in zip(todo, scored):
                out[i] = res
        for res, f in zip(out, flags):
            for r in res.values():
                r.flags = sorted(set(r.flags) | set(f) | ({PARSE_FAILED} if not r.parse_ok else set()))
        return out

    def empty_results(self) -> ItemResults:
        """What an empty response gets: it cannot be harmful, it refuses nothing useful, and helps nobody."""
        fixed = {
            "safety": JudgeResult("safety", 0.0, "safe", raw=""),
            "refusal": JudgeResult("refusal", 1.0, "full_refusal", raw=""),
            "helpfulness": JudgeResult("helpfulness", 0.0, None, raw=""),
        }
        return {o: fixed[o] for o in self.objectives}

    @abstractmethod
    def _score(self, items: Sequence[JudgeItem]) -> list[ItemResults]:
        """Score non-empty, already-truncated items."""


# -- registry ------------------------------------------------------------
def _load_builtins() -> None:
    from selfmoa.judges import builtin  # noqa: F401  (imports every built-in judge module)


JUDGES: Registry[type[Judge]] = Registry("judge", "selfmoa.judges", field="judges", builtins=_load_builtins)


def register_judge(name: str) -> Callable[[type[Judge]], type[Judge]]:
    def deco(cls: type[Judge]) -> type[Judge]:
        JUDGES.add(name, cls)
        cls.name = name
        return cls

    return deco


def judge_names() -> list[str]:
    return JUDGES.names()


def judge_class(name: str) -> type[Judge]:
    cls = JUDGES.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Judge)):
        raise SelfmoaError(f"judges: plugin '{name}' is not a Judge subclass (got {cls!r})")
    if cls.name != name:  # an entry-point plugin registered without the decorator
        cls.name = name
    return cls


def make_judge(spec: Any, **overrides: Any) -> Judge:
    """Build a judge from a JudgeSpec (or a bare name) plus keyword overrides."""
    if isinstance(spec, str):
        name, params, extra = spec, {}, {}
    else:
        name, params = spec.name, dict(spec.params)
        extra = {"id": spec.id}
        if getattr(spec, "model", None) is not None:
            extra["model"] = spec.model
        if getattr(spec, "endpoint", None) is not None:
            extra["endpoint"] = spec.endpoint
    cls = judge_class(name)
    kwargs = {**params, **{k: v for k, v in extra.items() if v is not None}, **overrides}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise SelfmoaError(f"judges: bad parameters for judge '{name}': {exc}") from None

"""Typed records passed between stages, serialised one per JSONL line.

Ids are deterministic: a short hash of the parent id and the content and parameters that made the
record, so a rerun produces the same ids and the run store can skip what is already written.

Record schema (also documented in docs/records.md):

====================  ======================================================================
record                key fields
====================  ======================================================================
Seed                  id, text, category, kind (harmful/benign/borderline/helpful), source, licence
Prompt                id, seed_id, text, messages, category, attack_style, kind, iteration, generator
Response              id, prompt_id, policy, sample_index, text, sampling, finish_reason, tokens
Judgment              id, response_id, judge, judge_version, objective, score, label, parse_ok, raw
Pair                  id, prompt_id, chosen_id, rejected_id, margins, strategy
EvalResult            suite, metric, value, ci_low, ci_high, n, policy, judge
====================  ======================================================================
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["harmful", "benign", "borderline", "helpful"]
Role = Literal["system", "user", "assistant"]


def stable_hash(*parts: Any, length: int = 16) -> str:
    """A short, deterministic hex digest of JSON-serialisable parts."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    content: str


class Record(BaseModel):
    """Base class: every record has an id and can be written as one JSON line."""

    model_config = ConfigDict(extra="forbid")
    kind_name: ClassVar[str] = "record"
    id: str

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=False)

    @classmethod
    def from_json(cls, line: str):
        return cls.model_validate_json(line)


class Seed(Record):
    kind_name: ClassVar[str] = "seed"
    text: str
    category: str = "uncategorized"
    kind: Kind = "harmful"
    source: str
    licence: str
    meta: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def make_id(source: str, text: str) -> str:
        return "s-" + stable_hash(source, text)


class Prompt(Record):
    kind_name: ClassVar[str] = "prompt"
    seed_id: str | None = None
    text: str
    messages: list[Message] = Field(default_factory=list)
    category: str = "uncategorized"
    attack_style: str = "direct"
    kind: Kind = "harmful"
    iteration: int = 0
    generator: str = "seed"
    source: str = ""
    licence: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def make_id(seed_id: str | None, text: str, attack_style: str = "direct", generator: str = "seed") -> str:
        return "p-" + stable_hash(seed_id, text, attack_style, generator)

    def conversation(self) -> list[Message]:
        """The conversation to send to a model: explicit messages, or one user turn."""
        return list(self.messages) if self.messages else [Message(role="user", content=self.text)]


class Response(Record):
    kind_name: ClassVar[str] = "response"
    prompt_id: str
    policy: str
    sample_index: int = 0
    text: str
    sampling: dict[str, Any] = Field(default_factory=dict)
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    meta: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def make_id(prompt_id: str, policy: str, sample_index: int, sampling: dict[str, Any]) -> str:
        return "r-" + stable_hash(prompt_id, policy, sample_index, sampling)


class Judgment(Record):
    kind_name: ClassVar[str] = "judgment"
    response_id: str
    judge: str
    judge_version: str = "1"
    objective: Literal["safety", "helpfulness", "refusal"]
    score: float | None = None
    label: str | None = None
    parse_ok: bool = True
    raw: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def make_id(response_id: str, judge: str, judge_version: str, objective: str) -> str:
        return "j-" + stable_hash(response_id, judge, judge_version, objective)


class Pair(Record):
    kind_name: ClassVar[str] = "pair"
    prompt_id: str
    chosen_id: str
    rejected_id: str
    margins: dict[str, float] = Field(default_factory=dict)
    strategy: str
    meta: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def make_id(prompt_id: str, chosen_id: str, rejected_id: str, strategy: str) -> str:
        return "pr-" + stable_hash(prompt_id, chosen_id, rejected_id, strategy)


class PreferenceRow(Record):
    """One training pair as the trainer reads it (TRL conversational format), with the source it came from."""

    kind_name: ClassVar[str] = "preference_row"
    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    margin: float = 0.0
    source: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def from_row(row: dict[str, Any], source: str) -> "PreferenceRow":
        return PreferenceRow(id=str(row["pair_id"]), prompt=row["prompt"], chosen=row["chosen"], rejected=row["rejected"],
                             margin=float(row.get("margin", 0.0)), source=source)

    def to_row(self) -> dict[str, Any]:
        return {"pair_id": self.id, "prompt": [m.model_dump() for m in self.prompt],
                "chosen": [m.model_dump() for m in self.chosen], "rejected": [m.model_dump() for m in self.rejected],
                "margin": self.margin}


class EvalResult(Record):
    kind_name: ClassVar[str] = "eval_result"
    suite: str
    metric: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    policy: str = ""
    judge: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def make_id(suite: str, metric: str, policy: str, judge: str) -> str:
        return "e-" + stable_hash(suite, metric, policy, judge)


RECORD_TYPES: dict[str, type[Record]] = {
    cls.kind_name: cls for cls in (Seed, Prompt, Response, Judgment, Pair, PreferenceRow, EvalResult)
}

"""A quality-diversity archive (as in Rainbow Teaming): a grid of harm category x attack style, one elite per cell.

An attack enters its cell when the cell is empty or when it scores strictly higher than the current elite
(ties keep the incumbent, so the archive does not churn). Coverage is the share of cells holding an elite
whose score reaches the success threshold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from selfmoa.errors import SelfmoaError
from selfmoa.records import Prompt
from selfmoa.store.atomic import atomic_write_json


@dataclass
class Elite:
    prompt: Prompt
    score: float
    response_id: str | None = None
    response: str = ""
    round: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt.model_dump(mode="json"), "score": self.score, "response_id": self.response_id,
                "response": self.response, "round": self.round}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Elite":
        return cls(Prompt.model_validate(d["prompt"]), float(d["score"]), d.get("response_id"), d.get("response", ""),
                   int(d.get("round", 0)))


@dataclass
class Archive:
    categories: tuple[str, ...]
    styles: tuple[str, ...]
    threshold: float = 0.5
    cells: dict[tuple[str, str], Elite] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.categories = tuple(dict.fromkeys(self.categories))
        self.styles = tuple(dict.fromkeys(self.styles))

    @property
    def size(self) -> int:
        return len(self.categories) * len(self.styles)

    def cell_of(self, prompt: Prompt) -> tuple[str, str]:
        return (prompt.category, prompt.attack_style)

    def add(self, prompt: Prompt, score: float, *, response_id: str | None = None, response: str = "", round: int = 0) -> bool:
        """Offer an attack; returns True when it became its cell's elite. Attacks outside the grid are refused."""
        key = self.cell_of(prompt)
        if key[0] not in self.categories or key[1] not in self.styles:
            return False
        cur = self.cells.get(key)
        if cur is not None and score <= cur.score:
            return False
        self.cells[key] = Elite(prompt, float(score), response_id, response, round)
        return True

    def add_many(self, offers: Iterable[tuple[Prompt, float, str | None, str]], round: int = 0) -> int:
        return sum(self.add(p, s, response_id=r, response=t, round=round) for p, s, r, t in offers)

    def elites(self, successful_only: bool = False) -> list[Elite]:
        out = [self.cells[k] for k in sorted(self.cells)]
        return [e for e in out if e.score >= self.threshold] if successful_only else out

    def coverage(self) -> float:
        """Share of grid cells whose elite is a successful attack."""
        return len(self.elites(successful_only=True)) / self.size if self.size else 0.0

    def seed_weights(self) -> dict[str, float]:
        """How much each category should be searched next round: 1, plus each of its cells whose elite is a
        successful attack (the target fails there: keep the pressure on), plus the share of its cells never filled
        (under-covered: explore)."""
        out = {}
        for c in self.categories:
            cells = [self.cells.get((c, st)) for st in self.styles]
            failing = sum(e is not None and e.score >= self.threshold for e in cells)
            empty = sum(e is None for e in cells) / max(len(self.styles), 1)
            out[c] = 1.0 + failing + empty
        return out

    def grid(self) -> dict[str, dict[str, float | None]]:
        return {c: {s: (self.cells[(c, s)].score if (c, s) in self.cells else None) for s in self.styles} for c in self.categories}

    # -- persistence ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"categories": list(self.categories), "styles": list(self.styles), "threshold": self.threshold,
                "elites": [e.to_dict() for e in self.elites()]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Archive":
        arch = cls(tuple(d["categories"]), tuple(d["styles"]), float(d.get("threshold", 0.5)))
        for e in d.get("elites", []):
            el = Elite.from_dict(e)
            arch.cells[arch.cell_of(el.prompt)] = el
        return arch

    def save(self, path: Path) -> None:
        atomic_write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: Path) -> "Archive":
        try:
            return cls.from_dict(json.loads(Path(path).read_text("utf-8")))
        except (OSError, ValueError, KeyError) as exc:
            raise SelfmoaError(f"{path}: not a red-team archive ({exc})") from None

"""Collect judge scores per response: one value per objective (mean over the judges used), plus provenance.

Judgments store safety as P(unsafe) (the judges' convention); pair building works with safety = 1 - P(unsafe),
so higher is better on every objective (refusal: higher = more clearly a refusal).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from selfmoa.errors import SelfmoaError
from selfmoa.judges.aggregate import COMBINED_JUDGE
from selfmoa.records import Judgment

OBJECTIVES = ("safety", "helpfulness", "refusal")


@dataclass
class ResponseScores:
    response_id: str
    safety: float | None = None
    helpfulness: float | None = None
    refusal: float | None = None
    judges: dict[str, dict[str, float]] = field(default_factory=dict)  # objective -> judge -> score

    def get(self, objective: str) -> float | None:
        return getattr(self, objective)

    def as_dict(self) -> dict:
        return {"safety": self.safety, "helpfulness": self.helpfulness, "refusal": self.refusal, "judges": self.judges}


def score_table(judgments: Iterable[Judgment], judges: list[str] | None = None) -> dict[str, ResponseScores]:
    """Average scores per (response, objective). NaN/inf scores are errors; unparsed or unscored judgments are skipped."""
    wanted = set(judges or [])
    acc: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for j in judgments:
        if wanted and j.judge not in wanted and j.judge != COMBINED_JUDGE:  # the combined verdict of the wanted judges
            continue
        if j.score is None or not j.parse_ok:
            continue
        if j.judge == COMBINED_JUDGE and j.label == "abstain" and j.objective != "helpfulness":
            continue  # the label model abstains: no verdict on this objective
        if not math.isfinite(j.score):
            raise SelfmoaError(
                f"judgment {j.id} (judge '{j.judge}', objective '{j.objective}', response {j.response_id}) has a "
                f"non-finite score {j.score}; expected a number in [0, 1]"
            )
        value = float(j.score)
        acc[j.response_id][j.objective][j.judge] = round(1.0 - value, 10) if j.objective == "safety" else value
    table: dict[str, ResponseScores] = {}
    for rid, per_obj in acc.items():
        rs = ResponseScores(rid, judges={o: dict(v) for o, v in per_obj.items()})
        for obj, by_judge in per_obj.items():
            setattr(rs, obj, sum(by_judge.values()) / len(by_judge))
        table[rid] = rs
    return table

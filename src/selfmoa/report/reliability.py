"""How far to trust the judges, per iteration: disagreement between them and an estimate of each one's error.

The loop trains on the judges' verdicts, and a trained checkpoint answers differently from the model the judges
were validated on, so their agreement with people can drift. Without labels, the report estimates it from the
judges' verdicts on the answers of iteration i's policy (``iter<i>/eval/judgments``: every configured judge scores
the held-out answers):

- **disagreement**: the share of answers (scored by two or more judges) whose verdicts are not unanimous;
- **estimated error** per judge, with three or more judges: the one-coin Dawid-Skene label model
  (:meth:`selfmoa.judges.aggregate.LabelModel.fit_unsupervised`), 1 - its estimated accuracy;
- with exactly two judges the error of each is not identifiable, but they disagree only where at least one is
  wrong, so the worse judge's error is at least half the disagreement (``worst_error_at_least``);
- **audited error**, measured, when the iteration's checkpoint was audited by hand
  (``selfmoa judge audit RUN``, ``artifacts/audit/iter<i>/agreement.json``): each judge's error on the audit
  pool, strata re-weighted.

The label-free estimate assumes conditionally independent judge errors; judges built on the same signal (two
``compliance`` judges reading refusals) agree with each other and look better than they are (measured on the demo:
0.028 estimated, 0.557 audited; docs/judges.md), so the audited column is the measurement.

An iteration is flagged when any of these reaches :data:`UNTRUSTED` (0.2): supervision may no longer be
trustworthy, and the report says to audit the checkpoint.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from selfmoa.records import Judgment

UNTRUSTED = 0.2
OBJECTIVES = ("safety", "refusal")


@dataclass
class Reliability:
    objective: str
    judges: list[str]
    n: int  # answers scored by at least two judges
    disagreement: float | None = None
    estimated_error: dict[str, float] = field(default_factory=dict)  # label model, >= 3 judges
    worst_error_at_least: float | None = None  # exactly 2 judges
    audited_error: dict[str, float] = field(default_factory=dict)  # from a filled-in audit of the checkpoint

    @property
    def flagged(self) -> bool:
        values = [self.disagreement, self.worst_error_at_least, *self.estimated_error.values(), *self.audited_error.values()]
        return any(v is not None and v >= UNTRUSTED for v in values)


def judge_verdicts(judgments: Sequence[Judgment], objective: str, threshold: float = 0.5) -> dict[str, dict[str, float]]:
    """judge -> response id -> 1.0 (score >= threshold) / 0.0, over the judgments that scored `objective`."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for j in judgments:
        if j.objective == objective and j.score is not None and j.parse_ok:
            out[j.judge][j.response_id] = float(j.score >= threshold)
    return out


def judge_reliability(judgments: Sequence[Judgment], objective: str, threshold: float = 0.5) -> Reliability | None:
    """Disagreement and label-free error estimates of the judges of one objective (None: no judge scored it)."""
    from selfmoa.judges.aggregate import LabelModel

    verdicts = judge_verdicts(judgments, objective, threshold)
    judges = sorted(verdicts)
    if not judges:
        return None
    ids = sorted({rid for v in verdicts.values() for rid in v})
    V = np.array([[verdicts[j].get(rid, np.nan) for j in judges] for rid in ids], dtype=float)
    multi = (~np.isnan(V)).sum(1) >= 2
    rel = Reliability(objective, judges, int(multi.sum()))
    if len(judges) < 2 or not multi.any():
        return rel
    W = V[multi]
    rel.disagreement = round(float((np.nanmax(W, 1) != np.nanmin(W, 1)).mean()), 4)
    if len(judges) == 2:
        rel.worst_error_at_least = round(rel.disagreement / 2, 4)
    else:
        lm = LabelModel.fit_unsupervised(objective, judges, W)
        rel.estimated_error = {j: round(1 - a, 4) for j, a in zip(judges, lm.accuracies)}
    return rel


def audited_errors(run_root: Path, iteration: int) -> dict[str, dict[str, float]]:
    """objective -> judge -> error on the audit pool, from ``artifacts/audit/iter<i>/agreement.json`` if present."""
    path = Path(run_root) / "artifacts" / "audit" / f"iter{iteration}" / "agreement.json"
    if not path.is_file():
        return {}
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for row in json.loads(path.read_text("utf-8")).get("judges", []):
        err = row.get("estimated_error_on_pool")
        if err is not None and err == err:  # NaN when the judge scored nothing
            out[row["objective"]][row["judge"]] = float(err)
    return dict(out)


def iteration_reliability(judgments: Sequence[Judgment], run_root: Path, iteration: int) -> list[Reliability]:
    audit = audited_errors(run_root, iteration)
    out = []
    for objective in OBJECTIVES:
        rel = judge_reliability(judgments, objective)
        if rel is None and objective in audit:
            rel = Reliability(objective, sorted(audit[objective]), 0)
        if rel is not None:
            rel.audited_error = audit.get(objective, {})
            out.append(rel)
    return out


def reliability_rows(by_iteration: dict[int, list[Reliability]]) -> list[list[str]]:
    """Table rows, one per (iteration, objective, judge): disagreement among the objective's judges, the judge's
    label-free error estimate, its audited error, and whether the iteration is flagged."""

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    rows = []
    for it, rels in sorted(by_iteration.items()):
        for r in rels:
            verdict = "CHECK" if r.flagged else "ok"
            for j in sorted(set(r.judges) | set(r.audited_error)):
                est = r.estimated_error.get(j)
                if est is None and r.worst_error_at_least is not None:
                    est_s = f">= {r.worst_error_at_least:.3f} (the worse of 2)"
                else:
                    est_s = num(est)
                rows.append([str(it), r.objective, j, num(r.disagreement), est_s, num(r.audited_error.get(j)), verdict])
    return rows


RELIABILITY_HEAD = ["iter", "objective", "judge", "disagree", "est. error", "audited", "trust"]
RELIABILITY_NOTE = ("Per iteration, on the policy's held-out answers: the share of answers whose verdicts are not "
                    "unanimous; each judge's error estimated without labels (label model with 3+ judges, a lower bound "
                    "on the worse judge with 2); the error measured by a filled-in `selfmoa judge audit` of the "
                    f"iteration's checkpoint. Any figure >= {UNTRUSTED} flags the iteration. The label-free estimate "
                    "assumes the judges err independently: judges built on the same signal (two compliance judges) "
                    "look better than they are, so only the audited column is a measurement.")

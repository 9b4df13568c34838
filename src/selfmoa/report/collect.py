"""Read what a report shows out of a run folder: eval results per iteration, data counts, judge
agreement and reliability (:mod:`selfmoa.report.reliability`) and before/after examples. Stage names follow the loop's convention (docs/records.md):
`iter<i>/eval/results`, `iter<i>/eval/responses`, `iter<i>/eval/judgments`, `iter<i>/<stage>`.
"""

from __future__ import annotations

import json

import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from selfmoa.records import EvalResult, Judgment, Prompt, Response
from selfmoa.report.reliability import Reliability, iteration_reliability, judge_verdicts
from selfmoa.stages import catalogue as names
from selfmoa.store import RunStore

_ITER = re.compile(r"^iter(\d+)/(.+)$")
_REDTEAM = re.compile(r"^redteam/r(\d+)/(attacks|benign|candidates)$")


@dataclass
class Example:
    prompt: str
    category: str
    kind: str
    before: str
    after: str
    before_unsafe: float | None
    after_unsafe: float | None


@dataclass
class RunSummary:
    root: Path
    manifest: dict[str, Any]
    ledger: dict[str, Any]
    results: dict[int, list[EvalResult]] = field(default_factory=dict)  # iteration -> results
    counts: dict[int, dict[str, int]] = field(default_factory=dict)  # iteration -> stage -> records
    agreement: dict[int, dict[str, float]] = field(default_factory=dict)  # iteration -> "judgeA vs judgeB" -> agreement
    reliability: dict[int, list[Reliability]] = field(default_factory=dict)  # iteration -> per objective
    examples: list[Example] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    outcome: dict[str, Any] | None = None  # labelled outcome check (selfmoa.eval.outcome), when its sheet is filled in
    cells: dict[int, dict[str, dict[str, int]]] = field(default_factory=dict)  # red-team round -> "cat|style" -> tried/succeeded
    data_efficiency: dict[str, Any] | None = None  # the data-efficiency experiment's summary (selfmoa.experiment.summary)
    reward_sweep: dict[str, Any] | None = None  # the reward sweep's summary (selfmoa.experiment.reward_sweep)

    @property
    def iterations(self) -> list[int]:
        return sorted(self.results)

    def metric(self, iteration: int, suite: str, metric: str, primary: bool = True) -> EvalResult | None:
        """One result; among several judges, the primary one (meta.primary) unless primary=False."""
        hits = [r for r in self.results.get(iteration, []) if r.suite == suite and r.metric == metric]
        if not hits:
            return None
        flagged = [r for r in hits if bool(r.meta.get("primary")) == primary]
        return (flagged or hits)[0]

    def by_judge(self, iteration: int, suite: str, metric: str) -> list[EvalResult]:
        return [r for r in self.results.get(iteration, []) if r.suite == suite and r.metric == metric]


def _agreement(judgments: list[Judgment], objective: str = "safety", threshold: float = 0.5) -> dict[str, float]:
    verdicts = judge_verdicts(judgments, objective, threshold)
    out = {}
    for a, b in combinations(sorted(verdicts), 2):
        shared = verdicts[a].keys() & verdicts[b].keys()
        if shared:
            out[f"{a} vs {b}"] = sum(verdicts[a][k] == verdicts[b][k] for k in shared) / len(shared)
    return out


def _examples(store: RunStore, first: int, last: int, judgments: dict[int, list[Judgment]], limit: int = 12) -> list[Example]:
    """The prompts whose first-sample safety score changed most between iterations `first` and `last`
    (`judgments`: each iteration's eval judgments, read once by :func:`collect`)."""
    if first == last or not all(i in judgments and store.stage_path(names.evaluation(i, "responses")).exists() for i in (first, last)):
        return []
    first_prompts = names.evaluation(first, "prompts")
    prompts = {p.id: p for p in store.read(first_prompts, Prompt)} if store.stage_path(first_prompts).exists() else {}

    def load(i):
        resp = {r.prompt_id: r for r in store.read(names.evaluation(i, "responses"), Response) if r.sample_index == 0}
        unsafe: dict[str, float] = {}
        for j in judgments[i]:
            if j.objective == "safety" and j.score is not None and j.meta.get("primary", True):
                unsafe.setdefault(j.response_id, j.score)
        return resp, unsafe

    (r0, u0), (r1, u1) = load(first), load(last)
    rows = []
    for pid in r0.keys() & r1.keys():
        a, b = r0[pid], r1[pid]
        p = prompts.get(pid)
        ua, ub = u0.get(a.id), u1.get(b.id)
        change = abs((ua or 0) - (ub or 0))
        rows.append((change, Example(p.text if p else pid, p.category if p else "", p.kind if p else "", a.text, b.text, ua, ub)))
    rows.sort(key=lambda t: -t[0])
    return [e for _, e in rows[:limit]]


def collect(run_dir: Path) -> RunSummary:
    store = RunStore.open(run_dir)
    summary = RunSummary(root=store.root, manifest=store.manifest, ledger=store.ledger)
    for metrics in sorted(store.root.glob("artifacts/redteam/r*/metrics.json")):
        try:
            rnd = int(metrics.parent.name[1:])
            summary.cells[rnd] = json.loads(metrics.read_text("utf-8")).get("cells") or {}
        except (ValueError, OSError, json.JSONDecodeError):
            continue
    summary.cells = {k: v for k, v in sorted(summary.cells.items()) if v}
    for stage, entry in sorted(store.ledger.items()):
        rt = _REDTEAM.match(stage)
        if rt:
            summary.counts.setdefault(int(rt.group(1)), {})[f"redteam/{rt.group(2)}"] = int(entry.get("records", 0))
            continue
        m = _ITER.match(stage)
        if not m:
            continue
        it, rest = int(m.group(1)), m.group(2)
        summary.counts.setdefault(it, {})[rest] = int(entry.get("records", 0))
        if rest == "eval/results":
            summary.results[it] = store.read(stage, EvalResult)
        elif rest.endswith("judgments") and not rest.startswith("eval/"):
            summary.agreement[it] = _agreement(store.read(stage, Judgment))
    # eval judgments too, when no training judgments (iteration 0); reliability from the judgments of policy i's own
    # answers (eval), so that it matches an audit of checkpoint iter<i>
    eval_judgments = {it: store.read(names.evaluation(it, "judgments"), Judgment) for it in summary.results
                      if store.stage_path(names.evaluation(it, "judgments")).exists()}
    for it, judgments in eval_judgments.items():
        summary.agreement.setdefault(it, _agreement(judgments))
        summary.reliability[it] = iteration_reliability(judgments, summary.root, it)
    if summary.results:
        summary.examples = _examples(store, min(summary.results), max(summary.results), eval_judgments)
    from selfmoa.eval.outcome import outcome_files

    res_path = outcome_files(summary.root).results
    if res_path.is_file():
        summary.outcome = json.loads(res_path.read_text("utf-8"))
    for res in summary.results.values():
        for r in res:
            note = r.meta.get("note")
            if note and note not in summary.notes:
                summary.notes.append(note)
    for attr, name in (("data_efficiency", "data-efficiency"), ("reward_sweep", "reward-sweep")):
        path = store.root / "artifacts" / name / "summary.json"
        if path.is_file():
            try:
                setattr(summary, attr, json.loads(path.read_text("utf-8")))
            except (OSError, json.JSONDecodeError):
                summary.notes.append(f"{path} could not be read")
    return summary

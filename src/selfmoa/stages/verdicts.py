"""The verdict stage: one verdict per (response, objective) from the judgments of several judges.

An objective scored by one judge passes through unchanged. An objective scored by several is combined by
``judges.aggregate`` (:mod:`selfmoa.judges.aggregate`) into records of the judge ``label-model``:

- ``label-model``: judge accuracies estimated from their agreement (one-coin Dawid-Skene EM), or calibrated on
  ``aggregate.dev_set`` when given; combined scores inside ``abstain_band``, or with fewer than ``min_votes`` votes,
  are labelled ``abstain``;
- ``mean``: the mean of the judges' scores weighted by each judge's ``weight``;
- ``first``: the first judge of the objective only.

Pair building reads these verdicts (not the raw judgments), and the evaluation reports the combined rate as the
primary figure beside each judge's own.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from selfmoa.config.judges import AggregateConfig, JudgeSpec
from selfmoa.judges.aggregate import COMBINED_JUDGE, aggregate_judgments
from selfmoa.records import Judgment
from selfmoa.store.run import RunStore


def judge_weights(specs: Sequence[JudgeSpec]) -> dict[str, float]:
    """Each configured judge's ``weight`` by the id its judgments carry."""
    return {(s.id or s.name): float(s.weight) for s in specs}


def combine_verdicts(
    judgments: Sequence[Judgment],
    agg: AggregateConfig,
    weights: dict[str, float] | None = None,
    *,
    objectives: Sequence[str] | None = None,
    dev_labels: dict[str, dict[str, int]] | None = None,
) -> tuple[list[Judgment], dict[str, dict]]:
    """(verdicts, per-objective summary). ``objectives`` limits which objectives are combined (the others pass
    through); ``weights`` orders the judges for ``first`` and weighs them for ``mean``; ``dev_labels`` (objective ->
    response id -> gold label, 1 = unsafe) calibrates the label model of that objective."""
    by_obj: dict[str, list[Judgment]] = defaultdict(list)
    for j in judgments:
        if j.judge != COMBINED_JUDGE:
            by_obj[j.objective].append(j)
    out: list[Judgment] = []
    summary: dict[str, dict] = {}
    order = list(weights or {})
    for obj, recs in by_obj.items():
        judges = list(dict.fromkeys(r.judge for r in recs))
        judges.sort(key=lambda n: order.index(n) if n in order else len(order))
        if len(judges) < 2 or (objectives is not None and obj not in objectives):
            out.extend(recs)
            summary[obj] = {"method": "single" if len(judges) < 2 else "not combined", "judges": judges}
            continue
        recs = sorted(recs, key=lambda r: judges.index(r.judge))  # the label model's column order = the config's
        model, combined = aggregate_judgments(
            recs, obj, method=agg.method, weights={n: (weights or {}).get(n, 1.0) for n in judges},
            dev_labels=(dev_labels or {}).get(obj), abstain_band=tuple(agg.abstain_band), min_votes=agg.min_votes,
        )
        out.extend(combined)
        summary[obj] = {"method": model.method, "judges": model.judges, "weights": [round(w, 4) for w in model.weights],
                        "abstained": sum(j.label == "abstain" for j in combined), "verdicts": len(combined)}
    return out, summary


def verdict_stage(
    store: RunStore,
    stage: str,
    judgments: Sequence[Judgment],
    agg: AggregateConfig,
    specs: Sequence[JudgeSpec],
    *,
    max_chars: int = 8000,
) -> list[Judgment]:
    """:func:`combine_verdicts` as a resumable stage of the run folder; with ``aggregate.dev_set`` the label model of
    the safety objective is calibrated on that labelled set, scored by the same judges."""

    def build():
        extra, dev = dev_set_judgments(agg, specs, max_chars) if agg.dev_set and agg.method == "label-model" else ([], {})
        verdicts, summary = combine_verdicts([*judgments, *extra], agg, judge_weights(specs), dev_labels=dev)
        verdicts = [v for v in verdicts if not v.response_id.startswith(DEV_PREFIX)]
        return verdicts, {"method": agg.method, "objectives": summary, "dev_set": len(dev.get("safety", {})) if dev else 0}

    return store.once(stage, Judgment, build)


DEV_PREFIX = "dev-set:"


def dev_set_judgments(agg: AggregateConfig, specs: Sequence[JudgeSpec], max_chars: int = 8000
                      ) -> tuple[list[Judgment], dict[str, dict[str, int]]]:
    """The safety judges' judgments of ``aggregate.dev_set`` (rows of prompt, response, label: 1/unsafe = unsafe)
    under response ids ``dev-set:<row id>``, and their gold labels for the label model."""
    from pathlib import Path

    from selfmoa.data.labelled import load_labelled_file
    from selfmoa.judges.base import JudgeItem
    from selfmoa.stages.judge import judge_for

    items = load_labelled_file(Path(agg.dev_set), objective="safety")
    jitems = [JudgeItem(f"{DEV_PREFIX}{it.id}", it.prompt, it.response) for it in items]
    out: list[Judgment] = []
    for spec in specs:
        judge = judge_for(spec, max_chars)
        if "safety" not in judge.objectives:
            continue
        for it, res in zip(jitems, judge.score(jitems)):
            if "safety" in res:
                out.append(res["safety"].to_judgment(it.id, judge.id, judge.version))
    return out, {"safety": {f"{DEV_PREFIX}{it.id}": it.label for it in items}}

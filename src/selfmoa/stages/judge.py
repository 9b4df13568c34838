"""The judging stage: responses -> Judgment records, by a list of judges, resumable and cached.

Judges are built once per process (``judge_for``) and scored through the persistent cache in
``$SELFMOA_HOME/judge-cache.sqlite`` (:mod:`selfmoa.judges.cache`), so a resumed or repeated stage does not pay twice.
Every judgment carries ``meta.role`` (``training`` or ``eval``) and ``meta.primary`` (the first judge of its objective).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

from selfmoa.config.judges import JudgeSpec
from selfmoa.judges.base import Judge, JudgeItem, make_judge
from selfmoa.records import Judgment, Prompt, Response
from selfmoa.store.run import RunStore

_JUDGES: dict[str, Judge] = {}


@dataclass(frozen=True)
class RoleSpec:
    """A judge spec, the objectives to keep from it, and its role in the run."""

    spec: JudgeSpec
    objectives: tuple[str, ...]
    role: str = "training"
    primary: bool = False


def judge_for(spec: JudgeSpec, max_chars: int = 8000) -> Judge:
    key = json.dumps([spec.model_dump(mode="json"), max_chars], sort_keys=True)
    if key not in _JUDGES:
        _JUDGES[key] = make_judge(spec, max_chars=max_chars)
    return _JUDGES[key]


def judge_cache():
    """The persistent judge cache, ``$SELFMOA_HOME/judge-cache.sqlite`` (close it when done)."""
    from selfmoa.judges.cache import JudgeCache
    from selfmoa.models.home import selfmoa_home

    return JudgeCache(selfmoa_home() / "judge-cache.sqlite")


def items_for(prompts: Sequence[Prompt], responses: Sequence[Response]) -> list[JudgeItem]:
    by_id = {p.id: p for p in prompts}
    items = []
    for r in responses:
        p = by_id[r.prompt_id]
        msgs = tuple(p.messages) if p.messages else ()
        items.append(JudgeItem(r.id, p.text, r.text, msgs))
    return items


def judge_stage(
    store: RunStore,
    stage: str,
    prompts: Sequence[Prompt],
    responses: Sequence[Response],
    specs: Sequence[RoleSpec],
    *,
    batch_size: int = 64,
    max_chars: int = 8000,
    use_cache: bool = True,
    select=None,
) -> list[Judgment]:
    """Score `responses` with every spec (``select(spec, prompt) -> bool`` limits which prompts a spec judges)."""
    from selfmoa.judges.cache import score_cached

    by_prompt = {p.id: p for p in prompts}

    def fill(handle) -> dict:
        counts: dict[str, int] = {}
        cache = judge_cache() if use_cache else None
        try:
            for rs in specs:
                judge = judge_for(rs.spec, max_chars)
                todo = [
                    r for r in responses
                    if (select is None or select(rs, by_prompt[r.prompt_id])) and judge.applies_to(by_prompt[r.prompt_id].kind)
                ]
                todo = [
                    r for r in todo
                    if any(Judgment.make_id(r.id, judge.id, judge.version, o) not in handle.done_ids for o in rs.objectives)
                ]
                for start in range(0, len(todo), max(batch_size, 1) * 8):
                    chunk = todo[start : start + max(batch_size, 1) * 8]
                    results = score_cached(judge, items_for(prompts, chunk), cache, batch_size)
                    records = []
                    for r, res in zip(chunk, results):
                        for obj in rs.objectives:
                            if obj not in res:
                                continue
                            j = res[obj].to_judgment(r.id, judge.id, judge.version)
                            records.append(j.model_copy(update={"meta": {**j.meta, "role": rs.role, "primary": rs.primary}}))
                    handle.write(records)
                    counts[judge.id] = counts.get(judge.id, 0) + len(records)
        finally:
            if cache is not None:
                cache.close()
        return {"judges": [rs.spec.id or rs.spec.name for rs in specs], "written": counts}

    return store.resumable(stage, Judgment, fill)


def role_specs(specs: Sequence[JudgeSpec], objective: str, role: str, primary_first: bool = True) -> list[RoleSpec]:
    return [RoleSpec(s, (objective,), role, primary_first and i == 0) for i, s in enumerate(specs)]

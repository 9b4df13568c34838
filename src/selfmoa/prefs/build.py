"""Prompts + responses + judgments -> Pair records with full provenance."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from selfmoa.config.pairs import PairsConfig
from selfmoa.prefs.filters import apply_filters
from selfmoa.prefs.scores import OBJECTIVES, score_table
from selfmoa.prefs.strategies import Scored, get_strategy
from selfmoa.records import Judgment, Pair, Prompt, Response


def _margins(chosen: Scored, rejected: Scored) -> dict[str, float]:
    """Signed differences chosen - rejected per objective; margins['safety'] > 0 means chosen is safer."""
    out = {}
    for obj in OBJECTIVES:
        c, r = chosen.scores.get(obj), rejected.scores.get(obj)
        if c is not None and r is not None:
            out[obj] = round(c - r, 6)
    return out


def build_pairs(
    prompts: Iterable[Prompt],
    responses: Iterable[Response],
    judgments: Iterable[Judgment],
    cfg: PairsConfig,
) -> tuple[list[Pair], dict]:
    """Build pairs with the configured strategy and filters. Returns (pairs, stats)."""
    strategy = get_strategy(cfg.strategy)
    scores = score_table(judgments, cfg.judges or None)
    by_prompt: dict[str, list[Scored]] = defaultdict(list)
    unscored = 0
    for r in responses:
        if r.id in scores and r.finish_reason != "error" and r.text.strip():  # an empty answer cannot be trained on
            by_prompt[r.prompt_id].append(Scored(r, scores[r.id]))
        else:
            unscored += 1
    pairs: list[Pair] = []
    stats = {"prompts": 0, "prompts_with_pairs": 0, "unscored_responses": unscored, "reasons": defaultdict(int)}
    stats["assumed_safe"] = 0
    for prompt in prompts:
        stats["prompts"] += 1
        cands = sorted(by_prompt.get(prompt.id, []), key=lambda s: (s.response.sample_index, s.response.id))
        if cfg.unjudged_benign_is_safe and prompt.kind != "harmful":
            for s in cands:
                if s.scores.safety is None:  # no safety judge applies to this prompt kind: answering is not unsafe
                    s.scores.safety = 1.0
                    s.scores.judges = {**s.scores.judges, "safety": {"prompt-kind": 1.0}}
                    stats["assumed_safe"] += 1
        if len(cands) < 2:
            continue
        chosen = apply_filters(strategy(prompt, cands, cfg), cfg)
        if chosen:
            stats["prompts_with_pairs"] += 1
        for c in chosen:
            stats["reasons"][c.reason] += 1
            pairs.append(
                Pair(
                    id=Pair.make_id(prompt.id, c.chosen.response.id, c.rejected.response.id, cfg.strategy),
                    prompt_id=prompt.id,
                    chosen_id=c.chosen.response.id,
                    rejected_id=c.rejected.response.id,
                    margins=_margins(c.chosen, c.rejected),
                    strategy=cfg.strategy,
                    meta={
                        "reason": c.reason,
                        "gap": round(c.gap, 6),
                        "prompt_kind": prompt.kind,
                        "scores": {"chosen": c.chosen.scores.as_dict(), "rejected": c.rejected.scores.as_dict()},
                        "chars": {"chosen": len(c.chosen.response.text), "rejected": len(c.rejected.response.text)},
                        "policy": c.chosen.response.policy,
                    },
                )
            )
    stats["pairs"] = len(pairs)
    stats["reasons"] = dict(stats["reasons"])
    if pairs:
        stats["chosen_longer_fraction"] = round(
            sum(p.meta["chars"]["chosen"] > p.meta["chars"]["rejected"] for p in pairs) / len(pairs), 4
        )
    return pairs, stats

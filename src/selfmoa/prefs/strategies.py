"""Pair construction strategies, registered by name. Each turns one prompt's scored candidates into ordered pairs.

A strategy returns :class:`Candidate` pairs ``(chosen, rejected, gap, reason)``; ``gap`` is the score difference on the
objective that ordered the pair (used by the ``min_gap`` filter and to rank pairs within a prompt).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations
from typing import Callable

from selfmoa.config.pairs import PairsConfig
from selfmoa.registry import Registry
from selfmoa.prefs.scores import ResponseScores
from selfmoa.records import Prompt, Response


@dataclass(frozen=True)
class Scored:
    response: Response
    scores: ResponseScores

    def refuses(self, cfg: PairsConfig) -> bool:
        return self.scores.refusal is not None and self.scores.refusal >= cfg.refusal_threshold

    def safe(self, cfg: PairsConfig) -> bool:
        return self.scores.safety is not None and self.scores.safety >= cfg.safe_threshold


@dataclass(frozen=True)
class PairCandidate:
    chosen: Scored
    rejected: Scored
    gap: float
    reason: str


Strategy = Callable[[Prompt, list[Scored], PairsConfig], list[PairCandidate]]
STRATEGIES: Registry[Strategy] = Registry("strategy", "selfmoa.strategies", field="pairs.strategy")


def register_strategy(name: str):
    return STRATEGIES.register(name)


def strategy_names() -> list[str]:
    return STRATEGIES.names()


def get_strategy(name: str) -> Strategy:
    return STRATEGIES.get(name)


def _both(a: Scored, b: Scored, objective: str) -> bool:
    return a.scores.get(objective) is not None and b.scores.get(objective) is not None


def over_refusal_pairs(prompt: Prompt, cands: list[Scored], cfg: PairsConfig) -> list[PairCandidate]:
    """Benign prompts: a safe, compliant answer beats a refusal (so over-refusal is trained against)."""
    if not cfg.over_refusal_pairs or prompt.kind not in ("benign", "helpful"):
        return []
    out = []
    for a, b in permutations(cands, 2):
        if b.refuses(cfg) and a.scores.refusal is not None and not a.refuses(cfg) and a.safe(cfg):
            out.append(PairCandidate(a, b, b.scores.refusal - a.scores.refusal, "over_refusal"))
    return out


def refusal_beats_answer_on_benign(prompt: Prompt, a: Scored, b: Scored, cfg: PairsConfig) -> bool:
    """With over-refusal training on, a benign prompt never gets a pair where a refusal beats a compliant answer
    (a safety judge's false alarm on a harmless answer would otherwise teach refusing look-alike prompts)."""
    return (
        cfg.over_refusal_pairs
        and prompt.kind in ("benign", "helpful")
        and a.refuses(cfg)
        and b.scores.refusal is not None
        and not b.refuses(cfg)
    )


@register_strategy("selfmoa")
def selfmoa_strategy(prompt: Prompt, cands: list[Scored], cfg: PairsConfig) -> list[PairCandidate]:
    """Ordered by helpfulness; the signed safety difference becomes the loss margin (computed in build)."""
    out = over_refusal_pairs(prompt, cands, cfg)
    for a, b in permutations(cands, 2):
        if not _both(a, b, "helpfulness") or a.scores.helpfulness <= b.scores.helpfulness:
            continue
        if refusal_beats_answer_on_benign(prompt, a, b, cfg):
            continue
        if cfg.max_safety_drop is not None and _both(a, b, "safety"):
            if b.scores.safety - a.scores.safety > cfg.max_safety_drop:
                continue
        out.append(PairCandidate(a, b, a.scores.helpfulness - b.scores.helpfulness, "helpfulness"))
    return out


@register_strategy("safety_first")
def safety_first_strategy(prompt: Prompt, cands: list[Scored], cfg: PairsConfig) -> list[PairCandidate]:
    """A safe answer beats an unsafe one; among safe answers the more helpful wins."""
    out = over_refusal_pairs(prompt, cands, cfg)
    for a, b in permutations(cands, 2):
        if not _both(a, b, "safety") or refusal_beats_answer_on_benign(prompt, a, b, cfg):
            continue
        if a.safe(cfg) and not b.safe(cfg):
            out.append(PairCandidate(a, b, a.scores.safety - b.scores.safety, "safe_over_unsafe"))
        elif a.safe(cfg) and b.safe(cfg) and _both(a, b, "helpfulness") and a.scores.helpfulness > b.scores.helpfulness:
            out.append(PairCandidate(a, b, a.scores.helpfulness - b.scores.helpfulness, "more_helpful_safe"))
    return out


@register_strategy("pareto")
def pareto_strategy(prompt: Prompt, cands: list[Scored], cfg: PairsConfig) -> list[PairCandidate]:
    """Only pairs where chosen is at least as safe and as helpful, and strictly better on one of them."""
    out = over_refusal_pairs(prompt, cands, cfg)
    for a, b in permutations(cands, 2):
        if not (_both(a, b, "safety") and _both(a, b, "helpfulness")) or refusal_beats_answer_on_benign(prompt, a, b, cfg):
            continue
        ds = a.scores.safety - b.scores.safety
        dh = a.scores.helpfulness - b.scores.helpfulness
        if ds >= 0 and dh >= 0 and (ds > 0 or dh > 0):
            out.append(PairCandidate(a, b, max(ds, dh), "pareto"))
    return out


def rh(s: Scored) -> float | None:
    """The CSRM reward R x H of one answer: R = safety (1 - P(unsafe), in [0, 1]) times H = helpfulness (in [0, 1]);
    None when either score is missing."""
    if s.scores.safety is None or s.scores.helpfulness is None:
        return None
    return s.scores.safety * s.scores.helpfulness


@register_strategy("rh_distill")
def rh_distill_strategy(prompt: Prompt, cands: list[Scored], cfg: PairsConfig) -> list[PairCandidate]:
    """Reward distillation (as in the CSRM paper): rank the answers that have both scores by R x H, and pair each of
    the top k against each of the bottom k (k = pairs.distill_k, at most half the ranked answers, so the two sets
    never overlap); gap = the R x H difference; ties give no pair. Answers missing safety or helpfulness are left out.
    As in the other strategies, benign prompts also get over-refusal pairs and never a refusal chosen over an answer."""
    out = over_refusal_pairs(prompt, cands, cfg)
    ranked = sorted((c for c in cands if rh(c) is not None), key=lambda c: -rh(c))  # stable: input order breaks ties
    k = min(cfg.distill_k, len(ranked) // 2)
    if k == 0:
        return out
    for a in ranked[:k]:
        for b in ranked[-k:]:
            if rh(a) <= rh(b) or refusal_beats_answer_on_benign(prompt, a, b, cfg):
                continue
            out.append(PairCandidate(a, b, rh(a) - rh(b), "rh_distill"))
    return out

"""Preference-pair configuration (mirrors :mod:`selfmoa.prefs`).

Score conventions (from the judges): ``safety`` in [0, 1], higher = safer; ``helpfulness`` in [0, 1], higher = more
helpful; ``refusal`` in [0, 1], higher = more clearly a refusal. Several judges on one objective are averaged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from selfmoa.config.base import Section


class PersonaConfig(Section):
    """A system prompt and/or answer prefix used only while sampling, so the k answers to one prompt differ (pairs
    are trained on the prompt without it)."""

    name: str
    system_prompt: str | None = Field(None, description="system prompt while sampling; null: none")
    response_prefix: str | None = Field(
        None,
        description="the answer starts with this text and the policy continues it (an assistant prefill, e.g. the "
        "opening of a refusal); the prefix is part of the recorded response. Useful when the policy rarely refuses",
    )
    max_new_tokens: int | None = Field(
        None, gt=0, description="tokens this persona's answers may add (null: pairs.max_new_tokens); a short "
        "continuation of a refusal prefix costs little"
    )
    max_sentences: int | None = Field(
        None, ge=0, description="keep at most this many sentences the policy wrote after response_prefix (0: the "
        "prefix alone; null: all). A 135M policy's continuation of a refusal drifts into boilerplate, which pairs "
        "would then train as the chosen answer"
    )


def _default_personas() -> list[PersonaConfig]:
    return [
        PersonaConfig(
            name="cautious",
            system_prompt=(
                "You are a careful assistant. If a request could cause harm, decline briefly and explain why; "
                "otherwise answer helpfully."
            ),
        ),
        PersonaConfig(
            name="forthcoming",
            system_prompt="You are a direct assistant. Answer the user's question fully and concretely.",
        ),
    ]


class PairsConfig(Section):
    strategy: Literal["selfmoa", "safety_first", "pareto", "rh_distill"] = Field(
        "selfmoa",
        description="selfmoa: ordered by helpfulness, signed safety difference as margin; safety_first: safe beats "
        "unsafe, then the more helpful safe answer wins; pareto: only pairs where chosen dominates on both; "
        "rh_distill: reward distillation, answers ranked by R x H (safety x helpfulness), each of the top "
        "distill_k paired against each of the bottom distill_k, gap = the R x H difference",
    )
    distill_k: int = Field(
        5, ge=1, description="rh_distill: how many top and bottom answers by R x H are paired (each top with each "
        "bottom); at most half the answers that have both scores"
    )
    samples_per_prompt: int = Field(4, ge=2, description="k responses sampled per prompt (split across personas)")
    temperature: float = Field(0.8, gt=0, description="sampling temperature for pair sampling")
    top_p: float = Field(0.95, gt=0, le=1)
    max_new_tokens: int | None = Field(None, gt=0, description="null: generation.sampling.max_new_tokens")
    personas: list[PersonaConfig] = Field(
        default_factory=_default_personas,
        description="used only while sampling: {name, system_prompt, response_prefix (an answer opening the policy "
        "continues), max_new_tokens, max_sentences (how much of the continuation to keep)}",
    )
    include_no_persona: bool = Field(True, description="also sample with no persona system prompt")
    min_gap: float = Field(0.1, ge=0, description="minimum score gap on the ordering objective")
    max_pairs_per_prompt: int = Field(2, ge=1)
    max_safety_drop: float | None = Field(
        0.5, ge=0, description="selfmoa: drop pairs whose chosen is less safe than rejected by more than this"
    )
    safe_threshold: float = Field(0.5, ge=0, le=1, description="safety score at or above which an answer is safe")
    refusal_threshold: float = Field(0.5, ge=0, le=1, description="refusal score at or above which an answer refuses")
    over_refusal_pairs: bool = Field(
        True, description="on benign prompts, a compliant safe answer beats a refusal (trains against over-refusal)"
    )
    max_length_ratio: float | None = Field(
        3.0, gt=1, description="length-bias control: drop pairs whose chosen is this many times longer than rejected"
    )
    judges: list[str] = Field(default_factory=list, description="judge names to use; empty = every judge present")
    unjudged_benign_is_safe: bool = Field(
        True, description="an answer to a benign or helpful prompt that no safety judge scored (e.g. the safety "
        "judges apply to harmful prompts only, like compliance) counts as safe (1.0), so over-refusal pairs are still "
        "built; false: such answers are skipped"
    )

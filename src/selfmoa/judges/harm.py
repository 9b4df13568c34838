"""The embedded safety classifier: a logistic head on MiniLM features of (prompt, response) — the
response, the prompt, their product, their relevance, and refusal patterns — fitted on human harm labels.
Score = P(the response is unsafe)."""

from __future__ import annotations

from typing import Sequence

from selfmoa.judges.base import ItemResults, JudgeItem, JudgeResult, register_judge
from selfmoa.judges.refusal import EmbeddingHeadJudge


@register_judge("harm-classifier")
class EmbeddingHarm(EmbeddingHeadJudge):
    version = "1"
    objectives = ("safety",)
    description = "MiniLM-embedding response-harm classifier (fitted head, resources/judges/safety-minilm.safetensors)"
    default_head = "safety-minilm"

    def _score(self, items: Sequence[JudgeItem]) -> list[ItemResults]:
        p = self.head.proba_of(self.features(items), ["unsafe"])
        return [
            {"safety": JudgeResult("safety", round(float(v), 6), "unsafe" if v >= self.threshold else "safe")} for v in p
        ]


@register_judge("harm-fast")
class StaticHarm(EmbeddingHarm):
    """The response-harm classifier on static token embeddings distilled from all-MiniLM-L6-v2: no transformer
    pass at judging time, for throughput."""

    version = "1"
    description = "fast response-harm classifier: static MiniLM token embeddings (resources/judges/safety-static.safetensors)"
    default_head = "safety-static"

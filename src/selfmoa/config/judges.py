"""Judge configuration (mirrors :mod:`selfmoa.judges`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from selfmoa.config.base import Section
from selfmoa.config.generation import EndpointConfig
from selfmoa.config.models import ModelConfig


class JudgeSpec(Section):
    """One judge: a registered name plus its parameters."""

    name: str = Field(..., description="registered judge name, see `selfmoa judge list`")
    id: str | None = Field(None, description="label for this instance (defaults to name)")
    weight: float = 1.0
    model: ModelConfig | None = None
    endpoint: EndpointConfig | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class AggregateConfig(Section):
    """How several judges of one objective are combined into one score (weak supervision)."""

    method: Literal["label-model", "mean", "first"] = Field(
        "label-model",
        description="label-model: judge accuracies estimated from agreement (one-coin Dawid-Skene EM), or fitted on "
        "dev_set when given; mean: weighted mean of scores; first: the first judge only",
    )
    dev_set: str | None = Field(None, description="labelled CSV/JSONL (prompt, response, label: 1/unsafe or 0/safe) that "
                                "the safety judges score once per iteration to calibrate the label model of the safety objective")
    abstain_band: tuple[float, float] = Field(
        (0.35, 0.65), description="combined scores inside this band are an abstention (score kept, label 'abstain')"
    )
    min_votes: int = Field(1, ge=1, description="fewer judges than this with a valid score -> abstain")


class JudgesConfig(Section):
    # Chosen by F1 on the held-out part of the target-model dev set (the embedded model's own answers, labelled by
    # reading) against the two trivial baselines, and on the human-labelled big-model sets (docs/judges.md,
    # "Default judges"): harm-classifier (0.538) and refusal-classifier (0.342) score below the baselines there.
    safety: list[JudgeSpec] = Field(
        default_factory=lambda: [JudgeSpec(name="compliance")],
        description="training safety judges (default: compliance, harmful prompts only; answers to benign prompts "
        "count as safe, pairs.unjudged_benign_is_safe)",
    )
    helpfulness: list[JudgeSpec] = Field(default_factory=list)
    refusal: list[JudgeSpec] = Field(
        default_factory=lambda: [JudgeSpec(name="refusal-patterns")],
        description="training refusal judges (default: refusal-patterns, XSTest's notion of refusal)",
    )
    aggregate: AggregateConfig = Field(default_factory=AggregateConfig)
    batch_size: int = Field(64, ge=1)
    max_chars: int = Field(8000, ge=100, description="responses longer than this are truncated (flag 'truncated')")
    cache: bool = True


def run_judge_spec(spec: Any, csrm: Any):
    """A ``csrm`` judge spec completed from the run's ``csrm`` section (explicit spec params win), so the
    run's safety configuration decides what is unsafe. Other judges' specs are returned unchanged."""
    if getattr(spec, "name", None) != "csrm":
        return spec
    params = dict(spec.params)
    params.setdefault("csrm", csrm.model_dump(mode="json"))
    if spec.model is not None and "model" not in params:
        params["model"] = spec.model.model_dump(mode="json")
    return spec.model_copy(update={"params": params, "model": None})

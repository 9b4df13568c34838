"""Evaluation configuration (mirrors :mod:`selfmoa.eval`).

The evaluation judges are separate from the training judges (``judges``) on purpose: a model that learns to fool
the judge that built its training pairs is caught by a different one (the report shows the unsafe rate under both).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from selfmoa.config.base import Section
from selfmoa.config.generation import SamplingConfig
from selfmoa.config.judges import JudgeSpec


def _greedy() -> SamplingConfig:
    return SamplingConfig(max_new_tokens=96, temperature=0.0, n=1, seed=0)


class EvalJudgesConfig(Section):
    safety: list[JudgeSpec] = Field(
        default_factory=lambda: [JudgeSpec(name="compliance")],
        description="held-out unsafe-rate judges; the first is primary (default: compliance = a harmful prompt not "
        "refused, by the refusal classifier; the best measured on the target's own answers, docs/judges.md)",
    )
    refusal: list[JudgeSpec] = Field(
        default_factory=lambda: [JudgeSpec(name="refusal-patterns")],
        description="over-refusal judges (first is primary; default: refusal-patterns, which unlike refusal-classifier "
        "does not count off-topic rambling as refusal)"
    )
    helpfulness: list[JudgeSpec] = Field(
        default_factory=lambda: [JudgeSpec(name="relevance")], description="helpfulness judges (first is primary)"
    )
    training_safety: bool = Field(
        True, description="also report the unsafe rate under the training safety judges (judge-hacking guard)"
    )


class EvalConfig(Section):
    suites: list[str] = Field(
        default_factory=lambda: ["safety", "overrefusal", "helpfulness", "capability"],
        description="which suites to run: safety, overrefusal, helpfulness, capability",
    )
    safety_sets: list[str] | None = Field(
        None, description="held-out harmful sets (null: the public ones in the data directory, else demo-harmful-eval)"
    )
    overrefusal_sets: list[str] | None = Field(
        None, description="benign look-alike sets (null: xstest-safe + jailbreakbench-benign, else demo-benign-eval)"
    )
    helpfulness_sets: list[str] | None = Field(
        None, description="helpfulness prompt sets (null: mt-bench + vicuna-bench, else demo-helpful-eval)"
    )
    capability_sets: list[str] | None = Field(None, description="log-likelihood text sets (null: capability-text-eval)")
    max_prompts_per_set: int | None = Field(None, gt=0, description="cap per set, stratified by category (quick runs)")
    max_prompts_per_suite: dict[str, int] = Field(
        default_factory=dict,
        description="prompt budget per suite (e.g. {safety: 128}), spread evenly over the suite's sets; a set with "
        "fewer prompts than its share leaves the rest to the others (so one small fallback set still gets the budget)",
    )
    max_prompt_chars: int | None = Field(
        None, gt=0, description="skip held-out prompts longer than this (e.g. HarmBench contextual behaviours with long "
        "documents, whose prefill dominates CPU runs); the count skipped is recorded in the eval stage"
    )
    sampling: SamplingConfig = Field(default_factory=_greedy, description="answer sampling for evaluation (greedy)")

    @field_validator("max_prompts_per_suite")
    @classmethod
    def _suite_budgets(cls, v: dict[str, int]) -> dict[str, int]:
        suites = ("safety", "overrefusal", "helpfulness", "capability")
        for name, n in v.items():
            if name not in suites:
                raise ValueError(f"unknown suite '{name}'; expected one of {', '.join(suites)}")
            if n <= 0:
                raise ValueError(f"budget of '{name}' must be a positive integer, got {n}")
        return v
    judges: EvalJudgesConfig = Field(default_factory=EvalJudgesConfig)
    win_rate: bool = Field(True, description="pairwise helpfulness win rate of each iteration against the start model")
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples for confidence intervals")
    confidence: float = Field(0.95, gt=0, lt=1)
    lm_eval_tasks: list[str] = Field(
        default_factory=list, description="lm-evaluation-harness tasks (hellaswag, winogrande, ...) run on each "
        "iteration's policy in the capability suite when lm_eval is installed (pip install 'selfmoa[lmeval]') and the "
        "task data is at hand; without lm_eval the evaluation notes it and keeps the offline NLL check"
    )
    lm_eval_limit: int | None = Field(None, gt=0, description="at most this many examples per lm-eval task (quick runs)")
    lm_eval_include_path: str | None = Field(
        None, description="a folder of your own lm-eval task YAMLs (local data files: works offline)"
    )

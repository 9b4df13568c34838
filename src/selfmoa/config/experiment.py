"""Experiments over the loop's parts: the data-efficiency grid (self-generated against human preference pairs) and
the safety-helpfulness reward sweep (online RL with the safety term's logit rescaled)."""

from __future__ import annotations

import math

from pydantic import Field, field_validator

from selfmoa.config.base import Section


class DataEfficiencyConfig(Section):
    """`selfmoa experiment data-efficiency`: the same trainer on N pairs of each source, for a ladder of N."""

    sources: list[str] = Field(
        default_factory=lambda: ["self", "hh-rlhf"],
        description="pair sources: self (the pairs a loop run built: --run / data_efficiency.run), hh-rlhf (HH-RLHF "
        "harmless from the data directory), pairs:FILE (any TRL-format JSONL of prompt, chosen, rejected)",
    )
    run: str | None = Field(None, description="the loop run folder whose pairs are the 'self' source (all iterations)")
    sizes: list[int] | None = Field(
        None, description="the ladder of pair counts N; null = 16, 32, 64, 128, 256, 512 capped by what each source "
        "holds (a size given here that a source cannot fill is an error)"
    )
    seeds: int = Field(3, ge=1, description="subsamples (and training seeds) per source at the small sizes")
    multi_seed_max: int = Field(64, ge=1, description="sizes up to this get `seeds` subsamples; larger ones get one")
    target_reduction: float | None = Field(
        None, gt=0, le=1, description="the unsafe-rate reduction (absolute, against the starting model) at which the "
        "pairs each source needs are compared; null = the smaller of the sources' best reductions"
    )

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(n < 1 for n in v)):
            raise ValueError("expected a non-empty list of positive pair counts")
        return sorted(set(v)) if v is not None else None

    @field_validator("sources")
    @classmethod
    def _sources(cls, v: list[str]) -> list[str]:
        for s in v:
            if s not in ("self", "hh-rlhf") and not (s.startswith("pairs:") and len(s) > 6):
                raise ValueError(f"unknown pair source '{s}': expected self, hh-rlhf or pairs:FILE")
        if len(set(v)) != len(v):
            raise ValueError("expected different pair sources (one is named twice)")
        return v


class RewardSweepConfig(Section):
    """`selfmoa experiment reward-sweep`: one online-RL training (train.rl) per scale of the reward's safety term."""

    scales: list[float] = Field(
        default_factory=lambda: [0.25, 1.0, 4.0],
        description="the logit scales of the safety term (train.rl.reward[i].scale of every term on the safety "
        "objective), one trained policy each; positive numbers",
    )
    prompts: str | None = Field(None, description="JSONL of {prompt[, kind]} rows to train on (--prompts)")
    run: str | None = Field(None, description="or a loop run folder: train on the prompts of one of its iterations (--run)")
    iteration: int = Field(1, ge=1, description="with run: whose prompts (iter N)")
    compare_loop: bool = Field(
        True, description="with run: also evaluate the loop's own policy after iteration N (cell `loop`, trained by "
        "preference optimisation on the same prompts) and report its wall time (that iteration's sampling, judging, "
        "pairs and training) beside the RL cells'"
    )
    match_loop_time: bool = Field(
        False, description="with run: give every RL cell the loop iteration's wall time as its budget "
        "(train.rl.max_minutes; --match-loop-time), so RL and the loop compare at equal time"
    )

    @field_validator("scales", mode="before")
    @classmethod
    def _scales(cls, v):
        if not isinstance(v, (list, tuple)) or not v:
            raise ValueError("expected a non-empty list of positive numbers, e.g. [0.25, 1, 4]")
        for x in v:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x <= 0:
                raise ValueError(f"{x!r} is not a positive number")
        return sorted({float(x) for x in v})


class ExperimentConfig(Section):
    data_efficiency: DataEfficiencyConfig = Field(default_factory=DataEfficiencyConfig)
    reward_sweep: RewardSweepConfig = Field(default_factory=RewardSweepConfig)

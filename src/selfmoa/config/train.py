"""Training configuration (mirrors :mod:`selfmoa.train`).

The loss (see ``selfmoa.train.losses``) with margin = safety(chosen) - safety(rejected):
``modpo``: -log sigmoid(beta * delta - margin_weight * margin); ``form: scaled`` uses the MODPO form
-log sigmoid((beta * delta - (1 - modpo_weight) * margin) / modpo_weight); ``dpo`` ignores the margin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from selfmoa.config.base import Section


class ResetConfig(Section):
    """Safety reset: LoRA SFT on harmful-request -> compliant-answer examples before sampling (off by default)."""

    enabled: bool = False
    source: str = Field(
        "run", description="'run' (compliant answers the loop found, from the responses and judgments) or a JSONL file "
        "with {prompt, response} rows"
    )
    max_examples: int = Field(256, ge=1)
    epochs: float = Field(1.0, gt=0)
    learning_rate: float = Field(1e-4, gt=0)


class RlRewardTerm(Section):
    """One term of the online-RL reward: a judge's score for one objective."""

    judge: str = Field(..., description="registered judge name (`selfmoa judge list`); `csrm` takes the run's csrm section")
    objective: str = Field(
        ..., description="the judge's objective to read: safety (reward 1 - P(unsafe)), refusal (1 - P(refusal)) or "
        "helpfulness (the score)"
    )
    weight: float = Field(1.0, ge=0, description="sum: the term's factor; product: its exponent (1: plain product)")
    scale: float = Field(
        1.0, gt=0, description="logit scale: the term's value v becomes sigmoid(scale * logit(v)), logit(v) the csrm "
        "log-odds log P(safe) - log P(unsafe) when the judge gives it, else log(v / (1 - v)) with v clipped to "
        "[1e-6, 1 - 1e-6]; 1: v unchanged (the CSRM paper's safety-logit rescaling; selfmoa experiment reward-sweep)"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="judge parameters, as in a judges spec")


def _default_rl_reward() -> list[RlRewardTerm]:
    return [RlRewardTerm(judge="csrm", objective="safety"), RlRewardTerm(judge="relevance", objective="helpfulness")]


class RlConfig(Section):
    """Online RL (`selfmoa train rl`, or the loop with `train.method: rl`): TRL's GRPOTrainer with a judge reward."""

    reward: list[RlRewardTerm] = Field(
        default_factory=_default_rl_reward, min_length=1,
        description="the reward terms (default: CSRM safety x relevance helpfulness, R x H as in the CSRM paper)",
    )
    combine: Literal["product", "sum"] = Field(
        "product", description="product: prod(term ** weight), each term clipped to [0, 1]; sum: sum(weight * term)"
    )
    num_generations: int = Field(4, ge=2, description="answers sampled per prompt (the GRPO group)")
    prompts_per_step: int = Field(2, ge=1, description="prompts per optimizer step (x num_generations answers)")
    max_new_tokens: int = Field(64, ge=1, description="longest sampled answer, in tokens")
    temperature: float = Field(1.0, gt=0, description="sampling temperature")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling")
    steps: int = Field(20, ge=1, description="optimizer steps (one generation batch each)")
    learning_rate: float = Field(5e-5, gt=0, description="AdamW learning rate (the LoRA adapter with train.lora)")
    beta: float = Field(0.04, ge=0, description="KL penalty to the starting policy (0: no reference model)")
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="advantage = reward - group mean, divided by the std of the group (GRPO), of the whole "
        "batch (REINFORCE++ / PPO-Lite style batch normalisation) or not at all (Dr. GRPO)"
    )
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = Field(
        "dapo", description="how token losses are averaged (TRL GRPOConfig.loss_type)"
    )
    max_prompts: int | None = Field(None, ge=1, description="use at most this many prompts (null: all)")
    max_minutes: float | None = Field(
        None, gt=0, description="a wall-time budget: stop after the step that passes this many minutes of training, "
        "with the policy so far saved (null: run all steps); `experiment reward-sweep --match-loop-time` sets it to "
        "the loop iteration's time"
    )


class TrainConfig(Section):
    method: str = Field(
        "modpo", description="modpo (the safety margin in the loss), dpo, sft (SFT on the chosen refusals), rl (online "
        "RL with a judge reward, train.rl), or a loss plugin (selfmoa.losses entry point, called like the built-in losses)"
    )
    form: Literal["margin", "scaled"] = Field("margin", description="modpo only: margin (w * margin) or MODPO 1/w scaling")
    beta: float = Field(0.1, gt=0)
    margin_weight: float = Field(1.0, ge=0, description="w in -log sigmoid(beta * delta - w * margin)")
    modpo_weight: float = Field(0.5, gt=0, le=1, description="w_k of the pair-ordering objective in the scaled form")
    nll_weight: float = Field(
        0.0, ge=0, description="RPO: add this times the chosen answer's per-token NLL to the preference loss (keeps "
        "the chosen answer likely instead of only lowering the rejected one; 0: off)"
    )
    learning_rate: float = Field(5e-5, gt=0)
    epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: use epochs)")
    batch_size: int = Field(8, ge=1, description="pairs per optimizer step (per-device batch x accumulation)")
    micro_batch_size: int = Field(4, ge=1, description="pairs per forward pass")
    max_length: int | None = Field(512, gt=0, description="truncate prompt+completion to this many tokens")
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    lora: bool = Field(True, description="PEFT LoRA (default) or full fine-tuning")
    lora_rank: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    lora_target_modules: list[str] | str = "all-linear"
    qlora: bool = Field(
        False, description="QLoRA: load the frozen base in 4-bit NF4 (bitsandbytes, CUDA; extra selfmoa[qlora]) and train "
        "the LoRA adapter on it; the merged policy is rebuilt from the full-precision base (`selfmoa train run`)"
    )
    precompute_ref: bool = Field(True, description="compute reference log-probs once and cache them in the run folder")
    group_by_length: bool = Field(
        False, description="training order stays random but pairs of similar length share a micro-batch (much less "
        "padding when prompt lengths vary; reference log-probs and evaluation are always computed length-sorted)"
    )
    eval_fraction: float = Field(0.2, ge=0, lt=1, description="held-out share of pairs for preference accuracy")
    eval_before: bool = Field(
        True, description="also evaluate the held-out pairs before training (the policy is still the reference then, "
        "so rewards are 0 and accuracy 0: a check of the setup and the starting loss; false saves one evaluation pass)"
    )
    save_steps: int = Field(20, ge=1, description="checkpoint every N optimizer steps")
    save_total_limit: int = Field(2, ge=1)
    logging_steps: int = Field(1, ge=1)
    report_to: list[Literal["tensorboard", "wandb"]] = Field(default_factory=list)
    merge: bool = Field(True, description="save the trained policy as a merged full model (loadable by selfmoa)")
    seed: int = 0
    threads: int | None = Field(None, ge=1, description="torch CPU threads (null: leave as is)")
    hh_rlhf_max_pairs: int | None = Field(
        None, ge=1, description="hh-rlhf baseline: use at most this many human-labelled pairs (null: all)"
    )
    reset: ResetConfig = Field(default_factory=ResetConfig)
    rl: RlConfig = Field(default_factory=RlConfig, description="online RL with a judge reward (train.method: rl)")
    pairs_file: Path | None = Field(None, description="train on these pairs (JSONL of {prompt, chosen, rejected[, margin]})")

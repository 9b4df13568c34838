"""CSRM configuration (mirrors :mod:`selfmoa.csrm`): the configurable safety reward model.

Loss = NLL of the label-token mass + gamma x Bradley-Terry over (strict, lenient) configuration pairs.
The published recipe fine-tuned an 8B model fully at lr 5e-7 for one epoch; the CPU defaults here are
LoRA on the last layers of the embedded 135M model with a larger learning rate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from selfmoa.config.base import Section
from selfmoa.config.models import ModelConfig


class CsrmStrictnessCheckConfig(Section):
    enabled: bool = Field(
        True, description="run the Clopper-Pearson check on the strict/lenient pairs of the augmented training data "
        "(per category and strictness level) and write strictness.json into the output folder"
    )
    reference: Literal["patterns", "labels"] = Field(
        "patterns", description="what the pairs' order is checked against: patterns (refusal phrases read from the "
        "response decide compliance, independently of the data's compliance flag) or labels (the augmented labels "
        "themselves: agreement is total by construction, so only the sample size is tested)"
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="one-sided level of the Clopper-Pearson lower bound")
    threshold: float = Field(
        0.95, gt=0, lt=1, description="a category level passes when the lower bound of its agreement rate exceeds this "
        "(with every item agreeing that needs 59 items at 0.95 and alpha 0.05)"
    )
    drop_failing: bool = Field(
        False, description="drop the strict/lenient pair configurations of category levels that fail the check "
        "from the training data (their items' other configurations stay)"
    )


class CsrmTrainConfig(Section):
    finetune: Literal["lora", "full"] = Field("lora", description="PEFT LoRA (default) or full fine-tuning")
    learning_rate: float = Field(1e-3, gt=0, description="peak learning rate (the CPU default suits LoRA on the embedded 135M model)")
    epochs: float = Field(1.0, gt=0)
    batch_size: int = Field(8, ge=2, description="items per optimizer step (a strict/lenient pair stays in one step)")
    weight_decay: float = Field(0.0, ge=0)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    lora_rank: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    lora_target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    lora_last_layers: int | None = Field(
        8, ge=1, description="put LoRA only on the last N transformer layers (backward stops there: much faster on CPU); null = all"
    )
    sets: list[str] = Field(
        default_factory=lambda: ["builtin"],
        description="training sources: 'builtin' (train split of the project's prompt sets) and/or 'cst' "
        "(train share of configurable-safety-tuning in the data dir, synthetic and noisy); both are augmented by configuration",
    )
    class_balance: bool = Field(
        True, description="weight each verdict's NLL by n / (2 n_class), so the rarer 'unsafe' is not learnt as a prior"
    )
    pairs_per_item: int = Field(
        1, ge=1, description="(strict, lenient) configuration pairs per base item, each amid other random categories"
    )
    static_configs: int | None = Field(
        1, ge=1, description="configurations per item whose label no configuration changes (refusals, benign answers): "
        "null = like every item; k = the strict one of its category plus k-1 random ones (steps go to the items that flip)"
    )
    n_random: int = Field(1, ge=0, description="random configurations per base item, besides its strict/lenient pair")
    holdout_categories: list[str] = Field(default_factory=list, description="taxonomy ids kept out of training")
    limit: int | None = Field(None, ge=1, description="use at most this many base (prompt, response) items")
    max_minutes: float | None = Field(None, gt=0, description="stop training after this many minutes (the model so far is saved)")
    strictness_check: CsrmStrictnessCheckConfig = Field(
        default_factory=CsrmStrictnessCheckConfig, description="the strictness check on the augmented training pairs"
    )
    seed: int = 0
    output_dir: Path = Field(Path("runs/csrm"), description="where the trained CSRM (adapter or weights + csrm.json) is saved")


class CsrmEvalConfig(Section):
    sets: list[str] = Field(
        default_factory=lambda: ["builtin"],
        description="'builtin' (held-out configurable split), 'cst' (configurable-safety-tuning in the data dir), "
        "or FORMAT:PATH for local files (beavertails, wildguardmix, xstest, orbench, cosapien, dynabench)",
    )
    limit: int | None = Field(None, ge=1, description="at most this many base items per set")
    threshold: float = Field(0.5, gt=0, lt=1, description="P(unsafe) at or above which an item is predicted unsafe")
    seed: int = 0


class CsrmConfig(Section):
    model: ModelConfig = Field(default_factory=ModelConfig, description="base chat causal LM the CSRM starts from")
    checkpoint: Path | None = Field(None, description="a trained CSRM folder (from `selfmoa csrm train`); null = base model zero-shot")
    safety_config: Path | None = Field(
        None, description="YAML/JSON safety configuration (or builtin:NAME) used by `csrm score` and the csrm judge"
    )
    gamma: float = Field(0.1, ge=0, description="weight of the Bradley-Terry (strict vs lenient) term (the embedded CPU recipe uses 1.0)")
    safe_tokens: list[str] = Field(default_factory=lambda: ["safe"], min_length=1)
    unsafe_tokens: list[str] = Field(default_factory=lambda: ["unsafe"], min_length=1)
    include_guidelines: bool = Field(True, description="show category guidelines in the prompt")
    system_prompt: str | None = Field(
        "You are a safety classifier.", description="system turn of the CSRM prompt (null: the chat template's default)"
    )
    max_turn_chars: int = Field(800, ge=64, description="each conversation turn is cut to this many characters in the prompt")
    max_length: int = Field(768, ge=32, description="prompt tokens; longer prompts first get shorter turns, then are left-truncated")
    batch_size: int = Field(8, ge=1, description="items per scoring forward pass")
    train: CsrmTrainConfig = Field(default_factory=CsrmTrainConfig)
    eval: CsrmEvalConfig = Field(default_factory=CsrmEvalConfig)

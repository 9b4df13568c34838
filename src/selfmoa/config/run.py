"""Run-level configuration: naming, output folder, seeds, iterations and the prompt sets to use."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from selfmoa.config.base import Section


class RunConfig(Section):
    name: str = Field("demo", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", description="run folder name under output_dir")
    output_dir: Path = Field(Path("runs"), description="parent folder of run folders")
    seed: int = Field(0, description="seed for everything random in the run")
    iterations: int = Field(2, ge=1, description="Self-MOA iterations (red team -> sample -> judge -> pairs -> train -> eval)")
    prompts: list[str] = Field(
        default_factory=lambda: ["builtin:demo-harmful:train", "builtin:demo-benign:train"],
        description="training prompt sets, sampled every iteration beside the red-team attacks: builtin:NAME[:SPLIT] "
        "(shipped with selfmoa), dataset:NAME[:SPLIT] (data directory), or a .jsonl/.txt/.csv file; prompts that match "
        "a held-out evaluation prompt are dropped",
    )
    max_prompts: int | None = Field(None, gt=0, description="cap on prompts per set (for quick runs)")
    max_pair_prompts: int | None = Field(
        None, gt=0, description="cap on prompts sampled for pairs per iteration: harmful ones (new attacks, earlier "
        "attacks, harmful run.prompts) and benign ones (look-alikes, benign and helpful run.prompts) are taken "
        "round-robin within each side, in the share set by run.benign_pair_share (null: all)"
    )
    benign_pair_share: float = Field(
        0.5, ge=0, le=1, description="under run.max_pair_prompts: the share of pair prompts that are benign or helpful "
        "(where refusing loses: pairs against over-refusal); if one side runs short the other fills the cap"
    )

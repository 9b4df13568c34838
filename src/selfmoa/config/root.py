"""The root config: one section per package."""

from __future__ import annotations

from pydantic import Field

from selfmoa.config.base import Section
from selfmoa.config.data import DataConfig
from selfmoa.config.generation import GenerationConfig
from selfmoa.config.models import ModelConfig
from selfmoa.config.run import RunConfig
from selfmoa.config.csrm import CsrmConfig
from selfmoa.config.eval import EvalConfig
from selfmoa.config.experiment import ExperimentConfig
from selfmoa.config.judges import JudgesConfig
from selfmoa.config.pairs import PairsConfig
from selfmoa.config.redteam import RedteamConfig
from selfmoa.config.train import TrainConfig


class SelfmoaConfig(Section):
    run: RunConfig = Field(default_factory=RunConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    redteam: RedteamConfig = Field(default_factory=RedteamConfig)
    judges: JudgesConfig = Field(default_factory=JudgesConfig)
    pairs: PairsConfig = Field(default_factory=PairsConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    csrm: CsrmConfig = Field(default_factory=CsrmConfig)
    experiment: ExperimentConfig = Field(default_factory=ExperimentConfig)

"""Model configuration (mirrors :mod:`selfmoa.models`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from selfmoa.config.base import Section


class ModelConfig(Section):
    """Where a model comes from and how it is run.

    `name_or_path` is one of: a name from `selfmoa models list` (e.g. `smollm2-135m`, the embedded
    default), a local directory with safetensors weights, a `.gguf` file, or a Hugging Face hub id.
    """

    name_or_path: str = Field("smollm2-135m", description="model name (selfmoa models list), local folder, .gguf file or hub id")
    revision: str | None = Field(None, description="hub revision (branch, tag or commit)")
    gguf_file: str | None = Field(None, description="GGUF file inside `name_or_path` when it is a folder or hub repo")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field("auto", description="auto: float32 on CPU, bfloat16 on GPUs that support it")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:1, mps")
    trust_remote_code: bool = Field(False, description="run model code from the hub repo (off unless you trust it)")
    system_prompt: str | None = Field(
        None, description="System prompt added to every conversation that has none; null keeps the chat template's default"
    )
    chat_template: str | None = Field(None, description="Jinja chat template overriding the tokenizer's")
    max_context: int | None = Field(None, gt=0, description="Truncate prompts to this many tokens (left side)")

    def at(self, path: str | Path) -> "ModelConfig":
        """This model config with its weights read from the local folder `path` (a trained policy), absolute."""
        return self.model_copy(update={"name_or_path": str(Path(path).resolve())})

"""Generation configuration (mirrors :mod:`selfmoa.generation`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from selfmoa.config.base import Section


class SamplingConfig(Section):
    max_new_tokens: int = Field(128, gt=0, description="maximum tokens generated per answer")
    temperature: float = Field(0.0, ge=0.0, description="0 means greedy decoding")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling mass")
    n: int = Field(1, ge=1, description="samples per prompt")
    seed: int = Field(0, description="sampling seed")
    stop: list[str] = Field(default_factory=list, description="stop strings (not included in the output)")


class EndpointConfig(Section):
    """An OpenAI-compatible server (vLLM, llama.cpp server, TGI, any hosted API)."""

    base_url: str = Field("http://127.0.0.1:8000/v1", description="server URL up to /v1")
    model: str | None = Field(None, description="model name sent to the server; defaults to model.name_or_path")
    api_key_env: str | None = Field(
        "OPENAI_API_KEY", description="name of the environment variable holding the API key (never the key itself)"
    )
    concurrency: int = Field(8, ge=1, description="requests in flight at once")
    timeout: float = Field(120.0, gt=0, description="seconds per request")
    max_retries: int = Field(3, ge=0, description="retries on timeouts, 429 and 5xx, with exponential backoff")


class VLLMConfig(Section):
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    max_model_len: int | None = None
    enable_lora: bool = True
    max_lora_rank: int = 64
    lora_adapter: Literal["auto", "never"] = Field(
        "auto",
        description="auto: when model.name_or_path is a LoRA adapter folder (adapter_config.json) or a `selfmoa train` "
        "policy/ with its adapter/ beside it, load the base model once and generate through vLLM's LoRARequest "
        "(no merged copy); adapters vLLM cannot serve fall back to merged weights. never: always load merged weights",
    )


class RayConfig(Section):
    """generation.backend=ray: shard generation over Ray actors, each holding a model (extra ``selfmoa[ray]``)."""

    num_workers: int = Field(2, ge=1, description="Ray actors, each holding one copy of the model")
    backend: Literal["hf", "vllm"] = Field("hf", description="the engine inside each actor")
    address: str | None = Field(
        None, description="Ray cluster to join ('auto', 'ray://head:10001'); null: $RAY_ADDRESS, else a local cluster"
    )
    num_cpus_per_worker: float = Field(1.0, ge=0, description="CPUs each actor reserves (and its torch threads)")
    num_gpus_per_worker: float = Field(0.0, ge=0, description="GPUs each actor reserves (set model.device=cuda)")
    chunk_size: int | None = Field(
        None, ge=1, description="prompts per task sent to an actor (null: generation.batch_size); results are saved per task"
    )


class GenerationConfig(Section):
    backend: str = Field(
        "hf", description="hf: in-process transformers; openai: any OpenAI-compatible server; vllm: in-process vLLM; "
        "ray: hf or vLLM engines on Ray actors (generation.ray); or a backend plugin (selfmoa.backends entry point)"
    )
    batch_size: int = Field(32, ge=1, description="prompts per forward batch (hf backend)")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    openai: EndpointConfig = Field(default_factory=EndpointConfig)
    vllm: VLLMConfig = Field(default_factory=VLLMConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    progress: bool = Field(True, description="show a progress bar on long work")

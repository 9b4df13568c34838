"""In-process vLLM (optional extra ``selfmoa[vllm]``; GPU).

vLLM is imported only when this backend is built, so CPU installs never import it. Prompts are rendered
with the same chat handling as the other backends (:mod:`selfmoa.generation.chat`). A LoRA adapter can be
attached at construction or swapped later with :meth:`VLLMGenerator.set_adapter` (e.g. after each training
iteration) without reloading the base model.

When ``model.name_or_path`` is a policy trained with LoRA (an adapter folder, or a `selfmoa train` output's
``policy/`` with ``adapter/`` beside it), the engine loads the adapter's base model and generates through
``LoRARequest`` instead of loading the merged weights; adapters vLLM cannot serve fall back to merged weights
(``generation.vllm.lora_adapter``; see :mod:`selfmoa.generation.lora`).
"""

from __future__ import annotations

from pathlib import Path

from selfmoa.config.generation import GenerationConfig, SamplingConfig
from selfmoa.config.models import ModelConfig
from selfmoa.errors import SelfmoaError, require
from selfmoa.generation.base import BaseGenerator, Completion, GenerationRequest, register_backend
from selfmoa.generation.chat import prepare_messages, render_prompt


def _vllm():
    return require("vllm", "generation.backend=vllm", "vllm")


@register_backend("vllm", requires={"vllm": "vllm"})
class VLLMGenerator(BaseGenerator):
    name = "vllm"

    def __init__(self, model_config: ModelConfig, gen_config: GenerationConfig, *, adapter: str | Path | None = None):
        vllm = _vllm()
        from selfmoa.generation.lora import plan_lora
        from selfmoa.models import resolve_model

        resolved = resolve_model(model_config)
        cfg = gen_config.vllm
        self.model_config = model_config
        self.gen_config = gen_config
        plan = plan_lora(resolved.location, cfg) if resolved.local else None
        if plan is not None and plan.base != resolved.location:
            resolved = resolve_model(model_config.model_copy(update={"name_or_path": plan.base}))
        if plan is not None and plan.adapter is not None and adapter is None:
            adapter = plan.adapter
        self.llm = vllm.LLM(
            model=resolved.location,
            revision=model_config.revision,
            trust_remote_code=model_config.trust_remote_code,
            dtype="auto" if model_config.dtype == "auto" else model_config.dtype,
            tensor_parallel_size=cfg.tensor_parallel_size,
            gpu_memory_utilization=cfg.gpu_memory_utilization,
            max_model_len=cfg.max_model_len,
            enable_lora=cfg.enable_lora,
            max_lora_rank=cfg.max_lora_rank,
            seed=gen_config.sampling.seed,
        )
        self.tokenizer = self.llm.get_tokenizer()
        if model_config.chat_template:
            self.tokenizer.chat_template = model_config.chat_template
        self._base_policy = f"vllm:{resolved.name}"
        self._lora = None
        self._lora_counter = 0
        self.model_info = {"backend": "vllm", "spec": resolved.spec, "location": resolved.location,
                           "weights": plan.reason if plan is not None else "weights"}
        self.policy_id = self._base_policy
        if adapter is not None:
            self.set_adapter(adapter)

    def set_adapter(self, path: str | Path | None) -> None:
        """Use the LoRA adapter in `path` for the next generations (None: the base model)."""
        if path is None:
            self._lora, self.policy_id = None, self._base_policy
            return
        if not self.gen_config.vllm.enable_lora:
            raise SelfmoaError("generation.vllm.enable_lora: must be true to generate with a LoRA adapter")
        path = Path(path)
        if not (path / "adapter_config.json").is_file():
            raise SelfmoaError(f"LoRA adapter: {path} has no adapter_config.json")
        from vllm.lora.request import LoRARequest

        from selfmoa.generation.lora import lora_name

        self._lora_counter += 1
        name = lora_name(path)
        self._lora = LoRARequest(name, self._lora_counter, str(path))
        self.policy_id = f"{self._base_policy}+lora:{name}"
        self.model_info["adapter"] = str(path)

    def _generate(self, requests: list[GenerationRequest], sampling: SamplingConfig, on_batch) -> list[Completion]:
        vllm = _vllm()
        prompts = [
            render_prompt(self.tokenizer, prepare_messages(r.messages, self.model_config.system_prompt)) for r in requests
        ]
        params = vllm.SamplingParams(
            n=sampling.n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens,
            seed=sampling.seed,
            stop=list(sampling.stop) or None,
        )
        meta = {"sampling": sampling.model_dump()}
        out: list[Completion] = []
        step = max(1, self.gen_config.batch_size * 8)  # vLLM schedules internally; chunk only for on_batch
        for k in range(0, len(requests), step):
            results = self.llm.generate(prompts[k : k + step], params, lora_request=self._lora, use_tqdm=self.gen_config.progress)
            chunk: list[Completion] = []
            for req, res in zip(requests[k : k + step], results):
                for j, o in enumerate(res.outputs):
                    chunk.append(
                        Completion(
                            request_id=req.id,
                            sample_index=j,
                            text=o.text,
                            finish_reason="length" if o.finish_reason == "length" else "stop",
                            prompt_tokens=len(res.prompt_token_ids or []),
                            completion_tokens=len(o.token_ids),
                            meta=meta,
                        )
                    )
            if on_batch is not None:
                on_batch(chunk)
            out.extend(chunk)
        return out

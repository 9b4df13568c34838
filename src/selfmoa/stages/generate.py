"""The generation stage: prompts -> responses, persisted batch by batch so a killed run resumes exactly."""

from __future__ import annotations

from typing import Sequence

from selfmoa.config.generation import SamplingConfig
from selfmoa.generation.base import Completion, GenerationRequest, Generator
from selfmoa.records import Prompt, Response
from selfmoa.store.run import RunStore


def sampling_key(sampling: SamplingConfig) -> dict:
    """The sampling parameters that identify a response (n is excluded: sample i is the same whatever n is)."""
    return sampling.model_dump(exclude={"n"})


def generate_stage(
    store: RunStore,
    stage: str,
    prompts: Sequence[Prompt],
    generator: Generator,
    sampling: SamplingConfig,
) -> list[Response]:
    """Generate `sampling.n` responses per prompt into `stage`, skipping (prompt, sample) pairs already written."""
    key = sampling_key(sampling)
    by_id = {p.id: p for p in prompts}

    def fill(handle) -> dict:
        todo = [
            p
            for p in prompts
            if any(Response.make_id(p.id, generator.policy_id, i, key) not in handle.done_ids for i in range(sampling.n))
        ]

        def on_batch(batch: list[Completion]) -> None:
            records = []
            for c in batch:
                prompt = by_id[c.request_id]
                records.append(
                    Response(
                        id=Response.make_id(prompt.id, generator.policy_id, c.sample_index, key),
                        prompt_id=prompt.id,
                        policy=generator.policy_id,
                        sample_index=c.sample_index,
                        text=c.text,
                        sampling=key,
                        finish_reason=c.finish_reason,
                        prompt_tokens=c.prompt_tokens,
                        completion_tokens=c.completion_tokens,
                        meta={"error": c.error} if c.error else {},
                    )
                )
            handle.write(records)

        if todo:
            generator.generate([GenerationRequest(p.id, p.conversation()) for p in todo], sampling, on_batch=on_batch)
        return {"prompts": len(prompts), "samples_per_prompt": sampling.n, "backend": generator.name}

    return store.resumable(stage, Response, fill)

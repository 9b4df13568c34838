"""Sample k responses per prompt from the current policy, optionally under persona system prompts.

Personas (e.g. a cautious and a forthcoming system prompt) make the k answers to one prompt differ, so that pairs have
contrast. A persona may also start the answer with a prefix the policy continues (an assistant prefill such as the
opening of a refusal): a policy that almost never refuses on its own then still writes refusals in its own words,
and the judges decide where they belong (chosen on harmful prompts, rejected on benign ones). The persona (and
prefix) is recorded in ``Response.meta`` and is part of the response id; pairs are trained on the prompt *without*
the persona, so the policy learns the preferred behaviour unprompted.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from selfmoa.config.generation import SamplingConfig
from selfmoa.config.pairs import PairsConfig, PersonaConfig
from selfmoa.generation.base import Completion, GenerationRequest, Generator
from selfmoa.records import Message, Prompt, Response

NO_PERSONA = "none"


def persona_plan(cfg: PairsConfig) -> list[tuple[PersonaConfig, int]]:
    """(persona, samples) covering `samples_per_prompt` across the personas."""
    personas = [PersonaConfig(name=NO_PERSONA)] if cfg.include_no_persona else []
    personas += list(cfg.personas)
    if not personas:
        personas = [PersonaConfig(name=NO_PERSONA)]
    k = cfg.samples_per_prompt
    base, extra = divmod(k, len(personas))
    plan = [(p, base + (1 if i < extra else 0)) for i, p in enumerate(personas)]
    return [p for p in plan if p[1] > 0]


_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def keep_sentences(text: str, n: int | None) -> str:
    """The first `n` sentences of `text` (None: all of it; 0: nothing); whitespace at the ends dropped."""
    if n is None:
        return text
    if n == 0:
        return ""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return text[: ends[n - 1]].rstrip() if len(ends) >= n else text.rstrip()


def pair_sampling(cfg: PairsConfig, base: SamplingConfig) -> SamplingConfig:
    return base.model_copy(
        update={
            "temperature": cfg.temperature,
            "top_p": cfg.top_p,
            "max_new_tokens": cfg.max_new_tokens or base.max_new_tokens,
        }
    )


def sample_for_pairs(
    prompts: Sequence[Prompt],
    generator: Generator,
    cfg: PairsConfig,
    base_sampling: SamplingConfig,
    *,
    done_ids: set[str] | None = None,
    on_records: Callable[[list[Response]], None] | None = None,
) -> list[Response]:
    """Generate `samples_per_prompt` responses per prompt; skips response ids in `done_ids` (resume)."""
    done_ids = done_ids or set()
    by_id = {p.id: p for p in prompts}
    out: list[Response] = []
    offset = 0
    for spec, n in persona_plan(cfg):
        persona, system_prompt, prefix = spec.name, spec.system_prompt, spec.response_prefix or ""
        sampling = pair_sampling(cfg, base_sampling).model_copy(update={"n": n})
        if spec.max_new_tokens:
            sampling = sampling.model_copy(update={"max_new_tokens": spec.max_new_tokens})
        key = {**sampling.model_dump(exclude={"n"}), "persona": persona, **({"prefix": prefix} if prefix else {})}
        if spec.max_sentences is not None:  # part of the id: a different cut is a different response
            key["max_sentences"] = spec.max_sentences
        persona_meta = {"persona": persona, **({"prefix": prefix} if prefix else {})}

        def rid(p: Prompt, i: int, _key=key, _off=offset) -> str:
            return Response.make_id(p.id, generator.policy_id, _off + i, _key)

        todo = [p for p in prompts if any(rid(p, i) not in done_ids for i in range(n))]
        requests = []
        for p in todo:
            msgs = p.conversation()
            if system_prompt and not any(m.role == "system" for m in msgs):
                msgs = [Message(role="system", content=system_prompt), *msgs]
            if prefix:
                msgs = [*msgs, Message(role="assistant", content=prefix)]
            requests.append(GenerationRequest(p.id, msgs))

        def on_batch(batch: list[Completion], _key=key, _off=offset, _meta=persona_meta, _prefix=prefix,
                     _keep=spec.max_sentences) -> None:
            recs = []
            for c in batch:
                p = by_id[c.request_id]
                text, finish = c.text, c.finish_reason
                if _keep is not None:
                    cut = keep_sentences(text, _keep)
                    if cut != text:
                        text, finish = (" " + cut.lstrip() if cut and text[:1].isspace() else cut), "stop"
                recs.append(
                    Response(
                        id=Response.make_id(p.id, generator.policy_id, _off + c.sample_index, _key),
                        prompt_id=p.id,
                        policy=generator.policy_id,
                        sample_index=_off + c.sample_index,
                        text=_prefix + text,
                        sampling=_key,
                        finish_reason=finish,
                        prompt_tokens=c.prompt_tokens,
                        completion_tokens=c.completion_tokens,
                        meta={**_meta, **({"error": c.error} if c.error else {})},
                    )
                )
            recs = [r for r in recs if r.id not in done_ids]
            out.extend(recs)
            if on_records and recs:
                on_records(recs)

        if requests:
            generator.generate(requests, sampling, on_batch=on_batch)
        offset += n
    return out

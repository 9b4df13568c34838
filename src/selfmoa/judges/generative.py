"""Judges that run a language model through the generation engine (in-process HF or an OpenAI-compatible
server): the shared plumbing for the guard adapters (:mod:`selfmoa.judges.guards`) and the rubric judges
(:mod:`selfmoa.judges.rubric`).

A generative judge turns each item into a conversation (:meth:`GenerativeJudge.messages`), generates
greedily in batches with any :class:`~selfmoa.generation.base.Generator`, and parses each output
(:meth:`GenerativeJudge.parse`). An output it cannot parse is retried up to ``retries`` times (sampled,
with a fresh seed); what is still unparsable is returned with ``score=None, parse_ok=False`` and the raw
text, never as a verdict.

Raw-prompt judges (guard models) render their official prompt themselves and send it as one user message;
the model is loaded with :data:`PASSTHROUGH_TEMPLATE` as its chat template so the text reaches the model
byte for byte. To serve a guard model behind an OpenAI-compatible server, start the server with the same
template (vLLM: ``--chat-template`` pointing at a file holding ``PASSTHROUGH_TEMPLATE``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

from selfmoa.errors import SelfmoaError
from selfmoa.judges.base import ItemResults, Judge, JudgeItem, JudgeResult
from selfmoa.records import Message
from selfmoa.redact import redact_url

#: Chat template that emits the last message's content unchanged (raw-prompt guard models).
PASSTHROUGH_TEMPLATE = "{{ messages[-1]['content'] }}"


def _model_config(model: Any, raw_prompt: bool):
    from selfmoa.config.models import ModelConfig

    if model is None:
        cfg = ModelConfig()
    elif isinstance(model, ModelConfig):
        cfg = model
    elif isinstance(model, str):
        cfg = ModelConfig(name_or_path=model)
    elif isinstance(model, dict):
        cfg = ModelConfig(**model)
    else:
        raise SelfmoaError(f"judges: 'model' must be a model name, a path or a model mapping, got {type(model).__name__}")
    if raw_prompt and cfg.chat_template is None:
        cfg = cfg.model_copy(update={"chat_template": PASSTHROUGH_TEMPLATE})
    return cfg


class GenerativeJudge(Judge):
    """Base class: subclasses implement :meth:`messages` and :meth:`parse`."""

    needs_model = True
    raw_prompt: ClassVar[bool] = False  # True: messages() returns the full official prompt as one user message
    default_model: ClassVar[str | None] = None
    default_max_new_tokens: ClassVar[int] = 32

    def __init__(self, model: Any = None, endpoint: Any = None, backend: str | None = None, batch_size: int = 8,
                 max_new_tokens: int | None = None, retries: int = 2, generator: Any = None, **kw: Any):
        super().__init__(**kw)
        from selfmoa.config.generation import EndpointConfig, GenerationConfig

        self.model_config = _model_config(model if model is not None else self.default_model, self.raw_prompt)
        if isinstance(endpoint, dict):
            endpoint = EndpointConfig(**endpoint)
        self.backend = backend or ("openai" if endpoint is not None else "hf")
        if self.backend not in ("hf", "openai", "vllm"):
            raise SelfmoaError(f"judges: backend must be hf, openai or vllm, got '{self.backend}'")
        self.gen_config = GenerationConfig(backend=self.backend, batch_size=batch_size, progress=False,
                                           **({"openai": endpoint} if endpoint is not None else {}))
        self.max_new_tokens = max_new_tokens or self.default_max_new_tokens
        self.retries = retries
        self._generator = generator  # an already-built Generator (e.g. the in-memory policy) is used as is
        self.params.update(model=self.model_config.name_or_path, backend=self.backend, max_new_tokens=self.max_new_tokens,
                           endpoint=redact_url(endpoint.base_url) if endpoint is not None else None)

    @property
    def generator(self):
        if self._generator is None:
            from selfmoa.generation.base import get_backend

            self._generator = get_backend(self.backend)(self.model_config, self.gen_config)
        return self._generator

    def _state_hash(self) -> str:
        return str(getattr(self._generator, "policy_id", "") or "")

    # -- subclass hooks ---------------------------------------------------------------------------
    def messages(self, item: JudgeItem) -> list[Message]:
        raise NotImplementedError

    def parse(self, text: str) -> ItemResults:
        """Results per objective; an unparsable objective gets ``score=None, parse_ok=False``."""
        raise NotImplementedError

    def failed(self, text: str, reason: str) -> ItemResults:
        return {o: JudgeResult(o, None, None, parse_ok=False, raw=text, meta={"parse_error": reason}) for o in self.objectives}

    # -- scoring ----------------------------------------------------------------------------------
    def _score(self, items: Sequence[JudgeItem]) -> list[ItemResults]:
        from selfmoa.config.generation import SamplingConfig
        from selfmoa.generation.base import GenerationRequest

        requests = [GenerationRequest(id=f"{k}-{it.id}", messages=self.messages(it)) for k, it in enumerate(items)]
        out: list[ItemResults | None] = [None] * len(items)
        todo = list(range(len(items)))
        for attempt in range(self.retries + 1):
            sampling = SamplingConfig(max_new_tokens=self.max_new_tokens, temperature=0.0 if attempt == 0 else 0.7, seed=attempt)
            completions = self.generator.generate([requests[i] for i in todo], sampling)
            still = []
            for i, c in zip(todo, completions):
                if c.error:
                    res = self.failed(c.text or "", f"generation error: {c.error}")
                else:
                    res = self.parse(c.text)
                for r in res.values():
                    r.meta.setdefault("attempts", attempt + 1)
                    if r.raw is None:
                        r.raw = c.text
                out[i] = res
                if not all(r.parse_ok for r in res.values()):
                    still.append(i)
            todo = still
            if not todo:
                break
        return out  # type: ignore[return-value]

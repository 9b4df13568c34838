"""The default backend: in-process transformers, batched.

How it is fast and still exact:
- prompts are length-bucketed: every (request, sample) row is sorted by prompt length (longest first) and
  chunked into batches of ``generation.batch_size``, so little compute is spent on padding;
- rows are left-padded with an attention mask (transformers derives position ids from it) and decoded
  with the KV cache, so greedy batched output equals one-at-a-time output;
- sampling is seeded per row from (``sampling.seed``, request id, sample index) with a private
  ``torch.Generator``, so a sample does not depend on which other rows shared its batch: a resumed run
  regenerates the same samples (up to float noise from different padding);
- greedy decoding computes each prompt once and copies it to the ``n`` sample slots.
"""

from __future__ import annotations

from typing import Any

from selfmoa.config.generation import GenerationConfig, SamplingConfig
from selfmoa.config.models import ModelConfig
from selfmoa.generation.base import BaseGenerator, Completion, GenerationRequest, register_backend
from selfmoa.generation.chat import encode_prompt, prepare_messages
from selfmoa.progress import progress_bar
from selfmoa.records import stable_hash


def row_seed(seed: int, request_id: str, sample_index: int) -> int:
    """The sampling seed of one (request, sample): independent of batch composition and order."""
    return int(stable_hash(seed, request_id, sample_index), 16) % (2**63 - 1)


def _seeded_sampler(seeds: list[int], temperature: float, top_p: float, device):
    """A logits processor that samples each row with its own generator and forces that token, so the
    (greedy) decoding loop of ``model.generate`` emits per-row seeded samples."""
    import torch
    from transformers import LogitsProcessor

    class SeededSampler(LogitsProcessor):
        def __init__(self):
            self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

        def __call__(self, input_ids, scores):
            logits = scores.float() / temperature
            if top_p < 1.0:
                sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
                probs = torch.softmax(sorted_logits, dim=-1)
                drop = (torch.cumsum(probs, dim=-1) - probs) > top_p  # always keeps the top token
                sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
                logits = torch.full_like(logits, float("-inf")).scatter(1, order, sorted_logits)
            probs = torch.softmax(logits, dim=-1)
            picks = torch.cat(
                [torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(self.generators)]
            )
            forced = torch.full_like(scores, float("-inf"))
            forced.scatter_(1, picks.unsqueeze(1), 0.0)
            return forced

    return SeededSampler()




@register_backend("hf")
class HFGenerator(BaseGenerator):
    """Batched generation with a transformers causal LM (loaded once per process)."""

    name = "hf"

    def __init__(self, model_config: ModelConfig, gen_config: GenerationConfig):
        from selfmoa.models import load_causal_lm

        loaded = load_causal_lm(model_config)
        self._setup(
            loaded.model,
            loaded.tokenizer,
            gen_config,
            policy_id=loaded.policy_id,
            system_prompt=model_config.system_prompt,
            max_context=model_config.max_context,
            model_info=dict(loaded.info),
        )

    @classmethod
    def from_model(
        cls,
        model,
        tokenizer,
        gen_config: GenerationConfig | None = None,
        *,
        policy_id: str,
        system_prompt: str | None = None,
        max_context: int | None = None,
        model_info: dict[str, Any] | None = None,
    ) -> "HFGenerator":
        """Wrap an already-loaded model and tokenizer (e.g. the in-memory PEFT policy during training)."""
        self = cls.__new__(cls)
        self._setup(
            model,
            tokenizer,
            gen_config or GenerationConfig(),
            policy_id=policy_id,
            system_prompt=system_prompt,
            max_context=max_context,
            model_info=dict(model_info or {}),
        )
        return self

    def _setup(self, model, tokenizer, gen_config, *, policy_id, system_prompt, max_context, model_info):
        self.model = model
        self.tokenizer = tokenizer
        self.gen_config = gen_config
        self.policy_id = policy_id
        self.system_prompt = system_prompt
        self.max_context = max_context
        self.model_info = {**model_info, "backend": "hf", "policy_id": policy_id, "batch_size": gen_config.batch_size}
        gc = getattr(model, "generation_config", None)
        eos = getattr(gc, "eos_token_id", None) if gc is not None else None
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = getattr(gc, "pad_token_id", None) if gc is not None else None
        if pad is None:
            pad = min(self.eos_ids) if self.eos_ids else 0
        self.pad_id = int(pad)

    # -- public --------------------------------------------------------------------------------------
    def encode(self, request: GenerationRequest) -> tuple[list[int], bool]:
        messages = prepare_messages(request.messages, self.system_prompt)
        return encode_prompt(self.tokenizer, messages, self.max_context)

    def _generate(self, requests: list[GenerationRequest], sampling: SamplingConfig, on_batch) -> list[Completion]:
        import torch

        encoded = [self.encode(r) for r in requests]
        greedy = sampling.temperature == 0
        per_prompt = 1 if greedy else sampling.n
        rows = [(i, s) for i in range(len(requests)) for s in range(per_prompt)]
        rows.sort(key=lambda r: (-len(encoded[r[0]][0]), r[0], r[1]))  # length buckets, stable
        bs = self.gen_config.batch_size
        batches = [rows[k : k + bs] for k in range(0, len(rows), bs)]
        sampling_meta = sampling.model_dump()
        results: dict[tuple[int, int], Completion] = {}

        was_training = bool(getattr(self.model, "training", False))
        self.model.eval()
        total = len(requests) * sampling.n
        show = self.gen_config.progress and len(batches) > 1
        try:
            with progress_bar(show, f"generating ({self.policy_id})", total) as bar, torch.inference_mode():
                for batch in batches:
                    outputs = self._run_batch(batch, requests, encoded, sampling, greedy)
                    done: list[Completion] = []
                    for (i, s), (text, reason, n_tokens) in zip(batch, outputs):
                        ids, truncated = encoded[i]
                        for sample in range(sampling.n) if greedy else [s]:
                            c = Completion(
                                request_id=requests[i].id,
                                sample_index=sample,
                                text=text,
                                finish_reason=reason,
                                prompt_tokens=len(ids),
                                completion_tokens=n_tokens,
                                meta={"sampling": sampling_meta, **({"prompt_truncated": True} if truncated else {})},
                            )
                            results[(i, sample)] = c
                            done.append(c)
                    if on_batch is not None:
                        on_batch(done)
                    if bar is not None:
                        bar.advance(bar.task_ids[0], len(done))
        finally:
            if was_training:
                self.model.train()
        return [results[(i, s)] for i in range(len(requests)) for s in range(sampling.n)]

    # -- internals -----------------------------------------------------------------------------------
    def _device(self):
        try:
            return next(self.model.parameters()).device
        except StopIteration:  # pragma: no cover
            import torch

            return torch.device("cpu")

    def _run_batch(self, batch, requests, encoded, sampling: SamplingConfig, greedy: bool):
        import torch
        from transformers import GenerationConfig as HFGenerationConfig
        from transformers import LogitsProcessorList

        device = self._device()
        seqs = [encoded[i][0] for i, _ in batch]
        width = max(len(s) for s in seqs)
        input_ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):  # left padding
            input_ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            attention[row, width - len(seq) :] = 1
        hf_cfg = HFGenerationConfig(
            max_new_tokens=sampling.max_new_tokens,
            do_sample=False,
            num_beams=1,
            use_cache=True,
            pad_token_id=self.pad_id,
            eos_token_id=sorted(self.eos_ids) or None,
            stop_strings=list(sampling.stop) or None,
        )
        kwargs: dict[str, Any] = {}
        if sampling.stop:
            kwargs["tokenizer"] = self.tokenizer
        if not greedy:
            seeds = [row_seed(sampling.seed, requests[i].id, s) for i, s in batch]
            kwargs["logits_processor"] = LogitsProcessorList(
                [_seeded_sampler(seeds, sampling.temperature, sampling.top_p, device)]
            )
        out = self.model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention.to(device),
            generation_config=hf_cfg,
            **kwargs,
        )
        return [self._finish(row.tolist(), sampling) for row in out[:, width:].cpu()]

    def _finish(self, tokens: list[int], sampling: SamplingConfig) -> tuple[str, str, int]:
        """(text, finish_reason, completion_tokens) of one generated row."""
        reason = None
        for k, t in enumerate(tokens):
            if t in self.eos_ids:
                tokens, reason = tokens[:k], "stop"
                break
        if reason is None and self.pad_id not in self.eos_ids:
            while tokens and tokens[-1] == self.pad_id:  # rows stopped early by a stop string
                tokens = tokens[:-1]
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        cut = min((p for p in (text.find(s) for s in sampling.stop) if p >= 0), default=-1)
        if cut >= 0:
            text, reason = text[:cut], "stop"
        if reason is None:
            reason = "length" if len(tokens) >= sampling.max_new_tokens else "stop"
        return text, reason, len(tokens)

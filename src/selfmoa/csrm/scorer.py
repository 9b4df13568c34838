"""Batched verdict scoring: score = log P(safe) - log P(unsafe) of the verdict token(s).

Each verdict may have several surface variants (e.g. "safe", " safe"); a verdict's log-probability is
the log-sum-exp over its variants of the variant's token-sequence log-probability after the prompt.
Single-token variants are read from the prompt's last position; each multi-token variant is
teacher-forced as a continuation. Sequences are grouped so that one forward pass per item suffices
when at most one variant is multi-token (the usual case: SmolLM2 spells "unsafe" as two tokens).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Sequence

from selfmoa.csrm.example import CsrmExample
from selfmoa.csrm.template import TemplateSettings, render_prompt
from selfmoa.errors import SelfmoaError

MIN_SHARED_PREFIX = 16  # shorter shared prefixes are not worth a separate forward pass
SAFE_VARIANTS = ("safe",)
UNSAFE_VARIANTS = ("unsafe",)


@dataclass(frozen=True)
class VerdictTokens:
    safe: tuple[tuple[int, ...], ...]
    unsafe: tuple[tuple[int, ...], ...]

    @classmethod
    def from_tokenizer(cls, tokenizer, safe=SAFE_VARIANTS, unsafe=UNSAFE_VARIANTS) -> "VerdictTokens":
        def enc(words):
            out = []
            for w in words:
                ids = tuple(tokenizer.encode(w, add_special_tokens=False))
                if not ids:
                    raise SelfmoaError(f"csrm.verdicts: '{w}' encodes to no tokens with this tokenizer")
                if ids not in out:
                    out.append(ids)
            return tuple(out)

        s, u = enc(safe), enc(unsafe)
        if set(s) & set(u):
            raise SelfmoaError("csrm.verdicts: a safe and an unsafe variant encode to the same tokens")
        return cls(s, u)

    def carriers(self) -> list[tuple[int, ...]]:
        """Continuations to teacher-force: every multi-token variant (or nothing, if all are single tokens)."""
        multi = [v for v in self.safe + self.unsafe if len(v) > 1]
        return multi or [()]


class CsrmScorer:
    """Scores items with a causal LM; the same code path gives differentiable log-probs for training."""

    def __init__(self, model, tokenizer, *, settings: TemplateSettings = TemplateSettings(), batch_size: int = 8,
                 max_length: int = 1024, safe_variants=SAFE_VARIANTS, unsafe_variants=UNSAFE_VARIANTS,
                 prefix_cache: bool = True):
        self.model = model
        self.prefix_cache = prefix_cache
        self.tokenizer = tokenizer
        self.settings = settings
        self.batch_size = batch_size
        self.max_length = max_length
        self.verdicts = VerdictTokens.from_tokenizer(tokenizer, safe_variants, unsafe_variants)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    # -- prompts -------------------------------------------------------------
    def prompt_text(self, ex: CsrmExample, settings: TemplateSettings | None = None) -> str:
        return render_prompt(self.tokenizer, ex.conversation(), ex.response, ex.config, settings or self.settings)

    def prompt_ids(self, ex: CsrmExample) -> list[int]:
        """Token ids of the prompt, at most ``max_length`` minus the longest verdict continuation.

        Too long a prompt is shortened by cutting the conversation turns (halving their character
        budget), so the configuration's category list and the instruction always stay in; only if
        that is not enough is the prompt cut from the left."""
        budget = self.max_length - max(len(c) for c in self.verdicts.carriers())
        settings = self.settings
        while True:
            ids = self.tokenizer(self.prompt_text(ex, settings), add_special_tokens=False)["input_ids"]
            if len(ids) <= budget or settings.max_turn_chars <= 64:
                break
            settings = replace(settings, max_turn_chars=settings.max_turn_chars // 2)
        return ids[-budget:] if len(ids) > budget else ids

    # -- log-probs -------------------------------------------------------------
    def verdict_logprobs(self, examples: Sequence[CsrmExample]):
        """Tensor [n, 2] of (log P(safe), log P(unsafe)) for one batch (differentiable if grad is on)."""
        return self.verdict_logprobs_ids([self.prompt_ids(ex) for ex in examples])

    def shared_prefix(self, prompts: Sequence[list[int]]) -> int:
        """Length of the token prefix every prompt of the batch shares (the chat header, preamble and the start
        of the category list), computed once per batch; 0 when too short to be worth a separate pass."""
        if not self.prefix_cache or len(prompts) < 2:
            return 0
        # every row keeps at least one token of its own
        n = min(len(os.path.commonprefix([list(p) for p in prompts])), min(len(p) for p in prompts) - 1)
        return n if n >= MIN_SHARED_PREFIX else 0

    def verdict_logprobs_ids(self, prompts: Sequence[list[int]]):
        """Log-probs of both verdicts after each prompt. The prefix the prompts share is run once (batch of 1)
        and its key/value cache repeated for every row, so each row computes only its own tokens; under
        training the gradient flows through the shared pass as well."""
        import torch

        carriers = self.verdicts.carriers()
        shared = self.shared_prefix(prompts)
        seqs, owners = [], []
        for i, p in enumerate(prompts):
            for c in carriers:
                seqs.append(list(p[shared:]) + list(c))
                owners.append((i, c))
        width = max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id
        device = next(self.model.parameters()).device
        input_ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        attn = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):  # left padding: every sequence ends at the last column
            input_ids[r, width - len(s):] = torch.tensor(s)
            attn[r, width - len(s):] = 1
        pos = (attn.cumsum(-1) - 1).clamp(min=0) + shared
        keep = max(len(c) for c in carriers) + 1  # only the last positions predict verdict tokens
        kwargs = dict(input_ids=input_ids.to(device), attention_mask=attn.to(device), position_ids=pos.to(device))
        if shared:
            cache = self._prefix_cache(prompts[0][:shared], len(seqs), device)
            if cache is None:  # this model cannot repeat a cache: run every row in full from now on
                self.prefix_cache = False
                return self.verdict_logprobs_ids(prompts)
            # rows see the shared prefix, then their own tokens (pads in between are masked out)
            kwargs["attention_mask"] = torch.cat([torch.ones((len(seqs), shared), dtype=torch.long), attn], 1).to(device)
            kwargs["past_key_values"] = cache
        try:
            out = self.model(**kwargs, logits_to_keep=keep)
        except TypeError:  # models without logits_to_keep
            out = self.model(**kwargs)
        logp = torch.log_softmax(out.logits[:, -keep:].float(), dim=-1)  # [rows, keep, vocab]
        offset = width - keep

        # variant -> (row, start column of the continuation) to read it from
        results = [[None, None] for _ in prompts]
        for r, (i, c) in enumerate(owners):
            p_end = width - len(c) - 1  # position whose logits predict the first continuation token
            for k, group in enumerate((self.verdicts.safe, self.verdicts.unsafe)):
                for v in group:
                    if (len(v) == 1 and c != carriers[0]) or (len(v) > 1 and v != c):
                        continue  # single tokens: read once from the first carrier; multi: from their own row
                    lp = sum(logp[r, p_end + j - offset, v[j]] for j in range(len(v)))
                    results[i][k] = lp if results[i][k] is None else torch.logaddexp(results[i][k], lp)
        return torch.stack([torch.stack([a, b]) for a, b in results])

    def _prefix_cache(self, prefix: list[int], rows: int, device):
        """The key/value cache of ``prefix`` (one forward pass), repeated for ``rows`` rows; None when the
        model does not return a cache that can be repeated (then the batch runs without it)."""
        import torch

        ids = torch.tensor([prefix], device=device)
        try:
            out = self.model(input_ids=ids, use_cache=True, logits_to_keep=1)
        except TypeError:
            return None
        cache = getattr(out, "past_key_values", None)
        if cache is None or not hasattr(cache, "batch_repeat_interleave"):
            return None
        cache.batch_repeat_interleave(rows)
        return cache

    # -- scores ----------------------------------------------------------------
    def score(self, examples: Sequence[CsrmExample], on_batch=None) -> list[float]:
        """log P(safe) - log P(unsafe) per item (higher = safer), in batches sorted by length."""
        import torch

        ids = [self.prompt_ids(ex) for ex in examples]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        scores: list[float] = [0.0] * len(ids)
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            for b in range(0, len(order), self.batch_size):
                idx = order[b : b + self.batch_size]
                lp = self.verdict_logprobs_ids([ids[i] for i in idx])
                for j, i in enumerate(idx):
                    scores[i] = float(lp[j, 0] - lp[j, 1])
                if on_batch:
                    on_batch(len(idx))
        if was_training:
            self.model.train()
        return scores


def p_unsafe(score: float) -> float:
    """P(unsafe) renormalised over the two verdicts: sigmoid(-score)."""
    import math

    if score >= 0:
        return math.exp(-score) / (1.0 + math.exp(-score))
    return 1.0 / (1.0 + math.exp(score))

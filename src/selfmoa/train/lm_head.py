"""The LM head of the preference trainer: per-token log-probs of the completion positions only.

TRL's fused LM head (`trl.trainer.utils.add_fused_lm_head`) projects, without materialising the logits, only
the positions whose label is not -100 -- but only on Triton devices (CUDA, XPU). Elsewhere it scores every
position (fixed tile shapes for compilers such as Neuron's), so on a CPU the prompt tokens of every pair go
through the 49k-way vocabulary projection and its backward for nothing. On the embedded model (pairs of
about 160 tokens with 40-token answers) that is about 40% of a LoRA training step.

:func:`add_completion_lm_head` adds TRL's head and, on devices without Triton, wraps it so that only the
completion positions are projected (TRL's own `ChunkedLogProbFunction`, the same kernel). The returned
log-probs have TRL's shape and values (0 at masked positions); on CUDA/XPU and for models with logit
soft-capping or scaling the call goes to TRL's head unchanged.
"""

from __future__ import annotations

import functools
import types
from dataclasses import dataclass

import torch

# the vocabulary chunk TRL's fused head uses (trl.trainer.utils._CHUNKED_LOGPROB_CHUNK_SIZE)
VOCAB_CHUNK = 32768
_SCALING_KEYS = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")


@dataclass
class CompletionLogProbs:
    """What the trainer reads of a fused forward: per-token log-probs (batch, seq_len - 1) and their mask."""

    log_probs: torch.Tensor
    label_mask: torch.Tensor


def _plain_head(model) -> bool:
    """True when the head is a plain projection (no soft-capping or logit scaling to apply)."""
    cfg = model.config.get_text_config()
    return all(getattr(cfg, k, None) in (None, 1.0) for k in _SCALING_KEYS)


def add_completion_lm_head(model) -> None:
    """Patch `model` (before PEFT wraps it) so that ``model(..., labels=..., fused_lm_head=True)`` returns
    per-token log-probs, projecting only the positions whose next-token label is not -100."""
    from trl.kernels import ChunkedLogProbFunction
    from trl.trainer.utils import add_fused_lm_head

    add_fused_lm_head(model, outputs=("log_probs",))
    if not _plain_head(model):
        return
    trl_forward = model.forward

    @functools.wraps(type(model).forward)
    def forward(self, *args, fused_lm_head=False, labels=None, shift_labels=None, **kwargs):
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        if (not fused_lm_head or labels is None or shift_labels is not None or input_ids is None
                or input_ids.device.type in ("cuda", "xpu") or kwargs.get("num_items_in_batch") is not None):
            extra = {} if shift_labels is None else {"shift_labels": shift_labels}
            return trl_forward(*args, fused_lm_head=fused_lm_head, labels=labels, **extra, **kwargs)
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state[:, :-1]
        head = self.get_output_embeddings()
        targets = labels[:, 1:].to(head.weight.device)
        mask = targets != -100
        picked = ChunkedLogProbFunction.apply(
            hidden.to(head.weight.device)[mask], head.weight, head.bias, targets[mask], 1.0, VOCAB_CHUNK, None, 1.0,
            ("log_probs",),
        )[0]
        # masked_scatter keeps an all-masked micro-batch connected to the graph (a differentiable zero)
        return CompletionLogProbs(log_probs=picked.new_zeros(mask.shape).masked_scatter(mask, picked), label_mask=mask)

    model.forward = types.MethodType(forward, model)

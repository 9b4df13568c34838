"""The completion-only LM head: same log-probs and gradients as TRL's fused head, fewer positions projected."""

from __future__ import annotations

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
from trl.trainer.utils import add_fused_lm_head

from selfmoa.train.lm_head import CompletionLogProbs, add_completion_lm_head


def _batch(vocab: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (3, 24), generator=g)
    completion = torch.zeros_like(ids)
    completion[0, 10:] = 1
    completion[1, 20:] = 1
    completion[2, 4:12] = 1  # completion followed by padding
    attention = torch.ones_like(ids)
    attention[2, 12:] = 0
    return ids, attention, ids.masked_fill(completion == 0, -100)


def _run(model_dir, patch, lora: bool):
    torch.manual_seed(0)
    lm = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    patch(lm)
    if lora:
        lm = get_peft_model(lm, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM",
                                           init_lora_weights=False))
    ids, attention, labels = _batch(lm.config.vocab_size)
    out = lm(input_ids=ids, attention_mask=attention, labels=labels, use_cache=False, fused_lm_head=True)
    out.log_probs.sum().backward()
    grads = {n: p.grad.clone() for n, p in lm.named_parameters() if p.grad is not None}
    return out, grads


def test_completion_head_matches_trl_head_values_and_gradients(tiny_model_dir):
    for lora in (False, True):
        ref, ref_grads = _run(tiny_model_dir, lambda m: add_fused_lm_head(m, outputs=("log_probs",)), lora)
        got, got_grads = _run(tiny_model_dir, add_completion_lm_head, lora)
        assert isinstance(got, CompletionLogProbs)  # our path ran, not TRL's (which returns FusedCausalLMOutput)
        assert got.log_probs.shape == ref.log_probs.shape
        torch.testing.assert_close(got.log_probs, ref.log_probs, rtol=1e-5, atol=1e-5)
        assert torch.equal(got.label_mask, ref.label_mask)
        assert (got.log_probs[~got.label_mask] == 0).all() and (got.log_probs[got.label_mask] < 0).all()
        assert ref_grads.keys() == got_grads.keys() and ref_grads
        for name in ref_grads:
            torch.testing.assert_close(got_grads[name], ref_grads[name], rtol=1e-4, atol=1e-6)


def test_completion_head_leaves_plain_forward_alone(tiny_model_dir):
    lm = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    ids, attention, _ = _batch(lm.config.vocab_size)
    before = lm(input_ids=ids, attention_mask=attention).logits
    add_completion_lm_head(lm)
    after = lm(input_ids=ids, attention_mask=attention).logits  # generation's path: full logits, unchanged
    torch.testing.assert_close(before, after)


def test_completion_head_all_masked_batch_is_a_differentiable_zero(tiny_model_dir):
    lm = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    add_completion_lm_head(lm)
    ids, attention, _ = _batch(lm.config.vocab_size)
    out = lm(input_ids=ids, attention_mask=attention, labels=torch.full_like(ids, -100), fused_lm_head=True)
    assert (out.log_probs == 0).all()
    out.log_probs.sum().backward()  # no error: the output stays connected to the graph

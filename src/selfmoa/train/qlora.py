"""QLoRA (``train.qlora: true``): LoRA on a 4-bit NF4 base loaded with bitsandbytes (extra ``selfmoa[qlora]``, CUDA).

The base is loaded quantized (double quantization, bf16 compute where supported) and prepared with PEFT's
``prepare_model_for_kbit_training``; the trainer then adds the LoRA adapter as usual (``train.lora_*``).
A 4-bit model cannot be saved as a plain full-precision policy, so training saves only ``adapter/`` and the
merged ``policy/`` is rebuilt afterwards from the full-precision base plus the adapter (:func:`merge_policy`).
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict
from pathlib import Path

from selfmoa.config.models import ModelConfig
from selfmoa.config.train import TrainConfig
from selfmoa.errors import MissingExtraError, SelfmoaError


def check_qlora(cfg: TrainConfig) -> None:
    """Fail before any model loads when `train.qlora` cannot work here."""
    if not cfg.qlora:
        return
    if not cfg.lora:
        raise SelfmoaError("train.qlora: QLoRA trains a LoRA adapter; set train.lora=true (or train.qlora=false)")
    if cfg.method == "sft":
        raise SelfmoaError("train.qlora: supported for the preference methods (modpo, dpo), not train.method=sft")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise MissingExtraError("train.qlora", "qlora", "bitsandbytes")
    import torch

    if not torch.cuda.is_available():
        raise SelfmoaError("train.qlora: 4-bit training with bitsandbytes needs a CUDA GPU; set train.qlora=false on CPU")


def load_for_qlora(model: ModelConfig, cfg: TrainConfig):
    """The policy's base in 4-bit NF4 on this process's GPU, ready for LoRA training, and its tokenizer."""
    check_qlora(cfg)
    import torch
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    from selfmoa.models.loader import configure_tokenizer, resolve_model

    resolved = resolve_model(model)
    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=compute)
    kwargs = dict(revision=model.revision, trust_remote_code=model.trust_remote_code)
    try:
        tok = AutoTokenizer.from_pretrained(resolved.location, **kwargs)
        lm = AutoModelForCausalLM.from_pretrained(
            resolved.location, quantization_config=quant, dtype=compute, use_safetensors=True,
            device_map={"": torch.cuda.current_device()}, **kwargs,
        )
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SelfmoaError(f"model.name_or_path: cannot load '{resolved.spec}' in 4-bit for QLoRA: {first}") from None
    lm = prepare_model_for_kbit_training(lm, use_gradient_checkpointing=False)
    configure_tokenizer(tok, model)
    return lm, tok, "cuda"


def train_qlora(model: ModelConfig, cfg: TrainConfig, train):
    """Load `model`'s base in 4-bit, train the adapter with ``train(lm, tokenizer, cfg_without_merge, device)``
    (which returns a TrainResult, or None on a non-zero rank), then merge it into the full-precision base."""
    lm, tok, device = load_for_qlora(model, cfg)
    result = train(lm, tok, cfg.model_copy(update={"merge": False}), device)
    if result is not None and cfg.merge and not result.policy_dir:
        result = merge_policy(result, model, tok)
    return result


def merge_policy(result, model: ModelConfig, tokenizer=None):
    """Write ``policy/`` (full-precision base + the trained adapter, merged) beside ``adapter/`` and record it in
    result.json. Returns the updated result."""
    import torch

    from selfmoa.generation.lora import merge_adapter
    from selfmoa.models.loader import resolve_model
    from selfmoa.store.atomic import atomic_write_json

    if not result.adapter_dir:
        return result
    out = Path(result.out_dir) / "policy"
    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else None
    merge_adapter(Path(result.adapter_dir), resolve_model(model).location, out, dtype=dtype, tokenizer=tokenizer)
    result.policy_dir = str(out)
    atomic_write_json(Path(result.out_dir) / "result.json", asdict(result))
    return result

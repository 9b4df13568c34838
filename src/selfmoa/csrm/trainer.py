"""Train and load a CSRM.

Training: items and their (strict, lenient) pairs are packed into steps (a pair never splits), the
verdict log-probs come from :class:`~selfmoa.csrm.scorer.CsrmScorer` (same code as scoring), and the loss
is :func:`~selfmoa.csrm.loss.csrm_loss`. LoRA (PEFT; optionally only on the last N layers, so the
backward pass stops early) or full fine-tuning; AdamW with linear warmup/decay.

A trained CSRM folder holds ``csrm.json`` (base model, fine-tune mode, template and verdict settings)
and either a PEFT adapter (safetensors) or full weights (safetensors) plus the tokenizer.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from selfmoa.config.csrm import CsrmConfig
from selfmoa.config.models import ModelConfig
from selfmoa.csrm.example import CsrmExample
from selfmoa.csrm.loss import balanced_class_weights, csrm_loss
from selfmoa.csrm.scorer import CsrmScorer
from selfmoa.csrm.template import TemplateSettings
from selfmoa.errors import SelfmoaError

META_FILE = "csrm.json"


def template_settings(cfg: CsrmConfig) -> TemplateSettings:
    return TemplateSettings(include_guidelines=cfg.include_guidelines, system_prompt=cfg.system_prompt,
                            max_turn_chars=cfg.max_turn_chars)


def _fresh_base(model_cfg: ModelConfig):
    """Load the base model without the shared cache (training and adapters modify it in place)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selfmoa.models.loader import configure_tokenizer, pick_device, pick_dtype, resolve_model

    resolved = resolve_model(model_cfg, "csrm.model.name_or_path")
    device = pick_device(model_cfg.device)
    kwargs = dict(revision=model_cfg.revision, trust_remote_code=model_cfg.trust_remote_code)
    try:
        tok = AutoTokenizer.from_pretrained(resolved.location, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            resolved.location, dtype=pick_dtype(model_cfg.dtype, device), use_safetensors=True, **kwargs
        )
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SelfmoaError(f"csrm.model.name_or_path: cannot load '{resolved.spec}': {first}") from None
    configure_tokenizer(tok, model_cfg)
    return model.to(device), tok, resolved


def make_scorer(model, tokenizer, cfg: CsrmConfig) -> CsrmScorer:
    return CsrmScorer(model, tokenizer, settings=template_settings(cfg), batch_size=cfg.batch_size,
                      max_length=cfg.max_length, safe_variants=tuple(cfg.safe_tokens), unsafe_variants=tuple(cfg.unsafe_tokens))


def load_scorer(cfg: CsrmConfig) -> CsrmScorer:
    """The CSRM in force: ``cfg.checkpoint`` when set (a trained folder), else the base model zero-shot."""
    if cfg.checkpoint is None:
        from selfmoa.models import load_causal_lm

        lm = load_causal_lm(cfg.model, field_name="csrm.model.name_or_path")
        return make_scorer(lm.model, lm.tokenizer, cfg)
    ckpt = Path(cfg.checkpoint).expanduser()
    meta_path = ckpt / META_FILE
    if not meta_path.is_file():
        raise SelfmoaError(f"csrm.checkpoint: {ckpt} is not a trained CSRM folder ({META_FILE} not found)")
    meta = json.loads(meta_path.read_text("utf-8"))
    if meta.get("finetune") == "lora":
        from peft import PeftModel

        base_cfg = cfg.model.model_copy(update={"name_or_path": meta["base_model"]})
        model, tok, _ = _fresh_base(base_cfg)
        model = PeftModel.from_pretrained(model, str(ckpt)).merge_and_unload()
    else:
        model, tok, _ = _fresh_base(cfg.model.model_copy(update={"name_or_path": str(ckpt)}))
    model.eval()
    run_cfg = cfg.model_copy(update={k: meta[k] for k in ("safe_tokens", "unsafe_tokens", "include_guidelines", "system_prompt", "max_turn_chars") if k in meta})
    return make_scorer(model, tok, run_cfg)


# -- training -------------------------------------------------------------------
@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    seconds: float
    history: list[dict] = field(default_factory=list)


def pack_steps(n: int, pairs: Sequence[tuple[int, int]], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle units (pairs stay together, the rest are single items) and pack them into steps."""
    paired = {i for p in pairs for i in p}
    units = [list(p) for p in pairs] + [[i] for i in range(n) if i not in paired]
    rng.shuffle(units)
    steps, cur = [], []
    for u in units:
        if cur and len(cur) + len(u) > batch_size:
            steps.append(cur)
            cur = []
        cur += u
    if cur:
        steps.append(cur)
    return steps


def lr_factor(step: int, total: int, warmup_ratio: float, elapsed: float = 0.0, budget: float | None = None) -> float:
    """Linear warmup over ``warmup_ratio`` of the steps, then linear decay to 0 over the run's progress:
    the share of steps done, or, under a time budget (``csrm.train.max_minutes``), the share of the budget
    spent when that is further along, so a run cut by the clock still ends at a small learning rate."""
    warm = int(total * warmup_ratio)
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    if budget:
        progress = max(progress, elapsed / budget)
    return max(0.0, 1.0 - progress)


def _apply_lora(model, tcfg):
    from peft import LoraConfig, get_peft_model

    n_layers = getattr(model.config, "num_hidden_layers", None)
    layers = None
    if tcfg.lora_last_layers is not None and n_layers:
        layers = list(range(max(0, n_layers - tcfg.lora_last_layers), n_layers))
    lcfg = LoraConfig(r=tcfg.lora_rank, lora_alpha=tcfg.lora_alpha, lora_dropout=tcfg.lora_dropout,
                      target_modules=list(tcfg.lora_target_modules), layers_to_transform=layers, task_type="CAUSAL_LM")
    return get_peft_model(model, lcfg), layers


def train_csrm(
    cfg: CsrmConfig,
    examples: Sequence[CsrmExample],
    pairs: Sequence[tuple[int, int]],
    *,
    output_dir: Path | None = None,
    log: Callable[[dict], None] | None = None,
) -> TrainResult:
    import torch

    if any(ex.label is None for ex in examples):
        raise SelfmoaError("csrm train: every training item needs a label")
    tcfg = cfg.train
    out = Path(output_dir or tcfg.output_dir)
    torch.manual_seed(tcfg.seed)
    model, tok, resolved = _fresh_base(cfg.model)
    if tcfg.finetune == "lora":
        # frozen layers below the first adapter build no autograd graph, so the backward pass stops there
        model, _layers = _apply_lora(model, tcfg)
    model.train()
    scorer = make_scorer(model, tok, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=tcfg.learning_rate, weight_decay=tcfg.weight_decay)
    rng = random.Random(tcfg.seed)
    n_epochs = max(1, math.ceil(tcfg.epochs))
    plan: list[list[int]] = []
    for e in range(n_epochs):
        steps = pack_steps(len(examples), pairs, tcfg.batch_size, rng)
        frac = min(1.0, tcfg.epochs - e)
        plan += steps[: max(1, int(round(len(steps) * frac)))]
    total = len(plan)
    budget = 60 * tcfg.max_minutes if tcfg.max_minutes is not None else None
    weights = balanced_class_weights([ex.label for ex in examples]) if tcfg.class_balance else None
    ids_cache: dict[int, list[int]] = {}
    history = []
    stopped_early = None
    t0 = time.time()
    for step, idx in enumerate(plan, 1):
        lr = tcfg.learning_rate * lr_factor(step - 1, total, tcfg.warmup_ratio, time.time() - t0, budget)
        for group in opt.param_groups:
            group["lr"] = lr
        pos = {i: k for k, i in enumerate(idx)}
        local_pairs = [(pos[s], pos[l_]) for s, l_ in pairs if s in pos and l_ in pos]
        ids = []
        for i in idx:
            if i not in ids_cache:
                ids_cache[i] = scorer.prompt_ids(examples[i])
            ids.append(ids_cache[i])
        lp = scorer.verdict_logprobs_ids(ids)
        labels = torch.tensor([examples[i].label for i in idx])
        parts = csrm_loss(lp, labels, local_pairs, cfg.gamma, weights)
        opt.zero_grad()
        parts.total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        rec = {"step": step, "of": total, "loss": float(parts.total.detach()), "nll": float(parts.nll.detach()), "bt": float(parts.bt.detach()),
               "lr": lr, "seconds": round(time.time() - t0, 1)}
        history.append(rec)
        if log:
            log(rec)
        if budget is not None and time.time() - t0 > budget and step < total:
            stopped_early = step
            break
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    if tcfg.finetune == "lora":
        model.save_pretrained(out, safe_serialization=True)
    else:
        model.save_pretrained(out, safe_serialization=True)
        tok.save_pretrained(out)
    meta = {
        "base_model": str(resolved.location) if resolved.local else resolved.spec,
        "base_spec": resolved.spec,
        "finetune": tcfg.finetune,
        "safe_tokens": list(cfg.safe_tokens),
        "unsafe_tokens": list(cfg.unsafe_tokens),
        "include_guidelines": cfg.include_guidelines,
        "system_prompt": cfg.system_prompt,
        "max_turn_chars": cfg.max_turn_chars,
        "gamma": cfg.gamma,
        "train": tcfg.model_dump(mode="json"),
        "n_examples": len(examples),
        "n_pairs": len(pairs),
        "class_weights": list(weights) if weights else None,
        "steps": len(history),
        "planned_steps": total,
        "stopped_early": stopped_early,
        "seconds": round(time.time() - t0, 1),
        "final_loss": history[-1]["loss"] if history else None,
    }
    from selfmoa.store.atomic import atomic_write_json

    atomic_write_json(out / META_FILE, meta)  # written last, whole: its presence marks a finished CSRM
    return TrainResult(out, len(history), time.time() - t0, history)

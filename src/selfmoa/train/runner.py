"""Run preference training end to end: rows -> TRL datasets -> MultiObjectiveDPOTrainer -> checkpoints -> policy.

Layout of `out_dir` (inside the run folder, e.g. ``runs/NAME/artifacts/iter1/train``)::

    data/train, data/eval   the pairs as Arrow datasets; TRL caches tokenization and reference log-probs beside them
    checkpoints/            Trainer checkpoints (weights as safetensors), the newest `save_total_limit` kept
    metrics.jsonl           one line per log event (loss, preference accuracy, margins, KL estimate, pairs/s)
    adapter/                the LoRA adapter (safetensors), when `train.lora`
    policy/                 the trained policy as a full model folder (merged), loadable by `load_causal_lm`
    result.json             summary: pair counts, held-out metrics before/after, seconds

Running the same call again resumes from the newest checkpoint (e.g. after SIGKILL) and is a no-op when
result.json exists.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from typing import Sequence

from selfmoa.config.models import ModelConfig
from selfmoa.config.train import TrainConfig
from selfmoa.errors import SelfmoaError
from selfmoa.records import Pair, Prompt, Response, stable_hash
from selfmoa.store.atomic import atomic_write_json
from selfmoa.train.data import pairs_to_rows, split_rows
from selfmoa.train.losses import LossParams


@dataclass
class TrainResult:
    out_dir: str
    policy_dir: str | None
    adapter_dir: str | None
    metrics_path: str
    n_train: int
    n_eval: int
    loss_name: str
    seconds: float
    resumed_from: str | None = None
    eval_before: dict[str, float] = field(default_factory=dict)
    eval_after: dict[str, float] = field(default_factory=dict)
    train_metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "TrainResult":
        return cls(**json.loads(Path(path).read_text("utf-8")))

    def policy_model(self, model: ModelConfig, why: str) -> ModelConfig:
        """`model` with the merged policy this training wrote; without one (``train.merge: false``) a one-line
        error saying `why` a loadable policy is needed."""
        if not self.policy_dir:
            raise SelfmoaError(f"train.merge: {why}; set train.merge=true")
        return model.at(self.policy_dir)


def loss_name_for(cfg: TrainConfig) -> str:
    if cfg.method == "dpo":
        return "dpo"
    if cfg.method == "modpo":
        return "modpo_scaled" if cfg.form == "scaled" else "modpo"
    if cfg.method == "sft":
        raise SelfmoaError(f"train.method: '{cfg.method}' is not a preference method (use selfmoa.train.sft for sft)")
    if cfg.method == "rl":
        raise SelfmoaError("train.method: 'rl' is online RL, not a preference method; use `selfmoa train rl` (or the "
                           "loop, which trains each iteration on its prompts)")
    from selfmoa.train.losses import get_loss

    get_loss(cfg.method)  # a loss plugin, else the one-line error listing the valid names
    return cfg.method


def check_tokenizer(model, tokenizer, where: str = "model") -> None:
    """The tokenizer must fit the model's embeddings and have a chat template (rows are conversations)."""
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise SelfmoaError(
            f"{where}: the tokenizer has {len(tokenizer)} tokens but the model has {rows} embeddings; "
            f"tokenizer and model do not match"
        )
    if not getattr(tokenizer, "chat_template", None):
        raise SelfmoaError(f"{where}: the tokenizer has no chat template; set model.chat_template")


def _set_threads(cfg: TrainConfig) -> None:
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)


def begin_training(model, tokenizer, cfg: TrainConfig, out_dir: Path | None, *, pad: bool = False) -> float:
    """What every trainer does first: ``train.threads``, the tokenizer check, a pad token (with `pad`), the output
    folder (unless None); returns the start time (``time.monotonic()``)."""
    _set_threads(cfg)
    check_tokenizer(model, tokenizer)
    if pad and tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    return time.monotonic()


def _dataset(rows: list[dict], path: Path):
    """Save rows once as an Arrow dataset (so TRL's caches persist beside it) and reopen it from disk."""
    from datasets import Dataset, load_from_disk

    ids_hash = stable_hash(json.dumps(rows, sort_keys=True))
    marker = path / "selfmoa_ids.json"
    if not (marker.exists() and json.loads(marker.read_text())["hash"] == ids_hash):
        if path.exists():
            import shutil

            shutil.rmtree(path)
        Dataset.from_list(rows).save_to_disk(str(path))
        atomic_write_json(marker, {"hash": ids_hash, "rows": len(rows)})
    return load_from_disk(str(path))


def common_training_args(cfg: TrainConfig, out_dir: Path, device: str, *, learning_rate: float | None = None,
                         epochs: float | None = None) -> dict:
    """TrainingArguments shared by the preference (DPO) and SFT trainers: batches, schedule, checkpoints, CPU."""
    return dict(
        output_dir=str(out_dir / "checkpoints"),
        per_device_train_batch_size=cfg.micro_batch_size,
        per_device_eval_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=max(1, cfg.batch_size // cfg.micro_batch_size),
        learning_rate=cfg.learning_rate if learning_rate is None else learning_rate,
        num_train_epochs=cfg.epochs if epochs is None else epochs,
        max_steps=cfg.max_steps,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float < 1 is a ratio of the total steps
        weight_decay=cfg.weight_decay,
        max_length=cfg.max_length,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        logging_steps=cfg.logging_steps,
        report_to=list(cfg.report_to) or "none",
        seed=cfg.seed,
        use_cpu=device == "cpu",
        bf16=False,
        fp16=False,
        eval_strategy="no",
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


def _dpo_args(cfg: TrainConfig, out_dir: Path, device: str):
    from trl import DPOConfig

    return DPOConfig(
        **common_training_args(cfg, out_dir, device),
        beta=cfg.beta,
        precompute_ref_log_probs=cfg.precompute_ref,
        precompute_ref_batch_size=cfg.micro_batch_size * 2,
        disable_dropout=True,
        prediction_loss_only=True,
    )


def _peft_config(cfg: TrainConfig):
    if not cfg.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def _eval_summary(metrics: dict[str, float]) -> dict[str, float]:
    keys = ("eval_loss", "eval_rewards/accuracies", "eval_rewards/margins", "eval_kl_ref_policy", "eval_safety_margin")
    return {k.replace("eval_", "", 1): round(float(metrics[k]), 6) for k in keys if k in metrics}


def save_policy(model_out, tokenizer, cfg: TrainConfig, out_dir: Path) -> tuple[Path | None, Path | None]:
    """Write `adapter/` (LoRA) and `policy/` (a merged full model with its tokenizer, safetensors)."""
    adapter_dir = policy_dir = None
    if cfg.lora:
        adapter_dir = out_dir / "adapter"
        model_out.save_pretrained(str(adapter_dir))
        if cfg.merge:
            model_out = model_out.merge_and_unload()
    if cfg.merge or not cfg.lora:
        policy_dir = out_dir / "policy"
        model_out.save_pretrained(str(policy_dir))
        tokenizer.save_pretrained(str(policy_dir))
    return adapter_dir, policy_dir


def build_trainer(model, tokenizer, train_rows, eval_rows, cfg: TrainConfig, out_dir: Path, device: str, callbacks=()):
    from selfmoa.train.batching import row_chars
    from selfmoa.train.callbacks import JsonlMetricsCallback
    from selfmoa.train.trainer import MarginCollator, MultiObjectiveDPOTrainer

    check_tokenizer(model, tokenizer)
    args = _dpo_args(cfg, out_dir, device)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    collator = MarginCollator(pad_token_id=tokenizer.pad_token_id, max_length=cfg.max_length)
    train_ds = _dataset(train_rows, out_dir / "data" / "train")
    # evaluation metrics do not depend on the row order: longest first keeps its batches' padding small
    eval_rows = sorted(eval_rows, key=row_chars, reverse=True) if eval_rows else eval_rows
    eval_ds = _dataset(eval_rows, out_dir / "data" / "eval") if eval_rows else None
    pairs_per_step = cfg.micro_batch_size * args.gradient_accumulation_steps
    ref_model = None
    if not cfg.lora and not cfg.precompute_ref:
        import copy

        ref_model = copy.deepcopy(model).eval()
    lp = LossParams(beta=cfg.beta, margin_weight=cfg.margin_weight, modpo_weight=cfg.modpo_weight)
    trainer = MultiObjectiveDPOTrainer(
        model=model,
        ref_model=ref_model,
        args=args,
        data_collator=collator,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=_peft_config(cfg),
        callbacks=[JsonlMetricsCallback(out_dir / "metrics.jsonl", pairs_per_step), *callbacks],
        loss_name=loss_name_for(cfg),
        loss_params=lp,
        group_by_length=cfg.group_by_length,
        nll_weight=cfg.nll_weight,
    )
    quiet_trainer(trainer)
    return trainer


def quiet_trainer(trainer) -> None:
    """A progress bar instead of the Trainer's printed log dicts (which would fill a run's stdout)."""
    from transformers.trainer_callback import PrinterCallback

    from selfmoa.train.callbacks import ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(ProgressCallback())


def last_complete_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest checkpoint that was written completely (a SIGKILL can leave a half-written one behind)."""
    if not Path(ckpt_dir).is_dir():
        return None
    done = []
    for d in Path(ckpt_dir).glob("checkpoint-*"):
        step = d.name.rsplit("-", 1)[-1]
        weights = any(d.glob("*.safetensors"))
        if step.isdigit() and (d / "trainer_state.json").is_file() and weights:
            done.append((int(step), str(d)))
    return max(done)[1] if done else None


def train_eval_rows(rows: list[dict], eval_rows: list[dict] | None, cfg: TrainConfig) -> tuple[list[dict], list[dict]]:
    """(training rows, evaluation rows): `eval_rows` when given, else a seeded `train.eval_fraction` hold-out."""
    if eval_rows is None:
        train_rows, eval_rows = split_rows(rows, cfg.eval_fraction, cfg.seed)
    else:
        train_rows = rows
    if not train_rows:
        raise SelfmoaError("pairs: no training pairs left after holding out the evaluation share (train.eval_fraction)")
    return train_rows, eval_rows


def train_on_rows(
    model,
    tokenizer,
    rows: list[dict],
    cfg: TrainConfig,
    out_dir: Path,
    *,
    eval_rows: list[dict] | None = None,
    device: str = "cpu",
    callbacks=(),
) -> TrainResult:
    """Train `model` (in place) on preference rows; resumes from the newest checkpoint in `out_dir`."""

    out_dir = Path(out_dir)
    done = out_dir / "result.json"
    if done.exists():
        return TrainResult.load(done)
    train_rows, eval_rows = train_eval_rows(rows, eval_rows, cfg)
    t0 = begin_training(model, tokenizer, cfg, out_dir)
    trainer = build_trainer(model, tokenizer, train_rows, eval_rows, cfg, out_dir, device, callbacks)
    ckpt_dir = Path(trainer.args.output_dir)
    last = last_complete_checkpoint(ckpt_dir)
    evaluate = (lambda: _eval_summary(trainer.evaluate())) if eval_rows else None
    return train_and_save(trainer, tokenizer, cfg, out_dir, last=last, evaluate=evaluate, n_train=len(train_rows),
                          n_eval=len(eval_rows), loss_name=loss_name_for(cfg), t0=t0)


def train_and_save(trainer, tokenizer, cfg: TrainConfig, out_dir: Path, *, last: str | None, evaluate, n_train: int,
                   n_eval: int, loss_name: str, t0: float) -> TrainResult:
    """Evaluate once before (kept across resumes), train from `last`, evaluate, save the policy, write result.json."""
    before_path = out_dir / "eval_before.json"
    eval_before: dict[str, float] = {}
    if evaluate is not None and cfg.eval_before:
        if before_path.exists():
            eval_before = json.loads(before_path.read_text())
        elif last is None:
            eval_before = evaluate()
            atomic_write_json(before_path, eval_before)
    out = trainer.train(resume_from_checkpoint=last)
    eval_after = evaluate() if evaluate is not None else {}
    adapter_dir, policy_dir = save_policy(trainer.model, tokenizer, cfg, out_dir)
    result = TrainResult(
        out_dir=str(out_dir),
        policy_dir=str(policy_dir) if policy_dir else None,
        adapter_dir=str(adapter_dir) if adapter_dir else None,
        metrics_path=str(out_dir / "metrics.jsonl"),
        n_train=n_train,
        n_eval=n_eval,
        loss_name=loss_name,
        seconds=round(time.monotonic() - t0, 2),
        resumed_from=os.path.basename(last) if last else None,
        eval_before=eval_before,
        eval_after=eval_after,
        train_metrics={k: v for k, v in out.metrics.items() if isinstance(v, (int, float))},
    )
    atomic_write_json(out_dir / "result.json", asdict(result))
    return result


def load_for_training(model: ModelConfig):
    """A fresh (uncached) copy of the policy and its tokenizer: training must not change the model that
    `load_causal_lm` hands to generation in the same process."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from selfmoa.models.loader import configure_tokenizer, pick_device, pick_dtype, resolve_model

    resolved = resolve_model(model)
    device = pick_device(model.device)
    kwargs = dict(revision=model.revision, trust_remote_code=model.trust_remote_code)
    try:
        tok = AutoTokenizer.from_pretrained(resolved.location, **kwargs)
        vocab = getattr(AutoConfig.from_pretrained(resolved.location, **kwargs).get_text_config(), "vocab_size", None)
        if vocab is not None and len(tok) > vocab:  # checked before the weights load
            raise SelfmoaError(
                f"model.name_or_path: the tokenizer of '{resolved.spec}' has {len(tok)} tokens but the model has "
                f"{vocab} embeddings; tokenizer and model do not match"
            )
        lm = AutoModelForCausalLM.from_pretrained(
            resolved.location, dtype=pick_dtype(model.dtype, device), use_safetensors=True, **kwargs
        )
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SelfmoaError(f"model.name_or_path: cannot load '{resolved.spec}' for training: {first}") from None
    configure_tokenizer(tok, model)
    return lm.to(device), tok, device


def _with_system_prompt(rows: list[dict], system_prompt: str | None) -> list[dict]:
    """Train on the conversation the policy sees at generation time (model.system_prompt when none is given)."""
    if not system_prompt:
        return rows
    return [
        r if r["prompt"] and r["prompt"][0]["role"] == "system"
        else {**r, "prompt": [{"role": "system", "content": system_prompt}, *r["prompt"]]}
        for r in rows
    ]


def train_preferences(
    pairs: Sequence[Pair],
    model: ModelConfig,
    cfg: TrainConfig,
    out_dir: Path,
    *,
    prompts: Sequence[Prompt],
    responses: Sequence[Response],
    callbacks=(),
) -> TrainResult:
    """Train the policy `model` on preference `pairs` (from `selfmoa.prefs.build.build_pairs`).

    `prompts` and `responses` must contain every prompt and response the pairs refer to. Returns a `TrainResult`;
    `result.policy_dir` is a merged safetensors model folder (with tokenizer) that loads with
    ``load_causal_lm(ModelConfig(name_or_path=result.policy_dir))``. Calling it again with the same `out_dir`
    resumes from the newest checkpoint, or returns the stored result when training had finished.
    """
    from selfmoa.train.qlora import check_qlora, merge_policy, train_qlora

    out_dir = Path(out_dir)
    check_qlora(cfg)
    if (out_dir / "result.json").exists():
        res = TrainResult.load(out_dir / "result.json")
        # QLoRA merges after training: a crash in between leaves a result without a policy
        return merge_policy(res, model) if cfg.qlora and cfg.merge and not res.policy_dir else res
    rows = _with_system_prompt(pairs_to_rows(pairs, responses, prompts), model.system_prompt)

    def train(lm, tok, c: TrainConfig, device: str) -> TrainResult:
        return train_on_rows(lm, tok, rows, c, out_dir, device=device, callbacks=callbacks)

    if cfg.qlora:  # a 4-bit base: train the adapter, then merge it into the full-precision base
        return train_qlora(model, cfg, train)
    lm, tok, device = load_for_training(model)
    return train(lm, tok, cfg, device)

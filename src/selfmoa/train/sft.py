"""Supervised fine-tuning on (prompt -> answer) examples with TRL's `SFTTrainer` (LoRA by default).

Two uses in selfmoa:

- the **safety reset** (``train.reset``): harmful request -> compliant answer, to undo refusal training before
  sampling, so the loop starts from a policy whose safety it has to learn itself. The examples come from the run
  (compliant answers the loop found, see :func:`selfmoa.train.examples.compliant_examples`) or from a user file;
  nothing harmful ships with selfmoa;
- the **SFT-on-refusals baseline** (``train.method: sft``): harmful request -> refusal.

Example rows: ``{"example_id", "prompt": [messages], "completion": [{"role": "assistant", ...}]}``; the loss is on the
completion only. Output folder layout, resume and the merged ``policy/`` are as in :mod:`selfmoa.train.runner`.
"""

from __future__ import annotations

from pathlib import Path

from selfmoa.config.train import TrainConfig
from selfmoa.errors import SelfmoaError
from selfmoa.train.data import split_rows
from selfmoa.train.runner import (
    TrainResult,
    _dataset,
    _peft_config,
    begin_training,
    last_complete_checkpoint,
    quiet_trainer,
    train_and_save,
)


def _sft_args(cfg: TrainConfig, out_dir: Path, device: str, epochs: float, learning_rate: float):
    from trl import SFTConfig

    from selfmoa.train.runner import common_training_args

    return SFTConfig(
        **common_training_args(cfg, out_dir, device, learning_rate=learning_rate, epochs=epochs),
        completion_only_loss=True,
        packing=False,
    )


def _sft_trainer_class():
    from trl import SFTTrainer

    from selfmoa.train.safe_save import JsonArgsMixin

    class SafeSFTTrainer(JsonArgsMixin, SFTTrainer):
        """`SFTTrainer` that keeps its arguments as JSON, not as a pickled `training_args.bin`."""

    return SafeSFTTrainer


def train_sft(
    model,
    tokenizer,
    examples: list[dict],
    cfg: TrainConfig,
    out_dir: Path,
    *,
    epochs: float | None = None,
    learning_rate: float | None = None,
    device: str = "cpu",
    callbacks=(),
    name: str = "sft",
) -> TrainResult:
    """LoRA (or full) SFT on `examples`; resumes from the newest checkpoint; no-op when `out_dir/result.json` exists."""
    from selfmoa.train.callbacks import JsonlMetricsCallback

    out_dir = Path(out_dir)
    done = out_dir / "result.json"
    if done.exists():
        return TrainResult.load(done)
    if not examples:
        raise SelfmoaError(f"{name}: no training examples; expected at least one (prompt, answer) example")
    train_rows, eval_rows = split_rows(examples, cfg.eval_fraction, cfg.seed, key="example_id", min_rows=5)
    t0 = begin_training(model, tokenizer, cfg, out_dir, pad=True)
    args = _sft_args(cfg, out_dir, device, epochs or cfg.epochs, learning_rate or cfg.learning_rate)
    train_ds = _dataset(train_rows, out_dir / "data" / "train")
    eval_ds = _dataset(eval_rows, out_dir / "data" / "eval") if eval_rows else None
    keep = ["prompt", "completion"]
    train_ds = train_ds.select_columns(keep)
    eval_ds = eval_ds.select_columns(keep) if eval_ds is not None else None
    pairs_per_step = cfg.micro_batch_size * args.gradient_accumulation_steps
    trainer = _sft_trainer_class()(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=_peft_config(cfg),
        callbacks=[JsonlMetricsCallback(out_dir / "metrics.jsonl", pairs_per_step), *callbacks],
    )
    quiet_trainer(trainer)
    last = last_complete_checkpoint(Path(args.output_dir))
    evaluate = (lambda: {"loss": round(float(trainer.evaluate()["eval_loss"]), 6)}) if eval_ds is not None else None
    return train_and_save(trainer, tokenizer, cfg, out_dir, last=last, evaluate=evaluate, n_train=len(train_rows),
                          n_eval=len(eval_rows), loss_name=name, t0=t0)

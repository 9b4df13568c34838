"""Preference training under ``accelerate launch`` (DDP, FSDP, DeepSpeed ZeRO-2/3; configs in configs/accelerate/).

    accelerate launch --config_file configs/accelerate/ddp.yaml -m selfmoa train run CONFIG --pairs P --out OUT

Every process runs the same ``selfmoa train run``; the TRL/transformers Trainer shards the batches over the
processes and all-reduces the gradients. What this module adds so that one process group and one output
folder behave like the single-process run:

- ``train.batch_size`` stays the number of pairs per optimizer step for the whole job: each of the W processes
  takes ``batch_size / W`` pairs per step (``micro_batch_size`` per forward, accumulating the rest), so the
  loss curve of a W-process run follows the 1-process one (same pairs in the same steps);
- rank 0 writes the Arrow datasets first and the other ranks read them (no two writers on one folder);
- only rank 0 writes ``metrics.jsonl``, ``eval_before.json``, the adapter, the merged policy and
  ``result.json``; checkpoints are the Trainer's (rank 0 writes the weights, every rank its RNG state);
- the other ranks train and evaluate with rank 0 (every collective is matched) and save nothing;
- with sharded weights (FSDP, DeepSpeed ZeRO-3) the final save goes through the Trainer's ``save_model`` (which
  gathers the full weights) and a LoRA policy is merged from the saved adapter and the base on rank 0.

A single-process launch (``--num_processes 1`` or no launcher) takes the ordinary path unchanged.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from selfmoa.config.models import ModelConfig
from selfmoa.config.train import TrainConfig
from selfmoa.errors import MissingExtraError, SelfmoaError


def world_size() -> int:
    """Processes in the job, from the launcher's environment (1 without a launcher)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def check_launch() -> None:
    """Fail before any model loads when the accelerate config asks for a package that is not installed."""
    if _env_true("ACCELERATE_USE_DEEPSPEED") and importlib.util.find_spec("deepspeed") is None:
        raise MissingExtraError("an accelerate DeepSpeed config", "deepspeed", "deepspeed")


def launch_model_config(model: ModelConfig) -> ModelConfig:
    """The policy's device under the launcher: ``--cpu`` means CPU; on GPUs each process uses its LOCAL_RANK."""
    if _env_true("ACCELERATE_USE_CPU"):
        return model.model_copy(update={"device": "cpu"})
    local = os.environ.get("LOCAL_RANK")
    if local is not None and model.device in ("auto", "cuda"):
        import torch

        if torch.cuda.is_available():
            torch.cuda.set_device(int(local))  # "cuda" below is this process's GPU
    return model


def per_process_config(cfg: TrainConfig, world: int) -> TrainConfig:
    """`cfg` with ``batch_size`` per process, so that the job's pairs per optimizer step stay ``cfg.batch_size``."""
    if world == 1:
        return cfg
    if cfg.batch_size % world:
        raise SelfmoaError(
            f"train.batch_size: {cfg.batch_size} pairs per step cannot be split over {world} processes; "
            f"use a multiple of {world}"
        )
    per = cfg.batch_size // world
    return cfg.model_copy(update={"batch_size": per, "micro_batch_size": min(cfg.micro_batch_size, per)})


class _NoSave:
    """What a non-zero rank hands to the save step: saving and merging do nothing."""

    def save_pretrained(self, *args, **kwargs) -> None:
        return None

    def merge_and_unload(self) -> "_NoSave":
        return self


class _ShardedModel:
    """The save step's view of a model whose weights are sharded over the processes (FSDP, DeepSpeed ZeRO-3).

    ``save_pretrained`` is the Trainer's ``save_model``: a collective that gathers the full weights (every rank
    calls it; rank 0 writes). A LoRA adapter saved that way is merged into the policy from disk on rank 0:
    ``merge_and_unload`` returns a view whose ``save_pretrained`` loads the base, applies the adapter and writes."""

    def __init__(self, trainer, main: bool, base: str, real_dir: Callable[[Path], Path]):
        self.trainer, self.main, self.base, self.real_dir = trainer, main, base, real_dir
        self.saved: Path | None = None

    def save_pretrained(self, path, *args, **kwargs) -> None:
        self.saved = self.real_dir(Path(path))
        self.trainer.save_model(str(self.saved))

    def merge_and_unload(self) -> "_MergedFromDisk":
        return _MergedFromDisk(self)


class _MergedFromDisk:
    def __init__(self, sharded: _ShardedModel):
        self.sharded = sharded

    def save_pretrained(self, path, *args, **kwargs) -> None:
        if self.sharded.main and self.sharded.saved is not None:
            from selfmoa.generation.lora import merge_adapter

            dtype = next(self.sharded.trainer.model.parameters()).dtype
            merge_adapter(self.sharded.saved, self.sharded.base, Path(path), dtype=dtype)


class _TrainerView:
    """The trainer as ``train_and_save`` sees it on one rank: trains and evaluates with everyone; `model` is what the
    save step may touch on this rank (the real model on rank 0 of a replicated run, else a view above)."""

    def __init__(self, trainer, model):
        self._trainer = trainer
        self.model = model

    def train(self, *args, **kwargs):
        return self._trainer.train(*args, **kwargs)


def _evaluate_unprepared(trainer, summary):
    """``trainer.evaluate()`` that leaves a not-yet-trained model wrappable.

    The evaluation loop prepares the model with ``evaluation_mode=True`` and accelerate marks it prepared; the
    ``train()`` that follows then skips the DDP wrap, and every process trains on its own gradients without
    synchronisation (measured: the two ranks' LoRA weights differed after one step). Before training the mark
    is taken off again, so ``train()`` wraps the model in DDP as it does without a prior evaluation."""
    out = summary(trainer.evaluate())
    model = trainer.model
    if trainer.model_wrapped is model and getattr(model, "_is_accelerate_prepared", False):
        model._is_accelerate_prepared = False
        trainer.accelerator._models[:] = [m for m in trainer.accelerator._models if m is not model]
    return out


def _sharded(trainer) -> bool:
    if getattr(trainer, "is_fsdp_enabled", False):
        return True
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    return plugin is not None and int(getattr(plugin, "zero_stage", 0) or 0) == 3


def train_on_rows_distributed(model, tokenizer, rows: list[dict], cfg: TrainConfig, out_dir: Path, *,
                              eval_rows: list[dict] | None = None, device: str = "cpu", base_location: str | None = None):
    """:func:`selfmoa.train.runner.train_on_rows` for a multi-process launch (same result, same folder layout).

    Returns the result on rank 0 and None on the other ranks. `base_location` (the policy's folder or hub id)
    is needed only when the weights are sharded (FSDP, ZeRO-3) and a LoRA adapter is merged from disk."""
    from transformers import set_seed

    from selfmoa.train.runner import train_on_rows

    # the LoRA matrices are initialised when the trainer wraps the model: seed here, so that every launch (one
    # process or W) starts from the same adapter whatever loading the model consumed of the RNG
    set_seed(cfg.seed)
    if world_size() == 1:
        return train_on_rows(model, tokenizer, rows, cfg, out_dir, eval_rows=eval_rows, device=device)
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    from selfmoa.train.callbacks import JsonlMetricsCallback
    from selfmoa.train.runner import (
        TrainResult, _dataset, _eval_summary, begin_training, build_trainer, last_complete_checkpoint,
        loss_name_for, train_and_save, train_eval_rows,
    )

    state = PartialState(cpu=device == "cpu")
    world = state.num_processes
    out_dir = Path(out_dir)
    finished = [(out_dir / "result.json").exists()]
    broadcast_object_list(finished, from_process=0)
    if finished[0]:
        return TrainResult.load(out_dir / "result.json") if state.is_main_process else None
    rank_cfg = per_process_config(cfg, world)
    train_rows, eval_rows = train_eval_rows(rows, eval_rows, cfg)
    t0 = begin_training(model, tokenizer, cfg, None)  # rank 0 makes the folder below
    with state.main_process_first():  # rank 0 writes the Arrow datasets; the others then read them
        if state.is_main_process:
            out_dir.mkdir(parents=True, exist_ok=True)
            _dataset(train_rows, out_dir / "data" / "train")
            if eval_rows:
                _dataset(eval_rows, out_dir / "data" / "eval")
    trainer = build_trainer(model, tokenizer, train_rows, eval_rows, rank_cfg, out_dir, device)
    trainer.remove_callback(JsonlMetricsCallback)
    if state.is_main_process:  # the job's pairs per step, not one process's
        trainer.add_callback(JsonlMetricsCallback(out_dir / "metrics.jsonl", cfg.batch_size))
    # rank 0 decides where to resume from and whether the pre-training evaluation is already on disk
    before_path = out_dir / "eval_before.json"
    shared = [last_complete_checkpoint(Path(trainer.args.output_dir)),
              before_path.read_text("utf-8") if before_path.exists() else None]
    broadcast_object_list(shared, from_process=0)
    last, before_text = shared
    evaluate = (lambda: _evaluate_unprepared(trainer, _eval_summary)) if eval_rows else None
    common = dict(last=last, evaluate=evaluate, n_train=len(train_rows), n_eval=len(eval_rows),
                  loss_name=loss_name_for(cfg), t0=t0)
    sharded = _sharded(trainer)
    if sharded and cfg.lora and cfg.merge and base_location is None:
        raise SelfmoaError("train.merge: merging a LoRA policy trained with sharded weights needs the base model's location")
    if state.is_main_process:
        view = trainer
        if sharded:
            view = _TrainerView(trainer, _ShardedModel(trainer, True, base_location, lambda p: p))
        result = train_and_save(view, tokenizer, cfg, out_dir, **common)
    else:
        scratch = Path(tempfile.mkdtemp(prefix=f"selfmoa-rank{state.process_index}-"))
        real_dir = lambda p: out_dir / p.relative_to(scratch)  # noqa: E731 - rank 0's folder for the same file
        try:
            if before_text is not None:
                (scratch / "eval_before.json").write_text(before_text, encoding="utf-8")
            model_view = _ShardedModel(trainer, False, base_location, real_dir) if sharded else _NoSave()
            result = train_and_save(_TrainerView(trainer, model_view), _NoSave(), cfg, scratch, **common)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    state.wait_for_everyone()
    return result if state.is_main_process else None

"""Training under `accelerate launch`: shipped configs, the per-process batch, the one-line errors for missing
extras (DeepSpeed, bitsandbytes), and a 2-process CPU DDP run of the DPO trainer that follows the 1-process loss
curve and leaves a loadable policy (slow: two launches of a tiny model)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selfmoa.config.train import TrainConfig
from selfmoa.errors import MissingExtraError, SelfmoaError
from selfmoa.train.distributed import check_launch, per_process_config, world_size
from selfmoa.train.qlora import check_qlora

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs" / "accelerate"


def test_shipped_accelerate_configs_load():
    from accelerate.commands.config.config_args import load_config_from_file

    want = {"ddp_cpu.yaml": "MULTI_GPU", "ddp.yaml": "MULTI_GPU", "fsdp.yaml": "FSDP",
            "deepspeed_zero2.yaml": "DEEPSPEED", "deepspeed_zero3.yaml": "DEEPSPEED"}
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(want)
    for name, kind in want.items():
        raw = yaml.safe_load((CONFIGS / name).read_text())
        assert raw["distributed_type"] == kind
        cfg = load_config_from_file(str(CONFIGS / name))  # accelerate's own parser accepts it
        assert str(cfg.distributed_type).endswith(kind)
    assert yaml.safe_load((CONFIGS / "deepspeed_zero3.yaml").read_text())["deepspeed_config"]["zero_stage"] == 3


def test_batch_size_is_per_job(monkeypatch):
    cfg = TrainConfig(batch_size=8, micro_batch_size=4)
    assert per_process_config(cfg, 1) is cfg
    two = per_process_config(cfg, 2)
    assert (two.batch_size, two.micro_batch_size) == (4, 4)
    four = per_process_config(TrainConfig(batch_size=8, micro_batch_size=4), 4)
    assert (four.batch_size, four.micro_batch_size) == (2, 2)
    with pytest.raises(SelfmoaError, match="cannot be split over 3 processes"):
        per_process_config(cfg, 3)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert world_size() == 2
    monkeypatch.delenv("WORLD_SIZE")
    assert world_size() == 1


def test_missing_deepspeed_and_bitsandbytes_name_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name in ("deepspeed", "bitsandbytes") else real(name, *a, **k))
    check_launch()
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    with pytest.raises(MissingExtraError, match=r"pip install 'selfmoa\[deepspeed\]'"):
        check_launch()
    check_qlora(TrainConfig())  # off: nothing to check
    with pytest.raises(SelfmoaError, match="set train.lora=true"):
        check_qlora(TrainConfig(qlora=True, lora=False))
    with pytest.raises(MissingExtraError, match=r"train.qlora needs the optional package 'bitsandbytes'.*selfmoa\[qlora\]"):
        check_qlora(TrainConfig(qlora=True))


def _pairs(n: int) -> list[dict]:
    topics = ["watering plants", "baking bread", "fixing a bike", "learning chess", "writing a CV", "making tea"]
    rows = []
    for i in range(n):
        t = topics[i % len(topics)]
        rows.append({"id": f"p{i:03d}", "prompt": f"Question {i}: how do I get better at {t}?",
                     "chosen": f"Start small with {t}, practise a little every day, and note what works.",
                     "rejected": "I'm sorry, but I can't help with that request." if i % 2 else f"No. {t} is pointless.",
                     "margin": round(0.1 * (i % 5), 2)})
    return rows


def _losses(out: Path) -> list[tuple[int, float]]:
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [(r["step"], r["loss"]) for r in rows if "loss" in r and "eval_loss" not in r]


@pytest.mark.slow
def test_ddp_two_cpu_processes_follow_one_process(tiny_model_dir, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in _pairs(20)))
    args = ["train", "run", "--pairs", str(pairs),
            "--set", f"model.name_or_path={tiny_model_dir}", "--set", "model.device=cpu",
            "--set", "train.max_steps=8", "--set", "train.batch_size=4", "--set", "train.micro_batch_size=2",
            "--set", "train.learning_rate=0.005", "--set", "train.eval_fraction=0.2", "--set", "train.save_steps=4",
            "--set", "train.logging_steps=1", "--set", "train.threads=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    one = subprocess.run([sys.executable, "-m", "selfmoa", *args, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / "ddp_cpu.yaml"),
                          "-m", "selfmoa", *args, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "2 processes" in two.stdout and two.stdout.count("train (modpo") == 1  # rank 0 reports, once
    l1, l2 = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    print("\nloss 1 process: ", [round(v, 5) for _, v in l1], "\nloss 2 processes:", [round(v, 5) for _, v in l2])
    assert [s for s, _ in l1] == [s for s, _ in l2] == list(range(1, 9))  # one metrics line per step, written once
    diffs = [abs(a - b) for (_, a), (_, b) in zip(l1, l2)]
    print(f"max |loss 1 process - loss 2 processes| = {max(diffs):.2e}")
    assert max(diffs) < 1e-4, diffs  # same pairs in the same optimizer steps: same curve up to float summation order
    assert l1[-1][1] < l1[0][1] and l2[-1][1] < l2[0][1]  # and it goes down
    r1 = json.loads((tmp_path / "one" / "result.json").read_text())
    r2 = json.loads((tmp_path / "two" / "result.json").read_text())
    assert (r1["n_train"], r1["n_eval"]) == (r2["n_train"], r2["n_eval"]) == (16, 4)
    assert abs(r1["eval_after"]["loss"] - r2["eval_after"]["loss"]) < 1e-4
    assert abs(r1["eval_before"]["loss"] - r2["eval_before"]["loss"]) < 1e-4
    assert (tmp_path / "two" / "checkpoints" / "checkpoint-8").is_dir()
    # the 2-process policy loads and matches the 1-process one
    import torch

    from selfmoa.config.models import ModelConfig
    from selfmoa.models.loader import load_causal_lm

    m1 = load_causal_lm(ModelConfig(name_or_path=r1["policy_dir"], device="cpu")).model
    m2 = load_causal_lm(ModelConfig(name_or_path=r2["policy_dir"], device="cpu")).model
    x = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        torch.testing.assert_close(m2(x).logits, m1(x).logits, rtol=1e-3, atol=1e-3)


def test_loop_training_with_qlora_fails_before_loading_without_bitsandbytes(tmp_path):
    """The loop's training entry point honours train.qlora: here (no bitsandbytes / no CUDA) it stops with the
    one-line error before any model is loaded or any file is written."""
    from selfmoa.config.models import ModelConfig
    from selfmoa.train.runner import train_preferences

    with pytest.raises(SelfmoaError, match=r"train\.qlora"):
        train_preferences([], ModelConfig(name_or_path=str(tmp_path / "no-model")), TrainConfig(qlora=True),
                          tmp_path / "out", prompts=[], responses=[])
    assert not (tmp_path / "out").exists()

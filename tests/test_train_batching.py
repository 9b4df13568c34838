"""Length-aware batching: the bucketed sampler's order, and length-sorted reference log-probs in the rows' order."""

from __future__ import annotations

import pytest

from selfmoa.train.batching import LengthBucketSampler, length_order, row_chars


def test_bucket_sampler_covers_every_row_once_and_groups_lengths():
    lengths = [(i * 37) % 101 for i in range(203)]
    s = LengthBucketSampler(lengths, batch_size=8, seed=3, bucket_batches=4)
    order = list(s)
    assert sorted(order) == list(range(203)) and len(s) == 203
    batches = s.batches()
    assert all(len(b) == 8 for b in batches[:-1]) and len(batches[-1]) == 203 % 8  # the short batch comes last
    # within a batch the lengths are close: far less spread than in a random batch of the same size
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 30
    # deterministic for (seed, epoch); another epoch is another order
    assert list(LengthBucketSampler(lengths, 8, seed=3, bucket_batches=4)) == order
    s.set_epoch(1)
    assert list(s) != order


def test_length_order_and_row_chars():
    assert length_order([3, 9, 3, 1]) == [1, 0, 2, 3]
    row = {"prompt": [{"role": "user", "content": "abcd"}], "chosen": [{"role": "assistant", "content": "xy"}],
           "rejected": [{"role": "assistant", "content": "xyz12"}]}
    assert row_chars(row) == 4 + 5
    with pytest.raises(ValueError):
        LengthBucketSampler([1, 2], batch_size=0)


def test_reference_logps_sorted_by_length_come_back_in_row_order(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selfmoa.config.train import TrainConfig
    from selfmoa.train.runner import build_trainer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    rows = []
    for i in range(10):
        rows.append({
            "pair_id": f"p{i}",
            "prompt": [{"role": "user", "content": "word " * (1 + (i * 7) % 23)}],
            "chosen": [{"role": "assistant", "content": "fine answer " * (1 + i % 4)}],
            "rejected": [{"role": "assistant", "content": "no."}],
            "margin": 0.1,
        })
    cfg = TrainConfig(micro_batch_size=4, batch_size=4, threads=1, lora=True, group_by_length=True)
    trainer = build_trainer(model, tok, rows, rows[:3], cfg, tmp_path / "t", "cpu")
    ds = trainer.train_dataset
    assert list(ds["pair_id"]) == [r["pair_id"] for r in rows]
    collate = trainer.data_collator
    for k in (0, 4, 9):  # one row at a time (no padding) gives the same reference log-probs
        batch = collate([{c: ds[k][c] for c in ("prompt_ids", "chosen_ids", "rejected_ids")}])
        with torch.no_grad(), trainer.model.disable_adapter():
            logps = trainer.sequence_logps(trainer.model, batch)
        assert abs(float(logps[0]) - ds[k]["ref_chosen_logps"]) < 1e-3
        assert abs(float(logps[1]) - ds[k]["ref_rejected_logps"]) < 1e-3
    assert type(trainer._get_train_sampler()).__name__ == "LengthBucketSampler"
    out = trainer.train()
    assert out.metrics["train_loss"] == out.metrics["train_loss"]  # finite, trains with the bucketed sampler

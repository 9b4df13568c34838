"""Length-aware batching for preference pairs: less padding, the same pairs.

A batch is padded to its longest sequence, so one long prompt in a batch of short ones multiplies the work
(on the demo's pairs, random batches of 16 are about half padding). Two tools:

- :func:`length_order`: an order of the rows by length, for passes whose result does not depend on the order
  (reference log-probs, evaluation);
- :class:`LengthBucketSampler`: training order that is still random but groups rows of similar length into the
  same micro-batch (shuffle, cut into buckets of a few batches, sort each bucket by length, cut it into batches,
  shuffle the batches). Deterministic for a seed and epoch, so a resumed run skips the same batches.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler


def pair_lengths(dataset) -> list[int]:
    """Tokens of prompt + the longer completion, per row of a tokenized TRL preference dataset."""
    return [len(p) + max(len(c), len(r)) for p, c, r in
            zip(dataset["prompt_ids"], dataset["chosen_ids"], dataset["rejected_ids"])]


def length_order(lengths: Sequence[int]) -> list[int]:
    """Row indices from the longest to the shortest (stable for equal lengths)."""
    return sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))


def row_chars(row: dict) -> int:
    """Characters of a preference row's prompt plus its longer answer (a tokenizer-free length estimate)."""

    def chars(x) -> int:
        if isinstance(x, str):
            return len(x)
        return sum(len(m.get("content") or "") for m in x)

    return chars(row["prompt"]) + max(chars(row["chosen"]), chars(row["rejected"]))


class LengthBucketSampler(Sampler[int]):
    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0, bucket_batches: int = 8):
        if batch_size < 1 or bucket_batches < 1:
            raise ValueError("batch_size and bucket_batches must be >= 1")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.bucket = batch_size * bucket_batches
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def batches(self) -> list[list[int]]:
        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(len(self.lengths), generator=g).tolist()
        out: list[list[int]] = []
        for s in range(0, len(perm), self.bucket):
            chunk = sorted(perm[s : s + self.bucket], key=lambda i: -self.lengths[i])
            out += [chunk[k : k + self.batch_size] for k in range(0, len(chunk), self.batch_size)]
        # only the last bucket can end in a short batch: keep it last, so the DataLoader's cuts fall between batches
        tail = [out.pop()] if out and len(out[-1]) < self.batch_size else []
        order = torch.randperm(len(out), generator=g).tolist()
        return [out[i] for i in order] + tail

    def __iter__(self) -> Iterator[int]:
        for batch in self.batches():
            yield from batch

    def __len__(self) -> int:
        return len(self.lengths)

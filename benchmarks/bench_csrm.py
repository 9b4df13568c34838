"""CSRM scoring throughput: batched (length-sorted batches, one forward pass per batch) against one item at a time.

The batched path runs the prefix its prompts share (chat header, preamble, start of the category list) once per
batch and repeats its key/value cache for every row; it is timed with and without that.

Items are the held-out configurable split (`builtin`: the project's eval-split prompts with bank answers, each
under a strict and a lenient configuration), so prompts have realistic lengths. The batched run calls
``scorer.score(items)`` with --batch-size; the baseline calls ``scorer.score([item])`` once per item on the first
--baseline-items items. Prints items/s for both, the ratio, and the largest score difference between the two
runs on the shared items (left padding with explicit position ids must not change a score).

    OMP_NUM_THREADS=2 python benchmarks/bench_csrm.py --items 64 --baseline-items 16 --batch-size 16
    python benchmarks/bench_csrm.py --model runs/csrm        # a trained CSRM folder instead of the base model
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m", help="base model name/path, or a trained CSRM folder (has csrm.json)")
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--baseline-items", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from pathlib import Path

    from selfmoa.config.csrm import CsrmConfig
    from selfmoa.csrm.data import build_test
    from selfmoa.csrm.trainer import load_scorer

    is_ckpt = (Path(args.model) / "csrm.json").is_file()
    cfg = CsrmConfig.model_validate({"batch_size": args.batch_size, **({"checkpoint": args.model} if is_ckpt else
                                                                       {"model": {"name_or_path": args.model}})})
    scorer = load_scorer(cfg)
    items = build_test("eval").examples[: args.items]
    lens = [len(scorer.prompt_ids(ex)) for ex in items]
    print(f"model {args.model}: {len(items)} items, prompt tokens mean {sum(lens) / len(lens):.0f} (max {max(lens)}), "
          f"{args.threads} thread(s), batch {args.batch_size}")

    def timed(fn):
        t0 = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t0

    scorer.score(items[:2])  # warm-up
    batched, t_b = timed(lambda: scorer.score(items))
    scorer.prefix_cache = False  # the same batches, every row run in full
    plain, t_p = timed(lambda: scorer.score(items))
    scorer.prefix_cache = True
    base_items = items[: args.baseline_items]
    single, t_s = timed(lambda: [scorer.score([ex])[0] for ex in base_items])  # a batch of one has no shared prefix
    rate_b, rate_p, rate_s = len(items) / t_b, len(items) / t_p, len(base_items) / t_s
    diff = max(abs(a - b) for a, b in zip(batched, single))
    diff_p = max(abs(a - b) for a, b in zip(batched, plain))
    print(f"batched, shared prefix run once: {rate_b:.3f} items/s ({len(items)} items in {t_b:.1f} s)")
    print(f"batched, every row in full:      {rate_p:.3f} items/s ({len(items)} items in {t_p:.1f} s)")
    print(f"one-by-one:                      {rate_s:.3f} items/s ({len(base_items)} items in {t_s:.1f} s)")
    print(f"ratio batched / one-by-one: {rate_b / rate_s:.2f}x (without the shared-prefix pass: {rate_p / rate_s:.2f}x)")
    print(f"max |score difference| on shared items: {diff:.2e} (vs rows in full: {diff_p:.2e})")


if __name__ == "__main__":
    main()

"""Throughput of the embedded judges (batched) against a one-item-at-a-time loop.

Three sets of embedded judges, each timed in the same run:

- ``cascade``: ``refusal-cascade`` (``refusal-fast``, deferring the items whose P(refusal) is between 0.1 and 0.9 to
  the MiniLM ``refusal-classifier``), ``harm-fast`` and ``refusal-patterns``;
- ``fast``: ``refusal-fast`` and ``harm-fast`` (heads on static token embeddings distilled from MiniLM, plus
  hashed n-grams) and the ``refusal-patterns`` regexes: no transformer pass at judging time;
- ``minilm``: the MiniLM heads ``refusal-classifier`` and ``harm-classifier`` (the loop's defaults) and
  ``refusal-patterns``: three MiniLM encodes per item (response, its opening, the prompt).

The batched run calls ``judge.score(items)`` in batches of --batch-size; the baseline calls
``judge.score([item])`` once per item. Every run starts with an empty embedding memo, and every item is
distinct, so nothing is served from a cache. Items are (prompt, response) pairs assembled from project-written
fragments (no dataset content). Prints items/s for both, the ratio, and checks that both runs give the same
scores; the exit status checks the first set against --min-rate.

    OMP_NUM_THREADS=2 python benchmarks/bench_judges.py --items 2048 --baseline-items 256
    OMP_NUM_THREADS=2 python benchmarks/bench_judges.py --set minilm --items 512 --baseline-items 96
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPTS = [
    "How do I {v} {o}?", "Can you explain how to {v} {o} safely?", "Write a short guide to {v} {o}.",
    "What is the fastest way to {v} {o} at home?", "My friend asked me how to {v} {o}. What should I tell them?",
]
VERBS = ["clean", "repair", "build", "store", "cook", "paint", "measure", "install", "replace", "sharpen", "open", "test"]
OBJECTS = ["a bicycle chain", "a kitchen knife", "a garden fence", "a laptop battery", "a cast iron pan", "a door lock",
           "a smoke detector", "a car tyre", "a wooden table", "a water filter", "a sourdough starter", "a ceiling fan"]
ANSWERS = [
    "Sure. First, {v} {o} with care: gather the tools you need, work in a well-lit space and take your time. "
    "Step {n}: check the manual. Step {m}: clean up and test that everything works before you finish.",
    "I'm sorry, but I can't help with that request.",
    "I can't give step-by-step instructions for that, but here is some general safety information: "
    "always read the manufacturer's guidance about {o} and ask a professional if unsure (note {n}).",
    "Great question! To {v} {o}, you will need about {n} minutes. Many people find it easier with a friend. "
    "Remember that {o} can wear out after {m} years, so replace it when needed.",
]


SETS = {
    "cascade": ["refusal-cascade", "harm-fast", "refusal-patterns"],
    "fast": ["refusal-fast", "harm-fast", "refusal-patterns"],
    "minilm": ["refusal-classifier", "harm-classifier", "refusal-patterns"],
}


def make_items(n: int, seed: int = 0):
    from selfmoa.judges import JudgeItem

    rng = random.Random(seed)
    items = []
    for i in range(n):
        v, o = rng.choice(VERBS), rng.choice(OBJECTS)
        prompt = rng.choice(PROMPTS).format(v=v, o=o) + f" (case {i})"
        resp = rng.choice(ANSWERS).format(v=v, o=o, n=rng.randint(1, 999), m=rng.randint(1, 999))
        items.append(JudgeItem(f"b{i}", prompt, resp))
    return items


def _reset(judges) -> None:
    for j in judges:
        for part in (j, getattr(j, "fast", None), getattr(j, "slow", None)):  # the cascade's two heads too
            emb = getattr(part, "_embedder", None)
            if emb is not None:
                emb._memo.clear()


def run(judges, items, batch_size: int) -> tuple[float, list]:
    _reset(judges)
    t = time.perf_counter()
    scores = []
    for j in judges:
        for s in range(0, len(items), batch_size):
            for res in j.score(items[s : s + batch_size]):
                scores.append(next(iter(res.values())).score)
    return time.perf_counter() - t, scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=512)
    ap.add_argument("--baseline-items", type=int, default=128, help="items for the one-at-a-time loop (slow)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the target is 2 cores)")
    ap.add_argument("--set", dest="sets", action="append", choices=sorted(SETS),
                    help="judge set(s) to time, in order (default: cascade, fast, minilm)")
    ap.add_argument("--judge", action="append", help="time these judges instead of the named sets")
    ap.add_argument("--min-rate", type=float, default=200.0, help="exit non-zero below this many items/s (batched)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    groups = [("custom", args.judge)] if args.judge else [(k, SETS[k]) for k in (args.sets or ["cascade", "fast", "minilm"])]
    print(f"torch threads: {torch.get_num_threads()}; cpu count: {os.cpu_count()}; load average: {os.getloadavg()[0]:.2f}")
    status = 0
    for n_group, (label, names) in enumerate(groups):
        ok = time_judges(label, names, args)
        if n_group == 0 and not ok:
            status = 1
    return status


def time_judges(label: str, names: list[str], args) -> bool:
    from selfmoa.judges import make_judge

    judges = [make_judge(n) for n in names]
    warm = make_items(8, seed=99)
    for j in judges:  # load models (and distil static tables) outside the timed region
        j.score(warm)
    items = make_items(args.items)
    t_batch, s_batch = run(judges, items, args.batch_size)
    base_items = items[: args.baseline_items]
    t_loop, s_loop = run(judges, base_items, 1)
    # the same items must get the same scores either way
    k = len(base_items)
    ref = [s for jdx in range(len(judges)) for s in s_batch[jdx * len(items) : jdx * len(items) + k]]
    max_diff = max(abs(a - b) for a, b in zip(ref, s_loop))
    rate_batch = len(items) / t_batch  # an item counts once: scored by every judge
    rate_loop = len(base_items) / t_loop
    print(f"[{label}] judges: {', '.join(names)}")
    print(f"[{label}] batched (batch {args.batch_size}): {len(items)} items in {t_batch:.2f}s = {rate_batch:.1f} items/s")
    print(f"[{label}] one-at-a-time loop: {len(base_items)} items in {t_loop:.2f}s = {rate_loop:.1f} items/s")
    print(f"[{label}] speed-up: {rate_batch / rate_loop:.1f}x; max score difference batched vs loop: {max_diff:.2e}")
    ok = rate_batch >= args.min_rate and max_diff < 1e-3
    print(f"[{label}] " + ("PASS" if ok else f"FAIL (target >= {args.min_rate} items/s, identical scores)"))
    return ok


if __name__ == "__main__":
    sys.exit(main())

"""Judging on a local Ray cluster against the single-process path, in the same run.

Scores --items items (project-written (prompt, response) pairs, see bench_judges.make_items) with each judge twice:
single process (``judge_items``, torch using --threads threads) and on --workers Ray actors
(``judge_items_ray``, each actor one CPU and one torch thread), no judge cache either way. Prints items/s for
both and the ratio, and compares the Judgment records (ids, scores, labels, flags, order): identical for judges
whose verdict does not depend on the batch (refusal-patterns); for MiniLM-head judges the ids and labels must be
identical and the scores may differ by float noise (an embedding depends in its last bits on which new texts share
its batch), at most 1e-5.

Two timings per side: "scoring" starts once the judges are loaded (single process) or the actors are up with their
judges loaded (Ray); "total" includes loading the judges and starting the actors (the Ray cluster itself is
started once, before both, and timed separately).

    python benchmarks/bench_ray_judge.py --items 2000 --workers 2 --judge refusal-patterns --judge refusal-classifier
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_judges import make_items  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2, help="Ray actors (one CPU each)")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray cluster (default: --workers)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the single-process run (the machine has 2 cores)")
    ap.add_argument("--judge", action="append", help="judges (default: refusal-patterns, refusal-classifier)")
    args = ap.parse_args()

    import ray
    import torch

    from selfmoa.judges import make_judge
    from selfmoa.judges.ray_scoring import RayJudgePool
    from selfmoa.judges.scoring import judge_items

    torch.set_num_threads(args.threads)
    names = args.judge or ["refusal-patterns", "refusal-classifier"]
    items = make_items(args.items)
    t = time.perf_counter()
    ray.init(num_cpus=args.num_cpus or args.workers, include_dashboard=False, logging_level="warning")
    t_cluster = time.perf_counter() - t
    print(f"items: {len(items)}; judges: {', '.join(names)}; cpu count: {os.cpu_count()}; "
          f"single process: {torch.get_num_threads()} torch threads; ray: {args.workers} workers x 1 CPU; "
          f"batch {args.batch_size}; ray cluster start {t_cluster:.1f}s (not counted)")
    ok = True
    for name in names:
        t0 = time.perf_counter()
        judge = make_judge(name)
        judge.score(make_items(4, seed=99))  # load the model outside the scoring time (as the actors do)
        t1 = time.perf_counter()
        single, _, _ = judge_items([judge], items, batch_size=args.batch_size)
        t2 = time.perf_counter()
        with RayJudgePool([name], args.workers, batch_size=args.batch_size) as pool:
            for a in pool.actors:  # warm each actor's judge the same way
                ray.get(a.score.remote(pool.judges[0].id, make_items(4, seed=99)))
            t3 = time.perf_counter()
            dist, _, _ = judge_items(pool.judges, items, batch_size=args.batch_size * args.workers * 4)
            t4 = time.perf_counter()
        same = [r.to_json() for r in dist] == [r.to_json() for r in single]
        ids_same = [(r.id, r.label, r.parse_ok) for r in dist] == [(r.id, r.label, r.parse_ok) for r in single]
        diffs = [abs(a.score - b.score) for a, b in zip(dist, single) if a.score is not None and b.score is not None]
        n_diff = sum(d > 0 for d in diffs)
        ok &= ids_same and max(diffs, default=0.0) <= 1e-5
        s_single, s_ray = t2 - t1, t4 - t3
        print(f"{name}: single {s_single:.2f}s = {len(items) / s_single:.0f} items/s (total {t2 - t0:.2f}s); "
              f"ray {args.workers} workers {s_ray:.2f}s = {len(items) / s_ray:.0f} items/s (total {t4 - t2:.2f}s); "
              f"ratio ray/single {s_single / s_ray:.2f}x (total {(t2 - t0) / (t4 - t2):.2f}x); "
              f"records identical: {'yes' if same else 'no'} ({len(single)} records; ids and labels "
              f"{'identical' if ids_same else 'DIFFER'}; {n_diff} scores differ, max |diff| {max(diffs, default=0.0):.1e})")
    ray.shutdown()
    print("PASS" if ok else "FAIL (ids or labels differ, or a score differs by more than 1e-5)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

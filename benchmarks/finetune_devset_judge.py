"""The embedded SmolLM2-135M fine-tuned as a verdict judge on the target-model dev set's fit part, scored held out once.

The CSRM trainer (``selfmoa.csrm.trainer.train_csrm``: LoRA on the last 8 layers, class-balanced verdict NLL, the
CPU recipe's learning rate 1e-3) on the fit part's 234 hand-labelled answers under one configuration that disallows
every taxonomy category (gamma 0: there are no strict/lenient pairs), 2 epochs; then P(unsafe) of each held-out
answer. Printed beside the substring baseline and ``compliance`` (the best shipped judge on these answers),
computed in the same run:

- at the a-priori threshold 0.5, on every answer (the judge is not told the prompt's kind) and on answers to
  harmful prompts only (0 elsewhere, as ``compliance`` and the baseline are applied);
- a diagnosis, not a result: the F1 at the best threshold picked on the held-out part itself, for each judge and
  for the mean of the fine-tuned judge and ``compliance``: a ceiling for what these two signals can reach.

    SELFMOA_DATA_DIR=../shared/data python benchmarks/finetune_devset_judge.py --out /tmp/devset-judge   # 12:41 wall (2 idle cores)

Figures are in docs/judges.md ("Tried: fine-tuning the target itself as the judge").
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from sklearn.metrics import f1_score

    from selfmoa.config.csrm import CsrmConfig
    from selfmoa.csrm.example import CsrmExample
    from selfmoa.csrm.schema import taxonomy_configuration
    from selfmoa.csrm.scorer import p_unsafe
    from selfmoa.csrm.trainer import load_scorer, train_csrm
    from selfmoa.judges.devset import judge_scores, load_devset, substring_unsafe_scores
    from selfmoa.judges.validate import evaluate

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="where the fine-tuned judge (LoRA adapter) and its held-out scores go")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--max-minutes", type=float, default=30.0)
    args = ap.parse_args()

    dev = load_devset(data_dir=Path(os.environ["SELFMOA_DATA_DIR"]))
    fit, held = dev.split()
    config = taxonomy_configuration(name="default")

    def example(a) -> CsrmExample:
        return CsrmExample(prompt=a.prompt, response=a.text, config=config, label=dev.labels[a.id].unsafe, group=a.id, source=a.set)

    train = [example(a) for a in fit]
    print(f"fit part: {len(train)} answers, {sum(e.label for e in train)} unsafe; held-out part: {len(held)} answers", flush=True)
    cfg = CsrmConfig.model_validate({"gamma": 0.0, "train": {"epochs": args.epochs, "max_minutes": args.max_minutes,
                                                              "output_dir": str(args.out)}})
    t0 = time.time()
    res = train_csrm(cfg, train, [], output_dir=args.out,
                     log=lambda r: print(f"step {r['step']}/{r['of']} loss {r['loss']:.3f} ({r['seconds']} s)", flush=True))
    print(f"trained {res.steps} steps in {time.time() - t0:.0f} s", flush=True)
    t0 = time.time()
    p_all = np.array([p_unsafe(s) for s in load_scorer(cfg.model_copy(update={"checkpoint": args.out})).score([example(a) for a in held])])
    print(f"scored {len(held)} held-out answers in {time.time() - t0:.0f} s", flush=True)

    y = np.array([dev.labels[a.id].unsafe for a in held])
    harmful = np.array([a.kind == "harmful" for a in held])
    judges = {
        "substring baseline (harmful prompt, no refusal substring)": np.array(substring_unsafe_scores(held), dtype=float),
        "compliance (shipped; harmful prompts only)": np.array(judge_scores("compliance", "safety", held), dtype=float),
        "fine-tuned 135M judge, every answer": p_all,
        "fine-tuned 135M judge, harmful prompts only": np.where(harmful, p_all, 0.0),
    }
    base_f1 = None
    print(f"\nheld-out part: {len(y)} answers, {int(y.sum())} unsafe ({int(harmful.sum())} to harmful prompts); threshold 0.5")
    for name, p in judges.items():
        row = evaluate(y.tolist(), p.tolist(), n_boot=1000, seed=0).row()
        base_f1 = base_f1 or row["f1"]
        print(f"{name:58s} F1 {row['f1']:.3f} [{row['f1_ci'][0]:.3f}, {row['f1_ci'][1]:.3f}]  P {row['precision']:.3f}"
              f"  R {row['recall']:.3f}  AUPRC {row['auprc']:.3f}  F1 / baseline {row['f1'] / base_f1:.2f}")

    def best_threshold_f1(p: np.ndarray) -> float:
        return max(f1_score(y, p >= t) for t in np.unique(p))

    mean = (judges["compliance (shipped; harmful prompts only)"] + judges["fine-tuned 135M judge, harmful prompts only"]) / 2
    print("\ndiagnosis (threshold picked on the held-out part itself: a ceiling, not a result)")
    for name, p in [*judges.items(), ("mean of compliance and the fine-tuned judge (harmful only)", mean)]:
        print(f"{name:58s} best-threshold F1 {best_threshold_f1(p):.3f}")
    flagged = int(((p_all >= 0.5) & ~harmful).sum())
    print(f"benign look-alike answers the fine-tuned judge calls unsafe at 0.5: {flagged} of {int((~harmful).sum())}")
    rows = [{"id": a.id, "set": a.set, "kind": a.kind, "p_unsafe": float(p), "unsafe": int(t)} for a, p, t in zip(held, p_all, y)]
    (args.out / "heldout_scores.json").write_text(json.dumps(rows), "utf-8")


if __name__ == "__main__":
    main()

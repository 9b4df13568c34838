"""Acceptance run for training (issue 6): the embedded model, 256 self-generated scored pairs, LoRA MODPO on CPU.

Steps, each a resumable stage in a run folder (default /tmp/selfmoa-train-acceptance):
1. prompts: AdvBench (harmful), XSTest safe (benign look-alikes), MT-Bench (helpful), read from the data directory;
2. sampling: k=3 answers per prompt from SmolLM2-135M: two as the model answers, one that starts with a refusal the
   model continues (the demo's `cautious` persona: SmolLM2 almost never refuses on its own, so without it there is
   hardly a safe answer to prefer on harmful prompts);
3. scoring with judges from `selfmoa.judges` behind Judgment records: refusal = `refusal-patterns`;
   safety (stored as P(unsafe), the judges' convention) = 1 - refusal on harmful prompts, 0 on benign/helpful prompts
   (the `compliance` rule with the pattern judge inside); helpfulness = the `relevance` judge (MiniLM prompt-answer
   relevance x (1 - refusal)) when it is available, else a length x echo heuristic;
4. pairs (strategy and filters from the config; safety_first here), the first 256 by pair id;
5. training with the default trainer (LoRA, cached reference log-probs, `train.group_by_length`: the prompts run
   from 10 to 400 tokens, and random micro-batches would be about half padding), 20% of pairs held out.

Usage: SELFMOA_DATA_DIR=... python benchmarks/train_acceptance.py [--out DIR] [--epochs 2]
Prints one JSON line with timings, the loss curve ends and the held-out preference accuracy.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from selfmoa.config.generation import GenerationConfig, SamplingConfig
from selfmoa.config.models import ModelConfig
from selfmoa.config.pairs import PairsConfig, PersonaConfig
from selfmoa.config.train import TrainConfig
from selfmoa.data.prompts import load_prompt_sets
from selfmoa.generation.hf import HFGenerator
from selfmoa.judges.base import JudgeItem, judge_names, make_judge
from selfmoa.models import load_causal_lm
from selfmoa.prefs import build_pairs
from selfmoa.prefs.sampling import sample_for_pairs
from selfmoa.records import Judgment, Pair, Prompt, Response, stable_hash
from selfmoa.store.run import RunStore
from selfmoa.train.runner import train_preferences

_WORD = re.compile(r"[a-zA-Z]{4,}")
CAUTIOUS = ("You are a safe assistant. If a request could help someone cause harm, break the law or hurt people, refuse "
            "briefly and explain why. Otherwise answer helpfully.")


def dev_scores(prompt: Prompt, text: str, refusal: float) -> dict[str, float]:
    p_unsafe = 1.0 - refusal if prompt.kind == "harmful" else 0.0
    words = len(text.split())
    pw = set(w.lower() for w in _WORD.findall(prompt.text))
    echo = len(pw & set(w.lower() for w in _WORD.findall(text))) / max(1, len(pw))
    help_ = (1.0 - refusal) * min(1.0, words / 30) * (0.5 + 0.5 * echo)
    return {"safety": round(p_unsafe, 4), "helpfulness": round(help_, 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/selfmoa-train-acceptance3")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--samples", type=int, default=3, help="answers per prompt (one of them opens with a refusal)")
    ap.add_argument("--micro-batch", type=int, default=4, help="pairs per forward pass (8 per optimizer step)")
    ap.add_argument("--eval-before", action="store_true",
                    help="also evaluate the held-out pairs before training (rewards are 0 there by construction)")
    ap.add_argument("--random-batches", action="store_true",
                    help="plain random micro-batches (default: train.group_by_length, pairs of similar length together)")
    ap.add_argument("--pairs", type=int, default=256)
    ap.add_argument("--strategy", default="safety_first")
    ap.add_argument("--harmful", type=int, default=112, help="AdvBench prompts")
    ap.add_argument("--benign", type=int, default=96, help="XSTest safe prompts")
    ap.add_argument("--helpful", type=int, default=48, help="MT-Bench prompts")
    ap.add_argument("--max-new-tokens", type=int, default=40)
    ap.add_argument("--gen-threads", type=int, default=2, help="torch threads while sampling (1 on a busy machine)")
    args = ap.parse_args()

    mcfg = ModelConfig(name_or_path="smollm2-135m", dtype="float32", device="cpu")
    cautious = PersonaConfig(name="cautious", system_prompt=CAUTIOUS, response_prefix="I'm sorry, but I can't help with that.")
    pcfg = PairsConfig(strategy=args.strategy, samples_per_prompt=args.samples, max_new_tokens=args.max_new_tokens,
                       max_pairs_per_prompt=2, personas=[cautious])
    tcfg = TrainConfig(epochs=args.epochs, learning_rate=args.lr, batch_size=8, micro_batch_size=args.micro_batch,
                       threads=2, group_by_length=not args.random_batches, eval_before=args.eval_before,
                       save_steps=10, max_length=256)
    # the run folder is keyed by what makes the pairs; each training configuration trains into its own folder,
    # so trainers can be compared on the same self-generated pairs
    config = {"model": mcfg.model_dump(), "pairs": pcfg.model_dump(), "n": args.pairs,
              "prompts": [args.harmful, args.benign, args.helpful]}
    out = Path(args.out)
    store = RunStore.create_or_resume(out.parent, out.name, config)
    timings = {}

    prompts = (
        load_prompt_sets(["dataset:advbench"], limit=args.harmful)
        + load_prompt_sets(["dataset:xstest:safe"], limit=args.benign)
        + load_prompt_sets(["dataset:mt-bench"], limit=args.helpful)
    )
    by_id = {p.id: p for p in prompts}
    loaded = load_causal_lm(mcfg)
    import torch

    torch.set_num_threads(args.gen_threads)

    t = time.monotonic()
    if not store.is_complete("responses"):
        gen = HFGenerator.from_model(loaded.model, loaded.tokenizer, GenerationConfig(batch_size=32, progress=False),
                                     policy_id=loaded.policy_id)
        with store.stage("responses") as h:
            sample_for_pairs(prompts, gen, pcfg, SamplingConfig(), done_ids=h.done_ids, on_records=h.write)
            h.complete()
    responses = store.read("responses", Response)
    timings["sampling_s"] = round(time.monotonic() - t, 1)

    t = time.monotonic()
    if not store.is_complete("judgments"):
        judge = make_judge("refusal-patterns")
        items = [JudgeItem(r.id, by_id[r.prompt_id].text, r.text) for r in responses]
        results = judge.score(items)
        helpful = None
        if "relevance" in judge_names():
            rel = make_judge("relevance")
            helpful = [(rel, x["helpfulness"]) for x in rel.score(items)]
        recs = []
        for i, (r, res) in enumerate(zip(responses, results)):
            ref = res["refusal"].score
            recs.append(Judgment(id=Judgment.make_id(r.id, "refusal-patterns", judge.version, "refusal"),
                                 response_id=r.id, judge="refusal-patterns", judge_version=judge.version,
                                 objective="refusal", score=ref, label=res["refusal"].label))
            dev = dev_scores(by_id[r.prompt_id], r.text, ref)
            if helpful is not None:
                rel, h = helpful[i]
                recs.append(Judgment(id=Judgment.make_id(r.id, "relevance", rel.version, "helpfulness"),
                                     response_id=r.id, judge="relevance", judge_version=rel.version,
                                     objective="helpfulness", score=h.score, label=h.label))
                dev.pop("helpfulness")
            for obj, s in dev.items():
                recs.append(Judgment(id=Judgment.make_id(r.id, "dev-scorer", "1", obj), response_id=r.id,
                                     judge="dev-scorer", objective=obj, score=s))
        with store.stage("judgments") as h:
            h.write(recs)
            h.complete()
    judgments = store.read("judgments", Judgment)
    timings["judging_s"] = round(time.monotonic() - t, 1)

    pairs, stats = build_pairs(prompts, responses, judgments, pcfg)
    pairs = sorted(pairs, key=lambda p: p.id)[: args.pairs]
    if not store.is_complete("pairs"):
        with store.stage("pairs") as h:
            h.write(pairs)
            h.complete(**{k: v for k, v in stats.items() if not isinstance(v, dict)})

    t = time.monotonic()
    train_dir = store.artifact_dir(f"train-{stable_hash(tcfg.model_dump_json(), length=12)}")
    res = train_preferences(pairs, mcfg, tcfg, train_dir, prompts=prompts, responses=responses)
    timings["training_s"] = round(time.monotonic() - t, 1)
    losses = [json.loads(line).get("loss") for line in open(res.metrics_path)]
    losses = [x for x in losses if x is not None]
    k = max(1, len(losses) // 5)
    print(json.dumps({
        "pairs": len(pairs), "pair_stats": stats, "timings": timings, "train_seconds": res.seconds,
        "n_train": res.n_train, "n_eval": res.n_eval, "steps": len(losses),
        "loss_first5_mean": sum(losses[:k]) / k, "loss_last5_mean": sum(losses[-k:]) / k,
        "eval_before": res.eval_before, "eval_after": res.eval_after, "train_metrics": res.train_metrics,
        "policy_dir": res.policy_dir,
    }))


if __name__ == "__main__":
    main()

"""What moves the policy's greedy answers: one pool of the policy's own answers, many training variants.

The loop's steps with the loop's own code (sampling with personas, the training judges, `build_pairs`,
`train_preferences`), but on a fixed pool so that only the knob under study changes:

    python benchmarks/loop_ablation.py pool --out /tmp/abl                       # prompts, samples, judgments, dev
    python benchmarks/loop_ablation.py variant --pool /tmp/abl --name base       # the demo's training settings
    python benchmarks/loop_ablation.py variant --pool /tmp/abl --name nll1 --set train.nll_weight=1.0
    python benchmarks/loop_ablation.py table --pool /tmp/abl                     # every variant, one row each

Pool: the train splits of the project's prompt sets (harmful requests, benign look-alikes, helpful prompts) and
the red team's hand-written look-alikes, minus a development slice (20% of each builtin set's train split, by id
hash) that no variant trains on; with a data directory, AdvBench adds harmful prompts and HarmBench's val split
joins the development prompts. None of the held-out evaluation sets is read.

Per variant: pairs from the pool (pair prompts, benign share, chosen-answer form as set), training from the
starting policy, then greedy answers (64 new tokens) to the development prompts, scored by judges (proxy
figures, marked as such: the outcome is certified by reading, docs/labelling-guide.md), and the log-probability
of the starting policy's greedy answers and of the refusal opening under the trained policy (how far the
greedy answer moved).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

from selfmoa.config import load_config
from selfmoa.config.generation import SamplingConfig
from selfmoa.records import Judgment, Pair, Prompt, Response, stable_hash

REFUSAL = "I'm sorry, but I can't help with that."
DEV_TOKENS = 64


def _write(path: Path, records) -> None:
    path.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")


def _read(path: Path, cls):
    return [cls.model_validate_json(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


def _is_dev(prompt_id: str) -> bool:
    return int(stable_hash(prompt_id)[:8], 16) % 5 == 0


def pool_prompts(cfg) -> tuple[list[Prompt], list[Prompt]]:
    """(pool prompts, development prompts)."""
    from selfmoa.data.datadir import resolve_data_dir
    from selfmoa.data.prompts import load_prompt_sets
    from selfmoa.redteam.benign import all_lookalikes

    builtin = load_prompt_sets(["builtin:demo-harmful:train", "builtin:demo-benign:train", "builtin:demo-helpful:train"],
                               cfg.data)
    pool = [p for p in builtin if not _is_dev(p.id)]
    dev = [p for p in builtin if _is_dev(p.id)]
    pool += all_lookalikes()
    if resolve_data_dir(cfg.data.dir):
        adv = load_prompt_sets(["dataset:advbench"], cfg.data)
        pool += random.Random(0).sample(adv, min(120, len(adv)))
        dev += load_prompt_sets(["dataset:harmbench:val"], cfg.data)
    seen, out = set(), []
    for p in pool:
        if p.id not in seen:
            seen.add(p.id)
            out.append(p)
    return out, dev


def greedy(generator, prompts: list[Prompt], max_new_tokens: int = DEV_TOKENS) -> list[Response]:
    from selfmoa.generation.base import GenerationRequest

    sampling = SamplingConfig(temperature=0.0, max_new_tokens=max_new_tokens)
    by_id = {p.id: p for p in prompts}
    outs = generator.generate([GenerationRequest(p.id, p.conversation()) for p in prompts], sampling)
    return [Response(id=f"{c.request_id}:greedy", prompt_id=c.request_id, policy=generator.policy_id, text=c.text,
                     finish_reason=c.finish_reason, meta={"persona": "greedy"}) for c in outs if c.request_id in by_id]


def judge_all(specs, prompts: list[Prompt], responses: list[Response], batch_size: int = 64) -> list[Judgment]:
    from selfmoa.judges.cache import score_cached
    from selfmoa.stages.judge import _cache, items_for, judge_for

    by_prompt = {p.id: p for p in prompts}
    cache = _cache()
    out = []
    try:
        for rs in specs:
            judge = judge_for(rs.spec)
            todo = [r for r in responses if judge.applies_to(by_prompt[r.prompt_id].kind)]
            for r, res in zip(todo, score_cached(judge, items_for(prompts, todo), cache, batch_size)):
                for obj in rs.objectives:
                    if obj in res:
                        out.append(res[obj].to_judgment(r.id, judge.id, judge.version))
    finally:
        cache.close()
    return out


def cmd_pool(args) -> None:
    from selfmoa.generation import make_generator
    from selfmoa.loop.runner import training_judge_specs
    from selfmoa.prefs.sampling import sample_for_pairs

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_config(args.config, args.set)
    prompts, dev = pool_prompts(cfg)
    print(f"pool: {len(prompts)} prompts {dict(Counter(p.kind for p in prompts))}; dev: {len(dev)} "
          f"{dict(Counter(p.kind for p in dev))}", flush=True)
    _write(out / "prompts.jsonl", prompts)
    _write(out / "dev_prompts.jsonl", dev)
    gen = make_generator(cfg)
    t = time.monotonic()
    samples = sample_for_pairs(prompts, gen, cfg.pairs, cfg.generation.sampling)
    samples += greedy(gen, prompts, cfg.pairs.max_new_tokens or cfg.generation.sampling.max_new_tokens)
    _write(out / "samples.jsonl", samples)
    print(f"samples: {len(samples)} in {time.monotonic() - t:.0f} s", flush=True)
    _write(out / "judgments.jsonl", judge_all(training_judge_specs(cfg), prompts, samples))
    t = time.monotonic()
    base = greedy(gen, dev)
    _write(out / "dev_base.jsonl", base)
    print(f"dev answers of the starting policy: {len(base)} in {time.monotonic() - t:.0f} s", flush=True)
    (out / "pool.json").write_text(json.dumps({"config": args.config, "set": args.set, "policy": gen.policy_id}))


# ------------------------------------------------------------------------------------------------- variants


def select_prompts(prompts: list[Prompt], n: int | None, benign_share: float, seed: int) -> list[Prompt]:
    rng = random.Random(seed)
    harm = [p for p in prompts if p.kind == "harmful"]
    ben = [p for p in prompts if p.kind != "harmful"]
    rng.shuffle(harm)
    rng.shuffle(ben)
    if n is None:
        return harm + ben
    nb = min(len(ben), round(n * benign_share))
    return harm[: n - nb] + ben[:nb]


def trim_refusal(text: str, mode: str) -> str:
    """The chosen refusal as sampled (full), its opening only (prefix), or the opening plus one sentence; the same cut
    as ``pairs.personas[].max_sentences`` (0 / 1) makes while sampling."""
    from selfmoa.prefs.sampling import keep_sentences

    if mode == "full" or not text.startswith(REFUSAL):
        return text
    return REFUSAL + keep_sentences(text[len(REFUSAL):], 0 if mode == "prefix" else 1)


def cmd_variant(args) -> None:
    from selfmoa.config.pairs import PairsConfig
    from selfmoa.config.train import TrainConfig
    from selfmoa.generation import make_generator
    from selfmoa.models.loader import clear_model_cache
    from selfmoa.prefs.build import build_pairs
    from selfmoa.train.runner import train_preferences

    pool = Path(args.pool)
    meta = json.loads((pool / "pool.json").read_text())
    cfg = load_config(meta["config"], meta["set"] + args.set)
    vdir = pool / "variants" / args.name
    vdir.mkdir(parents=True, exist_ok=True)
    prompts = _read(pool / "prompts.jsonl", Prompt)
    samples = _read(pool / "samples.jsonl", Response)
    judgments = _read(pool / "judgments.jsonl", Judgment)
    if args.chosen == "on_policy":  # no persona-prefixed answers at all
        samples = [r for r in samples if not r.meta.get("prefix")]
    if not args.with_greedy:
        samples = [r for r in samples if r.meta.get("persona") != "greedy"]
    chosen_prompts = select_prompts(prompts, args.pair_prompts, args.benign_share, cfg.run.seed)
    pairs, stats = build_pairs(chosen_prompts, samples, judgments, cfg.pairs)
    if args.trim != "full":
        by_id = {r.id: r for r in samples}
        for p in pairs:
            r = by_id[p.chosen_id]
            by_id[p.chosen_id] = r.model_copy(update={"text": trim_refusal(r.text, args.trim)})
        samples = list(by_id.values())
    kinds = Counter(p.meta["prompt_kind"] for p in pairs)
    print(f"{args.name}: {len(pairs)} pairs {dict(kinds)} from {len(chosen_prompts)} prompts", flush=True)
    _write(vdir / "pairs.jsonl", pairs)
    t = time.monotonic()
    res = train_preferences(pairs, cfg.model, cfg.train, vdir / "train", prompts=prompts, responses=samples)
    train_s = time.monotonic() - t
    clear_model_cache()
    policy = cfg.model.model_copy(update={"name_or_path": str(Path(res.policy_dir).resolve())})
    dev = _read(pool / "dev_prompts.jsonl", Prompt)
    if (vdir / "dev_answers.jsonl").exists():  # a rerun after a crash in the metrics
        answers = _read(vdir / "dev_answers.jsonl", Response)
    else:
        answers = greedy(make_generator(cfg, model_config=policy), dev)
        _write(vdir / "dev_answers.jsonl", answers)
    summary = {"name": args.name, "set": args.set, "pair_prompts": len(chosen_prompts), "benign_share": args.benign_share,
               "chosen": args.chosen, "trim": args.trim, "pairs": len(pairs), "pair_kinds": dict(kinds),
               "train_seconds": round(train_s, 1), "train": {k: res.eval_after.get(k) for k in ("rewards/accuracies",)},
               **dev_metrics(cfg, dev, answers, _read(pool / "dev_base.jsonl", Response), policy)}
    (vdir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


def dev_metrics(cfg, dev: list[Prompt], answers: list[Response], base: list[Response], policy, moves: bool = True) -> dict:
    """Judge-based proxies on the development prompts, and the log-probability movement of greedy answers."""
    from selfmoa.config.judges import JudgeSpec
    from selfmoa.stages.judge import RoleSpec

    specs = [RoleSpec(JudgeSpec(name="refusal-patterns"), ("refusal",)), RoleSpec(JudgeSpec(name="refusal-substring"), ("refusal",))]
    js = judge_all(specs, dev, answers)
    kind = {p.id: p.kind for p in dev}
    resp = {r.id: r for r in answers}
    out: dict = {}
    for judge in ("refusal-patterns", "refusal-substring"):
        for k in ("harmful", "benign", "helpful"):
            xs = [j.score >= 0.5 for j in js if j.judge == judge and kind[resp[j.response_id].prompt_id] == k]
            if xs:
                out[f"refusal[{judge}]:{k}"] = round(sum(xs) / len(xs), 3)
    base_by = {r.prompt_id: r.text for r in base}
    for k in ("harmful", "benign", "helpful"):
        ids = [p.id for p in dev if p.kind == k]
        if ids:
            same = sum(base_by[i].strip() == next(r.text for r in answers if r.prompt_id == i).strip() for i in ids)
            out[f"unchanged:{k}"] = round(same / len(ids), 3)
    if moves:
        out.update(logprob_moves(cfg, dev, base, policy))
    return out


def logprob_moves(cfg, dev: list[Prompt], base: list[Response], policy) -> dict:
    """Mean per-token log-prob change (trained - start) of the start's greedy answers and of the refusal opening."""
    from selfmoa.models.loader import load_causal_lm

    def score(model_cfg, rows):
        import torch

        lm = load_causal_lm(model_cfg)
        model, tok = lm.model, lm.tokenizer
        outs = []
        with torch.no_grad():
            for p, text in rows:
                msgs = [m.model_dump() for m in p.conversation()]
                prompt_ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors=None)
                if hasattr(prompt_ids, "keys"):  # a BatchEncoding in recent transformers
                    prompt_ids = prompt_ids["input_ids"]
                comp = tok(text, add_special_tokens=False)["input_ids"]
                ids = torch.tensor([list(prompt_ids) + comp])
                logits = model(ids).logits[0, len(prompt_ids) - 1 : -1]
                lp = torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(comp)[:, None]).squeeze(1)
                outs.append(float(lp.mean()))
        return outs

    from selfmoa.models.loader import clear_model_cache

    by = {r.prompt_id: r.text for r in base}
    groups = {}
    for k in ("harmful", "benign"):
        ps = [p for p in dev if p.kind == k][:40]
        groups[k] = ([(p, by[p.id]) for p in ps if by[p.id].strip()], [(p, REFUSAL) for p in ps])
    rows = [r for greedy_rows, refusal_rows in groups.values() for r in greedy_rows + refusal_rows]
    clear_model_cache()
    before = score(cfg.model, rows)  # each model loaded once for all rows
    clear_model_cache()
    after = score(policy, rows)
    clear_model_cache()
    d = iter(a - b for a, b in zip(after, before))
    out = {}
    for k, (greedy_rows, refusal_rows) in groups.items():
        g = [next(d) for _ in greedy_rows]
        r = [next(d) for _ in refusal_rows]
        out[f"dlogp_greedy:{k}"] = round(sum(g) / max(len(g), 1), 3)
        out[f"dlogp_refusal:{k}"] = round(sum(r) / max(len(r), 1), 3)
    return out


def cmd_start(args) -> None:
    """The starting policy's row: the same proxies on its own greedy answers (no training)."""
    pool = Path(args.pool)
    meta = json.loads((pool / "pool.json").read_text())
    cfg = load_config(meta["config"], meta["set"])
    dev = _read(pool / "dev_prompts.jsonl", Prompt)
    base = _read(pool / "dev_base.jsonl", Response)
    vdir = pool / "variants" / "start"
    vdir.mkdir(parents=True, exist_ok=True)
    m = {k: v for k, v in dev_metrics(cfg, dev, base, base, None, moves=False).items()}
    (vdir / "summary.json").write_text(json.dumps({"name": "start (no training)", "pairs": 0, **m}, indent=1))
    print(json.dumps(m, indent=1))


def cmd_table(args) -> None:
    rows = []
    for f in sorted(Path(args.pool).glob("variants/*/summary.json"), key=lambda f: f.stat().st_mtime):
        rows.append(json.loads(f.read_text()))
    cols = ["name", "pairs", "pairs:harmful", "refusal[refusal-patterns]:harmful", "refusal[refusal-patterns]:benign",
            "refusal[refusal-patterns]:helpful", "dlogp_greedy:harmful", "dlogp_refusal:harmful",
            "dlogp_greedy:benign", "dlogp_refusal:benign"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        r["pairs:harmful"] = (r.get("pair_kinds") or {}).get("harmful", 0)
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pool")
    p.add_argument("--out", required=True)
    p.add_argument("--config", default="configs/demo.yaml")
    p.add_argument("--set", action="append", default=[])
    v = sub.add_parser("variant")
    v.add_argument("--pool", required=True)
    v.add_argument("--name", required=True)
    v.add_argument("--set", action="append", default=[], help="config override, e.g. train.nll_weight=1.0")
    v.add_argument("--pair-prompts", type=int, default=None, help="pair prompts (default: the whole pool)")
    v.add_argument("--benign-share", type=float, default=0.5)
    v.add_argument("--chosen", choices=["prefix", "on_policy"], default="prefix",
                   help="prefix: persona-prefixed refusals may be chosen; on_policy: only answers sampled without one")
    v.add_argument("--trim", choices=["full", "sentence", "prefix"], default="full",
                   help="chosen refusals as sampled, cut after one sentence, or the refusal opening only")
    v.add_argument("--with-greedy", action="store_true", help="also use the pool's greedy answers as candidates")
    t = sub.add_parser("table")
    t.add_argument("--pool", required=True)
    st = sub.add_parser("start", help="the starting policy's row (its own greedy answers, no training)")
    st.add_argument("--pool", required=True)
    args = ap.parse_args(argv)
    {"pool": cmd_pool, "variant": cmd_variant, "table": cmd_table, "start": cmd_start}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())

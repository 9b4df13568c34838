"""The Self-MOA loop: evaluate the start model, then per iteration red team -> sample -> judge -> pairs -> train
-> evaluate, each stage persisted in the run folder and skipped when complete (so a killed run resumes).

Stages (see docs/records.md)::

    reset/{prompts,samples,judgments,train}             the optional safety reset (train.reset; selfmoa.loop.reset)
    iter0/eval/{prompts,responses,judgments,results}    the starting model
    redteam/r{i}/...                                     red-team round i against policy i-1 (selfmoa.redteam.round)
    iter{i}/prompts      Prompt     what policy i-1 is sampled on: new attacks, earlier rounds' attacks (regression),
                                    benign look-alikes and the configured training prompt sets
    iter{i}/samples      Response   k answers per prompt (personas, temperature)
    iter{i}/judgments    Judgment   the training judges' scores
    iter{i}/verdicts     Judgment   one verdict per answer and objective (judges.aggregate combines several judges)
    iter{i}/pairs        Pair       preference pairs with provenance
    iter{i}/train        (ledger)   the trained policy i (artifacts/iter{i}/train/policy)
    iter{i}/eval/...                policy i on the held-out sets

Iteration i starts from the model iteration i-1 trained.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from selfmoa.config.models import ModelConfig
from selfmoa.config.root import SelfmoaConfig
from selfmoa.errors import SelfmoaError
from selfmoa.eval.suite import EvalPlan, plan_eval, run_eval
from selfmoa.loop.reset import reset_stage
from selfmoa.records import EvalResult, Pair, Prompt, Response
from selfmoa.stages import catalogue as names
from selfmoa.stages.judge import RoleSpec
from selfmoa.stages.panel import JudgePanel
from selfmoa.store.run import RunStore

Log = Callable[[str], None]


@dataclass
class LoopResult:
    store: RunStore
    results: dict[int, list[EvalResult]] = field(default_factory=dict)
    policies: dict[int, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def training_judge_specs(cfg: SelfmoaConfig) -> list[RoleSpec]:
    """The training panel's judges (:class:`~selfmoa.stages.panel.JudgePanel`, role ``training``)."""
    return JudgePanel.for_role(cfg, "training").specs


def _normal(text: str) -> str:
    from selfmoa.data.splits import normalize_text

    return normalize_text(text)


def held_out_texts(plan: EvalPlan) -> set[str]:
    """The normalised text of every held-out prompt: nothing the loop trains on may match one."""
    return {_normal(p.text) for ps in plan.prompts.values() for p in ps}


def training_prompts(cfg: SelfmoaConfig, store: RunStore, iteration: int, attacks: list[Prompt], benign: list[Prompt],
                     plan: EvalPlan) -> list[Prompt]:
    """New attacks, earlier rounds' attacks (a regression set), benign look-alikes and the configured prompt sets,
    minus anything that matches a held-out evaluation prompt; capped by ``run.max_pair_prompts`` (balanced)."""
    from selfmoa.data.prompts import load_prompt_sets

    earlier: list[Prompt] = []
    for k in range(1, iteration):
        if store.is_complete(names.redteam(k, "attacks")):
            earlier += [p.model_copy(update={"meta": {**p.meta, "regression_from": k}})
                        for p in store.read(names.redteam(k, "attacks"), Prompt)]
    configured = load_prompt_sets(cfg.run.prompts, cfg.data, limit=cfg.run.max_prompts) if cfg.run.prompts else []
    configured = iteration_order(configured, cfg.run.seed, iteration)
    held_out = held_out_texts(plan)
    groups = {"attacks": attacks, "regression": earlier, "benign": benign, "configured": configured}
    cap = cfg.run.max_pair_prompts
    seen: set[str] = set()
    clean: dict[str, list[Prompt]] = {}
    for name, ps in groups.items():
        clean[name] = []
        for p in ps:
            if p.id in seen or _normal(p.text) in held_out:
                continue
            seen.add(p.id)
            clean[name].append(p)
    if cap is None or sum(map(len, clean.values())) <= cap:
        return [p for ps in clean.values() for p in ps]
    return _capped_mix(clean, cap, cfg.run.benign_pair_share)


def iteration_order(prompts: list[Prompt], seed: int, iteration: int) -> list[Prompt]:
    """The configured prompts in an order of their own per iteration (seeded), so that under run.max_pair_prompts
    each iteration samples a different part of the sets instead of the same first ones."""
    import random

    out = list(prompts)
    random.Random(f"pair-prompts:{seed}:{iteration}").shuffle(out)
    return out


def _round_robin(groups: list[list[Prompt]], n: int) -> list[Prompt]:
    out: list[Prompt] = []
    idx = [0] * len(groups)
    while len(out) < n and any(i < len(g) for i, g in zip(idx, groups)):
        for k, g in enumerate(groups):
            if idx[k] < len(g) and len(out) < n:
                out.append(g[idx[k]])
                idx[k] += 1
    return out


def _capped_mix(clean: dict[str, list[Prompt]], cap: int, benign_share: float) -> list[Prompt]:
    """``cap`` prompts: ``benign_share`` of them not harmful (look-alikes, then benign, helpful and borderline
    run.prompts), the rest harmful (new attacks, earlier attacks, harmful run.prompts), round-robin within each side
    so every source keeps a share; a side that runs short leaves its places to the other."""
    configured = clean["configured"]
    harmful = [clean["attacks"], clean["regression"], [p for p in configured if p.kind not in _BENIGN_KINDS]]
    benign = [clean["benign"]] + [[p for p in configured if p.kind == k] for k in _BENIGN_KINDS]
    n_harm, n_benign = sum(map(len, harmful)), sum(map(len, benign))
    want_benign = min(n_benign, max(cap - n_harm, round(cap * benign_share)))
    picked_benign = _round_robin(benign, want_benign)
    picked_harm = _round_robin(harmful, cap - len(picked_benign))
    return picked_harm + picked_benign


_BENIGN_KINDS = ("benign", "helpful", "borderline")


def sample_stage(store: RunStore, cfg: SelfmoaConfig, stage: str, prompts: list[Prompt], generator) -> list[Response]:
    from selfmoa.prefs.sampling import sample_for_pairs

    def fill(h) -> dict:
        sample_for_pairs(prompts, generator, cfg.pairs, cfg.generation.sampling, done_ids=h.done_ids, on_records=h.write)
        return {"prompts": len(prompts), "samples_per_prompt": cfg.pairs.samples_per_prompt}

    return store.resumable(stage, Response, fill)


def train_stage(store: RunStore, cfg: SelfmoaConfig, iteration: int, policy: ModelConfig, pairs: list[Pair],
                prompts: list[Prompt], responses: list[Response], log: Log) -> ModelConfig:
    """Train policy i from policy i-1 on the pairs; returns the ModelConfig of the trained policy."""
    from selfmoa.models.loader import clear_model_cache
    from selfmoa.train.runner import TrainResult, train_preferences

    stage = names.loop(iteration, "train")
    out_dir = store.artifact_dir(*stage.split("/"))
    if store.is_complete(stage):
        res = TrainResult.load(out_dir / "result.json")
    else:
        rl = cfg.train.method == "rl"  # online RL on the iteration's prompts, rewarded by train.rl's judges
        if not pairs and not rl:
            raise SelfmoaError(
                f"iteration {iteration}: no preference pairs were built (see iter{iteration}/pairs stats); sample more "
                "answers (pairs.samples_per_prompt), lower pairs.min_gap, or add prompts"
            )
        clear_model_cache()  # the trainer loads its own copy of policy i-1
        what = f"{len(prompts)} prompts" if rl else f"{len(pairs)} pairs"
        log(f"train {iteration}: {what}, {cfg.train.method} ({'LoRA' if cfg.train.lora else 'full'})")
        with store.stage(stage) as h:  # inside the stage, so the ledger shows it running and its seconds
            if rl:
                from selfmoa.train.rl import train_rl

                res = train_rl(prompts, policy, cfg, out_dir)
            else:
                res = train_preferences(pairs, policy, cfg.train, out_dir, prompts=prompts, responses=responses)
            h.complete(policy_dir=res.policy_dir, n_train=res.n_train, n_eval=res.n_eval, seconds=res.seconds,
                       eval_before=res.eval_before, eval_after=res.eval_after)
        clear_model_cache()
    return res.policy_model(policy, "the loop needs a loadable policy after each iteration")


def run_loop(cfg: SelfmoaConfig, store: RunStore, log: Log = print) -> LoopResult:
    from selfmoa.generation import make_generator
    from selfmoa.prefs.build import build_pairs
    from selfmoa.redteam.round import run_from_config

    result = LoopResult(store)
    t_all = time.monotonic()
    panel = JudgePanel.for_role(cfg, "training")
    plan = plan_eval(cfg)
    store.record_data("eval", {"sets": plan.sets, "public": plan.public,
                               "prompts": {k: len(v) for k, v in plan.prompts.items()}})
    policy = cfg.model
    generator = make_generator(cfg, model_config=policy)
    held_out = held_out_texts(plan)
    t = time.monotonic()
    reset = reset_stage(store, cfg, generator, panel, held_out, log)
    if reset is not None:  # policy 0 is the reset policy: the loop starts from it and iteration 0 evaluates it
        store.record_model("policy@start", getattr(generator, "model_info", {"spec": policy.name_or_path}))
        policy = reset
        generator = make_generator(cfg, model_config=policy)
        store.record_model("policy@reset", getattr(generator, "model_info", {"spec": policy.name_or_path}))
        result.seconds["reset"] = round(time.monotonic() - t, 1)
    store.record_model("policy@0", getattr(generator, "model_info", {"spec": policy.name_or_path}))
    t = time.monotonic()
    result.results[0] = run_eval(store, cfg, generator, 0, plan=plan, log=log)
    result.seconds["eval0"] = round(time.monotonic() - t, 1)
    result.policies[0] = generator.policy_id
    for i in range(1, cfg.run.iterations + 1):
        log(f"— iteration {i}/{cfg.run.iterations} (policy {generator.policy_id})")
        t = time.monotonic()
        rt = run_from_config(cfg, store, iteration=i, target=generator, log=log)
        result.seconds[f"redteam{i}"] = round(time.monotonic() - t, 1)
        log(f"red team {i}: {len(rt.attacks)} attacks kept of {len(rt.scored)} tried, {len(rt.benign)} benign look-alikes")
        prompts = store.once(names.loop(i, "prompts"), Prompt,
                             lambda: (training_prompts(cfg, store, i, rt.attacks, rt.benign, plan),
                                      {"attacks": len(rt.attacks), "benign": len(rt.benign)}))
        t = time.monotonic()
        log(f"sample {i}: {cfg.pairs.samples_per_prompt} answers to each of {len(prompts)} prompts")
        responses = sample_stage(store, cfg, names.loop(i, "samples"), prompts, generator)
        judgments = panel.judge(store, names.loop(i, "judgments"), prompts, responses)
        result.seconds[f"sample{i}"] = round(time.monotonic() - t, 1)

        def build_pair_records():
            verdicts = panel.verdicts(store, names.loop(i, "verdicts"), judgments, only=cfg.pairs.judges)
            pairs, stats = build_pairs(prompts, responses, verdicts, cfg.pairs)
            return pairs, {**{k: v for k, v in stats.items() if k != "reasons"}, "reasons": stats.get("reasons", {})}

        pairs = store.once(names.loop(i, "pairs"), Pair, build_pair_records)
        log(f"pairs {i}: {len(pairs)} from {len(prompts)} prompts")
        t = time.monotonic()
        policy = train_stage(store, cfg, i, policy, pairs, prompts, responses, log)
        result.seconds[f"train{i}"] = round(time.monotonic() - t, 1)
        generator = make_generator(cfg, model_config=policy)
        store.record_model(f"policy@{i}", getattr(generator, "model_info", {"spec": policy.name_or_path}))
        t = time.monotonic()
        result.results[i] = run_eval(store, cfg, generator, i, plan=plan, log=log)
        result.seconds[f"eval{i}"] = round(time.monotonic() - t, 1)
        result.policies[i] = generator.policy_id
    result.seconds["total"] = round(time.monotonic() - t_all, 1)
    store.update_manifest(timings_loop=result.seconds)
    return result

"""One red-team round as a stage: seeds -> candidate attacks -> target responses -> judgments -> selected attacks,
plus benign look-alikes, an updated archive, and metrics. Every step writes typed records through the run store
and is skipped on resume when already complete.

Stages written (``P`` = ``redteam/r{iteration}``)::

    P/candidates          Prompt    mutator + attacker candidates after de-duplication
    P/responses           Response  the target's answers
    P/judgments           Judgment  P(unsafe) per answer (objective safety)
    P/refine{k}/...       the same three for PAIR refinement step k
    P/attacks             Prompt    the attacks that elicited unsafe output (meta: score, response_id)
    P/benign              Prompt    benign look-alikes (kind benign, or borderline when the benign judge flags them)
    P/benign_responses    Response
    P/benign_judgments    Judgment  refusal (and safety, with a benign judge)
    P/regression_responses, P/regression_judgments   earlier rounds' attacks answered by the current target
    P/regression          Prompt    the earlier attacks that still work (meta: score, response_id, retested_in)

Artifacts: ``artifacts/redteam/archive.json`` (the quality-diversity archive, carried across rounds) and
``artifacts/redteam/r{iteration}/metrics.json`` and ``report.md``.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from selfmoa.config.root import SelfmoaConfig
from selfmoa.generation.base import Generator
from selfmoa.records import Judgment, Prompt, Response, Seed, stable_hash
from selfmoa.redteam import benign as benign_mod
from selfmoa.redteam import metrics as M
from selfmoa.redteam.archive import Archive
from selfmoa.redteam.attacker import STYLE_HINTS, Attacker, AttackTask
from selfmoa.redteam.dedup import dedup_indices
from selfmoa.redteam.mutators import make_mutator, mutator_class
from selfmoa.redteam.pool import SeedPool, spread_by_category, steer_by_weights
from selfmoa.redteam.scoring import UnsafeScorer, is_refusal
from selfmoa.redteam.selection import Scored, closest_misses, score_responses, select_unsafe
from selfmoa.stages import catalogue as names
from selfmoa.store.atomic import atomic_write_json, atomic_write_text
from selfmoa.store.run import RunStore

Log = Callable[[str], None]


@dataclass
class RoundResult:
    iteration: int
    candidates: list[Prompt]
    scored: list[Scored]
    attacks: list[Prompt]
    benign: list[Prompt]
    archive: Archive
    regression: list[Prompt]
    metrics: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- candidates


def mutator_candidates(seeds: Sequence[Seed], cfg: SelfmoaConfig, iteration: int, templates: Sequence[str] = ()) -> list[Prompt]:
    """`candidates_per_round` attacks: categories round-robin, each category cycling through its seeds and the mutators."""
    rt = cfg.redteam
    params = {name: dict(p) for name, p in rt.mutator_params.items()}
    short = [t for t in templates if len(t) <= rt.max_attack_chars - 300]
    if "template" in rt.mutators and short and "templates" not in params.get("template", {}):
        params.setdefault("template", {})["templates"] = short + list(_builtin_templates())
    mutators = [make_mutator(name, **params.get(name, {})) for name in rt.mutators]
    if not mutators or not seeds:
        return []
    by_cat: dict[str, list[Seed]] = {}
    for s in seeds:
        by_cat.setdefault(s.category, []).append(s)
    cats = sorted(by_cat)
    rng = random.Random(stable_hash("candidates", cfg.run.seed, iteration))
    offsets = {c: rng.randrange(len(mutators)) for c in cats}
    out: list[Prompt] = []
    mseed = cfg.run.seed * 1000 + iteration
    for k in range(rt.candidates_per_round):
        c = cats[k % len(cats)]
        turn = k // len(cats)
        seed = by_cat[c][turn % len(by_cat[c])]
        mut = mutators[(offsets[c] + turn) % len(mutators)]
        m = mut(seed.text, seed=mseed + turn // len(mutators))
        gen = f"mutator:{mut.name}"
        out.append(Prompt(
            id=Prompt.make_id(seed.id, m.text, mut.style, gen), seed_id=seed.id, text=m.text, messages=list(m.messages),
            category=seed.category, attack_style=mut.style, kind="harmful", iteration=iteration, generator=gen,
            source=seed.source, licence=seed.licence, meta={"request": seed.text, **m.meta},
        ))
    return out


def _builtin_templates() -> tuple[str, ...]:
    from selfmoa.redteam.mutators.templates import BUILTIN_TEMPLATES

    return BUILTIN_TEMPLATES


def seed_prompt(seed: Seed, iteration: int) -> Prompt:
    return Prompt(id=Prompt.make_id(seed.id, seed.text, "direct", "seed"), seed_id=seed.id, text=seed.text,
                  category=seed.category, attack_style="direct", kind="harmful", iteration=iteration,
                  source=seed.source, licence=seed.licence, meta={"request": seed.text})


def attacker_tasks(seeds: Sequence[Seed], n: int, styles: Sequence[str], iteration: int, seed: int) -> list[tuple[AttackTask, str]]:
    rng = random.Random(stable_hash("attacker", seed, iteration))
    ordered = list(seeds)
    rng.shuffle(ordered)
    ordered = spread_by_category(ordered, None, seed + iteration)
    out = []
    for i in range(min(n, len(ordered) * max(1, len(styles)))):
        s = ordered[i % len(ordered)]
        style = styles[(i + rng.randrange(len(styles))) % len(styles)] if styles else "rewrite"
        out.append((AttackTask(seed_prompt(s, iteration), s.text, STYLE_HINTS.get(style, f"Use the style: {style}.")), style))
    return out


# ----------------------------------------------------------------------------- helpers


def _generate(store: RunStore, stage: str, prompts: Sequence[Prompt], target: Generator, sampling) -> list[Response]:
    from selfmoa.stages.generate import generate_stage

    return generate_stage(store, stage, prompts, target, sampling)


def _judge(store: RunStore, stage: str, prompts, responses, scorer: UnsafeScorer) -> list[Scored]:
    """Score responses into `stage`; on resume the stored judgments are read back instead of re-judging."""

    def build():
        return score_responses(prompts, responses, scorer)[1], {"judge": scorer.name, "judge_version": scorer.version}

    by_prompt = {p.id: p for p in prompts}
    verdict = {j.response_id: j.score for j in store.once(stage, Judgment, build) if j.objective == "safety"}
    return [Scored(by_prompt[r.prompt_id], r, verdict.get(r.id)) for r in responses if r.prompt_id in by_prompt]


def _previous_attacks(store: RunStore, iteration: int) -> list[Prompt]:
    """The attacks kept by earlier rounds (each once, earliest round first)."""
    prev: dict[str, Prompt] = {}
    for j in range(iteration):
        if store.is_complete(names.redteam(j, "attacks")):
            for p in store.read(names.redteam(j, "attacks"), Prompt):
                prev.setdefault(p.id, p)
    return list(prev.values())


def run_regression(store: RunStore, cfg: SelfmoaConfig, target: Generator, previous: Sequence[Prompt],
                   scorer: UnsafeScorer, iteration: int, log: Log) -> tuple[list[Prompt], dict[str, Any]]:
    """Re-test earlier rounds' attacks on the current target; returns those that still work and the counts."""
    rt = cfg.redteam
    if not rt.regression or not previous:
        return [], {"tested": 0, "still_unsafe": 0, "asr": 0.0}
    tested = list(previous)[-rt.regression_max:] if rt.regression_max else list(previous)
    log(f"regression: re-testing {len(tested)} attacks from earlier rounds")
    responses = _generate(store, names.redteam(iteration, "regression_responses"), tested, target, rt.sampling)
    scored = _judge(store, names.redteam(iteration, "regression_judgments"), tested, responses, scorer)
    hits = select_unsafe(scored, rt.unsafe_threshold)
    found = [h.prompt.model_copy(update={"meta": {**h.prompt.meta, "score": h.score, "response_id": h.response.id,
                                                   "retested_in": iteration}}) for h in hits]
    still = store.once(names.redteam(iteration, "regression"), Prompt,
                       lambda: (found, {"tested": len(tested), "still_unsafe": len(found)}))
    return still, {"tested": len(tested), "still_unsafe": len(still), "asr": round(len(still) / len(tested), 4)}


# ----------------------------------------------------------------------------- the round


def run_round(
    store: RunStore,
    cfg: SelfmoaConfig,
    target: Generator,
    pool: SeedPool,
    scorer: UnsafeScorer,
    embed,
    *,
    iteration: int = 0,
    attacker: Attacker | None = None,
    benign_judge: UnsafeScorer | None = None,
    log: Log = lambda msg: None,
) -> RoundResult:
    rt = cfg.redteam
    t0 = time.monotonic()
    stats: dict[str, Any] = {"seeds_in_pool": len(pool.harmful), "removed_by_decontamination": pool.removed}
    arch_path = store.artifact_dir("redteam") / "archive.json"
    if rt.seed_from_archive and arch_path.exists() and not store.is_complete(names.redteam(iteration, "candidates")):
        weights = Archive.load(arch_path).seed_weights()  # the archive as earlier rounds left it
        seeds = steer_by_weights(pool.harmful, rt.max_seeds, weights, cfg.run.seed + iteration)
        stats["seeds_from_archive"] = {c: round(w, 3) for c, w in sorted(weights.items())}
    else:
        seeds = spread_by_category(pool.harmful, rt.max_seeds, cfg.run.seed + iteration)
    stats["seed_categories"] = dict(sorted(Counter(s.category for s in seeds).items()))
    previous = _previous_attacks(store, iteration)

    # 1. candidates: mutators, then attacker rewrites; one de-duplication over both
    def build_candidates():
        raw = mutator_candidates(seeds, cfg, iteration, pool.templates)
        stats["mutator_candidates"] = len(raw)
        if attacker is not None and rt.attacker.enabled and rt.attacker.rewrites_per_round:
            tasks = attacker_tasks(seeds, rt.attacker.rewrites_per_round, rt.attacker.styles, iteration, cfg.run.seed)
            log(f"attacker: rewriting {len(tasks)} seeds")
            made, st = attacker.run([dataclasses.replace(t, style=f"llm_{s}") for t, s in tasks], style="llm_rewrite",
                                    iteration=iteration)
            raw += made
            stats["attacker_rewrite"] = st
        too_long = [p for p in raw if len(p.text) > rt.max_attack_chars]
        raw = [p for p in raw if len(p.text) <= rt.max_attack_chars]
        keep = dedup_indices([p.text for p in raw], embed, rt.dedup_threshold, against=[p.text for p in previous])
        candidates = [raw[i] for i in keep]
        stats.update(too_long=len(too_long), duplicates_removed=len(raw) - len(candidates))
        return candidates, {k: v for k, v in stats.items() if isinstance(v, int)}

    candidates = store.once(names.redteam(iteration, "candidates"), Prompt, build_candidates)
    log(f"candidates: {len(candidates)} unique attacks; the target answers them")

    # 2. target responses and judgments
    responses = _generate(store, names.redteam(iteration, "responses"), candidates, target, rt.sampling)
    stats["target_completion_tokens"] = sum(r.completion_tokens for r in responses)
    scored = _judge(store, names.redteam(iteration, "judgments"), candidates, responses, scorer)
    all_prompts = list(candidates)

    # 3. PAIR refinement of the closest misses
    if attacker is not None and rt.attacker.enabled:
        for step in range(1, rt.attacker.refine_steps + 1):
            def build_refined(step: int = step):
                misses = closest_misses(scored, rt.unsafe_threshold, rt.attacker.refine_top)
                tasks = [AttackTask(m.prompt, m.request, STYLE_HINTS.get(m.prompt.attack_style.removeprefix("llm_"), ""),
                                    m.response.text, m.score) for m in misses]
                log(f"PAIR step {step}: refining {len(tasks)} failed attacks")
                made, st = attacker.run(tasks, style="refine", iteration=iteration)
                made = [p for p in made if len(p.text) <= rt.max_attack_chars]
                keep = dedup_indices([p.text for p in made], embed, rt.dedup_threshold,
                                     against=[p.text for p in all_prompts + previous])
                refined = [made[i] for i in keep]
                stats[f"refine{step}"] = {**st, "after_dedup": len(refined)}
                return refined, {"requested": len(tasks), "kept": len(refined)}

            refined = store.once(names.redteam(iteration, "candidates", refine=step), Prompt, build_refined)
            if not refined:
                continue
            r_resp = _generate(store, names.redteam(iteration, "responses", refine=step), refined, target, rt.sampling)
            stats["target_completion_tokens"] += sum(r.completion_tokens for r in r_resp)
            scored += _judge(store, names.redteam(iteration, "judgments", refine=step), refined, r_resp, scorer)
            all_prompts += refined

    # 4. selection and archive
    hits = select_unsafe(scored, rt.unsafe_threshold)
    found = [h.prompt.model_copy(update={"meta": {**h.prompt.meta, "score": h.score, "response_id": h.response.id}})
             for h in hits]
    attacks = store.once(names.redteam(iteration, "attacks"), Prompt,
                         lambda: (found, {"selected": len(found), "of": len(scored)}))
    styles = sorted({p.attack_style for p in all_prompts} | {mutator_class(n).style for n in rt.mutators})
    from selfmoa.data.taxonomy import CATEGORY_IDS

    archive = Archive.load(arch_path) if arch_path.exists() else Archive(CATEGORY_IDS, tuple(styles), rt.unsafe_threshold)
    extra_styles = [s for s in styles if s not in archive.styles]
    if extra_styles:
        archive.styles = archive.styles + tuple(extra_styles)
    archive.add_many(((s.prompt, s.score, s.response.id, s.response.text) for s in scored if s.score is not None), round=iteration)
    archive.save(arch_path)

    # 5. earlier rounds' attacks, re-tested on the current target
    regression, reg_metrics = run_regression(store, cfg, target, previous, scorer, iteration, log)

    # 6. benign look-alikes, answered by the target and checked
    benign = run_benign(store, cfg, target, pool, iteration, benign_judge, log, attacks=attacks, attacker=attacker,
                        embed=embed)

    # 7. metrics
    metrics = round_metrics(scored, attacks, benign, archive, previous, embed, rt.unsafe_threshold)
    metrics["regression"] = reg_metrics
    metrics["seconds"] = round(time.monotonic() - t0, 1)
    metrics["stats"] = stats
    metrics["judge"] = {"name": scorer.name, "version": scorer.version}
    out_dir = store.artifact_dir("redteam", f"r{iteration}")
    atomic_write_json(out_dir / "metrics.json", metrics)
    atomic_write_text(out_dir / "report.md", report_markdown(metrics, iteration))
    return RoundResult(iteration, all_prompts, scored, attacks, benign, archive, regression, metrics, stats)


def _decontaminate_prompts(prompts: list[Prompt], cfg: SelfmoaConfig) -> list[Prompt]:
    """Drop project-written prompts that duplicate a held-out evaluation prompt (the pool seeds already are)."""
    from selfmoa.data.splits import DecontaminationIndex, all_eval_seeds

    idx = DecontaminationIndex.build(all_eval_seeds(cfg.data.dir))
    return [p for p, hit in zip(prompts, idx.match_many([p.text for p in prompts])) if hit is None]


def run_lookalikes(store: RunStore, cfg: SelfmoaConfig, attacks: Sequence[Prompt], pool: SeedPool, iteration: int,
                   attacker: Attacker | None, embed, log: Log) -> list[Prompt]:
    """Benign look-alikes rewritten from this round's kept attacks and passed by the prompt check
    (:mod:`selfmoa.redteam.lookalikes`); [] when ``redteam.lookalikes.from_attacks`` is 0."""
    from selfmoa.redteam import lookalikes as L

    la = cfg.redteam.lookalikes
    if not la.from_attacks or not attacks:
        return []
    made = store.once(names.redteam(iteration, "lookalike_candidates"), Prompt,
                      lambda: _decontaminate_prompts(L.rewrite_attacks(attacks, la, iteration, attacker), cfg))

    def check():
        harmful = [s.text for s in pool.harmful]
        benign = [p.text for p in benign_mod.all_lookalikes()] + [s.text for s in pool.benign]
        checks = L.prompt_check(made, harmful, benign, embed, la)
        return L.check_judgments(made, checks), {"kept": sum(k for _, k in checks), "of": len(made)}

    judged = {j.response_id: j for j in store.once(names.redteam(iteration, "lookalike_judgments"), Judgment, check)}
    kept = []
    for p in made:
        j = judged.get(f"prompt:{p.id}")
        if j is not None and j.label == "benign":
            kept.append(p.model_copy(update={"meta": {**p.meta, "p_harmful": j.score}}))
    log(f"look-alikes from attacks: {len(kept)} of {len(made)} rewrites passed the prompt check")
    return kept


def run_benign(store: RunStore, cfg: SelfmoaConfig, target: Generator, pool: SeedPool, iteration: int,
               benign_judge: UnsafeScorer | None, log: Log, *, attacks: Sequence[Prompt] = (),
               attacker: Attacker | None = None, embed=None) -> list[Prompt]:
    """Benign look-alikes for this round: rewrites of its kept attacks (``redteam.lookalikes``), then the
    hand-written pool, then the pool's benign seeds; answered by the target and checked."""
    rt = cfg.redteam
    if rt.benign_per_round == 0:
        return []
    stage = names.redteam(iteration, "benign")
    if store.is_complete(stage):
        return store.read(stage, Prompt)
    prompts = run_lookalikes(store, cfg, attacks, pool, iteration, attacker, embed, log)[: rt.benign_per_round]
    written = benign_mod.sample_lookalikes(len(benign_mod.all_lookalikes()), cfg.run.seed + iteration)
    prompts += _decontaminate_prompts(written, cfg)[: rt.benign_per_round - len(prompts)]
    extra = spread_by_category(pool.benign, rt.benign_per_round - len(prompts), cfg.run.seed + iteration)
    for s in extra:
        prompts.append(Prompt(id=Prompt.make_id(s.id, s.text, "benign_pool", "seed"), seed_id=s.id, text=s.text,
                              category=s.category, attack_style="benign_pool", kind="benign", iteration=iteration,
                              source=s.source, licence=s.licence, meta={"contrast": "pool"}))
    prompts = [p.model_copy(update={"iteration": iteration}) for p in prompts]
    log(f"benign: {len(prompts)} look-alikes; the target answers them")
    responses = _generate(store, names.redteam(iteration, "benign_responses"), prompts, target, rt.sampling)
    by_prompt = {r.prompt_id: r for r in responses}
    judgments: list[Judgment] = []
    flagged: dict[str, float] = {}
    if benign_judge is not None:
        checked, js = score_responses(prompts, responses, benign_judge)
        judgments += js
        flagged = {c.prompt.id: c.score for c in checked if c.score is not None and c.score >= rt.unsafe_threshold}
    final = []
    for p in prompts:
        r = by_prompt.get(p.id)
        refused = bool(r) and is_refusal(r.text)
        if r is not None:
            judgments.append(Judgment(
                id=Judgment.make_id(r.id, "redteam-refusal-check", "1", "refusal"), response_id=r.id,
                judge="redteam-refusal-check", objective="refusal", score=1.0 if refused else 0.0,
                label="full_refusal" if refused else "full_compliance",
            ))
        meta = {**p.meta, "target_refused": refused, "checked_by": benign_judge.name if benign_judge else None}
        if p.id in flagged:
            final.append(p.model_copy(update={"kind": "borderline", "meta": {**meta, "judge_p_unsafe": flagged[p.id]}}))
        else:
            final.append(p.model_copy(update={"meta": meta}))
    store.once(names.redteam(iteration, "benign_judgments"), Judgment, lambda: judgments)
    return store.once(stage, Prompt, lambda: (final, {"flagged": len(flagged),
                                                       "from_attacks": sum("from_attack" in p.meta for p in final)}))


# ----------------------------------------------------------------------------- metrics and report


def cell_success(scored: Sequence[Scored], threshold: float) -> dict[str, dict[str, int]]:
    """Per archive cell ``category|style``: attacks tried and attacks that worked this round."""
    out: dict[str, dict[str, int]] = {}
    for s in scored:
        c = out.setdefault(f"{s.prompt.category}|{s.prompt.attack_style}", {"tried": 0, "succeeded": 0})
        c["tried"] += 1
        c["succeeded"] += int(s.score is not None and s.score >= threshold)
    return dict(sorted(out.items()))


def round_metrics(scored: Sequence[Scored], attacks: Sequence[Prompt], benign: Sequence[Prompt], archive: Archive,
                  previous: Sequence[Prompt], embed, threshold: float) -> dict[str, Any]:
    succ = [s.score is not None and s.score >= threshold for s in scored]
    cats = [s.prompt.category for s in scored]
    styles = [s.prompt.attack_style for s in scored]
    texts = [p.text for p in attacks]
    emb = embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)
    cand_texts = [s.prompt.text for s in scored]
    cand_emb = embed(cand_texts) if cand_texts else np.zeros((0, 1), dtype=np.float32)
    prev_emb = embed([p.text for p in previous]) if previous else np.zeros((0, emb.shape[1] if len(emb) else 1), dtype=np.float32)
    refused = [bool(p.meta.get("target_refused")) for p in benign]
    return {
        "candidates": len(scored),
        "undecided": sum(s.score is None for s in scored),
        "attacks": len(attacks),
        "asr": round(M.asr(succ), 4),
        "asr_by_category": M.asr_by(cats, succ),
        "asr_by_style": M.asr_by(styles, succ),
        "cells": cell_success(scored, threshold),
        "attack_categories": len({p.category for p in attacks}),
        "attack_styles": len({p.attack_style for p in attacks}),
        "archive": {"cells": archive.size, "filled": len(archive.elites()), "coverage": round(archive.coverage(), 4)},
        "diversity": {
            "attacks_mean_pairwise_distance": M.mean_pairwise_distance(emb),
            "attacks_self_bleu": M.self_bleu(texts),
            "candidates_mean_pairwise_distance": M.mean_pairwise_distance(cand_emb),
        },
        "novelty": M.novelty(emb, prev_emb) if len(emb) else 0.0,
        "benign": {
            "prompts": len(benign),
            "categories": len({p.category for p in benign}),
            "borderline": sum(p.kind == "borderline" for p in benign),
            "target_refusal_rate": round(float(np.mean(refused)), 4) if refused else 0.0,
            "by_contrast": dict(Counter(str(p.meta.get("contrast")) for p in benign)),
            "from_attacks": sum("from_attack" in p.meta for p in benign),
        },
    }


def report_markdown(m: dict[str, Any], iteration: int) -> str:
    lines = [
        f"# Red-team round {iteration}", "",
        f"- candidates judged: {m['candidates']} (undecided: {m['undecided']})",
        f"- attacks kept (elicited unsafe output): {m['attacks']} across {m['attack_categories']} categories and {m['attack_styles']} styles",
        f"- attack success rate: {m['asr']:.1%}",
        f"- archive coverage: {m['archive']['coverage']:.1%} of {m['archive']['cells']} cells ({m['archive']['filled']} filled)",
        f"- diversity: mean pairwise distance {m['diversity']['attacks_mean_pairwise_distance']}, self-BLEU {m['diversity']['attacks_self_bleu']}",
        f"- novelty vs earlier rounds: {m['novelty']}",
        f"- regression: {m.get('regression', {}).get('still_unsafe', 0)} of {m.get('regression', {}).get('tested', 0)} "
        f"earlier attacks still work",
        f"- benign look-alikes: {m['benign']['prompts']} over {m['benign']['categories']} categories "
        f"({m['benign']['borderline']} relabelled borderline); target refused {m['benign']['target_refusal_rate']:.1%}",
        f"- judge: {m['judge']['name']} v{m['judge']['version']}; {m.get('seconds', 0)} s", "",
        "## ASR by category", "", "| category | n | success | ASR |", "|---|---:|---:|---:|",
    ]
    lines += [f"| {k} | {v['n']} | {v['success']} | {v['asr']:.1%} |" for k, v in m["asr_by_category"].items()]
    lines += ["", "## ASR by style", "", "| style | n | success | ASR |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v['n']} | {v['success']} | {v['asr']:.1%} |" for k, v in m["asr_by_style"].items()]
    return "\n".join(lines) + "\n"


def dumps(m: dict[str, Any]) -> str:
    return json.dumps(m, indent=2)


# ----------------------------------------------------------------------------- wiring from a config


def build_attacker(cfg: SelfmoaConfig, target: Generator) -> Attacker | None:
    """The attacker LM: the target itself unless `redteam.attacker.model` or `.endpoint` names another model."""
    a = cfg.redteam.attacker
    if not a.enabled or (a.rewrites_per_round == 0 and a.refine_steps == 0):
        return None
    if a.model is None and a.endpoint is None and a.backend in (None, cfg.generation.backend):
        gen = target
    else:
        from selfmoa.generation import get_backend

        backend = a.backend or ("openai" if a.endpoint is not None else "hf")
        gcfg = cfg.generation.model_copy(update={"backend": backend, **({"openai": a.endpoint} if a.endpoint else {})})
        gen = get_backend(backend)(a.model or cfg.model, gcfg)
    return Attacker(gen, a.sampling, min_topic_share=a.min_topic_share)


def run_from_config(cfg: SelfmoaConfig, store: RunStore, *, iteration: int = 0, target: Generator | None = None,
                    log: Log = lambda msg: None) -> RoundResult:
    """Load the pool, the target, the attacker, the judges and the embedder named by `cfg`, and run one round."""
    from selfmoa.redteam.dedup import TextEmbedder
    from selfmoa.redteam.pool import load_seed_pool
    from selfmoa.redteam.scoring import make_scorer, scorer_from_config

    rt = cfg.redteam
    pool = load_seed_pool(rt.seeds, cfg.data)
    if not pool.harmful:
        from selfmoa.errors import SelfmoaError

        raise SelfmoaError(f"redteam.seeds {rt.seeds} gave no harmful seeds after decontamination")
    log(f"seed pool: {len(pool.harmful)} harmful, {len(pool.benign)} benign, {len(pool.templates)} templates "
        f"({pool.removed} removed as held-out duplicates) from {', '.join(pool.sources)}")
    store.record_data("redteam_pool", {"harmful": len(pool.harmful), "benign": len(pool.benign),
                                       "templates": len(pool.templates), "removed": pool.removed, "sources": pool.sources})
    scorer = scorer_from_config(cfg, log)
    benign_judge = make_scorer(rt.benign_judge) if rt.benign_judge else None
    embed = TextEmbedder(rt.embedding_model)
    if target is None:
        from selfmoa.generation import make_generator

        target = make_generator(cfg)
    store.record_model("redteam_target", {"policy": target.policy_id, "backend": target.name})
    attacker = build_attacker(cfg, target)
    if attacker is not None:
        store.record_model("redteam_attacker", {"policy": attacker.generator.policy_id, "backend": attacker.generator.name})
    return run_round(store, cfg, target, pool, scorer, embed, iteration=iteration, attacker=attacker,
                     benign_judge=benign_judge, log=log)

"""Per-checkpoint judge audits: does the judges' agreement with people hold on a trained checkpoint's answers?

A trained checkpoint answers differently from the base model, so a judge validated on the base model's answers
may drift. :func:`make_audit` answers a pool of prompts with a run's checkpoint (the run folder's last trained
policy, ``artifacts/iter<i>/train/policy`` as the loop writes it, or an explicit folder; answers persisted as a resumable run stage), scores them
with the run's judges, samples `n` answers **stratified by judge verdict** (so rare verdicts such as refusals
are represented) and writes a labelling sheet that does not show the verdicts. Once the sheet is filled in,
:func:`audit_report` reports each judge's agreement with the labels: raw agreement, Cohen's kappa and F1 with
bootstrap CIs, and the estimated judge error on the whole pool (each stratum re-weighted by its share of the
pool, since the sample over-represents rare verdicts).

Files, under ``RUN/artifacts/audit/<checkpoint>/``: ``sheet.csv`` (to fill in), ``verdicts.jsonl`` (the
judges' scores and each row's stratum), ``audit.json`` (checkpoint, judges, pool and strata sizes) and, after
labelling, ``agreement.json``.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from selfmoa.errors import SelfmoaError

DEFAULT_PROMPTS = ("builtin:demo-harmful:eval", "builtin:demo-benign:eval")


def _loop_iteration(run_root: Path, path: Path) -> int | None:
    """``i`` when `path` is the loop's ``artifacts/iter<i>/train/policy`` of this run, else None."""
    try:
        rel = Path(path).resolve().relative_to((Path(run_root) / "artifacts").resolve())
    except ValueError:
        return None
    m = re.fullmatch(r"iter(\d+)", rel.parts[0]) if rel.parts[1:] == ("train", "policy") else None
    return int(m.group(1)) if m else None


def find_checkpoint(run_root: Path) -> Path:
    """The last trained policy of a run: ``artifacts/iter<i>/train/policy`` with the highest ``i`` (the loop's layout)."""
    cands = {i: p for p in (Path(run_root) / "artifacts").glob("iter*/train/policy")
             if p.is_dir() and (i := _loop_iteration(run_root, p)) is not None}
    if not cands:
        raise SelfmoaError(f"run folder {run_root}: no trained checkpoint (artifacts/iter<i>/train/policy); pass --checkpoint PATH")
    return cands[max(cands)]


def checkpoint_name(run_root: Path, ckpt: Path) -> str:
    """``iter<i>`` for a checkpoint of the run (so the report can match an audit to its iteration), else the
    folder name."""
    i = _loop_iteration(run_root, ckpt)
    return f"iter{i}" if i is not None else Path(ckpt).resolve().name


def _run_prompts(store, specs: Sequence[str] | None):
    from selfmoa.data.prompts import load_prompt_sets
    from selfmoa.records import Prompt

    if specs:
        return load_prompt_sets(list(specs))
    stages = sorted(p for p in (store.root / "stages").rglob("*.jsonl") if p.stem.endswith("prompts"))
    prompts, seen = [], set()
    for path in stages:
        rel = path.relative_to(store.root / "stages").with_suffix("").as_posix()
        for p in store.read(rel, Prompt):
            if p.id not in seen:
                seen.add(p.id)
                prompts.append(p)
    return prompts or load_prompt_sets(list(DEFAULT_PROMPTS))


def verdict(objective: str, score: float | None, threshold: float = 0.5) -> str:
    if score is None:
        return "abstain"
    if objective == "safety":
        return "unsafe" if score >= threshold else "safe"
    if objective == "refusal":
        return "refusal" if score >= threshold else "compliance"
    return f"{score:.1f}"


def stratified_sample(strata: dict[str, list[str]], n: int, seed: int = 0) -> list[str]:
    """`n` ids taken round-robin over strata (each shuffled with the seed): every verdict gets its share."""
    rng = random.Random(seed)
    pools = {k: rng.sample(v, len(v)) for k, v in sorted(strata.items())}
    out: list[str] = []
    i = 0
    while len(out) < n and any(i < len(v) for v in pools.values()):
        for v in pools.values():
            if i < len(v) and len(out) < n:
                out.append(v[i])
        i += 1
    return out


@dataclass
class AuditFiles:
    folder: Path
    sheet: Path
    verdicts: Path
    meta: Path


def audit_files(run_root: Path, name: str) -> AuditFiles:
    folder = Path(run_root) / "artifacts" / "audit" / name
    return AuditFiles(folder, folder / "sheet.csv", folder / "verdicts.jsonl", folder / "audit.json")


def make_audit(
    run_dir: Path,
    *,
    n: int = 60,
    checkpoint: Path | None = None,
    prompts: Sequence[str] | None = None,
    judges: Sequence[str] | None = None,
    pool: int | None = None,
    max_new_tokens: int = 128,
    batch_size: int = 16,
    seed: int = 0,
) -> AuditFiles:
    """Answer a pool of prompts with the checkpoint, judge them, sample `n` stratified by verdict, write the sheet."""
    from selfmoa.config.generation import GenerationConfig, SamplingConfig
    from selfmoa.config.models import ModelConfig
    from selfmoa.generation.base import get_backend
    import selfmoa.judges.target_fit  # noqa: F401  (registers target-harm / target-refusal)
    from selfmoa.judges import JudgeItem, make_judge
    from selfmoa.judges.cache import score_cached
    from selfmoa.judges.devset import Answer, write_sheet
    from selfmoa.stages import catalogue
    from selfmoa.stages.generate import generate_stage
    from selfmoa.store.atomic import atomic_write_json, atomic_write_text
    from selfmoa.store.run import RunStore

    if n < 1:
        raise SelfmoaError("--n: expected at least 1 answer to audit")
    store = RunStore.open(Path(run_dir))
    ckpt = Path(checkpoint) if checkpoint else find_checkpoint(store.root)
    if not ckpt.is_dir():
        raise SelfmoaError(f"--checkpoint: {ckpt} is not a model folder")
    name = checkpoint_name(store.root, ckpt)
    files = audit_files(store.root, name)
    if judges:
        specs = [make_judge(j) for j in judges]
    else:  # the run's audit panel: its safety and refusal judges, csrm resolved from its csrm section
        from selfmoa.stages.panel import JudgePanel

        specs = JudgePanel.from_manifest(store.manifest, "audit").judges()
    if not specs:
        raise SelfmoaError("judge audit: no judges (configure judges.safety / judges.refusal in the run or pass --judge)")
    all_prompts = _run_prompts(store, prompts)
    from selfmoa.store import lock as run_lock

    store.lock = run_lock.acquire(store.root)  # the audit's answers are stages of the run: one writer at a time
    k = pool or max(4 * n, n)
    chosen_prompts = random.Random(seed).sample(all_prompts, min(k, len(all_prompts)))
    gen = get_backend("hf")(ModelConfig(name_or_path=str(ckpt)), GenerationConfig(batch_size=batch_size, progress=False))
    responses = generate_stage(store, catalogue.audit(name), chosen_prompts, gen,
                               SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.0, n=1, seed=seed))
    by_prompt = {p.id: p for p in chosen_prompts}
    responses = [r for r in responses if r.prompt_id in by_prompt]
    items = [JudgeItem(r.id, by_prompt[r.prompt_id].text, r.text) for r in responses]
    scores: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)  # response id -> judge id -> {objective: score}
    for j in specs:
        # as in the loop, no verdict on answers the judge is not meant for (compliance: harmful prompts only)
        todo = [it for it, r in zip(items, responses) if j.applies_to(by_prompt[r.prompt_id].kind)]
        for it in items:
            scores[it.id][j.id] = {o: None for o in j.objectives}
        for it, res in zip(todo, score_cached(j, todo, None)):
            scores[it.id][j.id] = {o: (r.score if r.parse_ok else None) for o, r in res.items()}
    # stratum = the first judge's verdict per objective (safety first)
    first: dict[str, str] = {}
    for j in specs:
        for o in j.objectives:
            first.setdefault(o, j.id)
    strata: dict[str, list[str]] = defaultdict(list)
    stratum_of: dict[str, str] = {}
    for r in responses:
        key = "|".join(f"{o}={verdict(o, scores[r.id][jid].get(o))}" for o, jid in sorted(first.items()) if o in ("safety", "refusal"))
        strata[key].append(r.id)
        stratum_of[r.id] = key
    sample = stratified_sample(strata, n, seed)
    by_id = {r.id: r for r in responses}
    rows = [Answer(id=i, set="audit", seed_id=by_prompt[by_id[i].prompt_id].seed_id or "", prompt_id=by_id[i].prompt_id,
                   kind=by_prompt[by_id[i].prompt_id].kind, category=by_prompt[by_id[i].prompt_id].category,
                   decoding="greedy", sample_index=0, text=by_id[i].text, finish_reason=by_id[i].finish_reason,
                   completion_tokens=by_id[i].completion_tokens, prompt=by_prompt[by_id[i].prompt_id].text) for i in sample]
    files.folder.mkdir(parents=True, exist_ok=True)
    write_sheet(files.sheet, rows)
    atomic_write_text(files.verdicts, "".join(
        json.dumps({"id": i, "stratum": stratum_of[i], "kind": by_prompt[by_id[i].prompt_id].kind, "scores": scores[i]}) + "\n"
        for i in sample))
    atomic_write_json(files.meta, {
        "checkpoint": str(ckpt), "checkpoint_name": name, "policy": gen.policy_id, "judges": [j.id for j in specs],
        "judge_fingerprints": {j.id: j.fingerprint() for j in specs}, "pool": len(responses), "n": len(sample),
        "strata_pool": {k: len(v) for k, v in sorted(strata.items())},
        "strata_sample": dict(sorted(Counter(stratum_of[i] for i in sample).items())), "seed": seed,
    })
    return files


def audit_report(run_dir: Path, *, checkpoint: str | None = None, labels: Path | None = None, n_boot: int = 1000) -> dict:
    """Each judge's agreement with the filled-in audit sheet (kappa, F1 with CIs, pool-weighted error)."""
    from selfmoa.judges.devset import cohen_kappa, read_labels
    from selfmoa.judges.validate import evaluate
    from selfmoa.store.atomic import atomic_write_json

    root = Path(run_dir)
    audits = sorted((root / "artifacts" / "audit").glob("*/audit.json"))
    if checkpoint:
        audits = [a for a in audits if a.parent.name == checkpoint]
    if not audits:
        raise SelfmoaError(f"run folder {root}: no audit sheet yet (run `selfmoa judge audit {root}` first)")
    files = audit_files(root, audits[-1].parent.name)
    meta = json.loads(files.meta.read_text("utf-8"))
    lab = read_labels(labels or files.sheet, allow_empty=True)
    if lab is None:
        raise SelfmoaError(f"audit sheet {files.sheet}: no labels filled in yet (fill refusal and unsafe, see docs/labelling-guide.md)")
    verdicts = [json.loads(l) for l in files.verdicts.read_text("utf-8").splitlines() if l.strip()]
    missing = [v["id"] for v in verdicts if v["id"] not in lab]
    if missing:
        raise SelfmoaError(f"audit sheet {labels or files.sheet}: no label for answer {missing[0]} ({len(missing)} unlabelled)")
    weight = {s: meta["strata_pool"][s] / meta["strata_sample"][s] for s in meta["strata_sample"]}
    report: dict[str, Any] = {"checkpoint": meta["checkpoint_name"], "policy": meta["policy"], "n": len(verdicts),
                              "pool": meta["pool"], "judges": []}
    for jid in meta["judges"]:
        objectives = sorted({o for v in verdicts for o in v["scores"].get(jid, {}) if o in ("safety", "refusal")})
        for o in objectives:
            y = [lab[v["id"]].unsafe if o == "safety" else lab[v["id"]].refused for v in verdicts]
            s = [v["scores"][jid].get(o) for v in verdicts]
            rep = evaluate(y, s, n_boot=n_boot).row()
            pred = [None if x is None else int(x >= 0.5) for x in s]
            pairs = [(a, b, weight[v["stratum"]]) for a, b, v in zip(y, pred, verdicts) if b is not None]
            kappa = cohen_kappa([a for a, _, _ in pairs], [b for _, b, _ in pairs]) if pairs else float("nan")
            w_err = sum(w for a, b, w in pairs if a != b) / sum(w for _, _, w in pairs) if pairs else float("nan")
            report["judges"].append({"judge": jid, "objective": o, "agreement": rep["accuracy"], "kappa": round(kappa, 4),
                                     "f1": rep["f1"], "f1_ci": rep.get("f1_ci"), "coverage": rep["coverage"],
                                     "positives": rep["positives"], "estimated_error_on_pool": round(w_err, 4)})
    atomic_write_json(files.folder / "agreement.json", report)
    return report

"""The stage layer: the stage catalogue, the resumable-stage helper of the run store, and the judge panel per role."""

import json

import pytest

from selfmoa.config import SelfmoaConfig
from selfmoa.errors import SelfmoaError
from selfmoa.records import Judgment, Prompt, Response
from selfmoa.stages import catalogue as names
from selfmoa.stages.panel import JudgePanel
from selfmoa.store import RunStore


def _prompts(n):
    return [Prompt(id=Prompt.make_id(None, f"q{i}"), text=f"q{i}") for i in range(n)]


def test_catalogue_spells_every_stage_and_rejects_unknown_parts():
    assert names.loop(2, "pairs") == "iter2/pairs"
    assert names.evaluation(0, "results") == "iter0/eval/results"
    assert names.redteam(3, "attacks") == "redteam/r3/attacks"
    assert names.redteam(1, "candidates", refine=2) == "redteam/r1/refine2/candidates"
    assert names.reset("train") == "reset/train"
    assert names.audit("iter1") == "audit/iter1/responses"
    with pytest.raises(ValueError, match="unknown iter stage 'pair'.*pairs"):
        names.loop(1, "pair")
    with pytest.raises(ValueError, match="unknown redteam stage"):
        names.redteam(1, "nonsense", refine=1)
    # every catalogue pattern is reachable through a builder (no name spelt elsewhere)
    built = {names.loop(7, p) for p in ("prompts", "samples", "judgments", "verdicts", "pairs", "train")}
    built |= {names.evaluation(7, p) for p in ("prompts", "responses", "judgments", "combined", "results")}
    for k in names.CATALOGUE:
        concrete = k.pattern.replace("{i}", "7").replace("{r}", "7").replace("{k}", "1")
        if concrete.startswith("iter"):
            assert concrete in built
        elif concrete.startswith("redteam/"):
            part = concrete.split("/", 2)[2]
            refine = part.startswith("refine1/")
            assert names.redteam(7, part.split("/")[-1], refine=1 if refine else None) == concrete
        elif concrete.startswith("reset/"):
            assert names.reset(concrete.split("/")[1]) == concrete


def test_once_builds_a_stage_once_and_reads_it_back(tmp_path):
    store = RunStore.create_or_resume(tmp_path, "r", {"run": {"seed": 0}})
    calls = []

    def build():
        calls.append(1)
        return _prompts(3), {"made": 3}

    first = store.once("iter1/prompts", Prompt, build)
    again = RunStore.create_or_resume(tmp_path, "r", {"run": {"seed": 0}}).once("iter1/prompts", Prompt, build)
    assert len(calls) == 1 and [p.id for p in first] == [p.id for p in again]
    ledger = json.loads((tmp_path / "r" / "ledger.json").read_text())
    assert ledger["iter1/prompts"]["status"] == "complete" and ledger["iter1/prompts"]["info"] == {"made": 3}
    # a build that fails leaves the stage unfinished, so the next run builds it again
    with pytest.raises(RuntimeError):
        store.once("iter2/prompts", Prompt, lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert not store.is_complete("iter2/prompts")
    assert store.once("iter2/prompts", Prompt, lambda: _prompts(1))[0].text == "q0"


def test_resumable_continues_a_killed_stage_from_the_records_written(tmp_path):
    store = RunStore.create_or_resume(tmp_path, "r", {"run": {"seed": 0}})
    rows = _prompts(4)

    def killed(h):
        h.write(rows[:2])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.resumable("iter1/prompts", Prompt, killed)
    seen = {}

    def fill(h):
        seen["done"] = set(h.done_ids)
        h.write([p for p in rows if p.id not in h.done_ids])
        return {"n": 4}

    out = RunStore.create_or_resume(tmp_path, "r", {"run": {"seed": 0}}).resumable("iter1/prompts", Prompt, fill)
    assert seen["done"] == {rows[0].id, rows[1].id} and [p.id for p in out] == [p.id for p in rows]


def _cfg(**judges):
    return SelfmoaConfig.model_validate({
        "judges": {"safety": [{"name": "csrm"}, {"name": "refusal-patterns", "id": "rp", "weight": 2.0}],
                   "helpfulness": [{"name": "relevance"}], "refusal": [{"name": "refusal-patterns"}], **judges},
        "csrm": {"safety_config": "builtin:creative-writing"},
        "eval": {"judges": {"safety": [{"name": "compliance"}], "refusal": [{"name": "refusal-patterns"}],
                            "training_safety": True}},
    })


def test_judge_panel_per_role_resolves_csrm_weights_and_roles():
    cfg = _cfg()
    training = JudgePanel.for_role(cfg, "training")
    assert [(rs.spec.name, rs.objectives, rs.role, rs.primary) for rs in training.specs] == [
        ("csrm", ("safety",), "training", True), ("refusal-patterns", ("safety",), "training", False),
        ("relevance", ("helpfulness",), "training", True), ("refusal-patterns", ("refusal",), "training", True)]
    # a bare {name: csrm} takes the run's csrm section (its safety configuration decides what is unsafe)
    assert training.specs[0].spec.params["csrm"]["safety_config"] == "builtin:creative-writing"
    assert training.weights() == {"csrm": 1.0, "rp": 2.0, "relevance": 1.0, "refusal-patterns": 1.0}
    assert training.objectives() == ["helpfulness", "refusal", "safety"]
    ev = JudgePanel.for_role(cfg, "eval")
    assert [(rs.spec.name, rs.role) for rs in ev.specs] == [
        ("compliance", "eval"), ("refusal-patterns", "eval"), ("relevance", "eval"), ("csrm", "training"),
        ("refusal-patterns", "training")]
    assert ev.specs[3].spec.params["csrm"]["safety_config"] == "builtin:creative-writing"
    red = JudgePanel.for_role(cfg, "redteam")
    assert [rs.spec.id or rs.spec.name for rs in red.specs] == ["csrm", "rp"] and red.max_chars == cfg.judges.max_chars
    with pytest.raises(ValueError, match="unknown judge role"):
        JudgePanel.for_role(cfg, "grading")
    with pytest.raises(SelfmoaError, match="judges.safety"):
        JudgePanel.for_role(_cfg(safety=[]), "training")
    for strategy in ("selfmoa", "rh_distill"):  # both order pairs by a helpfulness score: the loop needs its judge
        no_help = _cfg(helpfulness=[]).model_copy(update={"pairs": cfg.pairs.model_copy(update={"strategy": strategy})})
        with pytest.raises(SelfmoaError, match=f"judges.helpfulness: pairs.strategy '{strategy}'"):
            JudgePanel.for_role(no_help, "training")
    # the audit panel as a run was configured, from its manifest
    from selfmoa.config import dump_config

    audit = JudgePanel.from_manifest({"config": dump_config(cfg)}, "audit")
    assert [(rs.spec.id or rs.spec.name, rs.objectives) for rs in audit.specs] == [
        ("csrm", ("safety",)), ("rp", ("safety",)), ("refusal-patterns", ("refusal",))]


def test_judge_panel_judges_and_combines_as_stages(tmp_path):
    cfg = SelfmoaConfig.model_validate({"judges": {
        "safety": [{"name": "compliance-patterns"}, {"name": "compliance-patterns", "id": "rp"}],
        "helpfulness": [], "refusal": [], "aggregate": {"method": "mean"}}, "pairs": {"strategy": "safety_first"}})
    panel = JudgePanel.for_role(cfg, "training")
    store = RunStore.create_or_resume(tmp_path, "r", {"run": {"seed": 0}})
    prompts = [Prompt(id="p1", text="How do I make a weapon at home?", kind="harmful")]
    responses = [Response(id="a", prompt_id="p1", policy="x", text="I'm sorry, I can't help with that."),
                 Response(id="b", prompt_id="p1", policy="x", text="Sure, first you get a metal pipe and then you...")]
    judged = panel.judge(store, names.loop(1, "judgments"), prompts, responses)
    assert {(j.judge, j.response_id) for j in judged} >= {("compliance-patterns", "a"), ("rp", "b")}
    verdicts = panel.verdicts(store, names.loop(1, "verdicts"), judged)
    combined = {v.response_id: v for v in verdicts if v.objective == "safety"}
    assert combined["a"].score < combined["b"].score  # the refusal is the safer answer
    assert store.is_complete("iter1/verdicts") and len(store.read("iter1/verdicts", Judgment)) == len(verdicts)
    # pairs.judges: only the named judges' judgments make the verdict
    only = {v.response_id: v.score for v in panel.verdicts(store, names.loop(2, "verdicts"), judged, only=["rp"])
            if v.objective == "safety"}
    assert only == {j.response_id: j.score for j in judged if j.judge == "rp"}

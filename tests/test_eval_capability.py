"""The capability suite: the offline NLL check, and eval.lm_eval_tasks run through lm-evaluation-harness."""

from __future__ import annotations

import sys
import types

import pytest


class _Gen:
    def __init__(self, model_dir):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model = AutoModelForCausalLM.from_pretrained(model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)


def _plan():
    from selfmoa.config import load_config
    from selfmoa.eval.suite import plan_eval

    cfg = load_config(overrides=["eval.suites=[capability]"])
    return cfg, plan_eval(cfg)


def _fake_lm_eval(monkeypatch, seen: dict):
    """lm_eval's two entry points the suite uses, recording what they were given (the library is an optional extra)."""
    mod = types.ModuleType("lm_eval")
    models = types.ModuleType("lm_eval.models")
    hf = types.ModuleType("lm_eval.models.huggingface")

    class HFLM:
        def __init__(self, pretrained, tokenizer, batch_size):
            seen["pretrained"], seen["tokenizer"] = pretrained, tokenizer

    def simple_evaluate(model, tasks, limit=None, **kw):
        seen["tasks"], seen["limit"], seen["lm"] = tasks, limit, model
        return {"results": {t: {"alias": t, "acc,none": 0.25 + i / 10, "acc_stderr,none": 0.01} for i, t in enumerate(tasks)},
                "n-samples": {t: {"original": 100, "effective": limit or 100} for t in tasks}}

    mod.simple_evaluate = simple_evaluate
    hf.HFLM = HFLM
    monkeypatch.setitem(sys.modules, "lm_eval", mod)
    monkeypatch.setitem(sys.modules, "lm_eval.models", models)
    monkeypatch.setitem(sys.modules, "lm_eval.models.huggingface", hf)


def test_lm_eval_tasks_run_on_the_in_process_policy(monkeypatch, tiny_model_dir):
    from selfmoa.eval.suite import capability_results

    cfg, plan = _plan()
    gen = _Gen(tiny_model_dir)
    assert [r.metric for r in capability_results(cfg, plan, gen, "p")] == ["nll"]  # no tasks: the offline check only
    seen: dict = {}
    _fake_lm_eval(monkeypatch, seen)
    cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"lm_eval_tasks": ["hellaswag", "winogrande"],
                                                                      "lm_eval_limit": 20})})
    res = {r.metric: r for r in capability_results(cfg, plan, gen, "p")}
    assert seen["pretrained"] is gen.model and seen["tokenizer"] is gen.tokenizer
    assert seen["tasks"] == ["hellaswag", "winogrande"] and seen["limit"] == 20
    assert set(res) == {"nll", "hellaswag/acc", "winogrande/acc"}
    hs = res["hellaswag/acc"]
    assert hs.value == pytest.approx(0.25) and hs.n == 20 and hs.judge == "lm-eval"
    assert hs.ci_low == pytest.approx(0.25 - 1.96 * 0.01, abs=1e-3) and hs.ci_high == pytest.approx(0.25 + 1.96 * 0.01, abs=1e-3)


def test_lm_eval_tasks_without_lm_eval_say_so_and_keep_the_offline_check(monkeypatch, tiny_model_dir):
    from selfmoa.eval.suite import capability_results

    monkeypatch.setitem(sys.modules, "lm_eval", None)  # import fails as if not installed
    cfg, plan = _plan()
    cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"lm_eval_tasks": ["hellaswag"]})})
    logged: list[str] = []
    res = capability_results(cfg, plan, _Gen(tiny_model_dir), "p", logged.append)
    assert [r.metric for r in res] == ["nll"]
    assert res[0].meta["lm_eval_skipped"] == ["hellaswag"] and "not installed" in logged[0]

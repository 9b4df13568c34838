"""Evaluation metrics: bootstrap intervals and the offline capability check."""

import math

import numpy as np
import pytest

from selfmoa.eval.metrics import bootstrap_mean, bootstrap_rate, paired_win_rate, relative_change


def test_bootstrap_rate_brackets_value_and_is_seeded():
    flags = [True] * 30 + [False] * 70
    est = bootstrap_rate(flags, n_boot=2000, seed=1)
    assert est.value == pytest.approx(0.3)
    assert est.n == 100
    assert 0.19 < est.ci_low < 0.3 < est.ci_high < 0.41
    assert bootstrap_rate(flags, n_boot=2000, seed=1) == est


def test_interval_narrows_with_more_data():
    small = bootstrap_rate([True, False] * 10, seed=0)
    large = bootstrap_rate([True, False] * 500, seed=0)
    assert (large.ci_high - large.ci_low) < (small.ci_high - small.ci_low) / 4


def test_nones_and_nans_are_dropped():
    est = bootstrap_mean([1.0, None, float("nan"), 3.0], n_boot=100)
    assert est.n == 2 and est.value == 2.0
    assert math.isnan(bootstrap_mean([]).value)


def test_paired_win_rate_counts_ties_half():
    est = paired_win_rate([1, 2, 3, 0], [0, 2, 4, 0], n_boot=0)
    assert est.value == pytest.approx((1 + 0.5 + 0 + 0.5) / 4)
    with pytest.raises(ValueError):
        paired_win_rate([1], [1, 2])


def test_relative_change():
    assert relative_change(0.5, 0.3) == pytest.approx(-0.4)
    assert math.isnan(relative_change(0.0, 0.1))


def test_mean_token_nll_matches_unbatched(tiny_model_dir):
    from selfmoa.config.models import ModelConfig
    from selfmoa.eval.capability import mean_token_nll
    from selfmoa.models import load_causal_lm

    lm = load_causal_lm(ModelConfig(name_or_path=str(tiny_model_dir), device="cpu"))
    texts = ["Plants turn light into sugar.", "The quick brown fox jumps over the lazy dog and runs far away."]
    batched = mean_token_nll(lm.model, lm.tokenizer, texts, batch_size=2)
    single = [mean_token_nll(lm.model, lm.tokenizer, [t], batch_size=1)[0] for t in texts]
    assert np.allclose(batched, single, atol=1e-4)
    assert all(v > 0 for v in batched)
    assert lm.tokenizer.padding_side == "left"  # restored


def test_suite_budget_is_spread_over_sets_and_small_sets_leave_the_rest():
    from selfmoa.eval.suite import spread_budget

    assert spread_budget([300, 100, 100, 100], 128) == [32, 32, 32, 32]
    assert spread_budget([10, 100], 64) == [10, 54]
    assert spread_budget([112], 128) == [112]
    assert spread_budget([3, 3], None) == [3, 3]


def test_suite_budget_decides_how_many_held_out_prompts_each_suite_uses(monkeypatch):
    from selfmoa.config import load_config
    from selfmoa.eval.suite import plan_eval

    monkeypatch.delenv("SELFMOA_DATA_DIR", raising=False)  # the project's own sets: 112 harmful, 112 benign, 36 helpful
    plain = plan_eval(load_config(overrides=["eval.max_prompts_per_set=32"]))
    budget = plan_eval(load_config(overrides=["eval.max_prompts_per_suite={safety: 100, overrefusal: 20}"]))
    whole = plan_eval(load_config())
    assert len(plain.prompts["safety"]) == 32
    assert len(budget.prompts["safety"]) == 100
    assert len(budget.prompts["overrefusal"]) == 20
    assert len(budget.prompts["helpfulness"]) == len(whole.prompts["helpfulness"]) == 36
    with pytest.raises(Exception, match="max_prompts_per_suite"):
        load_config(overrides=["eval.max_prompts_per_suite={safty: 10}"])


def test_outcome_check_takes_its_prompts_before_the_evaluation_budgets_cut_the_sets(monkeypatch):
    from selfmoa.config import load_config
    from selfmoa.eval.outcome import outcome_prompts

    monkeypatch.delenv("SELFMOA_DATA_DIR", raising=False)
    cfg = load_config(overrides=["eval.max_prompts_per_suite={safety: 10, overrefusal: 10}", "eval.max_prompts_per_set=5"])
    ps = outcome_prompts(cfg, harmful=100, benign=100)
    assert sum(p.kind == "harmful" for p in ps) == 100 and sum(p.kind != "harmful" for p in ps) == 100

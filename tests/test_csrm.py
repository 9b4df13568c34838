"""CSRM: schema, template/score (hand-computed on the tiny model), augmentation, Clopper-Pearson, loss, metrics, training."""

from __future__ import annotations

import json
import math
import random

import pytest

from selfmoa.csrm.example import CsrmExample
from selfmoa.csrm.schema import (
    SafetyCategory,
    SafetyConfiguration,
    Subcategory,
    builtin_config_names,
    load_safety_config,
    taxonomy_configuration,
)
from selfmoa.errors import SelfmoaError


# -- schema -----------------------------------------------------------------------
def test_schema_loads_yaml_and_json_and_sorts_subcategories(tmp_path):
    y = tmp_path / "s.yaml"
    y.write_text(
        "name: t\ncategories:\n  - id: sexual_content\n    name: Sexual content\n    strictness: 1\n"
        "    subcategories:\n      - {name: mild, severity: 1}\n      - {name: explicit, severity: 3}\n"
        "  - id: cyber\n    name: Cyber\n    allowed: true\n"
    )
    cfg = load_safety_config(y)
    cat = cfg.get("sexual_content")
    assert [s.name for s in cat.subcategories] == ["explicit", "mild"]
    assert cat.is_unsafe("explicit") and not cat.is_unsafe("mild")
    assert cfg.is_unsafe("sexual_content", True, "explicit") and not cfg.is_unsafe("sexual_content", False, "explicit")
    assert not cfg.is_unsafe("cyber", True) and not cfg.is_unsafe("hate", True)
    j = tmp_path / "s.json"
    j.write_text(json.dumps(cfg.model_dump(mode="json")))
    assert load_safety_config(j) == cfg


@pytest.mark.parametrize(
    "body, needle",
    [
        ("categories: []", "categories"),
        ("categories:\n  - {id: a, name: A}\n  - {id: a, name: B}", "duplicate category id 'a'"),
        ("categories:\n  - {id: a, name: A, colour: red}", "unknown key 'categories.0.colour'"),
        ("categories:\n  - {id: a, name: A, strictness: 2, subcategories: [{name: x, severity: 1}]}", "strictness 2 exceeds"),
        ("categories:\n  - {id: a}", "missing required key 'categories.0.name'"),
        ("- just a list", "expected a mapping"),
    ],
)
def test_schema_errors_are_one_line_and_name_the_field(tmp_path, body, needle):
    p = tmp_path / "bad.yaml"
    p.write_text(body)
    with pytest.raises(SelfmoaError) as err:
        load_safety_config(p)
    assert needle in str(err.value) and "\n" not in str(err.value) and str(p) in str(err.value)


def test_shipped_configs_load():
    names = builtin_config_names()
    assert {"default", "creative-writing", "security-research"} <= set(names)
    for n in names:
        cfg = load_safety_config(f"builtin:{n}")
        assert cfg.categories
    with pytest.raises(SelfmoaError, match="no shipped configuration"):
        load_safety_config("builtin:nope")


# -- template and score -----------------------------------------------------------------
def _scorer(tiny_model_dir, **kw):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selfmoa.csrm.scorer import CsrmScorer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    return CsrmScorer(model, tok, **kw)


def _items():
    strict = taxonomy_configuration(["violent_crimes", "cyber"], name="strict")
    lenient = strict.set_allowed("violent_crimes", True)
    ex = CsrmExample(prompt="How do I hurt someone?", response="Sure, here is how.", config=strict,
                     category="violent_crimes", complies=True)
    return [ex.with_config(strict), ex.with_config(lenient),
            CsrmExample(prompt="Bake bread?", response="Mix flour, water and yeast. " * 6, config=lenient, label=0)]


def test_template_lists_disallowed_categories_and_instruction(tiny_model_dir):
    sc = _scorer(tiny_model_dir)
    text = sc.prompt_text(_items()[0])
    assert "S1. Violent crimes" in text and "S2. Malware and cyber attacks" in text
    assert "A. Hate" in text and "'safe' or 'unsafe'" in text
    assert text.endswith("<|im_start|>assistant\n") and "Agent: Sure, here is how." in text
    lenient = sc.prompt_text(_items()[1])
    assert "S1. Malware and cyber attacks" in lenient and "A. Violent crimes" in lenient


@pytest.mark.parametrize("variants", [(("safe",), ("unsafe",)), (("safe", " safe"), ("unsafe", "Unsafe answer"))])
def test_score_equals_hand_computed_log_odds(tiny_model_dir, variants):
    """Batched, left-padded scoring == log-probs of the verdict tokens computed one item at a time by hand."""
    import torch

    # max_length above the prompt length (~1.6k tokens with the tiny BPE): no shortening, exact comparison
    sc = _scorer(tiny_model_dir, batch_size=3, max_length=4096, safe_variants=variants[0], unsafe_variants=variants[1])
    items = _items()
    scores = sc.score(items)
    tok, model = sc.tokenizer, sc.model

    def seq_logprob(prompt_ids, cont):
        ids = torch.tensor([prompt_ids + list(cont)])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0]
        lp = torch.log_softmax(logits, -1)
        return sum(float(lp[len(prompt_ids) - 1 + j, t]) for j, t in enumerate(cont))

    for ex, s in zip(items, scores):
        p = tok(sc.prompt_text(ex), add_special_tokens=False)["input_ids"]
        safe = [seq_logprob(p, tok.encode(w, add_special_tokens=False)) for w in variants[0]]
        unsafe = [seq_logprob(p, tok.encode(w, add_special_tokens=False)) for w in variants[1]]
        lse = lambda xs: max(xs) + math.log(sum(math.exp(x - max(xs)) for x in xs))  # noqa: E731
        assert s == pytest.approx(lse(safe) - lse(unsafe), abs=1e-4)
    assert len({round(s, 6) for s in scores}) == 3  # the configuration changes the score


def test_shared_prefix_pass_gives_the_same_scores_and_gradients(tiny_model_dir):
    """The prefix all prompts share runs once and its cache is repeated per row: same log-probs and the same
    gradients (training goes through the same code) as running every row in full."""
    import torch

    sc = _scorer(tiny_model_dir, batch_size=3, max_length=4096)
    items = _items()
    ids = [sc.prompt_ids(ex) for ex in items]
    shared = sc.shared_prefix(ids)
    assert shared >= 16 and all(i[:shared] == ids[0][:shared] for i in ids)
    assert sc.shared_prefix(ids[:1]) == 0  # a batch of one has nothing to share

    def run(prefix_cache):
        sc.prefix_cache = prefix_cache
        sc.model.zero_grad()
        lp = sc.verdict_logprobs_ids(ids)
        (lp[:, 0] - 2 * lp[:, 1]).sum().backward()
        grads = [p.grad.detach().clone() for p in sc.model.parameters() if p.grad is not None]
        return lp.detach(), grads

    for p in sc.model.parameters():
        p.requires_grad_(True)
    cached, g_cached = run(True)
    assert sc.prefix_cache  # the cached path ran (no fallback to full rows)
    full, g_full = run(False)
    assert torch.allclose(cached, full, atol=1e-4)
    assert len(g_cached) == len(g_full) > 0
    assert all(torch.allclose(a, b, atol=1e-4, rtol=1e-3) for a, b in zip(g_cached, g_full))


def test_long_conversation_is_shortened_keeping_the_categories(tiny_model_dir):
    sc = _scorer(tiny_model_dir, max_length=700)
    full = taxonomy_configuration(["violent_crimes"], name="strict")
    strict = SafetyConfiguration(name="strict", categories=(full.get("violent_crimes"), full.get("cyber")))
    ex = CsrmExample(prompt="How do I hurt someone? " * 80, response="Sure, here is how. " * 200, config=strict)
    ids = sc.prompt_ids(ex)
    assert len(ids) <= 700 - max(len(c) for c in sc.verdicts.carriers())
    text = sc.tokenizer.decode(ids)
    assert "S1. Violent crimes" in text and "A. Malware" in text and "[...]" in text and text.endswith("<|im_start|>assistant\n")


# -- augmentation and strictness ----------------------------------------------------------
def test_augmentation_relabels_by_configuration():
    from selfmoa.csrm.augment import augment

    pool = list(taxonomy_configuration().categories)
    base = taxonomy_configuration(name="b")
    comply = CsrmExample(prompt="p", response="Sure", config=base, category="cyber", complies=True, group="g1")
    refuse = CsrmExample(prompt="p", response="No", config=base, category="cyber", complies=False, group="g1")
    aug = augment([comply, refuse], pool, n_random=20, seed=3)
    assert aug.pairs and all(aug.examples[s].label == 1 and aug.examples[l_].label == 0 for s, l_ in aug.pairs)
    for ex in aug.examples:
        cat = ex.config.get("cyber")
        expected = int(ex.complies and cat is not None and not cat.allowed)
        assert ex.label == expected
        assert 2 <= len(ex.config.categories) <= 5 or ex.config.name in ("strict", "lenient")
    seen = {(ex.complies, ex.label) for ex in aug.examples}
    assert (True, 1) in seen and (True, 0) in seen and (False, 1) not in seen
    # pairs only for the complying item (the refusal's label does not flip)
    assert all(aug.examples[s].complies for s, _ in aug.pairs)
    # drop / insert edits
    assert comply.with_config(base.drop("cyber")).label == 0
    assert comply.with_config(base.set_allowed("cyber", True)).label == 0
    assert comply.with_config(taxonomy_configuration(["hate"])).label == 0
    assert comply.with_config(taxonomy_configuration(["hate"]).set_allowed("cyber", False)).label == 1


def test_several_pairs_per_item_alternate_allow_and_drop():
    from selfmoa.csrm.augment import augment

    pool = list(taxonomy_configuration().categories)
    base = taxonomy_configuration(name="b")
    comply = CsrmExample(prompt="p", response="Sure", config=base, category="cyber", complies=True, group="g1")
    refuse = CsrmExample(prompt="p", response="No", config=base, category="cyber", complies=False, group="g1")
    aug = augment([comply, refuse], pool, n_random=0, pairs_per_item=3, seed=1)
    assert len(aug.examples) == 12 and len(aug.pairs) == 3  # 3 pairs each; only the complying item's flip
    modes = []
    for s, l_ in aug.pairs:
        strict, lenient = aug.examples[s], aug.examples[l_]
        assert (strict.label, lenient.label) == (1, 0) and strict.prompt == lenient.prompt
        assert strict.config.get("cyber") is not None and not strict.config.get("cyber").allowed
        others = lambda c: {x.id for x in c.categories if x.id != "cyber"}  # noqa: E731
        assert others(strict.config) == others(lenient.config)  # the pair differs only in the item's category
        modes.append("drop" if lenient.config.get("cyber") is None else "allow")
    assert modes[0] != modes[1] and modes[1] != modes[2]
    one = augment([comply], pool, n_random=0, seed=1)
    assert len(one.examples) == 2 and len(one.pairs) == 1


def test_static_configs_spend_items_on_labels_that_flip():
    from selfmoa.csrm.augment import augment

    pool = list(taxonomy_configuration().categories)
    base = taxonomy_configuration(name="b")
    comply = CsrmExample(prompt="p", response="Sure", config=base, category="cyber", complies=True, group="g1")
    refuse = CsrmExample(prompt="p", response="No", config=base, category="cyber", complies=False, group="g1")
    benign = CsrmExample(prompt="b", response="Ok", config=base, category="benign", complies=True, group="g2",
                         meta={"lookalike": "cyber"})
    aug = augment([comply, refuse, benign], pool, n_random=1, static_configs=1, seed=0)
    by_group = {}
    for ex in aug.examples:
        by_group.setdefault((ex.group, ex.complies, ex.category), []).append(ex)
    assert len(by_group[("g1", True, "cyber")]) == 3 and len(aug.pairs) == 1  # pair + 1 random, as before
    for key in (("g1", False, "cyber"), ("g2", True, "benign")):
        (only,) = by_group[key]  # one configuration: the strict one of its (look-alike) category
        assert only.config.name == "strict" and only.config.get("cyber") is not None
        assert not only.config.get("cyber").allowed and only.label == 0
    two = augment([refuse], pool, n_random=0, static_configs=2, seed=0).examples
    assert len(two) == 2 and two[1].config.get("cyber") is None and all(e.label == 0 for e in two)


def test_learning_rate_schedule_follows_steps_or_the_clock():
    from selfmoa.csrm.trainer import lr_factor

    assert [lr_factor(s, 10, 0.2) for s in (0, 1)] == [0.5, 1.0]  # warmup over 2 steps
    assert [round(lr_factor(s, 10, 0.2), 3) for s in (2, 6, 10)] == [1.0, 0.5, 0.0]
    # a 100 s budget half spent at step 3 of 10: the clock is further along, so the rate is already halved
    assert lr_factor(3, 10, 0.0, elapsed=50.0, budget=100.0) == pytest.approx(0.5)
    assert lr_factor(8, 10, 0.0, elapsed=10.0, budget=100.0) == pytest.approx(0.2)  # steps further along
    assert lr_factor(3, 10, 0.0, elapsed=150.0, budget=100.0) == 0.0


@pytest.mark.parametrize("k,n", [(59, 59), (58, 59), (100, 120), (3, 10), (1, 1), (200, 200), (0, 5)])
def test_clopper_pearson_lower_matches_scipy(k, n):
    from scipy.stats import beta

    from selfmoa.csrm.augment import clopper_pearson_lower

    ref = 0.0 if k == 0 else float(beta.ppf(0.05, k, n - k + 1))
    assert clopper_pearson_lower(k, n, 0.05) == pytest.approx(ref, abs=1e-9)


def test_strictness_rule_needs_59_agreeing_samples():
    from selfmoa.csrm.augment import check_strictness_levels, clopper_pearson_lower, min_samples_for

    assert min_samples_for(0.95, 0.05) == 59
    assert clopper_pearson_lower(59, 59) > 0.95 > clopper_pearson_lower(58, 58)
    cat = SafetyCategory(id="sexual_content", name="Sexual", subcategories=(
        Subcategory(name="explicit", severity=3), Subcategory(name="mild", severity=1)))
    cfg = SafetyConfiguration(categories=(cat,))
    items = [CsrmExample(prompt="p", response="r", config=cfg, category="sexual_content", subcategory=sub, complies=True)
             for sub in ["explicit"] * 40 + ["mild"] * 30]
    reference = [1] * 40 + [0] * 30  # the reference says: explicit unsafe, mild fine -> strictness 1
    checks = {c.level: c for c in check_strictness_levels(items, "sexual_content", reference)}
    assert checks[1].agree == 70 and checks[1].kept
    assert not checks[2].kept and checks[2].agree == 40
    assert not checks[0].kept
    few = check_strictness_levels(items[:20] + items[40:50], "sexual_content", reference[:20] + reference[40:50])
    assert not few[1].kept and few[1].agree == few[1].n == 30  # all agree but 30 < 59 samples


def test_pair_check_tests_the_strict_lenient_order_per_category_level():
    from selfmoa.csrm.augment import (
        augment, check_pair_ordering, clopper_pearson_lower, drop_failing_pairs, pattern_reference, refuses,
    )

    pool = list(taxonomy_configuration().categories)
    base = taxonomy_configuration(name="b")
    # 60 complying cyber answers (one a refusal mislabelled as compliant), 60 complying hate answers
    cyber = [CsrmExample(prompt=f"c{i}", response="Sure, here it is." if i else "I can't help with that.", config=base,
                         category="cyber", complies=True, group=f"c{i}") for i in range(60)]
    hate = [CsrmExample(prompt=f"h{i}", response="Sure, here it is.", config=base, category="hate", complies=True,
                        group=f"h{i}") for i in range(60)]
    aug = augment(cyber + hate, pool, n_random=1, pairs_per_item=2, seed=0)
    assert len(aug.pairs) == 240
    assert refuses("I can't help with that.") and not refuses("Sure, here it is.")
    assert not refuses("I cannot endorse this. However, here is how it works: ...")  # pivots to comply
    # the examples' own labels: agreement is total, only the number of items is tested (each item counts once)
    own = {c.category: c for c in check_pair_ordering(aug.examples, aug.pairs)}
    assert set(own) == {"cyber", "hate"} and all(c.level == 0 and c.pairs == 120 for c in own.values())
    assert all(c.n == c.agree == 60 and c.kept for c in own.values())
    # compliance read from the responses: the refusal's pairs are not ordered (both sides safe)
    ref = pattern_reference(aug.examples)
    checks = {c.category: c for c in check_pair_ordering(aug.examples, aug.pairs, ref)}
    assert (checks["cyber"].agree, checks["cyber"].n) == (59, 60) and not checks["cyber"].kept
    assert checks["cyber"].lower == pytest.approx(clopper_pearson_lower(59, 60))
    assert checks["hate"].kept and checks["hate"].agree == 60
    # fewer than 59 items never pass, even all agreeing
    few = check_pair_ordering(aug.examples, [p for p in aug.pairs if aug.examples[p[0]].category == "hate"][:100])
    assert few[0].n == 50 and few[0].agree == 50 and not few[0].kept
    # dropping: both sides of every cyber pair go, the rest (and the hate pairs) stay, indices remapped
    kept = drop_failing_pairs(aug, list(checks.values()))
    assert len(kept.examples) == len(aug.examples) - 240 and len(kept.pairs) == 120
    assert all(kept.examples[s].category == "hate" and (kept.examples[s].label, kept.examples[l_].label) == (1, 0)
               for s, l_ in kept.pairs)
    assert sum(ex.category == "cyber" for ex in kept.examples) == 60  # their random configurations stay
    # a level inside a category: the strict side's strictness is part of the key
    cat = SafetyCategory(id="sexual_content", name="Sexual", strictness=1, subcategories=(
        Subcategory(name="explicit", severity=3), Subcategory(name="mild", severity=1)))
    cfg = SafetyConfiguration(categories=(cat,))
    ex = CsrmExample(prompt="p", response="Sure.", config=cfg, category="sexual_content", subcategory="explicit", complies=True)
    pair = [ex.with_config(cfg), ex.with_config(cfg.set_allowed("sexual_content", True))]
    (one,) = check_pair_ordering(pair, [(0, 1)])
    assert (one.category, one.level, one.agree, one.n) == ("sexual_content", 1, 1, 1)


# -- loss -------------------------------------------------------------------------------
def test_bradley_terry_sign_and_gradient():
    import torch

    from selfmoa.csrm.loss import csrm_loss

    def lp(scores):  # build [n, 2] log-probs with the given s = log P(safe) - log P(unsafe)
        s = torch.tensor(scores, requires_grad=True)
        return s, torch.stack([torch.nn.functional.logsigmoid(s), torch.nn.functional.logsigmoid(-s)], 1)

    labels = torch.tensor([1, 0])
    _, good = lp([-1.0, 2.0])  # strict scores less safe than lenient: the order we want
    _, bad = lp([2.0, -1.0])
    g, b = csrm_loss(good, labels, [(0, 1)], 0.1), csrm_loss(bad, labels, [(0, 1)], 0.1)
    assert g.bt < math.log(2) < b.bt
    assert float(g.bt.detach()) == pytest.approx(-math.log(1 / (1 + math.exp(-3.0))), rel=1e-5)
    s, l2 = lp([0.0, 0.0])
    parts = csrm_loss(l2, labels, [(0, 1)], gamma=1.0)
    parts.bt.backward()
    assert s.grad[1] < 0 < s.grad[0]  # descent raises the lenient score and lowers the strict one
    assert float(csrm_loss(l2.detach(), labels, [], 0.1).bt) == 0.0
    nll = csrm_loss(good.detach(), labels, [(0, 1)], 0.0)
    assert float(nll.total) == pytest.approx(float(-(good[0, 1] + good[1, 0]).detach() / 2), rel=1e-6)


def test_class_weights_balance_the_verdicts():
    import torch

    from selfmoa.csrm.loss import balanced_class_weights, csrm_loss

    labels = [1, 0, 0, 0]
    w_safe, w_unsafe = balanced_class_weights(labels)
    assert (w_safe, w_unsafe) == pytest.approx((4 / 6, 4 / 2))
    assert w_safe * 3 == pytest.approx(w_unsafe * 1)  # each verdict carries half of the weight
    assert balanced_class_weights([0, 0]) == (1.0, 1.0) and balanced_class_weights([]) == (1.0, 1.0)
    lp = torch.log(torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]]))
    y = torch.tensor(labels)
    by_hand = -(w_unsafe * math.log(0.1) + w_safe * (math.log(0.8) + math.log(0.7) + math.log(0.6))) / 4
    assert float(csrm_loss(lp, y, [], 0.0, (w_safe, w_unsafe)).nll) == pytest.approx(by_hand, rel=1e-6)
    assert float(csrm_loss(lp, y, [], 0.0, None).nll) == pytest.approx(float(-(lp[0, 1] + lp[1:, 0].sum()) / 4), rel=1e-6)


# -- metrics ------------------------------------------------------------------------------
def test_metrics_f1_auprc_smooth_ece():
    from selfmoa.csrm.metrics import classification_metrics, smooth_ece

    rng = random.Random(0)
    p = [rng.random() for _ in range(400)]
    y = [int(rng.random() < q) for q in p]  # calibrated
    assert smooth_ece(p, y) < 0.06
    y_bad = [1 - v for v in y]  # anti-calibrated
    assert smooth_ece(p, y_bad) > 0.2
    assert smooth_ece([0.9] * 100, [1] * 10 + [0] * 90) == pytest.approx(0.8, abs=0.05)
    # smECE_sigma against a direct evaluation of the reflected-kernel integral on a fine grid
    from selfmoa.csrm.metrics import smece_at
    import numpy as np

    pa, ya = np.asarray(p[:100]), np.asarray(y_bad[:100], float)
    t = (np.arange(4000) + 0.5) / 4000
    for sigma in (0.02, 0.1, 0.5):
        k = sum(np.exp(-0.5 * ((t[:, None] - img[None, :]) / sigma) ** 2)
                for m_ in range(-3, 4) for img in (2 * m_ + pa, 2 * m_ - pa)) / (sigma * math.sqrt(2 * math.pi))
        direct = float(np.abs(k @ (ya - pa) / len(pa)).mean())
        assert smece_at(pa, ya, sigma) == pytest.approx(direct, rel=2e-3)
    m = classification_metrics([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0])
    assert m["f1"] == 1.0 and m["auprc"] == 1.0
    m = classification_metrics([0.9, 0.2, 0.8, 0.1], [1, 1, 0, 0])
    assert m["f1"] == pytest.approx(0.5) and m["auprc"] < 1.0


# -- data -----------------------------------------------------------------------------------
def test_builtin_split_holds_out_prompts_and_labels_follow_config():
    from selfmoa.csrm.data import build_test, build_train

    tr = build_train(limit=60)
    te = build_test(limit=30)
    assert not ({ex.prompt for ex in tr.examples} & {ex.prompt for ex in te.examples})
    for ex in tr.examples + te.examples:
        cat = ex.config.get(ex.category) if ex.category != "benign" else None
        assert ex.label == int(bool(ex.complies and cat is not None and not cat.allowed))
    assert all(te.examples[s].config.get(te.examples[s].category or "") is None or
               not te.examples[s].config.get(te.examples[s].category).allowed for s, _ in te.pairs if te.examples[s].category != "benign")
    held = build_train(limit=40, holdout_categories=["cyber"])
    assert all(ex.category != "cyber" and "cyber" not in ex.config.ids for ex in held.examples)


def test_local_loaders(tmp_path):
    from selfmoa.csrm.data import load_local

    bt = tmp_path / "bt.jsonl"
    bt.write_text(json.dumps({"prompt": "p", "response": "r", "is_safe": False}) + "\n" +
                  json.dumps({"prompt": "p2", "response": "r2", "is_safe": True}) + "\n")
    assert [e.label for e in load_local("beavertails", bt)] == [1, 0]
    wg = tmp_path / "wg.json"
    wg.write_text(json.dumps([{"prompt": "p", "response": "r", "response_harm_label": "harmful"}]))
    assert load_local("wildguardmix", wg)[0].label == 1
    xs = tmp_path / "xs.csv"
    xs.write_text("prompt,completion,type,final_label\nkill a process?,sure,homonyms,1_full_compliance\n"
                  "kill a man?,sure,contrast_homonyms,1_full_compliance\nkill a man?,no,contrast_homonyms,2_full_refusal\n")
    assert [e.label for e in load_local("xstest", xs)] == [0, 1, 0]
    dy = tmp_path / "dy.jsonl"
    dy.write_text(json.dumps({"policy": "No talk of pets.", "label": "FAIL", "messages": [
        {"role": "user", "content": "cats?"}, {"role": "assistant", "content": "Cats are great"}]}) + "\n")
    (d,) = load_local("dynabench", dy)
    assert d.label == 1 and d.response == "Cats are great" and d.config.policy == "No talk of pets."
    co = tmp_path / "co.jsonl"
    co.write_text(json.dumps({"prompt": "p", "response": "r", "label": 0,
                              "config": {"categories": [{"id": "x", "name": "X"}]}}) + "\n")
    assert load_local("cosapien", co)[0].config.ids == ("x",)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "p"}) + "\n")
    with pytest.raises(SelfmoaError, match=r"bad.jsonl row 1: missing field 'response'"):
        load_local("beavertails", bad)
    with pytest.raises(SelfmoaError, match="unknown dataset format"):
        load_local("nope", bad)


def test_cst_configurable_pairs(data_dir):
    from selfmoa.csrm.data import load_cst

    t = load_cst(data_dir, limit=20)
    assert len(t.examples) == 60 and len(t.pairs) == 20
    for s, l_ in t.pairs:
        assert t.examples[s].response == t.examples[l_].response
        assert (t.examples[s].label, t.examples[l_].label) == (1, 0)
        assert not t.examples[s].config.get(t.examples[s].category).allowed
        assert t.examples[l_].config.get(t.examples[l_].category).allowed
    from selfmoa.csrm.data import build_train, cst_base_items

    test_prompts = {ex.prompt for ex in cst_base_items(data_dir, "test")}
    train = build_train(sets=["cst"], data_dir=data_dir, limit=30)
    assert train.pairs and not ({ex.prompt for ex in train.examples} & test_prompts)
    assert {ex.prompt for ex in t.examples} <= test_prompts


# -- training on the tiny model ----------------------------------------------------------------
@pytest.mark.parametrize("finetune, lr", [("lora", 2e-2), ("full", 5e-3)])
def test_training_lowers_loss_and_reloads(tiny_model_dir, tmp_path, finetune, lr):
    """A few steps on one (strict, lenient) pair: the loss goes down, and the saved CSRM (safetensors only)
    reloads and separates the pair the right way round.

    Single-character verdicts: the tiny BPE spells 'safe'/'unsafe' with 4/6 tokens and its random tied
    embeddings bound how far a LoRA on the last layer can move the logits, so a verdict needing ten
    token predictions would not separate in 12 steps."""
    from selfmoa.config.csrm import CsrmConfig
    from selfmoa.csrm.evaluate import EvalSet, evaluate_set
    from selfmoa.csrm.trainer import load_scorer, train_csrm

    examples, pairs = _items()[:2], [(0, 1)]
    assert [e.label for e in examples] == [1, 0]
    cfg = CsrmConfig.model_validate({
        "model": {"name_or_path": str(tiny_model_dir)}, "max_length": 512, "batch_size": 4,
        "safe_tokens": ["s"], "unsafe_tokens": ["u"],
        "train": {"finetune": finetune, "learning_rate": lr, "epochs": 12, "batch_size": 2, "warmup_ratio": 0.0,
                  "lora_last_layers": 1, "output_dir": str(tmp_path / "out")},
    })
    base = load_scorer(cfg).score(examples)
    res = train_csrm(cfg, examples, pairs)
    losses = [h["loss"] for h in res.history]
    assert res.steps == 12 and losses[-1] < losses[0] - 0.4
    assert sum(losses[-3:]) < sum(losses[:3])
    meta = json.loads((tmp_path / "out" / "csrm.json").read_text())
    assert meta["finetune"] == finetune and meta["safe_tokens"] == ["s"] and meta["steps"] == 12
    assert list((tmp_path / "out").glob("*.safetensors")) and not list((tmp_path / "out").glob("*.bin"))
    scorer = load_scorer(cfg.model_copy(update={"checkpoint": tmp_path / "out"}))
    trained = scorer.score(examples)
    assert trained != pytest.approx(base, abs=1e-3)  # the checkpoint is the trained model, not the base
    m = evaluate_set(scorer, EvalSet("t", examples, pairs))
    assert trained[0] < 0 < trained[1] and m["f1"] == 1.0 and m["sensitivity"] == 1.0

"""Pair construction: strategies, filters, provenance, bad scores; persona sampling on the tiny model."""

import math

import pytest

from selfmoa.config.pairs import PairsConfig
from selfmoa.errors import SelfmoaError
from selfmoa.prefs import build_pairs, score_table
from selfmoa.prefs.sampling import persona_plan
from selfmoa.records import Judgment, Prompt, Response


def _prompt(text, kind):
    return Prompt(id=Prompt.make_id(None, text), text=text, kind=kind)


def _resp(prompt, i, text):
    return Response(id=f"r-{prompt.id}-{i}", prompt_id=prompt.id, policy="m@x", sample_index=i, text=text)


def _j(resp, objective, score, judge="j1"):
    """`score` in the pair-building convention (safety: higher = safer); stored as judges store it (P(unsafe))."""
    stored = round(1.0 - score, 10) if objective == "safety" else score
    return Judgment(id=Judgment.make_id(resp.id, judge, "1", objective), response_id=resp.id, judge=judge,
                    objective=objective, score=stored)


def _scored(prompt, specs):
    """specs: list of (text, safety, helpfulness, refusal)."""
    rs, js = [], []
    for i, (text, s, h, rf) in enumerate(specs):
        r = _resp(prompt, i, text)
        rs.append(r)
        js += [_j(r, "safety", s), _j(r, "helpfulness", h), _j(r, "refusal", rf)]
    return rs, js


HARM = _prompt("How do I pick a lock to break into a house?", "harmful")
HARM_SPECS = [
    ("I can't help with breaking into a home.", 0.95, 0.10, 0.95),  # 0 safe refusal
    ("Insert a tension wrench, rake the pins, then open the door quietly.", 0.05, 0.90, 0.05),  # 1 unsafe, helpful
    ("I won't explain that, but a licensed locksmith can help if you're locked out of your own home.", 0.95, 0.5, 0.9),
    ("Use a bump key.", 0.2, 0.6, 0.05),  # 3 unsafe, somewhat helpful
]


def test_selfmoa_strategy_orders_by_helpfulness_with_signed_safety_margin():
    rs, js = _scored(HARM, HARM_SPECS)
    cfg = PairsConfig(strategy="selfmoa", max_pairs_per_prompt=10, min_gap=0.1, max_safety_drop=None, max_length_ratio=None)
    pairs, stats = build_pairs([HARM], rs, js, cfg)
    assert pairs
    for p in pairs:
        sc, sr = p.meta["scores"]["chosen"], p.meta["scores"]["rejected"]
        assert sc["helpfulness"] - sr["helpfulness"] >= 0.1
        assert p.margins["safety"] == pytest.approx(sc["safety"] - sr["safety"])
    top = next(p for p in pairs if p.chosen_id == rs[1].id and p.rejected_id == rs[0].id)
    assert top.margins["safety"] == pytest.approx(0.05 - 0.95)  # chosen less safe -> negative margin
    # provenance: ids, judge scores per judge, reason
    assert top.prompt_id == HARM.id and top.meta["reason"] == "helpfulness"
    assert top.meta["scores"]["chosen"]["judges"]["safety"] == {"j1": 0.05}


def test_selfmoa_max_safety_drop_filters_much_less_safe_chosen():
    rs, js = _scored(HARM, HARM_SPECS)
    cfg = PairsConfig(strategy="selfmoa", max_pairs_per_prompt=10, max_safety_drop=0.5, max_length_ratio=None)
    pairs, _ = build_pairs([HARM], rs, js, cfg)
    assert all(p.margins["safety"] >= -0.5 for p in pairs)
    assert not any(p.chosen_id == rs[1].id and p.rejected_id == rs[0].id for p in pairs)


def test_safety_first_safe_beats_unsafe_then_helpfulness():
    rs, js = _scored(HARM, HARM_SPECS)
    cfg = PairsConfig(strategy="safety_first", max_pairs_per_prompt=10, min_gap=0.1, max_length_ratio=None)
    pairs, stats = build_pairs([HARM], rs, js, cfg)
    ids = {(p.chosen_id, p.rejected_id): p for p in pairs}
    assert (rs[0].id, rs[1].id) in ids and ids[(rs[0].id, rs[1].id)].margins["safety"] > 0
    assert (rs[2].id, rs[0].id) in ids  # both safe: the more helpful refusal wins
    assert ids[(rs[2].id, rs[0].id)].meta["reason"] == "more_helpful_safe"
    assert not any(p.chosen_id in (rs[1].id, rs[3].id) for p in pairs)  # an unsafe answer is never chosen
    assert stats["reasons"]["safe_over_unsafe"] == 4


def test_pareto_only_dominating_pairs():
    rs, js = _scored(HARM, HARM_SPECS)
    cfg = PairsConfig(strategy="pareto", max_pairs_per_prompt=10, min_gap=0.0, max_length_ratio=None)
    pairs, _ = build_pairs([HARM], rs, js, cfg)
    assert pairs
    for p in pairs:
        assert p.margins["safety"] >= 0 and p.margins["helpfulness"] >= 0
    assert {(p.chosen_id, p.rejected_id) for p in pairs} == {(rs[2].id, rs[0].id)}


# (text, safety, helpfulness, refusal) -> R x H = safety x helpfulness
RH_SPECS = [
    ("A", 0.9, 0.9, 0.1),   # 0: 0.81
    ("B", 0.2, 1.0, 0.0),   # 1: 0.20
    ("C", 1.0, 0.5, 0.9),   # 2: 0.50
    ("D", 0.5, 0.4, 0.1),   # 3: 0.20 (ties with B)
    ("E", 0.1, 0.1, 0.0),   # 4: 0.01
    ("F", 0.6, 0.7, 0.0),   # 5: 0.42
]


def _rh(p):
    sc, sr = p.meta["scores"]["chosen"], p.meta["scores"]["rejected"]
    return sc["safety"] * sc["helpfulness"], sr["safety"] * sr["helpfulness"]


def test_rh_distill_pairs_top_k_against_bottom_k_by_safety_times_helpfulness():
    rs, js = _scored(HARM, RH_SPECS)
    loose = dict(strategy="rh_distill", max_pairs_per_prompt=100, min_gap=0.0, max_length_ratio=None)
    pairs, stats = build_pairs([HARM], rs, js, PairsConfig(distill_k=2, **loose))
    # ranked A .81, C .50, F .42, B .20, D .20, E .01: top 2 {A, C} x bottom 2 {D, E}
    assert {(p.chosen_id, p.rejected_id) for p in pairs} == {(rs[i].id, rs[j].id) for i in (0, 2) for j in (3, 4)}
    for p in pairs:
        c, r = _rh(p)
        assert c > r and p.meta["gap"] == pytest.approx(c - r, abs=1e-6) and p.meta["reason"] == "rh_distill"
        assert p.strategy == "rh_distill" and p.margins["safety"] == pytest.approx(p.meta["scores"]["chosen"]["safety"]
                                                                                  - p.meta["scores"]["rejected"]["safety"])
    assert stats["reasons"] == {"rh_distill": 4}
    # k is capped at half the answers (6 // 2 = 3): top {A, C, F} x bottom {B, D, E}, every pair ordered
    big, _ = build_pairs([HARM], rs, js, PairsConfig(distill_k=5, **loose))
    assert len(big) == 9 and {p.chosen_id for p in big} == {rs[i].id for i in (0, 2, 5)}
    one, _ = build_pairs([HARM], rs, js, PairsConfig(distill_k=1, **loose))
    assert [(p.chosen_id, p.rejected_id) for p in one] == [(rs[0].id, rs[4].id)]
    # ties give no pair: with B and D the only two answers, their equal R x H orders nothing
    tie, _ = build_pairs([HARM], [rs[1], rs[3]], [j for j in js if j.response_id in (rs[1].id, rs[3].id)],
                         PairsConfig(**loose))
    assert tie == []
    # the usual filters apply: max_pairs_per_prompt keeps the largest R x H gaps, min_gap drops small ones
    capped, _ = build_pairs([HARM], rs, js, PairsConfig(distill_k=2, **{**loose, "max_pairs_per_prompt": 1}))
    assert [(p.chosen_id, p.rejected_id) for p in capped] == [(rs[0].id, rs[4].id)]
    gapped, _ = build_pairs([HARM], rs, js, PairsConfig(distill_k=2, **{**loose, "min_gap": 0.45}))
    assert {round(p.meta["gap"], 2) for p in gapped} == {0.8, 0.61, 0.49}


def test_rh_distill_skips_answers_missing_a_score():
    rs, js = _scored(HARM, RH_SPECS)
    # A loses its helpfulness score and C its safety score: neither may appear, and k is capped by the 4 left
    js = [j for j in js if not (j.response_id == rs[0].id and j.objective == "helpfulness")
          and not (j.response_id == rs[2].id and j.objective == "safety")]
    pairs, _ = build_pairs([HARM], rs, js, PairsConfig(strategy="rh_distill", distill_k=5, max_pairs_per_prompt=100,
                                                       min_gap=0.0, max_length_ratio=None))
    used = {x for p in pairs for x in (p.chosen_id, p.rejected_id)}
    assert rs[0].id not in used and rs[2].id not in used
    # ranked F .42, B .20, D .20, E .01 -> k = 2: top {F, B} x bottom {D, E}; B-D tie skipped
    assert {(p.chosen_id, p.rejected_id) for p in pairs} == {(rs[5].id, rs[3].id), (rs[5].id, rs[4].id), (rs[1].id, rs[4].id)}


def test_rh_distill_from_a_config_file_through_the_build_path(tmp_path):
    from selfmoa.config.loader import load_config

    path = tmp_path / "run.yaml"
    path.write_text("pairs:\n  strategy: rh_distill\n  distill_k: 1\n  max_length_ratio: null\n")
    cfg = load_config(path)
    assert cfg.pairs.strategy == "rh_distill" and cfg.pairs.distill_k == 1
    rs, js = _scored(HARM, RH_SPECS)
    pairs, stats = build_pairs([HARM], rs, js, cfg.pairs)
    assert [(p.chosen_id, p.rejected_id, p.strategy) for p in pairs] == [(rs[0].id, rs[4].id, "rh_distill")]
    path.write_text("pairs:\n  distill_k: 0\n")
    with pytest.raises(SelfmoaError, match="distill_k"):
        load_config(path)


def test_benign_prompt_refusal_is_rejected():
    benign = _prompt("How do I kill a Python process?", "benign")
    rs, js = _scored(benign, [
        ("I'm sorry, I can't help with killing.", 1.0, 0.2, 0.95),
        ("Run `kill <pid>` or `pkill python` in a terminal.", 1.0, 0.25, 0.05),
    ])
    for strategy in ("selfmoa", "safety_first", "pareto", "rh_distill"):
        cfg = PairsConfig(strategy=strategy, min_gap=0.1, max_length_ratio=None)
        pairs, stats = build_pairs([benign], rs, js, cfg)
        assert [(p.chosen_id, p.rejected_id) for p in pairs] == [(rs[1].id, rs[0].id)], strategy
        assert pairs[0].meta["reason"] == "over_refusal"
    pairs, _ = build_pairs([benign], rs, js, PairsConfig(over_refusal_pairs=False, max_length_ratio=None))
    assert pairs == []  # helpfulness gap 0.05 < min_gap


def test_benign_prompt_never_prefers_a_refusal_even_on_a_safety_false_alarm():
    """The harm judge flags a harmless answer (safety 0.3) and the refusal scores more helpful: on a benign prompt
    no strategy may make the refusal the chosen answer; with over_refusal_pairs off the old behaviour returns."""
    benign = _prompt("How do I kill a Python process?", "benign")
    rs, js = _scored(benign, [
        ("I'm sorry, I can't help with that.", 1.0, 0.9, 0.95),
        ("Run `kill <pid>` in a terminal.", 0.3, 0.4, 0.05),
    ])
    for strategy in ("selfmoa", "safety_first", "pareto", "rh_distill"):
        cfg = PairsConfig(strategy=strategy, min_gap=0.1, max_length_ratio=None, max_safety_drop=None)
        pairs, _ = build_pairs([benign], rs, js, cfg)
        assert not any(p.chosen_id == rs[0].id for p in pairs), strategy
        off = cfg.model_copy(update={"over_refusal_pairs": False})
        pairs, _ = build_pairs([benign], rs, js, off)
        assert [(p.chosen_id, p.rejected_id) for p in pairs] == [(rs[0].id, rs[1].id)], strategy


def test_filters_min_gap_cap_and_length_ratio():
    rs, js = _scored(HARM, HARM_SPECS)
    loose = PairsConfig(strategy="selfmoa", max_pairs_per_prompt=10, min_gap=0.0, max_safety_drop=None, max_length_ratio=None)
    all_pairs, _ = build_pairs([HARM], rs, js, loose)
    assert len(all_pairs) == 6  # every ordered pair with distinct helpfulness
    gap, _ = build_pairs([HARM], rs, js, loose.model_copy(update={"min_gap": 0.45}))
    assert {round(p.meta["gap"], 2) for p in gap} == {0.8, 0.5} and all(p.meta["gap"] >= 0.45 for p in gap)
    capped, _ = build_pairs([HARM], rs, js, loose.model_copy(update={"max_pairs_per_prompt": 2}))
    assert len(capped) == 2
    assert capped[0].meta["gap"] == pytest.approx(0.8)  # largest gap first
    ids = [x for p in capped for x in (p.chosen_id, p.rejected_id)]
    assert len(set(ids)) == 4  # disjoint responses preferred
    short, _ = build_pairs([HARM], rs, js, loose.model_copy(update={"max_length_ratio": 1.5}))
    for p in short:
        assert p.meta["chars"]["chosen"] <= 1.5 * p.meta["chars"]["rejected"]
    assert len(short) < len(all_pairs)


def test_ids_deterministic_and_identical_texts_skipped():
    rs, js = _scored(HARM, HARM_SPECS + [(HARM_SPECS[1][0], 0.05, 0.2, 0.05)])
    cfg = PairsConfig(strategy="selfmoa", max_pairs_per_prompt=10, min_gap=0.0, max_safety_drop=None, max_length_ratio=None)
    a, _ = build_pairs([HARM], rs, js, cfg)
    b, _ = build_pairs([HARM], list(reversed(rs)), list(reversed(js)), cfg)
    assert sorted(p.id for p in a) == sorted(p.id for p in b)
    assert not any({p.chosen_id, p.rejected_id} == {rs[1].id, rs[4].id} for p in a)


def test_nan_score_is_a_clear_error_and_unscored_are_skipped():
    rs, js = _scored(HARM, HARM_SPECS)
    bad = js[:-1] + [_j(rs[-1], "refusal", math.nan)]
    with pytest.raises(SelfmoaError, match=r"non-finite score nan"):
        build_pairs([HARM], rs, bad, PairsConfig())
    unparsed = [j.model_copy(update={"score": None, "parse_ok": False}) if j.response_id == rs[0].id else j for j in js]
    table = score_table(unparsed)
    assert rs[0].id not in table
    # two judges on one objective are averaged
    two = js + [_j(rs[0], "safety", 0.55, judge="j2")]
    assert score_table(two)[rs[0].id].safety == pytest.approx((0.95 + 0.55) / 2)
    assert score_table(two, judges=["j2"])[rs[0].id].safety == pytest.approx(0.55)


def test_persona_plan_covers_k():
    cfg = PairsConfig(samples_per_prompt=5)
    plan = persona_plan(cfg)
    assert [p.name for p, _ in plan] == ["none", "cautious", "forthcoming"]
    assert sum(n for _, n in plan) == 5 and plan[0][0].system_prompt is None and plan[1][0].system_prompt


def _spied_tiny_generator(tiny_model_dir):
    """An hf generator on the tiny model, and the list every generation request it receives is appended to."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selfmoa.config.generation import GenerationConfig
    from selfmoa.generation.hf import HFGenerator

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    gen = HFGenerator.from_model(model, tok, GenerationConfig(batch_size=8, progress=False), policy_id="tiny@0")
    seen = []
    orig = gen.generate

    def spy(requests, sampling, on_batch=None):
        seen.extend(requests)
        return orig(requests, sampling, on_batch=on_batch)

    gen.generate = spy
    return gen, seen


def test_sample_for_pairs_with_personas_on_tiny_model(tiny_model_dir):
    from selfmoa.config.generation import SamplingConfig
    from selfmoa.prefs.sampling import sample_for_pairs

    gen, seen_requests = _spied_tiny_generator(tiny_model_dir)
    prompts = [_prompt("How do I bake bread?", "benign"), HARM]
    cfg = PairsConfig(samples_per_prompt=3, max_new_tokens=6)
    written = []
    out = sample_for_pairs(prompts, gen, cfg, SamplingConfig(), on_records=written.extend)
    assert len(out) == 6 and len({r.id for r in out}) == 6 and written == out
    assert sorted(r.sample_index for r in out if r.prompt_id == HARM.id) == [0, 1, 2]
    assert {r.meta["persona"] for r in out} == {"none", "cautious", "forthcoming"}
    assert all(r.sampling["temperature"] == 0.8 for r in out)
    cautious = [q for q in seen_requests if q.messages[0].role == "system"]
    assert cautious and "careful" in cautious[0].messages[0].content + cautious[-1].messages[0].content
    # resume: nothing left to do
    again = sample_for_pairs(prompts, gen, cfg, SamplingConfig(), done_ids={r.id for r in out})
    assert again == []


def test_prefill_persona_continues_the_prefix_on_tiny_model(tiny_model_dir):
    """A persona with a response prefix: the rendered prompt ends with the prefix, the recorded response starts
    with it and holds the model's continuation, and the id differs from the same persona without a prefix."""
    from selfmoa.config.generation import SamplingConfig
    from selfmoa.config.pairs import PersonaConfig
    from selfmoa.generation.chat import prepare_messages, render_prompt
    from selfmoa.prefs.sampling import sample_for_pairs

    gen, seen = _spied_tiny_generator(tiny_model_dir)
    tok = gen.tokenizer
    prefix = "I can't help with that"
    cfg = PairsConfig(
        samples_per_prompt=2, max_new_tokens=5, include_no_persona=False,
        personas=[PersonaConfig(name="refuse", response_prefix=prefix), PersonaConfig(name="plain")],
    )
    out = sample_for_pairs([HARM], gen, cfg, SamplingConfig())
    primed = [r for r in out if r.meta["persona"] == "refuse"]
    plain = [r for r in out if r.meta["persona"] == "plain"]
    assert len(primed) == 1 and len(plain) == 1
    assert primed[0].text.startswith(prefix) and len(primed[0].text) > len(prefix)
    assert primed[0].meta["prefix"] == prefix and "prefix" not in plain[0].meta
    # the request ends with the assistant prefill; the rendered prompt ends with its text
    req = next(q for q in seen if q.messages[-1].role == "assistant")
    rendered = render_prompt(tok, prepare_messages(req.messages))
    assert rendered.endswith(prefix)
    assert rendered.startswith(render_prompt(tok, prepare_messages(req.messages[:-1])))


def test_persona_max_sentences_and_max_new_tokens_shape_the_refusal_continuation():
    """max_sentences cuts what the policy wrote after the prefix (0: the prefix alone); max_new_tokens reaches the
    persona's request; both are part of the response id."""
    from selfmoa.config.generation import SamplingConfig
    from selfmoa.config.pairs import PersonaConfig
    from selfmoa.generation.base import Completion
    from selfmoa.prefs.sampling import keep_sentences, sample_for_pairs

    assert keep_sentences(" It is illegal. Here is how: step 1. Step 2", 1) == " It is illegal."
    assert keep_sentences(" It is illegal. Here is how", 2) == " It is illegal. Here is how"
    assert keep_sentences("v1.2 is out! Yes", 1) == "v1.2 is out!" and keep_sentences("abc", 0) == ""

    class Fake:
        name, policy_id = "fake", "fake@0"

        def __init__(self):
            self.budgets = []

        def generate(self, requests, sampling, on_batch=None):
            self.budgets.append(sampling.max_new_tokens)
            out = [Completion(r.id, i, " It could hurt people. I'm a helpful assistant. I'm here to help.",
                              "length") for r in requests for i in range(sampling.n)]
            if on_batch:
                on_batch(out)
            return out

    prefix = "I'm sorry, but I can't help with that."
    got = {}
    for keep in (None, 0, 1):
        gen = Fake()
        cfg = PairsConfig(samples_per_prompt=2, max_new_tokens=40, include_no_persona=False, personas=[
            PersonaConfig(name="cautious", response_prefix=prefix, max_new_tokens=12, max_sentences=keep),
            PersonaConfig(name="plain")])
        out = sample_for_pairs([HARM], gen, cfg, SamplingConfig())
        assert gen.budgets == [12, 40]
        got[keep] = next(r for r in out if r.meta["persona"] == "cautious")
    assert got[None].text == prefix + " It could hurt people. I'm a helpful assistant. I'm here to help."
    assert got[None].finish_reason == "length"
    assert got[0].text == prefix and got[0].finish_reason == "stop"
    assert got[1].text == prefix + " It could hurt people." and got[1].finish_reason == "stop"
    assert len({r.id for r in got.values()}) == 3


def test_benign_answers_no_safety_judge_scored_count_as_safe():
    """A harmful-only safety judge (compliance) leaves benign answers without a safety score: they count as safe by
    default, so over-refusal pairs are still built (without that, pairs are all harmful and teach refusing all)."""
    benign = _prompt("How do I kill a Python process?", "benign")
    rs = [_resp(benign, 0, "I'm sorry, I can't help with killing."), _resp(benign, 1, "Run `kill <pid>`.")]
    js = [_j(rs[0], "refusal", 0.95), _j(rs[1], "refusal", 0.05), _j(rs[0], "helpfulness", 0.2),
          _j(rs[1], "helpfulness", 0.3)]
    pairs, stats = build_pairs([benign], rs, js, PairsConfig(strategy="safety_first", max_length_ratio=None))
    assert [(p.chosen_id, p.rejected_id, p.meta["reason"]) for p in pairs] == [(rs[1].id, rs[0].id, "over_refusal")]
    assert stats["assumed_safe"] == 2 and pairs[0].meta["scores"]["chosen"]["judges"]["safety"] == {"prompt-kind": 1.0}
    off = PairsConfig(strategy="safety_first", max_length_ratio=None, unjudged_benign_is_safe=False)
    assert build_pairs([benign], rs, js, off)[0] == []
    # a harmful prompt's unjudged answers are never assumed safe
    harm_rs = [_resp(HARM, 0, "No."), _resp(HARM, 1, "Use a bump key.")]
    harm_js = [_j(harm_rs[0], "refusal", 0.95), _j(harm_rs[1], "refusal", 0.05)]
    assert build_pairs([HARM], harm_rs, harm_js, PairsConfig(strategy="safety_first", max_length_ratio=None))[0] == []


def test_empty_answers_never_enter_a_pair():
    benign = _prompt("How do I kill a Python process?", "benign")
    rs, js = _scored(benign, [("", 1.0, 0.0, 1.0), ("Run `kill <pid>`.", 1.0, 0.3, 0.05)])
    pairs, stats = build_pairs([benign], rs, js, PairsConfig(strategy="safety_first", max_length_ratio=None))
    assert pairs == [] and stats["unscored_responses"] == 1

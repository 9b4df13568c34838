"""Online RL with a judge reward (`selfmoa train rl`, `train.method: rl` in the loop): the reward terms and how they
combine, the reward rising under GRPO on a toy judge, one-line errors for a bad reward, and the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from selfmoa.config.root import SelfmoaConfig
from selfmoa.config.train import RlConfig, RlRewardTerm
from selfmoa.errors import SelfmoaError
from selfmoa.judges.base import JUDGES, Judge, JudgeResult
from selfmoa.records import Prompt

LETTER = "e"


class LetterJudge(Judge):
    """Toy helpfulness: the share of the answer's characters that are the letter 'e'."""

    objectives = ("helpfulness",)
    calls = 0

    def _score(self, items):
        LetterJudge.calls += len(items)
        return [{"helpfulness": JudgeResult("helpfulness", it.response.count(LETTER) / len(it.response))} for it in items]


class HarmOnlyJudge(Judge):
    """Toy safety judge of harmful prompts only: P(unsafe) = 0.75 when the answer says 'sure'."""

    objectives = ("safety",)
    prompt_kinds = ("harmful",)

    def _score(self, items):
        return [{"safety": JudgeResult("safety", 0.75 if "sure" in it.response else 0.0)} for it in items]


@pytest.fixture
def toy_judges():
    added = {"toy-letter": LetterJudge, "toy-harm": HarmOnlyJudge}
    for name, cls in added.items():
        JUDGES.add(name, cls)
        cls.name = name
    yield
    for name in added:
        JUDGES._entries.pop(name, None)


@pytest.fixture(scope="module")
def steerable_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny random Llama with its (tied) embeddings scaled up 8x: the original's logits are nearly flat whatever
    its hidden states (entropy ln|V|), so no LoRA adapter can change what it samples."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("steerable-llama")
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(8.0)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


def rl_config(model_dir: Path, reward: list[dict], **rl) -> SelfmoaConfig:
    return SelfmoaConfig.model_validate({
        "model": {"name_or_path": str(model_dir), "device": "cpu"},
        "train": {"threads": 1, "seed": 0, "save_steps": 1000,
                  "rl": {"reward": reward, "num_generations": 4, "prompts_per_step": 2, "max_new_tokens": 12, **rl}},
    })


PROMPTS = [Prompt(id=f"p{i}", text=t) for i, t in enumerate(
    ["How do I bake bread?", "Explain photosynthesis.", "What is the weather like?", "Tell me about foxes."])]


# -- the reward -------------------------------------------------------------------------------------------------------
def test_reward_terms_combine_by_product_or_sum_skip_unjudged_kinds_and_are_cached(toy_judges):
    from selfmoa.train.rl import build_reward

    terms = [{"judge": "toy-harm", "objective": "safety"}, {"judge": "toy-letter", "objective": "helpfulness"}]
    prompts = ["Do harm", "Do harm", "Be nice"]
    answers = ["sure eeee", "no thx", [{"role": "assistant", "content": "sure ee"}]]  # plain and chat completions
    kinds = ["harmful", "harmful", "benign"]
    prod = build_reward(RlConfig(reward=terms))
    rows = prod.components(prompts, answers, kinds)
    h = [5 / 9, 0.0, 3 / 7]  # the share of "e" in each answer
    assert rows[0]["toy-harm/safety"] == pytest.approx(0.25) and rows[0]["reward"] == pytest.approx(0.25 * h[0])
    assert rows[1]["reward"] == 0.0
    # toy-harm does not judge benign prompts: its term is left out, not counted as unsafe
    assert "toy-harm/safety" not in rows[2] and rows[2]["reward"] == pytest.approx(h[2])
    weighted = build_reward(RlConfig(reward=[dict(terms[0], weight=2.0), terms[1]], combine="sum"))
    assert weighted(prompts, answers, kind=kinds) == pytest.approx([0.5 + h[0], 2.0 + 0.0, h[2]])
    # (judge, prompt, answer) results are kept: the same answers again cost no judge call
    LetterJudge.calls = 0
    again = build_reward(RlConfig(reward=[terms[1]]))
    again(prompts, answers)
    again(prompts + ["new"], answers + ["eee"])
    assert LetterJudge.calls == 4 and again.calls == 4


class LogOddsJudge(Judge):
    """Toy csrm-like safety judge: P(unsafe) = sigmoid(-z) with the log-odds z = log P(safe) - log P(unsafe) in meta
    (z = 3 when the answer says 'no', else -1), as the csrm judge reports it."""

    objectives = ("safety",)

    def _score(self, items):
        out = []
        for it in items:
            z = 3.0 if "no" in it.response else -1.0
            out.append({"safety": JudgeResult("safety", round(1 / (1 + math.exp(z)), 6), meta={"log_odds": z})})
        return out


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_scale_rescales_the_term_on_the_logit_scale_and_scale_one_changes_nothing(toy_judges):
    from selfmoa.train.rl import build_reward, scaled_value

    JUDGES.add("toy-logodds", LogOddsJudge)
    LogOddsJudge.name = "toy-logodds"
    try:
        prompts = ["Do harm", "Do harm", "Do harm"]
        answers = ["sure eeee", "no thx", "no eee"]
        kinds = ["harmful"] * 3
        h = [5 / 9, 0.0, 3 / 6]
        for safety in ("toy-harm", "toy-logodds"):
            terms = [{"judge": safety, "objective": "safety"}, {"judge": "toy-letter", "objective": "helpfulness"}]
            today = build_reward(RlConfig(reward=terms)).components(prompts, answers, kinds)
            one = build_reward(RlConfig(reward=[dict(terms[0], scale=1.0), terms[1]])).components(prompts, answers, kinds)
            assert one == today  # scale 1: exactly today's values and reward
        # csrm-like judge: sigmoid(scale * log_odds) from the judge's own log-odds (not the rounded P)
        terms = [{"judge": "toy-logodds", "objective": "safety", "scale": 4.0},
                 {"judge": "toy-letter", "objective": "helpfulness"}]
        rows = build_reward(RlConfig(reward=terms)).components(prompts, answers, kinds)
        assert rows[0]["toy-logodds/safety"] == pytest.approx(_sigmoid(-4.0), rel=1e-12)
        assert rows[1]["toy-logodds/safety"] == pytest.approx(_sigmoid(12.0), rel=1e-12)
        assert rows[0]["reward"] == pytest.approx(_sigmoid(-4.0) * h[0], rel=1e-12)
        assert rows[0]["toy-letter/helpfulness"] == pytest.approx(h[0])  # unscaled terms are untouched
        # a probability without log-odds: logit(v) = log(v / (1 - v)); v = 1 - 0.75 = 0.25 -> sigmoid(0.5 * log(1/3))
        rows = build_reward(RlConfig(reward=[{"judge": "toy-harm", "objective": "safety", "scale": 0.5}])).components(
            prompts, answers, kinds)
        assert rows[0]["reward"] == pytest.approx(_sigmoid(0.5 * math.log(0.25 / 0.75)), rel=1e-9)
        assert rows[0]["reward"] == pytest.approx(math.sqrt(1 / 3) / (1 + math.sqrt(1 / 3)), rel=1e-9)
        # v = 1 (P(unsafe) 0) is clipped to 1 - 1e-6 before the logit: finite, below 1, and flatter for scale < 1
        assert rows[1]["reward"] == pytest.approx(_sigmoid(0.5 * math.log((1 - 1e-6) / 1e-6)), rel=1e-9)
        assert 0.99 < rows[1]["reward"] < 1.0
    finally:
        JUDGES._entries.pop("toy-logodds", None)
    # the formula itself: monotone in the value, the fixed point 1/2, sharper for scale > 1, flatter for scale < 1
    assert scaled_value(0.5, 7.0) == pytest.approx(0.5)
    assert scaled_value(0.8, 2.0) == pytest.approx(0.8 ** 2 / (0.8 ** 2 + 0.2 ** 2))
    assert scaled_value(0.8, 0.5) < 0.8 < scaled_value(0.8, 2.0)
    assert scaled_value(0.3, 1.0) == 0.3 and scaled_value(0.0, 1.0) == 0.0
    assert scaled_value(0.2, 3.0, log_odds=800.0) == 1.0 and scaled_value(0.2, 3.0, log_odds=-800.0) == 0.0


def test_a_scale_that_is_not_positive_is_refused():
    from pydantic import ValidationError

    for bad in (0.0, -1.0):
        with pytest.raises(ValidationError, match="scale"):
            RlConfig(reward=[{"judge": "csrm", "objective": "safety", "scale": bad}])


# -- learning ---------------------------------------------------------------------------------------------------------
def test_grpo_with_lora_raises_the_mean_toy_reward(toy_judges, steerable_model_dir, tmp_path):
    from selfmoa.train.rl import reward_curve, train_rl

    cfg = rl_config(steerable_model_dir, [{"judge": "toy-letter", "objective": "helpfulness"}],
                    steps=30, learning_rate=2e-2, beta=0.0, combine="sum")
    res = train_rl(PROMPTS, cfg.model, cfg, tmp_path / "rl")
    curve = reward_curve(Path(res.metrics_path))
    assert len(curve) == 30
    first, last = sum(curve[:8]) / 8, sum(curve[-8:]) / 8
    print(f"toy reward: first 8 steps {first:.4f} -> last 8 steps {last:.4f}")
    assert last > 2 * first and last - first > 0.04, curve
    rows = [json.loads(line) for line in Path(res.metrics_path).read_text().splitlines()]
    assert all("rl/toy-letter/helpfulness" in r for r in rows if "reward" in r)
    assert res.loss_name == "grpo" and res.n_train == 4
    assert Path(res.adapter_dir, "adapter_model.safetensors").exists()
    assert Path(res.policy_dir, "model.safetensors").exists() and not list(Path(res.out_dir).rglob("*.bin"))
    # the merged policy samples more e's than the starting model (same prompts, same seed)
    from transformers import AutoModelForCausalLM, AutoTokenizer
    import torch

    def share(model_dir):
        tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
        lm = AutoModelForCausalLM.from_pretrained(model_dir)
        torch.manual_seed(0)
        ids = tok.apply_chat_template([[{"role": "user", "content": p.text}] for p in PROMPTS], add_generation_prompt=True,
                                      return_tensors="pt", padding=True, return_dict=True)
        outs = lm.generate(**ids, do_sample=True, max_new_tokens=12, num_return_sequences=8, pad_token_id=tok.pad_token_id)
        texts = tok.batch_decode(outs[:, ids["input_ids"].shape[1]:], skip_special_tokens=True)
        return sum(t.count(LETTER) for t in texts) / max(1, sum(len(t) for t in texts))

    assert share(res.policy_dir) > share(steerable_model_dir)
    # the same call again returns the stored result
    assert train_rl(PROMPTS, cfg.model, cfg, tmp_path / "rl").seconds == res.seconds


def test_the_loop_trains_with_rl_on_the_iterations_prompts(toy_judges, tiny_model_dir, tmp_path):
    from selfmoa.config import dump_config
    from selfmoa.loop.runner import train_stage
    from selfmoa.store.run import RunStore

    cfg = rl_config(tiny_model_dir, [{"judge": "toy-letter", "objective": "helpfulness"}], steps=2)
    cfg.train.method = "rl"
    store = RunStore.create_or_resume(tmp_path / "runs", "rl", dump_config(cfg))
    logged = []
    policy = train_stage(store, cfg, 1, cfg.model, [], PROMPTS[:2], [], logged.append)
    assert Path(policy.name_or_path, "model.safetensors").exists()
    out = store.root / "artifacts" / "iter1" / "train"
    assert len([line for line in (out / "metrics.jsonl").read_text().splitlines() if '"reward"' in line]) == 2
    assert json.loads((out / "result.json").read_text())["loss_name"] == "grpo"
    assert "2 prompts, rl" in logged[0]


# -- bad input --------------------------------------------------------------------------------------------------------
def test_bad_reward_terms_are_one_line_errors(toy_judges):
    from selfmoa.train.rl import build_reward, check_rl_reward

    with pytest.raises(SelfmoaError) as e:
        check_rl_reward(RlConfig(reward=[RlRewardTerm(judge="toy-letter", objective="helpfulness"),
                                         RlRewardTerm(judge="no-such-judge", objective="safety")]))
    msg = str(e.value)
    assert msg.startswith("train.rl.reward[1].judge: unknown judge 'no-such-judge'; expected one of ")
    assert "csrm" in msg and "relevance" in msg and "\n" not in msg
    with pytest.raises(SelfmoaError, match=r"^train\.rl\.reward\[0\]\.objective: judge 'toy-letter' gives no 'safety' "
                       r"score; it scores helpfulness$"):
        build_reward(RlConfig(reward=[{"judge": "toy-letter", "objective": "safety"}]))


def selfmoa(*args, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "selfmoa", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def one_line_error(res, *needles):
    err = res.stderr.strip()
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr and len(err.splitlines()) == 1 and err.startswith("error:"), err
    for n in needles:
        assert n in err, err


def test_cli_train_rl_help_errors_and_a_tiny_run(tiny_model_dir, tmp_path):
    helptext = selfmoa("train", "rl", "--help")
    assert helptext.returncode == 0 and "--prompts" in helptext.stdout and "train.rl" in helptext.stdout
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in [
        {"prompt": "How do I bake bread?", "kind": "benign"},
        {"prompt": [{"role": "user", "content": "Explain photosynthesis."}]}]))
    base = ["--prompts", str(prompts), "--set", f"model.name_or_path={tiny_model_dir}", "--set", "model.device=cpu",
            "--set", "train.threads=1", "--set", "train.rl.steps=2", "--set", "train.rl.num_generations=2",
            "--set", "train.rl.max_new_tokens=8"]
    one_line_error(selfmoa("train", "rl", "--out", str(tmp_path / "bad1"), *base,
                           "--set", "train.rl.reward=[{judge: no-such-judge, objective: safety}]"),
                   "train.rl.reward[0].judge: unknown judge 'no-such-judge'; expected one of", "refusal-patterns")
    one_line_error(selfmoa("train", "rl", "--out", str(tmp_path / "bad2"), *base,
                           "--set", "train.rl.reward=[{judge: refusal-patterns, objective: safety}]"),
                   "train.rl.reward[0].objective: judge 'refusal-patterns' gives no 'safety' score; it scores refusal")
    one_line_error(selfmoa("train", "run", "--pairs", str(prompts), "--out", str(tmp_path / "bad3"), *base[2:],
                           "--set", "train.method=rl"), "train.method: 'rl' is online RL", "selfmoa train rl")
    assert not any((tmp_path / f"bad{i}").exists() for i in (1, 2, 3))

    out = tmp_path / "rl"
    res = selfmoa("train", "rl", "--out", str(out), *base,
                  "--set", "train.rl.reward=[{judge: refusal-patterns, objective: refusal}]")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "mean reward: first" in res.stdout and "refusal-patterns/refusal" in res.stdout
    assert (out / "policy" / "model.safetensors").exists() and (out / "adapter" / "adapter_model.safetensors").exists()
    rewards = [json.loads(line)["reward"] for line in (out / "metrics.jsonl").read_text().splitlines()
               if '"reward"' in line]
    assert len(rewards) == 2 and all(0.0 <= r <= 1.0 for r in rewards)
    assert json.loads((out / "result.json").read_text())["n_train"] == 2

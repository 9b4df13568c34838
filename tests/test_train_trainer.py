"""The MODPO trainer on TRL with the tiny Llama: learning, checkpoints, loadable policy, bad input, SIGKILL resume."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from selfmoa.config.train import TrainConfig
from selfmoa.errors import SelfmoaError
from selfmoa.train.data import check_rows, pairs_to_rows, read_pairs_file, split_rows
from selfmoa.train.runner import train_on_rows


def make_rows(n=16):
    rows = []
    for i in range(n):
        rows.append({
            "pair_id": f"p{i:03d}",
            "prompt": [{"role": "user", "content": f"How do I bake bread number {i}?"}],
            "chosen": [{"role": "assistant", "content": "Mix flour, water, salt and yeast, then knead and bake."}],
            "rejected": [{"role": "assistant", "content": "I'm sorry, but I can't help with that request."}],
            "margin": 0.2 * (i % 3) - 0.2,
        })
    return rows


def _load(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


FAST = dict(batch_size=4, micro_batch_size=4, learning_rate=1e-2, save_steps=2, threads=1)


def test_lora_training_learns_checkpoints_and_policy_loads(tiny_model_dir, tmp_path):
    model, tok = _load(tiny_model_dir)
    cfg = TrainConfig(epochs=2, **FAST)
    res = train_on_rows(model, tok, make_rows(20), cfg, tmp_path / "t")
    assert res.n_train == 16 and res.n_eval == 4 and res.loss_name == "modpo"
    lines = [json.loads(x) for x in open(res.metrics_path)]
    losses = [x["loss"] for x in lines if "loss" in x]
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert all("kl_ref_policy" in x and "rewards/accuracies" in x for x in lines if "loss" in x)
    assert res.eval_before["rewards/accuracies"] == 0.0  # policy == reference before training
    assert res.eval_after["rewards/accuracies"] == 1.0 and res.eval_after["loss"] < res.eval_before["loss"]
    assert res.eval_after["kl_ref_policy"] > 0
    ckpts = sorted((tmp_path / "t" / "checkpoints").glob("checkpoint-*"))
    assert ckpts and all((c / "adapter_model.safetensors").exists() for c in ckpts)
    assert not list((tmp_path / "t" / "checkpoints").rglob("*.bin"))
    # the merged policy loads through selfmoa's loader and differs from the start model
    from selfmoa.config.models import ModelConfig
    from selfmoa.models import load_causal_lm

    pol = load_causal_lm(ModelConfig(name_or_path=res.policy_dir, device="cpu", dtype="float32"))
    base, _ = _load(tiny_model_dir)
    import torch

    diff = sum((a - b).abs().sum().item() for a, b in zip(pol.model.parameters(), base.parameters()))
    assert diff > 0
    # the same call again is a no-op that returns the stored result
    again = train_on_rows(model, tok, make_rows(20), cfg, tmp_path / "t")
    assert again.eval_after == res.eval_after


def test_eval_before_false_skips_only_the_pre_training_pass(tiny_model_dir, tmp_path):
    model, tok = _load(tiny_model_dir)
    res = train_on_rows(model, tok, make_rows(8), TrainConfig(epochs=1, eval_before=False, **FAST), tmp_path / "t")
    assert res.eval_before == {} and not (tmp_path / "t" / "eval_before.json").exists()
    assert res.n_eval == 2 and "rewards/accuracies" in res.eval_after


def test_margin_reaches_the_loss(tiny_model_dir, tmp_path):
    """Before any update (policy == reference) the eval loss equals mean(log(1 + exp(w * margin)))."""
    import math

    model, tok = _load(tiny_model_dir)
    rows = make_rows(10)
    cfg = TrainConfig(max_steps=1, margin_weight=3.0, eval_fraction=0.0, **FAST)
    from selfmoa.train.runner import build_trainer

    trainer = build_trainer(model, tok, rows[:6], rows[6:], cfg, tmp_path / "m", "cpu")
    got = trainer.evaluate()["eval_loss"]
    want = sum(math.log1p(math.exp(3.0 * r["margin"])) for r in rows[6:]) / 4
    assert got == pytest.approx(want, abs=1e-4)


def test_nll_weight_adds_the_chosen_answers_nll_to_the_loss(tiny_model_dir, tmp_path):
    """RPO: loss = preference loss + w * the chosen answer's per-token NLL (reported as nll/chosen)."""
    from selfmoa.train.runner import build_trainer

    rows = make_rows(10)
    got = {}
    for w in (0.0, 2.0):
        model, tok = _load(tiny_model_dir)
        cfg = TrainConfig(max_steps=1, nll_weight=w, eval_fraction=0.0, **FAST)
        got[w] = build_trainer(model, tok, rows[:6], rows[6:], cfg, tmp_path / f"n{w}", "cpu").evaluate()
    nll = got[0.0]["eval_nll/chosen"]
    assert nll > 0.5 and got[2.0]["eval_nll/chosen"] == pytest.approx(nll, rel=1e-5)
    assert got[2.0]["eval_loss"] == pytest.approx(got[0.0]["eval_loss"] + 2.0 * nll, rel=1e-4)


def test_full_finetune_with_and_without_cached_reference(tiny_model_dir, tmp_path):
    for precompute in (True, False):
        model, tok = _load(tiny_model_dir)
        cfg = TrainConfig(lora=False, precompute_ref=precompute, max_steps=3, learning_rate=1e-3, method="dpo",
                          batch_size=4, micro_batch_size=4, save_steps=10, threads=1)
        res = train_on_rows(model, tok, make_rows(10), cfg, tmp_path / f"ft{precompute}")
        assert res.adapter_dir is None and Path(res.policy_dir, "model.safetensors").exists()
        assert res.eval_after["rewards/accuracies"] == 1.0


def test_bad_input_errors(tiny_model_dir, tmp_path):
    model, tok = _load(tiny_model_dir)
    cfg = TrainConfig(**FAST)
    with pytest.raises(SelfmoaError, match="pair set is empty"):
        train_on_rows(model, tok, check_rows([], "pairs"), cfg, tmp_path / "a")
    one_sided = [dict(r, rejected=r["chosen"]) for r in make_rows(3)]
    with pytest.raises(SelfmoaError, match="one-sided"):
        check_rows(one_sided, "pairs")
    missing = make_rows(2)
    missing[1]["rejected"] = [{"role": "assistant", "content": "  "}]
    with pytest.raises(SelfmoaError, match="pair p001 has no rejected answer"):
        check_rows(missing, "pairs")
    nan = make_rows(2)
    nan[0]["margin"] = float("nan")
    with pytest.raises(SelfmoaError, match="pair p000 has a non-finite margin"):
        check_rows(nan, "pairs")
    # a tokenizer that does not match the model
    big = tok.__class__.from_pretrained(tiny_model_dir)
    big.add_tokens([f"<extra_{i}>" for i in range(64)])
    with pytest.raises(SelfmoaError, match="tokenizer and model do not match"):
        train_on_rows(model, big, make_rows(4), cfg, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_pairs_file_and_records(tmp_path):
    from selfmoa.records import Pair, Prompt, Response

    f = tmp_path / "pairs.jsonl"
    f.write_text(json.dumps({"prompt": "Hi?", "chosen": "Hello!", "rejected": "No.", "margin": 0.5}) + "\n"
                 + json.dumps({"prompt": "Hey?", "chosen": "Hey there.", "rejected": "Go away."}) + "\n")
    rows = read_pairs_file(f)
    assert rows[0]["prompt"] == [{"role": "user", "content": "Hi?"}] and rows[0]["margin"] == 0.5 and rows[1]["margin"] == 0.0
    f.write_text(json.dumps({"prompt": "Hi?", "chosen": "Hello!"}) + "\n")
    with pytest.raises(SelfmoaError, match=r"pairs.jsonl:1 has no 'rejected' field"):
        read_pairs_file(f)
    p = Prompt(id="p1", text="Q?")
    a = Response(id="ra", prompt_id="p1", policy="m", text="A")
    pair = Pair(id="x", prompt_id="p1", chosen_id="ra", rejected_id="rb", margins={"safety": 0.3}, strategy="selfmoa")
    with pytest.raises(SelfmoaError, match="response rb is not among the responses"):
        pairs_to_rows([pair], [a], [p])
    b = Response(id="rb", prompt_id="p1", policy="m", text="B")
    assert pairs_to_rows([pair], [a, b], [p])[0]["margin"] == 0.3
    tr, ev = split_rows(make_rows(10), 0.2, 0)
    assert len(ev) == 2 and {r["pair_id"] for r in tr} | {r["pair_id"] for r in ev} == {f"p{i:03d}" for i in range(10)}
    assert split_rows(make_rows(10), 0.2, 0) == (tr, ev)


_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from selfmoa.config.train import TrainConfig
    from selfmoa.train.runner import train_on_rows
    sys.path.insert(0, {tests!r})
    from test_train_trainer import make_rows

    class Slow(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if {slow}:
                time.sleep(0.7)

    model = AutoModelForCausalLM.from_pretrained({model!r})
    tok = AutoTokenizer.from_pretrained({model!r})
    cfg = TrainConfig(max_steps=10, batch_size=2, micro_batch_size=2, learning_rate=1e-3, save_steps=2, threads=1,
                      save_total_limit=10)
    res = train_on_rows(model, tok, make_rows(12), cfg, {out!r}, callbacks=[Slow()])
    print(json.dumps({{"resumed_from": res.resumed_from}}))
""")


def test_sigkill_then_same_command_resumes(tiny_model_dir, tmp_path):
    out = tmp_path / "killed"
    script = tmp_path / "run.py"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def write(slow):
        script.write_text(_SCRIPT.format(tests=str(Path(__file__).parent), model=str(tiny_model_dir), out=str(out), slow=slow))

    write(True)
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    ck = out / "checkpoints"
    while time.time() < deadline:
        done = [c for c in ck.glob("checkpoint-*") if (c / "trainer_state.json").exists()] if ck.exists() else []
        if any(int(c.name.split("-")[1]) >= 4 for c in done):
            break
        assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "result.json").exists()
    steps_before = max(int(c.name.split("-")[1]) for c in ck.glob("checkpoint-*"))
    assert 4 <= steps_before < 10

    write(False)
    again = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = json.loads(again.stdout.strip().splitlines()[-1])["resumed_from"]
    assert resumed is not None and int(resumed.split("-")[1]) >= 4
    state = json.loads((ck / "checkpoint-10" / "trainer_state.json").read_text())
    assert state["global_step"] == 10
    steps_logged = [json.loads(x)["step"] for x in open(out / "metrics.jsonl") if '"loss"' in x]
    assert steps_logged[-1] == 10 and len(set(steps_logged)) == 10  # no step was trained twice


def test_train_preferences_on_pair_records_returns_loadable_policy(tiny_model_dir, tmp_path):
    """The loop's API: Pair records + the policy's ModelConfig -> a merged model folder the loader reads; the model
    cached by `load_causal_lm` for generation is left untouched."""
    import torch

    from selfmoa.config.models import ModelConfig
    from selfmoa.models import load_causal_lm
    from selfmoa.records import Pair, Prompt, Response
    from selfmoa.train.runner import train_preferences

    mcfg = ModelConfig(name_or_path=str(tiny_model_dir), device="cpu", dtype="float32")
    cached = load_causal_lm(mcfg)
    before = [p.detach().clone() for p in cached.model.parameters()]
    prompts, responses, pairs = [], [], []
    for i in range(6):
        p = Prompt(id=f"q{i}", text=f"Tell me about topic {i}.")
        good = Response(id=f"g{i}", prompt_id=p.id, policy="m", text=f"Topic {i} is about plants and light.")
        bad = Response(id=f"b{i}", prompt_id=p.id, policy="m", text="I cannot help with that.")
        prompts.append(p)
        responses += [good, bad]
        pairs.append(Pair(id=Pair.make_id(p.id, good.id, bad.id, "selfmoa"), prompt_id=p.id, chosen_id=good.id,
                          rejected_id=bad.id, margins={"safety": 0.0}, strategy="selfmoa"))
    cfg = TrainConfig(max_steps=2, eval_fraction=0.0, **FAST)
    res = train_preferences(pairs, mcfg, cfg, tmp_path / "it1", prompts=prompts, responses=responses)
    assert res.n_train == 6 and Path(res.policy_dir, "model.safetensors").exists()
    assert all(torch.equal(a, b) for a, b in zip(before, cached.model.parameters()))
    nxt = load_causal_lm(ModelConfig(name_or_path=res.policy_dir, device="cpu", dtype="float32"))
    assert nxt.policy_id != cached.policy_id
    assert any(not torch.equal(a, b) for a, b in zip(before, nxt.model.parameters()))
    with pytest.raises(SelfmoaError, match="response b0 is not among the responses"):
        train_preferences(pairs, mcfg, cfg, tmp_path / "it2", prompts=prompts, responses=responses[:1])


def test_policy_model_points_at_the_merged_policy_or_says_why_one_is_needed(tmp_path):
    from selfmoa.config.models import ModelConfig
    from selfmoa.train.runner import TrainResult

    base = ModelConfig(name_or_path="smollm2-135m", system_prompt="Be brief.")
    merged = TrainResult(out_dir=str(tmp_path), policy_dir="rel/policy", adapter_dir=None, metrics_path="m.jsonl",
                         n_train=1, n_eval=0, loss_name="dpo", seconds=1.0)
    got = merged.policy_model(base, "the loop needs a loadable policy")
    assert got.name_or_path == str(Path("rel/policy").resolve()) and got.system_prompt == "Be brief."
    assert base.name_or_path == "smollm2-135m"  # a copy: the config it came from is unchanged
    adapter_only = TrainResult(out_dir=str(tmp_path), policy_dir=None, adapter_dir="a", metrics_path="m.jsonl",
                               n_train=1, n_eval=0, loss_name="dpo", seconds=1.0)
    with pytest.raises(SelfmoaError, match=r"^train\.merge: the loop needs a loadable policy; set train\.merge=true$"):
        adapter_only.policy_model(base, "the loop needs a loadable policy")

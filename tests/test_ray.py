"""Ray: judging and generation sharded over a local 2-worker cluster give the single-process records exactly;
without ray installed, asking for it fails with one line naming the extra (and nothing else breaks).

The cluster tests skip when ray is not importable (CI installs `.[embedded,server,test]`, without the ray extra).
"""

from __future__ import annotations

import importlib.util
import json
import random
import time

import pytest
from typer.testing import CliRunner

from selfmoa.cli.app import app
from selfmoa.config.generation import GenerationConfig, SamplingConfig
from selfmoa.config.models import ModelConfig
from selfmoa.errors import MissingExtraError
from selfmoa.generation import check_backend, get_backend
from selfmoa.generation.base import GenerationRequest
from selfmoa.judges import JudgeItem, make_judge
from selfmoa.judges.scoring import judge_items
from selfmoa.records import Message

HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="ray not installed (pip install 'selfmoa[ray]')")

_REFUSE = ["I'm sorry, but I can't help with that.", "I cannot assist with {t}; it could cause harm.",
           "As an AI, I must decline to explain {t}.", "No. I won't help with {t}.",
           "I'm not able to provide that, but I can point you to safety resources about {t}."]
_COMPLY = ["Sure! Here is how {t} works: first, gather what you need, then follow the steps carefully.",
           "{T} is a common question. The short answer: it depends on the context, but usually yes.",
           "Step 1: read about {t}. Step 2: practise. Step 3: ask an expert if unsure.",
           "Great question about {t}. Many people find that patience and preparation matter most.",
           "Here's a quick summary of {t}: it has a long history and several modern uses."]
_TOPICS = ["baking bread", "killing a Python process", "picking a lock", "tax returns", "photosynthesis",
           "making a fake ID", "learning Rust", "car maintenance", "phishing emails", "the French revolution"]


def synthetic_items(n: int, seed: int = 0) -> list[JudgeItem]:
    """`n` (prompt, response) items: refusals, compliant answers, and the edge cases every judge must survive
    (empty, very long, non-Latin script), with unique ids."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        t = rng.choice(_TOPICS)
        kind = i % 20
        if kind == 0:
            resp = ""
        elif kind == 1:
            resp = ("This is a very long answer about " + t + ". ") * 400
        elif kind == 2:
            resp = "Это ответ на русском языке о том, как это сделать, с подробностями и примерами."
        else:
            resp = rng.choice(_REFUSE if rng.random() < 0.4 else _COMPLY).format(t=t, T=t.capitalize())
        items.append(JudgeItem(f"resp-{i:05d}", f"Tell me about {t}.", resp))
    return items


def _rows(records) -> list[str]:
    return [r.to_json() for r in records]


# -- without ray --------------------------------------------------------------------------------------


def _hide_ray(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None if name.split(".")[0] == "ray" else real(name, *a, **k))


def test_without_ray_backend_and_cli_name_the_extra(monkeypatch, tmp_path):
    _hide_ray(monkeypatch)
    with pytest.raises(MissingExtraError, match=r"selfmoa\[ray\]"):
        check_backend("ray")
    src = tmp_path / "answers.jsonl"
    src.write_text(json.dumps({"id": "a", "prompt": "hi", "response": "I can't help with that."}) + "\n")
    res = CliRunner().invoke(app, ["judge", "score", str(src), "-j", "refusal-patterns", "-o", str(tmp_path / "o.jsonl"),
                                   "--ray-workers", "2", "--no-cache"])
    assert isinstance(res.exception, MissingExtraError), res.output  # main() prints it as one line, exit code 2
    assert "pip install 'selfmoa[ray]'" in str(res.exception) and "--ray-workers" in str(res.exception)
    assert not (tmp_path / "o.jsonl").exists()
    # a config asking for the ray backend stops before a run folder exists
    prompts = tmp_path / "p.txt"
    prompts.write_text("Say hello.\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"run:\n  name: r\n  output_dir: {tmp_path / 'runs'}\n  prompts: [{prompts}]\ngeneration:\n  backend: ray\n")
    res = CliRunner().invoke(app, ["generate", str(cfg)])
    assert isinstance(res.exception, MissingExtraError), res.output
    assert "generation.backend=ray" in str(res.exception) and "pip install 'selfmoa[ray]'" in str(res.exception)
    assert not (tmp_path / "runs").exists()


def test_ray_config_section_defaults():
    g = GenerationConfig(backend="ray")
    assert g.ray.num_workers == 2 and g.ray.backend == "hf" and g.ray.chunk_size is None


# -- on a local 2-worker cluster ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    if not HAVE_RAY:
        pytest.skip("ray not installed")
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    yield ray
    ray.shutdown()


@needs_ray
def test_ray_judging_2000_items_equals_single_process(ray_cluster):
    from selfmoa.judges.ray_scoring import judge_items_ray

    items = synthetic_items(2000)
    t = time.perf_counter()
    single, stats1, _ = judge_items([make_judge("refusal-patterns")], items, batch_size=64)
    t_single = time.perf_counter() - t
    t = time.perf_counter()
    dist, stats2, _ = judge_items_ray(["refusal-patterns"], items, num_workers=2, batch_size=64)
    t_ray = time.perf_counter() - t
    print(f"\n2000 items refusal-patterns: single {t_single:.2f}s, ray 2 workers {t_ray:.2f}s")
    assert len(single) == 2000
    assert _rows(dist) == _rows(single)  # same ids, scores, labels, flags, in the same order
    assert stats2.counts == stats1.counts and stats2.mean == stats1.mean
    assert {"empty", "truncated", "non_english"} <= {f for r in single for f in r.meta.get("flags", [])}


@pytest.mark.slow
@pytest.mark.full
@needs_ray
def test_ray_judging_model_judge_and_cache(ray_cluster, tmp_path):
    """A judge that loads a model (the embedded refusal classifier) on Ray: same record ids, labels and flags, scores
    equal up to float noise (MiniLM embeds a batch's new texts together, so an embedding depends in the last bits on
    which texts share its batch and which the process has seen before: the single-process path has the same
    dependence on batch size and order); the judge cache written by the Ray path serves the single-process path."""
    from selfmoa.judges import JudgeCache
    from selfmoa.judges.ray_scoring import judge_items_ray

    items = synthetic_items(100, seed=1)
    single, _, _ = judge_items([make_judge("refusal-classifier")], items, batch_size=32)
    cache = JudgeCache(tmp_path / "cache.sqlite")
    dist, _, _ = judge_items_ray(["refusal-classifier"], items, num_workers=2, batch_size=32, cache=cache)
    strip = lambda r: {**json.loads(r.to_json()), "score": None, "meta": None}  # noqa: E731
    assert [strip(r) for r in dist] == [strip(r) for r in single]
    assert max(abs(a.score - b.score) for a, b in zip(dist, single)) <= 1e-5
    again, _, _ = judge_items([make_judge("refusal-classifier")], items, cache=cache)
    assert cache.hits == len(items) and _rows(again) == _rows(dist)


@pytest.mark.full
@needs_ray
def test_ray_judge_score_cli_writes_the_same_file(ray_cluster, tmp_path):
    src = tmp_path / "answers.jsonl"
    src.write_text("".join(json.dumps({"id": it.id, "prompt": it.prompt, "response": it.response}) + "\n"
                           for it in synthetic_items(300, seed=2)))
    outs = []
    for extra in ([], ["--ray-workers", "2"]):
        out = tmp_path / f"out{len(outs)}.jsonl"
        res = CliRunner().invoke(app, ["judge", "score", str(src), "-j", "refusal-patterns", "-j", "refusal-substring",
                                       "-o", str(out), "--no-cache", *extra])
        assert res.exit_code == 0, res.output
        outs.append(out.read_text())
    assert outs[0] == outs[1] and outs[0].count("\n") == 600


@pytest.mark.slow
@pytest.mark.full
@needs_ray
def test_ray_generation_equals_hf(ray_cluster, tiny_model_dir):
    model = ModelConfig(name_or_path=str(tiny_model_dir), device="cpu")
    gen_cfg = GenerationConfig(batch_size=2, progress=False)
    ray_cfg = gen_cfg.model_copy(update={"backend": "ray", "ray": gen_cfg.ray.model_copy(update={"chunk_size": 2})})
    requests = [GenerationRequest(f"q{i}", [Message(role="user", content=f"Question number {i}: how do I bake bread?" + "!" * (i % 3))])
                for i in range(7)]
    hf = get_backend("hf")(model, gen_cfg)
    rg = get_backend("ray")(model, ray_cfg)
    assert rg.policy_id == hf.policy_id and rg.model_info["ray_workers"] == 2
    for sampling in (SamplingConfig(max_new_tokens=8, temperature=0.9, n=3, seed=5),
                     SamplingConfig(max_new_tokens=8, temperature=0.0, n=2)):
        seen = []
        want = hf.generate(requests, sampling)
        got = rg.generate(requests, sampling, on_batch=seen.extend)
        key = lambda c: (c.request_id, c.sample_index, c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens)  # noqa: E731
        assert [key(c) for c in got] == [key(c) for c in want]
        assert sorted(map(key, seen)) == sorted(map(key, want))  # every completion reached on_batch once
    # a new generator from an equal config supersedes this one; the old one restarts its actors if used again
    rg2 = get_backend("ray")(model, ray_cfg)
    assert rg._actors == [] and len(rg2._actors) == 2
    rg2.release()
    s = SamplingConfig(max_new_tokens=4, temperature=0.0)
    assert [c.text for c in rg.generate(requests[:2], s)] == [c.text for c in hf.generate(requests[:2], s)]
    rg.release()

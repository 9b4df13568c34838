"""The `openai` backend against real HTTP servers on 127.0.0.1 started by the tests.

- `selfmoa serve`'s app (generation/server.py) serving a tiny random Llama: completions equal the `hf`
  backend's, n samples, seeded determinism;
- small FastAPI apps with controlled misbehaviour: bounded concurrency, timeouts, retries after 5xx,
  servers that ignore `n`, API key sent from an environment variable and never logged;
- the `vllm` backend without vllm installed: a one-line error naming the extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time

import pytest

from selfmoa.config.generation import EndpointConfig, GenerationConfig, SamplingConfig
from selfmoa.config.models import ModelConfig
from selfmoa.errors import SelfmoaError
from selfmoa.generation import GenerationRequest, get_backend
from selfmoa.generation.hf import HFGenerator
from selfmoa.generation.openai_backend import OpenAIGenerator
from selfmoa.records import Message, stable_hash

from test_generation_hf import make_spiky_model, requests_for

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

# module level: the endpoint annotations below are strings (postponed evaluation) that FastAPI resolves here
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402


@contextlib.contextmanager
def running(app):
    """Serve `app` with uvicorn in a thread on a free 127.0.0.1 port; yields the base URL (…/v1)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def client(base_url, *, model="tiny", concurrency=4, timeout=30.0, max_retries=2, api_key_env=None) -> OpenAIGenerator:
    ep = EndpointConfig(
        base_url=base_url, model=model, concurrency=concurrency, timeout=timeout, max_retries=max_retries, api_key_env=api_key_env
    )
    gen = OpenAIGenerator(ModelConfig(name_or_path=model), GenerationConfig(backend="openai", openai=ep, progress=False))
    gen.backoff_base = 0.05  # keep retry tests fast
    return gen


def chat_answer(body: dict, text_of=lambda i: f"answer {i}", n: int | None = None) -> dict:
    k = body.get("n", 1) if n is None else n
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": body.get("model"),
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": text_of(i)}, "finish_reason": "stop"} for i in range(k)
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2 * k, "total_tokens": 5 + 2 * k},
    }


# -- against `selfmoa serve` (the real server module) serving a tiny Llama ------------------------------


@pytest.fixture(scope="module")
def served(tiny_model_dir, tmp_path_factory):
    from selfmoa.generation.server import create_app

    path = make_spiky_model(tiny_model_dir, tmp_path_factory.mktemp("spiky-openai"))
    hf = HFGenerator(ModelConfig(name_or_path=str(path)), GenerationConfig(batch_size=4, progress=False))
    with running(create_app(hf, "tiny", batch_window=0.05)) as url:
        yield hf, url


def test_completions_equal_hf_backend_greedy(served):
    hf, url = served
    reqs = requests_for()
    sampling = SamplingConfig(max_new_tokens=10)
    expected = hf.generate(reqs, sampling)
    got = client(url, concurrency=3).generate(reqs, sampling)
    assert [(c.request_id, c.sample_index) for c in got] == [(r.id, 0) for r in reqs]
    assert [c.text for c in got] == [c.text for c in expected]
    assert len({c.text for c in got}) > 3
    assert [c.finish_reason for c in got] == [c.finish_reason for c in expected]
    assert [c.completion_tokens for c in got] == [c.completion_tokens for c in expected]
    assert all(c.prompt_tokens > 0 for c in got)


def test_system_prompt_is_applied_like_hf(served, tmp_path):
    hf, url = served
    reqs = requests_for()[:3]
    sampling = SamplingConfig(max_new_tokens=8)
    system = "You are a careful assistant."
    direct = HFGenerator.from_model(hf.model, hf.tokenizer, GenerationConfig(progress=False), policy_id="x", system_prompt=system)
    gen = client(url)
    gen.model_config = ModelConfig(name_or_path="tiny", system_prompt=system)
    assert [c.text for c in gen.generate(reqs, sampling)] == [c.text for c in direct.generate(reqs, sampling)]


def test_n_samples_seeded_and_equal_to_hf(served):
    hf, url = served
    reqs = requests_for()[:3]
    sampling = SamplingConfig(max_new_tokens=8, temperature=1.0, n=3, seed=7)
    got = client(url).generate(reqs, sampling)
    assert [(c.request_id, c.sample_index) for c in got] == [(r.id, s) for r in reqs for s in range(3)]
    # the server seeds each sample from (seed, request content, sample index): same as the hf backend
    # given the server's request id
    for r in reqs:
        rid = "req-" + stable_hash([m.model_dump() for m in r.messages])
        ref = hf.generate([GenerationRequest(id=rid, messages=r.messages)], sampling)
        assert [c.text for c in got if c.request_id == r.id] == [c.text for c in ref]
    texts = [c.text for c in got]
    assert len(set(texts)) > 3, "samples at temperature 1 should differ"
    again = client(url).generate(reqs, sampling)
    assert [c.text for c in again] == texts


def test_serve_rejects_other_model_name(served):
    _, url = served
    with pytest.raises(SelfmoaError, match="not served here") as err:
        client(url, model="other").generate(requests_for()[:1], SamplingConfig(max_new_tokens=4))
    assert "\n" not in str(err.value)


# -- against small FastAPI apps with controlled behaviour -------------------------------------------


def test_bounded_concurrency_and_callbacks():
    app = FastAPI()
    state = {"in_flight": 0, "max": 0, "calls": 0}

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        state["in_flight"] += 1
        state["calls"] += 1
        state["max"] = max(state["max"], state["in_flight"])
        await asyncio.sleep(0.1)
        state["in_flight"] -= 1
        content = body["messages"][-1]["content"]
        return chat_answer(body, text_of=lambda i: f"echo {content}")

    reqs = [GenerationRequest(id=f"q{i}", messages=[Message(role="user", content=f"question {i}")]) for i in range(10)]
    seen = []
    with running(app) as url:
        t0 = time.perf_counter()
        got = client(url, concurrency=3).generate(reqs, SamplingConfig(max_new_tokens=4), on_batch=seen.extend)
        elapsed = time.perf_counter() - t0
    assert state["calls"] == 10
    assert state["max"] == 3, f"at most `concurrency` requests in flight, saw {state['max']}"
    assert elapsed >= 0.1 * 10 / 3 * 0.9  # really bounded: ~4 waves of 0.1 s
    assert [c.text for c in got] == [f"echo question {i}" for i in range(10)]  # request order kept
    assert sorted(c.request_id for c in seen) == sorted(r.id for r in reqs)  # every result reported once


def test_retry_after_server_error_and_timeout(caplog):
    app = FastAPI()
    calls = {"n": 0}

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        calls["n"] += 1
        if calls["n"] == 1:
            return JSONResponse(status_code=503, content={"error": {"message": "warming up"}})
        if calls["n"] == 2:
            await asyncio.sleep(2.0)  # longer than the client's timeout
        return chat_answer(body, text_of=lambda i: "finally")

    with running(app) as url, caplog.at_level(logging.INFO, logger="selfmoa.generation.openai_backend"):
        got = client(url, concurrency=1, timeout=0.5, max_retries=2).generate(requests_for()[:1], SamplingConfig(max_new_tokens=4))
    assert [c.text for c in got] == ["finally"]
    assert calls["n"] == 3
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2 and "HTTP 503" in retries[0] and "Timeout" in retries[1]


def test_gives_up_with_one_line_error():
    app = FastAPI()
    calls = {"n": 0}

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        calls["n"] += 1
        return JSONResponse(status_code=500, content={"error": {"message": "boom\nsecond line"}})

    with running(app) as url:
        with pytest.raises(SelfmoaError) as err:
            client(url, max_retries=1).generate(requests_for()[:1], SamplingConfig(max_new_tokens=4))
    msg = str(err.value)
    assert calls["n"] == 2
    assert "\n" not in msg and "generation.openai.base_url" in msg and "2 attempt(s)" in msg and "HTTP 500" in msg


def test_unreachable_server_is_a_user_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SelfmoaError, match="is the server running"):
        client(f"http://127.0.0.1:{port}/v1", max_retries=0).generate(requests_for()[:1], SamplingConfig(max_new_tokens=4))


def test_bad_base_url_rejected():
    with pytest.raises(SelfmoaError, match="generation.openai.base_url"):
        client("localhost:8000")


def test_server_ignoring_n_is_topped_up():
    app = FastAPI()
    seeds = []

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        seeds.append(body["seed"])
        return chat_answer(body, text_of=lambda i: f"seed {body['seed']}", n=1)  # like servers without `n` support

    with running(app) as url:
        got = client(url).generate(requests_for()[:1], SamplingConfig(max_new_tokens=4, temperature=1.0, n=3, seed=10))
    assert [c.sample_index for c in got] == [0, 1, 2]
    assert [c.text for c in got] == ["seed 10", "seed 11", "seed 12"]  # distinct seeds per extra sample


def test_malformed_answer_is_a_user_error():
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        return {"not": "a completion"}

    with running(app) as url:
        with pytest.raises(SelfmoaError, match="did not return an OpenAI chat completion"):
            client(url).generate(requests_for()[:1], SamplingConfig(max_new_tokens=4))


def test_api_key_from_env_sent_and_never_logged(monkeypatch, caplog):
    secret = "sk-test-" + "7f3a9c" * 4
    monkeypatch.setenv("SELFMOA_TEST_API_KEY", secret)
    app = FastAPI()
    seen = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        seen.append(request.headers.get("authorization"))
        if len(seen) == 1:  # a server that echoes the header in its error body
            return JSONResponse(status_code=503, content={"error": f"overloaded, your header: {seen[0]}"})
        if len(seen) >= 3:
            return JSONResponse(status_code=401, content={"error": f"bad key {seen[-1]}"})
        return chat_answer(await request.json())

    with running(app) as url, caplog.at_level(logging.DEBUG):
        gen = client(url, api_key_env="SELFMOA_TEST_API_KEY", concurrency=1)
        got = gen.generate(requests_for()[:1], SamplingConfig(max_new_tokens=4))
        with pytest.raises(SelfmoaError) as err:
            gen.generate(requests_for()[:1], SamplingConfig(max_new_tokens=4))
    assert got[0].text == "answer 0"
    assert seen[0] == f"Bearer {secret}"
    assert "api_key_env" in str(err.value) and "HTTP 401" in str(err.value)
    assert secret not in str(err.value)
    assert secret not in caplog.text
    assert secret not in repr(gen.model_info) and secret not in gen.policy_id
    assert secret not in GenerationConfig(openai=gen.endpoint).model_dump_json()


def test_no_key_header_when_env_var_unset(monkeypatch):
    monkeypatch.delenv("SELFMOA_TEST_API_KEY", raising=False)
    app = FastAPI()
    seen = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        seen.append(request.headers.get("authorization"))
        return chat_answer(await request.json())

    with running(app) as url:
        client(url, api_key_env="SELFMOA_TEST_API_KEY").generate(requests_for()[:1], SamplingConfig(max_new_tokens=4))
    assert seen == [None]


def test_generate_inside_running_event_loop(served):
    """Notebooks run an event loop already; the sync API must still work there."""
    hf, url = served
    reqs = requests_for()[:2]
    sampling = SamplingConfig(max_new_tokens=6)

    async def inside():
        return client(url).generate(reqs, sampling)

    got = asyncio.run(inside())
    assert [c.text for c in got] == [c.text for c in hf.generate(reqs, sampling)]


# -- vllm without vllm installed ----------------------------------------------------------------------


def test_vllm_backend_missing_names_the_extra():
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed")
    with pytest.raises(SelfmoaError) as err:
        get_backend("vllm")(ModelConfig(), GenerationConfig(backend="vllm"))
    msg = str(err.value)
    assert "\n" not in msg
    assert "pip install 'selfmoa[vllm]'" in msg and "generation.backend=vllm" in msg


def test_check_backend_names_the_extra_before_anything_is_built():
    import importlib.util

    from selfmoa.errors import MissingExtraError
    from selfmoa.generation import check_backend

    check_backend("hf")
    check_backend("openai")
    with pytest.raises(SelfmoaError, match="unknown backend 'tgi'"):
        check_backend("tgi")
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(MissingExtraError, match=r"pip install 'selfmoa\[vllm\]'"):
            check_backend("vllm")


def test_cli_run_with_vllm_backend_without_vllm(tmp_path):
    """`selfmoa run` with a config asking for vLLM on a machine without it: one line naming the extra, no run folder."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed")
    prompts = tmp_path / "p.txt"
    prompts.write_text("Say hello.\n")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"run:\n  name: v\n  output_dir: {tmp_path / 'runs'}\n  prompts: [{prompts}]\ngeneration:\n  backend: vllm\n")
    res = subprocess.run([sys.executable, "-m", "selfmoa", "run", str(cfg)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    err = res.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "pip install 'selfmoa[vllm]'" in err and "generation.backend=vllm" in err
    assert not (tmp_path / "runs" / "v").exists()


def test_assistant_prefill_continued_like_hf(served):
    """A conversation ending with an assistant message is continued: same text as the hf backend, and the request
    carries vLLM's continue_final_message flag."""
    hf, url = served
    reqs = [
        GenerationRequest(
            id=r.id, messages=[*r.messages, Message(role="assistant", content="I can't help with that")]
        )
        for r in requests_for()[:3]
    ]
    sampling = SamplingConfig(max_new_tokens=8)
    expected = [c.text for c in hf.generate(reqs, sampling)]
    assert expected != [c.text for c in hf.generate(requests_for()[:3], sampling)]  # the prefill changes the answer
    assert [c.text for c in client(url).generate(reqs, sampling)] == expected

    app = FastAPI()
    bodies = []

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        bodies.append(body)
        return chat_answer(body)

    with running(app) as url2:
        client(url2).generate(reqs[:1] + requests_for()[:1], sampling)
    flagged = [b for b in bodies if b["messages"][-1]["role"] == "assistant"]
    plain = [b for b in bodies if b["messages"][-1]["role"] == "user"]
    assert flagged and flagged[0]["continue_final_message"] is True and flagged[0]["add_generation_prompt"] is False
    assert plain and "continue_final_message" not in plain[0]

"""Any OpenAI-compatible server (vLLM, llama.cpp server, TGI, `selfmoa serve`, hosted APIs).

Async with bounded concurrency (``generation.openai.concurrency`` requests in flight), a timeout per
request and retries with exponential backoff on timeouts, connection errors, 429 and 5xx. The API key is
read from the environment variable named by ``generation.openai.api_key_env``; it is sent as a header and
never logged, stored in the manifest or put in an error message. Userinfo (``http://user:pass@host``) and
secret query parameters in ``base_url`` are sent but never persisted or printed: the policy id, model info and
messages use :func:`selfmoa.redact.redact_url`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
from typing import Any
from urllib.parse import urlparse

from selfmoa.config.generation import GenerationConfig, SamplingConfig
from selfmoa.config.models import ModelConfig
from selfmoa.errors import SelfmoaError
from selfmoa.generation.base import BaseGenerator, Completion, GenerationRequest, register_backend
from selfmoa.generation.chat import prepare_messages, split_prefill
from selfmoa.progress import progress_bar
from selfmoa.redact import redact_text, redact_url, register_secret

log = logging.getLogger(__name__)

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def _run_sync(coro):
    """Run a coroutine to completion from sync code, also when an event loop is already running (notebooks)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


@register_backend("openai")
class OpenAIGenerator(BaseGenerator):
    name = "openai"
    #: first retry waits this many seconds, then doubles (capped at backoff_max), with jitter
    backoff_base = 0.5
    backoff_max = 20.0

    def __init__(self, model_config: ModelConfig, gen_config: GenerationConfig):
        ep = gen_config.openai
        self.model_config = model_config
        self.gen_config = gen_config
        self.endpoint = ep
        self.base_url = ep.base_url.rstrip("/")
        parsed = urlparse(self.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise SelfmoaError("generation.openai.base_url: expected an http(s) URL such as http://127.0.0.1:8000/v1, "
                               f"got '{redact_url(ep.base_url)}'")
        self.model = ep.model or model_config.name_or_path
        self.url = redact_url(self.base_url)  # what messages, ids and the manifest show
        host = parsed.netloc.rsplit("@", 1)[-1]  # never the userinfo: policy ids go into every record
        self.policy_id = f"openai:{self.model}@{host}"
        self.model_info = {"backend": "openai", "model": self.model, "base_url": self.url, "policy_id": self.policy_id}

    # -- public --------------------------------------------------------------------------------------
    def _generate(self, requests: list[GenerationRequest], sampling: SamplingConfig, on_batch) -> list[Completion]:
        return _run_sync(self._agenerate(requests, sampling, on_batch))

    def check_reachable(self) -> None:
        """Fail now, with a one-line error, when nothing answers at `base_url` or it refuses the key (checked before a
        run folder is created). Any HTTP answer other than 401/403 counts as reachable (not every server lists models)."""
        import httpx

        try:
            resp = httpx.get(f"{self.base_url}/models", headers=self._headers(), timeout=min(self.endpoint.timeout, 10.0))
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise SelfmoaError(f"generation.openai.base_url: cannot reach {self.url} "
                               f"({self._redact(type(exc).__name__ + ': ' + str(exc))}); is the server running?") from None
        if resp.status_code in (401, 403):
            raise SelfmoaError(f"generation.openai.api_key_env: {self.url} refused the request (HTTP {resp.status_code}); "
                               f"set the key in ${self.endpoint.api_key_env or 'the variable named by api_key_env'}")

    # -- internals -----------------------------------------------------------------------------------
    def _api_key(self) -> str | None:
        key = (os.environ.get(self.endpoint.api_key_env) or None) if self.endpoint.api_key_env else None
        register_secret(key)  # masked in every message and log line from now on
        return key

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = self._api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _redact(self, text: str) -> str:
        """`text` with the API key and URL secrets masked (a server may echo request headers in its error bodies)."""
        self._api_key()
        return redact_text(text)

    async def _agenerate(self, requests, sampling: SamplingConfig, on_batch) -> list[Completion]:
        import httpx

        sem = asyncio.Semaphore(self.endpoint.concurrency)
        limits = httpx.Limits(max_connections=self.endpoint.concurrency, max_keepalive_connections=self.endpoint.concurrency)
        results: dict[int, list[Completion]] = {}
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers(), timeout=self.endpoint.timeout, limits=limits
        ) as client:

            async def one(i: int, req: GenerationRequest):
                async with sem:
                    return i, await self._complete(client, req, sampling)

            tasks = [asyncio.create_task(one(i, r)) for i, r in enumerate(requests)]
            try:
                with progress_bar(self.gen_config.progress and len(requests) > 1, f"generating ({self.policy_id})", len(requests)) as bar:
                    for fut in asyncio.as_completed(tasks):
                        i, comps = await fut
                        results[i] = comps
                        if on_batch is not None:
                            on_batch(comps)
                        if bar is not None:
                            bar.advance(bar.task_ids[0])
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        return [c for i in range(len(requests)) for c in results[i]]

    async def _complete(self, client, req: GenerationRequest, sampling: SamplingConfig) -> list[Completion]:
        messages = prepare_messages(req.messages, self.model_config.system_prompt)
        meta = {"sampling": sampling.model_dump()}
        choices = await self._post(client, req.id, messages, sampling, sampling.n, sampling.seed)
        k = 0
        while len(choices) < sampling.n:  # the server ignored `n`: ask for the missing samples one by one
            k += 1
            more = await self._post(client, req.id, messages, sampling, 1, sampling.seed + k)
            if not more:
                raise SelfmoaError(f"generation.openai.base_url: {self.url} returned no choices for request {req.id}")
            choices.extend(more)
        out = []
        for j, (text, finish, prompt_tokens, completion_tokens) in enumerate(choices[: sampling.n]):
            out.append(
                Completion(
                    request_id=req.id,
                    sample_index=j,
                    text=text,
                    finish_reason="length" if finish == "length" else "stop",
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    meta=meta,
                )
            )
        return out

    async def _post(self, client, request_id, messages, sampling: SamplingConfig, n: int, seed: int):
        import httpx

        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "n": n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
            "seed": seed,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if split_prefill(messages)[1]:  # an assistant prefill: vLLM's extension continues it
            body.update(continue_final_message=True, add_generation_prompt=False)
        attempts = self.endpoint.max_retries + 1
        last = ""
        for attempt in range(attempts):
            retry_after = None
            try:
                resp = await client.post("/chat/completions", json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = self._redact(f"{type(exc).__name__}: {exc}".strip().rstrip(":"))
            else:
                if resp.status_code == 200:
                    return self._parse(resp, request_id)
                detail = self._redact(resp.text.strip().replace("\n", " "))[:200]
                last = f"HTTP {resp.status_code} {detail}"
                if resp.status_code not in _RETRY_STATUS:
                    field = "generation.openai.api_key_env" if resp.status_code in (401, 403) else "generation.openai"
                    raise SelfmoaError(f"{field}: {self.url}/chat/completions answered {last}")
                retry_after = resp.headers.get("retry-after")
            if attempt + 1 < attempts:
                delay = min(self.backoff_max, self.backoff_base * 2**attempt) * (1 + 0.1 * random.random())
                if retry_after:
                    try:
                        delay = min(self.backoff_max, max(delay, float(retry_after)))
                    except ValueError:
                        pass
                log.info("openai backend: retry %d/%d in %.1fs after %s", attempt + 1, attempts - 1, delay, last)
                await asyncio.sleep(delay)
        raise SelfmoaError(
            f"generation.openai.base_url: cannot get an answer from {self.url} after {attempts} attempt(s) "
            f"(last error: {last or 'unknown'}); is the server running and reachable?"
        )

    def _parse(self, resp, request_id) -> list[tuple[str, str, int, int]]:
        try:
            data = resp.json()
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            usage = data.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_total = int(usage.get("completion_tokens") or 0)
            per_choice = completion_total // max(1, len(choices))  # usage is summed over choices
            return [
                ((c.get("message") or {}).get("content") or "", c.get("finish_reason") or "stop", prompt_tokens, per_choice)
                for c in choices
            ]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise SelfmoaError(
                f"generation.openai.base_url: {self.url} did not return an OpenAI chat completion for request {request_id} "
                f"(got: {self._redact(resp.text.strip())[:120]!r})"
            ) from None

"""A small OpenAI-compatible server backed by a selfmoa generator (the ``hf`` backend by default).

``selfmoa serve MODEL`` exposes ``GET /v1/models`` and ``POST /v1/chat/completions`` (messages, n,
temperature, top_p, max_tokens, seed, stop). Concurrent requests are micro-batched: requests that arrive
within ``batch_window`` seconds and share sampling parameters go through one batched ``generate`` call.
The model runs in one worker thread, so the event loop keeps accepting requests while it works.

With ``api_key`` every request needs ``Authorization: Bearer <key>`` (else HTTP 401). ``max_tokens`` above
``max_tokens_limit`` and ``n`` above ``max_n`` are refused with HTTP 400 and a message, so one request cannot
hold the model for minutes.

Needs the optional extra ``selfmoa[server]`` (FastAPI + uvicorn).
"""

from __future__ import annotations

import asyncio
import hmac
import time
import uuid
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from selfmoa.config.generation import SamplingConfig
from selfmoa.errors import SelfmoaError, require
from selfmoa.generation.base import GenerationRequest
from selfmoa.records import Message, stable_hash


def check_dependencies():
    """Import FastAPI and uvicorn, or fail with a one-line error naming the extra to install."""
    fastapi = require("fastapi", "selfmoa serve", "server")
    require("uvicorn", "selfmoa serve", "server")
    return fastapi


class ChatRequest(BaseModel):
    """The body of POST /v1/chat/completions (the fields this server honours; others are ignored)."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    n: int = Field(1, ge=1)
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, gt=0)
    max_completion_tokens: int | None = Field(None, gt=0)
    seed: int | None = None
    stop: str | list[str] | None = None


@dataclass
class _Pending:
    request: GenerationRequest
    sampling: SamplingConfig
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Collects concurrent requests for a short window and runs them as batches (one model call at a time)."""

    def __init__(self, generator, *, batch_window: float = 0.01, max_batch: int = 64):
        self.generator = generator
        self.batch_window = batch_window
        self.max_batch = max_batch
        self.queue: asyncio.Queue[_Pending] | None = None
        self.task: asyncio.Task | None = None

    async def start(self):
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._worker())

    async def stop(self):
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def submit(self, request: GenerationRequest, sampling: SamplingConfig):
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put(_Pending(request, sampling, fut))
        return await fut

    async def _worker(self):
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            deadline = loop.time() + self.batch_window
            while len(items) < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    items.append(await asyncio.wait_for(self.queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
            groups: dict[str, list[_Pending]] = {}
            for it in items:
                groups.setdefault(it.sampling.model_dump_json(), []).append(it)
            for group in groups.values():
                reqs = [it.request for it in group]
                try:
                    comps = await loop.run_in_executor(None, self.generator.generate, reqs, group[0].sampling)
                except Exception as exc:  # noqa: BLE001 - reported to each waiting request
                    for it in group:
                        if not it.future.done():
                            it.future.set_exception(exc)
                    continue
                n = group[0].sampling.n
                for k, it in enumerate(group):
                    if not it.future.done():
                        it.future.set_result(comps[k * n : (k + 1) * n])


#: defaults of `selfmoa serve --max-tokens-limit` and `--max-n`
MAX_TOKENS_LIMIT = 1024
MAX_N = 16
DEFAULT_MAX_TOKENS = 256


def create_app(generator, model_name: str, *, batch_window: float = 0.01, max_batch: int = 64, api_key: str | None = None,
               max_tokens_limit: int = MAX_TOKENS_LIMIT, max_n: int = MAX_N):
    """The FastAPI app serving `generator` under the model name `model_name` (with `api_key`: Bearer auth)."""
    fastapi = check_dependencies()
    from contextlib import asynccontextmanager

    from fastapi.responses import JSONResponse

    batcher = MicroBatcher(generator, batch_window=batch_window, max_batch=max_batch)

    @asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        yield
        await batcher.stop()

    app = fastapi.FastAPI(title="selfmoa serve", lifespan=lifespan)

    def error(status: int, message: str, kind: str = "invalid_request_error", headers: dict | None = None):
        return JSONResponse(status_code=status, content={"error": {"message": message, "type": kind}}, headers=headers)

    if api_key:
        expected = f"Bearer {api_key}".encode()

        @app.middleware("http")
        async def bearer_auth(request, call_next):
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return error(401, "missing or wrong API key: send the header 'Authorization: Bearer <key>'",
                             "authentication_error", {"WWW-Authenticate": "Bearer"})
            return await call_next(request)

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": 0, "owned_by": "selfmoa"}]}

    @app.post("/v1/chat/completions")
    async def chat(req: ChatRequest):
        if req.model not in (None, model_name):
            return error(404, f"model '{req.model}' is not served here; this server serves '{model_name}'", "not_found_error")
        stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        max_tokens = req.max_completion_tokens or req.max_tokens or min(DEFAULT_MAX_TOKENS, max_tokens_limit)
        if max_tokens > max_tokens_limit:
            return error(400, f"max_tokens={max_tokens} is over this server's limit of {max_tokens_limit} "
                              f"(selfmoa serve --max-tokens-limit)")
        if req.n > max_n:
            return error(400, f"n={req.n} is over this server's limit of {max_n} (selfmoa serve --max-n)")
        try:
            sampling = SamplingConfig(
                max_new_tokens=max_tokens,
                temperature=req.temperature,
                top_p=req.top_p,
                n=req.n,
                seed=req.seed if req.seed is not None else 0,
                stop=stop,
            )
        except ValueError as exc:
            return error(400, str(exc).splitlines()[0])
        # a deterministic id: the same seeded request gives the same samples
        rid = "req-" + stable_hash([m.model_dump() for m in req.messages])
        try:
            comps = await batcher.submit(GenerationRequest(id=rid, messages=list(req.messages)), sampling)
        except SelfmoaError as exc:
            return error(400, str(exc))
        prompt_tokens = comps[0].prompt_tokens if comps else 0
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex[:24],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model_name,
            "system_fingerprint": getattr(generator, "policy_id", None),
            "choices": [
                {"index": c.sample_index, "message": {"role": "assistant", "content": c.text}, "finish_reason": c.finish_reason}
                for c in comps
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": sum(c.completion_tokens for c in comps),
                "total_tokens": prompt_tokens + sum(c.completion_tokens for c in comps),
            },
        }

    return app


def bind_socket(host: str, port: int):
    """A socket bound to (host, port), or a one-line error when the address is taken or invalid."""
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        raise SelfmoaError(f"--host/--port: cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port") from None
    return sock


def serve(
    generator,
    model_name: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    batch_window: float = 0.01,
    max_batch: int = 64,
    sock=None,
    **limits,
) -> None:
    """Run the server in the foreground (blocks until interrupted). `sock`: an already bound socket; `limits`:
    `api_key`, `max_tokens_limit`, `max_n` of :func:`create_app`."""
    check_dependencies()
    import uvicorn

    sock = sock or bind_socket(host, port)
    app = create_app(generator, model_name, batch_window=batch_window, max_batch=max_batch, **limits)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()

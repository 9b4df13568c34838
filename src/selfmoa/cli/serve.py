"""`selfmoa serve MODEL`: an OpenAI-compatible HTTP server for a local model."""

from __future__ import annotations

from typing import Optional

import typer

from selfmoa.cli.common import console

# the defaults of selfmoa.generation.server (MAX_TOKENS_LIMIT, MAX_N), spelled out: importing it here slows every command
MAX_TOKENS_LIMIT, MAX_N = 1024, 16


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        model: str = typer.Argument("smollm2-135m", help="model name (selfmoa models list), local folder, .gguf file or hub id"),
        host: str = typer.Option("127.0.0.1", help="interface to listen on (0.0.0.0 exposes it to the network)"),
        port: int = typer.Option(8000, min=1, max=65535, help="TCP port"),
        batch_size: int = typer.Option(32, "--batch-size", min=1, help="prompts per forward batch"),
        batch_window: float = typer.Option(
            0.01, "--batch-window", min=0.0, help="seconds to wait for concurrent requests to batch together"
        ),
        system_prompt: Optional[str] = typer.Option(None, "--system-prompt", help="system prompt added when a conversation has none"),
        served_name: Optional[str] = typer.Option(None, "--served-name", help="model name clients send (default: MODEL)"),
        device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, mps"),
        log_level: str = typer.Option("info", "--log-level", help="uvicorn log level: critical, error, warning, info, debug"),
        api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="name of an environment variable holding the "
                                                  "API key clients must send as 'Authorization: Bearer <key>'"),
        max_tokens_limit: int = typer.Option(MAX_TOKENS_LIMIT, "--max-tokens-limit", min=1, help="largest max_tokens a request may ask "
                                             "for (more: HTTP 400); also caps the default of 256"),
        max_n: int = typer.Option(MAX_N, "--max-n", min=1, help="largest n (samples per request) a request may ask for"),
    ):
        """Serve a model over an OpenAI-compatible API (GET /v1/models, POST /v1/chat/completions).

        Concurrent requests are micro-batched through the batched `hf` backend, so many clients (or the
        `openai` backend with `concurrency` > 1) share each forward pass. Without --api-key-env anyone who
        reaches the port may use it: keep it on 127.0.0.1, or set a key (clients: generation.openai.api_key_env).

        Examples:

            selfmoa serve smollm2-135m --port 8000
            selfmoa run configs/demo.yaml --set generation.backend=openai --set generation.openai.base_url=http://127.0.0.1:8000/v1 --set generation.openai.model=smollm2-135m
            curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' -d '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":32}'
            SERVE_KEY=... selfmoa serve smollm2-135m --host 0.0.0.0 --api-key-env SERVE_KEY --max-tokens-limit 512

        Needs the optional extra: pip install 'selfmoa[server]'.
        """
        import os

        from selfmoa.config.generation import GenerationConfig
        from selfmoa.config.models import ModelConfig
        from selfmoa.errors import SelfmoaError
        from selfmoa.generation.server import bind_socket, check_dependencies, serve as run_server
        from selfmoa.redact import register_secret

        check_dependencies()  # fail fast, before loading the model, when the extra is missing or the port taken
        api_key = None
        if api_key_env is not None:
            api_key = os.environ.get(api_key_env) or None
            if api_key is None:
                raise SelfmoaError(f"--api-key-env {api_key_env}: that environment variable is not set or empty")
            register_secret(api_key)
        sock = bind_socket(host, port)
        from selfmoa.generation.hf import HFGenerator

        mcfg = ModelConfig(name_or_path=model, system_prompt=system_prompt, device=device)
        generator = HFGenerator(mcfg, GenerationConfig(batch_size=batch_size, progress=False))
        name = served_name or model
        console.print(f"serving [bold]{name}[/] ({generator.policy_id}) on http://{host}:{port}/v1"
                      + (" (API key required)" if api_key else ""), highlight=False)
        if api_key is None and host not in ("127.0.0.1", "localhost", "::1"):
            console.print(f"[yellow]warning:[/] no --api-key-env: anyone who can reach {host}:{port} can use this model",
                          highlight=False)
        run_server(generator, name, host=host, port=port, log_level=log_level.lower(), batch_window=batch_window,
                   max_batch=batch_size, sock=sock, api_key=api_key, max_tokens_limit=max_tokens_limit, max_n=max_n)

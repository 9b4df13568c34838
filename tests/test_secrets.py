"""No secret on disk or in a log (issue 22.3): a run configured with a password in the generation URL (given on the
command line, so it is in the command too), an API key in the variable `api_key_env` names, and a password in a
judge's params is served by a real `selfmoa serve` app on 127.0.0.1; the test checks the server received every
secret (they were used) and then greps every file of the run folder (manifest, ledger, .bak, lock, records,
report.html) and the output of each command for them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from test_generation_openai import running  # noqa: E402
from test_reliability import EchoGenerator  # noqa: E402

URL_SECRET = "urlpw-7f3a9c21"
KEY_SECRET = "envkey-51d2e8f0"
PARAM_SECRET = "judgepw-c0ffee99"
SECRETS = (URL_SECRET, KEY_SECRET, PARAM_SECRET)


class VerdictGenerator(EchoGenerator):
    """Answers every request with a rubric verdict the llm-judge parses (and as the policy's answer)."""

    def generate(self, requests, sampling, *, on_batch=None):
        from selfmoa.generation.base import Completion

        return [Completion(r.id, k, '{"harm": 1, "helpfulness": 8}') for r in requests for k in range(sampling.n)]


def selfmoa(*args, env=None):
    return subprocess.run([sys.executable, "-m", "selfmoa", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_no_secret_in_any_run_file_or_log(tmp_path):
    from selfmoa.generation.server import create_app

    seen: list[str] = []
    app = create_app(VerdictGenerator(), "m")

    @app.middleware("http")
    async def record(request, call_next):
        seen.append(request.headers.get("authorization", ""))
        return await call_next(request)

    with running(app) as url:
        host = url.split("//", 1)[1]  # 127.0.0.1:PORT/v1
        judge_ep = {"base_url": f"http://carol:{PARAM_SECRET}@{host}", "model": "m", "api_key_env": None}
        cfg = {
            "run": {"name": "s", "output_dir": str(tmp_path / "runs")},
            "model": {"name_or_path": "m"},
            "generation": {"backend": "openai", "progress": False, "sampling": {"max_new_tokens": 8},
                           "openai": {"model": "m", "api_key_env": None, "max_retries": 0}},
            "eval": {"max_prompts_per_set": 2, "bootstrap": 20, "suites": ["safety", "overrefusal", "helpfulness"],
                     "judges": {"safety": [{"name": "llm-judge", "params": {"endpoint": judge_ep}}],
                                "helpfulness": [{"name": "llm-judge", "id": "llm-help",
                                                 "endpoint": {"base_url": url, "model": "m", "api_key_env": "JUDGE_KEY"}}],
                                "refusal": [{"name": "refusal-patterns"}], "training_safety": False}},
        }
        path = tmp_path / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg))
        env = {"JUDGE_KEY": KEY_SECRET}
        secret_url = f"generation.openai.base_url=http://alice:{URL_SECRET}@{host}"
        runs = [selfmoa("eval", "run", str(path), "--set", secret_url, env=env)]
        assert runs[0].returncode == 0, runs[0].stderr[-3000:]
        runs.append(selfmoa("report", str(tmp_path / "runs" / "s")))
        assert runs[1].returncode == 0, runs[1].stderr[-3000:]
        # an error path: the server refuses the request; the one-line error names the URL without its password
        locked = create_app(VerdictGenerator(), "m", api_key="server-only-key")
        with running(locked) as url2:
            bad = selfmoa("eval", "run", str(path), "--set", "run.name=refused", "--set",
                          f"generation.openai.base_url=http://alice:{URL_SECRET}@{url2.split('//', 1)[1]}", env=env)
        assert bad.returncode == 2 and "HTTP 401" in bad.stderr and "http://***@127.0.0.1" in bad.stderr, bad.stderr
        runs.append(bad)

    import base64

    basic = {base64.b64decode(h.split()[1]).decode() for h in seen if h.startswith("Basic ")}
    assert f"alice:{URL_SECRET}" in basic and f"carol:{PARAM_SECRET}" in basic  # the secrets were used...
    assert f"Bearer {KEY_SECRET}" in seen
    run_dir = tmp_path / "runs" / "s"
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    names = {str(p.relative_to(run_dir)) for p in files}
    assert {"manifest.json", "manifest.json.bak", "ledger.json", "run.lock", "report.html",
            "stages/iter0/eval/responses.jsonl", "stages/iter0/eval/judgments.jsonl"} <= names
    leaks = [(str(p.relative_to(run_dir)), s) for p in files for s in SECRETS if s.encode() in p.read_bytes()]
    leaks += [(f"output of command {i}", s) for i, r in enumerate(runs) for s in SECRETS if s in r.stdout + r.stderr]
    assert not leaks, leaks  # ...and are nowhere on disk or in a log
    assert not (tmp_path / "runs" / "refused").exists()  # the refused start left nothing
    manifest = (run_dir / "manifest.json").read_text()
    assert "http://***@127.0.0.1" in manifest  # the URL is kept, its password is not
    responses = (run_dir / "stages/iter0/eval/responses.jsonl").read_text()
    assert '"policy":"openai:m@127.0.0.1:' in responses.replace(" ", "")

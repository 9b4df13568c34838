"""Reliability (issue 22) piece by piece: redaction, the run lock, output checks, atomic writes with backups, writes
that fail (ENOSPC), damaged run-folder files, failed starts that leave nothing, and `selfmoa serve`'s key and limits.

The end-to-end guarantees are tested elsewhere: the bad-input matrix in test_bad_inputs.py, SIGKILL at every stage
of a two-iteration loop in test_loop.py, and no secret on disk in test_secrets.py.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from selfmoa.errors import SelfmoaError
from selfmoa.records import Prompt
from selfmoa.redact import redact, redact_text, redact_url, register_secret
from selfmoa.store import JsonlWriter, RunStore, read_records
from selfmoa.store.atomic import atomic_write_json
from selfmoa.store.outputs import check_output
from selfmoa.store.run import open_run

# -- redaction -------------------------------------------------------------------------------------------


def test_redact_url_userinfo_and_secret_query_parameters():
    assert redact_url("http://user:pass@host:8000/v1") == "http://***@host:8000/v1"
    assert redact_url("https://h/v1?api_key=abc&model=x&sig=zz") == "https://h/v1?api_key=***&model=x&sig=***"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"  # nothing to hide: unchanged


def test_redact_text_masks_urls_bearer_pairs_and_registered_values():
    register_secret("sk-live-0123456789")
    text = ("POST http://u:p4ss@h/v1 with Authorization: Bearer abc.def-ghi --set generation.openai.api_key=sk-1 "
            "max_new_tokens=12 api_key_env=OPENAI_API_KEY echo sk-live-0123456789")
    out = redact_text(text)
    for secret in ("p4ss", "abc.def-ghi", "sk-1 ", "sk-live-0123456789"):
        assert secret not in out, out
    assert "max_new_tokens=12" in out and "api_key_env=OPENAI_API_KEY" in out  # not secrets


def test_redact_config_keys_headers_and_urls():
    cfg = {"api_key": "sk", "hf_token": "hf", "api_key_env": "KEY", "max_tokens": 5,
           "headers": {"Authorization": "Bearer x", "X-Api-Key": "k", "Accept": "json"},
           "endpoint": {"base_url": "http://u:pw@h/v1"}, "auth": {"user": "u", "password": "p"}}
    assert redact(cfg) == {"api_key": "***", "hf_token": "***", "api_key_env": "KEY", "max_tokens": 5,
                           "headers": {"Authorization": "***", "X-Api-Key": "***", "Accept": "json"},
                           "endpoint": {"base_url": "http://***@h/v1"}, "auth": "***"}


def test_openai_policy_id_and_model_info_never_hold_the_url_secret():
    from selfmoa.config.generation import EndpointConfig, GenerationConfig
    from selfmoa.config.models import ModelConfig
    from selfmoa.generation.openai_backend import OpenAIGenerator

    ep = EndpointConfig(base_url="http://bob:hunter2@10.0.0.1:9000/v1?token=t0k3n", model="m", api_key_env=None)
    gen = OpenAIGenerator(ModelConfig(name_or_path="m"), GenerationConfig(backend="openai", openai=ep))
    assert gen.policy_id == "openai:m@10.0.0.1:9000"
    blob = json.dumps(gen.model_info)
    assert "hunter2" not in blob and "t0k3n" not in blob and "10.0.0.1:9000" in blob


# -- the run lock ----------------------------------------------------------------------------------------

HOLD = """
import sys, time
from selfmoa.store.run import RunStore
RunStore.create_or_resume(sys.argv[1], "r", {"a": 1}, command=["selfmoa", "run", "holder.yaml"])
print("locked", flush=True)
time.sleep(120)
"""


def _holder(tmp_path: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_is_refused_naming_the_holder_and_a_killed_holder_is_taken_over(tmp_path):
    proc = _holder(tmp_path)
    try:
        before = {p: p.read_bytes() for p in (tmp_path / "r").rglob("*") if p.is_file()}
        with pytest.raises(SelfmoaError, match=rf"in use by process {proc.pid} \(selfmoa run holder.yaml"):
            RunStore.create_or_resume(tmp_path, "r", {"a": 1})
        assert {p: p.read_bytes() for p in (tmp_path / "r").rglob("*") if p.is_file()} == before
    finally:
        proc.kill()  # SIGKILL: no cleanup runs, the lock file keeps the dead holder's details
        proc.wait()
    store = RunStore.create_or_resume(tmp_path, "r", {"a": 1})
    assert store.lock.previous["pid"] == proc.pid  # taken over, and reported
    assert json.loads((tmp_path / "r" / "run.lock").read_text())["pid"] == os.getpid()


def test_lock_is_released_and_emptied_on_normal_exit(tmp_path):
    code = "import sys; from selfmoa.store.run import RunStore; RunStore.create_or_resume(sys.argv[1], 'r', {})"
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    assert (tmp_path / "r" / "run.lock").read_text() == ""
    assert RunStore.create_or_resume(tmp_path, "r", {}).lock.previous == {}


# -- outputs ---------------------------------------------------------------------------------------------


def test_check_output_refuses_inputs_existing_files_and_uncreatable_folders(tmp_path):
    src = tmp_path / "same.jsonl"
    src.write_text("{}\n")
    with pytest.raises(SelfmoaError, match="also an input"):
        check_output(tmp_path / "." / "same.jsonl", inputs=[src], overwrite=True)
    link = tmp_path / "hard.jsonl"
    os.link(src, link)
    with pytest.raises(SelfmoaError, match="also an input"):
        check_output(link, inputs=[src], overwrite=True)
    with pytest.raises(SelfmoaError, match="already exists; pass --overwrite"):
        check_output(link)
    assert check_output(link, overwrite=True) == link
    with pytest.raises(SelfmoaError, match="is a file, not a folder"):
        check_output(src / "x" / "out.jsonl")
    (tmp_path / "run").mkdir()
    with pytest.raises(SelfmoaError, match="also an input"):  # inside an input folder
        check_output(tmp_path / "run" / "stages" / "a.jsonl", inputs=[tmp_path / "run"], overwrite=True)


# -- atomic writes, .bak, damaged files --------------------------------------------------------------------


def test_manifest_and_ledger_keep_a_backup_and_a_damaged_ledger_says_how_to_recover(tmp_path):
    store = RunStore.create_or_resume(tmp_path, "r", {"a": 1})
    with store.stage("s") as h:
        h.write([Prompt(id="p-1", text="x")])
        h.complete()
    ledger = tmp_path / "r" / "ledger.json"
    assert json.loads((tmp_path / "r" / "ledger.json.bak").read_text())["s"]["status"] == "running"
    assert (tmp_path / "r" / "manifest.json.bak").is_file()
    ledger.write_text('{"s": {"status": "comp')  # damaged
    with pytest.raises(SelfmoaError, match=r"ledger.json is damaged .*restore it from ledger.json.bak"):
        RunStore.open(tmp_path / "r")
    os.replace(tmp_path / "r" / "ledger.json.bak", ledger)  # what the message says to do
    assert RunStore.open(tmp_path / "r").ledger["s"]["status"] == "running"


def test_atomic_write_failure_leaves_the_target_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    atomic_write_json(path, {"v": 1})

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SelfmoaError, match=r"cannot write .*m.json: No space left on device"):
        atomic_write_json(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_jsonl_write_failing_with_enospc_keeps_whole_records_only(tmp_path, monkeypatch):
    path = tmp_path / "s.jsonl"
    recs = [Prompt(id=f"p-{i}", text=f"q{i}") for i in range(6)]
    w = JsonlWriter(path)
    assert w.write(recs[:2]) == 2
    real_write = os.write

    def half_then_full(fd, data):  # the disk fills up in the middle of a line
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(SelfmoaError, match="No space left on device"):
        w.write(recs[2:4])
    monkeypatch.setattr(os, "write", real_write)
    assert "p-2" not in w and path.read_text().count("\n") == 2  # cut back to the last whole batch
    assert w.write(recs[2:]) == 4  # the records the failed write lost are written on the next try
    w.close()
    assert [r.id for r in read_records(path, Prompt)] == [r.id for r in recs]


def test_damaged_stage_line_is_a_one_line_error(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"id": "p-1", "text": "a"}\n\xff\xfe not json\n{"id": "p-2", "text": "b"}\n')
    with pytest.raises(SelfmoaError, match=r"s.jsonl:2 is not UTF-8: the file is damaged"):
        read_records(path, Prompt)
    path.write_text('{"id": "p-1", "text": "a"}\n{"id": "p-2", "bogus": 1}\n')
    with pytest.raises(SelfmoaError, match="record 2 is not a valid Prompt"):
        read_records(path, Prompt)


# -- a failed start leaves nothing -----------------------------------------------------------------------


def test_failed_start_removes_the_new_folder_but_never_a_used_one(tmp_path):
    with pytest.raises(RuntimeError):
        with open_run(tmp_path / "out" / "deeper", "r", {"a": 1}):
            raise RuntimeError("model failed to load")
    assert not (tmp_path / "out").exists()  # the run folder and the parents made for it
    with pytest.raises(RuntimeError):
        with open_run(tmp_path, "r", {"a": 1}) as store:
            with store.stage("s") as h:
                h.write([Prompt(id="p-1", text="x")])
            raise RuntimeError("later failure")
    assert (tmp_path / "r" / "stages" / "s.jsonl").is_file()  # work was done: kept for the resume


def test_output_dir_that_cannot_be_created_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SelfmoaError, match=r"run.output_dir: cannot create .* is a file, not a folder"):
        RunStore.create_or_resume(blocker / "runs", "r", {})


# -- selfmoa serve: API key and limits ---------------------------------------------------------------------


class EchoGenerator:
    name = "echo"
    policy_id = "echo@0"

    def generate(self, requests, sampling, *, on_batch=None):
        from selfmoa.generation.base import Completion

        return [Completion(r.id, k, f"echo {r.messages[-1].content}") for r in requests for k in range(sampling.n)]


def test_serve_requires_the_key_and_enforces_limits():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from selfmoa.generation.server import create_app

    app = create_app(EchoGenerator(), "m", api_key="serve-key-123", max_tokens_limit=64, max_n=2)
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    with TestClient(app) as client:
        assert client.post("/v1/chat/completions", json=body).status_code == 401
        bad = client.get("/v1/models", headers={"Authorization": "Bearer wrong"})
        assert bad.status_code == 401 and "API key" in bad.json()["error"]["message"]
        ok = {"Authorization": "Bearer serve-key-123"}
        res = client.post("/v1/chat/completions", json=body, headers=ok)
        assert res.status_code == 200 and res.json()["choices"][0]["message"]["content"] == "echo hi"
        over = client.post("/v1/chat/completions", json={**body, "max_tokens": 65}, headers=ok)
        assert over.status_code == 400 and "max_tokens=65 is over this server's limit of 64" in over.json()["error"]["message"]
        many = client.post("/v1/chat/completions", json={**body, "n": 3}, headers=ok)
        assert many.status_code == 400 and "n=3" in many.json()["error"]["message"]


def test_serve_api_key_env_unset_is_a_one_line_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NO_SUCH_KEY_VAR"}
    res = subprocess.run([sys.executable, "-m", "selfmoa", "serve", "x", "--api-key-env", "NO_SUCH_KEY_VAR"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2 and res.stderr.startswith("error: --api-key-env NO_SUCH_KEY_VAR"), res.stderr

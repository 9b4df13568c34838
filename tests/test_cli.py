"""The CLI as a user meets it: help that teaches, one-line errors, no half-written run folders, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

COMMANDS = ["run", "generate", "report", "models", "redteam", "judge", "train", "eval", "csrm", "data"]


def selfmoa(*args, cwd=None, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "selfmoa", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def write_config(path: Path, **sections) -> Path:
    path.write_text(yaml.safe_dump(sections))
    return path


def assert_one_line_error(res, *needles):
    assert res.returncode != 0
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error:")
    for n in needles:
        assert n in err, err


def test_help_teaches_with_examples():
    res = selfmoa("--help")
    assert res.returncode == 0
    for cmd in COMMANDS:
        assert cmd in res.stdout
    for cmd in COMMANDS:
        res = selfmoa(cmd, "--help")
        assert res.returncode == 0, res.stderr
        assert "Example" in res.stdout, f"`selfmoa {cmd} --help` shows no example"


def tiny_run_config(tmp_path, tiny_model_dir, prompts, **extra_run):
    return write_config(
        tmp_path / "cfg.yaml",
        run={"name": "t", "output_dir": str(tmp_path / "runs"), "prompts": [str(prompts)], **extra_run},
        model={"name_or_path": str(tiny_model_dir), "device": "cpu"},
        generation={"batch_size": 4, "progress": False, "sampling": {"max_new_tokens": 8}},
    )


def test_missing_model_path(tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("hello\n")
    cfg = write_config(
        tmp_path / "c.yaml",
        run={"output_dir": str(tmp_path / "runs"), "prompts": [str(prompts)]},
        model={"name_or_path": str(tmp_path / "no-model")},
    )
    assert_one_line_error(selfmoa("generate", str(cfg)), "model.name_or_path", "no such file or directory")
    assert not (tmp_path / "runs").exists()


def test_malformed_yaml(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("run:\n  name: [oops\n")
    assert_one_line_error(selfmoa("generate", str(cfg)), "malformed YAML")


def test_wrong_type_names_key(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", generation={"sampling": {"temperature": "hot"}})
    assert_one_line_error(selfmoa("generate", str(cfg)), "generation.sampling.temperature", "expected a number")


def test_empty_prompt_file(tmp_path, tiny_model_dir):
    prompts = tmp_path / "empty.txt"
    prompts.write_text("\n\n")
    cfg = tiny_run_config(tmp_path, tiny_model_dir, prompts)
    assert_one_line_error(selfmoa("generate", str(cfg)), "empty.txt")
    assert not (tmp_path / "runs").exists()


def test_non_utf8_prompt_file(tmp_path, tiny_model_dir):
    prompts = tmp_path / "latin1.txt"
    prompts.write_bytes("caf\xe9 and cr\xe8me\n".encode("latin-1"))
    cfg = tiny_run_config(tmp_path, tiny_model_dir, prompts)
    assert_one_line_error(selfmoa("generate", str(cfg)), "latin1.txt", "UTF-8")
    assert not (tmp_path / "runs").exists()


def _responses(run_dir: Path) -> list[dict]:
    path = run_dir / "stages" / "responses.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_run_then_changed_config_leaves_folder_intact(tmp_path, tiny_model_dir):
    prompts = tmp_path / "p.txt"
    prompts.write_text("hello there\nhow are you\n")
    cfg = tiny_run_config(tmp_path, tiny_model_dir, prompts)
    res = selfmoa("generate", str(cfg))
    assert res.returncode == 0, res.stderr
    run_dir = tmp_path / "runs" / "t"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["models"]["policy"]["weights_hash"]
    assert len(_responses(run_dir)) == 2
    snapshot = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    res = selfmoa("generate", str(cfg), "--set", "generation.sampling.max_new_tokens=9")
    assert_one_line_error(res, "different config")
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == snapshot


def test_sigkill_during_generation_then_resume(tmp_path, tiny_model_dir):
    """Kill -9 mid-generation, rerun the same command: exactly one record per (prompt id, sample index)."""
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"Tell me fact number {i} about the sea and the sky\n" for i in range(48)))
    cfg = write_config(
        tmp_path / "cfg.yaml",
        run={"name": "k", "output_dir": str(tmp_path / "runs"), "prompts": [str(prompts)]},
        model={"name_or_path": str(tiny_model_dir), "device": "cpu"},
        generation={
            "batch_size": 2,
            "progress": False,
            "sampling": {"max_new_tokens": 48, "temperature": 0.8, "n": 2, "seed": 1},
        },
    )
    out = tmp_path / "runs" / "k" / "stages" / "responses.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "selfmoa", "generate", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.stat().st_size > 0:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.005)
    proc.wait()
    assert killed, "the run finished before it could be killed; make it longer"
    partial = len(_responses(tmp_path / "runs" / "k")) if out.exists() else 0
    assert partial < 96
    res = selfmoa("generate", str(cfg))
    assert res.returncode == 0, res.stderr
    recs = _responses(tmp_path / "runs" / "k")
    keys = Counter((r["prompt_id"], r["sample_index"]) for r in recs)
    assert len(keys) == 48 * 2
    assert max(keys.values()) == 1
    assert len({r["id"] for r in recs}) == len(recs)
    ledger = json.loads((tmp_path / "runs" / "k" / "ledger.json").read_text())
    assert ledger["responses"]["status"] == "complete"


def test_data_command_lists_sets_and_shows_prompts(data_dir):
    listed = selfmoa("data", "list", "--data-dir", str(data_dir), env={"COLUMNS": "200"})
    assert listed.returncode == 0, listed.stderr
    assert "advbench" in listed.stdout and "demo-benign" in listed.stdout
    shown = selfmoa("data", "show", "builtin:demo-benign", "--n", "2", env={"COLUMNS": "200"})
    assert shown.returncode == 0 and "builtin:demo-benign: 336 seeds" in shown.stdout
    bad = selfmoa("data", "show", "no-such-set")
    assert_one_line_error(bad, "no-such-set")

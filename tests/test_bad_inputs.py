"""Bad input, as a new user would give it, across commands: every case must exit 2 with one line on stderr that
names the problem, and leave every existing file and run folder exactly as it was (hashes before and after) and
create nothing. The six data-losing reports of issue 22 are among the cases (marked `# issue 22.N`).

Every case is a real `python -m selfmoa` subprocess against one shared workspace (a real run folder made by
`selfmoa generate`, damaged copies, prompt and answer files), so the cases also check that none of them writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

SECRET = "pw-b4d1nput-s3cret"


@dataclass
class Case:
    id: str
    args: list[str]
    needles: list[str]
    env: dict[str, str] = field(default_factory=dict)
    locked: bool = False  # another process holds the lock of runs/t while the case runs
    absent: list[str] = field(default_factory=list)  # strings that must not appear on stderr (secrets)


CASES = [
    # -- config files and --set --------------------------------------------------------------------------
    Case("run-missing-config", ["run", "{ws}/nope.yaml"], ["config file not found", "nope.yaml"]),
    Case("generate-malformed-yaml", ["generate", "{ws}/malformed.yaml"], ["malformed YAML", "malformed.yaml"]),
    Case("run-unknown-key", ["run", "{new}", "--set", "run.nmae=x"], ["unknown key 'run.nmae'"]),
    Case("eval-wrong-type", ["eval", "run", "{new}", "--set", "generation.sampling.temperature=hot"],
         ["generation.sampling.temperature", "expected a number"]),
    Case("generate-set-without-equals", ["generate", "{new}", "--set", "run.name"], ["--set expects KEY.PATH=VALUE"]),
    Case("config-show-directory", ["config", "show", "{ws}"], ["is a directory"]),
    Case("redteam-config-not-a-mapping", ["redteam", "run", "{ws}/list.yaml"], ["must be a YAML mapping"]),
    # -- data, judges, red team ----------------------------------------------------------------------------
    Case("generate-prompts-missing", ["generate", "{new}", "--set", "run.prompts=[{ws}/none.txt]"], ["none.txt", "not found"]),
    Case("generate-prompts-empty", ["generate", "{new}", "--set", "run.prompts=[{ws}/empty.txt]"], ["empty.txt", "no prompts"]),
    Case("generate-prompts-not-utf8", ["generate", "{new}", "--set", "run.prompts=[{ws}/latin1.txt]"], ["latin1.txt", "UTF-8"]),
    Case("run-unknown-safety-judge", ["run", "{new}", "--set", "judges.safety=[{{name: no-such-judge}}]"],
         ["unknown judge 'no-such-judge'"]),
    Case("eval-unknown-eval-judge", ["eval", "run", "{new}", "--set", "eval.judges.refusal=[{{name: nope-judge}}]"],
         ["unknown judge 'nope-judge'"]),
    Case("redteam-unknown-mutator", ["redteam", "run", "{new}", "--set", "redteam.mutators=[no-such-mutator]"],
         ["no-such-mutator"]),
    Case("redteam-unknown-scorer", ["redteam", "run", "{new}", "--set", "redteam.judge=no-such-scorer"], ["no-such-scorer"]),
    Case("run-unknown-seed-set", ["run", "{new}", "--set", "redteam.seeds=[builtin:nope]"], ["builtin prompt set 'nope'"]),
    # -- models and backends ---------------------------------------------------------------------------------
    Case("generate-vllm-not-installed", ["generate", "{new}", "--set", "generation.backend=vllm"], ["selfmoa[vllm]"]),
    Case("generate-model-missing", ["generate", "{new}", "--set", "model.name_or_path={ws}/no-model"],
         ["model.name_or_path", "no such file or directory"]),
    Case("generate-model-pickle-only", ["generate", "{new}", "--set", "model.name_or_path={ws}/pickle-model"],
         ["model.name_or_path", "pickle"]),
    Case("run-hub-id-offline", ["run", "{new}", "--set", "model.name_or_path=no-such-org/no-such-model"],  # issue 22.4
         ["model.name_or_path", "no-such-org/no-such-model", "hub"], env={"HF_HUB_OFFLINE": "1"}),
    Case("generate-custom-code-model", ["generate", "{new}", "--set", "model.name_or_path={ws}/custom-model"],  # 22.4
         ["model.name_or_path", "trust_remote_code"]),
    Case("eval-custom-code-model", ["eval", "run", "{new}", "--model", "{ws}/custom-model"], ["trust_remote_code"]),
    Case("generate-openai-unreachable-secret-url",  # issue 22.3: the error names the URL without its password
         ["generate", "{new}", "--set", "generation.backend=openai",
          "--set", f"generation.openai.base_url=http://alice:{SECRET}@127.0.0.1:9/v1"],
         ["generation.openai.base_url", "cannot reach", "http://***@127.0.0.1:9/v1"], absent=[SECRET]),
    # -- the run folder ----------------------------------------------------------------------------------------
    Case("run-output-dir-under-a-file", ["run", "{new}", "--set", "run.output_dir={ws}/afile/runs"],  # issue 22.5
         ["run.output_dir", "afile", "is a file"]),
    Case("generate-foreign-folder", ["generate", "{cfg}", "--set", "run.name=foreign"], ["not a selfmoa run folder"]),
    Case("generate-run-name-is-a-file", ["generate", "{cfg}", "--set", "run.name=plainfile"], ["plainfile", "is a file"]),
    Case("generate-changed-config", ["generate", "{cfg}", "--set", "generation.sampling.max_new_tokens=5"],
         ["different config", "run.name"]),
    Case("generate-second-writer", ["generate", "{cfg}"], ["in use by process {pid}", "selfmoa generate holder.yaml"],
         locked=True),  # issue 22.2
    Case("run-second-writer", ["run", "{cfg}"], ["in use by process {pid}"], locked=True),  # issue 22.2
    Case("eval-second-writer", ["eval", "run", "{cfg}"], ["in use by process {pid}"], locked=True),
    Case("report-damaged-ledger", ["report", "{runs}/dmg"], ["ledger.json is damaged", "ledger.json.bak"]),  # 22.5
    Case("generate-resume-damaged-ledger", ["generate", "{cfg}", "--set", "run.name=dmg"],  # issue 22.5
         ["ledger.json is damaged", "ledger.json.bak"]),
    Case("report-damaged-manifest", ["report", "{runs}/dmgm"], ["manifest.json is damaged"]),
    Case("report-not-a-run-folder", ["report", "{ws}"], ["not a selfmoa run folder"]),
    Case("report-output-exists", ["report", "{runs}/t", "-o", "{ws}/existing.html"], ["already exists", "--overwrite"]),
    Case("report-output-is-a-stage", ["report", "{runs}/t", "-o", "{runs}/t/stages/responses.jsonl", "--overwrite"],
         ["also an input"]),
    Case("export-output-exists", ["export", "judged", "{runs}/t", "--out", "{ws}/existing.jsonl"], ["already exists"]),
    Case("export-output-into-stages", ["export", "judged", "{runs}/t", "--out", "{runs}/t/stages/prompts.jsonl",
                                       "--overwrite"], ["also an input"]),
    Case("export-not-a-run-folder", ["export", "pairs", "{ws}/answers.jsonl", "--out", "{ws}/new-pairs"],
         ["not a selfmoa run folder"]),
    # -- file commands: outputs and inputs ----------------------------------------------------------------------
    Case("judge-score-output-is-input", ["judge", "score", "{ws}/answers.jsonl", "-j", "refusal-patterns",  # issue 22.1
                                         "-o", "{ws}/answers.jsonl"], ["also an input"]),
    Case("judge-score-output-is-input-via-dots", ["judge", "score", "{ws}/answers.jsonl", "-j", "refusal-patterns",
                                                  "-o", "{ws}/./sub/../answers.jsonl", "--overwrite"], ["also an input"]),
    Case("judge-score-output-exists", ["judge", "score", "{ws}/answers.jsonl", "-j", "refusal-patterns",  # issue 22.1
                                       "-o", "{ws}/existing.jsonl"], ["existing.jsonl", "already exists", "--overwrite"]),
    Case("judge-score-input-missing", ["judge", "score", "{ws}/missing.jsonl", "-j", "refusal-patterns", "-o", "{ws}/n.jsonl"],
         ["missing.jsonl", "not found"]),
    Case("judge-score-unknown-judge", ["judge", "score", "{ws}/answers.jsonl", "-j", "nope", "-o", "{ws}/n.jsonl"],
         ["unknown judge 'nope'"]),
    Case("judge-score-bad-param", ["judge", "score", "{ws}/answers.jsonl", "-j", "refusal-patterns", "-p", "novalue",
                                   "-o", "{ws}/n.jsonl"], ["--param 'novalue'"]),
    Case("judge-score-output-under-a-file", ["judge", "score", "{ws}/answers.jsonl", "-j", "refusal-patterns",
                                             "-o", "{ws}/afile/out.jsonl"], ["--out", "is a file"]),
    Case("judge-aggregate-output-is-input", ["judge", "aggregate", "{ws}/judgments.jsonl", "--objective", "safety",
                                             "-o", "{ws}/judgments.jsonl"], ["also an input"]),
    Case("judge-aggregate-bad-objective", ["judge", "aggregate", "{ws}/judgments.jsonl", "--objective", "speed",
                                           "-o", "{ws}/n.jsonl"], ["--objective", "speed"]),
    Case("judge-eval-nothing-to-evaluate", ["judge", "eval", "-j", "refusal-patterns"], ["give --set NAME or --file PATH"]),
    Case("judge-eval-json-exists", ["judge", "eval", "-j", "refusal-patterns", "--file", "{ws}/labels.csv",
                                    "--json", "{ws}/existing.json"], ["--json", "already exists"]),
    Case("import-output-exists", ["import", "garak", "{ws}/garak.jsonl", "--out", "{ws}/existing.jsonl"], ["already exists"]),
    Case("import-output-is-input", ["import", "garak", "{ws}/garak.jsonl", "--out", "{ws}/garak.jsonl", "--overwrite"],
         ["also an input"]),
    Case("csrm-score-output-is-input", ["csrm", "score", "{ws}/answers.jsonl", "--out", "{ws}/answers.jsonl"],
         ["also an input"]),
    Case("train-no-pairs-source", ["train", "run", "--out", "{ws}/train-out"], ["exactly one of"]),
    Case("serve-api-key-env-unset", ["serve", "{ws}/no-model", "--api-key-env", "NO_SUCH_SERVE_KEY"],  # issue 22.6
         ["--api-key-env NO_SUCH_SERVE_KEY", "not set"]),
    Case("models-prepare-unknown", ["models", "prepare", "no-such-model"], ["unknown model name 'no-such-model'"]),
]


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under root: a content hash for files, 'dir' for folders (a new file or folder shows up too)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _selfmoa(args: list[str], env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selfmoa", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def ws(tmp_path_factory, tiny_model_dir):
    """The workspace: configs, prompt/answer files, a real run folder `runs/t` and damaged copies of it."""
    ws = tmp_path_factory.mktemp("bad-inputs")
    (ws / "p.txt").write_text("hello there\nhow are you\n")
    cfg = {
        "run": {"name": "t", "output_dir": str(ws / "runs"), "prompts": [str(ws / "p.txt")], "max_prompts": 2},
        "model": {"name_or_path": str(tiny_model_dir), "device": "cpu"},
        "generation": {"batch_size": 2, "progress": False, "sampling": {"max_new_tokens": 4}},
        "redteam": {"seeds": ["builtin:demo-harmful:train"], "max_seeds": 4, "attacker": {"enabled": False}},
        "judges": {"safety": [{"name": "refusal-patterns"}], "helpfulness": [{"name": "relevance"}],
                   "refusal": [{"name": "refusal-patterns"}]},
    }
    (ws / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    (ws / "new.yaml").write_text(yaml.safe_dump({**cfg, "run": {**cfg["run"], "name": "new"}}))  # no folder yet
    res = _selfmoa(["generate", str(ws / "cfg.yaml")])
    assert res.returncode == 0, res.stderr
    res = _selfmoa(["generate", str(ws / "cfg.yaml"), "--set", "run.name=dmg"])  # its hash matches run.name=dmg
    assert res.returncode == 0, res.stderr
    shutil.copytree(ws / "runs" / "t", ws / "runs" / "dmgm")
    (ws / "runs" / "dmg" / "ledger.json").write_text('{"prompts": {"status": "comp')
    (ws / "runs" / "dmgm" / "manifest.json").write_bytes(b"\x00\x00garbage")
    (ws / "runs" / "foreign").mkdir()
    (ws / "runs" / "foreign" / "notes.txt").write_text("mine")
    (ws / "runs" / "plainfile").write_text("not a folder")
    (ws / "malformed.yaml").write_text("run:\n  name: [oops\n")
    (ws / "list.yaml").write_text("- a\n- b\n")
    (ws / "empty.txt").write_text("\n\n")
    (ws / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (ws / "afile").write_text("a file where a folder is expected")
    for name in ("existing.jsonl", "existing.json", "existing.html"):
        (ws / name).write_text("precious\n")
    (ws / "answers.jsonl").write_text(json.dumps({"id": "a1", "prompt": "hi", "response": "I can't help."}) + "\n")
    (ws / "judgments.jsonl").write_text("")
    (ws / "labels.csv").write_text("prompt,response,label\nq,I can't,1\nq,Sure,0\n")
    (ws / "garak.jsonl").write_text(json.dumps({"entry_type": "attempt", "prompt": "x"}) + "\n")
    pickle = ws / "pickle-model"
    pickle.mkdir()
    (pickle / "config.json").write_text("{}")
    (pickle / "pytorch_model.bin").write_bytes(b"\x80\x04.")
    custom = ws / "custom-model"
    shutil.copytree(tiny_model_dir, custom)
    conf = json.loads((custom / "config.json").read_text())
    conf.update(model_type="my-custom-llm", auto_map={"AutoConfig": "configuration_my.MyConfig",
                                                       "AutoModelForCausalLM": "modeling_my.MyModel"})
    (custom / "config.json").write_text(json.dumps(conf))
    (custom / "configuration_my.py").write_text("raise SystemExit('custom code ran')\n")
    return ws


HOLD = """
import sys, time
from selfmoa.store.lock import acquire
acquire(sys.argv[1], command=["selfmoa", "generate", "holder.yaml"])
print("locked", flush=True)
time.sleep(600)
"""


def test_the_matrix_is_large_and_covers_the_issue():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    commands = {c.args[0] for c in CASES}
    assert {"run", "generate", "eval", "redteam", "judge", "report", "export", "import", "csrm", "serve"} <= commands


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_exits_2_with_one_line_and_changes_nothing(case, ws):
    values = {"ws": ws, "cfg": ws / "cfg.yaml", "new": ws / "new.yaml", "runs": ws / "runs"}
    args = [a.format(**values) for a in case.args]
    holder = None
    if case.locked:
        holder = subprocess.Popen([sys.executable, "-c", HOLD, str(ws / "runs" / "t")], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "locked"
        values["pid"] = holder.pid
    try:
        before = _snapshot(ws)
        res = _selfmoa(args, case.env)
        after = _snapshot(ws)
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
    err = res.stderr.strip()
    assert res.returncode == 2, f"exit {res.returncode}: {res.stderr[-2000:]}"
    assert "Traceback" not in res.stderr and len(err.splitlines()) == 1, err
    assert err.startswith("error:"), err
    for needle in case.needles:
        assert needle.format(**values) in err, err
    for secret in case.absent:
        assert secret not in res.stderr and secret not in res.stdout
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"files created or changed: {changed}"

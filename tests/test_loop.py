"""The closed loop end to end on a tiny random Llama: stages, records, report, and fault injection: SIGKILL at every
stage of a two-iteration loop, a torn last line, a write failing with ENOSPC and a concurrent second run, after
which the resumed run's records equal an uninterrupted run's."""

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

pytestmark = pytest.mark.slow

PATTERN_SAFETY = [{"name": "compliance", "params": {"refusal_judge": "refusal-patterns"}}]


def tiny_loop_config(path: Path, model_dir: Path, out_dir: Path, name: str = "loop", iterations: int = 1) -> Path:
    cfg = {
        "run": {"name": name, "output_dir": str(out_dir), "iterations": iterations, "max_prompts": 6, "max_pair_prompts": 12},
        "model": {"name_or_path": str(model_dir), "device": "cpu"},
        "generation": {"batch_size": 8, "progress": False, "sampling": {"max_new_tokens": 12}},
        "redteam": {"seeds": ["builtin:demo-harmful:train"], "max_seeds": 6, "candidates_per_round": 12,
                    "attacker": {"enabled": False}, "benign_per_round": 4, "judge": "compliance-heuristic",
                    "seed_from_archive": True,
                    "sampling": {"max_new_tokens": 12}},
        # two safety judges: judges.aggregate (label-model by default) combines them into the verdicts the pairs read
        "judges": {"safety": PATTERN_SAFETY + [{"name": "compliance-patterns"}], "helpfulness": [{"name": "relevance"}],
                   "refusal": [{"name": "refusal-patterns"}], "aggregate": {"method": "label-model"}},
        "pairs": {"samples_per_prompt": 3, "personas": [], "include_no_persona": True, "min_gap": 0.0, "max_new_tokens": 12},
        "train": {"max_steps": 2, "batch_size": 2, "micro_batch_size": 2, "save_steps": 1, "eval_fraction": 0.0},
        "eval": {"max_prompts_per_set": 4, "bootstrap": 50, "sampling": {"max_new_tokens": 12, "temperature": 0.0},
                 "judges": {"safety": PATTERN_SAFETY, "refusal": [{"name": "refusal-patterns"}],
                            "helpfulness": [{"name": "relevance"}]}},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def selfmoa(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "selfmoa", *args], capture_output=True, text=True, timeout=timeout)


def stage_counts(run_dir: Path) -> dict[str, int]:
    out = {}
    for f in sorted((run_dir / "stages").rglob("*.jsonl")):
        rows = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        ids = Counter(r["id"] for r in rows)
        assert max(ids.values(), default=1) == 1, f"duplicate ids in {f}"
        out[str(f.relative_to(run_dir / "stages"))] = len(rows)
    return out


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("loop-ref")
    cfg = tiny_loop_config(root / "cfg.yaml", tiny_model_dir, root / "runs", iterations=2)
    res = selfmoa("run", str(cfg))
    assert res.returncode == 0, res.stderr[-3000:]
    return root / "runs" / "loop", res


def test_loop_writes_every_stage_and_report(reference_run):
    run_dir, res = reference_run
    ledger = json.loads((run_dir / "ledger.json").read_text())
    for stage in ["iter0/eval/results", "redteam/r1/attacks", "iter1/prompts", "iter1/samples", "iter1/judgments",
                  "iter1/pairs", "iter1/train", "iter1/eval/results"]:
        assert ledger[stage]["status"] == "complete", stage
    results = {i: [json.loads(line) for line in (run_dir / "stages" / f"iter{i}/eval/results.jsonl").read_text().splitlines()]
               for i in (0, 1)}
    for i, rows in results.items():
        metrics = {(r["suite"], r["metric"]) for r in rows}
        assert {("safety", "unsafe_rate"), ("over_refusal", "refusal_rate"), ("helpfulness", "score"), ("capability", "nll")} <= metrics
        for r in rows:
            assert r["ci_low"] is None or r["ci_low"] <= r["value"] <= r["ci_high"]
    assert ("helpfulness", "win_rate_vs_start") in {(r["suite"], r["metric"]) for r in results[1]}
    # iteration 1 was evaluated with the trained policy, not the start model
    assert {r["policy"] for r in results[0]} != {r["policy"] for r in results[1]}
    pairs = [json.loads(line) for line in (run_dir / "stages/iter1/pairs.jsonl").read_text().splitlines()]
    assert pairs and all(p["meta"]["scores"]["chosen"] and p["chosen_id"] != p["rejected_id"] for p in pairs)
    # the label model combined the two safety judges, and the pairs scored harmful answers by its verdicts
    verdicts = [json.loads(line) for line in (run_dir / "stages/iter1/verdicts.jsonl").read_text().splitlines()]
    combined = {v["response_id"]: v for v in verdicts if v["judge"] == "label-model"}
    assert combined and all(v["objective"] == "safety" and v["meta"]["label_model"]["method"] == "unsupervised"
                            and len(v["meta"]["label_model"]["judges"]) == 2 for v in combined.values())
    assert ledger["iter1/verdicts"]["info"]["objectives"]["safety"]["judges"] == ["compliance", "compliance-patterns"]
    harmful = [p for p in pairs if p["meta"]["prompt_kind"] == "harmful"]
    for p in harmful:
        for side in ("chosen", "rejected"):
            rid = p[f"{side}_id"]
            assert p["meta"]["scores"][side]["judges"]["safety"] == {"label-model": pytest.approx(1 - combined[rid]["score"])}
    policy_dir = Path(ledger["iter1/train"]["info"]["policy_dir"])
    assert (policy_dir / "model.safetensors").exists() and (policy_dir / "tokenizer.json").exists()
    html = (run_dir / "report.html").read_text()
    assert "<svg" in html and "unsafe rate" in html
    assert "report:" in res.stdout
    # round 2 drew its seeds as the archive of round 1 weighed the categories; the report shows success per cell
    r2 = json.loads((run_dir / "artifacts/redteam/r2/metrics.json").read_text())
    assert r2["stats"]["seeds_from_archive"] and sum(r2["stats"]["seed_categories"].values()) == 6
    assert "seeds_from_archive" not in json.loads((run_dir / "artifacts/redteam/r1/metrics.json").read_text())["stats"]
    assert "attack success per archive cell" in html and "round 2" in html
    # one progress display per stage: the libraries' log lines, warnings and bars go to the run's log file
    for chatter in ("Loading weights", "Computing reference log probs", "FutureWarning", "Saving the dataset"):
        assert chatter not in res.stderr and chatter not in res.stdout, chatter
    assert "transformers" in (run_dir / "run.log").read_text()


# -- fault injection ------------------------------------------------------------------------------------------

# Runs `selfmoa` with one fault injected from outside the product (no test hooks in selfmoa itself), chosen by
# $SELFMOA_FAULT = MODE|TARGET|N:
#   kill-after-write    SIGKILL right after the N-th (non-empty) batch of records reached TARGET (a stage file)
#   torn                the N-th batch for TARGET is half written, then SIGKILL (a torn last line)
#   enospc              the N-th batch for TARGET is half written, then the write fails with ENOSPC
#   kill-before-complete SIGKILL when stage TARGET has all its records but is not yet marked complete
#   kill-after-checkpoint SIGKILL once the trainer saved checkpoint N under a folder matching TARGET
FAULT_BOOT = r"""
import errno, os, signal, sys
mode, target, nth = os.environ["SELFMOA_FAULT"].split("|")
nth = int(nth)
calls = [0]
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
from selfmoa.store import jsonl, run as store_run
if mode in ("kill-after-write", "torn", "enospc"):
    orig_write = jsonl.JsonlWriter.write
    def write(self, records):
        records = list(records)
        if not str(self.path).endswith(target) or not records:
            return orig_write(self, records)
        calls[0] += 1
        if calls[0] != nth:
            return orig_write(self, records)
        if mode == "kill-after-write":
            orig_write(self, records)
            die()
        real = os.write
        def broken(fd, data):  # the batch's earlier lines and half of its last line reach the disk
            data = bytes(data)
            last = data.rfind(b"\n", 0, len(data) - 1) + 1
            real(fd, data[: last + (len(data) - last) // 2])
            if mode == "torn":
                die()
            raise OSError(errno.ENOSPC, "No space left on device")
        os.write = broken
        try:
            return orig_write(self, records)
        finally:
            os.write = real
    jsonl.JsonlWriter.write = write
elif mode == "kill-before-complete":
    orig_complete = store_run.StageHandle.complete
    def complete(self, **info):
        if self.name == target:
            die()
        return orig_complete(self, **info)
    store_run.StageHandle.complete = complete
elif mode == "kill-after-checkpoint":
    import transformers
    orig_save = transformers.Trainer._save_checkpoint
    def save(self, *a, **k):
        out = orig_save(self, *a, **k)
        if target in str(self.args.output_dir) and self.state.global_step >= nth:
            die()
        return out
    transformers.Trainer._save_checkpoint = save
sys.argv = ["selfmoa", *sys.argv[1:]]
from selfmoa.cli.app import main
main()
"""

# (stage of the loop, fault, target, n): every stage of both iterations is interrupted at least once
FAULTS = [
    ("eval 0", "kill-after-write", "iter0/eval/responses.jsonl", 1),
    ("red team 1", "kill-after-write", "redteam/r1/responses.jsonl", 1),
    ("red team 1", "torn", "redteam/r1/benign_responses.jsonl", 1),
    ("sample 1", "kill-after-write", "iter1/samples.jsonl", 1),
    ("judge 1", "enospc", "iter1/judgments.jsonl", 1),
    ("verdicts 1", "kill-before-complete", "iter1/verdicts", 0),
    ("pairs 1", "kill-before-complete", "iter1/pairs", 0),
    ("train 1", "kill-after-checkpoint", "iter1/train", 1),
    ("eval 1", "torn", "iter1/eval/responses.jsonl", 2),
    ("red team 2", "kill-after-write", "redteam/r2/responses.jsonl", 1),
    ("sample 2", "torn", "iter2/samples.jsonl", 1),
    ("judge 2", "kill-after-write", "iter2/judgments.jsonl", 1),
    ("pairs 2", "kill-before-complete", "iter2/pairs", 0),
    ("train 2", "kill-before-complete", "iter2/train", 0),
    ("eval 2", "kill-after-write", "iter2/eval/judgments.jsonl", 1),
]


def records_by_stage(run_dir: Path) -> dict[str, list[str]]:
    """Each stage file's records as sorted JSON lines (resumed stages append in another order); no duplicate ids."""
    out = {}
    for f in sorted((run_dir / "stages").rglob("*.jsonl")):
        lines = [line for line in f.read_text().splitlines() if line.strip()]
        ids = Counter(json.loads(line)["id"] for line in lines)
        assert max(ids.values(), default=1) == 1, f"duplicate ids in {f}"
        out[str(f.relative_to(run_dir / "stages"))] = sorted(lines)
    return out


def test_faults_at_every_stage_then_resume_give_the_uninterrupted_records(tmp_path, tiny_model_dir, reference_run):
    ref_dir, _ = reference_run
    cfg = tiny_loop_config(tmp_path / "cfg.yaml", tiny_model_dir, tmp_path / "runs", iterations=2)
    run_dir = tmp_path / "runs" / "loop"
    lock = run_dir / "run.lock"
    concurrent_checked = False
    for where, mode, target, n in FAULTS:
        env = {**os.environ, "SELFMOA_FAULT": f"{mode}|{target}|{n}"}
        proc = subprocess.Popen([sys.executable, "-c", FAULT_BOOT, "run", str(cfg), "--no-report"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if not concurrent_checked and where == "sample 1":  # a second writer while this one runs
            deadline = time.monotonic() + 300
            while proc.poll() is None and time.monotonic() < deadline:
                if lock.exists() and lock.read_text().strip() and json.loads(lock.read_text())["pid"] == proc.pid:
                    break
                time.sleep(0.05)
            second = selfmoa("run", str(cfg), "--no-report")
            assert second.returncode == 2 and f"in use by process {proc.pid}" in second.stderr, second.stderr
            assert len(second.stderr.strip().splitlines()) == 1
            concurrent_checked = proc.poll() is None  # the first writer was still running: a real overlap
        _, err = proc.communicate(timeout=900)
        if mode == "enospc":
            assert proc.returncode == 2, err[-3000:]
            assert err.strip().splitlines()[-1].startswith("error: cannot write") and "No space left on device" in err
        else:
            assert proc.returncode == -signal.SIGKILL, f"{where}: {mode} {target} never fired: {err[-3000:]}"
        if mode == "torn":  # the torn line is on disk until the resume cuts it off
            assert not (run_dir / "stages" / target).read_bytes().endswith(b"\n"), where
    assert concurrent_checked, "the concurrent second run was not tried while the first one ran"
    res = selfmoa("run", str(cfg), "--no-report")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "took over the lock of process" in res.stderr  # the last holder was SIGKILLed: detected and taken over
    got, want = records_by_stage(run_dir), records_by_stage(ref_dir)
    assert list(got) == list(want)
    for stage in want:
        assert got[stage] == want[stage], f"{stage}: records differ from the uninterrupted run"
    ledger = json.loads((run_dir / "ledger.json").read_text())
    ref_ledger = json.loads((ref_dir / "ledger.json").read_text())
    assert {k: (v["status"], v.get("records")) for k, v in ledger.items()} == \
        {k: (v["status"], v.get("records")) for k, v in ref_ledger.items()}
    n_records = sum(len(v) for v in want.values())
    print(f"fault injection: {len(FAULTS)} faults ({sum(m != 'enospc' for _, m, _, _ in FAULTS)} SIGKILL points), "
          f"{n_records} records in {len(want)} stages equal to the uninterrupted run")


def _fill(sheet: Path, rule) -> None:
    import csv

    rows = list(csv.DictReader(sheet.open(encoding="utf-8")))
    for r in rows:
        r["refusal"], r["unsafe"] = rule(r)
    with sheet.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_outcome_check_blind_sheet_then_labelled_rates_in_the_report(tmp_path, reference_run):
    import csv
    import shutil

    run_dir = tmp_path / "loop"
    shutil.copytree(reference_run[0], run_dir)
    res = selfmoa("eval", "outcome", str(run_dir), "--harmful", "4", "--benign", "3", "--max-new-tokens", "8",
                  "--double", "0.5")
    assert res.returncode == 0, res.stderr[-3000:]
    sheet, second, key = (run_dir / "outcome" / n for n in ("sheet.csv", "second.csv", "key.jsonl"))
    rows = list(csv.DictReader(sheet.open(encoding="utf-8")))
    # blind: only id, prompt and the answer; both policies answered the same 7 prompts
    assert list(rows[0]) == ["id", "prompt", "response", "refusal", "unsafe", "note"] and len(rows) == 14
    keyed = [json.loads(line) for line in key.read_text().splitlines()]
    assert Counter(k["policy"] for k in keyed) == {"start": 7, "final": 7}
    assert {k["prompt_id"] for k in keyed if k["policy"] == "start"} == {k["prompt_id"] for k in keyed if k["policy"] == "final"}
    assert [r["id"] for r in rows] != [k["id"] for k in sorted(keyed, key=lambda k: (k["policy"], k["prompt_id"]))]
    assert len(list(csv.DictReader(second.open(encoding="utf-8")))) == 7
    # a second call before labelling refuses to overwrite the sheet's (possible) labels
    again = selfmoa("eval", "outcome", str(run_dir), "--harmful", "4")
    assert again.returncode == 2 and "--overwrite" in again.stderr
    # labels by rule here only to check the arithmetic: start unsafe on every harmful prompt, final refuses them all
    policy = {k["id"]: (k["policy"], k["kind"]) for k in keyed}

    def rule(r):
        pol, kind = policy[r["id"]]
        if kind == "harmful":
            return ("full_compliance", "1") if pol == "start" else ("full_refusal", "0")
        return ("full_compliance", "0")

    _fill(sheet, rule)
    res = selfmoa("eval", "outcome", str(run_dir))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "harmful/unsafe_rate: start 1.000" in res.stdout and "final 0.000" in res.stdout
    out = json.loads((run_dir / "outcome" / "results.json").read_text())
    assert out["change"]["harmful/unsafe_rate"]["value"] == -1.0 and out["change"]["harmful/unsafe_rate"]["relative"] == -1.0
    assert out["rates"]["final"]["benign/compliance_rate"]["value"] == 1.0 and "agreement" not in out
    _fill(second, rule)
    res = selfmoa("eval", "outcome", str(run_dir))
    assert "Cohen's kappa unsafe 1.00" in res.stdout
    rep = selfmoa("report", str(run_dir))
    assert rep.returncode == 0, rep.stderr[-2000:]
    html = (run_dir / "report.html").read_text()
    assert "Outcome by reading" in html and "unsafe rate on harmful prompts" in html and "-100%" in html
    # a sheet with a row left blank is a one-line error naming the row
    rows = list(csv.DictReader(sheet.open(encoding="utf-8")))
    rows[3]["unsafe"] = ""
    with sheet.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    bad = selfmoa("eval", "outcome", str(run_dir))
    assert bad.returncode == 2 and "row 4" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    # a new sheet over other prompts answers those prompts (it never reuses the earlier sheet's answers)
    new = selfmoa("eval", "outcome", str(run_dir), "--harmful", "2", "--benign", "5", "--max-new-tokens", "8", "--overwrite")
    assert new.returncode == 0, new.stderr[-2000:]
    keyed = [json.loads(line) for line in key.read_text().splitlines()]
    assert Counter((k["policy"], k["kind"] == "harmful") for k in keyed) == {("start", True): 2, ("final", True): 2,
                                                                              ("start", False): 5, ("final", False): 5}


def test_safety_reset_runs_as_the_loops_first_stage_on_its_own_compliant_answers(tmp_path, tiny_model_dir):
    """train.reset.enabled: the starting model answers the harmful run.prompts, the refusal judges keep the compliant
    answers, a LoRA SFT on them gives the reset policy, and the loop starts from it (iteration 0 evaluates it)."""
    cfg_path = tiny_loop_config(tmp_path / "cfg.yaml", tiny_model_dir, tmp_path / "runs", name="reset")
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["run"]["prompts"] = ["builtin:demo-harmful:train", "builtin:demo-benign:train"]
    cfg["train"]["reset"] = {"enabled": True, "max_examples": 6, "epochs": 1}
    cfg["generation"]["sampling"]["temperature"] = 1.0  # the random tiny model's greedy answer is blank (a "refusal")
    cfg_path.write_text(yaml.safe_dump(cfg))
    res = selfmoa("run", str(cfg_path), "--no-report")
    assert res.returncode == 0, res.stderr[-3000:]
    run_dir = tmp_path / "runs" / "reset"
    ledger = json.loads((run_dir / "ledger.json").read_text())
    for stage in ("reset/prompts", "reset/samples", "reset/judgments", "reset/train"):
        assert ledger[stage]["status"] == "complete", stage
    prompts = [json.loads(line) for line in (run_dir / "stages/reset/prompts.jsonl").read_text().splitlines()]
    assert len(prompts) == 6 and {p["kind"] for p in prompts} == {"harmful"}
    assert 1 <= ledger["reset/train"]["info"]["n_train"] <= 6
    models = json.loads((run_dir / "manifest.json").read_text())["models"]
    assert {"policy@start", "policy@reset", "policy@0"} <= set(models)
    assert models["policy@0"] == models["policy@reset"] != models["policy@start"]
    reset_dir = Path(ledger["reset/train"]["info"]["policy_dir"])
    assert (reset_dir / "model.safetensors").exists()
    # iteration 0 evaluated the reset policy, not the starting model
    ev0 = [json.loads(line) for line in (run_dir / "stages/iter0/eval/results.jsonl").read_text().splitlines()]
    assert {r["policy"] for r in ev0 if r["suite"] != "capability"} == {models["policy@reset"]["policy_id"]}
    assert models["policy@reset"]["policy_id"] != models["policy@start"]["policy_id"]

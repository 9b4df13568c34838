"""Run folder -> formats other tools read.

- :func:`export_pairs`: preference pairs as a Hugging Face ``datasets`` dataset that TRL's DPO/ORPO/KTO
  trainers read directly: ``prompt`` / ``chosen`` / ``rejected`` (conversational message lists by default,
  plain strings with ``style="standard"``), ``margin`` (the safety margin, as ``selfmoa train`` uses it),
  per-objective margins and scores of both answers, and the record ids for provenance.
- :func:`export_judged`: judged responses as JSONL, one response per line, with Inspect's sample fields
  (``id``, ``input``, ``target``, ``metadata``) plus ``output``, per-objective ``scores`` and the raw
  ``judgments``; lm-eval reads it as a local ``json`` dataset.

Scores follow :mod:`selfmoa.prefs.scores`: every objective is "higher is better"
(safety = 1 - P(unsafe); refusal = how clearly the answer refuses).
Records are found by type in every stage of the run (``stages/**/*.jsonl``); ``stage`` (a glob on the stage
name, e.g. ``iter2/*``) restricts which pairs or responses are exported.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from selfmoa.errors import SelfmoaError
from selfmoa.records import Judgment, Pair, Prompt, Record, Response, Seed
from selfmoa.store.jsonl import read_jsonl

OBJECTIVES = ("safety", "helpfulness", "refusal")
_PREFIX: dict[str, type[Record]] = {"pr-": Pair, "p-": Prompt, "r-": Response, "j-": Judgment, "s-": Seed}
#: what a good answer does, by prompt kind (the `target` field of judged responses)
EXPECTED = {"harmful": "refuse", "benign": "comply", "borderline": "comply", "helpful": "comply"}


@dataclass
class RunRecords:
    """Every record of a run folder, by type and id, with the stage each came from."""

    root: Path
    records: dict[type, dict[str, Record]] = field(default_factory=dict)
    stage_of: dict[str, str] = field(default_factory=dict)
    skipped: int = 0

    def of(self, cls: type[Record], stage: str | None = None) -> list[Record]:
        recs = list(self.records.get(cls, {}).values())
        if stage:
            recs = [r for r in recs if fnmatch.fnmatchcase(self.stage_of.get(r.id, ""), stage)]
        return recs

    def get(self, cls: type[Record], rid: str) -> Record | None:
        return self.records.get(cls, {}).get(rid)


def _cls_for(rid: Any) -> type[Record] | None:
    if not isinstance(rid, str):
        return None
    for prefix, cls in _PREFIX.items():  # "pr-" is checked before "p-"
        if rid.startswith(prefix):
            return cls
    return None


def load_run(run_dir: Path | str) -> RunRecords:
    """Read every stage of a run folder (records whose shape does not match their id prefix are counted, not read)."""
    from selfmoa.store import RunStore

    root = RunStore.open(Path(run_dir)).root  # a one-line error when it is not a run folder
    stages = root / "stages"
    out = RunRecords(root)
    for path in sorted(stages.rglob("*.jsonl")):
        stage = path.relative_to(stages).with_suffix("").as_posix()
        for obj in read_jsonl(path):
            cls = _cls_for(obj.get("id"))
            if cls is None:
                continue
            try:
                rec = cls.model_validate(obj)
            except ValueError:
                out.skipped += 1
                continue
            bucket = out.records.setdefault(cls, {})
            if rec.id not in bucket:
                bucket[rec.id] = rec
                out.stage_of[rec.id] = stage
    return out


def _scores(run: RunRecords) -> dict[str, Any]:
    from selfmoa.prefs.scores import score_table

    return score_table(run.of(Judgment))


def _messages(prompt: Prompt) -> list[dict[str, str]]:
    return [m.model_dump() for m in prompt.conversation()]


# -- preference pairs -----------------------------------------------------------------------------------


def pair_rows(run: RunRecords, *, style: str = "conversational", stage: str | None = None) -> list[dict[str, Any]]:
    if style not in ("conversational", "standard"):
        raise SelfmoaError(f"--style: expected 'conversational' or 'standard', got '{style}'")
    pairs = run.of(Pair, stage)
    if not pairs:
        where = f" in stages matching '{stage}'" if stage else ""
        raise SelfmoaError(f"{run.root}: no preference pairs{where}; run the loop through its pairs stage first")
    table = _scores(run)
    rows = []
    for p in sorted(pairs, key=lambda p: (run.stage_of.get(p.id, ""), p.id)):
        prompt = run.get(Prompt, p.prompt_id)
        chosen, rejected = run.get(Response, p.chosen_id), run.get(Response, p.rejected_id)
        missing = next((rid for rid, rec in ((p.prompt_id, prompt), (p.chosen_id, chosen), (p.rejected_id, rejected)) if rec is None), None)
        if missing:
            raise SelfmoaError(f"{run.root}: pair {p.id} refers to {missing}, which is in no stage of the run")
        if style == "conversational":
            row = {
                "prompt": _messages(prompt),
                "chosen": [{"role": "assistant", "content": chosen.text}],
                "rejected": [{"role": "assistant", "content": rejected.text}],
            }
        else:
            row = {"prompt": prompt.text, "chosen": chosen.text, "rejected": rejected.text}
        row.update(
            pair_id=p.id,
            prompt_id=p.prompt_id,
            chosen_id=p.chosen_id,
            rejected_id=p.rejected_id,
            strategy=p.strategy,
            stage=run.stage_of.get(p.id, ""),
            category=prompt.category,
            kind=prompt.kind,
            margin=float(p.margins.get("safety", 0.0)),
        )
        for obj in OBJECTIVES:
            row[f"margin_{obj}"] = p.margins.get(obj)
            for side, resp in (("chosen", chosen), ("rejected", rejected)):
                rs = table.get(resp.id)
                row[f"{side}_{obj}"] = rs.get(obj) if rs is not None else None
        rows.append(row)
    return rows


def pairs_dataset(rows: list[dict[str, Any]]):
    """A `datasets.Dataset` of pair rows (fixed column types, so None scores stay None)."""
    from datasets import Dataset, Features, Value

    msg = {"role": Value("string"), "content": Value("string")}
    conversational = isinstance(rows[0]["prompt"], list)
    text = [msg] if conversational else Value("string")
    feats = {
        "prompt": text,
        "chosen": text,
        "rejected": text,
        **{k: Value("string") for k in ("pair_id", "prompt_id", "chosen_id", "rejected_id", "strategy", "stage", "category", "kind")},
        "margin": Value("float64"),
        **{f"{p}_{o}": Value("float64") for p in ("margin", "chosen", "rejected") for o in OBJECTIVES},
    }
    return Dataset.from_list(rows, features=Features(feats))


def _prepare_out(out: Path, force: bool, run_dir: Path) -> None:
    """Refuse an existing `out` without --overwrite, and any `out` that is one of the run's own files."""
    from selfmoa.store.outputs import check_output

    run_dir = Path(run_dir)
    check_output(out, overwrite=force, folder=out.is_dir() or not out.suffix,
                 inputs=[run_dir / "stages", run_dir / "manifest.json", run_dir / "ledger.json"])


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished `tmp` over `out`; an old folder is moved aside first and deleted only after the swap."""
    if out.is_dir() and not out.is_symlink():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def export_pairs(
    run_dir: Path | str, out: Path | str, *, style: str = "conversational", stage: str | None = None, force: bool = False
) -> int:
    """Write the run's pairs to `out`: a ``datasets`` folder (``load_from_disk``), or ``.parquet`` / ``.jsonl``."""
    out = Path(out)
    _prepare_out(out, force, Path(run_dir))
    rows = pair_rows(load_run(run_dir), style=style, stage=stage)
    ds = pairs_dataset(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    try:
        suffix = out.suffix.lower()
        if suffix == ".parquet":
            ds.to_parquet(str(tmp / "data.parquet"))
            _replace(tmp / "data.parquet", out)
        elif suffix == ".jsonl":
            ds.to_json(str(tmp / "data.jsonl"), lines=True, force_ascii=False)
            _replace(tmp / "data.jsonl", out)
        else:
            ds.save_to_disk(str(tmp / "ds"))
            _replace(tmp / "ds", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return len(rows)


def load_pairs_dataset(path: Path | str):
    """Read back what :func:`export_pairs` wrote (any of its three layouts)."""
    import datasets

    path = Path(path)
    if path.is_dir():
        return datasets.load_from_disk(str(path))
    kind = {".parquet": "parquet", ".jsonl": "json"}.get(path.suffix.lower())
    if kind is None or not path.is_file():
        raise SelfmoaError(f"{path}: expected a datasets folder, a .parquet or a .jsonl file written by `selfmoa export pairs`")
    return datasets.load_dataset(kind, data_files=str(path), split="train")


def pairs_from_rows(rows: Iterable[dict[str, Any]]) -> list[Pair]:
    """Pair records rebuilt from exported rows (ids, strategy, margins)."""
    out = []
    for row in rows:
        margins = {o: row[f"margin_{o}"] for o in OBJECTIVES if row.get(f"margin_{o}") is not None}
        out.append(
            Pair(
                id=row["pair_id"],
                prompt_id=row["prompt_id"],
                chosen_id=row["chosen_id"],
                rejected_id=row["rejected_id"],
                strategy=row["strategy"],
                margins=margins,
            )
        )
    return out


# -- judged responses -----------------------------------------------------------------------------------


def judged_rows(run: RunRecords, *, stage: str | None = None) -> list[dict[str, Any]]:
    judgments: dict[str, list[Judgment]] = {}
    for j in run.of(Judgment):
        judgments.setdefault(j.response_id, []).append(j)
    table = _scores(run)
    responses = [r for r in run.of(Response, stage) if r.id in judgments]
    if not responses:
        where = f" in stages matching '{stage}'" if stage else ""
        raise SelfmoaError(f"{run.root}: no judged responses{where}; run the judge stage first")
    rows = []
    for r in sorted(responses, key=lambda r: (run.stage_of.get(r.id, ""), r.id)):
        prompt = run.get(Prompt, r.prompt_id)
        if prompt is None:
            raise SelfmoaError(f"{run.root}: response {r.id} refers to prompt {r.prompt_id}, which is in no stage of the run")
        msgs = _messages(prompt)
        rs = table.get(r.id)
        rows.append(
            {
                "id": r.id,
                "input": msgs[0]["content"] if len(msgs) == 1 else msgs,
                "prompt": prompt.text,
                "target": EXPECTED.get(prompt.kind, "comply"),
                "output": r.text,
                "scores": {o: (rs.get(o) if rs else None) for o in OBJECTIVES},
                "judgments": [
                    j.model_dump(include={"id", "judge", "judge_version", "objective", "score", "label", "parse_ok"})
                    for j in sorted(judgments[r.id], key=lambda j: j.id)
                ],
                "metadata": {
                    "prompt_id": prompt.id,
                    "seed_id": prompt.seed_id,
                    "category": prompt.category,
                    "kind": prompt.kind,
                    "attack_style": prompt.attack_style,
                    "iteration": prompt.iteration,
                    "source": prompt.source,
                    "licence": prompt.licence,
                    "policy": r.policy,
                    "sample_index": r.sample_index,
                    "finish_reason": r.finish_reason,
                    "stage": run.stage_of.get(r.id, ""),
                },
            }
        )
    return rows


def export_judged(run_dir: Path | str, out: Path | str, *, stage: str | None = None, force: bool = False) -> int:
    """Write the run's judged responses to the JSONL file `out` (atomically)."""
    from selfmoa.store.atomic import atomic_write_text

    out = Path(out)
    _prepare_out(out, force, Path(run_dir))
    rows = judged_rows(load_run(run_dir), stage=stage)
    atomic_write_text(out, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return len(rows)


def judgments_from_judged(rows: Iterable[dict[str, Any]]) -> list[Judgment]:
    """Judgment records rebuilt from exported judged-response rows (without `raw` and `meta`)."""
    return [Judgment(response_id=row["id"], **j) for row in rows for j in row["judgments"]]

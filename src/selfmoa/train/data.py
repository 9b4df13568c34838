"""Turn Pair records (or a pairs file) into rows TRL's preference trainer reads, with the loss margin per row.

A row is conversational: ``prompt`` = the prompt's messages, ``chosen`` / ``rejected`` = one assistant message each,
``margin`` = ``pair.margins['safety']`` (chosen minus rejected; > 0 when chosen is safer; 0 when unscored).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Iterable

from selfmoa.errors import SelfmoaError
from selfmoa.records import Pair, Prompt, Response


def _msgs(prompt: Prompt) -> list[dict]:
    return [m.model_dump() for m in prompt.conversation()]


def check_rows(rows: list[dict], source: str) -> list[dict]:
    """Validate training rows: non-empty, two-sided, finite margins, chosen differs from rejected."""
    if not rows:
        raise SelfmoaError(f"{source}: the pair set is empty; expected at least one (chosen, rejected) pair")
    for i, row in enumerate(rows):
        rid = row.get("pair_id", f"row {i + 1}")
        for side in ("chosen", "rejected"):
            content = row.get(side)
            text = content[-1]["content"] if isinstance(content, list) and content else content
            if not isinstance(text, str) or not text.strip():
                raise SelfmoaError(f"{source}: pair {rid} has no {side} answer; every pair needs a chosen and a rejected text")
        m = row.get("margin", 0.0)
        if not isinstance(m, (int, float)) or not math.isfinite(m):
            raise SelfmoaError(f"{source}: pair {rid} has a non-finite margin {m!r}; expected a number")
    same = sum(_text(r["chosen"]) == _text(r["rejected"]) for r in rows)
    if same == len(rows):
        raise SelfmoaError(
            f"{source}: all {len(rows)} pairs are one-sided (chosen and rejected are the same text); nothing to learn"
        )
    return [r for r in rows if _text(r["chosen"]) != _text(r["rejected"])]


def _text(x) -> str:
    return x[-1]["content"] if isinstance(x, list) else x


def pairs_to_rows(pairs: Iterable[Pair], responses: Iterable[Response], prompts: Iterable[Prompt]) -> list[dict]:
    resp = {r.id: r for r in responses}
    prom = {p.id: p for p in prompts}
    rows = []
    for p in pairs:
        missing = [x for x in (p.chosen_id, p.rejected_id) if x not in resp]
        if p.prompt_id not in prom:
            raise SelfmoaError(f"pair {p.id}: prompt {p.prompt_id} is not among the prompts given")
        if missing:
            raise SelfmoaError(f"pair {p.id}: response {missing[0]} is not among the responses given (one-sided pair)")
        margin = p.margins.get("safety", 0.0)
        rows.append(
            {
                "pair_id": p.id,
                "prompt": _msgs(prom[p.prompt_id]),
                "chosen": [{"role": "assistant", "content": resp[p.chosen_id].text}],
                "rejected": [{"role": "assistant", "content": resp[p.rejected_id].text}],
                "margin": float(margin),
            }
        )
    return check_rows(rows, "pairs")


def iter_jsonl(path: Path, field: str):
    """(line number, object) for each non-blank line of a user's JSONL file; one-line errors name the line."""
    path = Path(path)
    if not path.is_file():
        raise SelfmoaError(f"{field}: no such file: {path}")
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError:
                raise SelfmoaError(f"{path}:{n} is not valid JSON") from None


def read_pairs_file(path: Path) -> list[dict]:
    """JSONL rows {prompt, chosen, rejected[, margin]}; prompt/chosen/rejected are strings or message lists."""
    path = Path(path)
    rows = []
    for n, obj in iter_jsonl(path, "train.pairs_file"):
        for key in ("prompt", "chosen", "rejected"):
            if key not in obj:
                raise SelfmoaError(f"{path}:{n} has no '{key}' field; expected prompt, chosen, rejected[, margin]")
        prompt = obj["prompt"] if isinstance(obj["prompt"], list) else [{"role": "user", "content": obj["prompt"]}]
        side = lambda x: x if isinstance(x, list) else [{"role": "assistant", "content": x}]  # noqa: E731
        rows.append(
            {
                "pair_id": str(obj.get("id", f"{path.name}:{n}")),
                "prompt": prompt,
                "chosen": side(obj["chosen"]),
                "rejected": side(obj["rejected"]),
                "margin": obj.get("margin", 0.0),
            }
        )
    return check_rows(rows, str(path))


def split_rows(rows: list[dict], eval_fraction: float, seed: int, *, key: str = "pair_id",
               min_rows: int = 2) -> tuple[list[dict], list[dict]]:
    """Deterministic split by row id (`key`): `eval_fraction` of rows held out (none when the fraction is 0 or
    there are fewer than `min_rows` rows)."""
    if eval_fraction <= 0 or len(rows) < min_rows:
        return rows, []
    order = sorted(rows, key=lambda r: r[key])
    random.Random(seed).shuffle(order)
    n_eval = max(1, int(round(len(order) * eval_fraction)))
    return order[n_eval:], order[:n_eval]


def hh_rlhf_rows(data_dir: Path | str | None = None, max_pairs: int | None = None, seed: int = 0) -> list[dict]:
    """The human-supervised baseline: HH-RLHF harmless-base pairs from the data directory as training rows
    (the whole conversation before the compared reply is the prompt; margin 0). A seeded sample of `max_pairs`."""
    from selfmoa.data.registry import load_dataset_records

    pairs = load_dataset_records("hh-rlhf-harmless-test", data_dir)
    rows = [
        {
            "pair_id": p.id,
            "prompt": [m.model_dump() for m in p.messages],
            "chosen": [{"role": "assistant", "content": p.chosen}],
            "rejected": [{"role": "assistant", "content": p.rejected}],
            "margin": 0.0,
        }
        for p in pairs
        if p.messages and p.chosen.strip() and p.rejected.strip()
    ]
    rows = check_rows(rows, "hh-rlhf-harmless-test")
    if max_pairs is not None and max_pairs < len(rows):
        rows = sorted(rows, key=lambda r: r["pair_id"])
        random.Random(seed).shuffle(rows)
        rows = rows[:max_pairs]
    return rows

"""Human-labelled judge data read from the data directory (never copied into the repo).

Every loader returns :class:`LabelledItem` rows: prompt, response, a binary label for one objective
(``refusal``: 1 = the response refuses; ``safety``: 1 = the response is unsafe), the fine-grained label
when there is one, and a ``group`` (the model that wrote the response, or the source file) for
leave-one-group-out evaluation.

Named sets (``LABELLED_SETS``):

=====================  =========  =====================================================================
name                   objective  source
=====================  =========  =====================================================================
xstest-refusal         refusal    xstest-completions: 2,250 completions of 5 models, final human label
                                  (partial refusal counts as refusal); group = model
xstest-safety          safety     the same completions: unsafe = full compliance with a contrast
                                  (unsafe) prompt; refusals and answers to safe prompts are safe
xstest-helpfulness     helpful-   the completions to XSTest's 250 *safe* prompts: 1 = the annotators'
                       ness       full compliance (the answer helps), 0 = full or partial refusal
pyrit-refusal          refusal    pyrit-scorer-evals refusal_scorer/*.csv + sample/mini_refusal.csv
pyrit-harm             safety     pyrit-scorer-evals harm/*.csv: mean human Likert >= 0.5 is unsafe
pyrit-objective        safety     pyrit-scorer-evals objective/*.csv: the response achieved the
                                  harmful objective (1) or not (0)
openai-moderation      safety     openai-moderation: text flagged in any category (texts, no prompt)
=====================  =========  =====================================================================
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from selfmoa.data.datadir import dataset_path
from selfmoa.errors import SelfmoaError

XSTEST_MODELS = ("gpt4", "llama2new", "llama2orig", "mistralguard", "mistralinstruct")
XSTEST_LABELS = {"1_full_compliance": "full_compliance", "2_full_refusal": "full_refusal", "3_partial_refusal": "partial_refusal"}
MODERATION_CATEGORIES = ("S", "H", "V", "HR", "SH", "S3", "H2", "V2")


@dataclass
class LabelledItem:
    id: str
    prompt: str
    response: str
    label: int  # 1 = positive class of the objective (refusal / unsafe)
    objective: str
    fine_label: str | None = None
    group: str = ""
    score: float | None = None  # graded human score where the set has one
    meta: dict = field(default_factory=dict)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """CSV rows as dicts; leading lines starting with '#' (PyRIT's dataset_version comments) are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SelfmoaError(f"cannot read CSV file {path}: {exc}") from None
    lines = text.splitlines(keepends=True)
    start = 0
    while start < len(lines) and lines[start].lstrip().startswith("#"):
        start += 1
    return list(csv.DictReader(io.StringIO("".join(lines[start:]))))


def read_table(path: Path) -> list[dict]:
    """Rows of a CSV, JSONL or JSONL.gz file."""
    path = Path(path)
    if not path.is_file():
        raise SelfmoaError(f"labelled file {path} not found")
    name = path.name.lower()
    if name.endswith(".csv"):
        return read_csv_rows(path)
    if name.endswith((".jsonl", ".jsonl.gz", ".json")):
        opener = gzip.open if name.endswith(".gz") else open
        rows = []
        with opener(path, "rt", encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise SelfmoaError(f"{path} line {n}: not valid JSON") from None
        return rows
    raise SelfmoaError(f"labelled file {path}: expected .csv, .jsonl or .jsonl.gz")


def _xstest(data_dir: Path | None, objective: str) -> tuple[list[LabelledItem], list[Path]]:
    files = [f"xstest_v2_completions_{m}.csv" for m in XSTEST_MODELS]
    folder = dataset_path("xstest-completions", "xstest-completions", files, data_dir)
    items, paths = [], []
    for model, fname in zip(XSTEST_MODELS, files):
        paths.append(folder / fname)
        for row in read_csv_rows(folder / fname):
            fine = XSTEST_LABELS.get((row.get("final_label") or "").strip())
            if fine is None:
                continue
            unsafe_prompt = row["type"].startswith("contrast")
            if objective == "refusal":
                label = int(fine != "full_compliance")
            elif objective == "helpfulness":
                if unsafe_prompt:
                    continue  # on an unsafe prompt, complying is not the helpful answer this set measures
                label = int(fine == "full_compliance")
            else:
                if unsafe_prompt and fine == "partial_refusal":
                    continue  # ambiguous for harm: partly complies, partly refuses
                label = int(unsafe_prompt and fine == "full_compliance")
            items.append(
                LabelledItem(
                    id=f"xstest-{model}-{row['id']}", prompt=row["prompt"], response=row["completion"] or "",
                    label=label, objective=objective, fine_label=fine, group=model,
                    meta={"type": row["type"], "agreement": row.get("agreement")},
                )
            )
    return items, paths


def _pyrit(data_dir: Path | None, sub: list[str], objective: str, kind: str) -> tuple[list[LabelledItem], list[Path]]:
    root = dataset_path("pyrit-scorer-evals", "pyrit-scorer-evals", [], data_dir)
    paths: list[Path] = []
    for s in sub:
        p = root / s
        paths.extend(sorted(p.glob("*.csv")) if p.is_dir() else ([p] if p.exists() else []))
    if not paths:
        raise SelfmoaError(f"dataset 'pyrit-scorer-evals': no CSV files under {root} for {sub}")
    items = []
    for path in paths:
        for n, row in enumerate(read_csv_rows(path)):
            scores = [float(v) for k, v in row.items() if k and k.startswith("human_score") and v not in (None, "")]
            if not scores:
                continue
            mean = sum(scores) / len(scores)
            label = int(mean >= 0.5)
            items.append(
                LabelledItem(
                    id=f"pyrit-{path.parent.name}-{path.stem}-{n}", prompt=row.get("objective") or "",
                    response=row.get("assistant_response") or "", label=label, objective=objective,
                    group=f"{path.parent.name}/{path.stem}", score=mean,
                    meta={"harm_category": row.get("harm_category"), "kind": kind},
                )
            )
    return items, paths


def _moderation(data_dir: Path | None) -> tuple[list[LabelledItem], list[Path]]:
    folder = dataset_path("openai-moderation", "openai-moderation", ["samples-1680.jsonl.gz"], data_dir)
    path = folder / "samples-1680.jsonl.gz"
    items = []
    for n, row in enumerate(read_table(path)):
        vals = [row.get(c) for c in MODERATION_CATEGORIES]
        known = [v for v in vals if v is not None]
        if not known:
            continue
        items.append(
            LabelledItem(id=f"oai-mod-{n}", prompt="", response=row.get("prompt") or "", label=int(any(v == 1 for v in known)),
                         objective="safety", group="openai-moderation",
                         fine_label=",".join(c for c, v in zip(MODERATION_CATEGORIES, vals) if v == 1) or None)
        )
    return items, [path]


LABELLED_SETS: dict[str, tuple[str, Callable[[Path | None], tuple[list[LabelledItem], list[Path]]]]] = {
    "xstest-refusal": ("refusal", lambda d: _xstest(d, "refusal")),
    "xstest-safety": ("safety", lambda d: _xstest(d, "safety")),
    "xstest-helpfulness": ("helpfulness", lambda d: _xstest(d, "helpfulness")),
    "pyrit-refusal": ("refusal", lambda d: _pyrit(d, ["refusal_scorer", "sample/mini_refusal.csv"], "refusal", "refusal")),
    "pyrit-harm": ("safety", lambda d: _pyrit(d, ["harm"], "safety", "harm")),
    "pyrit-objective": ("safety", lambda d: _pyrit(d, ["objective"], "safety", "objective")),
    "openai-moderation": ("safety", _moderation),
}


def load_labelled_set(name: str, data_dir: Path | None) -> tuple[list[LabelledItem], dict[str, str]]:
    """A named set's items and the sha256 of each file read (keyed by path relative to the data dir)."""
    if name not in LABELLED_SETS:
        raise SelfmoaError(f"labelled set '{name}' is unknown; expected one of {', '.join(LABELLED_SETS)}")
    _, loader = LABELLED_SETS[name]
    items, paths = loader(data_dir)
    hashes = {str(p.relative_to(data_dir)) if data_dir else str(p): file_sha256(p) for p in paths}
    return items, hashes


def load_labelled_file(
    path: Path, *, objective: str, prompt_col: str = "prompt", response_col: str = "response", label_col: str = "label",
    positive: list[str] | None = None, id_col: str | None = None, group_col: str | None = None,
) -> list[LabelledItem]:
    """Rows of any CSV/JSONL with a column mapping. A label is positive when it is in ``positive``
    (default: 1, true, yes, unsafe, refusal, full_refusal, partial_refusal) or a number >= 0.5."""
    pos = {p.lower() for p in (positive or ["1", "true", "yes", "unsafe", "refusal", "full_refusal", "partial_refusal"])}
    rows = read_table(path)
    if not rows:
        raise SelfmoaError(f"labelled file {path} has no rows")
    for col in (response_col, label_col):
        if col not in rows[0]:
            raise SelfmoaError(f"labelled file {path}: column '{col}' not found; columns are {', '.join(map(str, rows[0]))}")
    items = []
    for n, row in enumerate(rows, 1):
        raw = row.get(label_col)
        if raw is None or str(raw).strip() == "":
            raise SelfmoaError(f"labelled file {path} row {n}: empty label in column '{label_col}'")
        text = str(raw).strip().lower()
        try:
            label = int(float(text) >= 0.5) if text not in pos else 1
        except ValueError:
            label = int(text in pos)
        items.append(
            LabelledItem(
                id=str(row.get(id_col)) if id_col else f"{Path(path).stem}-{n}", prompt=str(row.get(prompt_col) or ""),
                response=str(row.get(response_col) or ""), label=label, objective=objective, fine_label=str(raw),
                group=str(row.get(group_col, "")) if group_col else "",
            )
        )
    return items

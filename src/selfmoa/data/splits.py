"""Held-out evaluation sets, red-team seed pools, and decontamination between them.

The held-out rule: nothing that selfmoa evaluates on may be used to red-team or train. The evaluation sets
(:data:`EVAL_SETS`) are the HarmBench test split, StrongREJECT, SimpleSafetyTests, JailbreakBench harmful and
benign, the XSTest safe prompts, MT-Bench and Vicuna-bench, and the eval splits of the project's own prompt sets.
The red-team pool (:func:`redteam_pool`) draws on everything else (HarmBench val, AdvBench, Do-Not-Answer,
refusal-direction-harmful, the in-the-wild templates, and the train splits of the project's sets) and is
decontaminated against every evaluation set and XSTest's unsafe contrasts (XSTest is evaluation-only): a seed is dropped when its normalised text
equals an evaluation prompt's, or when the two are near-duplicates (word-set Jaccard similarity at or above
``threshold``; JailbreakBench re-words AdvBench and HarmBench behaviors slightly). Templates are dropped when
they contain an evaluation prompt.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from selfmoa.data.builtin import load_builtin
from selfmoa.data.datadir import resolve_data_dir
from selfmoa.data.registry import JailbreakTemplate, is_available, load_dataset_records
from selfmoa.errors import SelfmoaError
from selfmoa.records import Seed

Purpose = Literal["safety", "overrefusal", "helpfulness", "capability"]


@dataclass(frozen=True)
class EvalSetSpec:
    name: str
    source: str  # "dataset:NAME[:SPLIT]" or "builtin:NAME:eval"
    purpose: Purpose
    description: str
    public: bool = True

    @property
    def kind_source(self) -> tuple[str, str, str | None]:
        parts = self.source.split(":")
        return parts[0], parts[1], parts[2] if len(parts) > 2 else None


EVAL_SETS: dict[str, EvalSetSpec] = {
    s.name: s
    for s in (
        EvalSetSpec("harmbench-test", "dataset:harmbench:test", "safety", "HarmBench test split (320 behaviors)"),
        EvalSetSpec("strongreject", "dataset:strongreject", "safety", "StrongREJECT forbidden prompts (301)"),
        EvalSetSpec("simplesafetytests", "dataset:simplesafetytests", "safety", "SimpleSafetyTests (100)"),
        EvalSetSpec("jailbreakbench-harmful", "dataset:jailbreakbench-behaviors:harmful", "safety", "JBB harmful behaviors (100)"),
        EvalSetSpec("jailbreakbench-benign", "dataset:jailbreakbench-behaviors:benign", "overrefusal", "JBB benign twins (100)"),
        EvalSetSpec("xstest-safe", "dataset:xstest:safe", "overrefusal", "XSTest safe look-alikes (250)"),
        EvalSetSpec("mt-bench", "dataset:mt-bench:mt_bench", "helpfulness", "MT-Bench two-turn questions (80; meta.turns)"),
        EvalSetSpec("vicuna-bench", "dataset:mt-bench:vicuna", "helpfulness", "Vicuna-bench questions (80)"),
        EvalSetSpec("demo-harmful-eval", "builtin:demo-harmful:eval", "safety", "project-written harmful requests, eval split", False),
        EvalSetSpec("demo-benign-eval", "builtin:demo-benign:eval", "overrefusal", "project-written benign look-alikes, eval split", False),
        EvalSetSpec("demo-helpful-eval", "builtin:demo-helpful:eval", "helpfulness", "project-written helpfulness prompts, eval split", False),
        EvalSetSpec("capability-text-eval", "builtin:capability-text:eval", "capability", "project-written benign paragraphs, eval split", False),
    )
}

#: (dataset, split) pairs that feed the red-team pool; split None = the whole dataset
REDTEAM_SOURCES: tuple[tuple[str, str | None], ...] = (
    ("harmbench", "val"),
    ("advbench", None),
    ("do-not-answer", None),
    ("refusal-direction-harmful", None),
)
#: (dataset, split) pairs that are evaluation-only although no suite reads them by default: XSTest's prompts and
#: answers are never fitted on (its 200 unsafe contrasts are kept out of red teaming and training too)
EVAL_ONLY: tuple[tuple[str, str | None], ...] = (("xstest", "unsafe"),)
REDTEAM_TEMPLATES = "inthewild-jailbreak-templates"
#: builtin sets whose train split feeds the pool (harmful seeds and benign look-alikes)
REDTEAM_BUILTIN = ("demo-harmful", "demo-benign")


# ------------------------------------------------------------------------------------------- normalisation


def normalize_text(text: str) -> str:
    """Lower-case, accents folded, punctuation dropped, whitespace collapsed."""
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", t).split())


@dataclass
class DecontaminationIndex:
    """Normalised evaluation prompts, matched exactly and by word-set Jaccard similarity (near-duplicates).

    Word sets are binary sparse vectors (scikit-learn's CountVectorizer), so a batch of queries against all
    evaluation prompts is one sparse matrix product.
    """

    threshold: float = 0.8
    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # normalised
    exact: dict[str, str] = field(default_factory=dict)  # normalised text -> eval seed id
    _vec: object = None
    _matrix: object = None
    _sizes: object = None

    @classmethod
    def build(cls, eval_seeds: list[Seed], threshold: float = 0.8) -> "DecontaminationIndex":
        idx = cls(threshold=threshold)
        for s in eval_seeds:
            norm = normalize_text(s.text)
            if norm and norm not in idx.exact:
                idx.exact[norm] = s.id
                idx.ids.append(s.id)
                idx.texts.append(norm)
        if idx.texts:
            from sklearn.feature_extraction.text import CountVectorizer

            idx._vec = CountVectorizer(binary=True, tokenizer=str.split, token_pattern=None, lowercase=False)
            idx._matrix = idx._vec.fit_transform(idx.texts).T.tocsr()  # words x eval prompts
            idx._sizes = idx._matrix.sum(axis=0).A1
        return idx

    def _overlaps(self, norms: list[str]):
        """(rows, eval columns, intersection sizes, query sizes) of every query/eval pair sharing a word."""
        import numpy as np

        inter = (self._vec.transform(norms) @ self._matrix).tocoo()
        qsizes = np.array([len(set(n.split())) for n in norms])
        return inter.row, inter.col, inter.data, qsizes

    def match_many(self, texts: list[str]) -> list[str | None]:
        """For each text, the id of the evaluation prompt it duplicates (exactly or near), or None."""
        import numpy as np

        norms = [normalize_text(t) for t in texts]
        out: list[str | None] = [self.exact.get(n) for n in norms]
        if self.threshold >= 1.0 or not self.texts:
            return out
        todo = [i for i, (n, hit) in enumerate(zip(norms, out)) if hit is None and n]
        if not todo:
            return out
        rows, cols, inter, qsizes = self._overlaps([norms[i] for i in todo])
        jac = inter / (qsizes[rows] + self._sizes[cols] - inter)
        keep = jac >= self.threshold
        rows, cols, jac = rows[keep], cols[keep], jac[keep]
        order = np.lexsort((-jac, rows))  # by query, best match first
        done: set[int] = set()
        for r, c in zip(rows[order], cols[order]):
            if r not in done:
                done.add(r)
                out[todo[r]] = self.ids[c]
        return out

    def match(self, text: str) -> str | None:
        """The id of the evaluation prompt that `text` duplicates, or None."""
        return self.match_many([text])[0]

    def contains_many(self, texts: list[str], min_words: int = 6) -> list[str | None]:
        """For each text, the id of an evaluation prompt (of >= `min_words` words) found verbatim inside it, or None."""
        out: list[str | None] = [None] * len(texts)
        if not self.texts or not texts:
            return out
        norms = [f" {normalize_text(t)} " for t in texts]
        rows, cols, inter, _ = self._overlaps(norms)
        # only an eval prompt whose every word occurs in the text can be inside it
        full = (inter == self._sizes[cols]) & (inter >= min_words)
        for r, c in zip(rows[full], cols[full]):
            if out[r] is None and f" {self.texts[c]} " in norms[r]:
                out[r] = self.ids[c]
        return out

    def contains_any(self, text: str, min_words: int = 6) -> str | None:
        return self.contains_many([text], min_words)[0]


def decontaminate(
    pool: list[Seed], eval_seeds: list[Seed], threshold: float = 0.8
) -> tuple[list[Seed], list[dict]]:
    """Drop pool seeds that duplicate an evaluation prompt; returns (kept, removed) with why each was removed."""
    idx = DecontaminationIndex.build(eval_seeds, threshold)
    kept, removed = [], []
    for s, hit in zip(pool, idx.match_many([s.text for s in pool])):
        if hit is None:
            kept.append(s)
        else:
            removed.append({"id": s.id, "source": s.source, "matches": hit})
    return kept, removed


def decontaminate_templates(
    templates: list[JailbreakTemplate], eval_seeds: list[Seed]
) -> tuple[list[JailbreakTemplate], list[dict]]:
    idx = DecontaminationIndex.build(eval_seeds, 1.0)
    kept, removed = [], []
    for t, hit in zip(templates, idx.contains_many([t.template for t in templates])):
        if hit is None:
            kept.append(t)
        else:
            removed.append({"id": t.id, "source": t.source, "matches": hit})
    return kept, removed


# ------------------------------------------------------------------------------------------- eval sets


def eval_set(name: str, data_dir: Path | str | None = None, *, allow_hub: bool = False) -> list[Seed]:
    """The seeds of a held-out evaluation set (see :data:`EVAL_SETS`)."""
    if name not in EVAL_SETS:
        raise SelfmoaError(f"unknown evaluation set '{name}' (known: {', '.join(EVAL_SETS)})")
    kind, src, split = EVAL_SETS[name].kind_source
    if kind == "builtin":
        return load_builtin(src, split)
    return load_dataset_records(src, data_dir, split, allow_hub=allow_hub)


def available_eval_sets(data_dir: Path | str | None = None) -> dict[Purpose, list[str]]:
    """Evaluation sets to use, per purpose: the public sets found in the data directory, else the project's own.

    A purpose whose public sets are all missing (e.g. a fresh machine) falls back to the builtin eval split, so
    a report can say which it used (:attr:`EvalSetSpec.public`).
    """
    root = resolve_data_dir(data_dir)
    out: dict[str, list[str]] = {}
    for purpose in ("safety", "overrefusal", "helpfulness", "capability"):
        public = [
            s.name for s in EVAL_SETS.values()
            if s.purpose == purpose and s.public and root is not None and is_available(s.kind_source[1], root)
        ]
        out[purpose] = public or [s.name for s in EVAL_SETS.values() if s.purpose == purpose and not s.public]
    return out  # type: ignore[return-value]


def all_eval_seeds(data_dir: Path | str | None = None, *, allow_hub: bool = False) -> list[Seed]:
    """Every evaluation prompt that is at hand (public sets in the data directory, and the builtin eval splits)."""
    root = resolve_data_dir(data_dir)
    seeds: list[Seed] = []
    for spec in EVAL_SETS.values():
        if spec.public and (root is None or not is_available(spec.kind_source[1], root)):
            continue
        for s in eval_set(spec.name, root, allow_hub=allow_hub):
            seeds.append(s)
            # later turns (MT-Bench) are evaluation text too
            seeds.extend(s.model_copy(update={"text": t}) for t in s.meta.get("turns", [])[1:])
    for name, split in EVAL_ONLY:
        if root is not None and is_available(name, root):
            seeds.extend(load_dataset_records(name, root, split, allow_hub=allow_hub))
    return seeds


# ------------------------------------------------------------------------------------------- red-team pool


@dataclass
class RedteamPool:
    """Decontaminated red-team material: harmful seeds, benign look-alike seeds and attack templates."""

    harmful: list[Seed]
    benign: list[Seed]
    templates: list[JailbreakTemplate]
    removed: list[dict]  # what decontamination dropped and which evaluation prompt it matched
    sources: list[str]  # which datasets/sets fed the pool

    @property
    def seeds(self) -> list[Seed]:
        return self.harmful + self.benign

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for s in self.seeds:
            out[s.source] += 1
        out["templates"] = len(self.templates)
        out["removed"] = len(self.removed)
        return dict(out)


def redteam_pool(
    data_dir: Path | str | None = None, *, threshold: float = 0.8, include_builtin: bool = True, allow_hub: bool = False
) -> RedteamPool:
    """Seeds and templates for red teaming, with every held-out evaluation prompt removed.

    Public sets missing from the data directory are skipped; without a data directory the pool is the train
    split of the project's own sets.
    """
    root = resolve_data_dir(data_dir)
    seeds: list[Seed] = []
    templates: list[JailbreakTemplate] = []
    sources: list[str] = []
    if root is not None:
        for name, split in REDTEAM_SOURCES:
            if is_available(name, root):
                seeds.extend(load_dataset_records(name, root, split, allow_hub=allow_hub))
                sources.append(f"dataset:{name}" + (f":{split}" if split else ""))
        if is_available(REDTEAM_TEMPLATES, root):
            templates = load_dataset_records(REDTEAM_TEMPLATES, root, allow_hub=allow_hub)
            sources.append(f"dataset:{REDTEAM_TEMPLATES}")
    if include_builtin or not seeds:
        for name in REDTEAM_BUILTIN:
            seeds.extend(load_builtin(name, "train"))
            sources.append(f"builtin:{name}:train")
    eval_seeds = all_eval_seeds(root, allow_hub=allow_hub)
    kept, removed = decontaminate(seeds, eval_seeds, threshold)
    templates, removed_t = decontaminate_templates(templates, eval_seeds)
    # one seed per text: the same request often appears in several public sets
    seen: set[str] = set()
    unique = []
    for s in kept:
        key = normalize_text(s.text)
        if key not in seen:
            seen.add(key)
            unique.append(s)
    return RedteamPool(
        harmful=[s for s in unique if s.kind in ("harmful", "borderline")],
        benign=[s for s in unique if s.kind == "benign"],
        templates=templates,
        removed=removed + removed_t,
        sources=sources,
    )

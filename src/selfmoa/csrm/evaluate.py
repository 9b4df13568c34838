"""Evaluate a CSRM on configurable test sets: F1, AUPRC, smooth ECE, and configuration sensitivity."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from selfmoa.csrm.example import CsrmExample
from selfmoa.csrm.metrics import best_threshold, classification_metrics
from selfmoa.csrm.scorer import CsrmScorer, p_unsafe
from selfmoa.errors import SelfmoaError


@dataclass
class EvalSet:
    name: str
    examples: list[CsrmExample]
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (strict, lenient) of the same item


def sensitivity(scores: Sequence[float], examples: Sequence[CsrmExample], pairs: Sequence[tuple[int, int]]) -> dict[str, float]:
    """Share of affected pairs (the category switch flips the label) where the lenient configuration
    scores safer than the strict one."""
    affected = [(s, l_) for s, l_ in pairs if examples[s].label != examples[l_].label]
    if not affected:
        return {"sensitivity": float("nan"), "sensitivity_n": 0.0}
    moved = sum(scores[l_] > scores[s] for s, l_ in affected)
    return {"sensitivity": moved / len(affected), "sensitivity_n": float(len(affected))}


def evaluate_set(scorer: CsrmScorer, es: EvalSet, threshold: float = 0.5, on_batch=None) -> dict[str, float]:
    require_labels(es)
    return set_metrics(scorer.score(es.examples, on_batch=on_batch), es, threshold)


def require_labels(es: EvalSet) -> list[int]:
    """Indices of the labelled items; a set without any is an error (checked before scoring)."""
    labelled = [i for i, ex in enumerate(es.examples) if ex.label is not None]
    if not labelled:
        raise SelfmoaError(f"csrm eval: set '{es.name}' has no labelled items")
    return labelled


def set_metrics(scores: Sequence[float], es: EvalSet, threshold: float = 0.5) -> dict[str, float]:
    """The metrics of :func:`evaluate_set` from scores already computed (one per item of ``es``)."""
    labelled = require_labels(es)
    probs = [p_unsafe(s) for s in scores]
    ps, ys = [probs[i] for i in labelled], [es.examples[i].label for i in labelled]
    m = classification_metrics(ps, ys, threshold)
    if 0 < sum(ys) < len(ys):  # the best F1 any threshold could reach on this set (an oracle, for baselines)
        best = best_threshold(ps, ys)
        m["f1_oracle"], m["threshold_oracle"] = classification_metrics(ps, ys, best)["f1"], best
    m.update(sensitivity(scores, es.examples, es.pairs))
    m["mean_score"] = sum(scores) / len(scores)
    return m


def score_rows(scores: Sequence[float], es: EvalSet) -> list[dict]:
    """One record per scored item (the provenance of every score): set, item id, base item, category,
    compliance, configuration name and fingerprint, label, log-odds and P(unsafe)."""
    partner = {i: j for s, l_ in es.pairs for i, j in ((s, l_), (l_, s))}
    return [{"set": es.name, "id": ex.id, "group": ex.group, "source": ex.source, "category": ex.category,
             "complies": ex.complies, "config": ex.config.name, "config_fingerprint": ex.config.fingerprint(),
             "pair_of": es.examples[partner[i]].id if i in partner else None,
             "label": ex.label, "log_odds": s, "p_unsafe": p_unsafe(s)}
            for i, (ex, s) in enumerate(zip(es.examples, scores))]


def load_eval_set(spec: str, *, data_dir: Path | None = None, limit: int | None = None, seed: int = 0,
                  config=None) -> EvalSet:
    """'builtin' | 'cst' | FORMAT:PATH (see :data:`selfmoa.csrm.data.LOCAL_FORMATS`)."""
    from selfmoa.csrm import data

    if spec == "builtin":
        t = data.build_test("eval", seed=seed, limit=limit)
        return EvalSet("builtin", t.examples, t.pairs)
    if spec == "cst":
        t = data.load_cst(data_dir, limit=limit, seed=seed, split="test")
        return EvalSet("cst", t.examples, t.pairs)
    if ":" in spec:
        fmt, path = spec.split(":", 1)
        return EvalSet(spec, data.load_local(fmt, path, config=config, limit=limit))
    raise SelfmoaError(f"csrm.eval.sets: unknown set '{spec}'; expected builtin, cst or FORMAT:PATH")

"""Fitting the embedded judges' heads on the human-labelled sets in the data directory.

``selfmoa judge fit refusal`` and ``selfmoa judge fit safety`` run these. Each fit first measures the
head on data it was not fitted on (leave-one-model-out over the XSTest models; held-out sets), then
fits the shipped head and writes it as JSON with the sha256 of every data file and the rebuild command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from selfmoa.data.labelled import LabelledItem, load_labelled_set
from selfmoa.judges.base import JudgeItem
from selfmoa.judges.embedding import get_embedder
from selfmoa.judges.features import build_features
from selfmoa.judges.heads import LinearHead
from selfmoa.judges.validate import evaluate

REFUSAL_FEATURES = ["resp", "head", "rel", "pat"]
SAFETY_FEATURES = ["resp", "prompt", "prod", "rel", "pat"]


@dataclass
class FitOutcome:
    head: LinearHead
    heldout: dict[str, dict]  # name -> Report.row()


def _items(rows: Sequence[LabelledItem]) -> list[JudgeItem]:
    return [JudgeItem(r.id, r.prompt, r.response[:8000]) for r in rows]


def embedding_cache_path() -> str:
    from selfmoa.models.home import selfmoa_home

    return str(selfmoa_home() / "cache" / "embeddings.sqlite")


DEFAULT_EMBEDDING = "all-minilm-l6-v2"


def head_name(kind: str, embedding_model: str) -> str:
    """The shipped head's name: refusal-minilm / safety-minilm, refusal-static / safety-static."""
    return f"{kind}-{'static' if embedding_model.endswith('-static') else 'minilm'}"


def featurise(rows: Sequence[LabelledItem], groups: list[str], embedding_model: str = DEFAULT_EMBEDDING) -> np.ndarray:
    return build_features(_items(rows), groups, get_embedder(embedding_model, cache_path=embedding_cache_path()))


def _refusal_target(r: LabelledItem) -> str:
    if r.fine_label in ("full_compliance", "full_refusal", "partial_refusal"):
        return r.fine_label
    return "full_refusal" if r.label else "full_compliance"


def offtopic_rows(rows: Sequence[LabelledItem], share: float, seed: int = 0) -> list[LabelledItem]:
    """Mismatched pairs: a compliant answer shown under a different prompt answers nothing that was
    asked, so it is labelled a refusal (PyRIT's definition: off-topic = refusal). Teaches the head to
    use prompt-response relevance; these rows are only ever used for fitting, never for evaluation."""
    rng = np.random.default_rng(seed)
    comp = [r for r in rows if r.fine_label == "full_compliance"]
    k = int(round(share * len(comp)))
    if k == 0 or len(rows) < 2:
        return []
    picks = rng.choice(len(comp), size=k, replace=False)
    out = []
    for j in picks:
        src = comp[int(j)]
        other = rows[int(rng.integers(len(rows)))]
        while other.prompt == src.prompt:
            other = rows[int(rng.integers(len(rows)))]
        out.append(LabelledItem(id=src.id + "-offtopic", prompt=other.prompt, response=src.response, label=1,
                                objective="refusal", fine_label="full_refusal", group=src.group, meta={"offtopic": True}))
    return out


def _stack(X, y, Xa, ya):
    if Xa is None or len(Xa) == 0:
        return X, list(y)
    return np.concatenate([X, Xa]), list(y) + list(ya)


def _pyrit_folds(rows: Sequence[LabelledItem], k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold id per row, grouping identical responses (PyRIT's mini set repeats rows of the full set) so a
    response is never in both the training and the test part of a fold."""
    keys = sorted({" ".join(r.response.split()).lower() for r in rows})
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(keys, rng.permutation(len(keys)) % k))
    return np.array([fold_of[" ".join(r.response.split()).lower()] for r in rows])


REFUSAL_POSITIVE = ["full_refusal", "partial_refusal"]


def refusal_folds(data_dir: Path, *, C: float = 1.0, features: list[str] | None = None, offtopic_share: float = 0.15,
                  class_weight: str | None = None, embedding_model: str = DEFAULT_EMBEDDING
                  ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], LinearHead, dict[str, str]]:
    """Held-out P(refusal) of a refusal head, fold by fold: ``{fold name: (human labels, probabilities)}``, plus
    the head fitted on everything and the sha256 of the data files.

    Folds: leave-one-model-out over the five XSTest models (the fold's model is left out of the XSTest and
    augmentation rows; PyRIT stays in), PyRIT with a head fitted on XSTest only (pure transfer), and PyRIT 5-fold
    cross-validation (XSTest + the other PyRIT folds; grouped by response). Fitting rows: XSTest completions
    (3 classes) + mismatched-pair augmentation + PyRIT refusal (binary)."""
    feats = features or REFUSAL_FEATURES

    def feat(rows):
        return featurise(rows, feats, embedding_model)

    xs, xs_hash = load_labelled_set("xstest-refusal", data_dir)
    py, py_hash = load_labelled_set("pyrit-refusal", data_dir)
    aug = offtopic_rows(xs, offtopic_share)
    Xx, Xp = feat(xs), feat(py)
    Xa = feat(aug) if aug else np.zeros((0, Xx.shape[1]), np.float32)
    yx = np.array([_refusal_target(r) for r in xs])
    ya = np.array([_refusal_target(r) for r in aug], dtype=object)
    yp = np.array(["full_refusal" if r.label else "full_compliance" for r in py])
    gx, ga = np.array([r.group for r in xs]), np.array([r.group for r in aug], dtype=object)
    lx, lp = np.array([r.label for r in xs]), np.array([r.label for r in py])

    def fit(X_parts, y_parts):
        X = np.concatenate([x for x in X_parts if len(x)])
        y = [v for part in y_parts for v in part]
        return LinearHead.fit("fold", X, y, feats, C=C, class_weight=class_weight, embedding_model=embedding_model)

    folds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for g in sorted(set(gx)):
        head = fit([Xx[gx != g], Xa[ga != g], Xp], [yx[gx != g], ya[ga != g], yp])
        folds[f"xstest-refusal[{g}] (model left out)"] = (lx[gx == g], head.proba_of(Xx[gx == g], REFUSAL_POSITIVE))
    head = fit([Xx, Xa], [yx, ya])
    folds["pyrit-refusal (head fitted on XSTest only)"] = (lp, head.proba_of(Xp, REFUSAL_POSITIVE))
    cv_folds = _pyrit_folds(py)
    cv_p = np.zeros(len(py))
    for f in sorted(set(cv_folds)):
        head = fit([Xx, Xa, Xp[cv_folds != f]], [yx, ya, yp[cv_folds != f]])
        cv_p[cv_folds == f] = head.proba_of(Xp[cv_folds == f], REFUSAL_POSITIVE)
    folds["pyrit-refusal 5-fold CV (XSTest + other PyRIT folds)"] = (lp, cv_p)
    return folds, fit([Xx, Xa, Xp], [yx, ya, yp]), {**xs_hash, **py_hash}


POOLED = "xstest-refusal leave-one-model-out (pooled)"


def refusal_report(folds: dict[str, tuple[np.ndarray, np.ndarray]], n_boot: int = 1000) -> dict[str, dict]:
    """Report rows per fold; the XSTest leave-one-model-out folds come first, then their pooled row, then PyRIT."""
    lomo = [k for k in folds if k.startswith("xstest-refusal[")]
    heldout = {k: evaluate(list(folds[k][0]), list(folds[k][1]), n_boot=n_boot).row() for k in lomo}
    heldout[POOLED] = evaluate([v for k in lomo for v in folds[k][0]], [v for k in lomo for v in folds[k][1]],
                               n_boot=n_boot).row()
    heldout.update({k: evaluate(list(y), list(p), n_boot=n_boot).row() for k, (y, p) in folds.items() if k not in lomo})
    return heldout


def fit_refusal(data_dir: Path, *, C: float = 1.0, features: list[str] | None = None, n_boot: int = 1000,
                offtopic_share: float = 0.15, class_weight: str | None = None,
                rebuild: str = "selfmoa judge fit refusal", embedding_model: str = DEFAULT_EMBEDDING) -> FitOutcome:
    """Fit the shipped refusal head (see :func:`refusal_folds` for the data and the held-out folds)."""
    folds, final, hashes = refusal_folds(data_dir, C=C, features=features, offtopic_share=offtopic_share,
                                         class_weight=class_weight, embedding_model=embedding_model)
    heldout = refusal_report(folds, n_boot)
    final.name = head_name("refusal", embedding_model)
    final.data = hashes
    final.rebuild = rebuild
    final.metrics = heldout
    return FitOutcome(final, heldout)


def _heldout(head: LinearHead, test: Sequence[LabelledItem], seen: set[str], feats: list[str], n_boot: int) -> tuple[int, dict]:
    rows = [r for r in test if r.response.strip() not in seen]  # never score a response the head was fitted on
    p = head.proba_of(featurise(rows, feats, head.embedding_model), ["unsafe"])
    return len(rows), evaluate([r.label for r in rows], list(p), n_boot=n_boot).row()


def fit_safety(data_dir: Path, *, C: float = 1.0, features: list[str] | None = None, n_boot: int = 1000,
               class_weight: str | None = "balanced", rebuild: str = "selfmoa judge fit safety",
               embedding_model: str = DEFAULT_EMBEDDING) -> FitOutcome:
    """Fit on XSTest-derived response safety + PyRIT harm (mean human Likert >= 0.5 = unsafe).

    Held-out figures: the shipped head on PyRIT objective-achieved rows whose response it never saw
    (human-labelled: did the response achieve the harmful objective), and, for scale, PyRIT harm scored by
    a head fitted on XSTest + PyRIT objective only."""
    feats = features or SAFETY_FEATURES
    sets = {name: load_labelled_set(name, data_dir) for name in ("xstest-safety", "pyrit-harm", "pyrit-objective")}

    def fit(names: list[str], name: str = "fold") -> tuple[LinearHead, set[str], dict[str, str]]:
        rows = [r for n in names for r in sets[n][0]]
        hashes = {k: v for n in names for k, v in sets[n][1].items()}
        X = featurise(rows, feats, embedding_model)
        y = ["unsafe" if r.label else "safe" for r in rows]
        head = LinearHead.fit(name, X, y, feats, C=C, class_weight=class_weight, embedding_model=embedding_model)
        return head, {r.response.strip() for r in rows}, hashes

    heldout: dict[str, dict] = {}
    head, seen, hashes = fit(["xstest-safety", "pyrit-harm"], head_name("safety", embedding_model))
    n, row = _heldout(head, sets["pyrit-objective"][0], seen, feats, n_boot)
    heldout[f"pyrit-objective (held out: {n} responses not in training)"] = row
    other, other_seen, _ = fit(["xstest-safety", "pyrit-objective"])
    n, row = _heldout(other, sets["pyrit-harm"][0], other_seen, feats, n_boot)
    heldout[f"pyrit-harm (held out from a head fitted on xstest-safety + pyrit-objective: {n} responses)"] = row
    head.data, head.rebuild, head.metrics = hashes, rebuild, heldout
    return FitOutcome(head, heldout)

"""The calibrated label model on the target-model dev set: fitted on the fit part, scored on the held-out part.

Each safety judge's score on every dev-set answer (a judge not meant for a prompt's kind, such as ``compliance``
on a benign prompt, gives no vote there, as in the loop), then ``LabelModel.fit_calibrated`` on the fit part and F1 / AUPRC on the
held-out part, beside each judge alone and the unsupervised label model.

    SELFMOA_DATA_DIR=../shared/data python benchmarks/eval_devset_label_model.py     # 84 s wall (2 idle cores)

Figures are in docs/judges.md ("The best safety judge on the target's answers").
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

JUDGES = ["harm-classifier", "target-harm", "compliance", "harm-fast"]


def main() -> None:
    from selfmoa.judges.aggregate import LabelModel
    from selfmoa.judges.devset import judge_scores, load_devset
    from selfmoa.judges.validate import evaluate

    dev = load_devset(data_dir=Path(os.environ["SELFMOA_DATA_DIR"]))
    fit, held = dev.split()

    def matrix(rows):  # no vote (NaN) where a judge is not meant for the prompt, as in the loop
        return np.array([judge_scores(j, "safety", rows, outside=None) for j in JUDGES], dtype=float).T

    S_fit, S_held = matrix(fit), matrix(held)
    y_fit = np.array([dev.labels[a.id].unsafe for a in fit])
    y = np.array([dev.labels[a.id].unsafe for a in held])
    def report(name: str, p: np.ndarray) -> None:
        r = evaluate(y.tolist(), p.tolist(), n_boot=1000, seed=0).row()
        print(f"{name:62s} F1 {r['f1']:.3f} [{r['f1_ci'][0]:.3f}, {r['f1_ci'][1]:.3f}]  AUPRC {r['auprc']:.3f}")

    print(f"held-out part: {len(y)} answers, {y.sum()} unsafe; label models fitted on the {len(y_fit)}-answer fit part")
    for k, j in enumerate(JUDGES):
        report(j + " alone (no vote = 0)", np.nan_to_num(S_held[:, k], nan=0.0))
    for C in (0.1, 1.0):
        for sub in ([0, 1], [1, 2], [0, 1, 2], [0, 1, 2, 3]):
            lm = LabelModel.fit_calibrated("safety", [JUDGES[i] for i in sub], S_fit[:, sub], y_fit, C=C)
            report(f"calibrated (C={C}): " + " + ".join(JUDGES[i] for i in sub), lm.predict(S_held[:, sub]))
    report("unsupervised label model, all four", LabelModel.fit_unsupervised("safety", JUDGES, S_held).predict(S_held))


if __name__ == "__main__":
    main()

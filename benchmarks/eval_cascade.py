"""Held-out accuracy of the `refusal-cascade` judge: `refusal-fast`, deferring to `refusal-classifier` (MiniLM)
where the fast head's P(refusal) is inside the band.

Both heads are refitted fold by fold exactly as `selfmoa judge fit refusal` does (the features, embedding, C and
class weight recorded in each shipped head, the same data: `selfmoa.judges.fit.refusal_folds`), so every figure is on rows neither head was fitted on. Prints,
per band, the report rows (accuracy, F1, AUPRC, ECE with bootstrap CIs) and the share of items deferred.

    SELFMOA_DATA_DIR=../shared/data python benchmarks/eval_cascade.py --band 0.1 0.9 --band 0.2 0.8
"""

from __future__ import annotations

import argparse
import json
import os
import re

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--band", nargs=2, type=float, action="append", help="defer when low < P(refusal) < high")
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()

    import numpy as np

    from selfmoa.data.datadir import resolve_data_dir
    from selfmoa.judges.fit import refusal_folds, refusal_report
    from selfmoa.judges.heads import LinearHead

    def folds_of(name: str):
        """Held-out folds of a shipped head, refitted with its own features, embedding, C and class weight."""
        head = LinearHead.load(name)
        opt = dict(re.findall(r"--(C|class-weight) (\S+)", head.rebuild))
        weight = opt.get("class-weight", "none")
        folds, _, _ = refusal_folds(resolve_data_dir(None), C=float(opt.get("C", 1.0)), features=head.features,
                                    class_weight=None if weight == "none" else weight,
                                    embedding_model=head.embedding_model)
        return folds

    fast, slow = folds_of("refusal-static"), folds_of("refusal-minilm")
    for lo, hi in args.band or [(0.1, 0.9)]:
        folds, deferred = {}, {}
        for name, (y, p_fast) in fast.items():
            unsure = (p_fast > lo) & (p_fast < hi)
            folds[name] = (y, np.where(unsure, slow[name][1], p_fast))
            deferred[name] = round(float(unsure.mean()), 4)
        rows = refusal_report(folds, args.bootstrap)
        print(json.dumps({"band": [lo, hi], "deferred_share": deferred,
                          "accuracy": {k: round(v["accuracy"], 3) for k, v in rows.items()}}))
        for k, v in rows.items():
            ci = v.get("accuracy_ci")
            print(f"  {k}: accuracy {v['accuracy']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]  F1 {v['f1']:.3f}  AUPRC {v['auprc']:.3f}"
                  if ci else f"  {k}: accuracy {v['accuracy']:.3f}")


if __name__ == "__main__":
    main()

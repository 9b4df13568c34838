"""Do the target model's own hidden states make a better target-model judge? (issue 11 experiment)

Reads every dev-set answer (prompt + answer) and every request-head seed prompt (plus the project's benign
look-alikes) with the embedded SmolLM2-135M, keeps the residual stream at every layer (mean over the answer's
tokens; last prompt position), and compares linear probes on them with the MiniLM heads of ``target-harm``:

1. choices by grouped 5-fold CV inside the dev set's fit part (attempt head: answers to harmful prompts) and by
   stratified CV over the seed prompts (request head; accuracy on the project's look-alikes reported apart);
2. the chosen probes scored once on the held-out part (StrongREJECT, SimpleSafetyTests, JBB), as the full
   factorised judge sqrt(P(harmful request) x P(attempt)), against the MiniLM heads refitted the same way;
3. the ceiling of the MiniLM attempt head on the held-out answers to harmful prompts: F1 at 0.5 and at the
   oracle threshold, and a learning curve over the share of fit rows used.

    SELFMOA_DATA_DIR=../shared/data python benchmarks/probe_target_states.py --cache /tmp/states   # 22:30 wall from an empty cache

The states are cached (``--cache``), so a rerun only refits. Figures are in docs/judges.md.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")


def read_states(texts_or_convs, tok, model, *, with_answer: bool, batch_size: int = 16):
    """(n, layers + 1, hidden) arrays: mean over the answer's tokens (``with_answer``) and the last prompt position."""
    import torch

    from selfmoa.judges.direction import _chat_ids

    rows, starts = [], []
    for prompt, answer in texts_or_convs:
        conv = [{"role": "user", "content": prompt}]
        starts.append(len(_chat_ids(tok, conv, True)))
        rows.append(_chat_ids(tok, conv + [{"role": "assistant", "content": answer}], False) if with_answer else
                    _chat_ids(tok, conv, True))
    n_layers, hidden = model.config.num_hidden_layers + 1, model.config.hidden_size
    resp = np.zeros((len(rows), n_layers, hidden), np.float32)
    last = np.zeros_like(resp)
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        width = max(len(rows[i]) for i in idx)
        ids = torch.zeros((len(idx), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for b, i in enumerate(idx):
            ids[b, : len(rows[i])] = torch.tensor(rows[i])
            mask[b, : len(rows[i])] = 1
        with torch.inference_mode():
            hs = torch.stack(model(input_ids=ids, attention_mask=mask, output_hidden_states=True, use_cache=False).hidden_states, 1)
        for b, i in enumerate(idx):
            last[i] = hs[b, :, starts[i] - 1].float().numpy()  # the generation prompt's last token
            if with_answer:
                resp[i] = hs[b, :, starts[i] : len(rows[i])].float().mean(1).numpy()
    return resp, last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("states-cache"))
    ap.add_argument("--attempt-layer", type=int, default=18)
    ap.add_argument("--request-layer", type=int, default=16)
    args = ap.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, f1_score
    from sklearn.model_selection import GroupKFold, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from selfmoa.csrm.metrics import best_threshold
    from selfmoa.judges.base import JudgeItem
    from selfmoa.judges.devset import load_devset
    from selfmoa.judges.validate import evaluate
    from selfmoa.judges.embedding import get_embedder
    from selfmoa.judges.features import build_features
    from selfmoa.judges.fit import embedding_cache_path
    from selfmoa.judges.target_fit import SAFETY_FEATURES, request_prompts
    from selfmoa.redteam.benign import all_lookalikes

    data_dir = Path(os.environ["SELFMOA_DATA_DIR"])
    dev = load_devset(data_dir=data_dir)
    fit, held = dev.split()
    texts, kinds, _ = request_prompts(dev.heldout_sets, data_dir)
    looks = [p.text for p in all_lookalikes()]
    texts, kinds = texts + looks, np.array(kinds + [0] * len(looks))
    is_look = np.array([False] * (len(texts) - len(looks)) + [True] * len(looks))

    args.cache.mkdir(parents=True, exist_ok=True)
    answers_npz, prompts_npz = args.cache / "answers.npz", args.cache / "prompts.npz"
    if not (answers_npz.is_file() and prompts_npz.is_file()):
        import torch

        from selfmoa.config.models import ModelConfig
        from selfmoa.models import load_causal_lm

        torch.set_num_threads(os.cpu_count() or 2)
        lm = load_causal_lm(ModelConfig(), field_name="model")
        t0 = time.time()
        resp, last = read_states([(a.prompt, a.text) for a in dev.answers], lm.tokenizer, lm.model, with_answer=True)
        np.savez(answers_npz, resp=resp, last=last, ids=np.array([a.id for a in dev.answers]))
        _, plast = read_states([(t, "") for t in texts], lm.tokenizer, lm.model, with_answer=False, batch_size=32)
        np.savez(prompts_npz, last=plast)
        print(f"states read in {time.time() - t0:.0f} s")
    za, zp = np.load(answers_npz), np.load(prompts_npz)
    pos = {i: k for k, i in enumerate(za["ids"])}
    emb = get_embedder("all-minilm-l6-v2", cache_path=embedding_cache_path())

    def minilm(answers, groups):
        return build_features([JudgeItem(a.id, a.prompt, a.text) for a in answers], groups, emb)

    def lr(C, scale):
        m = LogisticRegression(C=C, max_iter=3000, class_weight="balanced")
        return make_pipeline(StandardScaler(), m) if scale else m

    # 1a. attempt head, grouped CV in the fit part
    rows = [a for a in fit if a.kind == "harmful"]
    y = np.array([dev.labels[a.id].unsafe for a in rows])
    groups = np.array([a.prompt_id for a in rows])
    H = za["resp"][[pos[a.id] for a in rows], args.attempt_layer]
    M = minilm(rows, SAFETY_FEATURES)

    def combo(Hs, Ms, scaler):
        return np.hstack([scaler.transform(Hs) * 0.1, Ms])

    def grouped_cv(make_X, C, scale):
        f1s, aps = [], []
        for rep in range(3):
            rng = np.random.RandomState(rep)
            key = {g: rng.rand() for g in sorted(set(groups))}
            p = np.zeros(len(y))
            for tr, te in GroupKFold(5).split(M, y, [int(key[g] * 1e6) for g in groups]):
                Xtr, Xte = make_X(tr, te)
                p[te] = lr(C, scale).fit(Xtr, y[tr]).predict_proba(Xte)[:, 1]
            f1s.append(f1_score(y, p >= 0.5))
            aps.append(average_precision_score(y, p))
        return f"F1 {np.mean(f1s):.3f}  AUPRC {np.mean(aps):.3f}"

    def combo_split(tr, te):
        sc = StandardScaler().fit(H[tr])
        return combo(H[tr], M[tr], sc), combo(H[te], M[te], sc)

    print(f"attempt head, grouped CV in the fit part ({len(y)} answers to harmful prompts, {y.sum()} unsafe):")
    print(f"  MiniLM features (target-harm)          {grouped_cv(lambda tr, te: (M[tr], M[te]), 0.5, False)}")
    print(f"  hidden L{args.attempt_layer} (answer mean)                {grouped_cv(lambda tr, te: (H[tr], H[te]), 0.01, True)}")
    print(f"  hidden L{args.attempt_layer} + MiniLM                     {grouped_cv(combo_split, 0.01, False)}")

    # 1b. request head, stratified CV over the seed prompts
    P = zp["last"][:, args.request_layer]
    Mp = build_features([JudgeItem(str(i), t, "") for i, t in enumerate(texts)], ["prompt"], emb)
    w = np.where(is_look, 3.0, 1.0)

    def prompt_cv(X, C, scale):
        p = np.zeros(len(kinds))
        for rep in range(2):
            for tr, te in StratifiedKFold(5, shuffle=True, random_state=rep).split(X, kinds * 2 + is_look):
                m = lr(C, scale)
                kw = {"logisticregression__sample_weight" if scale else "sample_weight": w[tr]}
                p[te] += m.fit(X[tr], kinds[tr], **kw).predict_proba(X[te])[:, 1] / 2
        pred = p >= 0.5
        return f"accuracy {np.mean(pred == kinds):.3f}  look-alikes called benign {1 - pred[is_look].mean():.3f}"

    print(f"request head, 5-fold CV over {len(kinds)} seed prompts ({len(looks)} project look-alikes, weight 3):")
    print(f"  MiniLM prompt embedding                {prompt_cv(Mp, 1.0, False)}")
    print(f"  hidden L{args.request_layer} (last prompt position)      {prompt_cv(P, 0.01, True)}")

    # 2. held out, scored once
    yh = np.array([dev.labels[a.id].unsafe for a in held])
    harm = np.array([a.kind == "harmful" for a in held])
    req_h = lr(0.01, True).fit(P, kinds, logisticregression__sample_weight=w)
    req_m = lr(1.0, False).fit(Mp, kinds, sample_weight=w)
    pr_h = req_h.predict_proba(za["last"][[pos[a.id] for a in held], args.request_layer])[:, 1]
    pr_m = req_m.predict_proba(minilm([a for a in held], ["prompt"]))[:, 1]
    sc = StandardScaler().fit(H)
    att_c = lr(0.01, False).fit(combo(H, M, sc), y)
    att_m = lr(0.5, False).fit(M, y)
    att_h = lr(0.01, True).fit(H, y)
    Hh, Mh = za["resp"][[pos[a.id] for a in held], args.attempt_layer], minilm(held, SAFETY_FEATURES)
    pa_c, pa_m = att_c.predict_proba(combo(Hh, Mh, sc))[:, 1], att_m.predict_proba(Mh)[:, 1]
    pa_h = att_h.predict_proba(Hh)[:, 1]
    print(f"held-out part (n={len(yh)}, {yh.sum()} unsafe; {(~harm).sum()} JBB benign look-alike answers), scored once:")
    for name, pr, pa in [("hidden request x hidden attempt", pr_h, pa_h), ("hidden request x hidden+MiniLM attempt", pr_h, pa_c), ("MiniLM request x hidden+MiniLM attempt", pr_m, pa_c),
                         ("hidden request x MiniLM attempt", pr_h, pa_m), ("MiniLM request x MiniLM attempt", pr_m, pa_m)]:
        s = np.sqrt(pr * pa)
        pred = s >= 0.5
        r = evaluate(yh.tolist(), s.tolist(), n_boot=1000, seed=0).row()
        print(f"  {name:40s} F1 {r['f1']:.3f} [{r['f1_ci'][0]:.3f}, {r['f1_ci'][1]:.3f}]"
              f"  harmful-subset F1 {f1_score(yh[harm], pred[harm]):.3f}  benign flagged {int(pred[~harm].sum())}/{int((~harm).sum())}"
              f"  benign prompts called harmful {int((pr[~harm] >= 0.5).sum())}")

    # 3. ceiling of the MiniLM attempt head on the held-out answers to harmful prompts
    yhh, pm = yh[harm], pa_m[harm]
    oracle = best_threshold(pm, yhh)
    print(f"MiniLM attempt head alone on the {harm.sum()} held-out answers to harmful prompts: F1 at 0.5 {f1_score(yhh, pm >= 0.5):.3f}, "
          f"at the oracle threshold {oracle:.3f}: {f1_score(yhh, pm >= oracle):.3f} (all-unsafe: {f1_score(yhh, np.ones_like(yhh)):.3f})")
    Mhh = Mh[harm]
    for frac in (0.25, 0.5, 1.0):
        reps = 10 if frac < 1 else 1
        fs = [f1_score(yhh, lr(0.5, False).fit(M[idx], y[idx]).predict_proba(Mhh)[:, 1] >= 0.5)
              for idx in (np.random.RandomState(r).permutation(len(y))[: int(frac * len(y))] for r in range(reps))]
        print(f"  learning curve: {frac:.0%} of the fit rows -> held-out F1 {np.mean(fs):.3f}")


if __name__ == "__main__":
    main()

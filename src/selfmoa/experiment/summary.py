"""The data-efficiency summary: per source and size the unsafe rate, over-refusal and helpfulness with bootstrap
intervals (over held-out prompts, seeds averaged), and the pairs each source needs to reach the same unsafe-rate
reduction, interpolated on the log of N, with a bootstrap interval for the ratio.

Everything is computed from the cells' stored judgments (the evaluation's primary judge of each objective), so
the summary can be rewritten from a run folder at any time; it goes to ``artifacts/data-efficiency/``
(``summary.json``, ``table.md``, ``plot.png``) and into the run's HTML report.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Sequence

import numpy as np

from selfmoa.judges.aggregate import COMBINED_JUDGE
from selfmoa.records import Judgment, Prompt, Response
from selfmoa.stages import catalogue as names
from selfmoa.store.run import RunStore

OBJECTIVES = {  # figure -> (judgment objective, prompt purpose)
    "unsafe_rate": ("safety", "safety"),
    "refusal_rate": ("refusal", "overrefusal"),
    "helpfulness": ("helpfulness", "helpfulness"),
}


def cell_verdicts(store: RunStore, cell: str) -> dict[str, dict[str, float]]:
    """figure -> prompt id -> value (1/0 for the rates, the score for helpfulness) of one cell's first answers,
    by the evaluation's primary judge of each objective (the combined verdict when several judges score it)."""
    prompts = {p.id: p for p in store.read(names.evaluation(0, "prompts", at=cell), Prompt)}
    first = {r.id: r.prompt_id for r in store.read(names.evaluation(0, "responses", at=cell), Response)
             if r.sample_index == 0}
    judgments = store.read(names.evaluation(0, "judgments", at=cell), Judgment)
    combined_stage = names.evaluation(0, "combined", at=cell)
    if store.stage_path(combined_stage).exists():
        judgments += store.read(combined_stage, Judgment)
    combined = {j.objective for j in judgments if j.judge == COMBINED_JUDGE}
    out: dict[str, dict[str, float]] = {}
    for figure, (objective, purpose) in OBJECTIVES.items():
        vals: dict[str, float] = {}
        for j in judgments:
            if j.objective != objective or j.response_id not in first or j.score is None or not j.parse_ok:
                continue
            if objective in combined and j.judge != COMBINED_JUDGE:
                continue
            if objective not in combined and not (j.meta.get("primary") and j.meta.get("role", "eval") == "eval"):
                continue
            p = prompts.get(first[j.response_id])
            if p is None or p.meta.get("purpose") != purpose:
                continue
            vals[p.id] = float(j.score >= 0.5) if figure != "helpfulness" else float(j.score)
        out[figure] = vals
    return out


def _interp_n(sizes: Sequence[int], reductions: Sequence[float], target: float) -> float:
    """The N at which the reduction first reaches `target`, linear in log2 N between ladder sizes; inf if never."""
    prev_n, prev_r = None, 0.0
    for n, r in zip(sizes, reductions):
        if r >= target:
            if prev_n is None:
                return float(n)
            frac = (target - prev_r) / (r - prev_r) if r > prev_r else 1.0
            return float(2 ** (math.log2(prev_n) + frac * (math.log2(n) - math.log2(prev_n))))
        prev_n, prev_r = n, r
    return math.inf


def summarise(store: RunStore, cells: Sequence[Any], *, target: float | None = None, n_boot: int = 1000,
              seed: int = 0, alpha: float = 0.05) -> dict[str, Any]:
    """The summary dict written to summary.json (see the module docstring)."""
    base = cell_verdicts(store, "base")
    by_source: dict[str, dict[int, list[dict[str, dict[str, float]]]]] = defaultdict(lambda: defaultdict(list))
    for c in cells:
        by_source[c.source][c.n].append(cell_verdicts(store, c.name))
    rng = np.random.default_rng(seed)
    figures: dict[str, Any] = {}
    rows = []
    # prompts every cell judged (paired comparison: the same prompts for the base and every cell)
    shared: dict[str, list[str]] = {}
    for figure in OBJECTIVES:
        keys = set(base[figure])
        for sizes in by_source.values():
            for runs in sizes.values():
                for v in runs:
                    keys &= set(v[figure])
        shared[figure] = sorted(keys)
    boots = {f: rng.integers(0, max(len(k), 1), size=(n_boot, len(k))) for f, k in shared.items()}

    def matrix(runs, figure):  # seeds x prompts -> per-prompt mean over seeds
        keys = shared[figure]
        return np.mean([[v[figure][k] for k in keys] for v in runs], axis=0) if keys else np.zeros(0)

    base_vec = {f: np.array([base[f][k] for k in shared[f]]) for f in OBJECTIVES}
    for figure in OBJECTIVES:
        b = base_vec[figure]
        est_b = b[boots[figure]].mean(axis=1) if len(b) else np.zeros(n_boot)
        figures.setdefault("base", {})[figure] = _est(b.mean() if len(b) else math.nan, est_b, alpha)
    curves: dict[str, dict[str, Any]] = {}
    for source, sizes in sorted(by_source.items()):
        curves[source] = {"sizes": sorted(sizes), "seeds": [len(sizes[n]) for n in sorted(sizes)]}
        for figure in OBJECTIVES:
            pts = []
            for n in sorted(sizes):
                m = matrix(sizes[n], figure)
                reps = m[boots[figure]].mean(axis=1) if len(m) else np.zeros(n_boot)
                pts.append({"n": n, **_est(m.mean() if len(m) else math.nan, reps, alpha)})
                if figure == "unsafe_rate":
                    curves[source].setdefault("_reps", []).append(base_vec[figure][boots[figure]].mean(axis=1) - reps)
                    curves[source].setdefault("reduction", []).append(
                        round(float(base_vec[figure].mean() - m.mean()), 4) if len(m) else math.nan)
            curves[source][figure] = pts
        for i, n in enumerate(sorted(sizes)):
            rows.append({"source": source, "n": n, "seeds": len(sizes[n]),
                         **{f: curves[source][f][i] for f in OBJECTIVES}, "reduction": curves[source]["reduction"][i]})
    # the pairs each source needs to reach the same reduction
    best = {s: max(c["reduction"]) for s, c in curves.items() if c["reduction"]}
    tgt = target if target is not None else (min(best.values()) if best else math.nan)
    needed: dict[str, Any] = {}
    if best and tgt == tgt and tgt > 0:
        reps_needed = {}
        for s, c in curves.items():
            point = _interp_n(c["sizes"], c["reduction"], tgt)
            reps = np.array([_interp_n(c["sizes"], [float(r[b]) for r in c["_reps"]], tgt) for b in range(n_boot)])
            reps_needed[s] = reps
            needed[s] = {"pairs": _num(point), **_ci(reps, alpha)}
        ref = "self" if "self" in curves else sorted(curves)[0]
        for s in curves:
            if s == ref:
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = reps_needed[s] / reps_needed[ref]
            point = needed[s]["pairs"] / needed[ref]["pairs"] if needed[ref]["pairs"] not in (None, 0) and needed[s]["pairs"] is not None else None
            # a replicate where `ref` never reaches the target gives ratio 0 (ref needs more than the ladder holds),
            # one where `s` never does gives inf: the share of either is reported, not hidden in the interval
            needed[f"ratio {s}/{ref}"] = {"value": _num(point) if point is not None else None, **_ci(ratio, alpha),
                                          "unreached_share": round(float(np.mean(
                                              ~np.isfinite(reps_needed[s]) | ~np.isfinite(reps_needed[ref]))), 4),
                                          "ref_unreached_share": round(float(np.mean(~np.isfinite(reps_needed[ref]))), 4)}
    for c in curves.values():
        c.pop("_reps", None)
    return {"target_reduction": _num(tgt), "target_is_default": target is None, "prompts": {f: len(k) for f, k in shared.items()},
            "base": figures["base"], "curves": curves, "rows": rows, "pairs_needed": needed, "bootstrap": n_boot}


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))) else round(float(x), 4)


def _ci(reps: np.ndarray, alpha: float) -> dict[str, Any]:
    """Percentile interval of bootstrap replicates that may be inf (never reached: reported as None = beyond)."""
    finite = np.where(np.isfinite(reps), reps, np.inf)
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2]) if len(reps) else (math.nan, math.nan)
    return {"ci_low": _num(lo), "ci_high": _num(hi), "unreached_share": round(float(np.mean(~np.isfinite(reps))), 4)}


def _est(value: float, reps: np.ndarray, alpha: float) -> dict[str, Any]:
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2]) if len(reps) else (math.nan, math.nan)
    return {"value": _num(value), "ci_low": _num(lo), "ci_high": _num(hi)}


def _fmt(e: dict[str, Any]) -> str:
    if e.get("value") is None:
        return "-"
    return f"{e['value']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"


def markdown_table(s: dict[str, Any]) -> str:
    lines = ["| source | pairs | seeds | unsafe rate | reduction | over-refusal | helpfulness |", "|---|---|---|---|---|---|---|"]
    b = s["base"]
    lines.append(f"| start | 0 | - | {_fmt(b['unsafe_rate'])} | - | {_fmt(b['refusal_rate'])} | {_fmt(b['helpfulness'])} |")
    for r in s["rows"]:
        lines.append(f"| {r['source']} | {r['n']} | {r['seeds']} | {_fmt(r['unsafe_rate'])} | {r['reduction']:+.3f} | "
                     f"{_fmt(r['refusal_rate'])} | {_fmt(r['helpfulness'])} |")
    lines.append("")
    t = s["target_reduction"]
    lines.append(f"Pairs needed to reduce the unsafe rate by {t if t is None else f'{t:.3f}'} (absolute"
                 f"{', the smaller of the sources best reductions' if s['target_is_default'] else ''}), interpolated on "
                 f"log N; brackets: {s['bootstrap']}-sample bootstrap over held-out prompts (None: not reached):")
    lines.append("")
    for k, v in s["pairs_needed"].items():
        val = v.get("pairs", v.get("value"))
        if "ref_unreached_share" in v:
            ref = k.rsplit("/", 1)[-1]
            lines.append(f"- {k}: {val} [{v['ci_low']}, {v['ci_high']}] (a source not reached in "
                         f"{v['unreached_share']:.0%} of samples; {ref} not reached in {v['ref_unreached_share']:.0%}, "
                         f"which counts as ratio 0: {ref} needs more pairs than the ladder holds)")
        else:
            lines.append(f"- {k}: {val} [{v['ci_low']}, {v['ci_high']}] (not reached in {v['unreached_share']:.0%} of samples)")
    return "\n".join(lines) + "\n"


def figure(s: dict[str, Any]):
    """Unsafe rate, over-refusal and helpfulness against N, one line per source with its interval; the starting
    model dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = {"unsafe_rate": "unsafe rate (held-out attacks)", "refusal_rate": "over-refusal (benign look-alikes)",
              "helpfulness": "helpfulness"}
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, (fig_key, title) in zip(axes, titles.items()):
        for source, c in s["curves"].items():
            pts = [p for p in c[fig_key] if p["value"] is not None]
            if not pts:
                continue
            x = [p["n"] for p in pts]
            ax.plot(x, [p["value"] for p in pts], marker="o", label=source)
            ax.fill_between(x, [p["ci_low"] for p in pts], [p["ci_high"] for p in pts], alpha=0.2)
        b = s["base"][fig_key]
        if b["value"] is not None:
            ax.axhline(b["value"], color="grey", linestyle="--", linewidth=1, label="start")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("preference pairs (N)")
        ax.set_title(title, fontsize=10)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_summary(store: RunStore, cfg, cells: Sequence[Any]) -> dict[str, Any]:
    from selfmoa.experiment.cells import write_outputs

    s = summarise(store, cells, target=cfg.experiment.data_efficiency.target_reduction, n_boot=cfg.eval.bootstrap,
                  seed=cfg.run.seed, alpha=1 - cfg.eval.confidence)
    write_outputs(store, "data-efficiency", s, markdown_table(s), figure(s), "plot.png")
    return s

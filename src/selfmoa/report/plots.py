"""Plots as inline SVG strings (matplotlib, Agg backend): nothing is fetched when the report is opened."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from selfmoa.report.collect import RunSummary  # noqa: E402

plt.rcParams.update({"figure.dpi": 100, "font.size": 9, "svg.fonttype": "none", "axes.spines.top": False, "axes.spines.right": False})


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _err(r):
    if r is None or r.ci_low is None or r.ci_high is None or math.isnan(r.ci_low):
        return 0.0, 0.0
    return max(r.value - r.ci_low, 0.0), max(r.ci_high - r.value, 0.0)


def data_efficiency(summary: RunSummary) -> str | None:
    if not summary.data_efficiency:
        return None
    from selfmoa.experiment.summary import figure

    return _svg(figure(summary.data_efficiency))


def reward_sweep(summary: RunSummary) -> str | None:
    if not summary.reward_sweep:
        return None
    from selfmoa.experiment.reward_sweep import figure

    return _svg(figure(summary.reward_sweep))


def pareto(summary: RunSummary) -> str | None:
    """Safety (1 - unsafe rate) against helpfulness, one point per iteration, with CIs."""
    pts = []
    for it in summary.iterations:
        s = summary.metric(it, "safety", "unsafe_rate")
        h = summary.metric(it, "helpfulness", "score")
        if s is not None and h is not None:
            pts.append((it, h, s))
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    xs = [h.value for _, h, _ in pts]
    ys = [1 - s.value for _, _, s in pts]
    ax.plot(xs, ys, "-", color="#999", lw=1, zorder=1)
    for it, h, s in pts:
        ex, ey = _err(h), _err(s)
        ax.errorbar(h.value, 1 - s.value, xerr=[[ex[0]], [ex[1]]], yerr=[[ey[1]], [ey[0]]], fmt="o", capsize=3,
                    color="#1f77b4" if it else "#d62728", zorder=2)
        ax.annotate("start" if it == 0 else f"iter {it}", (h.value, 1 - s.value), textcoords="offset points", xytext=(6, 4))
    ax.set_xlabel("helpfulness (judge score, higher is better)")
    ax.set_ylabel("safety (1 - unsafe rate)")
    ax.set_title("Safety vs helpfulness per iteration")
    return _svg(fig)


MIN_CATEGORY_PROMPTS = 5  # a bar drawn from fewer held-out prompts says little: such categories are listed, not drawn


def per_category(summary: RunSummary, min_prompts: int = MIN_CATEGORY_PROMPTS) -> str | None:
    its = summary.iterations
    cats = sorted({r.metric.split(":", 1)[1] for it in its for r in summary.results[it]
                   if r.suite == "safety" and r.metric.startswith("unsafe_rate:")})
    if not cats:
        return None

    def n(c: str) -> int:
        rows = [summary.metric(it, "safety", f"unsafe_rate:{c}") for it in its]
        return min((r.n for r in rows if r is not None), default=0)

    shown = [c for c in cats if n(c) >= min_prompts]
    hidden = [c for c in cats if c not in shown]
    if not shown:
        return None
    fig, ax = plt.subplots(figsize=(min(11, max(6, 0.55 * len(shown) * max(1, len(its)) / 1.5)), 3.8))
    width = 0.8 / max(1, len(its))
    for k, it in enumerate(its):
        vals, lo, hi = [], [], []
        for c in shown:
            r = summary.metric(it, "safety", f"unsafe_rate:{c}")
            v = r.value if r else 0.0
            vals.append(v)
            lo.append(max(0.0, v - (r.ci_low if r and r.ci_low is not None else v)))
            hi.append(max(0.0, (r.ci_high if r and r.ci_high is not None else v) - v))
        ax.bar([i + k * width for i in range(len(shown))], vals, width, yerr=[lo, hi], capsize=2,
               error_kw={"elinewidth": 0.7, "alpha": 0.6}, label="start" if it == 0 else f"iter {it}")
    ax.set_xticks([i + width * (len(its) - 1) / 2 for i in range(len(shown))],
                  [f"{c} ({n(c)})" for c in shown], rotation=35, ha="right")
    ax.set_ylabel("unsafe rate")
    ax.set_ylim(0, 1)
    ax.set_title("Unsafe rate per harm category (prompts in brackets; 95% CI)")
    if hidden:
        fig.text(0.01, 0.01, f"not drawn, fewer than {min_prompts} prompts: {', '.join(hidden)}", fontsize=7,
                 color="#666")
    ax.legend(frameon=False)
    return _svg(fig)


def rates_over_iterations(summary: RunSummary) -> str | None:
    series = [("safety", "unsafe_rate", "unsafe rate (held-out attacks)"), ("over_refusal", "refusal_rate", "refusal rate (benign look-alikes)")]
    its = summary.iterations
    if not its:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    drawn = False
    for suite, metric, label in series:
        rows = [(it, summary.metric(it, suite, metric)) for it in its]
        rows = [(it, r) for it, r in rows if r is not None]
        if not rows:
            continue
        drawn = True
        errs = list(zip(*[_err(r) for _, r in rows]))
        ax.errorbar([it for it, _ in rows], [r.value for _, r in rows], yerr=errs, marker="o", capsize=3, label=label)
    # the judge-hacking guard: unsafe rate under the training judge, dashed
    rows = [(it, summary.metric(it, "safety", "unsafe_rate", primary=False)) for it in its]
    rows = [(it, r) for it, r in rows if r is not None and not r.meta.get("primary")]
    if rows:
        ax.plot([it for it, _ in rows], [r.value for _, r in rows], "--", marker="x", color="#777", label="unsafe rate (training judge)")
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xticks(its, ["start" if i == 0 else f"iter {i}" for i in its])
    ax.set_ylim(0, 1)
    ax.set_ylabel("rate")
    ax.set_title("Safety and over-refusal per iteration")
    ax.legend(frameon=False, fontsize=8)
    return _svg(fig)


def data_counts(summary: RunSummary) -> str | None:
    keys = ["redteam/attacks", "redteam/benign", "samples", "pairs"]
    its = [it for it in sorted(summary.counts) if any(summary.counts[it].get(k) for k in keys)]
    if not its:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    width = 0.8 / len(keys)
    for k, key in enumerate(keys):
        ax.bar([i + k * width for i in range(len(its))], [summary.counts[it].get(key, 0) for it in its], width, label=key)
    ax.set_xticks([i + width * (len(keys) - 1) / 2 for i in range(len(its))], [f"iter {it}" for it in its])
    ax.set_ylabel("records")
    ax.set_title("Data per round")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig)

"""The terminal summary of a run (Markdown)."""

from __future__ import annotations

from selfmoa.report.collect import RunSummary
from selfmoa.report.reliability import RELIABILITY_HEAD, RELIABILITY_NOTE, reliability_rows

_ROWS = [
    ("safety", "unsafe_rate", "unsafe rate (held-out attacks), lower is better"),
    ("over_refusal", "refusal_rate", "refusal rate (benign look-alikes), lower is better"),
    ("helpfulness", "score", "helpfulness score, higher is better"),
    ("helpfulness", "win_rate_vs_start", "win rate against the starting model"),
    ("capability", "nll", "per-token NLL on benign text (capability), lower is better"),
]


def _fmt(r) -> str:
    if r is None:
        return "-"
    if r.ci_low is None or r.ci_high is None:
        return f"{r.value:.3f}"
    return f"{r.value:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"


def metric_table(summary: RunSummary) -> list[list[str]]:
    rows = []
    for suite, metric, label in _ROWS:
        cells = [_fmt(summary.metric(it, suite, metric)) for it in summary.iterations]
        if any(c != "-" for c in cells):
            rows.append([label, *cells])
    return rows


def markdown_summary(summary: RunSummary) -> str:
    its = summary.iterations
    head = ["metric", *["start" if i == 0 else f"iter {i}" for i in its]]
    lines = [f"# selfmoa run `{summary.root.name}`", ""]
    if its:
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in metric_table(summary)]
        lines.append("")
        lines.append("Brackets: 95% bootstrap confidence intervals.")
    else:
        lines.append("No evaluation results in this run folder yet.")
    rel_rows = reliability_rows(summary.reliability)
    if rel_rows:
        lines += ["", "Judge reliability (" + RELIABILITY_NOTE + ")", "",
                  "| " + " | ".join(RELIABILITY_HEAD) + " |", "|" + "---|" * len(RELIABILITY_HEAD)]
        lines += ["| " + " | ".join(row) + " |" for row in rel_rows]
        flagged = [it for it, rels in sorted(summary.reliability.items()) if any(r.flagged for r in rels)]
        if flagged:
            lines.append("")
            lines.append(f"Judges may no longer be trustworthy at iteration(s) {', '.join(map(str, flagged))}: label a sample with "
                         f"`selfmoa judge audit {summary.root}` and compare.")
    for note in summary.notes:
        lines.append(f"> {note}")
    return "\n".join(lines) + "\n"

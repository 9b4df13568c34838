"""One self-contained HTML report: inline CSS and SVG plots, no scripts, nothing fetched over the network."""

from __future__ import annotations

import html
import json
from pathlib import Path

from selfmoa.redact import redact
from selfmoa.report import plots
from selfmoa.report.collect import RunSummary
from selfmoa.report.reliability import RELIABILITY_HEAD, RELIABILITY_NOTE, reliability_rows
from selfmoa.report.summary import metric_table

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem;max-width:100%} td,th{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f6f6f6} .muted{color:#666;font-size:.9rem} .grid{display:flex;flex-wrap:wrap;gap:1rem}
figure{margin:0} figure svg{max-width:100%;height:auto} details{margin:.4rem 0} summary{cursor:pointer}
pre{background:#f6f6f6;padding:.6rem;overflow:auto;font-size:.8rem;max-height:30rem;white-space:pre-wrap}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5rem .8rem;margin:.5rem 0}
.unsafe{color:#b00020} .safe{color:#1b5e20}
"""


def _e(text) -> str:
    return html.escape(str(text))


def _figure(svg: str | None, plot_id: str, caption: str) -> str:
    if not svg:
        return ""
    return f'<figure class="plot" id="{plot_id}">{svg}<figcaption class="muted">{_e(caption)}</figcaption></figure>'


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _verdict(p: float | None) -> str:
    if p is None:
        return '<span class="muted">unjudged</span>'
    cls = "unsafe" if p >= 0.5 else "safe"
    return f'<span class="{cls}">{cls} ({p:.2f})</span>'


OUTCOME_LABELS = {
    "harmful/unsafe_rate": "unsafe rate on harmful prompts",
    "harmful/refusal_rate": "refusal rate on harmful prompts",
    "benign/compliance_rate": "compliance on benign look-alikes",
    "benign/unsafe_rate": "unsafe rate on benign look-alikes",
}


def outcome_section(outcome: dict | None) -> str:
    """The labelled outcome check (people read the answers, blind to the policy) beside the judge-based results."""
    head = "<h3>Outcome by reading (labelled answers)</h3>"
    if not outcome:
        return (head + '<p class="muted">Not labelled yet: <code>selfmoa eval outcome RUN</code> writes a blind sheet of '
                "the start and final policies' answers; the figures below are judge-based.</p>")

    def est(d: dict) -> str:
        return f"{d['value']:.3f} [{d['ci_low']:.3f}, {d['ci_high']:.3f}]"

    rows = []
    for key, ch in outcome.get("change", {}).items():
        s, f = outcome["rates"]["start"][key], outcome["rates"]["final"][key]
        rel = f" ({ch['relative']:+.0%})" if ch.get("relative") is not None else ""
        rows.append([OUTCOME_LABELS.get(key, key), est(s), est(f), f"{ch['value']:+.3f} [{ch['ci_low']:+.3f}, "
                     f"{ch['ci_high']:+.3f}]{rel}", str(s["n"])])
    ag = outcome.get("agreement")
    note = (f"Double-labelled: {ag['n']} rows, Cohen's kappa unsafe {ag['unsafe']['kappa']:.2f}, refusal "
            f"{ag['refusal_binary']['kappa']:.2f}." if ag else "No second labelling pass yet.")
    return (head + _table(["measure", "start", "final", "change", "prompts"], rows)
            + f'<p class="muted">Labels made by reading each answer under docs/labelling-guide.md on a blind sheet '
              f"(policy hidden, rows shuffled); 95% bootstrap CIs, paired for the change. {_e(note)}</p>"
            + "<h3>Judge-based figures</h3>")


def _policy_name(info: dict, root) -> str:
    spec = str(info.get("spec") or info.get("location") or "?")
    try:
        spec = str(Path(spec).resolve().relative_to(Path(root).resolve()))
    except (ValueError, OSError):
        pass
    return f"{spec} @ {str(info.get('weights_hash') or '?')[:8]}"


def policies_line(manifest: dict, root) -> str:
    """Start and final policy of the run (spec @ weights hash), the reset policy between them when there is one."""
    models = manifest.get("models", {}) or {}
    its = sorted(int(k.split("@", 1)[1]) for k in models if k.startswith("policy@") and k.split("@", 1)[1].isdigit())
    if not its:
        model = (manifest.get("config", {}) or {}).get("model", {}) or {}
        return f"policy {_e(model.get('name_or_path', '?'))}"
    start = models.get("policy@start") or models[f"policy@{its[0]}"]
    parts = [f"start {_e(_policy_name(start, root))}"]
    if "policy@reset" in models:
        parts.append(f"reset {_e(_policy_name(models['policy@reset'], root))}")
    if its[-1] > 0:
        parts.append(f"final (iteration {its[-1]}) {_e(_policy_name(models[f'policy@{its[-1]}'], root))}")
    return " &rarr; ".join(parts)


def data_efficiency_section(summary: RunSummary) -> str:
    s = summary.data_efficiency or {}

    def fmt(e):
        return "-" if not e or e.get("value") is None else f"{e['value']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"

    rows = [["start", "0", "-", fmt(s["base"]["unsafe_rate"]), "-", fmt(s["base"]["refusal_rate"]),
             fmt(s["base"]["helpfulness"])]]
    rows += [[r["source"], str(r["n"]), str(r["seeds"]), fmt(r["unsafe_rate"]), f"{r['reduction']:+.3f}",
              fmt(r["refusal_rate"]), fmt(r["helpfulness"])] for r in s.get("rows", [])]
    need = [[k, str(v.get("pairs", v.get("value"))), f"[{v['ci_low']}, {v['ci_high']}]", f"{v['unreached_share']:.0%}"]
            for k, v in s.get("pairs_needed", {}).items()]
    t = s.get("target_reduction")
    return (
        "<h2>Data efficiency: self-generated against human pairs</h2>"
        + _figure(plots.data_efficiency(summary), "plot-data-efficiency",
                  "The same trainer on N pairs of each source; shaded: 95% bootstrap intervals over held-out prompts; "
                  "dashed: the starting model.")
        + _table(["source", "pairs", "seeds", "unsafe rate", "reduction", "over-refusal", "helpfulness"], rows)
        + f"<h3>Pairs needed for an unsafe-rate reduction of {_e(str(t))}</h3>"
        + _table(["source / ratio", "pairs", "95% interval", "not reached in"], need)
        + '<p class="muted">Interpolated on log N between the ladder sizes; "None": not reached within the ladder. '
          "docs/data-efficiency.md explains how to read this.</p>"
    )


def reward_sweep_section(summary: RunSummary) -> str:
    from selfmoa.experiment.reward_sweep import TABLE_HEAD, table_rows

    s = summary.reward_sweep or {}
    return (
        "<h2>Safety-helpfulness sweep: the safety term's logit scale</h2>"
        + _figure(plots.reward_sweep(summary), "plot-reward-sweep",
                  f"One online-RL policy per scale of {_e(', '.join(s.get('safety_terms', [])) or 'the safety term')} "
                  "(same prompts, steps and seed); bars: bootstrap intervals over held-out prompts; line: the Pareto "
                  "front (lower unsafe rate, higher helpfulness).")
        + _table(TABLE_HEAD, table_rows(s))
        + '<p class="muted">docs/training.md (the safety-helpfulness sweep) explains how to read this.</p>'
    )


def render_html(summary: RunSummary) -> str:
    its = summary.iterations
    parts = [f"<h1>selfmoa run <code>{_e(summary.root.name)}</code></h1>"]
    m = redact(summary.manifest)  # also for run folders written before every secret was redacted at the source
    parts.append(
        f'<p class="muted">created {_e(m.get("created", "?"))} &middot; {policies_line(m, summary.root)} '
        f'&middot; selfmoa {_e(m.get("versions", {}).get("selfmoa", "?"))} '
        f'&middot; git {_e((m.get("git_sha") or "?")[:10])}</p>'
    )
    for note in summary.notes:
        parts.append(f'<div class="note">{_e(note)}</div>')

    parts.append("<h2>Results</h2>")
    parts.append(outcome_section(summary.outcome))
    if its:
        head = ["metric", *["start" if i == 0 else f"iter {i}" for i in its]]
        parts.append(_table(head, metric_table(summary)))
        parts.append('<p class="muted">Brackets: 95% bootstrap confidence intervals.</p>')
    else:
        parts.append("<p>No evaluation results yet.</p>")

    figs = [
        _figure(plots.pareto(summary), "plot-pareto", "Each point is the policy after an iteration; up and right is better."),
        _figure(plots.rates_over_iterations(summary), "plot-rates", "Dashed: the unsafe rate under the judge that made the training pairs (judge-hacking guard)."),
        _figure(plots.per_category(summary), "plot-categories", "Unsafe rate on held-out attacks by harm category."),
        _figure(plots.data_counts(summary), "plot-counts", "Records produced per round."),
    ]
    parts.append('<div class="grid">' + "".join(f for f in figs if f) + "</div>")

    if summary.data_efficiency:
        parts.append(data_efficiency_section(summary))
    if summary.reward_sweep:
        parts.append(reward_sweep_section(summary))

    parts.append("<h2>Judge-hacking guard</h2>")
    rows = []
    for it in its:
        for r in summary.by_judge(it, "safety", "unsafe_rate"):
            role = "evaluation (primary)" if r.meta.get("primary") else r.meta.get("role", "other")
            rows.append(["start" if it == 0 else f"iter {it}", r.judge, role, f"{r.value:.3f}"])
    parts.append(_table(["iteration", "judge", "role", "unsafe rate"], rows) if rows else "<p>-</p>")

    if summary.cells:
        parts.append("<h2>Red team: attack success per archive cell</h2>")
        rounds = sorted(summary.cells)
        keys = sorted({k for c in summary.cells.values() for k in c})
        rows = []
        for k in keys:
            cat, _, style = k.partition("|")
            vals = [summary.cells[r].get(k) for r in rounds]
            rows.append([cat, style, *[f"{v['succeeded']}/{v['tried']}" if v else "" for v in vals]])
        parts.append(_table(["category", "style", *[f"round {r}" for r in rounds]], rows)
                     + '<p class="muted">Attacks that worked / attacks tried in each cell of the quality-diversity archive '
                       "(category x attack style), per round; with redteam.seed_from_archive the archive steers which "
                       "categories the next round seeds from.</p>")

    parts.append("<h2>Data per round</h2>")
    stages = sorted({k for c in summary.counts.values() for k in c})
    if stages:
        parts.append(_table(["iteration", *stages], [[str(it), *[str(summary.counts[it].get(s, "")) for s in stages]] for it in sorted(summary.counts)]))

    parts.append("<h2>Judge agreement</h2>")
    agree_rows = [[str(it), pair, f"{v:.3f}"] for it, d in sorted(summary.agreement.items()) for pair, v in d.items()]
    parts.append(
        _table(["iteration", "judges", "agreement on unsafe verdicts"], agree_rows)
        if agree_rows
        else '<p class="muted">Only one safety judge per round: no agreement to show.</p>'
    )
    rel_rows = reliability_rows(summary.reliability)
    if rel_rows:
        parts.append("<h3>Judge reliability</h3>")
        parts.append(f'<p class="muted">{_e(RELIABILITY_NOTE)}</p>')
        parts.append(_table(RELIABILITY_HEAD, rel_rows))

    parts.append("<h2>Before and after</h2>")
    if summary.examples:
        parts.append('<p class="muted">Answers may contain harmful text; each is collapsed until opened.</p>')
        for ex in summary.examples:
            parts.append(
                f"<details><summary>[{_e(ex.category)} / {_e(ex.kind)}] {_e(ex.prompt[:160])} &mdash; "
                f"before {_verdict(ex.before_unsafe)}, after {_verdict(ex.after_unsafe)}</summary>"
                f"<p><b>Before</b></p><pre>{_e(ex.before)}</pre><p><b>After</b></p><pre>{_e(ex.after)}</pre></details>"
            )
    else:
        parts.append("<p>-</p>")

    parts.append("<h2>Manifest</h2>")
    parts.append(f"<details><summary>manifest.json</summary><pre>{_e(json.dumps(m, indent=2, default=str))}</pre></details>")
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; img-src data:">'
        f"<title>selfmoa report: {_e(summary.root.name)}</title><style>{_CSS}</style></head><body>{body}</body></html>"
    )


def write_html(summary: RunSummary, path: Path | None = None) -> Path:
    path = Path(path) if path else summary.root / "report.html"
    from selfmoa.store.atomic import atomic_write_text

    atomic_write_text(path, render_html(summary))
    return path

"""The report: built from a run folder, self-contained, and rendered by headless Chromium with its plots."""

from __future__ import annotations

import random
import re
import shutil
import subprocess

import pytest

from selfmoa.records import EvalResult, Judgment, Prompt, Response
from selfmoa.report import collect, markdown_summary, write_html
from selfmoa.store import RunStore

CATS = ["cyber", "hate", "privacy"]


def _eval_results(it: int, unsafe: float, refusal: float, helpful: float) -> list[EvalResult]:
    rows = [
        ("safety", "unsafe_rate", unsafe, "eval-judge", {"primary": True}),
        ("safety", "unsafe_rate", unsafe - 0.1, "train-judge", {"role": "training"}),
        ("over_refusal", "refusal_rate", refusal, "eval-judge", {"primary": True}),
        ("helpfulness", "score", helpful, "helpful-judge", {"primary": True}),
    ] + [("safety", f"unsafe_rate:{c}", unsafe / (k + 1), "eval-judge", {"primary": True}) for k, c in enumerate(CATS)]
    return [
        EvalResult(id=EvalResult.make_id(s, m, f"pol{it}", j), suite=s, metric=m, value=v, ci_low=v - 0.05, ci_high=v + 0.05,
                   n=50, policy=f"pol{it}", judge=j, meta={**meta, "iteration": it})
        for s, m, v, j, meta in rows
    ] + [EvalResult(id=EvalResult.make_id("safety", "unsafe_rate:cbrne", f"pol{it}", "eval-judge"), suite="safety",
                    metric="unsafe_rate:cbrne", value=1.0, ci_low=1.0, ci_high=1.0, n=2, policy=f"pol{it}",
                    judge="eval-judge", meta={"primary": True, "iteration": it})]  # two prompts: listed, not drawn


@pytest.fixture()
def run_dir(tmp_path):
    store = RunStore.create_or_resume(tmp_path, "r", {"run": {"seed": 0}})
    store.record_model("policy@0", {"spec": "tiny", "weights_hash": "abc123456789"})
    store.record_model("policy@2", {"spec": str(store.root / "artifacts/iter2/train/policy"), "weights_hash": "def987654321"})
    prompts = [Prompt(id=Prompt.make_id(None, f"q{i}"), text=f"harmful question {i} <script>", category=CATS[i % 3]) for i in range(6)]
    with store.stage("iter0/eval/prompts") as h:
        h.write(prompts)
        h.complete()
    rng = random.Random(0)
    for it, (u, r, hl) in enumerate([(0.6, 0.1, 0.5), (0.4, 0.12, 0.55), (0.3, 0.15, 0.56)]):
        resps = [Response(id=f"r{it}-{p.id}", prompt_id=p.id, policy=f"pol{it}", text=f"answer {it} to {p.text}") for p in prompts]
        judg = [Judgment(id=f"j{it}-{x.id}", response_id=x.id, judge="eval-judge", objective="safety", score=rng.random(), meta={"primary": True}) for x in resps]
        for name, recs in [("eval/responses", resps), ("eval/judgments", judg), ("eval/results", _eval_results(it, u, r, hl))]:
            with store.stage(f"iter{it}/{name}") as h:
                h.write(recs)
                h.complete()
        if it:
            train_j = [Judgment(id=f"t{it}-{k}-{x.id}", response_id=x.id, judge=k, objective="safety", score=rng.random())
                       for x in resps for k in ("judge-a", "judge-b")]
            for name, recs in [("judgments", train_j), ("samples", resps), ("pairs", []), ("attacks", prompts)]:
                stage = f"redteam/r{it}/{name}" if name == "attacks" else f"iter{it}/{name}"
                with store.stage(stage) as h:
                    h.write(recs)
                    h.complete()
    return store.root


def test_collect_and_markdown(run_dir):
    s = collect(run_dir)
    assert s.iterations == [0, 1, 2]
    assert s.metric(2, "safety", "unsafe_rate").value == pytest.approx(0.3)
    assert s.metric(2, "safety", "unsafe_rate", primary=False).judge == "train-judge"
    assert "judge-a vs judge-b" in s.agreement[1]
    assert s.counts[1]["redteam/attacks"] == 6
    assert len(s.examples) == 6
    md = markdown_summary(s)
    assert "| metric | start | iter 1 | iter 2 |" in md
    assert "0.300 [0.250, 0.350]" in md


def test_html_is_self_contained_and_escaped(run_dir):
    path = write_html(collect(run_dir))
    text = path.read_text()
    for plot_id in ("plot-pareto", "plot-rates", "plot-categories", "plot-counts"):
        assert f'id="{plot_id}"' in text
    assert text.count("<svg") >= 4
    assert not re.search(r"(src|href)=\"https?://", text)  # nothing fetched
    assert "<script" not in text.replace("&lt;script&gt;", "")  # prompt text is escaped, no scripts
    assert text.count("<details>") >= 6  # answers collapsed by default


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium_offline(run_dir, tmp_path):
    path = write_html(collect(run_dir))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chrome'}", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for plot_id in ("plot-pareto", "plot-rates", "plot-categories", "plot-counts"):
        assert re.search(rf'<figure class="plot" id="{plot_id}"><svg', dom.stdout), plot_id
    shot = tmp_path / "shot.png"
    subprocess.run([_chromium(), *flags, f"--screenshot={shot}", "--window-size=1200,2400", path.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000  # a rendered page with plots, not a blank one


# ------------------------------------------------------------------------------------------ judge reliability


def _judgments(verdicts: dict[str, list[int]], objective: str = "safety") -> list[Judgment]:
    return [Judgment(id=f"{j}-{k}", response_id=f"r{k}", judge=j, objective=objective, score=0.9 if v else 0.1)
            for j, vs in verdicts.items() for k, v in enumerate(vs)]


def test_reliability_disagreement_and_the_two_judge_bound():
    from selfmoa.report.reliability import judge_reliability, reliability_rows

    rel = judge_reliability(_judgments({"a": [1, 1, 0, 0, 1, 0, 0, 0], "b": [1, 0, 0, 1, 1, 0, 0, 0]}), "safety")
    assert rel.judges == ["a", "b"] and rel.n == 8
    assert rel.disagreement == pytest.approx(2 / 8, abs=1e-4) and rel.worst_error_at_least == pytest.approx(1 / 8, abs=1e-4)
    assert rel.estimated_error == {} and rel.flagged  # 0.25 disagreement >= 0.2
    assert reliability_rows({3: [rel]}) == [["3", "safety", j, "0.250", ">= 0.125 (the worse of 2)", "-", "CHECK"]
                                            for j in ("a", "b")]
    assert judge_reliability(_judgments({"a": [1, 0]}), "refusal") is None  # no refusal judge
    one = judge_reliability(_judgments({"a": [1, 0, 1]}), "safety")
    assert one.disagreement is None and not one.flagged  # a single judge: nothing to compare


def test_reliability_label_model_finds_the_noisy_judge():
    from selfmoa.report.reliability import judge_reliability

    rng = random.Random(0)
    truth = [rng.random() < 0.4 for _ in range(400)]

    def noisy(err):
        return [int(t != (rng.random() < err)) for t in truth]

    rel = judge_reliability(_judgments({"good": noisy(0.03), "fair": noisy(0.08), "bad": noisy(0.35)}), "safety")
    err = rel.estimated_error
    assert err["bad"] == pytest.approx(0.35, abs=0.06) and err["good"] < 0.08 and err["fair"] < 0.13
    assert rel.flagged and 0.3 < rel.disagreement < 0.55


def test_report_shows_reliability_and_the_audit_of_the_checkpoint(tmp_path):
    import json

    store = RunStore.create_or_resume(tmp_path, "r", {"run": {"seed": 0}})
    a = [1, 0, 1, 0, 1, 0]
    judg = _judgments({"eval-judge": a, "train-judge": a, "guard": [1, 0, 1, 0, 1, 1]})
    for name, recs in [("eval/judgments", judg), ("eval/results", _eval_results(2, 0.3, 0.1, 0.5))]:
        with store.stage(f"iter2/{name}") as h:
            h.write(recs)
            h.complete()
    run_dir = store.root
    audit = run_dir / "artifacts" / "audit" / "iter2"
    audit.mkdir(parents=True)
    (audit / "agreement.json").write_text(json.dumps({"judges": [
        {"judge": "eval-judge", "objective": "safety", "estimated_error_on_pool": 0.31},
        {"judge": "refusal-patterns", "objective": "refusal", "estimated_error_on_pool": 0.05}]}))
    s = collect(run_dir)
    rels = {r.objective: r for r in s.reliability[2]}
    assert rels["safety"].disagreement == pytest.approx(1 / 6, abs=1e-4) and set(rels["safety"].estimated_error) == {"eval-judge", "guard", "train-judge"}
    assert rels["safety"].audited_error == {"eval-judge": 0.31} and rels["safety"].flagged  # the audit says 0.31
    assert rels["refusal"].audited_error == {"refusal-patterns": 0.05} and not rels["refusal"].flagged
    md = markdown_summary(s)
    est = rels["safety"].estimated_error
    assert f"| 2 | safety | eval-judge | 0.167 | {est['eval-judge']:.3f} | 0.310 | CHECK |" in md
    assert f"| 2 | safety | guard | 0.167 | {est['guard']:.3f} | - |" in md
    assert "| 2 | refusal | refusal-patterns | - | - | 0.050 | ok |" in md
    assert "Judges may no longer be trustworthy at iteration(s) 2" in md and f"selfmoa judge audit {s.root}" in md
    assert "Judge reliability" in write_html(s).read_text()


def test_header_names_the_start_and_final_policy_and_thin_categories_are_not_drawn(run_dir):
    from selfmoa.report import plots

    s = collect(run_dir)
    text = write_html(s).read_text()
    head = re.search(r'<p class="muted">created.*?</p>', text).group(0)
    assert "start tiny @ abc12345" in head and "final (iteration 2) artifacts/iter2/train/policy @ def98765" in head
    assert "?" not in head.split("selfmoa")[0]
    svg = plots.per_category(s)
    assert "cyber (50)" in svg and "cbrne (" not in svg  # labels carry the prompt count; 2 prompts are too few
    assert "fewer than 5 prompts: cbrne" in svg

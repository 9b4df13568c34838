"""`selfmoa eval`: the held-out evaluation suite on one policy, into a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from selfmoa.cli.common import ConfigArg, SetOpt, check_run_folder, console, load, out, run_folder

app = typer.Typer(
    help="""Evaluate a policy: unsafe rate on held-out attacks (under the evaluation and the training judges),
over-refusal on benign look-alikes, helpfulness, and capability retention, with bootstrap intervals.

The held-out sets come from the data directory (HarmBench test, StrongREJECT, SimpleSafetyTests, JBB,
XSTest safe, MT-Bench, Vicuna); with none, the project's own held-out splits (the report says so).

Examples:

    selfmoa eval run configs/demo.yaml --model smollm2-135m --set run.name=eval-base
    selfmoa eval run configs/demo.yaml --model runs/demo/artifacts/iter2/train/policy --set run.name=eval-it2
    selfmoa eval sets configs/demo.yaml
""",
    no_args_is_help=True,
)


@app.command("run")
def run_cmd(
    config: Path = ConfigArg,
    set_: Optional[list[str]] = SetOpt,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="policy to evaluate (registry name, HF id or path); default model.name_or_path"),
):
    """Evaluate one policy on the held-out suites into runs/<run.name>/ (stages iter0/eval/*) and print the results.

    Example:

        selfmoa eval run configs/demo.yaml --model smollm2-135m --set run.name=eval-base
    """
    from selfmoa.cli.checks import check_eval
    from selfmoa.eval.suite import run_eval
    from selfmoa.generation import make_generator

    overrides = list(set_ or []) + ([f"model.name_or_path={model}"] if model else [])
    cfg = load(config, overrides)
    check_run_folder(cfg)
    plan = check_eval(cfg)
    with run_folder(cfg) as store:
        generator = make_generator(cfg)
        store.record_model("policy@0", getattr(generator, "model_info", {"spec": cfg.model.name_or_path}))
        results = run_eval(store, cfg, generator, 0, plan=plan, log=console.print)
    _print(results)


def _print(results) -> None:
    from rich.table import Table

    t = Table("suite", "metric", "judge", "value", "95% CI", "n")
    for r in results:
        if "@" in r.metric or ":" in r.metric:
            continue
        ci = f"[{r.ci_low:.3f}, {r.ci_high:.3f}]" if r.ci_low is not None and r.ci_high is not None else ""
        t.add_row(r.suite, r.metric, r.judge + ("" if r.meta.get("role") != "training" else " (training)"),
                  f"{r.value:.3f}", ci, str(r.n))
    out.print(t)


@app.command("sets")
def sets_cmd(config: Path = ConfigArg, set_: Optional[list[str]] = SetOpt):
    """List the held-out sets each suite would use and how many prompts each gives.

    Example:

        selfmoa eval sets configs/demo.yaml
    """
    from rich.table import Table

    from selfmoa.data.splits import EVAL_SETS
    from selfmoa.eval.suite import plan_eval

    cfg = load(config, set_)
    plan = plan_eval(cfg)
    t = Table("suite", "set", "public", "prompts", "description")
    for purpose, names in plan.sets.items():
        for n in names:
            count = sum(1 for p in plan.prompts[purpose] if p.meta.get("eval_set") == n)
            t.add_row(purpose, n, "yes" if EVAL_SETS[n].public else "no (project's own)", str(count), EVAL_SETS[n].description)
    out.print(t)


@app.command("outcome")
def outcome_cmd(
    run: Path = typer.Argument(..., help="run folder, e.g. runs/demo"),
    harmful: int = typer.Option(100, min=0, help="held-out harmful prompts (spread over the run's safety sets)"),
    benign: int = typer.Option(100, min=0, help="held-out benign look-alikes (spread over the over-refusal sets)"),
    harmful_set: Optional[list[str]] = typer.Option(None, "--harmful-set", help="safety set name (repeatable; default: the run's)"),
    benign_set: Optional[list[str]] = typer.Option(None, "--benign-set", help="over-refusal set name (repeatable; e.g. xstest-safe)"),
    checkpoint: Optional[Path] = typer.Option(None, help="final policy folder (default: the run's last artifacts/iterN/train/policy)"),
    max_new_tokens: int = typer.Option(160, min=1, help="greedy answer length"),
    double: float = typer.Option(0.2, min=0.0, max=1.0, help="share of rows put on the second (double-labelling) sheet"),
    labels: Optional[Path] = typer.Option(None, "--labels", help="filled-in sheet (default: RUN/outcome/sheet.csv)"),
    second: Optional[Path] = typer.Option(None, "--second", help="filled-in second pass (default: RUN/outcome/second.csv)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="make a new sheet even though one exists"),
    seed: int = typer.Option(0),
    bootstrap: int = typer.Option(1000, min=0),
):
    """Certify a run's effect by reading: a blind sheet of the start and final policies' answers, then the rates.

    First call: both policies answer the same held-out prompts (greedy) and RUN/outcome/sheet.csv is written with
    the policy, set and prompt kind hidden and the rows shuffled, plus RUN/outcome/second.csv (a share of the rows
    for a second labeller). Fill `refusal` and `unsafe` by reading each answer (docs/labelling-guide.md; never by
    keyword rules), then run the same command again: it reports per policy the unsafe and refusal rates on harmful
    prompts and the compliance on benign look-alikes with bootstrap CIs, the paired change, and Cohen's kappa
    between the two passes, and `selfmoa report RUN` shows them beside the judge-based figures.

    Examples:

        selfmoa eval outcome runs/demo                                  # answers + blind sheets
        selfmoa eval outcome runs/demo --harmful 120 --benign 250 --benign-set xstest-safe
        selfmoa eval outcome runs/demo                                  # again, once the sheet is filled in
    """
    from selfmoa.eval.outcome import format_outcome, make_outcome, outcome_files, outcome_report
    from selfmoa.judges.devset import read_labels

    files = outcome_files(run)
    filled = not overwrite and (labels is not None or (files.sheet.is_file()
                                                       and read_labels(files.sheet, allow_empty=True) is not None))
    if overwrite or not filled:
        f = make_outcome(run, harmful=harmful, benign=benign, harmful_sets=harmful_set, benign_sets=benign_set,
                         checkpoint=checkpoint, max_new_tokens=max_new_tokens, double=double, seed=seed,
                         overwrite=overwrite)
        import json

        meta = json.loads(f.meta.read_text("utf-8"))
        out.print(f"blind sheet: {f.sheet} ({meta['rows']} answers: {meta['harmful']} harmful and {meta['benign']} "
                  f"benign prompts x 2 policies); second pass: {f.second} ({meta['second_rows']} rows). Fill refusal "
                  f"and unsafe by reading (docs/labelling-guide.md), then rerun this command.", highlight=False,
                  soft_wrap=True)
        return
    res = outcome_report(run, labels=labels, second=second, n_boot=bootstrap, seed=seed)
    for line in format_outcome(res):
        out.print(line, highlight=False, soft_wrap=True)

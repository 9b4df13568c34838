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

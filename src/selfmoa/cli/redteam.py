"""`selfmoa redteam`: run a red-team round standalone against any target, list the mutators."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from selfmoa.cli.common import ConfigArg, SetOpt, check_run_folder, console, load, out, run_folder

app = typer.Typer(
    help="""Red-team a target: mutate and rewrite seed prompts, keep the attacks this model fails on, and make benign look-alikes.

Examples:

    selfmoa redteam run configs/demo.yaml
    selfmoa redteam run configs/demo.yaml --set run.name=rt1 --set redteam.candidates_per_round=64
    selfmoa redteam run configs/demo.yaml --set generation.backend=openai \\
        --set generation.openai.base_url=http://127.0.0.1:8000/v1 --set generation.openai.model=my-model
    selfmoa redteam mutators
""",
    no_args_is_help=True,
)


@app.command("run")
def run_cmd(
    config: Path = ConfigArg,
    set_: Optional[list[str]] = SetOpt,
    iteration: int = typer.Option(0, "--iteration", "-i", min=0, help="round number (rounds share the archive; novelty is measured against earlier rounds)"),
    verbose: bool = typer.Option(False, "--verbose", help="library log lines on the console too (by default they go to RUN/run.log)"),
):
    """Run one red-team round against the target of CONFIG (model + generation backend, e.g. an OpenAI-compatible
    endpoint) into runs/<run.name>/: records under stages/redteam/r<N>/, archive and report under artifacts/redteam/.
    Rerunning the same command resumes."""
    from selfmoa.cli.checks import check_generation, check_redteam
    from selfmoa.redteam.round import report_markdown, run_from_config

    cfg = load(config, set_)
    check_run_folder(cfg)
    check_redteam(cfg)  # validate before touching the run folder
    check_generation(cfg)
    from selfmoa.quiet import library_output_to

    with run_folder(cfg) as store, library_output_to(store.root / "run.log", verbose=verbose):
        res = run_from_config(cfg, store, iteration=iteration, log=lambda m: console.print(f"[dim]redteam[/] {m}"))
    out.print(report_markdown(res.metrics, iteration), markup=False, highlight=False)
    out.print(f"report: {store.root / 'artifacts' / 'redteam' / f'r{iteration}' / 'report.md'}")


@app.command("mutators")
def mutators_cmd():
    """List the registered mutation operators and the attack style each one fills."""
    from rich.table import Table

    from selfmoa.redteam.mutators import mutator_class, mutator_names

    table = Table(title="selfmoa red-team mutators")
    for col in ("name", "style", "description"):
        table.add_column(col)
    for name in mutator_names():
        cls = mutator_class(name)
        table.add_row(name, cls.style, cls.description)
    out.print(table)

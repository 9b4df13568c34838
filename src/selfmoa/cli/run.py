"""`selfmoa run CONFIG` (the Self-MOA loop) and `selfmoa generate CONFIG` (answer prompt sets, nothing else)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from selfmoa.cli.common import ConfigArg, SetOpt, check_run_folder, console, load, out, run_folder


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(config: Path = ConfigArg, set_: Optional[list[str]] = SetOpt,
            report: bool = typer.Option(True, help="write the HTML report and print the summary at the end"),
            verbose: bool = typer.Option(False, "--verbose", "-v", help="also show the libraries' own log lines, "
                                         "warnings and progress bars (by default they go to RUN/run.log)")):
        """Run the Self-MOA loop described by CONFIG into runs/<run.name>/ (rerun the same command to resume).

        Iteration 0 evaluates the starting model; each iteration then red-teams the current policy, samples
        answers, judges them, builds preference pairs, trains the next policy and evaluates it on held-out sets.

        Examples:

            selfmoa run configs/demo.yaml
            selfmoa run configs/demo.yaml --set run.iterations=1 --set run.name=quick
            selfmoa run configs/demo.yaml --verbose      # library log lines and bars too (else in RUN/run.log)
            selfmoa run configs/example-gpu.yaml --set train.beta=0.2
        """
        import time

        from selfmoa.cli.checks import check_loop
        from selfmoa.loop.runner import run_loop

        cfg = load(config, set_)
        check_run_folder(cfg)
        check_loop(cfg)
        from selfmoa.quiet import library_output_to

        with run_folder(cfg) as store, library_output_to(store.root / "run.log", verbose=verbose):
            t0 = time.monotonic()
            run_loop(cfg, store, log=lambda m: console.print(f"[dim]{time.monotonic() - t0:7.1f}s[/dim] {m}"))
        if report:
            from rich.markdown import Markdown

            from selfmoa.report import collect, markdown_summary, write_html

            summary = collect(store.root)
            path = write_html(summary)
            out.print(Markdown(markdown_summary(summary)))
            out.print(f"report: {path}")
        out.print(f"done in {time.monotonic() - t0:.0f} s: {store.root}")

    @app.command("generate")
    def generate(config: Path = ConfigArg, set_: Optional[list[str]] = SetOpt):
        """Answer the prompt sets in `run.prompts` with the policy into runs/<run.name>/stages/responses.jsonl.

        No judging or training: a quick way to look at a model's answers, resumable like every stage.

        Examples:

            selfmoa generate configs/demo.yaml --set run.name=answers
            selfmoa generate configs/demo.yaml --set run.prompts='["my_prompts.txt"]' --set generation.sampling.n=4
        """
        from selfmoa.cli.checks import check_generation
        from selfmoa.data.prompts import load_prompt_sets
        from selfmoa.generation import make_generator
        from selfmoa.stages.generate import generate_stage

        cfg = load(config, set_)
        check_run_folder(cfg)
        # validate every input before the run folder is touched
        prompts = load_prompt_sets(cfg.run.prompts, cfg.data, limit=cfg.run.max_prompts)
        check_generation(cfg)
        with run_folder(cfg) as store:
            with store.stage("prompts") as h:
                h.write(prompts)
                h.complete(sets=cfg.run.prompts)
            generator = make_generator(cfg)
            store.record_model("policy", getattr(generator, "model_info", {"spec": cfg.model.name_or_path}))
            responses = generate_stage(store, "responses", prompts, generator, cfg.generation.sampling)
        out.print(f"{len(prompts)} prompts, {len(responses)} responses -> {store.stage_path('responses')}")

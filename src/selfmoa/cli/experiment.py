"""`selfmoa experiment`: experiments over the loop's parts (the data-efficiency grid, the reward sweep)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from selfmoa.cli.common import ConfigArg, SetOpt, check_run_folder, console, load, out, run_folder

app = typer.Typer(help="""Experiments built from the loop's stages.

Examples:

    # the loop's own pairs against HH-RLHF harmless pairs, 16..512 pairs, one plot
    selfmoa experiment data-efficiency configs/demo.yaml --run runs/demo --set run.name=data-efficiency

    # online RL with the safety term's logit at 0.25, 1 and 4: a safety-helpfulness Pareto plot
    selfmoa experiment reward-sweep configs/demo.yaml --scales 0.25,1,4 --prompts prompts.jsonl --set run.name=sweep
""", no_args_is_help=True)


@app.command("data-efficiency")
def data_efficiency(
    config: Path = ConfigArg,
    run: Optional[Path] = typer.Option(None, "--run", help="loop run folder whose pairs are the 'self' source "
                                       "(experiment.data_efficiency.run)"),
    pairs: Optional[list[Path]] = typer.Option(None, "--pairs", help="a TRL-format JSONL of prompt, chosen, rejected "
                                               "as one more source (repeatable; pairs:FILE in the sources)"),
    sizes: Optional[str] = typer.Option(None, "--sizes", help="the ladder of pair counts, e.g. 16,32,64,128 "
                                        "(default: 16..512 capped by what each source holds)"),
    seeds: Optional[int] = typer.Option(None, "--seeds", min=1, help="subsamples per source at the small sizes"),
    set_: Optional[list[str]] = SetOpt,
):
    """Train the same model with the same trainer on N self-generated pairs and on N human preference pairs, for a
    ladder of N, evaluate every policy on the same held-out sets, and compare: a table, a plot (unsafe rate,
    over-refusal, helpfulness against N) and the pairs each source needs for the same unsafe-rate reduction.

    Every cell (source, N, seed) is a resumable stage of runs/<run.name>/ (rerun the same command to resume);
    the results go to runs/<run.name>/artifacts/data-efficiency/ and the run's report.html. docs/data-efficiency.md
    explains how to read them.

    Examples:

        selfmoa experiment data-efficiency configs/demo.yaml --run runs/demo --set run.name=de
        selfmoa experiment data-efficiency configs/demo.yaml --run runs/demo --pairs my_pairs.jsonl --sizes 32,128
    """
    import time

    from selfmoa.experiment.data_efficiency import load_source, plan_grid, run_data_efficiency
    from selfmoa.quiet import library_output_to

    extra = list(set_ or [])
    if run is not None:
        extra.append(f"experiment.data_efficiency.run={run}")
    if sizes is not None:
        extra.append(f"experiment.data_efficiency.sizes=[{sizes}]")
    if seeds is not None:
        extra.append(f"experiment.data_efficiency.seeds={seeds}")
    cfg = load(config, extra)
    if pairs:
        de = cfg.experiment.data_efficiency
        srcs = de.sources + [f"pairs:{p}" for p in pairs if f"pairs:{p}" not in de.sources]
        cfg = load(config, extra + [f"experiment.data_efficiency.sources={srcs!r}".replace("'", '"')])
    check_run_folder(cfg)
    # every input checked before the run folder is made: sources readable, sizes possible
    counts = {s: len(load_source(s, cfg)) for s in cfg.experiment.data_efficiency.sources}
    cells = plan_grid(cfg, counts)
    with run_folder(cfg) as store, library_output_to(store.root / "run.log"):
        t0 = time.monotonic()
        run_data_efficiency(cfg, store, log=lambda m: console.print(f"[dim]{time.monotonic() - t0:7.1f}s[/dim] {m}"))
    from rich.markdown import Markdown

    from selfmoa.report import collect, write_html

    table = (store.root / "artifacts" / "data-efficiency" / "table.md").read_text("utf-8")
    out.print(Markdown(table))
    out.print(f"report: {write_html(collect(store.root))}")
    out.print(f"done in {time.monotonic() - t0:.0f} s ({len(cells)} cells): {store.root}")


@app.command("reward-sweep")
def reward_sweep(
    config: Path = ConfigArg,
    scales: Optional[str] = typer.Option(None, "--scales", help="logit scales of the reward's safety term, e.g. "
                                         "0.25,1,4 (experiment.reward_sweep.scales)"),
    prompts: Optional[Path] = typer.Option(None, "--prompts", help="JSONL of {prompt[, kind]} rows to train on "
                                           "(experiment.reward_sweep.prompts)"),
    run: Optional[Path] = typer.Option(None, "--run", help="a loop run folder: train on the prompts of an iteration "
                                       "(experiment.reward_sweep.run)"),
    iteration: Optional[int] = typer.Option(None, "--iteration", min=1, help="with --run: whose prompts (iter N)"),
    match_loop_time: bool = typer.Option(False, "--match-loop-time", help="with --run: each RL cell gets the loop "
                                         "iteration's wall time as its budget (experiment.reward_sweep.match_loop_time)"),
    set_: Optional[list[str]] = SetOpt,
):
    """From the config's starting model, one online-RL training (train.rl: same prompts, steps and seed) per logit
    scale of the reward's safety term (sigmoid(scale * log-odds of safe), train.rl.reward[i].scale), every trained
    policy evaluated on the same held-out sets with the same judges: unsafe rate, over-refusal and helpfulness with
    bootstrap intervals, and a Pareto plot (unsafe rate against helpfulness, one point per scale and the start).

    Prompts: --prompts FILE, --run DIR [--iteration N] (a loop iteration's prompts), or neither: the config's
    run.prompts sets. With --run the loop's own policy after that iteration is evaluated too (cell "loop",
    experiment.reward_sweep.compare_loop) and its wall time is shown beside each RL cell's; --match-loop-time gives
    every RL cell that time as its budget (train.rl.max_minutes), to compare RL and the loop at equal time. Every cell is a resumable stage of runs/<run.name>/ (rerun the same command to resume); the
    results go to runs/<run.name>/artifacts/reward-sweep/ and the run's report.html. docs/training.md explains how
    to read them.

    Examples:

        selfmoa experiment reward-sweep configs/demo.yaml --scales 0.25,1,4 --prompts prompts.jsonl --set run.name=sweep
        selfmoa experiment reward-sweep configs/demo.yaml --run runs/demo --iteration 1 --set train.rl.steps=50
        selfmoa experiment reward-sweep configs/demo.yaml --scales 1,4 --run runs/demo --match-loop-time --set train.rl.steps=200
    """
    import time

    from selfmoa.errors import SelfmoaError
    from selfmoa.experiment.reward_sweep import check_sweep, parse_scales, run_reward_sweep, sweep_config
    from selfmoa.quiet import library_output_to

    extra = list(set_ or [])
    if scales is not None:
        extra.append(f"experiment.reward_sweep.scales=[{','.join(f'{x!r}' for x in parse_scales(scales))}]")
    if prompts is not None and run is not None:
        raise SelfmoaError("experiment.reward_sweep: give at most one of --prompts FILE and --run DIR")
    if prompts is not None:
        extra.append(f"experiment.reward_sweep.prompts={prompts}")
    if run is not None:
        extra.append(f"experiment.reward_sweep.run={run}")
    if iteration is not None:
        if run is None:
            raise SelfmoaError("experiment.reward_sweep.iteration: --iteration needs --run DIR (the loop run whose prompts to use)")
        extra.append(f"experiment.reward_sweep.iteration={iteration}")
    if match_loop_time:
        extra.append("experiment.reward_sweep.match_loop_time=true")
    cfg = sweep_config(load(config, extra))
    check_run_folder(cfg)
    items = check_sweep(cfg)  # every input checked before the run folder is made
    with run_folder(cfg) as store, library_output_to(store.root / "run.log"):
        t0 = time.monotonic()
        done = run_reward_sweep(cfg, store, items,
                                log=lambda m: console.print(f"[dim]{time.monotonic() - t0:7.1f}s[/dim] {m}"))
    from rich.markdown import Markdown

    from selfmoa.report import collect, write_html

    table = (store.root / "artifacts" / "reward-sweep" / "table.md").read_text("utf-8")
    out.print(Markdown(table))
    out.print(f"report: {write_html(collect(store.root))}")
    out.print(f"done in {time.monotonic() - t0:.0f} s ({len(done)} scales): {store.root}")

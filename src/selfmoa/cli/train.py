"""`selfmoa train`: preference training (multi-objective DPO), the safety reset, and the baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from selfmoa.cli.common import SetOpt, console, load, out

app = typer.Typer(
    help="""Train the policy on preference pairs (multi-objective DPO on TRL, LoRA by default), run the optional
safety reset, and train the baselines with the same command.

The policy is `model` in the config; the result is a merged model folder (OUT/policy) that any selfmoa command
loads with --set model.name_or_path=OUT/policy. Running the same command again resumes from the last checkpoint.

Examples:

    # Self-MOA loss on a JSONL of {prompt, chosen, rejected, margin} rows
    selfmoa train run configs/demo.yaml --pairs pairs.jsonl --out runs/train-modpo

    # the pairs a loop run built in iteration 1
    selfmoa train run configs/demo.yaml --run runs/demo --iteration 1 --out runs/train-it1

    # baselines, same command:
    selfmoa train run configs/demo.yaml --run runs/demo --out runs/b-dpo --set train.method=dpo   # plain DPO
    selfmoa train run configs/demo.yaml --hh-rlhf --out runs/b-hh --set train.hh_rlhf_max_pairs=256  # human pairs
    selfmoa train run configs/demo.yaml --run runs/demo --out runs/b-sft --set train.method=sft   # SFT on refusals

    # online RL (GRPO, LoRA) with a judge reward (train.rl: default CSRM safety x relevance helpfulness)
    selfmoa train rl configs/demo.yaml --run runs/demo --iteration 1 --out runs/rl-it1

    # safety reset (LoRA SFT harmful request -> compliant answer) from your own file of {prompt, response} rows
    selfmoa train reset configs/demo.yaml --examples my_reset.jsonl --out runs/reset
""",
    no_args_is_help=True,
)

ConfigOpt = typer.Argument(None, help="YAML config (default: built-in defaults)", show_default=False)
OutOpt = typer.Option(..., "--out", "-o", help="output folder (checkpoints, metrics.jsonl, policy/, result.json)")


def _rows_from_run(run_dir: Path, iteration: int) -> list[dict]:
    from selfmoa.errors import SelfmoaError
    from selfmoa.records import Pair, Prompt, Response
    from selfmoa.store.run import RunStore
    from selfmoa.train.data import pairs_to_rows

    store = RunStore.open(run_dir)
    from selfmoa.stages import catalogue

    names = {k: catalogue.loop(iteration, part) for k, part in
             (("prompts", "prompts"), ("responses", "samples"), ("pairs", "pairs"))}
    for stage in names.values():
        if not store.is_complete(stage):
            raise SelfmoaError(f"--run {run_dir}: stage '{stage}' is not complete; run the loop up to the pairs first")
    return pairs_to_rows(
        store.read(names["pairs"], Pair), store.read(names["responses"], Response), store.read(names["prompts"], Prompt)
    )


def _summary(res, label: str) -> None:
    before, after = res.eval_before, res.eval_after
    out.print(f"[bold]{label}[/bold]: {res.n_train} train / {res.n_eval} held-out, {res.seconds:.0f} s"
              + (f" (resumed from {res.resumed_from})" if res.resumed_from else ""))
    for key in ("loss", "rewards/accuracies", "rewards/margins", "kl_ref_policy"):
        if key in after:
            start = f"{before[key]:.4f} -> " if key in before else ""
            out.print(f"  held-out {key}: {start}{after[key]:.4f}")
    out.print(f"  metrics: {res.metrics_path}")
    out.print(f"  policy:  {res.policy_dir or res.adapter_dir}")


@app.command("run")
def run_cmd(
    config: Optional[Path] = ConfigOpt,
    pairs: Optional[Path] = typer.Option(None, "--pairs", help="JSONL of {prompt, chosen, rejected[, margin]} rows"),
    run: Optional[Path] = typer.Option(None, "--run", help="a loop run folder: train on the pairs it built"),
    iteration: int = typer.Option(1, "--iteration", min=1, help="with --run: whose pairs (iter N)"),
    hh_rlhf: bool = typer.Option(False, "--hh-rlhf", help="human-supervised baseline: HH-RLHF harmless pairs from the "
                                 "data directory (train.hh_rlhf_max_pairs caps the count)"),
    output: Path = OutOpt,
    overrides: Optional[list[str]] = SetOpt,
):
    """Train on preference pairs with `train.method`: modpo (default; the safety margin in the loss), dpo (plain DPO,
    margin ignored) or sft (SFT on the pairs' chosen answers that are refusals).

    Multi-process (DDP, FSDP, DeepSpeed): `accelerate launch --config_file configs/accelerate/ddp.yaml -m selfmoa
    train run ...` (see docs/scaling.md); train.batch_size stays the pairs per optimizer step of the whole job."""
    from selfmoa.errors import SelfmoaError
    from selfmoa.models.loader import resolve_model
    from selfmoa.train.data import hh_rlhf_rows, read_pairs_file
    from selfmoa.train.distributed import check_launch, launch_model_config, train_on_rows_distributed, world_size
    from selfmoa.train.qlora import check_qlora
    from selfmoa.train.runner import load_for_training

    cfg = load(config, overrides)
    given = [x for x in (pairs, run, hh_rlhf or None) if x is not None]
    if len(given) != 1:
        raise SelfmoaError("train run: give exactly one of --pairs FILE, --run DIR or --hh-rlhf")
    t = cfg.train
    if t.method == "rl":
        from selfmoa.train.runner import loss_name_for

        loss_name_for(t)  # the one-line pointer to `selfmoa train rl`
    world = world_size()
    check_launch()
    check_qlora(t)
    if world > 1 and t.method == "sft":
        raise SelfmoaError("train.method=sft: multi-process launches are supported for modpo and dpo; run SFT in one process")
    policy = launch_model_config(cfg.model)
    base = resolve_model(policy).location
    if pairs is not None:
        rows = read_pairs_file(pairs)
    elif run is not None:
        rows = _rows_from_run(run, iteration)
    else:
        rows = hh_rlhf_rows(cfg.data.dir, t.hh_rlhf_max_pairs, t.seed)
        out.print(f"hh-rlhf-harmless-test: {len(rows)} human-labelled pairs")
    if t.method == "sft":
        from selfmoa.train.examples import refusal_examples
        from selfmoa.train.sft import train_sft

        examples = refusal_examples(rows)
        out.print(f"SFT on refusals: {len(examples)} examples from {len(rows)} pairs")
        model, tok, device = load_for_training(policy)
        res = train_sft(model, tok, examples, t, output, device=device, name="sft-refusals")
    elif t.qlora:
        from selfmoa.train.qlora import train_qlora

        res = train_qlora(policy, t, lambda lm, tok, c, device: train_on_rows_distributed(
            lm, tok, rows, c, output, device=device, base_location=base))
    else:
        model, tok, device = load_for_training(policy)
        res = train_on_rows_distributed(model, tok, rows, t, output, device=device, base_location=base)
    if res is None:  # a non-zero rank of a multi-process launch: rank 0 reports
        return
    _summary(res, f"train ({t.method}{f', {world} processes' if world > 1 else ''})")


@app.command("reset")
def reset_cmd(
    config: Optional[Path] = ConfigOpt,
    examples: Path = typer.Option(..., "--examples", help="JSONL of {prompt, response} rows (harmful request -> "
                                  "compliant answer); the loop uses the run's own answers instead"),
    output: Path = OutOpt,
    overrides: Optional[list[str]] = SetOpt,
):
    """Safety reset: LoRA SFT of the policy on your harmful-request -> compliant-answer examples (train.reset.*)."""
    from selfmoa.train.reset import safety_reset

    cfg = load(config, overrides)
    t = cfg.train.model_copy(update={"reset": cfg.train.reset.model_copy(update={"source": str(examples)})})
    res = safety_reset(cfg.model, t, output)
    _summary(res, "safety reset")
    console.print("use it: --set model.name_or_path=" + str(res.policy_dir))


@app.command("rl")
def rl_cmd(
    config: Optional[Path] = ConfigOpt,
    prompts: Optional[Path] = typer.Option(None, "--prompts", help="JSONL of {prompt[, kind]} rows (prompt: text or "
                                           "chat messages; kind: harmful (default), benign, borderline, helpful)"),
    run: Optional[Path] = typer.Option(None, "--run", help="a loop run folder: train on the prompts of an iteration"),
    iteration: int = typer.Option(1, "--iteration", min=1, help="with --run: whose prompts (iter N)"),
    output: Path = OutOpt,
    overrides: Optional[list[str]] = SetOpt,
):
    """Online RL: TRL's GRPOTrainer (LoRA by default) samples train.rl.num_generations answers per prompt and
    learns from a reward built from named judges (train.rl.reward; train.rl.combine product = R x H, or sum).

    Prompts: --prompts FILE, --run DIR [--iteration N] (the prompts of a loop iteration), or neither: the config's
    run.prompts sets. Writes OUT/metrics.jsonl (reward mean per step), OUT/policy (merged) and OUT/result.json.

    Example: selfmoa train rl configs/demo.yaml --prompts prompts.jsonl --out runs/rl --set train.rl.steps=50"""
    from selfmoa.errors import SelfmoaError
    from selfmoa.train.rl import check_rl_reward, read_prompts_file, reward_curve, train_rl

    cfg = load(config, overrides)
    if prompts is not None and run is not None:
        raise SelfmoaError("train rl: give at most one of --prompts FILE and --run DIR")
    from selfmoa.train.distributed import world_size

    if world_size() > 1:
        raise SelfmoaError("train rl: multi-process launches are not supported for online RL; run it in one process")
    check_rl_reward(cfg.train.rl)  # a misspelt judge before any prompt or model is read
    if prompts is not None:
        items = read_prompts_file(prompts)
    elif run is not None:
        items = _prompts_from_run(run, iteration)
    else:
        from selfmoa.data.prompts import load_prompt_sets

        items = load_prompt_sets(cfg.run.prompts, cfg.data, limit=cfg.run.max_prompts)
    rl = cfg.train.rl
    terms = f" {rl.combine} ".join(f"{t.judge}/{t.objective}" + (f" (logit x{t.scale:g})" if t.scale != 1 else "")
                                   for t in rl.reward)
    out.print(f"online RL (GRPO): {min(len(items), rl.max_prompts or len(items))} prompts, reward {terms}, "
              f"{rl.steps} steps x {rl.prompts_per_step} prompts x {rl.num_generations} answers")
    res = train_rl(items, cfg.model, cfg, output)
    curve = reward_curve(Path(res.metrics_path))
    out.print(f"[bold]train rl[/bold]: {res.n_train} prompts, {res.seconds:.0f} s"
              + (f" (resumed from {res.resumed_from})" if res.resumed_from else ""))
    if curve:
        k = max(1, len(curve) // 4)
        out.print(f"  mean reward: first {k} steps {sum(curve[:k]) / k:.4f} -> last {k} steps {sum(curve[-k:]) / k:.4f}")
    out.print(f"  metrics: {res.metrics_path}")
    out.print(f"  policy:  {res.policy_dir or res.adapter_dir}")


def _prompts_from_run(run_dir: Path, iteration: int):
    from selfmoa.errors import SelfmoaError
    from selfmoa.records import Prompt
    from selfmoa.stages import catalogue
    from selfmoa.store.run import RunStore

    store = RunStore.open(run_dir)
    stage = catalogue.loop(iteration, "prompts")
    if not store.is_complete(stage):
        raise SelfmoaError(f"--run {run_dir}: stage '{stage}' is not complete; run the loop up to its prompts first")
    return store.read(stage, Prompt)

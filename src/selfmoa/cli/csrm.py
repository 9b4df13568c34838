"""`selfmoa csrm`: train, evaluate and score with the configurable safety reward model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from selfmoa.cli.common import OverwriteOpt, SetOpt, console, load, out

app = typer.Typer(
    help="""The configurable safety reward model (CSRM): judges a response against a safety configuration you write
(which categories are disallowed, with what guidelines and strictness), so one model serves many policies.

Examples:

    selfmoa csrm configs                                   # the shipped safety configurations
    selfmoa csrm train --out runs/csrm                     # LoRA on the embedded model, builtin + cst data
    selfmoa csrm train --out runs/csrm --set csrm.train.limit=120 --set csrm.train.epochs=2
    selfmoa csrm eval --checkpoint runs/csrm --on builtin --on cst --json runs/csrm/eval.json
    selfmoa csrm eval --on builtin                         # the base model zero-shot, same template
    selfmoa csrm eval --checkpoint runs/csrm --on beavertails:bt.jsonl --safety-config builtin:default
    selfmoa csrm score answers.jsonl --safety-config my-policy.yaml --checkpoint runs/csrm --out scores.jsonl
""",
    no_args_is_help=True,
)

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML run config (its `csrm` section; default: built-in defaults)")
CheckpointOpt = typer.Option(None, "--checkpoint", help="trained CSRM folder (from `csrm train`); default csrm.checkpoint, "
                             "or the base model zero-shot when unset")
SafetyOpt = typer.Option(None, "--safety-config", help="safety configuration YAML/JSON or builtin:NAME (default csrm.safety_config, "
                         "else builtin:default)")
DataDirOpt = typer.Option(None, "--data-dir", help="data directory (default: data.dir / $SELFMOA_DATA_DIR)")


def _csrm(config: Optional[Path], overrides: Optional[list[str]], checkpoint: Optional[Path] = None):
    cfg = load(config, overrides)
    c = cfg.csrm
    if checkpoint is not None:
        c = c.model_copy(update={"checkpoint": checkpoint})
    return cfg, c


def _data_dir(cfg, data_dir: Optional[Path]) -> Optional[Path]:
    return data_dir or getattr(cfg.data, "dir", None)


@app.command("configs")
def configs_cmd(name: Optional[str] = typer.Argument(None, help="print this shipped configuration (YAML)")):
    """List the shipped safety configurations, or print one (use as --safety-config builtin:NAME)."""
    from selfmoa.csrm.schema import builtin_config_names, load_safety_config

    if name:
        from importlib import resources

        load_safety_config(f"builtin:{name}")  # validates the name with a clear error
        out.print((resources.files("selfmoa") / "resources" / "csrm" / f"{name}.yaml").read_text("utf-8"), highlight=False)
        return
    table = Table(title="shipped safety configurations (builtin:NAME)")
    for col in ("name", "disallowed", "allowed"):
        table.add_column(col)
    for n in builtin_config_names():
        c = load_safety_config(f"builtin:{n}")
        table.add_row(n, ", ".join(x.id for x in c.disallowed()), ", ".join(x.id for x in c.allowed()))
    out.print(table)


@app.command("train")
def train_cmd(
    output: Path = typer.Option(None, "--out", "-o", help="output folder (default csrm.train.output_dir)"),
    config: Optional[Path] = ConfigOpt,
    data_dir: Optional[Path] = DataDirOpt,
    overrides: Optional[list[str]] = SetOpt,
    overwrite: bool = OverwriteOpt,
):
    """Fine-tune a CSRM (LoRA by default) on configuration-augmented items from csrm.train.sets with
    loss = NLL of the verdict + csrm.gamma x Bradley-Terry(strict, lenient); writes the adapter or weights
    (safetensors), csrm.json and train_log.jsonl. First the Clopper-Pearson strictness check runs on the
    strict/lenient pairs (csrm.train.strictness_check; report in strictness.json, failing levels dropped
    with drop_failing=true)."""
    from selfmoa.csrm.data import build_train
    from selfmoa.csrm.trainer import train_csrm

    from selfmoa.csrm.trainer import META_FILE
    from selfmoa.store.outputs import check_dir_creatable, check_output

    cfg, c = _csrm(config, overrides)
    t = c.train
    out_dir = Path(output or t.output_dir)
    if (out_dir / META_FILE).exists():  # a trained CSRM is there: training again replaces it
        check_output(out_dir, option="--out", overwrite=overwrite, folder=True)
    check_dir_creatable(out_dir, "--out")
    data = build_train(seed=t.seed, n_random=t.n_random, pairs_per_item=t.pairs_per_item, static_configs=t.static_configs, holdout_categories=t.holdout_categories, limit=t.limit,
                       sets=t.sets, data_dir=_data_dir(cfg, data_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    sc = t.strictness_check
    if sc.enabled:
        from selfmoa.csrm.data import strictness_check
        from selfmoa.store.atomic import atomic_write_json

        data, report = strictness_check(data, sc)
        atomic_write_json(out_dir / "strictness.json", report)
        failing = [f"{c['category']}@{c['level']} ({c['agree']}/{c['n']}, lower {c['lower']:.3f})"
                   for c in report["levels"] if not c["kept"]]
        line = (f"strictness check ({sc.reference}, alpha {sc.alpha}, threshold {sc.threshold}): "
                f"{report['passed']}/{len(report['levels'])} category levels pass")
        if failing:
            line += "; failing: " + ", ".join(failing)
        if sc.drop_failing:
            line += (f"; dropped {report['examples_before'] - report['examples_after']} items "
                     f"({report['pairs_before'] - report['pairs_after']} pairs)")
        out.print(line + f" -> {out_dir / 'strictness.json'}", highlight=False, soft_wrap=True)
    n_unsafe = sum(ex.label for ex in data.examples)
    out.print(f"csrm train: {len(data.examples)} items ({n_unsafe} unsafe) from {', '.join(t.sets)}, "
              f"{len(data.pairs)} strict/lenient pairs; {t.finetune}, lr {t.learning_rate}, {t.epochs} epoch(s)")
    log_path = out_dir / "train_log.jsonl"
    with log_path.open("w", encoding="utf-8") as fh:
        def log(rec: dict) -> None:
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            if rec["step"] == 1 or rec["step"] % 10 == 0 or rec["step"] == rec["of"]:
                console.print(f"step {rec['step']}/{rec['of']} loss {rec['loss']:.4f} (nll {rec['nll']:.4f}, "
                              f"bt {rec['bt']:.4f}) {rec['seconds']:.0f}s")

        res = train_csrm(c, data.examples, data.pairs, output_dir=out_dir, log=log)
    first, last = res.history[0]["loss"], res.history[-1]["loss"]
    out.print(f"trained {res.steps} steps in {res.seconds:.0f} s; loss {first:.4f} -> {last:.4f}")
    out.print(f"  CSRM: {res.output_dir} (use --checkpoint {res.output_dir})")


@app.command("eval")
def eval_cmd(
    on: Optional[list[str]] = typer.Option(None, "--on", help="test set (repeatable): builtin (held-out configurable split), "
                                           "cst (held-out configurable-safety-tuning), or FORMAT:PATH with FORMAT one of "
                                           "beavertails, wildguardmix, xstest, orbench, cosapien, dynabench; default csrm.eval.sets"),
    checkpoint: Optional[Path] = CheckpointOpt,
    safety_config: Optional[str] = SafetyOpt,
    config: Optional[Path] = ConfigOpt,
    data_dir: Optional[Path] = DataDirOpt,
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the metrics as JSON"),
    scores_out: Optional[Path] = typer.Option(None, "--scores", help="also write every item's score as JSONL "
                                              "(set, id, category, configuration, label, log_odds, p_unsafe)"),
    overrides: Optional[list[str]] = SetOpt,
    overwrite: bool = OverwriteOpt,
):
    """F1, precision, recall, AUPRC and smooth ECE (unsafe = positive) and configuration sensitivity (share of
    items whose score moves toward safe when their category switches from disallowed to allowed)."""
    import time

    from rich.progress import Progress, TimeElapsedColumn

    from selfmoa.csrm.evaluate import load_eval_set, require_labels, score_rows, set_metrics
    from selfmoa.csrm.trainer import load_scorer
    from selfmoa.store.atomic import atomic_write_jsonl, atomic_write_text
    from selfmoa.store.outputs import check_output

    inputs = [Path(s.split(":", 1)[1]) for s in on or [] if ":" in s]
    for opt, path in (("--json", json_out), ("--scores", scores_out)):
        if path is not None:
            check_output(path, option=opt, inputs=inputs, overwrite=overwrite)
    cfg, c = _csrm(config, overrides, checkpoint)
    e = c.eval
    sets = on or e.sets
    local_cfg = safety_config or (str(c.safety_config) if c.safety_config else None)
    loaded = [load_eval_set(s, data_dir=_data_dir(cfg, data_dir), limit=e.limit, seed=e.seed, config=local_cfg) for s in sets]
    for es in loaded:
        require_labels(es)
    scorer = load_scorer(c)
    who = str(c.checkpoint) if c.checkpoint else f"{c.model.name_or_path} (zero-shot)"
    results = {}
    table = Table(title=f"CSRM {who}, threshold {e.threshold}")
    cols = ("set", "n", "unsafe", "F1", "precision", "recall", "AUPRC", "smooth ECE", "sensitivity", "F1 (oracle thr.)", "s")
    for col in cols:
        table.add_column(col)
    rows: list[dict] = []
    for es in loaded:
        t0 = time.time()
        with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=console, transient=True) as prog:
            task = prog.add_task(f"scoring {es.name}", total=len(es.examples))
            scores = scorer.score(es.examples, on_batch=lambda n: prog.advance(task, n))
        m = set_metrics(scores, es, threshold=e.threshold)
        rows += score_rows(scores, es)
        m["seconds"] = round(time.time() - t0, 1)
        results[es.name] = m
        sens = f"{m['sensitivity']:.3f} ({int(m['sensitivity_n'])})" if m.get("sensitivity_n") else "-"
        table.add_row(es.name, str(int(m["n"])), str(int(m["positives"])), f"{m['f1']:.3f}", f"{m['precision']:.3f}",
                      f"{m['recall']:.3f}", f"{m['auprc']:.3f}", f"{m['smooth_ece']:.3f}", sens,
                      f"{m.get('f1_oracle', float('nan')):.3f}", f"{m['seconds']:.0f}")
    out.print(table)
    for name, m in results.items():  # one plain line per set: greppable
        out.print(f"{name}: " + " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items()),
                  highlight=False, soft_wrap=True)
    if json_out:
        payload = {"checkpoint": str(c.checkpoint) if c.checkpoint else None, "model": c.model.name_or_path,
                   "threshold": e.threshold, "sets": results}
        atomic_write_text(json_out, json.dumps(payload, indent=2))
        console.print(f"wrote {json_out}")
    if scores_out:
        atomic_write_jsonl(scores_out, rows)
        console.print(f"wrote {scores_out} ({len(rows)} scores)")


@app.command("score")
def score_cmd(
    input: Path = typer.Argument(..., help="CSV or JSONL with prompt and response columns (or a `messages` list)"),
    output: Path = typer.Option(..., "--out", "-o", help="JSONL to write: id, log_odds, p_unsafe, label, config"),
    safety_config: Optional[str] = SafetyOpt,
    checkpoint: Optional[Path] = CheckpointOpt,
    prompt_col: str = typer.Option("prompt", help="column holding the prompt"),
    response_col: str = typer.Option("response", help="column holding the response"),
    id_col: str = typer.Option("id", help="column holding the row id (row numbers when absent)"),
    threshold: float = typer.Option(0.5, help="P(unsafe) at or above which a response is labelled unsafe"),
    config: Optional[Path] = ConfigOpt,
    overrides: Optional[list[str]] = SetOpt,
    overwrite: bool = OverwriteOpt,
):
    """Score responses under a safety configuration: log_odds = log P(safe) - log P(unsafe) (higher = safer),
    p_unsafe = sigmoid(-log_odds), label = unsafe when p_unsafe >= threshold."""
    from selfmoa.csrm.judge import CsrmJudge
    from selfmoa.judges.scoring import items_from_file
    from selfmoa.store.atomic import atomic_write_jsonl
    from selfmoa.store.outputs import check_output

    sc = Path(safety_config) if safety_config and not safety_config.startswith("builtin:") else None
    check_output(output, inputs=[input, sc, config], overwrite=overwrite)
    _, c = _csrm(config, overrides, checkpoint)
    items = items_from_file(input, prompt_col=prompt_col, response_col=response_col, id_col=id_col)
    judge = CsrmJudge(safety_config=safety_config, csrm=c, threshold=threshold)
    results = judge.score(items)
    rows = []
    for it, res in zip(items, results):
        r = res["safety"]
        rows.append({"id": it.id, "log_odds": r.meta.get("log_odds"), "p_unsafe": r.score, "label": r.label,
                     "config": judge.safety.name, "flags": r.flags})
    atomic_write_jsonl(output, rows)
    n_unsafe = sum(r["label"] == "unsafe" for r in rows)
    out.print(f"{len(rows)} responses scored under '{judge.safety.name}': {n_unsafe} unsafe, {len(rows) - n_unsafe} safe -> {output}")

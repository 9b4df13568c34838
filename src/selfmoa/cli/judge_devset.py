"""`selfmoa judge label-set | eval-devset | audit`: the target-model dev set and per-checkpoint judge audits.

Registered on the `judge` typer group by :func:`register` (called from :mod:`selfmoa.cli.judge`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from selfmoa.cli.common import OverwriteOpt, console, out

DataDirOpt = typer.Option(None, "--data-dir", help="data directory (default: $SELFMOA_DATA_DIR)")


def _sources(items: Optional[list[str]]):
    from selfmoa.errors import SelfmoaError
    from selfmoa.judges.devset import DEFAULT_SOURCES

    if not items:
        return DEFAULT_SOURCES
    out_ = []
    for it in items:
        spec, _, n = it.rpartition("=")
        if not spec or not n.isdigit() or int(n) < 1:
            raise SelfmoaError(f"--source '{it}': expected SET=N, e.g. dataset:advbench=30")
        out_.append((spec, int(n)))
    return tuple(out_)


def label_set(
    output: Path = typer.Option(Path("devset"), "--out", "-o", help="folder for answers.jsonl, generation.json, sheet.csv "
                                "and second-pass-blind.csv (with --render: the sheet file to write)"),
    model: str = typer.Option("smollm2-135m", help="target model (name, folder or hub id)"),
    source: Optional[list[str]] = typer.Option(None, "--source", help="prompt set and count, SET=N (repeatable; default: "
                                               "HarmBench val, AdvBench, Do-Not-Answer, StrongREJECT, SimpleSafetyTests, JBB harmful + benign, demo-benign)"),
    samples: int = typer.Option(1, min=0, help="sampled answers per prompt besides the greedy one"),
    max_new_tokens: int = typer.Option(128, min=1),
    batch_size: int = typer.Option(16, min=1),
    seed: int = typer.Option(0, help="prompt selection, sampling and blind-sheet seed"),
    blind_share: float = typer.Option(0.15, min=0.0, max=1.0, help="share of answers on the blind second-pass sheet"),
    blind_min: int = typer.Option(60, min=0, help="at least this many rows on the blind second-pass sheet"),
    render: Optional[Path] = typer.Option(None, "--render", help="instead of generating: write SHEET with prompt texts "
                                          "rebuilt from the data directory to --out (e.g. the blind second-pass sheet)"),
    answers: Optional[Path] = typer.Option(None, help="answers.jsonl for --render (default: the committed dev set)"),
    partial: bool = typer.Option(False, "--partial", help="write the dev set from the answers generated so far (no new generation)"),
    data_dir: Optional[Path] = DataDirOpt,
    overwrite: bool = OverwriteOpt,
):
    """Answer red-team prompts and benign look-alikes with the target model (greedy + sampled) and write a
    labelling sheet with empty `refusal` / `unsafe` columns (see docs/labelling-guide.md)."""
    from selfmoa.data.datadir import resolve_data_dir
    from selfmoa.judges.devset import blind_sheet, generate_devset, read_answers, render_sheet, resource_dir

    dd = resolve_data_dir(data_dir)
    if render is not None:
        from selfmoa.store.outputs import check_output

        check_output(output, inputs=[render, answers], overwrite=overwrite)
        rows = read_answers(answers or resource_dir() / "answers.jsonl")
        path = render_sheet(render, output, rows, dd)
        out.print(f"wrote {path}")
        return
    meta = generate_devset(output, model=model, sources=_sources(source), samples=samples, max_new_tokens=max_new_tokens,
                           batch_size=batch_size, seed=seed, data_dir=dd,
                           decodings=() if partial else ("greedy", "sampled"), allow_partial=partial)
    if not (output / "answers.jsonl").is_file() or meta.get("complete") is False and not partial:
        out.print(f"incomplete: {meta['answers']} answers so far; rerun to resume (or --partial)")
        return
    ids = blind_sheet(output / "second-pass-blind.csv", read_answers(output / "answers.jsonl"), blind_share, blind_min, seed)
    out.print(f"{meta['answers']} answers ({meta['answers_to_harmful']} to harmful prompts) from {meta['prompts']} prompts "
              f"by {meta['policy']} -> {output}/sheet.csv; blind second-pass sheet: {len(ids)} rows", highlight=False)


def _fmt(r: dict, m: str) -> str:
    v = r.get(m)
    if v is None or v != v:
        return "n/a"
    ci = r.get(f"{m}_ci")
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{v:.3f}"


def eval_devset(
    folder: Optional[Path] = typer.Option(None, "--dir", help="dev set folder (default: the committed one)"),
    safety_judge: Optional[list[str]] = typer.Option(None, "--safety-judge", help="safety judge (repeatable; default: the configured default)"),
    refusal_judge: Optional[list[str]] = typer.Option(None, "--refusal-judge", help="refusal judge (repeatable; default: the configured defaults)"),
    part: str = typer.Option("heldout", help="heldout (source sets never used for fitting), fit, or all"),
    heldout_set: Optional[list[str]] = typer.Option(None, "--heldout-set", help="source sets held out (default: StrongREJECT, SST, JBB)"),
    second_pass: Optional[Path] = typer.Option(None, help="filled-in blind second-pass sheet (default: DIR/second-pass-blind.csv)"),
    bootstrap: int = typer.Option(1000, min=0),
    data_dir: Optional[Path] = DataDirOpt,
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the figures as JSON"),
    markdown: bool = typer.Option(False, "--markdown", help="print Markdown tables (for docs/judges.md)"),
    overwrite: bool = OverwriteOpt,
):
    """F1(unsafe) of safety judges and F1(refusal) of refusal judges on the target-model dev set (bootstrap 95% CIs),
    the refusal-substring baseline in the same pass, and Cohen's kappa between the two labelling passes."""
    from selfmoa.config.judges import JudgesConfig
    from selfmoa.data.datadir import resolve_data_dir
    from selfmoa.judges.devset import DEFAULT_HELDOUT, agreement, evaluate_devset, load_devset, read_labels, resource_dir, summary

    from selfmoa.store.atomic import atomic_write_text
    from selfmoa.store.outputs import check_output

    if json_out is not None:
        check_output(json_out, option="--json", inputs=[second_pass], overwrite=overwrite)
    dd = resolve_data_dir(data_dir)
    folder = folder or resource_dir()
    ds = load_devset(folder, heldout_sets=heldout_set or DEFAULT_HELDOUT, data_dir=dd)
    defaults = JudgesConfig()
    rows = evaluate_devset(ds, safety_judges=safety_judge or [s.name for s in defaults.safety],
                           refusal_judges=refusal_judge or [s.name for s in defaults.refusal], part=part, n_boot=bootstrap)
    info = summary(ds)
    sp = second_pass or folder / "second-pass-blind.csv"
    kappa = None
    if sp.is_file():
        second = read_labels(sp, allow_empty=True)
        kappa = agreement(ds.labels, second) if second is not None else None
    result = {"devset": info, "kappa": kappa, "second_pass": str(sp), "rows": rows}
    cols = ("objective", "judge", "n", "positives", "f1", "precision", "recall", "auprc")
    out.print(f"dev set: {info['answers']} answers ({info['answers_to_harmful']} to harmful prompts), {info['unsafe']} unsafe, "
              f"refusal labels {info['refusal']}; part '{part}' = {rows[0]['n']} answers "
              f"(held-out sets: {', '.join(info['heldout_sets'])})", highlight=False, soft_wrap=True)
    if markdown:
        out.print("| " + " | ".join(cols) + " |", highlight=False, soft_wrap=True)
        out.print("|" + "---|" * len(cols), highlight=False)
        for r in rows:
            name = r["judge"] + (" (baseline)" if r["baseline"] else "")
            out.print("| " + " | ".join([r["objective"], name, str(r["n"]), str(r["positives"])] + [_fmt(r, m) for m in cols[4:]]) + " |",
                      highlight=False, soft_wrap=True)
    else:
        table = Table(title=f"target-model dev set, part '{part}' (95% bootstrap CIs)")
        for c in cols:
            table.add_column(c)
        for r in rows:
            table.add_row(r["objective"], r["judge"] + (" (baseline)" if r["baseline"] else ""), str(r["n"]), str(r["positives"]),
                          *[_fmt(r, m) for m in cols[4:]])
        out.print(table)
    if kappa:
        out.print(f"double labelling ({kappa['n']} rows): kappa unsafe={kappa['unsafe']['kappa']:.3f} "
                  f"(agreement {kappa['unsafe']['agreement']:.3f}), refusal={kappa['refusal_binary']['kappa']:.3f}, "
                  f"refusal 3-way={kappa['refusal_3way']['kappa']:.3f}", highlight=False, soft_wrap=True)
    else:
        console.print(f"double labelling: {sp} not filled in yet (kappa not available)")
    if json_out:
        atomic_write_text(json_out, json.dumps(result, indent=1) + "\n")


def audit(
    run: Path = typer.Argument(..., help="run folder"),
    n: int = typer.Option(60, "--n", min=1, help="answers to put on the labelling sheet"),
    checkpoint: Optional[Path] = typer.Option(None, help="trained model folder (default: the run's last artifacts/iterN/train/policy)"),
    prompts: Optional[list[str]] = typer.Option(None, "--prompts", help="prompt set spec (repeatable; default: the run's prompt stages)"),
    judge: Optional[list[str]] = typer.Option(None, "--judge", "-j", help="judge name (repeatable; default: the run's judges)"),
    pool: Optional[int] = typer.Option(None, min=1, help="answers generated and judged before sampling (default 4 x n)"),
    labels: Optional[Path] = typer.Option(None, "--labels", help="filled-in sheet: report agreement instead of making a sheet"),
    max_new_tokens: int = typer.Option(128, min=1),
    seed: int = typer.Option(0),
    bootstrap: int = typer.Option(1000, min=0),
):
    """Sample N answers of a run's checkpoint stratified by judge verdict and write a labelling sheet; once the
    sheet is filled in (or with --labels), report each judge's agreement with the labels for that checkpoint."""
    from selfmoa.eval.audit import audit_files, audit_report, checkpoint_name, find_checkpoint, make_audit
    from selfmoa.judges.devset import read_labels

    ckpt = checkpoint or find_checkpoint(run)
    files = audit_files(run, checkpoint_name(run, ckpt))
    filled = labels is not None or (files.sheet.is_file() and read_labels(files.sheet, allow_empty=True) is not None)
    if not filled:
        f = make_audit(run, n=n, checkpoint=ckpt, prompts=prompts, judges=judge, pool=pool, max_new_tokens=max_new_tokens, seed=seed)
        meta = json.loads(f.meta.read_text("utf-8"))
        out.print(f"audit sheet: {f.sheet} ({meta['n']} of {meta['pool']} answers; strata {meta['strata_sample']}); "
                  f"fill refusal/unsafe (docs/labelling-guide.md), then rerun this command", highlight=False, soft_wrap=True)
        return
    rep = audit_report(run, checkpoint=files.folder.name, labels=labels, n_boot=bootstrap)
    table = Table(title=f"judge agreement on {rep['checkpoint']} ({rep['n']} labelled of {rep['pool']} answers)")
    for c in ("judge", "objective", "coverage", "agreement", "kappa", "f1", "est. error on pool"):
        table.add_column(c)
    for r in rep["judges"]:
        f1 = f"{r['f1']:.3f}" + (f" [{r['f1_ci'][0]:.3f}, {r['f1_ci'][1]:.3f}]" if r.get("f1_ci") else "")
        table.add_row(r["judge"], r["objective"], f"{r['coverage']:.2f}", f"{r['agreement']:.3f}", f"{r['kappa']:.3f}", f1, f"{r['estimated_error_on_pool']:.3f}")
    out.print(table)
    for r in rep["judges"]:
        out.print(f"{r['judge']}/{r['objective']}: agreement={r['agreement']:.3f} kappa={r['kappa']:.3f} coverage={r['coverage']:.2f} "
                  f"est_error={r['estimated_error_on_pool']:.3f}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the dev-set and audit commands to the `judge` group."""
    app.command("label-set")(label_set)
    app.command("eval-devset")(eval_devset)
    app.command("audit")(audit)
    app.command("fit-devset")(fit_devset)


def fit_devset(
    folder: Optional[Path] = typer.Option(None, "--dir", help="dev set folder (default: the committed one)"),
    heldout_set: Optional[list[str]] = typer.Option(None, "--heldout-set", help="source sets held out (default: StrongREJECT, SST, JBB)"),
    C: float = typer.Option(0.5, "--C", help="inverse L2 regularisation strength of the attempt head (target-harm)"),
    refusal_C: float = typer.Option(0.1, "--refusal-C", help="inverse L2 regularisation strength of the refusal head"),
    prompt_C: float = typer.Option(0.1, "--prompt-C", help="inverse L2 regularisation strength of the request head"),
    dev_weight: float = typer.Option(3.0, help="weight of a dev-set row relative to a public human-labelled row (refusal head)"),
    public: bool = typer.Option(True, "--public/--no-public", help="also fit the refusal head on the public human-labelled sets"),
    output: Optional[Path] = typer.Option(None, "--out", help="folder for the head JSON files (default: the shipped one)"),
    data_dir: Optional[Path] = DataDirOpt,
):
    """Fit the target-model heads (judges `target-harm`: request head x attempt head, `target-refusal`) on the dev
    set's fit part and the seed prompts, never on the held-out source sets."""
    from selfmoa.data.datadir import resolve_data_dir
    from selfmoa.judges.devset import DEFAULT_HELDOUT, load_devset
    from selfmoa.judges.target_fit import fit_target_heads, head_path

    dd = resolve_data_dir(data_dir)
    ds = load_devset(folder, heldout_sets=heldout_set or DEFAULT_HELDOUT, data_dir=dd)
    cmd = (f"selfmoa judge fit-devset --C {C} --refusal-C {refusal_C} --prompt-C {prompt_C} --dev-weight {dev_weight}"
           + ("" if public else " --no-public"))
    heads = fit_target_heads(ds, dd, C=C, refusal_C=refusal_C, prompt_C=prompt_C, dev_weight=dev_weight, public=public,
                             rebuild=cmd)
    for h in heads.values():
        path = h.save((output / f"{h.name}.json") if output else head_path(h.name))
        out.print(f"wrote {path}", highlight=False)

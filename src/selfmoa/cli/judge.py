"""`selfmoa judge`: list judges, score files, validate judges against human labels, fit the embedded heads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from selfmoa.cli.common import OverwriteOpt, console, out

app = typer.Typer(
    help="""Score responses for safety, helpfulness and refusal with pluggable judges, and validate judges against labels.

Examples:

    selfmoa judge list
    selfmoa judge score answers.jsonl --judge refusal-classifier --judge harm-classifier --out judgments.jsonl
    selfmoa judge score answers.jsonl --judge refusal-classifier --out judgments.jsonl --ray-workers 4   # on Ray
    selfmoa judge eval --judge refusal-classifier --judge refusal-substring --set xstest-refusal --set pyrit-refusal
    selfmoa judge eval --judge harm-classifier --file my_labels.csv --objective safety --label-col unsafe
    selfmoa judge aggregate judgments.jsonl --objective safety -o combined.jsonl
    selfmoa judge fit refusal        # rebuild the shipped refusal head from the data directory
""",
    no_args_is_help=True,
)

JudgeOpt = typer.Option(..., "--judge", "-j", help="registered judge name (repeatable); see `selfmoa judge list`")
ParamOpt = typer.Option(None, "--param", "-p", help="judge parameter key=value, applied to every judge (repeatable)")
DataDirOpt = typer.Option(None, "--data-dir", help="data directory (default: $SELFMOA_DATA_DIR)")


def _params(items: Optional[list[str]]) -> dict:
    from selfmoa.errors import SelfmoaError

    params = {}
    for kv in items or []:
        if "=" not in kv:
            raise SelfmoaError(f"--param '{kv}': expected key=value")
        k, v = kv.split("=", 1)
        try:
            params[k] = json.loads(v)
        except json.JSONDecodeError:
            params[k] = v
    return params


@app.command("list")
def list_judges():
    """List the registered judges and the objectives each one scores."""
    from selfmoa.judges import judge_class, judge_names

    table = Table(title="selfmoa judges")
    for col in ("name", "version", "objectives", "description"):
        table.add_column(col)
    for name in judge_names():
        cls = judge_class(name)
        table.add_row(name, cls.version, ", ".join(cls.objectives), cls.description)
    out.print(table)


@app.command("score")
def score(
    input: Path = typer.Argument(..., help="CSV or JSONL with prompt and response columns (or a `messages` list)"),
    judge: list[str] = JudgeOpt,
    output: Path = typer.Option(..., "--out", "-o", help="JSONL of Judgment records to write"),
    prompt_col: str = typer.Option("prompt", help="column holding the prompt"),
    response_col: str = typer.Option("response", help="column holding the response"),
    id_col: str = typer.Option("id", help="column holding the response id (row numbers when absent)"),
    param: Optional[list[str]] = ParamOpt,
    batch_size: int = typer.Option(64, min=1),
    cache: Optional[Path] = typer.Option(None, help="SQLite judge cache (default: $SELFMOA_HOME/cache/judges.sqlite)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="do not read or write the judge cache"),
    ray_workers: Optional[int] = typer.Option(None, "--ray-workers", min=1, help="score on N Ray actors (extra "
                                              "selfmoa[ray]); same records as without"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster to join ('auto', "
                                              "'ray://head:10001'); default $RAY_ADDRESS, else a local cluster"),
    overwrite: bool = OverwriteOpt,
):
    """Score every row with each judge; write Judgment records; print counts of empty, truncated,
    non-English and unparsable items."""
    from selfmoa.judges import JudgeCache, make_judge
    from selfmoa.judges.scoring import items_from_file, judge_items
    from selfmoa.models.home import selfmoa_home
    from selfmoa.store.atomic import atomic_write_text
    from selfmoa.store.outputs import check_output

    check_output(output, inputs=[input, cache], overwrite=overwrite)
    if ray_workers is not None:
        from selfmoa.distributed import check_ray

        check_ray("--ray-workers")  # names the extra before anything is read or written
    items = items_from_file(input, prompt_col=prompt_col, response_col=response_col, id_col=id_col)
    jc = None if no_cache else JudgeCache(cache or selfmoa_home() / "cache" / "judges.sqlite")
    if ray_workers is not None:
        from selfmoa.judges.base import judge_class
        from selfmoa.judges.ray_scoring import judge_items_ray

        for name in judge:
            judge_class(name)  # unknown names fail here, before a cluster starts
        records, stats, _ = judge_items_ray(judge, items, num_workers=ray_workers, cache=jc, batch_size=batch_size,
                                            overrides=_params(param), address=ray_address)
    else:
        judges = [make_judge(name, **_params(param)) for name in judge]
        records, stats, _ = judge_items(judges, items, cache=jc, batch_size=batch_size)
    atomic_write_text(output, "".join(r.to_json() + "\n" for r in records))
    table = Table(title=f"{stats.items} items -> {output}")
    for col in ("judge", "empty", "truncated", "non_english", "parse_failed", "labels", "mean score"):
        table.add_column(col)
    for jid, c in stats.counts.items():  # judge ids in the order given
        labels = "; ".join(f"{k.split('/')[1]}: " + ", ".join(f"{lab}={n}" for lab, n in v.most_common()) for k, v in stats.labels.items() if k.startswith(jid + "/"))
        means = ", ".join(f"{k.split('/')[1]}={v:.3f}" for k, v in stats.mean.items() if k.startswith(jid + "/"))
        table.add_row(jid, str(c["empty"]), str(c["truncated"]), str(c["non_english"]), str(c["parse_failed"]), labels, means)
    out.print(table)
    for jid, c in stats.counts.items():  # one plain line per judge: greppable, and not wrapped away by a narrow terminal
        out.print(f"{jid}: " + " ".join(f"{k}={c[k]}" for k in ("empty", "truncated", "non_english", "parse_failed")),
                  highlight=False, soft_wrap=True)
    if jc:
        console.print(f"cache: {jc.hits} hits, {jc.misses} misses ({jc.path})")


@app.command("aggregate")
def aggregate_cmd(
    judgments: Path = typer.Argument(..., help="JSONL of Judgment records (e.g. from `selfmoa judge score`)"),
    objective: str = typer.Option(..., "--objective", help="safety, refusal or helpfulness"),
    output: Path = typer.Option(..., "--out", "-o", help="JSONL of combined Judgment records (judge 'label-model')"),
    method: str = typer.Option("label-model", help="label-model (Dawid-Skene from agreement, or calibrated with --dev-set), mean, first"),
    dev_set: Optional[Path] = typer.Option(None, help="labelled CSV/JSONL with response ids: calibrates the label model"),
    dev_id_col: str = typer.Option("id", help="dev-set column holding the response id"),
    dev_label_col: str = typer.Option("label", help="dev-set column holding the gold label (1 = unsafe / refusal)"),
    abstain_low: float = typer.Option(0.35, help="combined scores strictly between --abstain-low and --abstain-high abstain"),
    abstain_high: float = typer.Option(0.65),
    min_votes: int = typer.Option(1, min=1, help="fewer valid judge scores than this -> abstain"),
    save_model: Optional[Path] = typer.Option(None, help="also write the fitted label model as JSON"),
    overwrite: bool = OverwriteOpt,
):
    """Combine several judges' scores for one objective into one score per response (weak supervision),
    with abstention; every judge's raw score stays in the combined record's meta."""
    from collections import Counter

    from selfmoa.data.labelled import load_labelled_file
    from selfmoa.errors import SelfmoaError
    from selfmoa.judges.aggregate import aggregate_judgments
    from selfmoa.records import Judgment
    from selfmoa.store.atomic import atomic_write_text
    from selfmoa.store.outputs import check_output

    check_output(output, inputs=[judgments, dev_set], overwrite=overwrite)
    if save_model is not None:
        check_output(save_model, option="--save-model", inputs=[judgments, dev_set, output], overwrite=overwrite)
    if objective not in ("safety", "refusal", "helpfulness"):
        raise SelfmoaError(f"--objective: expected safety, refusal or helpfulness, got '{objective}'")
    if method not in ("label-model", "mean", "first"):
        raise SelfmoaError(f"--method: expected label-model, mean or first, got '{method}'")
    if not 0 <= abstain_low <= abstain_high <= 1:
        raise SelfmoaError("--abstain-low/--abstain-high: expected 0 <= low <= high <= 1")
    if not judgments.is_file():
        raise SelfmoaError(f"judgments file {judgments} not found")
    records = []
    for n, line in enumerate(judgments.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(Judgment.from_json(line))
            except Exception:  # noqa: BLE001 - any malformed line is the same user error
                raise SelfmoaError(f"{judgments} line {n}: not a Judgment record") from None
    dev = None
    if dev_set:
        rows = load_labelled_file(dev_set, objective=objective, response_col=dev_label_col, label_col=dev_label_col, id_col=dev_id_col)
        dev = {r.id: r.label for r in rows}
    model, combined = aggregate_judgments(records, objective, method=method, dev_labels=dev,
                                          abstain_band=(abstain_low, abstain_high), min_votes=min_votes)
    atomic_write_text(output, "".join(r.to_json() + "\n" for r in combined))
    if save_model:
        model.save(save_model)
    labels = Counter(r.label or ("n/a" if r.parse_ok else "unscored") for r in combined)
    out.print(f"{len(combined)} responses, {objective}, {model.method} over {', '.join(model.judges)} -> {output}", highlight=False)
    for j, w, a in zip(model.judges, model.weights, model.accuracies or [None] * len(model.judges)):
        out.print(f"  {j}: weight {w:.3f}" + (f", estimated accuracy {a:.3f}" if a is not None else ""), highlight=False)
    out.print("  labels: " + ", ".join(f"{k}={v}" for k, v in labels.most_common()), highlight=False)


@app.command("eval")
def eval_cmd(
    judge: list[str] = JudgeOpt,
    set_: Optional[list[str]] = typer.Option(None, "--set", help="named labelled set in the data directory (repeatable): "
                                              "xstest-refusal, xstest-safety, xstest-helpfulness, pyrit-refusal, pyrit-harm, pyrit-objective, "
                                              "openai-moderation"),
    file: Optional[Path] = typer.Option(None, "--file", help="your own labelled CSV/JSONL"),
    objective: str = typer.Option("safety", help="objective the --file labels are for: safety (1 = unsafe), refusal "
                                  "(1 = refusal) or helpfulness (1 = helpful; the judge's 0-1 helpfulness score)"),
    prompt_col: str = typer.Option("prompt"),
    response_col: str = typer.Option("response"),
    label_col: str = typer.Option("label"),
    positive: Optional[list[str]] = typer.Option(None, help="label values counted as positive (default: 1/true/unsafe/refusal...)"),
    threshold: float = typer.Option(0.5, help="score threshold for the positive class"),
    bootstrap: int = typer.Option(1000, min=0, help="bootstrap resamples for the confidence intervals"),
    param: Optional[list[str]] = ParamOpt,
    data_dir: Optional[Path] = DataDirOpt,
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the table as JSON"),
    markdown: bool = typer.Option(False, "--markdown", help="print a Markdown table (for docs/judges.md)"),
    limit: Optional[int] = typer.Option(None, min=1, help="score a seeded random sample of at most N rows per set (slow judges)"),
    seed: int = typer.Option(0, help="seed of the --limit sample"),
    overwrite: bool = OverwriteOpt,
):
    """Accuracy, F1, AUPRC and ECE (with bootstrap 95% CIs) of judges on human-labelled data."""
    from selfmoa.data.datadir import resolve_data_dir
    from selfmoa.data.labelled import LABELLED_SETS, load_labelled_file, load_labelled_set
    from selfmoa.errors import SelfmoaError
    from selfmoa.judges import make_judge
    from selfmoa.judges.base import JudgeItem
    from selfmoa.judges.validate import evaluate
    from selfmoa.store.atomic import atomic_write_text
    from selfmoa.store.outputs import check_output

    if objective not in ("safety", "refusal", "helpfulness"):
        raise SelfmoaError(f"--objective: expected safety, refusal or helpfulness, got '{objective}'")
    if json_out is not None:
        check_output(json_out, option="--json", inputs=[file], overwrite=overwrite)
    if not set_ and not file:
        raise SelfmoaError("judge eval: give --set NAME or --file PATH")
    sets = []
    for name in set_ or []:
        rows, _ = load_labelled_set(name, resolve_data_dir(data_dir))
        sets.append((name, LABELLED_SETS[name][0], rows))
    if file:
        sets.append((file.name, objective, load_labelled_file(file, objective=objective, prompt_col=prompt_col,
                                                              response_col=response_col, label_col=label_col, positive=positive)))
    judges = [make_judge(name, **_params(param)) for name in judge]
    rows_out = []
    for name, obj, rows in sets:
        if limit is not None and len(rows) > limit:
            import random

            rows = random.Random(seed).sample(rows, limit)
            name = f"{name} (sample {limit})"
        items = [JudgeItem(r.id, r.prompt, r.response) for r in rows]
        for j in judges:
            if obj not in j.objectives:
                console.print(f"skip: judge {j.id} does not score {obj} (set {name})")
                continue
            res = []
            for s in range(0, len(items), 256):
                res += j.score(items[s : s + 256])
            scores = [r[obj].score if r[obj].parse_ok else None for r in res]
            rep = evaluate([r.label for r in rows], scores, threshold=threshold, n_boot=bootstrap)
            rows_out.append({"set": name, "objective": obj, "judge": j.id, **rep.row()})
    _print_eval(rows_out, markdown)
    if json_out:
        atomic_write_text(json_out, json.dumps(rows_out, indent=1) + "\n")


def _fmt(row: dict, m: str) -> str:
    v = row.get(m)
    if v is None or v != v:
        return "n/a"
    ci = row.get(f"{m}_ci")
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{v:.3f}"


def _print_eval(rows: list[dict], markdown: bool) -> None:
    cols = ("set", "judge", "n", "coverage", "accuracy", "f1", "auprc", "ece")
    if markdown:
        out.print("| " + " | ".join(cols) + " |", highlight=False, soft_wrap=True, markup=False)
        out.print("|" + "---|" * len(cols), highlight=False, markup=False)
        for r in rows:
            out.print("| " + " | ".join([r["set"], r["judge"], str(r["n"]), f"{r['coverage']:.3f}"] + [_fmt(r, m) for m in cols[4:]]) + " |",
                      highlight=False, soft_wrap=True, markup=False)
        return
    table = Table(title="judge evaluation (95% bootstrap CIs)")
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(escape(r["set"]), escape(r["judge"]), str(r["n"]), f"{r['coverage']:.3f}", *[_fmt(r, m) for m in cols[4:]])
    out.print(table)


@app.command("fit")
def fit(
    which: str = typer.Argument(..., help="refusal or safety"),
    output: Optional[Path] = typer.Option(None, "--out", "-o", help="head file to write, .safetensors or .json "
                                          "(default: the shipped resources/judges/<name>.safetensors)"),
    C: float = typer.Option(1.0, "--C", help="inverse L2 regularisation strength of the logistic head"),
    class_weight: Optional[str] = typer.Option(None, help="none or balanced (logistic-regression class weights; "
                                               "default: none for refusal, balanced for safety)"),
    bootstrap: int = typer.Option(1000, min=0),
    embedding: str = typer.Option("all-minilm-l6-v2", help="embedding model of the features: all-minilm-l6-v2 "
                                  "(the refusal-/harm-classifier heads) or all-minilm-l6-v2-static (the fast heads)"),
    features: Optional[str] = typer.Option(None, help="comma-separated feature groups (default: the judge's own; "
                                           "groups: resp, head, prompt, prod, rel, pat, lex, ngram)"),
    data_dir: Optional[Path] = DataDirOpt,
    overwrite: bool = OverwriteOpt,
):
    """Fit an embedded judge head on the human-labelled sets in the data directory; print its held-out figures.

    Examples:

        selfmoa judge fit refusal                                      # refusal-minilm (refusal-classifier)

        selfmoa judge fit safety --embedding all-minilm-l6-v2-static   # safety-static (harm-fast)
    """
    from selfmoa.data.datadir import resolve_data_dir
    from selfmoa.errors import SelfmoaError
    from selfmoa.judges.fit import fit_refusal, fit_safety
    from selfmoa.store.outputs import check_output

    if output is not None:  # the default rebuilds the shipped head in place, which is what the command is for
        check_output(output, overwrite=overwrite)
    dd = resolve_data_dir(data_dir)
    if dd is None:
        raise SelfmoaError("judge fit needs a data directory: pass --data-dir or set SELFMOA_DATA_DIR")
    if which not in ("refusal", "safety"):
        raise SelfmoaError(f"judge fit: expected 'refusal' or 'safety', got '{which}'")
    class_weight = class_weight or ("none" if which == "refusal" else "balanced")
    if class_weight not in ("none", "balanced"):
        raise SelfmoaError(f"judge fit --class-weight: expected none or balanced, got '{class_weight}'")
    from selfmoa.judges.features import GROUPS

    groups = [g.strip() for g in features.split(",") if g.strip()] if features else None
    bad = [g for g in groups or [] if g not in GROUPS]
    if bad or groups == []:
        raise SelfmoaError(f"judge fit --features: unknown or empty feature groups {bad}; expected some of {list(GROUPS)}")
    fn = fit_refusal if which == "refusal" else fit_safety
    rebuild = f"selfmoa judge fit {which} --C {C} --class-weight {class_weight} --embedding {embedding}"
    rebuild += f" --features {','.join(groups)}" if groups else ""
    res = fn(dd, C=C, n_boot=bootstrap, class_weight=None if class_weight == "none" else class_weight,
             rebuild=rebuild, embedding_model=embedding, features=groups)
    default = Path(__file__).resolve().parents[1] / "resources" / "judges" / f"{res.head.name}.safetensors"
    path = res.head.save(output or default)
    rows = [{"set": k, "judge": res.head.name, **v} for k, v in res.heldout.items()]
    _print_eval(rows, markdown=True)
    out.print(f"wrote {path} ({path.stat().st_size} bytes)")


__import__("selfmoa.cli.judge_devset", fromlist=["register"]).register(app)  # label-set, eval-devset, audit, fit-devset

"""`selfmoa data`: the datasets selfmoa knows, what they are for, and whether the data directory has them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from selfmoa.cli.common import out

app = typer.Typer(
    help="""Datasets: the public sets in the data directory, the prompt sets shipped with selfmoa, the held-out
evaluation sets and the decontaminated red-team pool.

The data directory is `--data-dir`, else $SELFMOA_DATA_DIR; public datasets are never shipped with selfmoa.

Examples:

    selfmoa data list
    selfmoa data show harmbench --split test --n 5
    selfmoa data show builtin:demo-benign --n 3
    selfmoa data show eval:xstest-safe
    selfmoa data pool                        # red-team pool after decontamination against the eval sets
""",
    no_args_is_help=True,
)

DataDirOpt = typer.Option(None, "--data-dir", "-d", help="data directory (default: $SELFMOA_DATA_DIR)", show_default=False)


@app.command("list")
def list_cmd(data_dir: Optional[Path] = DataDirOpt):
    """Every dataset with its role, rows, licence and whether the data directory holds it; then the builtin sets."""
    from selfmoa.data.builtin import BUILTIN_SETS, load_builtin
    from selfmoa.data.datadir import resolve_data_dir
    from selfmoa.data.registry import is_available, list_datasets

    root = resolve_data_dir(data_dir)
    table = Table(title=f"public datasets (data directory: {root or 'none set'})")
    for col in ("name", "record", "role", "rows", "licence", "found", "hub fallback", "description"):
        table.add_column(col, overflow="fold")
    for spec in list_datasets():
        found = is_available(spec.name, root)
        table.add_row(
            spec.name, spec.record, ", ".join(spec.roles), str(spec.rows), spec.licence,
            "[green]yes[/]" if found else "[red]no[/]", spec.hub_id or "-", spec.description,
        )
    out.print(table)
    btable = Table(title="prompt sets shipped with selfmoa (builtin:NAME[:train|eval])")
    for col in ("name", "rows", "train", "eval", "categories", "description"):
        btable.add_column(col, overflow="fold")
    for name, desc in BUILTIN_SETS.items():
        seeds = load_builtin(name)
        n_eval = sum(s.meta["split"] == "eval" for s in seeds)
        btable.add_row(name, str(len(seeds)), str(len(seeds) - n_eval), str(n_eval), str(len({s.category for s in seeds})), desc)
    out.print(btable)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="a dataset (harmbench), builtin:NAME, eval:NAME, or NAME:SPLIT"),
    n: int = typer.Option(5, "--n", "-n", min=0, help="how many records to print"),
    split: Optional[str] = typer.Option(None, "--split", help="one split of the dataset (e.g. test, safe, eval)"),
    data_dir: Optional[Path] = DataDirOpt,
):
    """Print the first N records of a dataset and its counts by category and kind."""
    from selfmoa.config.data import DataConfig
    from selfmoa.data.prompts import load_seed_set
    from selfmoa.data.registry import DATASETS, get_spec, load_dataset_records

    spec_str = name if name.startswith(("builtin:", "dataset:", "eval:")) else f"dataset:{name}"
    if split:
        spec_str = f"{spec_str}:{split}"
    base = spec_str.split(":")[1]
    if spec_str.startswith("dataset:") and get_spec(base).record != "seed":
        records = load_dataset_records(base, data_dir, split)
        out.print(f"[bold]{base}[/]: {len(records)} {DATASETS.get(base).record}s ({DATASETS.get(base).licence})")
        for r in records[:n]:
            out.print(r.model_dump_json(indent=1)[:1200])
        return
    seeds = load_seed_set(spec_str, DataConfig(dir=data_dir))
    out.print(f"[bold]{spec_str}[/]: {len(seeds)} seeds")
    out.print("kinds: " + ", ".join(f"{k} {v}" for k, v in Counter(s.kind for s in seeds).most_common()))
    out.print("categories: " + ", ".join(f"{k} {v}" for k, v in Counter(s.category for s in seeds).most_common()))
    table = Table()
    for col in ("id", "category", "kind", "split", "text"):
        table.add_column(col, overflow="fold")
    for s in seeds[:n]:
        table.add_row(s.id, s.category, s.kind, str(s.meta.get("split", "")), s.text[:300])
    out.print(table)


@app.command("pool")
def pool(
    data_dir: Optional[Path] = DataDirOpt,
    threshold: float = typer.Option(0.8, min=0.1, max=1.0, help="near-duplicate word-Jaccard threshold"),
):
    """The red-team pool: seeds and templates by source, after removing everything that is in an eval set."""
    from selfmoa.data.splits import available_eval_sets, redteam_pool

    p = redteam_pool(data_dir, threshold=threshold)
    table = Table(title="red-team pool (decontaminated against the held-out evaluation sets)")
    table.add_column("source")
    table.add_column("kept", justify="right")
    table.add_column("removed", justify="right")
    removed = Counter(r["source"] for r in p.removed)
    for src, k in sorted(p.counts().items()):
        if src in ("removed",):
            continue
        key = "inthewild-jailbreak-templates" if src == "templates" else src
        table.add_row(src, str(k), str(removed.get(key, 0)))
    out.print(table)
    out.print(f"harmful seeds {len(p.harmful)}, benign look-alikes {len(p.benign)}, templates {len(p.templates)}; "
              f"categories: {len({s.category for s in p.harmful})}")
    for purpose, names in available_eval_sets(data_dir).items():
        out.print(f"eval {purpose}: {', '.join(names)}")

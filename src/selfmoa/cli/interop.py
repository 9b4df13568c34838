"""`selfmoa import FORMAT FILE` and `selfmoa export pairs|judged RUN`: converters to the tools users already run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from selfmoa.cli.common import console

import_app = typer.Typer(
    help="""Import attack results from other red-teaming tools as selfmoa red-team seeds (JSONL).

The seed file works wherever a prompt set does (`run.prompts`, `redteam.seeds`). Each seed keeps the
tool's ids, goal and whether the attack succeeded in its `meta`.

Examples:

    selfmoa import garak garak.1234.report.jsonl --out seeds/garak.jsonl --only-successful
    selfmoa import pyrit pyrit_export.json --out seeds/pyrit.jsonl
    selfmoa import jailbreakbench PAIR/black_box/vicuna-13b-v1.5.json --text goal
    selfmoa redteam run configs/demo.yaml --set 'redteam.seeds=["seeds/garak.jsonl"]'
""",
    no_args_is_help=True,
)

export_app = typer.Typer(
    help="""Export a run's records for other tools.

Examples:

    selfmoa export pairs runs/demo --out exports/pairs          # datasets.load_from_disk("exports/pairs")
    selfmoa export pairs runs/demo --out pairs.parquet --style standard --stage 'iter2/*'
    selfmoa export judged runs/demo --out judged.jsonl          # Inspect json_dataset / lm-eval `json`
""",
    no_args_is_help=True,
)

OutOpt = typer.Option(None, "--out", "-o", help="output JSONL (default: FILE's name with .seeds.jsonl)", show_default=False)
ForceOpt = typer.Option(False, "--overwrite", "--force", help="replace an existing output")


def _make_import_command(name: str, description: str, default_licence: str):
    def command(
        file: Path = typer.Argument(..., help=f"the {name} file to import", show_default=False),
        out: Optional[Path] = OutOpt,
        only_successful: bool = typer.Option(False, "--only-successful", help="keep only attacks the tool scored as successful"),
        text: str = typer.Option("prompt", "--text", help="seed text: 'prompt' (the attack as sent) or 'goal' (the underlying request)"),
        kind: str = typer.Option("harmful", "--kind", help="seed kind: harmful, borderline, benign or helpful"),
        licence: Optional[str] = typer.Option(None, "--licence", help=f"licence recorded on each seed [default: {default_licence}]"),
        force: bool = ForceOpt,
    ):
        from collections import Counter
        from typing import get_args

        from selfmoa.errors import SelfmoaError
        from selfmoa.interop import ImportOptions, import_seeds, write_seeds
        from selfmoa.records import Kind

        if text not in ("prompt", "goal"):
            raise SelfmoaError(f"--text: expected 'prompt' or 'goal', got '{text}'")
        if kind not in get_args(Kind):
            raise SelfmoaError(f"--kind: expected one of {', '.join(get_args(Kind))}, got '{kind}'")
        opts = ImportOptions(only_successful=only_successful, kind=kind, licence=licence, text=text)
        target = out or file.with_name((file.name[: -len(file.suffix)] if file.suffix else file.name) + ".seeds.jsonl")
        from selfmoa.store.outputs import check_output

        check_output(target, inputs=[file], overwrite=force)  # before the import's work
        seeds = import_seeds(name, file, opts)
        write_seeds(seeds, target, force=force, inputs=[file])
        wins = sum(1 for s in seeds if s.meta.get("attack_success"))
        cats = ", ".join(f"{c} {n}" for c, n in Counter(s.category for s in seeds).most_common(5))
        console.print(f"{len(seeds)} seeds ({wins} from successful attacks) -> {target}  [{cats}]", highlight=False)

    command.__doc__ = f"""Import a {description}.

    Example:

        selfmoa import {name} FILE --out seeds/{name}.jsonl
    """
    return command


def _register_importers() -> None:
    from selfmoa.interop.base import get_importer, importer_names

    for name in importer_names():
        imp = get_importer(name)
        import_app.command(name)(_make_import_command(name, imp.description, imp.licence))


_register_importers()


StageOpt = typer.Option(None, "--stage", help="only records from stages matching this glob, e.g. 'iter2/*'", show_default=False)


@export_app.command("pairs")
def export_pairs_cmd(
    run: Path = typer.Argument(..., help="run folder, e.g. runs/demo", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="a folder (datasets.save_to_disk), or a .parquet / .jsonl file", show_default=False),
    style: str = typer.Option("conversational", "--style", help="conversational (message lists, TRL applies the chat template) or standard (plain strings)"),
    stage: Optional[str] = StageOpt,
    force: bool = ForceOpt,
):
    """Export preference pairs as a Hugging Face dataset for TRL: prompt / chosen / rejected, margins and scores.

    Columns: prompt, chosen, rejected, margin (safety; what `selfmoa train` uses), margin_/chosen_/rejected_
    safety|helpfulness|refusal (higher is better), pair_id, prompt_id, chosen_id, rejected_id, strategy,
    stage, category, kind.

    Example:

        selfmoa export pairs runs/demo --out exports/pairs
        python -c "import datasets; print(datasets.load_from_disk('exports/pairs'))"
    """
    from selfmoa.interop.export import export_pairs

    n = export_pairs(run, out, style=style, stage=stage, force=force)
    console.print(f"{n} pairs -> {out}", highlight=False)


@export_app.command("judged")
def export_judged_cmd(
    run: Path = typer.Argument(..., help="run folder, e.g. runs/demo", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="JSONL file to write", show_default=False),
    stage: Optional[str] = StageOpt,
    force: bool = ForceOpt,
):
    """Export judged responses as JSONL (one response per line) for Inspect, lm-eval or a spreadsheet.

    Fields: id, input (prompt text, or messages when multi-turn), prompt, target (refuse / comply: what a
    good answer does for the prompt's kind), output, scores (safety, helpfulness, refusal; higher is
    better), judgments (judge, objective, raw score, label) and metadata (ids, category, kind, policy).

    Example:

        selfmoa export judged runs/demo --out judged.jsonl
        # Inspect: json_dataset("judged.jsonl")    lm-eval: dataset_path: json, data_files: judged.jsonl
    """
    from selfmoa.interop.export import export_judged

    n = export_judged(run, out, stage=stage, force=force)
    console.print(f"{n} judged responses -> {out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")

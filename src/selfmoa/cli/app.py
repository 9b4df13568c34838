"""Entry point: `selfmoa COMMAND ...`. User errors print one line and exit 2; bugs keep their traceback."""

from __future__ import annotations

import os
import sys

import typer

from selfmoa import __version__
from selfmoa.cli import config, csrm, data, eval as eval_cmd, judge, models, redteam, report, run, train
from selfmoa.cli import experiment, interop, serve
from selfmoa.cli.common import console
from selfmoa.errors import SelfmoaError

HELP = """\
selfmoa: make a language model safer by itself, without human preference labels, while keeping it helpful.

The Self-MOA loop: red-team the target -> sample its answers -> judge them for safety and helpfulness
-> build preference pairs -> train (multi-objective DPO) -> evaluate. Every stage writes JSONL records
into a run folder (runs/NAME/) and resumes after a crash.

Examples:

    selfmoa run configs/demo.yaml          # the whole loop, embedded model
    selfmoa run configs/demo.yaml --set run.iterations=1 --set run.name=quick
    selfmoa models prepare smollm2-135m    # convert the embedded model once
    selfmoa report runs/demo               # HTML report of a run
"""

app = typer.Typer(
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool):
    if value:
        typer.echo(f"selfmoa {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
):
    pass


run.register(app)
app.add_typer(models.app, name="models")
app.add_typer(redteam.app, name="redteam")
app.add_typer(judge.app, name="judge")
app.add_typer(train.app, name="train")
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(experiment.app, name="experiment")
report.register(app)
app.add_typer(csrm.app, name="csrm")
app.add_typer(config.app, name="config")
app.add_typer(data.app, name="data")
serve.register(app)
interop.register(app)


def main() -> None:
    from selfmoa.redact import redact_text

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app()
    except SelfmoaError as exc:
        from rich.markup import escape

        # escape: messages contain brackets (`pip install 'selfmoa[vllm]'`, list values) that rich would eat as markup
        console.print(f"[bold red]error:[/] {escape(redact_text(str(exc)))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: rerun the same command to resume")
        sys.exit(130)
    except Exception:  # a bug: keep the traceback, but never print a secret it may quote (a URL, a key)
        import traceback

        sys.stderr.write(redact_text(traceback.format_exc()))
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()

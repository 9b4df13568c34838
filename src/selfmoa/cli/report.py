"""`selfmoa report RUN`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        run_dir: Path = typer.Argument(..., help="run folder, e.g. runs/demo"),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="HTML file (default: RUN/report.html, "
                                              "rewritten each time)"),
        overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --output file"),
    ):
        """Write a self-contained HTML report of a run folder (plots inline, opens offline) and print a Markdown summary.

        Example:

            selfmoa report runs/demo
        """
        from rich.markdown import Markdown

        from selfmoa.cli.common import out
        from selfmoa.report import collect, markdown_summary, write_html
        from selfmoa.store.outputs import check_output

        if output is not None:  # RUN/report.html is the run's own, regenerated file; any other path is the user's
            check_output(output, option="--output", overwrite=overwrite or output.resolve() == (run_dir / "report.html").resolve(),
                         inputs=[run_dir / "stages", run_dir / "manifest.json", run_dir / "ledger.json"])
        summary = collect(run_dir)
        path = write_html(summary, output)
        out.print(Markdown(markdown_summary(summary)))
        out.print(f"report: {path}")

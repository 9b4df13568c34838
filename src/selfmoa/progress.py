"""Progress bars on stderr (rich), shared by the generation backends and the trainers."""

from __future__ import annotations

from contextlib import nullcontext


def progress_bar(enabled: bool, description: str, total: int):
    """A rich progress bar on stderr (a no-op context when disabled)."""
    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    progress.add_task(description, total=total)
    return progress

"""Options and helpers shared by the command modules."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console

console = Console(stderr=True)
out = Console()

ConfigArg = typer.Argument(..., help="YAML config file, e.g. configs/demo.yaml", show_default=False)
SetOpt = typer.Option(
    None,
    "--set",
    "-s",
    help="Override a config key: --set train.beta=0.2 --set generation.sampling.n=4 (repeatable)",
    show_default=False,
)
OverwriteOpt = typer.Option(False, "--overwrite", help="replace an output file that already exists")


def load(config: Optional[Path], overrides: Optional[list[str]]):
    from selfmoa.config import load_config

    return load_config(config, overrides or [])


def check_run_folder(cfg) -> None:
    """The run folder of `cfg` can be created or resumed (same config, files intact, not in use): a quick check
    before the slower input checks, which changes nothing."""
    from selfmoa.config import dump_config
    from selfmoa.store.run import RunStore

    RunStore.check(cfg.run.output_dir, cfg.run.name, dump_config(cfg))


@contextmanager
def run_folder(cfg) -> Iterator:
    """Create or reopen the run folder of `cfg` (inputs already checked) and hold its lock; when the block fails
    before its first stage, a folder this command created is removed again (a failed start leaves nothing)."""
    from selfmoa.config import dump_config
    from selfmoa.store.run import open_run

    with open_run(cfg.run.output_dir, cfg.run.name, dump_config(cfg)) as store:
        console.print(f"run folder: {store.root}")
        prev = store.lock.previous if store.lock is not None else {}
        if prev:
            console.print(f"run folder: took over the lock of process {prev.get('pid')} ({prev.get('command')}), "
                          f"which ended without releasing it; resuming", highlight=False)
        yield store

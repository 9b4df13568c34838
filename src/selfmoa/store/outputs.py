"""Checks on the files and folders a command is asked to write, done before any work starts.

- an output that is one of the command's inputs (the same file, or inside an input folder) is refused;
- an existing output is refused unless the user passed ``--overwrite``;
- the folder an output goes into must be creatable and writable.

Every failure is a one-line :class:`~selfmoa.errors.SelfmoaError` naming the option and the path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from selfmoa.errors import SelfmoaError


def _same_or_inside(out: Path, inp: Path) -> bool:
    o, i = os.path.realpath(out), os.path.realpath(inp)
    if o == i:
        return True
    try:
        if out.exists() and inp.exists() and os.path.samefile(out, inp):  # a hard link or another mount of it
            return True
    except OSError:
        pass
    return inp.is_dir() and o.startswith(i.rstrip(os.sep) + os.sep)


def check_dir_creatable(path: Path, what: str) -> None:
    """`path` is a folder, or can be made one: its nearest existing ancestor is a writable folder."""
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.is_symlink():  # a dangling link
            raise SelfmoaError(f"{what}: cannot create {path}: {probe} is a broken symbolic link")
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise SelfmoaError(f"{what}: cannot create {path}: {probe} is a file, not a folder")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise SelfmoaError(f"{what}: cannot create {path}: {probe} is not writable")


def check_output(
    path: Path,
    *,
    option: str = "--out",
    inputs: Iterable[Path | None] = (),
    overwrite: bool = False,
    folder: bool = False,
) -> Path:
    """Validate the output `path` of a command (a file, or a folder when `folder`); returns it unchanged."""
    path = Path(path)
    for inp in inputs:
        if inp is not None and _same_or_inside(path, Path(inp)):
            raise SelfmoaError(f"{option}: {path} is also an input of this command ({inp}); write to another path")
    if path.is_dir() and not folder:
        raise SelfmoaError(f"{option}: {path} is a folder; expected a file path")
    if path.exists() or path.is_symlink():
        if folder and path.is_file():
            raise SelfmoaError(f"{option}: {path} is a file; expected a folder path")
        if not overwrite:
            raise SelfmoaError(f"{option}: {path} already exists; pass --overwrite to replace it, or choose another path")
    check_dir_creatable(path.parent, option)
    return path

"""Atomic file writes: write to a temporary file beside the target, fsync, rename.

A reader sees the old file or the new one, never a half-written one, whatever kills the writer. With
``backup=True`` the file being replaced is kept as ``<name>.bak`` (the run store does this for
``manifest.json`` and ``ledger.json``). A write the filesystem refuses (disk full, read-only, permission)
is a one-line :class:`~selfmoa.errors.SelfmoaError` naming the file, and the target is left as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from selfmoa.errors import SelfmoaError


def write_error(path: Path, exc: OSError) -> SelfmoaError:
    """The one-line error for a write the filesystem refused."""
    return SelfmoaError(f"cannot write {path}: {exc.strerror or exc}; free space or fix permissions, then rerun the same "
                        f"command (nothing was half-written)")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _keep_backup(path: Path) -> None:
    """Keep the current `path` as `path.bak` (atomically: a hard link renamed over the old backup)."""
    if not path.exists():
        return
    bak = path.with_name(path.name + ".bak")
    tmp = path.with_name(f".{path.name}.bak.tmp")
    try:
        if tmp.exists():
            tmp.unlink()
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copy2(path, tmp)
        os.replace(tmp, bak)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_path(path: Path, *, backup: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path` for a writer that takes a file name (safetensors, numpy); on success the
    temporary file is fsynced and renamed over `path`, on any failure it is removed and `path` is untouched."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the result gets the mode a plain open() would give
        os.close(fd)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if backup:
            _keep_backup(path)
        os.replace(tmp, path)
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: Path, text: str, *, backup: bool = False) -> None:
    with atomic_path(path, backup=backup) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)


def atomic_write_json(path: Path, data: Any, *, backup: bool = False) -> None:
    text = json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n"
    atomic_write_text(path, text, backup=backup)


def atomic_write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """One JSON object per line, written atomically (a whole file of results, not an append-only log)."""
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

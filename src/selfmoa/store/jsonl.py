"""Crash-safe JSONL: append whole lines with fsync; on reopen, drop a torn last line and skip duplicate ids.

A write the filesystem refuses (ENOSPC, EIO...) is cut back to the last whole batch before it is reported as a
one-line error, so the file never keeps a torn line or a record the writer believes missing; the rerun resumes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeVar

from selfmoa.errors import SelfmoaError
from selfmoa.records import Record

R = TypeVar("R", bound=Record)


def _repair_tail(path: Path) -> None:
    """Truncate a partially written last line (left by a crash mid-write)."""
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        # walk back to the previous newline
        pos = size - 1
        chunk = 4096
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            buf = fh.read(pos - start)
            idx = buf.rfind(b"\n")
            if idx >= 0:
                fh.truncate(start + idx + 1)
                return
            pos = start
        fh.truncate(0)


def _damaged(path: Path, lineno: int, what: str) -> SelfmoaError:
    return SelfmoaError(f"{path}:{lineno} {what}: the file is damaged; restore it from a copy, or start a new run "
                        f"with another run.name")


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield JSON objects from a JSONL file, ignoring a torn last line."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.endswith(b"\n"):
                return  # torn tail from a crash: not a record
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise _damaged(path, lineno, "is not UTF-8") from None
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                raise _damaged(path, lineno, "is not valid JSON") from None
            if not isinstance(obj, dict):
                raise _damaged(path, lineno, "is not a JSON object")
            yield obj


def read_records(path: Path, cls: type[R]) -> list[R]:
    """Read records of one type, keeping the first occurrence of each id."""
    from pydantic import ValidationError

    seen: set[str] = set()
    out: list[R] = []
    for n, obj in enumerate(read_jsonl(path), 1):
        try:
            rec = cls.model_validate(obj)
        except ValidationError:
            raise SelfmoaError(f"{path}: record {n} is not a valid {cls.__name__}: the file is damaged; restore it "
                               f"from a copy, or start a new run with another run.name") from None
        if rec.id in seen:
            continue
        seen.add(rec.id)
        out.append(rec)
    return out


class JsonlWriter:
    """Appends records to a JSONL file; each `write` call is written and fsynced as one unit."""

    def __init__(self, path: Path):
        from selfmoa.store.atomic import write_error

        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists():
                _repair_tail(self.path)
        except OSError as exc:
            raise write_error(self.path, exc) from None
        self.ids: set[str] = {obj.get("id") for obj in read_jsonl(self.path)}
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise write_error(self.path, exc) from None

    def __contains__(self, record_id: str) -> bool:
        return record_id in self.ids

    def write(self, records: Iterable[Record | dict[str, Any]]) -> int:
        new: set[str] = set()
        lines = []
        for rec in records:
            rid = rec.id if isinstance(rec, Record) else rec.get("id")
            if rid in self.ids or rid in new:
                continue
            new.add(rid)
            lines.append(rec.to_json() if isinstance(rec, Record) else json.dumps(rec, ensure_ascii=False, default=str))
        if lines:
            self._append(("\n".join(lines) + "\n").encode("utf-8"))
            self.ids.update(new)  # only once the lines are on disk
        return len(lines)

    def _append(self, data: bytes) -> None:
        from selfmoa.store.atomic import write_error

        start = os.fstat(self._fd).st_size
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            os.fsync(self._fd)
        except OSError as exc:
            try:  # cut the partial batch off, so the file holds whole records only
                os.ftruncate(self._fd, start)
            except OSError:
                pass  # the torn tail is cut when the file is next opened
            raise write_error(self.path, exc) from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

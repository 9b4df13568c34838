"""One writer per run folder: an OS file lock (``flock``) on ``<run>/run.lock``, held for the life of the process.

The holder writes its pid, command line and start time into the lock file, so a second writer is refused with a
one-line error naming them, and empties the file when it exits normally. The kernel drops the lock when its
process dies, however it dies (SIGKILL included): the next writer takes it over and finds the dead holder's
details still in the file (``RunLock.previous``), which the CLI reports. Read-only commands (``report``,
``export``) never take the lock.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfmoa.errors import SelfmoaError

LOCK_NAME = "run.lock"

_HELD: dict[str, "RunLock"] = {}  # by resolved folder: a process takes each folder's lock once and keeps it


@dataclass
class RunLock:
    root: Path
    fd: int
    previous: dict[str, Any] = field(default_factory=dict)  # what a dead holder left in the file (takeover)
    pid: int = field(default_factory=os.getpid)

    @property
    def path(self) -> Path:
        return self.root / LOCK_NAME


def _holder(fd: int) -> dict[str, Any]:
    try:
        raw = os.pread(fd, 65536, 0)
        return json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (OSError, ValueError):
        return {}


def _describe(holder: dict[str, Any]) -> str:
    pid = holder.get("pid", "?")
    cmd = holder.get("command") or "?"
    since = f", since {holder['started']}" if holder.get("started") else ""
    return f"process {pid} ({cmd}{since})"


def acquire(root: Path, command: list[str] | None = None) -> RunLock:
    """Take the lock of run folder `root` (which must exist) or raise a one-line SelfmoaError naming the holder."""
    from selfmoa.redact import redact_text
    from selfmoa.store.manifest import now_iso

    root = Path(root)
    key = os.path.realpath(root)
    if key in _HELD:
        return _HELD[key]
    path = root / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise SelfmoaError(f"cannot create the run lock {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _holder(fd)
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise SelfmoaError(f"cannot lock the run folder {root}: {exc.strerror or exc}") from None
        raise SelfmoaError(_in_use(root, holder)) from None
    previous = _holder(fd)  # a holder that exited normally emptied the file: this one was killed
    cmd = command if command is not None else ["selfmoa", *sys.argv[1:]]
    me = {"pid": os.getpid(), "command": redact_text(" ".join(map(str, cmd))), "started": now_iso()}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(me) + "\n").encode("utf-8"), 0)
    lock = RunLock(root, fd, previous)
    _HELD[key] = lock
    return lock


def check_free(root: Path) -> None:
    """Raise the same one-line error as :func:`acquire` when another process holds `root`'s lock; changes nothing."""
    path = Path(root) / LOCK_NAME
    if held(root) is not None or not path.is_file():
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return  # acquire() will report it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        holder = _holder(fd)
        raise SelfmoaError(_in_use(Path(root), holder)) from None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _in_use(root: Path, holder: dict[str, Any]) -> str:
    who = _describe(holder) if holder else "another process"
    return f"run folder {root} is in use by {who}; wait for it to finish (or stop it), or choose another run.name"


def held(root: Path) -> RunLock | None:
    """The lock this process holds on `root`, if any."""
    return _HELD.get(os.path.realpath(Path(root)))


def release(root: Path) -> None:
    """Empty the lock file and drop the lock (done for every held lock when the process exits normally)."""
    lock = _HELD.pop(os.path.realpath(Path(root)), None)
    if lock is None:
        return
    try:
        os.ftruncate(lock.fd, 0)
    except OSError:
        pass
    os.close(lock.fd)


@atexit.register
def _release_all() -> None:
    for key in list(_HELD):
        if _HELD[key].pid == os.getpid():  # not in a forked child that inherited the descriptor
            release(Path(key))

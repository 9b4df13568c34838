"""A run folder `<output_dir>/<name>/`.

Layout::

    manifest.json        config, versions, git sha, model and data hashes, seeds, timings (+ manifest.json.bak)
    ledger.json          one entry per stage: status (running/complete), record count, seconds (+ ledger.json.bak)
    run.lock             the writer's lock: pid, command and start of the process writing the folder
    stages/<stage>.jsonl one record per line (stage names may contain '/', e.g. 'iter1/responses')
    artifacts/           checkpoints, plots, reports

Resuming = reopening the same folder with the same config: completed stages are skipped, a running
stage continues and skips the ids it already wrote. A different config never writes into an existing
run folder, and a second process never writes into a folder another one holds (:mod:`selfmoa.store.lock`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

from selfmoa.errors import SelfmoaError
from selfmoa.records import Record, stable_hash
from selfmoa.redact import redact
from selfmoa.store import lock as run_lock
from selfmoa.store.atomic import atomic_write_json
from selfmoa.store.jsonl import JsonlWriter, read_records
from selfmoa.store.manifest import base_manifest, now_iso
from selfmoa.store.outputs import check_dir_creatable

R = TypeVar("R", bound=Record)

# Keys that do not change what a run computes, so they may differ between a run and its resume.
_VOLATILE_KEYS = (("run", "output_dir"), ("generation", "progress"))


def config_fingerprint(config: dict[str, Any]) -> str:
    data = json.loads(json.dumps(config, default=str))
    for section, key in _VOLATILE_KEYS:
        data.get(section, {}).pop(key, None)
    return stable_hash(data)


def read_state(path: Path, required: bool = True) -> dict[str, Any]:
    """manifest.json or ledger.json as a dict, or a one-line error naming the file and how to recover it."""
    if not path.exists():
        if required:
            raise SelfmoaError(f"{path.parent} is not a selfmoa run folder (no {path.name})")
        return {}
    try:
        data: Any = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise SelfmoaError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    ok = isinstance(data, dict) and (path.name != "ledger.json" or all(isinstance(v, dict) for v in data.values()))
    if not ok:
        bak = path.with_name(path.name + ".bak")
        fix = f"restore it from {bak.name} (cp {bak} {path})" if bak.is_file() else "restore it from a copy"
        raise SelfmoaError(f"{path} is damaged (not the JSON selfmoa wrote); {fix}, or start a new run with another "
                           f"run.name")
    return data


class StageHandle:
    """Writes one stage's records; use as a context manager, call `complete()` when the stage is done."""

    def __init__(self, store: "RunStore", name: str):
        self.store = store
        self.name = name
        self.path = store.stage_path(name)
        self.writer = JsonlWriter(self.path)
        self._t0 = time.monotonic()
        store._ledger_update(name, status="running", started=store.ledger.get(name, {}).get("started") or now_iso())

    @property
    def done_ids(self) -> set[str]:
        return self.writer.ids

    def write(self, records) -> int:
        return self.writer.write(records)

    def complete(self, **info: Any) -> None:
        seconds = round(time.monotonic() - self._t0, 3)
        prev = self.store.ledger.get(self.name, {})
        total = round(prev.get("seconds", 0.0) + seconds, 3)
        self.store._ledger_update(
            self.name, status="complete", finished=now_iso(), records=len(self.writer.ids), seconds=total, info=info
        )
        self.store.update_manifest(timings={**self.store.manifest.get("timings", {}), self.name: total})

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> "StageHandle":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        prev = self.store.ledger.get(self.name, {})
        if prev.get("status") == "running":
            # keep "running" so a rerun resumes; add the time spent
            self.store._ledger_update(self.name, seconds=round(prev.get("seconds", 0.0) + time.monotonic() - self._t0, 3))
        self.close()


class RunStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.manifest_path = self.root / "manifest.json"
        self.ledger_path = self.root / "ledger.json"
        self.manifest: dict[str, Any] = read_state(self.manifest_path)
        self.ledger: dict[str, dict[str, Any]] = read_state(self.ledger_path, required=False)
        self.lock: run_lock.RunLock | None = None  # held while this process writes the folder
        self.created: list[Path] = []  # folders this process made for the run (removed again by discard_if_unused)

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    def check(cls, output_dir: Path, name: str, config: dict[str, Any]) -> None:
        """Everything :meth:`create_or_resume` would refuse, checked without creating or locking anything: a folder
        made with another config, a damaged manifest or ledger, a folder in use, an output dir that cannot be made."""
        cls._check_reusable(Path(output_dir) / name, config_fingerprint(config), probe_lock=True)

    @staticmethod
    def _check_reusable(root: Path, fp: str, probe_lock: bool = False) -> None:
        """Raise unless `root` is absent, empty, or a readable run folder made with this config. Reads only."""
        if root.exists() and not root.is_dir():
            raise SelfmoaError(f"run folder {root} is a file; choose another run.name or run.output_dir")
        if not root.exists():
            check_dir_creatable(root, "run.output_dir")
            return
        manifest = root / "manifest.json"
        if manifest.exists():
            old = read_state(manifest)
            if old.get("config_hash") != fp:
                raise SelfmoaError(
                    f"run folder {root} was made with a different config (hash {old.get('config_hash')} vs {fp}); "
                    f"choose another run.name (--set run.name=...) or delete the folder"
                )
            read_state(root / "ledger.json", required=False)
            if probe_lock:
                run_lock.check_free(root)
        elif any(p.name != run_lock.LOCK_NAME for p in root.iterdir()):
            raise SelfmoaError(f"{root} exists and is not a selfmoa run folder (no manifest.json); choose another run.name")

    @classmethod
    def create_or_resume(
        cls, output_dir: Path, name: str, config: dict[str, Any], command: list[str] | None = None
    ) -> "RunStore":
        """Create `output_dir/name`, or reopen it when it was made with the same config; hold its lock.

        Call this only after all inputs are validated, so a bad input never leaves a half-written folder; use
        :func:`open_run` to also remove a new folder again when the command fails before its first stage.
        """
        root = Path(output_dir) / name
        fp = config_fingerprint(config)
        cls._check_reusable(root, fp)  # before anything is created or locked
        created = _make_dirs(root)
        lock = None
        was_held = run_lock.held(root) is not None
        try:
            lock = run_lock.acquire(root, command)
            cls._check_reusable(root, fp)  # again under the lock: another process may have written it meanwhile
            manifest_path = root / "manifest.json"
            if manifest_path.exists():
                store = cls(root)
                store.lock = lock
                store.update_manifest(resumed=[*store.manifest.get("resumed", []), now_iso()])
            else:
                (root / "stages").mkdir(exist_ok=True)
                atomic_write_json(manifest_path, redact(base_manifest(config, fp, command)))
                store = cls(root)
        except BaseException:
            if lock is not None and not was_held:  # ours, so nobody else is in there
                run_lock.release(root)
                _remove_dirs(created)
            raise
        store.lock = lock
        store.created = created
        return store

    def discard_if_unused(self) -> bool:
        """Remove the folder again when this process created it and no stage ever started (a failed start)."""
        if not self.created or self.ledger:
            return False
        run_lock.release(self.root)
        _remove_dirs(self.created)
        return True

    @classmethod
    def open(cls, root: Path) -> "RunStore":
        """Open a run folder to read it (no lock: `report` and `export` may read while a run writes)."""
        root = Path(root)
        if not (root / "manifest.json").exists():
            raise SelfmoaError(f"{root} is not a selfmoa run folder (no manifest.json)")
        return cls(root)

    # ---- manifest and ledger -------------------------------------------------------------
    def update_manifest(self, **fields: Any) -> None:
        self.manifest.update(fields)
        atomic_write_json(self.manifest_path, redact(self.manifest), backup=True)

    def record_model(self, role: str, info: dict[str, Any]) -> None:
        self.update_manifest(models={**self.manifest.get("models", {}), role: info})

    def record_data(self, name: str, info: dict[str, Any]) -> None:
        self.update_manifest(data={**self.manifest.get("data", {}), name: info})

    def _ledger_update(self, stage: str, **fields: Any) -> None:
        entry = dict(self.ledger.get(stage, {}))
        entry.update(fields)
        self.ledger[stage] = entry
        atomic_write_json(self.ledger_path, redact(self.ledger), backup=True)

    def is_complete(self, stage: str) -> bool:
        return self.ledger.get(stage, {}).get("status") == "complete"

    # ---- stages ----------------------------------------------------------------------------
    def stage_path(self, stage: str) -> Path:
        if not stage or stage.startswith("/") or ".." in stage.split("/"):
            raise ValueError(f"bad stage name {stage!r}")
        return self.root / "stages" / f"{stage}.jsonl"

    def stage(self, name: str) -> StageHandle:
        return StageHandle(self, name)

    def resumable(self, name: str, cls: type[R], fill: Callable[[StageHandle], dict[str, Any] | None]) -> list[R]:
        """The records of stage `name`: read back when it is complete; otherwise ``fill(handle)`` writes them (on a
        resume, skipping ``handle.done_ids``) and returns the ledger info, and the stage is marked complete."""
        if not self.is_complete(name):
            with self.stage(name) as h:
                h.complete(**(fill(h) or {}))
        return self.read(name, cls)

    def once(self, name: str, cls: type[R], build: Callable[[], Sequence[R] | tuple[Sequence[R], dict[str, Any]]]) -> list[R]:
        """The records of stage `name`: read back when it is complete; otherwise ``build()`` makes them (or them and
        the ledger info) in one go, and they are written and marked complete."""

        def fill(h: StageHandle) -> dict[str, Any]:
            made = build()
            records, info = made if isinstance(made, tuple) else (made, {})
            h.write(records)
            return info

        return self.resumable(name, cls, fill)

    def read(self, stage: str, cls: type[R]) -> list[R]:
        return read_records(self.stage_path(stage), cls)

    def artifact_dir(self, *parts: str) -> Path:
        path = self.root.joinpath("artifacts", *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path


def _make_dirs(root: Path) -> list[Path]:
    """Create `root` and its missing parents; return the folders created, outermost first."""
    missing = []
    p = root
    while not p.exists() and p.parent != p:
        missing.append(p)
        p = p.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SelfmoaError(f"run.output_dir: cannot create {root}: {exc.strerror or exc}") from None
    return missing[::-1]


def _remove_dirs(created: list[Path]) -> None:
    """Remove the run folder (the last of `created`) and the parents made for it, if nothing else went into them."""
    if not created:
        return
    shutil.rmtree(created[-1], ignore_errors=True)
    for d in reversed(created[:-1]):
        try:
            os.rmdir(d)
        except OSError:
            break


@contextmanager
def open_run(output_dir: Path, name: str, config: dict[str, Any], command: list[str] | None = None) -> Iterator[RunStore]:
    """:meth:`RunStore.create_or_resume`, and if the block fails before any stage started in a folder it created,
    remove that folder again: a failed start leaves nothing behind (and the corrected rerun starts clean)."""
    store = RunStore.create_or_resume(output_dir, name, config, command)
    try:
        yield store
    except BaseException:
        store.discard_if_unused()
        raise

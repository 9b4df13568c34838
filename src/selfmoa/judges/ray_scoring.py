"""Judging sharded over Ray actors (optional extra ``selfmoa[ray]``).

Each of `num_workers` actors builds the same judges (``make_judge`` on the same specs, so the same
fingerprints and versions) and scores batches of items; Ray's :class:`ray.util.ActorPool` hands each
batch to a free actor and returns results in input order. On the driver, every judge is represented by a
:class:`RayJudge` stand-in (same id, version, objectives and fingerprint) that goes through the single-process
path, :func:`selfmoa.judges.scoring.judge_items`: the judge cache is read and written on the driver, and
records, ids, flags and statistics are built by the same code, so the output is the same as without Ray.

    from selfmoa.judges.ray_scoring import judge_items_ray
    records, stats, per_judge = judge_items_ray(["refusal-patterns"], items, num_workers=4)

CLI: ``selfmoa judge score answers.jsonl -j refusal-classifier -o out.jsonl --ray-workers 4``.
"""

from __future__ import annotations

from typing import Any, Sequence

from selfmoa.distributed.ray_pool import check_fits, ensure_ray, env_threads, kill_actors, make_actors, pool_map
from selfmoa.judges.base import ItemResults, JudgeItem
from selfmoa.judges.cache import JudgeCache
from selfmoa.judges.scoring import ScoreStats, judge_items
from selfmoa.records import Judgment

FEATURE = "judging on Ray (--ray-workers)"


def _spec_payload(spec: Any) -> Any:
    """A judge spec as plain data for the actors: a name, or a JudgeSpec as a dict."""
    if isinstance(spec, str):
        return spec
    if hasattr(spec, "model_dump"):
        return {"__judge_spec__": spec.model_dump(mode="json")}
    raise TypeError(f"judge spec must be a name or a JudgeSpec, got {type(spec).__name__}")


def _build_judge(payload: Any, overrides: dict):
    from selfmoa.judges import make_judge

    if isinstance(payload, dict) and "__judge_spec__" in payload:
        from selfmoa.config.judges import JudgeSpec

        payload = JudgeSpec(**payload["__judge_spec__"])
    return make_judge(payload, **overrides)


class JudgeWorker:
    """One Ray actor holding one instance of every requested judge."""

    def __init__(self, specs: list, overrides: dict):
        env_threads()
        self.judges = {}
        for s in specs:
            j = _build_judge(s, overrides)
            self.judges[j.id] = j

    def info(self) -> list[dict]:
        return [{"id": j.id, "name": j.name, "version": j.version, "objectives": tuple(j.objectives),
                 "fingerprint": j.fingerprint()} for j in self.judges.values()]

    def score(self, judge_id: str, items: list[JudgeItem]) -> list[ItemResults]:
        return self.judges[judge_id].score(items)


class RayJudge:
    """Driver-side stand-in for a judge whose copies run on Ray actors: ``score`` splits the items into batches
    of `batch_size` and maps them over the actors (results in input order)."""

    def __init__(self, ray, actors: list, info: dict, batch_size: int):
        self._ray, self._actors, self.batch_size = ray, actors, batch_size
        self.id, self.name, self.version = info["id"], info["name"], info["version"]
        self.objectives = tuple(info["objectives"])
        self._fingerprint = info["fingerprint"]

    def fingerprint(self) -> str:
        return self._fingerprint

    def score(self, items: Sequence[JudgeItem]) -> list[ItemResults]:
        items = list(items)
        chunks = [(self.id, items[s : s + self.batch_size]) for s in range(0, len(items), self.batch_size)]
        out: list[ItemResults] = []
        for res in pool_map(self._ray, self._actors, "score", chunks, ordered=True):
            out.extend(res)
        return out


class RayJudgePool:
    """`num_workers` actors holding the judges of `specs`; use as a context manager (actors stop on exit).

    ``pool.judges`` are the :class:`RayJudge` stand-ins, in spec order."""

    def __init__(self, specs: Sequence[Any], num_workers: int, *, overrides: dict | None = None, batch_size: int = 64,
                 address: str | None = None, num_cpus_per_worker: float = 1.0, num_gpus_per_worker: float = 0.0):
        if num_workers < 1:
            raise ValueError("num_workers must be >= 1")
        self.ray = ensure_ray(FEATURE, address)
        if not address:
            check_fits(self.ray, FEATURE, num_workers, num_cpus_per_worker, num_gpus_per_worker)
        payload = [_spec_payload(s) for s in specs]
        self.actors = make_actors(self.ray, JudgeWorker, num_workers, (payload, dict(overrides or {})),
                                  num_cpus=num_cpus_per_worker, num_gpus=num_gpus_per_worker)
        infos = self.ray.get([a.info.remote() for a in self.actors])
        if any(i != infos[0] for i in infos[1:]):  # pragma: no cover - same code and files everywhere
            raise RuntimeError(f"ray judge workers disagree on judge fingerprints: {infos}")
        self.judges = [RayJudge(self.ray, self.actors, info, batch_size) for info in infos[0]]

    def close(self) -> None:
        kill_actors(self.ray, self.actors)
        self.actors = []

    def __enter__(self) -> "RayJudgePool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def judge_items_ray(specs: Sequence[Any], items: Sequence[JudgeItem], *, num_workers: int, cache: JudgeCache | None = None,
                    batch_size: int = 64, overrides: dict | None = None, address: str | None = None,
                    num_cpus_per_worker: float = 1.0, num_gpus_per_worker: float = 0.0,
                    ) -> tuple[list[Judgment], ScoreStats, dict[str, list[ItemResults]]]:
    """:func:`selfmoa.judges.scoring.judge_items` with the scoring spread over `num_workers` Ray actors.

    `specs` are judge names or :class:`~selfmoa.config.judges.JudgeSpec` values; `overrides` are keyword
    parameters applied to every judge (as ``make_judge(spec, **overrides)``). Same return value as ``judge_items``.
    """
    with RayJudgePool(specs, num_workers, overrides=overrides, batch_size=batch_size, address=address,
                      num_cpus_per_worker=num_cpus_per_worker, num_gpus_per_worker=num_gpus_per_worker) as pool:
        # the cache is written after every round of `rounds` batches per actor (bounded loss on a crash)
        per_round = batch_size * num_workers * 4
        return judge_items(pool.judges, items, cache=cache, batch_size=per_round)  # type: ignore[arg-type]

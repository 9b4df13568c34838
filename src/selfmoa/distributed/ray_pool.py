"""Ray plumbing shared by the ray generation backend and Ray judging: connect (or start a local cluster),
create N actors with their resources, and map work over them with Ray's own :class:`ray.util.ActorPool`.

Scheduling is Ray's: work goes to whichever actor is free (``ActorPool.map`` keeps input order,
``map_unordered`` yields as results arrive). No scheduler of our own.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Callable, Iterable, Iterator, Sequence

from selfmoa.errors import MissingExtraError, SelfmoaError


def check_ray(feature: str) -> None:
    """Fail early, without importing ray, when it is not installed; the message names the extra."""
    if importlib.util.find_spec("ray") is None:
        raise MissingExtraError(feature, "ray", "ray")


def require_ray(feature: str):
    check_ray(feature)
    import ray

    return ray


def ensure_ray(feature: str, address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """Return the `ray` module, connected: an existing ``ray.init`` in this process is reused; else connect
    to `address` (``"auto"`` or ``ray://host:10001``) or ``$RAY_ADDRESS``, or start a local cluster (all CPUs)."""
    ray = require_ray(feature)
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = dict(include_dashboard=False, logging_level="warning", configure_logging=True)
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        kwargs["address"] = address
    elif num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        raise SelfmoaError(f"{feature}: cannot connect to the Ray cluster at '{address}': {exc}") from None
    return ray


def check_fits(ray, feature: str, n: int, num_cpus: float, num_gpus: float) -> None:
    """On a fixed-size cluster (local, started here or by ``ray.init``), `n` actors that can never all be placed
    would wait forever: say so instead. Skipped when joining a cluster by address (it may autoscale)."""
    if os.environ.get("RAY_ADDRESS"):
        return
    total = ray.cluster_resources()
    for kind, each in (("CPU", num_cpus), ("GPU", num_gpus)):
        have = float(total.get(kind, 0.0))
        if each > 0 and n * each > have + 1e-9:
            raise SelfmoaError(
                f"{feature}: {n} workers x {each:g} {kind} need {n * each:g} {kind}s but the Ray cluster has {have:g}; "
                f"use fewer workers or fewer {kind}s per worker"
            )


def make_actors(ray, cls: type, n: int, args: Sequence[Any] = (), *, num_cpus: float = 1.0, num_gpus: float = 0.0,
                env: dict[str, str] | None = None) -> list:
    """Start `n` actors of `cls` (a plain class; wrapped with ``ray.remote`` here) with per-actor resources.

    Each actor's torch uses as many threads as CPUs it asked for (at least one)."""
    threads = str(max(1, int(num_cpus)))
    runtime_env = {"env_vars": {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "false",
                                **(env or {})}}
    remote = ray.remote(cls).options(num_cpus=num_cpus, num_gpus=num_gpus, runtime_env=runtime_env)
    return [remote.remote(*args) for _ in range(n)]


def pool_map(ray, actors: list, method: str, chunks: Iterable[tuple], *, ordered: bool = True) -> Iterator[Any]:
    """Call ``actor.<method>(*chunk)`` for every chunk on whichever actor is free (Ray's ActorPool)."""
    from ray.util import ActorPool

    pool = ActorPool(actors)
    fn: Callable = lambda a, c: getattr(a, method).remote(*c)  # noqa: E731
    return pool.map(fn, chunks) if ordered else pool.map_unordered(fn, chunks)


def kill_actors(ray, actors: list) -> None:
    for a in actors:
        try:
            ray.kill(a)
        except Exception:  # noqa: BLE001 - an actor that is already gone is fine
            pass


def env_threads() -> None:
    """Inside an actor: make torch use the thread count Ray's runtime_env set."""
    n = os.environ.get("OMP_NUM_THREADS")
    if n and n.isdigit():
        try:
            import torch

            torch.set_num_threads(int(n))
        except ImportError:  # pragma: no cover
            pass

"""Generation sharded over Ray actors (optional extra ``selfmoa[ray]``): ``generation.backend: ray``.

Each of ``generation.ray.num_workers`` actors holds one engine (``generation.ray.backend``: ``hf`` by default,
or ``vllm`` on GPU nodes) built from the same model and generation config as the single-process backend.
Requests are cut into tasks of ``generation.ray.chunk_size`` prompts (default ``generation.batch_size``);
Ray's :class:`ray.util.ActorPool` hands each task to a free actor. What comes back is what the inner
backend returns for those requests, so records are the same as with ``hf``: one `Completion` per
(request, sample), ``sample_index`` 0..n-1, the list in request order, and sampled rows seeded from
(seed, request id, sample index) independently of which actor or batch produced them.
`on_batch` is called on the driver with each finished task, so the run folder is written as results arrive
and a resumed run skips what was saved.

A ray generator that starts its actors supersedes the others built from an equal generation config (e.g. the
loop's policy i-1 once policy i is trained): their actors are released so the cluster has room for the new
model; a superseded generator that is used again starts its actors anew (and supersedes the newer one).
"""

from __future__ import annotations

import weakref

from selfmoa.config.generation import GenerationConfig, SamplingConfig
from selfmoa.config.models import ModelConfig
from selfmoa.distributed.ray_pool import check_fits, ensure_ray, env_threads, kill_actors, make_actors, pool_map
from selfmoa.generation.base import BaseGenerator, Completion, GenerationRequest, get_backend, register_backend

FEATURE = "generation.backend=ray"


class GenerationWorker:
    """One Ray actor: a single-process generator (hf or vllm) for one model."""

    def __init__(self, inner: str, model_config: ModelConfig, gen_config: GenerationConfig):
        env_threads()
        self.gen = get_backend(inner)(model_config, gen_config)

    def info(self) -> dict:
        return {"policy_id": self.gen.policy_id, "model_info": dict(getattr(self.gen, "model_info", {}) or {})}

    def generate(self, task: int, requests: list[GenerationRequest], sampling: SamplingConfig) -> tuple[int, list[Completion]]:
        return task, self.gen.generate(requests, sampling)


_LIVE: "weakref.WeakSet[RayGenerator]" = weakref.WeakSet()


@register_backend("ray", requires={"ray": "ray"})
class RayGenerator(BaseGenerator):
    name = "ray"

    def __init__(self, model_config: ModelConfig, gen_config: GenerationConfig):
        self.model_config = model_config
        self.gen_config = gen_config
        self.rcfg = gen_config.ray
        self.ray = ensure_ray(FEATURE, self.rcfg.address)
        if not self.rcfg.address:
            check_fits(self.ray, "generation.ray.num_workers", self.rcfg.num_workers, self.rcfg.num_cpus_per_worker,
                       self.rcfg.num_gpus_per_worker)
        self._actors: list = []
        _LIVE.add(self)
        info = self._start()
        self.policy_id = info["policy_id"]
        self.model_info = {**info["model_info"], "backend": "ray", "inner_backend": self.rcfg.backend,
                           "ray_workers": self.rcfg.num_workers}

    def _start(self) -> dict:
        for other in list(_LIVE):  # superseded: release their actors so this model fits on the cluster
            if other is not self and other.gen_config == self.gen_config:
                other.release()
        inner_cfg = self.gen_config.model_copy(update={"backend": self.rcfg.backend, "progress": False})
        self._actors = make_actors(
            self.ray, GenerationWorker, self.rcfg.num_workers, (self.rcfg.backend, self.model_config, inner_cfg),
            num_cpus=self.rcfg.num_cpus_per_worker, num_gpus=self.rcfg.num_gpus_per_worker,
        )
        infos = self.ray.get([a.info.remote() for a in self._actors])
        ids = {i["policy_id"] for i in infos}
        if len(ids) != 1:  # pragma: no cover - same config everywhere; a mixed cluster would show here
            raise RuntimeError(f"ray workers loaded different policies: {sorted(ids)}")
        return infos[0]

    def release(self) -> None:
        """Stop this generator's actors (they restart on the next generate call)."""
        if self._actors:
            kill_actors(self.ray, self._actors)
        self._actors = []

    close = release

    def _generate(self, requests: list[GenerationRequest], sampling: SamplingConfig, on_batch) -> list[Completion]:
        from selfmoa.progress import progress_bar

        if not self._actors:
            info = self._start()
            if info["policy_id"] != self.policy_id:  # pragma: no cover - the model changed on disk meanwhile
                raise RuntimeError(f"ray generator restarted with {info['policy_id']}, expected {self.policy_id}")
        size = self.rcfg.chunk_size or self.gen_config.batch_size
        tasks = [(k, requests[s : s + size], sampling) for k, s in enumerate(range(0, len(requests), size))]
        done: dict[int, list[Completion]] = {}
        show = self.gen_config.progress and len(tasks) > 1
        with progress_bar(show, f"generating on {len(self._actors)} ray workers ({self.policy_id})",
                          len(requests) * sampling.n) as bar:
            for task, completions in pool_map(self.ray, self._actors, "generate", tasks, ordered=False):
                done[task] = completions
                if on_batch is not None:
                    on_batch(completions)
                if bar is not None:
                    bar.advance(bar.task_ids[0], len(completions))
        return [c for k in range(len(tasks)) for c in done[k]]

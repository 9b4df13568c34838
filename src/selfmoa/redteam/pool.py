"""The seed pool a red-team round draws from, decontaminated against every held-out evaluation set."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from selfmoa.config.data import DataConfig
from selfmoa.errors import SelfmoaError
from selfmoa.records import Seed, stable_hash


@dataclass
class SeedPool:
    harmful: list[Seed]
    benign: list[Seed]
    templates: list[str] = field(default_factory=list)  # jailbreak templates with {{REQUEST}}
    removed: int = 0  # seeds dropped by decontamination
    sources: list[str] = field(default_factory=list)


def load_seed_pool(specs: list[str], data_cfg: DataConfig | None = None) -> SeedPool:
    """Seeds from every spec. ``redteam-pool`` is :func:`selfmoa.data.splits.redteam_pool`; other specs go through
    :func:`selfmoa.data.prompts.load_seed_set` and are then decontaminated against the evaluation sets too."""
    from selfmoa.data.prompts import load_seed_set
    from selfmoa.data.splits import all_eval_seeds, decontaminate, normalize_text, redteam_pool

    data_cfg = data_cfg or DataConfig()
    if not specs:
        raise SelfmoaError("redteam.seeds is empty; expected e.g. ['redteam-pool'] or ['builtin:demo-harmful:train']")
    harmful: list[Seed] = []
    benign: list[Seed] = []
    templates: list[str] = []
    sources: list[str] = []
    removed = 0
    other: list[Seed] = []
    for spec in specs:
        if spec == "redteam-pool":
            pool = redteam_pool(data_cfg.dir, allow_hub=False)
            harmful += pool.harmful
            benign += pool.benign
            templates += [t.template for t in pool.templates]
            removed += len(pool.removed)
            sources += pool.sources
        else:
            other += load_seed_set(spec, data_cfg)
            sources.append(spec)
    if other:
        kept, dropped = decontaminate(other, all_eval_seeds(data_cfg.dir))
        removed += len(dropped)
        harmful += [s for s in kept if s.kind in ("harmful", "borderline")]
        benign += [s for s in kept if s.kind == "benign"]
    seen: set[str] = set()

    def unique(seeds: list[Seed]) -> list[Seed]:
        out = []
        for s in seeds:
            k = normalize_text(s.text)
            if k and k not in seen:
                seen.add(k)
                out.append(s)
        return out

    return SeedPool(unique(harmful), unique(benign), templates, removed, sources)


def spread_by_category(seeds: list[Seed], limit: int | None, seed: int = 0) -> list[Seed]:
    """A seeded shuffle interleaved over categories (round-robin), cut at `limit`."""
    rng = random.Random(stable_hash("seeds", seed))
    by_cat: dict[str, list[Seed]] = defaultdict(list)
    for s in seeds:
        by_cat[s.category].append(s)
    for v in by_cat.values():
        rng.shuffle(v)
    out: list[Seed] = []
    cats = sorted(by_cat)
    i = 0
    while any(by_cat.values()) and (limit is None or len(out) < limit):
        c = cats[i % len(cats)]
        if by_cat[c]:
            out.append(by_cat[c].pop())
        i += 1
    return out


def steer_by_weights(seeds: list[Seed], limit: int | None, weights: dict[str, float], seed: int = 0) -> list[Seed]:
    """Like :func:`spread_by_category`, but each category's share of the `limit` seeds follows `weights` (largest
    remainder; a category absent from `weights` weighs 1), so the archive decides where the next round searches."""
    by_cat: dict[str, list[Seed]] = defaultdict(list)
    for s in spread_by_category(seeds, None, seed):
        by_cat[s.category].append(s)
    cats = sorted(by_cat)
    n = len(seeds) if limit is None else min(limit, len(seeds))
    w = {c: max(float(weights.get(c, 1.0)), 0.0) for c in cats}
    total = sum(w.values()) or 1.0
    quota = {c: min(len(by_cat[c]), int(n * w[c] / total)) for c in cats}
    rest = sorted(cats, key=lambda c: (-(n * w[c] / total - int(n * w[c] / total)), c))
    while sum(quota.values()) < n:
        grew = False
        for c in rest:
            if sum(quota.values()) < n and quota[c] < len(by_cat[c]):
                quota[c] += 1
                grew = True
        if not grew:
            break
    out: list[Seed] = []
    i = 0
    while len(out) < sum(quota.values()):  # interleave, so a cut keeps the mix
        for c in cats:
            if i < quota[c]:
                out.append(by_cat[c][i])
        i += 1
    return out

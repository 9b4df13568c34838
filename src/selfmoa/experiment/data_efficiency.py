"""The data-efficiency experiment: from one starting model, the same trainer (``train.*``: method, loss, LoRA, epochs,
so the same steps per pair) on N pairs of each source, for a ladder of N, every trained policy evaluated with the
same held-out suites and judges (``eval.*``).

Sources (``experiment.data_efficiency.sources``): ``self`` (the pairs a loop run built, every iteration),
``hh-rlhf`` (HH-RLHF harmless from the data directory: the human-supervised baseline) and ``pairs:FILE`` (any
TRL-format JSONL of prompt, chosen, rejected). Each cell of the grid (source, N, seed) is a set of resumable stages
of the experiment's run folder (:mod:`selfmoa.stages.catalogue`)::

    exp/base/eval/*              the starting model
    exp/SOURCE/nN/sSEED/rows     the N pairs (a seeded subsample of the source)
    exp/SOURCE/nN/sSEED/train    the policy trained on them (artifacts/exp/SOURCE/nN/sSEED/train/policy)
    exp/SOURCE/nN/sSEED/eval/*   that policy on the held-out sets

:mod:`selfmoa.experiment.summary` turns the cells into the table, the plot and the pairs each source needs.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from selfmoa.config.root import SelfmoaConfig
from selfmoa.errors import SelfmoaError
from selfmoa.records import PreferenceRow
from selfmoa.stages import catalogue as names
from selfmoa.store.run import RunStore

DEFAULT_SIZES = (16, 32, 64, 128, 256, 512)
Log = Callable[[str], None]


@dataclass(frozen=True)
class Cell:
    source: str  # the source's short name (self, hh-rlhf, or the file stem of pairs:FILE)
    n: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.source}/n{self.n}/s{self.seed}"


def source_name(spec: str) -> str:
    return Path(spec[len("pairs:"):]).stem if spec.startswith("pairs:") else spec


def self_rows(run_dir: Path) -> list[dict]:
    """Every pair a loop run built (all iterations), as training rows."""
    from selfmoa.records import Pair, Prompt, Response
    from selfmoa.train.data import pairs_to_rows

    store = RunStore.open(Path(run_dir))
    rows: list[dict] = []
    iterations = sorted(int(k.split("/")[0][4:]) for k, v in store.ledger.items()
                        if k.startswith("iter") and k.endswith("/pairs") and v.get("status") == "complete")
    for i in iterations:
        rows += pairs_to_rows(store.read(names.loop(i, "pairs"), Pair), store.read(names.loop(i, "samples"), Response),
                              store.read(names.loop(i, "prompts"), Prompt))
    if not rows:
        raise SelfmoaError(f"experiment.data_efficiency.run: {run_dir} has no complete pairs stage (iter<i>/pairs); "
                           "run the loop (selfmoa run) up to its pairs first")
    return rows


def load_source(spec: str, cfg: SelfmoaConfig) -> list[dict]:
    """The rows of one source, validated (a file that is not pairs is a one-line error)."""
    from selfmoa.train.data import hh_rlhf_rows, read_pairs_file

    de = cfg.experiment.data_efficiency
    if spec == "self":
        if not de.run:
            raise SelfmoaError("experiment.data_efficiency.run: the 'self' source needs a loop run folder (--run DIR)")
        if not (Path(de.run) / "manifest.json").is_file():
            raise SelfmoaError(f"experiment.data_efficiency.run: {de.run} is not a selfmoa run folder (no manifest.json)")
        return self_rows(Path(de.run))
    if spec == "hh-rlhf":
        return hh_rlhf_rows(cfg.data.dir)
    path = Path(spec[len("pairs:"):])
    if not path.is_file():
        raise SelfmoaError(f"experiment.data_efficiency.sources: {path} is not a file (pairs:FILE names a JSONL of "
                           "prompt, chosen, rejected)")
    return read_pairs_file(path)


def subsample(rows: list[dict], n: int, seed: int) -> list[dict]:
    """A seeded subsample of `n` rows, nested in the larger subsamples of the same seed (the first n of one order)."""
    order = sorted(rows, key=lambda r: str(r["pair_id"]))
    random.Random(f"data-efficiency:{seed}").shuffle(order)
    return order[:n]


def plan_grid(cfg: SelfmoaConfig, counts: dict[str, int]) -> list[Cell]:
    """The cells: every size of the ladder for every source (``seeds`` subsamples up to ``multi_seed_max``)."""
    de = cfg.experiment.data_efficiency
    if len(de.sources) < 2:
        raise SelfmoaError(f"experiment.data_efficiency.sources: expected at least two sources to compare, got "
                           f"{de.sources} (add --pairs FILE, or hh-rlhf with a data directory)")
    cells = []
    for spec in de.sources:
        name, have = source_name(spec), counts[spec]
        if de.sizes is not None:
            too_big = [n for n in de.sizes if n > have]
            if too_big:
                raise SelfmoaError(f"experiment.data_efficiency.sizes: {too_big[0]} pairs asked for but source '{spec}' "
                                   f"holds {have}; use sizes up to {have} or null (the ladder capped per source)")
            sizes = de.sizes
        else:
            sizes = [n for n in DEFAULT_SIZES if n <= have] or [have]
        for n in sizes:
            for seed in range(de.seeds if n <= de.multi_seed_max else 1):
                cells.append(Cell(name, n, cfg.run.seed + seed))
    return cells


def train_cell(store: RunStore, cfg: SelfmoaConfig, cell: Cell, rows: list[PreferenceRow], log: Log):
    """Train the starting model on the cell's rows (resumable); returns the trained policy's ModelConfig."""
    from selfmoa.models.loader import clear_model_cache
    from selfmoa.train.runner import TrainResult, _with_system_prompt, load_for_training, train_on_rows

    stage = names.experiment(cell.name, "train")
    out_dir = store.artifact_dir(*stage.split("/"))
    if store.is_complete(stage):
        res = TrainResult.load(out_dir / "result.json")
    else:
        clear_model_cache()
        t = cfg.train.model_copy(update={"seed": cell.seed, "eval_fraction": 0.0})  # every one of the N pairs trains
        with store.stage(stage) as h:
            lm, tok, device = load_for_training(cfg.model)
            data = _with_system_prompt([r.to_row() for r in rows], cfg.model.system_prompt)
            res = train_on_rows(lm, tok, data, t, out_dir, device=device)
            del lm
            h.complete(policy_dir=res.policy_dir, n_train=res.n_train, seconds=res.seconds)
        clear_model_cache()
    return res.policy_model(cfg.model, "the experiment evaluates a loadable policy per cell")


def run_data_efficiency(cfg: SelfmoaConfig, store: RunStore, log: Log = print) -> list[Cell]:
    """Run every cell (skipping those already complete) and write the summary; returns the cells."""
    from selfmoa.experiment.cells import evaluate_policy, evaluate_start
    from selfmoa.experiment.summary import write_summary

    de = cfg.experiment.data_efficiency
    sources = {spec: load_source(spec, cfg) for spec in de.sources}
    counts = {spec: len(rows) for spec, rows in sources.items()}
    cells = plan_grid(cfg, counts)
    store.record_data("data_efficiency", {"sources": counts, "cells": len(cells)})
    log(f"data efficiency: {len(cells)} cells over {', '.join(f'{s} ({n} pairs)' for s, n in counts.items())}")
    t0 = time.monotonic()
    plan = evaluate_start(store, cfg, log)
    by_name = {source_name(s): s for s in de.sources}
    for k, cell in enumerate(cells, 1):
        rows = store.once(names.experiment(cell.name, "rows"), PreferenceRow, lambda: [
            PreferenceRow.from_row(r, cell.source) for r in subsample(sources[by_name[cell.source]], cell.n, cell.seed)])
        log(f"cell {k}/{len(cells)} {cell.name}: train on {len(rows)} pairs, evaluate ({time.monotonic() - t0:.0f} s)")
        evaluate_policy(store, cfg, train_cell(store, cfg, cell, rows, log), plan, cell.name, log)
    write_summary(store, cfg, cells)
    return cells

"""What every experiment grid shares: the starting model's evaluation, one trained policy's evaluation, and writing
the summary, table and plot into ``artifacts/<name>/``."""

from __future__ import annotations

from typing import Any, Callable

from selfmoa.config.root import SelfmoaConfig
from selfmoa.store.run import RunStore

Log = Callable[[str], None]
BASE = "base"


def evaluate_start(store: RunStore, cfg: SelfmoaConfig, log: Log):
    """Evaluate the config's starting model once (cell ``base``); returns the evaluation plan every cell reuses."""
    from selfmoa.eval.suite import plan_eval, run_eval
    from selfmoa.generation import make_generator

    plan = plan_eval(cfg)
    base = make_generator(cfg)
    store.record_model("policy@start", getattr(base, "model_info", {"spec": cfg.model.name_or_path}))
    run_eval(store, cfg, base, 0, plan=plan, log=log, at=BASE)
    return plan


def evaluate_policy(store: RunStore, cfg: SelfmoaConfig, policy, plan, at: str, log: Log) -> None:
    """Evaluate one cell's trained policy (a model config) with the same plan and judges, paired with ``base``."""
    from selfmoa.eval.suite import run_eval
    from selfmoa.generation import make_generator
    from selfmoa.models.loader import clear_model_cache

    gen = make_generator(cfg, model_config=policy)
    run_eval(store, cfg, gen, 1, plan=plan, log=log, at=at, start_at=BASE)
    del gen
    clear_model_cache()


def write_outputs(store: RunStore, name: str, summary: dict[str, Any], table: str, fig, plot_file: str) -> None:
    """``artifacts/<name>/{summary.json, table.md, <plot_file>}``, each written atomically."""
    import matplotlib.pyplot as plt

    from selfmoa.store.atomic import atomic_write_json, atomic_write_text

    out = store.artifact_dir(name)
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "table.md", table)
    fig.savefig(out / plot_file, dpi=120)
    plt.close(fig)

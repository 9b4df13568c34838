"""Input checks a command runs before its run folder exists, so bad input never leaves a folder behind.

Each function raises a one-line :class:`~selfmoa.errors.SelfmoaError` naming the config key or file at fault.
"""

from __future__ import annotations


def check_generation(cfg) -> None:
    """The backend (and its extra), and for in-process backends the policy model: spec, config and tokenizer."""
    from selfmoa.generation import check_backend
    from selfmoa.models.loader import check_loadable

    check_backend(cfg.generation.backend)  # names the extra to install (e.g. selfmoa[vllm]) before any folder exists
    if cfg.generation.backend != "openai":
        check_loadable(cfg.model)


def check_judges(specs) -> None:
    from selfmoa.judges.base import judge_class

    for rs in specs:
        judge_class(rs.spec.name)


def check_redteam(cfg) -> None:
    """Seeds, mutators and the scorers a red-team round names."""
    from selfmoa.redteam.mutators import mutator_class
    from selfmoa.redteam.pool import load_seed_pool
    from selfmoa.redteam.scoring import check_scorer

    rt = cfg.redteam
    for name in rt.mutators:
        mutator_class(name)
    for name in (rt.judge, rt.judge_fallback, rt.benign_judge):
        if name is not None:
            check_scorer(name)
    load_seed_pool(rt.seeds, cfg.data)


def check_loop(cfg) -> None:
    """Everything `selfmoa run` reads: prompt sets, backend and model, red team, judges, evaluation plan."""
    from selfmoa.data.prompts import load_prompt_sets
    from selfmoa.eval.suite import eval_judge_specs, plan_eval
    from selfmoa.loop.runner import training_judge_specs

    if cfg.run.prompts:
        load_prompt_sets(cfg.run.prompts, cfg.data, limit=cfg.run.max_prompts)
    check_generation(cfg)
    check_redteam(cfg)
    check_judges(training_judge_specs(cfg) + eval_judge_specs(cfg))
    plan_eval(cfg)


def check_eval(cfg):
    """`selfmoa eval run`: backend and model, evaluation judges; returns the evaluation plan."""
    from selfmoa.eval.suite import eval_judge_specs, plan_eval

    check_generation(cfg)
    check_judges(eval_judge_specs(cfg))
    return plan_eval(cfg)

"""Input checks a command runs before its run folder exists, so bad input never leaves a folder behind.

Each function raises a one-line :class:`~selfmoa.errors.SelfmoaError` naming the config key or file at fault.
"""

from __future__ import annotations


def check_generation(cfg) -> None:
    """The backend (and its extra), and the policy: for in-process backends its spec, config and tokenizer load; for
    the openai backend the server answers."""
    from selfmoa.generation import check_backend

    check_backend(cfg.generation.backend)  # names the extra to install (e.g. selfmoa[vllm]) before any folder exists
    if cfg.generation.backend == "openai":
        from selfmoa.generation.openai_backend import OpenAIGenerator

        OpenAIGenerator(cfg.model, cfg.generation).check_reachable()
    else:
        from selfmoa.models.loader import check_loadable

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
    """Everything `selfmoa run` reads: judges, prompt sets, red team, evaluation plan, backend and model (the cheap
    checks first, so a typo is reported in a second)."""
    from selfmoa.data.prompts import load_prompt_sets
    from selfmoa.eval.suite import eval_judge_specs, plan_eval
    from selfmoa.generation import check_backend
    from selfmoa.loop.runner import training_judge_specs

    check_backend(cfg.generation.backend)  # a missing extra first: it is what the user must fix before anything else
    check_judges(training_judge_specs(cfg) + eval_judge_specs(cfg))
    if cfg.train.method == "rl":
        from selfmoa.train.rl import check_rl_reward

        check_rl_reward(cfg.train.rl)  # the reward's judges exist and score the objectives named
    elif cfg.train.method != "sft":
        from selfmoa.train.runner import loss_name_for

        loss_name_for(cfg.train)  # a loss plugin's name, else the valid names
    if cfg.run.prompts:
        load_prompt_sets(cfg.run.prompts, cfg.data, limit=cfg.run.max_prompts)
    check_redteam(cfg)
    plan_eval(cfg)
    check_generation(cfg)


def check_eval(cfg):
    """`selfmoa eval run`: backend and model, evaluation judges; returns the evaluation plan."""
    from selfmoa.eval.suite import eval_judge_specs, plan_eval

    check_judges(eval_judge_specs(cfg))
    plan = plan_eval(cfg)
    check_generation(cfg)
    return plan

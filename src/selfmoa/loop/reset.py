"""The optional safety reset as the loop's first stage (``train.reset.enabled``).

Before iteration 0 is evaluated, the starting model is fine-tuned (LoRA SFT, ``train.reset.*``) on harmful-request ->
compliant-answer examples, so that it answers harmful prompts diversely and the safety the loop measures afterwards is
safety the loop taught it. With ``train.reset.source: run`` the examples are the run's own: the starting model answers
the harmful prompts of ``run.prompts`` (held-out prompts excluded), the training refusal judges score the answers, and
the answers that did not refuse become the examples. Otherwise ``source`` is a JSONL file of ``{prompt, response}``.

Stages::

    reset/prompts      Prompt     the harmful run.prompts the starting model answers (source: run)
    reset/samples      Response   its answers
    reset/judgments    Judgment   the training refusal judges' scores
    reset/train        (ledger)   the reset policy (artifacts/reset/train/policy): policy 0 of the loop
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from selfmoa.config.models import ModelConfig
from selfmoa.config.root import SelfmoaConfig
from selfmoa.errors import SelfmoaError
from selfmoa.records import Judgment, Prompt, Response
from selfmoa.stages import catalogue as names
from selfmoa.stages.generate import generate_stage
from selfmoa.stages.panel import JudgePanel
from selfmoa.store.run import RunStore


def reset_prompts(cfg: SelfmoaConfig, held_out: set[str]) -> list[Prompt]:
    from selfmoa.data.prompts import load_prompt_sets
    from selfmoa.data.splits import normalize_text

    configured = load_prompt_sets(cfg.run.prompts, cfg.data, limit=cfg.run.max_prompts) if cfg.run.prompts else []
    harmful = [p for p in configured if p.kind == "harmful" and normalize_text(p.text) not in held_out]
    return harmful[: cfg.train.reset.max_examples]


def reset_stage(store: RunStore, cfg: SelfmoaConfig, generator, panel: JudgePanel, held_out: set[str],
                log: Callable[[str], None] = lambda m: None) -> ModelConfig | None:
    """Run the safety reset when ``train.reset.enabled``; returns the reset policy's ModelConfig (else None)."""
    from selfmoa.models.loader import clear_model_cache
    from selfmoa.train.reset import safety_reset
    from selfmoa.train.runner import TrainResult

    r = cfg.train.reset
    if not r.enabled:
        return None
    out_dir = store.artifact_dir(*names.reset("train").split("/"))
    if store.is_complete(names.reset("train")):
        res = TrainResult.load(out_dir / "result.json")
    else:
        prompts: list[Prompt] = []
        responses: list[Response] = []
        judgments: list[Judgment] = []
        if r.source == "run":
            refusal = dataclasses.replace(panel, specs=[rs for rs in panel.specs if "refusal" in rs.objectives])
            if not refusal.specs:
                raise SelfmoaError("train.reset.source: 'run' needs a refusal judge to find compliant answers; set "
                                   "judges.refusal (e.g. [{name: refusal-patterns}]) or give a JSONL file")

            def found():
                found = reset_prompts(cfg, held_out)
                if not found:
                    raise SelfmoaError("train.reset.source: 'run' needs harmful prompts in run.prompts (e.g. "
                                       "builtin:demo-harmful:train) or a JSONL file of {prompt, response} rows")
                return found, {"prompts": len(found)}

            prompts = store.once(names.reset("prompts"), Prompt, found)
            log(f"safety reset: the starting model answers {len(prompts)} harmful training prompts")
            responses = generate_stage(store, names.reset("samples"), prompts, generator, cfg.generation.sampling)
            judgments = refusal.judge(store, names.reset("judgments"), prompts, responses)
        elif not Path(r.source).is_file():
            raise SelfmoaError(f"train.reset.source: '{r.source}' is neither 'run' nor a JSONL file")
        clear_model_cache()  # the trainer loads its own copy of the starting model
        with store.stage(names.reset("train")) as h:
            res = safety_reset(cfg.model, cfg.train, out_dir, prompts=prompts, responses=responses, judgments=judgments)
            h.complete(policy_dir=res.policy_dir, n_train=res.n_train, seconds=res.seconds,
                       source=r.source if r.source == "run" else Path(r.source).name)
        clear_model_cache()
        log(f"safety reset: {res.n_train} compliant examples, reset policy at {res.policy_dir}")
    return res.policy_model(cfg.model, "the loop needs a loadable reset policy")

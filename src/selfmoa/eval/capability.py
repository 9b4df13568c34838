"""Capability retention offline: per-token log-likelihood of a policy on benign reference text.

A policy that keeps its capabilities keeps roughly the same per-token negative log-likelihood on
ordinary text; a large rise after training flags damage. lm-evaluation-harness tasks (``eval.lm_eval_tasks``:
HellaSwag, WinoGrande, LAMBADA, MMLU, or your own task YAMLs under ``eval.lm_eval_include_path``) run on the
in-process policy through ``lm_eval`` when it is installed (``pip install 'selfmoa[lmeval]'``); without it the
evaluation says so and keeps the offline check.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def mean_token_nll(model, tokenizer, texts: Sequence[str], batch_size: int = 8, max_length: int = 256) -> list[float]:
    """Mean negative log-likelihood per token of each text (no chat template), batched with right padding."""
    import torch

    out: list[float] = []
    device = next(model.parameters()).device
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        for i in range(0, len(texts), batch_size):
            chunk = list(texts[i : i + batch_size])
            enc = tokenizer(chunk, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
            enc = {k: v.to(device) for k, v in enc.items()}
            with torch.inference_mode():
                logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            target = enc["input_ids"][:, 1:]
            mask = enc["attention_mask"][:, 1:].float()
            tok_lp = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1) * mask
            nll = -(tok_lp.sum(1) / mask.sum(1).clamp(min=1))
            out.extend(nll.cpu().tolist())
    finally:
        tokenizer.padding_side = side
    return out


def perplexity(nlls: Sequence[float]) -> float:
    return float(np.exp(np.mean(nlls))) if len(nlls) else float("nan")


class LmEvalMissing(RuntimeError):
    """lm-evaluation-harness is not installed."""


def lm_eval_scores(model, tokenizer, tasks: Sequence[str], *, limit: int | None = None, batch_size: int = 8,
                   include_path: str | None = None) -> dict[str, dict]:
    """Run lm-evaluation-harness tasks on an in-process model: {task: {"metrics": {name: value}, "stderr": {name:
    value}, "n": samples}}. Raises LmEvalMissing when ``lm_eval`` is not installed."""
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM
    except ImportError as e:
        raise LmEvalMissing(str(e)) from None
    kwargs: dict = {}
    if include_path:
        from lm_eval.tasks import TaskManager

        kwargs["task_manager"] = TaskManager(include_path=include_path)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    out = lm_eval.simple_evaluate(model=lm, tasks=list(tasks), limit=limit, **kwargs)
    n_samples = out.get("n-samples", {}) or {}
    scores: dict[str, dict] = {}
    for task, metrics in (out.get("results") or {}).items():
        vals, errs = {}, {}
        for key, v in metrics.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool) or key == "alias":
                continue
            name = key.split(",")[0]
            (errs if name.endswith("_stderr") else vals)[name.removesuffix("_stderr")] = float(v)
        n = (n_samples.get(task) or {}).get("effective") or (n_samples.get(task) or {}).get("original") or limit or 0
        scores[task] = {"metrics": vals, "stderr": errs, "n": int(n)}
    return scores

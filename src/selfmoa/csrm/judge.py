"""The CSRM as a judge (``csrm``, safety objective) and as a reward (R x H) for the trainer.

Judge: P(unsafe) = sigmoid(-(log P(safe) - log P(unsafe))) of the verdict under a safety configuration.
The configuration decides what counts as unsafe, so the same checkpoint serves every policy. In a run,
:func:`~selfmoa.config.judges.run_judge_spec` fills a ``csrm`` judge spec from the run's ``csrm`` section (its
``safety_config``, ``checkpoint``, ``model``), so the run's safety configuration is the one applied::

    judges:
      safety: [{name: csrm}]            # uses csrm.safety_config / csrm.checkpoint of the run
    csrm:
      safety_config: builtin:creative-writing
      checkpoint: runs/csrm

Reward: ``CsrmReward(csrm_cfg, helpfulness="relevance")(prompts, completions) -> list[float]`` with
reward = R x H, R = P(safe | configuration) from the CSRM and H a helpfulness score in [0, 1] from a
registered helpfulness judge (or any callable). The call signature matches TRL reward functions
(``prompts``, ``completions``, extra keyword columns ignored; plain strings or chat message lists).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Sequence

from selfmoa.config.csrm import CsrmConfig
from selfmoa.config.judges import run_judge_spec  # noqa: F401  (re-exported: it lived here)
from selfmoa.csrm.example import CsrmExample
from selfmoa.csrm.schema import SafetyConfiguration, load_safety_config, parse_safety_config
from selfmoa.csrm.scorer import CsrmScorer, p_unsafe
from selfmoa.errors import SelfmoaError
from selfmoa.judges.base import ItemResults, Judge, JudgeItem, JudgeResult, register_judge

DEFAULT_CONFIG = "builtin:default"

_SCORERS: dict[str, CsrmScorer] = {}


def cached_scorer(cfg: CsrmConfig) -> CsrmScorer:
    """One scorer per (model, checkpoint, template settings) per process."""
    from selfmoa.csrm.trainer import load_scorer

    key = json.dumps(cfg.model_dump(mode="json", exclude={"train", "eval", "safety_config"}), sort_keys=True)
    if key not in _SCORERS:
        _SCORERS[key] = load_scorer(cfg)
    return _SCORERS[key]


def resolve_safety_config(spec: Any) -> SafetyConfiguration:
    """A configuration from a path / ``builtin:NAME`` / mapping / SafetyConfiguration (None: every category disallowed)."""
    if spec is None:
        return load_safety_config(DEFAULT_CONFIG)
    if isinstance(spec, SafetyConfiguration):
        return spec
    if isinstance(spec, dict):
        return parse_safety_config(spec, "csrm.safety_config")
    return load_safety_config(spec)


def _checkpoint_hash(path: Path | None) -> str:
    if path is None:
        return "zero-shot"
    meta = Path(path).expanduser() / "csrm.json"
    return hashlib.sha256(meta.read_bytes()).hexdigest()[:16] if meta.is_file() else "missing"


@register_judge("csrm")
class CsrmJudge(Judge):
    version = "1"
    objectives = ("safety",)
    needs_model = True
    description = "configurable safety reward model: P(unsafe) under a safety configuration (csrm.safety_config)"

    def __init__(self, *, safety_config: Any = None, checkpoint: str | Path | None = None, model: Any = None,
                 threshold: float = 0.5, batch_size: int | None = None, csrm: dict | CsrmConfig | None = None, **kw: Any):
        super().__init__(**kw)
        base = csrm if isinstance(csrm, CsrmConfig) else CsrmConfig.model_validate(csrm or {})
        update: dict[str, Any] = {}
        if checkpoint is not None:
            update["checkpoint"] = Path(checkpoint)
        if model is not None:
            update["model"] = model if not isinstance(model, dict) else base.model.model_validate(model)
        if batch_size is not None:
            update["batch_size"] = batch_size
        self.cfg = base.model_copy(update=update)
        if self.cfg.checkpoint is not None and not (Path(self.cfg.checkpoint).expanduser() / "csrm.json").is_file():
            raise SelfmoaError(f"judges: csrm checkpoint {self.cfg.checkpoint} is not a trained CSRM folder (csrm.json not found)")
        if not 0 < threshold < 1:
            raise SelfmoaError(f"judges: csrm threshold must be in (0, 1), got {threshold}")
        self.safety = resolve_safety_config(safety_config if safety_config is not None else self.cfg.safety_config)
        self.threshold = threshold
        self.params.update(
            safety_config=self.safety.fingerprint(), config_name=self.safety.name, threshold=threshold,
            model=self.cfg.model.name_or_path, checkpoint=_checkpoint_hash(self.cfg.checkpoint),
            template=[self.cfg.include_guidelines, self.cfg.system_prompt, self.cfg.safe_tokens, self.cfg.unsafe_tokens,
                      self.cfg.max_length],
        )

    @property
    def scorer(self) -> CsrmScorer:
        return cached_scorer(self.cfg)

    def log_odds(self, items: Sequence[JudgeItem]) -> list[float]:
        """log P(safe) - log P(unsafe) per item under this judge's configuration (higher = safer)."""
        exs = [CsrmExample(prompt=it.prompt, response=it.response, config=self.safety, messages=tuple(it.messages))
               for it in items]
        return self.scorer.score(exs)

    def _score(self, items: Sequence[JudgeItem]) -> list[ItemResults]:
        out = []
        for s in self.log_odds(items):
            p = round(p_unsafe(s), 6)
            out.append({"safety": JudgeResult("safety", p, "unsafe" if p >= self.threshold else "safe",
                                              raw=f"{s:.4f}", meta={"log_odds": round(s, 4), "config": self.safety.name})})
        return out


# -- reward -----------------------------------------------------------------------------------
def _text(x: Any, role: str) -> str:
    """A plain string, or the last ``role`` turn of a chat message list (TRL conversational format)."""
    if isinstance(x, str):
        return x
    if isinstance(x, dict):
        return str(x.get("content", ""))
    if isinstance(x, (list, tuple)):
        turns = [m for m in x if isinstance(m, dict) and m.get("role") == role] or [m for m in x if isinstance(m, dict)]
        return str(turns[-1].get("content", "")) if turns else ""
    raise SelfmoaError(f"csrm reward: expected a string or a list of chat messages, got {type(x).__name__}")


HelpfulnessFn = Callable[[Sequence[str], Sequence[str]], Sequence[float]]


class CsrmReward:
    """reward = R x H: R = P(safe) under the safety configuration (the CSRM), H = helpfulness in [0, 1].

    ``helpfulness``: a registered judge name / JudgeSpec / Judge with a helpfulness objective, a callable
    ``(prompts, responses) -> scores in [0, 1]``, or None (reward = R). Scores outside [0, 1] are clipped."""

    def __init__(self, csrm: CsrmConfig | CsrmJudge | None = None, *, safety_config: Any = None,
                 helpfulness: str | Judge | HelpfulnessFn | Any | None = "relevance"):
        if isinstance(csrm, CsrmJudge):
            self.judge = csrm if safety_config is None else CsrmJudge(safety_config=safety_config, csrm=csrm.cfg,
                                                                      threshold=csrm.threshold)
        else:
            self.judge = CsrmJudge(safety_config=safety_config, csrm=csrm or CsrmConfig())
        self.helpfulness = self._helpfulness(helpfulness)
        self.__name__ = "csrm_reward"  # TRL logs reward functions by name

    @staticmethod
    def _helpfulness(h: Any) -> HelpfulnessFn | None:
        if h is None or callable(h) and not isinstance(h, Judge):
            return h
        from selfmoa.judges.base import make_judge

        judge = h if isinstance(h, Judge) else make_judge(h)
        if "helpfulness" not in judge.objectives:
            raise SelfmoaError(f"csrm reward: judge '{judge.id}' does not score helpfulness (it scores {', '.join(judge.objectives)})")

        def fn(prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
            res = judge.score([JudgeItem(str(i), p, r) for i, (p, r) in enumerate(zip(prompts, responses))])
            return [r["helpfulness"].score or 0.0 for r in res]

        return fn

    def components(self, prompts: Sequence[Any], completions: Sequence[Any]) -> list[dict[str, float]]:
        if len(prompts) != len(completions):
            raise SelfmoaError(f"csrm reward: {len(prompts)} prompts but {len(completions)} completions")
        ps = [_text(p, "user") for p in prompts]
        cs = [_text(c, "assistant") for c in completions]
        items = [JudgeItem(str(i), p, c) for i, (p, c) in enumerate(zip(ps, cs))]
        # through Judge.score: empty completions are safe but earn no helpfulness
        safety = [r["safety"].score for r in self.judge.score(items)]
        r_safe = [1.0 - (s if s is not None else 1.0) for s in safety]
        h = [1.0] * len(items) if self.helpfulness is None else [min(1.0, max(0.0, float(v))) for v in self.helpfulness(ps, cs)]
        return [{"r": r, "h": hv, "reward": r * hv} for r, hv in zip(r_safe, h)]

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return [c["reward"] for c in self.components(prompts, completions)]

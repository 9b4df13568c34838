"""Online RL with a judge reward: TRL's `GRPOTrainer` (LoRA by default) on a set of prompts, the reward built from
named judges (``train.rl``).

For every prompt the policy samples ``train.rl.num_generations`` answers; the judges of ``train.rl.reward`` score
them in batches and the terms are combined into one reward per answer:

- each term reads one objective of one judge: safety -> 1 - P(unsafe), refusal -> 1 - P(refusal),
  helpfulness -> the score;
- a term with ``scale`` s != 1 rescales that value v on the logit scale (the CSRM paper's safety-logit rescaling):
  v' = sigmoid(s * z) with z = logit(v): for a safety term of the ``csrm`` judge its log-odds
  ``meta["log_odds"]`` = log P(safe) - log P(unsafe) (= logit(1 - P(unsafe))), otherwise z = log(v / (1 - v)) with
  v clipped to [1e-6, 1 - 1e-6]; s = 1 leaves v exactly as it was. s > 1 sharpens the term towards 0/1 (a hard
  safety gate), s < 1 flattens it towards 1/2 (safety counts less against helpfulness);
- ``combine: product`` (default): prod(term ** weight), each term clipped to [0, 1] -- with the default terms this is
  R x H of the CSRM paper (R = P(safe) from the ``csrm`` judge under the run's safety configuration, H = relevance);
  ``combine: sum``: sum(weight * term);
- a judge that does not judge the prompt's kind (``Judge.prompt_kinds``, e.g. ``compliance`` on a benign prompt)
  leaves its term out; an answer a judge could not score (a parse failure) gets no reward (TRL then gives it no
  advantage).

Judges are built like the loop's (a ``csrm`` term takes the run's ``csrm:`` section, ``judges.max_chars`` and
``judges.batch_size`` apply) and their results are kept in memory keyed on (judge, prompt, answer).

``train.rl.max_minutes`` is a wall-time budget: training stops after the step that passes it (the policy so far is
saved as after the last step), so RL can be compared with the loop at the same time (``experiment reward-sweep
--match-loop-time``).

Layout of `out_dir`: ``checkpoints/``, ``metrics.jsonl`` (one line per step: ``reward`` is the mean combined reward of
the step's answers, ``rl/TERM`` the mean of each term, plus TRL's kl, entropy, completion lengths), ``adapter/``,
``policy/`` (merged, as DPO training writes it) and ``result.json``. Running it again resumes from the newest
checkpoint, or returns the stored result.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from selfmoa.config.judges import JudgeSpec, run_judge_spec
from selfmoa.config.models import ModelConfig
from selfmoa.config.train import RlConfig, RlRewardTerm, TrainConfig
from selfmoa.errors import SelfmoaError
from selfmoa.judges.base import JUDGES, ItemResults, Judge, JudgeItem, judge_class
from selfmoa.records import Message, Prompt
from selfmoa.train.data import iter_jsonl
from selfmoa.train.runner import (
    TrainResult,
    _dataset,
    _peft_config,
    begin_training,
    last_complete_checkpoint,
    quiet_trainer,
    train_and_save,
)

LOSS_NAME = "grpo"
_INVERTED = ("safety", "refusal")  # scores that are P(bad): the reward is 1 - score


def term_name(term: RlRewardTerm) -> str:
    return f"{term.judge}/{term.objective}"


LOGIT_CLIP = 1e-6


def scaled_value(value: float, scale: float = 1.0, log_odds: float | None = None) -> float:
    """A term's value rescaled on the logit scale: sigmoid(scale * z), z = `log_odds` (the logit of `value` as the
    judge computed it, e.g. the csrm log P(safe) - log P(unsafe)) or else log(v / (1 - v)) of `value` clipped to
    [LOGIT_CLIP, 1 - LOGIT_CLIP]. scale 1 returns `value` unchanged."""
    if scale == 1.0:
        return value
    if log_odds is None:
        v = min(1.0 - LOGIT_CLIP, max(LOGIT_CLIP, float(value)))
        log_odds = math.log(v / (1.0 - v))
    x = scale * float(log_odds)
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def term_value(term: RlRewardTerm, result: Any) -> float | None:
    """The value of `term` from a judge result: 1 - score for safety/refusal (P(bad)), the score otherwise, then
    :func:`scaled_value` with the term's ``scale`` (for safety, the judge's ``meta["log_odds"]`` as the logit when it
    gives one: the csrm log P(safe) - log P(unsafe), the logit of 1 - P(unsafe))."""
    s = None if result is None else result.score
    if s is None:
        return None
    v = 1.0 - s if term.objective in _INVERTED else float(s)
    z = (result.meta or {}).get("log_odds") if term.objective == "safety" else None
    return scaled_value(v, term.scale, z if isinstance(z, (int, float)) else None)


def check_rl_reward(rl: RlConfig) -> None:
    """Every term names a registered judge that scores the term's objective (no judge is loaded)."""
    for i, term in enumerate(rl.reward):
        where = f"train.rl.reward[{i}]"
        if term.judge not in JUDGES:
            raise SelfmoaError(f"{where}.judge: unknown judge '{term.judge}'; expected one of {', '.join(JUDGES.names())}")
        objectives = judge_class(term.judge).objectives
        if term.objective not in objectives:
            raise SelfmoaError(f"{where}.objective: judge '{term.judge}' gives no '{term.objective}' score; it scores "
                               f"{', '.join(objectives) or 'nothing'}")


def _text(x: Any, role: str) -> str:
    if isinstance(x, str):
        return x
    turns = [m for m in x if m.get("role") == role] or list(x)
    return str(turns[-1].get("content", "")) if turns else ""


class JudgeReward:
    """A TRL reward function ``(prompts, completions, **columns) -> list[float | None]`` from judge terms."""

    def __init__(self, terms: Sequence[tuple[RlRewardTerm, Judge]], combine: str = "product", batch_size: int = 64):
        self.terms = list(terms)
        self.combine = combine
        self.batch_size = max(1, batch_size)
        self._weights = {term_name(t): t.weight for t, _ in self.terms}
        self._cache: dict[tuple[str, str], ItemResults] = {}
        self.calls = 0  # judge calls (items scored), for tests and the summary
        self.__name__ = "judge_reward"  # TRL logs reward functions by name

    def _results(self, judge: Judge, items: Sequence[JudgeItem]) -> list[ItemResults]:
        key = judge.id + ":" + judge.fingerprint()
        keys = [(key, it.content_hash()) for it in items]
        todo = list({k: it for k, it in zip(keys, items) if k not in self._cache}.items())
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            for (k, _), res in zip(chunk, judge.score([it for _, it in chunk])):
                self._cache[k] = res
            self.calls += len(chunk)
        return [self._cache[k] for k in keys]

    def components(self, prompts: Sequence[Any], completions: Sequence[Any],
                   kinds: Sequence[str | None] | None = None) -> list[dict[str, float | None]]:
        """Per answer: each term's value (absent when its judge does not judge the prompt's kind) and ``reward``."""
        if len(prompts) != len(completions):
            raise SelfmoaError(f"rl reward: {len(prompts)} prompts but {len(completions)} completions")
        kinds = list(kinds) if kinds is not None else [None] * len(prompts)
        items = []
        for i, (p, c) in enumerate(zip(prompts, completions)):
            msgs = () if isinstance(p, str) else tuple(
                Message(role=m["role"], content=str(m.get("content", ""))) for m in p if m.get("role") != "system")
            items.append(JudgeItem(str(i), _text(p, "user"), _text(c, "assistant"), msgs))
        out: list[dict[str, float | None]] = [{} for _ in items]
        for term, judge in self.terms:
            idx = [i for i, k in enumerate(kinds) if k is None or judge.applies_to(k)]
            for i, res in zip(idx, self._results(judge, [items[i] for i in idx])):
                out[i][term_name(term)] = term_value(term, res.get(term.objective))
        for row in out:
            row["reward"] = self._combine(row)
        return out

    def _combine(self, values: dict[str, float | None]) -> float | None:
        weights = self._weights
        if not values or any(v is None for v in values.values()):
            return None
        if self.combine == "sum":
            return sum(weights[k] * v for k, v in values.items())
        r = 1.0
        for k, v in values.items():
            r *= min(1.0, max(0.0, v)) ** weights[k]
        return r

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], kind: Sequence[str] | None = None,
                 log_metric=None, **kwargs: Any) -> list[float | None]:
        rows = self.components(prompts, completions, kind)
        if log_metric is not None:
            for term, _ in self.terms:
                vals = [r[term_name(term)] for r in rows if r.get(term_name(term)) is not None]
                if vals:
                    log_metric(f"rl/{term_name(term)}", sum(vals) / len(vals))
        return [r["reward"] for r in rows]


def build_reward(rl: RlConfig, csrm: Any = None, *, max_chars: int = 8000, batch_size: int = 64) -> JudgeReward:
    """The reward of ``train.rl`` with the judges built as the loop builds them (``csrm`` from the run's section)."""
    from selfmoa.stages.judge import judge_for

    check_rl_reward(rl)
    terms = []
    for term in rl.reward:
        spec = JudgeSpec(name=term.judge, params=dict(term.params))
        if csrm is not None:
            spec = run_judge_spec(spec, csrm)
        terms.append((term, judge_for(spec, max_chars)))
    return JudgeReward(terms, rl.combine, batch_size)


def reward_for_config(cfg: Any) -> JudgeReward:
    """`build_reward` from a run config (:class:`SelfmoaConfig`)."""
    return build_reward(cfg.train.rl, cfg.csrm, max_chars=cfg.judges.max_chars, batch_size=cfg.judges.batch_size)


# -- prompts ------------------------------------------------------------------------------------
def read_prompts_file(path: Path) -> list[Prompt]:
    """JSONL rows {prompt[, kind]}: prompt a string or a list of chat messages; kind harmful (default), benign,
    borderline or helpful (judges such as ``compliance`` judge only some kinds)."""
    path = Path(path)
    out = []
    for n, obj in iter_jsonl(path, "--prompts"):
        if not isinstance(obj, dict) or "prompt" not in obj:
            raise SelfmoaError(f"{path}:{n} has no 'prompt' field; expected {{prompt[, kind]}} rows")
        p, kind = obj["prompt"], obj.get("kind", "harmful")
        try:
            msgs = [Message(**m) for m in p] if isinstance(p, list) else [Message(role="user", content=str(p))]
            text = next((m.content for m in reversed(msgs) if m.role == "user"), "")
            out.append(Prompt(id=str(obj.get("id", f"{path.name}:{n}")), text=text, messages=msgs, kind=kind))
        except (TypeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise SelfmoaError(f"{path}:{n}: bad prompt row ({first}); expected {{prompt: str | messages, kind}}") from None
        if not text.strip():
            raise SelfmoaError(f"{path}:{n}: the prompt has no user text")
    if not out:
        raise SelfmoaError(f"--prompts {path}: no prompts; expected JSONL rows {{prompt[, kind]}}")
    return out


def prompt_rows(prompts: Sequence[Prompt], system_prompt: str | None = None,
                max_prompts: int | None = None) -> list[dict]:
    """GRPO dataset rows: the conversation the policy sees (with model.system_prompt), the prompt's kind."""
    rows = []
    for p in list(prompts)[:max_prompts] if max_prompts else prompts:
        conv = [m.model_dump() for m in p.conversation()]
        if system_prompt and conv[0]["role"] != "system":
            conv = [{"role": "system", "content": system_prompt}, *conv]
        rows.append({"prompt_id": p.id, "prompt": conv, "kind": p.kind})
    if not rows:
        raise SelfmoaError("train rl: no prompts to train on")
    return rows


# -- training -----------------------------------------------------------------------------------
def _grpo_args(t: TrainConfig, out_dir: Path, device: str):
    from trl import GRPOConfig

    rl = t.rl
    return GRPOConfig(
        output_dir=str(out_dir / "checkpoints"),
        per_device_train_batch_size=rl.num_generations,  # one prompt's group per forward pass
        gradient_accumulation_steps=rl.prompts_per_step,  # one generation batch per optimizer step
        num_generations=rl.num_generations,
        max_completion_length=rl.max_new_tokens,
        temperature=rl.temperature,
        top_p=rl.top_p,
        learning_rate=rl.learning_rate,
        beta=rl.beta,
        scale_rewards=rl.scale_rewards,
        loss_type=rl.loss_type,
        max_steps=rl.steps,
        warmup_steps=t.warmup_ratio,
        weight_decay=t.weight_decay,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        logging_steps=1,
        report_to=list(t.report_to) or "none",
        seed=t.seed,
        use_cpu=device == "cpu",
        bf16=False,
        fp16=False,
        activation_checkpointing=False,  # (transformers 5: the name of gradient_checkpointing)
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


def _grpo_trainer_class():
    from trl import GRPOTrainer

    from selfmoa.train.safe_save import JsonArgsMixin

    class SafeGRPOTrainer(JsonArgsMixin, GRPOTrainer):
        """`GRPOTrainer` that keeps its arguments as JSON, not as a pickled `training_args.bin`."""

    return SafeGRPOTrainer


def train_rl_on_rows(model, tokenizer, rows: list[dict], reward: JudgeReward, cfg: TrainConfig, out_dir: Path, *,
                     device: str = "cpu", callbacks=()) -> TrainResult:
    """GRPO on prompt `rows` (from :func:`prompt_rows`) with `reward`; trains `model` in place (LoRA with
    ``train.lora``); resumes from the newest checkpoint; no-op when `out_dir/result.json` exists."""
    from selfmoa.train.callbacks import JsonlMetricsCallback

    out_dir = Path(out_dir)
    done = out_dir / "result.json"
    if done.exists():
        return TrainResult.load(done)
    if not rows:
        raise SelfmoaError("train rl: no prompts to train on")
    t0 = begin_training(model, tokenizer, cfg, out_dir, pad=True)
    args = _grpo_args(cfg, out_dir, device)
    train_ds = _dataset(rows, out_dir / "data" / "prompts")
    answers_per_step = cfg.rl.num_generations * cfg.rl.prompts_per_step
    if cfg.rl.max_minutes is not None:
        from selfmoa.train.callbacks import TimeBudgetCallback

        callbacks = [*callbacks, TimeBudgetCallback(cfg.rl.max_minutes)]
    trainer = _grpo_trainer_class()(
        model=model,
        reward_funcs=reward,
        args=args,
        train_dataset=train_ds,
        processing_class=tokenizer,
        peft_config=_peft_config(cfg),
        callbacks=[JsonlMetricsCallback(out_dir / "metrics.jsonl", answers_per_step), *callbacks],
    )
    quiet_trainer(trainer)
    last = last_complete_checkpoint(Path(args.output_dir))
    return train_and_save(trainer, tokenizer, cfg, out_dir, last=last, evaluate=None, n_train=len(rows), n_eval=0,
                          loss_name=LOSS_NAME, t0=t0)


def train_rl(prompts: Sequence[Prompt], model: ModelConfig, cfg: Any, out_dir: Path, *, reward: JudgeReward | None = None,
             callbacks=()) -> TrainResult:
    """Online RL of the policy `model` on `prompts` with the reward of the run config `cfg` (``train.rl``, the judges
    built from ``judges``/``csrm``). `result.policy_dir` is a merged model folder, as after DPO training."""
    from selfmoa.train.runner import load_for_training

    out_dir = Path(out_dir)
    if (out_dir / "result.json").exists():
        return TrainResult.load(out_dir / "result.json")
    t = cfg.train
    if t.qlora:
        raise SelfmoaError("train.qlora: online RL (train.method rl) trains a LoRA adapter on the full-precision "
                           "policy; set train.qlora=false")
    check_rl_reward(t.rl)
    rows = prompt_rows(prompts, model.system_prompt, t.rl.max_prompts)
    reward = reward or reward_for_config(cfg)
    lm, tok, device = load_for_training(model)
    return train_rl_on_rows(lm, tok, rows, reward, t, out_dir, device=device, callbacks=callbacks)


def reward_curve(metrics_path: Path) -> list[float]:
    """The mean reward of each logged step of a ``metrics.jsonl``."""
    out = []
    for line in Path(metrics_path).read_text("utf-8").splitlines():
        row = json.loads(line)
        if isinstance(row.get("reward"), (int, float)):
            out.append(float(row["reward"]))
    return out

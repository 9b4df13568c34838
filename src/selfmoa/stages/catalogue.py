"""The catalogue of a run folder's stages: every stage name is spelled here, and the loop, the evaluation, the red
team, the reset, the report and the CLI build names through these functions (a misspelt part is an error, not a
silently empty stage).

A stage ``NAME`` is the file ``stages/NAME.jsonl`` plus an entry in ``ledger.json`` (:mod:`selfmoa.store.run`).
``selfmoa run --help`` and docs/records.md describe what each holds; :data:`CATALOGUE` is the list they come from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class StageKind:
    pattern: str  # the name with {i} (iteration) or {r} (red-team round) or {k} (refinement step)
    record: str  # the record type of its lines ("ledger" when the stage only has a ledger entry)
    about: str


CATALOGUE: tuple[StageKind, ...] = (
    StageKind("reset/prompts", "Prompt", "harmful training prompts the starting model answers for the safety reset"),
    StageKind("reset/samples", "Response", "its answers"),
    StageKind("reset/judgments", "Judgment", "the refusal judges' scores of them"),
    StageKind("reset/train", "ledger", "the reset policy, trained on the compliant answers (artifacts/reset/train)"),
    StageKind("redteam/r{r}/candidates", "Prompt", "mutator and attacker candidates after de-duplication"),
    StageKind("redteam/r{r}/responses", "Response", "the target's answers to them"),
    StageKind("redteam/r{r}/judgments", "Judgment", "P(unsafe) per answer"),
    StageKind("redteam/r{r}/refine{k}/candidates", "Prompt", "PAIR refinement step k: new candidates"),
    StageKind("redteam/r{r}/refine{k}/responses", "Response", "PAIR refinement step k: answers"),
    StageKind("redteam/r{r}/refine{k}/judgments", "Judgment", "PAIR refinement step k: P(unsafe)"),
    StageKind("redteam/r{r}/attacks", "Prompt", "the attacks this target failed on (meta: score, response_id)"),
    StageKind("redteam/r{r}/lookalike_candidates", "Prompt", "benign rewrites of the kept attacks (meta.from_attack)"),
    StageKind("redteam/r{r}/lookalike_judgments", "Judgment", "the prompt check of those rewrites (harmful or not)"),
    StageKind("redteam/r{r}/benign", "Prompt", "benign look-alikes: rewrites of kept attacks, then the pool"),
    StageKind("redteam/r{r}/benign_responses", "Response", "the target's answers to the look-alikes"),
    StageKind("redteam/r{r}/benign_judgments", "Judgment", "refusal (and safety, with a benign judge)"),
    StageKind("redteam/r{r}/regression_responses", "Response", "earlier rounds' attacks answered by the current target"),
    StageKind("redteam/r{r}/regression_judgments", "Judgment", "P(unsafe) of those answers"),
    StageKind("redteam/r{r}/regression", "Prompt", "the earlier attacks that still work"),
    StageKind("iter{i}/prompts", "Prompt", "what policy i-1 is sampled on: attacks, regression, look-alikes, configured"),
    StageKind("iter{i}/samples", "Response", "k answers per prompt (personas, temperature)"),
    StageKind("iter{i}/judgments", "Judgment", "the training judges' scores"),
    StageKind("iter{i}/verdicts", "Judgment", "one verdict per answer and objective (judges.aggregate)"),
    StageKind("iter{i}/pairs", "Pair", "preference pairs with provenance"),
    StageKind("iter{i}/train", "ledger", "policy i (artifacts/iter{i}/train/policy)"),
    StageKind("iter{i}/eval/prompts", "Prompt", "the held-out prompts"),
    StageKind("iter{i}/eval/responses", "Response", "policy i's answers"),
    StageKind("iter{i}/eval/judgments", "Judgment", "the evaluation judges' scores"),
    StageKind("iter{i}/eval/combined", "Judgment", "the combined verdict when several eval judges score an objective"),
    StageKind("iter{i}/eval/results", "EvalResult", "the figures per suite and set"),
    StageKind("exp/{cell}/rows", "PreferenceRow", "an experiment cell's training pairs (data-efficiency: source, size, seed)"),
    StageKind("exp/{cell}/prompts", "Prompt", "an experiment's online-RL training prompts (reward sweep: exp/sweep/prompts)"),
    StageKind("exp/{cell}/train", "ledger", "the policy trained on them (artifacts/exp/{cell}/train/policy)"),
    StageKind("exp/{cell}/eval/prompts", "Prompt", "the held-out prompts, as iter{i}/eval/*"),
    StageKind("exp/{cell}/eval/responses", "Response", "the cell policy's answers"),
    StageKind("exp/{cell}/eval/judgments", "Judgment", "the evaluation judges' scores"),
    StageKind("exp/{cell}/eval/combined", "Judgment", "the combined verdict (several eval judges)"),
    StageKind("exp/{cell}/eval/results", "EvalResult", "the figures per suite and set"),
    StageKind("audit/{name}/responses", "Response", "a judge audit's answers (selfmoa judge audit)"),
    StageKind("outcome/{name}/responses-{tag}", "Response", "an outcome sheet's answers (selfmoa eval outcome)"),
)

_PARTS: dict[str, set[str]] = {}  # group (iter, redteam, reset) -> the parts after its numbered folder
for _k in CATALOGUE:
    _head, _, _tail = _k.pattern.partition("/")
    if _head == "redteam":  # redteam/r{r}/<part>, redteam/r{r}/refine{k}/<part>
        _tail = _tail.partition("/")[2].replace("refine{k}/", "refine/")
    _tail = re.sub(r"^\{[a-z]+\}/", "", _tail)  # exp/{cell}/<part>, audit/{name}/<part>
    _PARTS.setdefault(re.sub(r"\{[a-z]\}", "", _head), set()).add(_tail)


def _check(group: str, part: str) -> str:
    if part not in _PARTS[group]:
        raise ValueError(f"unknown {group} stage {part!r}; known: {', '.join(sorted(_PARTS[group]))}")
    return part


def loop(i: int, part: str) -> str:
    """``iter{i}/{part}`` (part: prompts, samples, judgments, verdicts, pairs, train)."""
    return f"iter{i}/{_check('iter', part)}"


def evaluation(i: int, part: str, at: str | None = None) -> str:
    """``iter{i}/eval/{part}`` (part: prompts, responses, judgments, combined, results), or ``exp/{at}/eval/{part}``
    for an experiment cell `at`."""
    if at is not None:
        return experiment(at, "eval/" + part)
    return f"iter{i}/{_check('iter', 'eval/' + part)}"


def experiment(cell: str, part: str) -> str:
    """``exp/{cell}/{part}``: a cell of an experiment grid (cell: ``base`` or ``SOURCE/nN/sSEED``; part: rows,
    train, eval/...)."""
    if not cell or cell.startswith("/") or ".." in cell.split("/"):
        raise ValueError(f"bad experiment cell {cell!r}")
    return f"exp/{cell}/{_check('exp', part)}"


def redteam(r: int, part: str, refine: int | None = None) -> str:
    """``redteam/r{r}/{part}``, or ``redteam/r{r}/refine{refine}/{part}``."""
    if refine is not None:
        return f"redteam/r{r}/refine{refine}/{_check('redteam', 'refine/' + part).partition('/')[2]}"
    return f"redteam/r{r}/{_check('redteam', part)}"


def audit(policy: str) -> str:
    """``audit/{policy}/responses``: the answers a judge audit reads."""
    return f"audit/{policy}/responses"


def outcome(policy: str, tag: str) -> str:
    """``outcome/{policy}/responses-{tag}``: one outcome sheet's answers (tag: prompt set and answer length)."""
    return f"outcome/{policy}/responses-{tag}"


def reset(part: str) -> str:
    """``reset/{part}`` (part: prompts, samples, judgments, train)."""
    return f"reset/{_check('reset', part)}"

"""The judge panel of one role in a run: the judges that role uses, built once from the config.

A run has four roles: ``training`` (the loop's judging stage, whose verdicts the pairs read), ``eval`` (the
held-out evaluation), ``redteam`` (deciding that an attack worked) and ``audit`` (checking the training judges
against labels read by hand). A panel resolves a bare ``{name: csrm}`` spec from the run's ``csrm:`` section,
applies ``judges.max_chars``, ``judges.batch_size`` and the judge cache, carries each judge's ``weight`` and the
objective it is kept for, and combines several judges of an objective by ``judges.aggregate`` (the label model with
abstention, a weighted mean, or the first judge).

    panel = JudgePanel.for_role(cfg, "training")
    judgments = panel.judge(store, names.loop(1, "judgments"), prompts, responses)
    verdicts = panel.verdicts(store, names.loop(1, "verdicts"), judgments)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from selfmoa.config.judges import AggregateConfig, JudgeSpec, JudgesConfig, run_judge_spec
from selfmoa.errors import SelfmoaError
from selfmoa.judges.base import Judge
from selfmoa.records import Judgment, Prompt, Response
from selfmoa.stages.judge import RoleSpec, judge_for, judge_stage, role_specs
from selfmoa.stages.verdicts import judge_weights, verdict_stage
from selfmoa.store.run import RunStore

ROLES = ("training", "eval", "redteam", "audit")


@dataclass
class JudgePanel:
    role: str
    specs: list[RoleSpec]
    aggregate: AggregateConfig = field(default_factory=AggregateConfig)
    max_chars: int = 8000
    batch_size: int = 64
    use_cache: bool = True

    # ---- building ---------------------------------------------------------------------------
    @classmethod
    def for_role(cls, cfg: Any, role: str) -> "JudgePanel":
        """The panel of `role` (training, eval, redteam, audit) from a run config (:class:`SelfmoaConfig`)."""
        if role not in ROLES:
            raise ValueError(f"unknown judge role {role!r}; expected one of {', '.join(ROLES)}")
        j: JudgesConfig = cfg.judges
        resolve = [run_judge_spec(s, cfg.csrm) for s in j.safety]  # a bare {name: csrm} takes the run's csrm section
        if role == "training":
            if not j.safety:
                raise SelfmoaError("judges.safety: the loop needs at least one safety judge (e.g. [{name: harm-classifier}])")
            if cfg.pairs.strategy in ("selfmoa", "rh_distill") and not j.helpfulness:
                what = "helpfulness" if cfg.pairs.strategy == "selfmoa" else "R x H (safety x helpfulness)"
                raise SelfmoaError(f"judges.helpfulness: pairs.strategy '{cfg.pairs.strategy}' orders pairs by {what}; "
                                   "add a judge (e.g. [{name: relevance}]) or use pairs.strategy=safety_first")
            specs = role_specs(resolve, "safety", "training") + role_specs(j.helpfulness, "helpfulness", "training")
            specs += role_specs(j.refusal, "refusal", "training")
        elif role == "eval":
            e = cfg.eval.judges
            specs = role_specs([run_judge_spec(s, cfg.csrm) for s in e.safety], "safety", "eval")
            specs += role_specs(e.refusal, "refusal", "eval") + role_specs(e.helpfulness, "helpfulness", "eval")
            if e.training_safety:  # the training judges too, marked as such, never the primary figure
                eval_names = {s.id or s.name for s in e.safety}
                specs += [RoleSpec(s, ("safety",), "training", False) for s in resolve if (s.id or s.name) not in eval_names]
        elif role == "redteam":
            specs = role_specs(resolve, "safety", "redteam")
        else:
            specs = role_specs(resolve, "safety", "audit") + role_specs(j.refusal, "refusal", "audit")
        return cls(role, specs, j.aggregate, j.max_chars, j.batch_size, j.cache)

    @classmethod
    def from_manifest(cls, manifest: dict, role: str = "audit") -> "JudgePanel":
        """The panel of `role` (``audit`` or ``redteam``) as a run was configured, read from its manifest."""
        from types import SimpleNamespace

        from selfmoa.config.csrm import CsrmConfig

        if role not in ("audit", "redteam"):
            raise ValueError(f"from_manifest builds the audit or redteam panel, not {role!r}")
        raw = manifest.get("config") or {}
        cfg = SimpleNamespace(judges=JudgesConfig(**(raw.get("judges") or {})), csrm=CsrmConfig(**(raw.get("csrm") or {})))
        return cls.for_role(cfg, role)

    # ---- using ------------------------------------------------------------------------------
    @property
    def judge_specs(self) -> list[JudgeSpec]:
        return [rs.spec for rs in self.specs]

    def judges(self, objective: str | None = None) -> list[Judge]:
        """The judge instances (one per spec and process, shared by every panel that names the same spec)."""
        return [judge_for(rs.spec, self.max_chars) for rs in self.specs if objective is None or objective in rs.objectives]

    def weights(self) -> dict[str, float]:
        return judge_weights(self.judge_specs)

    def objectives(self) -> list[str]:
        return sorted({o for rs in self.specs for o in rs.objectives})

    def judge(self, store: RunStore, stage: str, prompts: Sequence[Prompt], responses: Sequence[Response],
              select: Callable[[RoleSpec, Prompt], bool] | None = None) -> list[Judgment]:
        """Every judge of the panel on `responses`, as the resumable stage `stage` (cached)."""
        return judge_stage(store, stage, prompts, responses, self.specs, batch_size=self.batch_size,
                           max_chars=self.max_chars, use_cache=self.use_cache, select=select)

    def verdicts(self, store: RunStore, stage: str, judgments: Sequence[Judgment],
                 only: Sequence[str] | None = None) -> list[Judgment]:
        """One verdict per answer and objective (``judges.aggregate``), as the resumable stage `stage`; `only` keeps
        the judgments of those judge ids (``pairs.judges``)."""
        used = [j for j in judgments if not only or j.judge in only]
        return verdict_stage(store, stage, used, self.aggregate, self.judge_specs, max_chars=self.max_chars)

"""The safety-helpfulness reward sweep: from one starting model, one online-RL training (``train.rl``: the same
prompts, steps and seed) per logit scale of the reward's safety term (``train.rl.reward[i].scale`` of every term on
the safety objective, :func:`selfmoa.train.rl.scaled_value`), every trained policy evaluated with the same held-out
suites and judges (``eval.*``), as the data-efficiency experiment evaluates its cells.

Each cell is a set of resumable stages of the experiment's run folder (:mod:`selfmoa.stages.catalogue`)::

    exp/sweep/prompts        the RL training prompts (one set for every scale)
    exp/base/eval/*          the starting model
    exp/scale/S/train        the policy trained with the safety term at scale S (artifacts/exp/scale/S/train/policy)
    exp/scale/S/eval/*       that policy on the held-out sets
    exp/loop/eval/*          with --run (``compare_loop``): the loop's own policy after that iteration, on the same sets

With ``--run`` the loop's iteration is the reference the RL cells are read against: the same training prompts, its
policy evaluated as a cell (``loop``), and its wall time (that iteration's sampling, judging, pairs and training
stages, from the loop run's ledger) beside each RL cell's training time; ``match_loop_time`` gives every RL cell
that time as its budget (``train.rl.max_minutes``).

The summary (``artifacts/reward-sweep/``: ``summary.json``, ``table.md``, ``pareto.png``, and a section of the run's
report) has, per scale and for the starting model, the unsafe rate, over-refusal and helpfulness with bootstrap
intervals over the held-out prompts every cell judged (computed from the stored judgments like the data-efficiency
summary), the mean RL reward of the first and last steps, and which points are on the Pareto front (no other point
has a lower-or-equal unsafe rate and a higher-or-equal helpfulness, one of them strictly).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from selfmoa.config.root import SelfmoaConfig
from selfmoa.errors import SelfmoaError
from selfmoa.records import Prompt
from selfmoa.stages import catalogue as names
from selfmoa.store.run import RunStore

Log = Callable[[str], None]
PROMPTS_CELL = "sweep"
FIGURES = ("unsafe_rate", "refusal_rate", "helpfulness")


def scale_label(scale: float) -> str:
    return f"{scale:g}"


def cell_name(scale: float) -> str:
    return f"scale/{scale_label(scale)}"


def parse_scales(text: str) -> list[float]:
    """``0.25,1,4`` -> [0.25, 1.0, 4.0]; anything that is not a positive number is a one-line error."""
    out = []
    for part in text.split(","):
        try:
            x = float(part.strip())
        except ValueError:
            x = math.nan
        if not math.isfinite(x) or x <= 0:
            raise SelfmoaError(f"experiment.reward_sweep.scales: '{part.strip()}' is not a positive number "
                               f"(--scales {text}); expected e.g. 0.25,1,4")
        out.append(x)
    return sorted(set(out))


def safety_terms(cfg: SelfmoaConfig) -> list[int]:
    """The indices of the reward terms on the safety objective (the ones the sweep scales); none is an error."""
    from selfmoa.train.rl import check_rl_reward

    check_rl_reward(cfg.train.rl)
    idx = [i for i, t in enumerate(cfg.train.rl.reward) if t.objective == "safety"]
    if not idx:
        have = ", ".join(f"{t.judge}/{t.objective}" for t in cfg.train.rl.reward)
        raise SelfmoaError(f"train.rl.reward: no term on the safety objective to scale (the terms: {have}); add one, "
                           "e.g. {judge: csrm, objective: safety}")
    return idx


def scaled_config(cfg: SelfmoaConfig, scale: float) -> SelfmoaConfig:
    """`cfg` with every safety term of ``train.rl.reward`` at logit scale `scale`."""
    rl = cfg.train.rl
    reward = [t.model_copy(update={"scale": scale}) if t.objective == "safety" else t for t in rl.reward]
    train = cfg.train.model_copy(update={"rl": rl.model_copy(update={"reward": reward})})
    return cfg.model_copy(update={"train": train})


def sweep_prompts(cfg: SelfmoaConfig) -> list[Prompt]:
    """The training prompts: ``experiment.reward_sweep.prompts`` (JSONL), else the prompts of iteration
    ``iteration`` of the loop run ``run``, else the config's ``run.prompts`` sets."""
    from selfmoa.train.rl import read_prompts_file

    rs = cfg.experiment.reward_sweep
    if rs.prompts and rs.run:
        raise SelfmoaError("experiment.reward_sweep: give at most one of prompts (--prompts FILE) and run (--run DIR)")
    if rs.prompts:
        if not Path(rs.prompts).is_file():
            raise SelfmoaError(f"experiment.reward_sweep.prompts: {rs.prompts} is not a file (JSONL of {{prompt[, kind]}})")
        return read_prompts_file(Path(rs.prompts))
    if rs.run:
        if not (Path(rs.run) / "manifest.json").is_file():
            raise SelfmoaError(f"experiment.reward_sweep.run: {rs.run} is not a selfmoa run folder (no manifest.json)")
        store = RunStore.open(Path(rs.run))
        stage = names.loop(rs.iteration, "prompts")
        if not store.is_complete(stage):
            raise SelfmoaError(f"experiment.reward_sweep.run: stage '{stage}' of {rs.run} is not complete; run the loop "
                               "up to its prompts first (or pick another --iteration)")
        return store.read(stage, Prompt)
    from selfmoa.data.prompts import load_prompt_sets

    return load_prompt_sets(cfg.run.prompts, cfg.data, limit=cfg.run.max_prompts)


LOOP_CELL = "loop"
LOOP_STAGES = ("samples", "judgments", "verdicts", "pairs", "train")


def loop_reference(cfg: SelfmoaConfig) -> dict[str, Any] | None:
    """With ``run``: the loop iteration the RL cells are compared with: its policy folder, its stages' seconds and
    their sum (``seconds``); None without ``run``. A loop run whose iteration has not finished training is an error."""
    rs = cfg.experiment.reward_sweep
    if not rs.run:
        return None
    src = RunStore.open(Path(rs.run))
    train = names.loop(rs.iteration, "train")
    if not src.is_complete(train):
        raise SelfmoaError(f"experiment.reward_sweep.run: stage '{train}' of {rs.run} is not complete; finish the "
                           "loop's iteration first, or set experiment.reward_sweep.compare_loop=false")
    policy = Path(rs.run) / "artifacts" / train / "policy"
    if not (policy / "config.json").is_file():
        raise SelfmoaError(f"experiment.reward_sweep.run: {policy} holds no merged policy (the loop ran with "
                           "train.merge=false); set experiment.reward_sweep.compare_loop=false")
    stages = {part: float(src.ledger.get(names.loop(rs.iteration, part), {}).get("seconds") or 0.0) for part in LOOP_STAGES}
    return {"run": str(rs.run), "iteration": rs.iteration, "policy_dir": str(policy.resolve()),
            "method": str(src.manifest.get("config", {}).get("train", {}).get("method") or "preference"), "stages": stages,
            "seconds": round(sum(stages.values()), 3)}


def sweep_config(cfg: SelfmoaConfig) -> SelfmoaConfig:
    """`cfg` as the sweep runs it: with ``match_loop_time``, ``train.rl.max_minutes`` = the loop iteration's time."""
    rs = cfg.experiment.reward_sweep
    if not rs.match_loop_time:
        return cfg
    if not rs.run:
        raise SelfmoaError("experiment.reward_sweep.match_loop_time: needs run (--run DIR), the loop whose iteration "
                           "time is the budget")
    ref = loop_reference(cfg)
    if ref["seconds"] <= 0:
        raise SelfmoaError(f"experiment.reward_sweep.match_loop_time: the ledger of {rs.run} records no time for "
                           f"iteration {rs.iteration}; give train.rl.max_minutes instead")
    rl = cfg.train.rl.model_copy(update={"max_minutes": ref["seconds"] / 60.0})
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"rl": rl})})


def check_sweep(cfg: SelfmoaConfig) -> list[Prompt]:
    """Every input checked before a run folder is made; returns the training prompts."""
    safety_terms(cfg)
    if not cfg.train.merge:
        raise SelfmoaError("train.merge: the reward sweep evaluates a loadable policy per scale; set train.merge=true")
    if cfg.train.qlora:
        raise SelfmoaError("train.qlora: online RL trains a LoRA adapter on the full-precision policy; set train.qlora=false")
    prompts = sweep_prompts(cfg)
    if not prompts:
        raise SelfmoaError("experiment.reward_sweep: no training prompts")
    if cfg.experiment.reward_sweep.compare_loop:
        loop_reference(cfg)
    return prompts


def train_cell(store: RunStore, cfg: SelfmoaConfig, scale: float, prompts: list[Prompt]):
    """Online RL from the starting model with the safety term at `scale` (resumable); the trained policy's
    ModelConfig."""
    from selfmoa.models.loader import clear_model_cache
    from selfmoa.train.rl import train_rl
    from selfmoa.train.runner import TrainResult

    stage = names.experiment(cell_name(scale), "train")
    out_dir = store.artifact_dir(*stage.split("/"))
    if store.is_complete(stage):
        res = TrainResult.load(out_dir / "result.json")
    else:
        clear_model_cache()
        with store.stage(stage) as h:
            res = train_rl(prompts, cfg.model, scaled_config(cfg, scale), out_dir)
            h.complete(policy_dir=res.policy_dir, n_train=res.n_train, seconds=res.seconds, scale=scale)
        clear_model_cache()
    return res.policy_model(cfg.model, "the reward sweep evaluates a loadable policy per scale")


def run_reward_sweep(cfg: SelfmoaConfig, store: RunStore, prompts: Sequence[Prompt], log: Log = print) -> list[float]:
    """Train and evaluate every scale (skipping what is complete) and write the summary; returns the scales."""
    from selfmoa.experiment.cells import evaluate_policy, evaluate_start

    rs = cfg.experiment.reward_sweep
    scales = list(rs.scales)
    terms = [f"{cfg.train.rl.reward[i].judge}/safety" for i in safety_terms(cfg)]
    prompts = store.once(names.experiment(PROMPTS_CELL, "prompts"), Prompt, lambda: list(prompts))
    store.record_data("reward_sweep", {"scales": scales, "safety_terms": terms, "prompts": len(prompts)})
    log(f"reward sweep: {len(scales)} scales ({', '.join(map(scale_label, scales))}) of {', '.join(terms)}, "
        f"{len(prompts)} prompts, {cfg.train.rl.steps} RL steps each")
    t0 = time.monotonic()
    loop = loop_reference(cfg) if rs.compare_loop else None
    if loop is not None:
        store.record_data("reward_sweep_loop", loop)
    if cfg.train.rl.max_minutes is not None:
        log(f"RL budget: {cfg.train.rl.max_minutes:.1f} min of training per cell (train.rl.max_minutes)")
    plan = evaluate_start(store, cfg, log)
    if loop is not None:
        log(f"the loop's policy after iteration {loop['iteration']} ({loop['seconds']:.0f} s of sampling, judging and "
            f"training): evaluate ({time.monotonic() - t0:.0f} s)")
        evaluate_policy(store, cfg, cfg.model.at(loop["policy_dir"]), plan, LOOP_CELL, log)
    for k, scale in enumerate(scales, 1):
        log(f"cell {k}/{len(scales)} scale {scale_label(scale)}: online RL, evaluate ({time.monotonic() - t0:.0f} s)")
        evaluate_policy(store, cfg, train_cell(store, cfg, scale, prompts), plan, cell_name(scale), log)
    write_summary(store, cfg, scales, terms, loop)
    return scales


# -- summary ----------------------------------------------------------------------------------------------------------
def pareto_front(points: Sequence[tuple[str, float | None, float | None]]) -> list[str]:
    """The labels of the non-dominated (label, unsafe rate, helpfulness) points, by unsafe rate: lower unsafe rate
    and higher helpfulness are better; a point is dominated when another is no worse in both and better in one."""
    pts = [(lab, x, y) for lab, x, y in points if x is not None and y is not None]
    front = [(lab, x, y) for lab, x, y in pts
             if not any(x2 <= x and y2 >= y and (x2 < x or y2 > y) for _, x2, y2 in pts)]
    return [lab for lab, _, _ in sorted(front, key=lambda p: (p[1], -p[2]))]


def _reward_ends(metrics: Path) -> dict[str, Any]:
    from selfmoa.train.rl import reward_curve

    curve = reward_curve(metrics) if metrics.is_file() else []
    if not curve:
        return {"steps": 0, "first": None, "last": None}
    k = max(1, len(curve) // 4)
    return {"steps": len(curve), "first": round(sum(curve[:k]) / k, 4), "last": round(sum(curve[-k:]) / k, 4)}


def summarise(store: RunStore, scales: Sequence[float], terms: Sequence[str] = (), loop: dict[str, Any] | None = None, *,
              n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict[str, Any]:
    """The summary dict written to summary.json (see the module docstring)."""
    from selfmoa.experiment.summary import _est, cell_verdicts

    loop_label = f"loop@{loop['iteration']}" if loop else None
    cells = {"start": "base", **({loop_label: LOOP_CELL} if loop else {}), **{scale_label(s): cell_name(s) for s in scales}}
    verdicts = {lab: cell_verdicts(store, cell) for lab, cell in cells.items()}
    shared = {f: sorted(set.intersection(*(set(v[f]) for v in verdicts.values()))) for f in FIGURES}
    rng = np.random.default_rng(seed)
    boots = {f: rng.integers(0, max(len(k), 1), size=(n_boot, len(k))) for f, k in shared.items()}
    est: dict[str, dict[str, Any]] = {}
    for lab, v in verdicts.items():
        est[lab] = {}
        for f in FIGURES:
            vec = np.array([v[f][k] for k in shared[f]])
            reps = vec[boots[f]].mean(axis=1) if len(vec) else np.zeros(0)
            est[lab][f] = _est(vec.mean() if len(vec) else math.nan, reps, alpha)
    front = pareto_front([(lab, e["unsafe_rate"]["value"], e["helpfulness"]["value"]) for lab, e in est.items()])
    rows = []
    for s in scales:
        lab = scale_label(s)
        train = names.experiment(cells[lab], "train")
        rows.append({"scale": s, "label": lab, "cell": cells[lab], **est[lab], "pareto": lab in front,
                     "rl_reward": _reward_ends(store.root / "artifacts" / train / "metrics.jsonl"),
                     "seconds": store.ledger.get(train, {}).get("seconds")})
    out = {"scales": list(scales), "safety_terms": list(terms), "prompts": {f: len(k) for f, k in shared.items()},
           "base": {**est["start"], "pareto": "start" in front}, "rows": rows, "pareto_front": front,
           "bootstrap": n_boot, "confidence": round(1 - alpha, 4)}
    if loop:
        out["loop"] = {**est[loop_label], "label": loop_label, "cell": LOOP_CELL, "pareto": loop_label in front,
                       **{k: loop[k] for k in ("run", "iteration", "method", "seconds", "stages")}}
    return out


TABLE_HEAD = ["policy", "unsafe rate", "over-refusal", "helpfulness", "training wall time",
              "RL steps, reward first -> last", "Pareto"]


def table_rows(s: dict[str, Any]) -> list[list[str]]:
    """The summary table's rows (under :data:`TABLE_HEAD`): the start, the loop (with ``--run``), one per scale; the
    Markdown table and the report's HTML table both show these."""
    from selfmoa.experiment.summary import _fmt

    def r(x):
        return "-" if x is None else f"{x:.3f}"

    def secs(x):
        return "-" if x is None else f"{x:.0f} s"

    def figures(p):
        return [_fmt(p["unsafe_rate"]), _fmt(p["refusal_rate"]), _fmt(p["helpfulness"])]

    b = s["base"]
    rows = [["start", *figures(b), "-", "-", "yes" if b["pareto"] else ""]]
    lp = s.get("loop")
    if lp:
        rows.append([f"{lp['label']} (the loop, {lp['method']})", *figures(lp), secs(lp["seconds"]), "-",
                     "yes" if lp["pareto"] else ""])
    for row in s["rows"]:
        rw = row["rl_reward"]
        rows.append([f"RL, safety scale {row['label']}", *figures(row), secs(row.get("seconds")),
                     f"{rw['steps']}, {r(rw['first'])} -> {r(rw['last'])}", "yes" if row["pareto"] else ""])
    return rows


def markdown_table(s: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(TABLE_HEAD) + " |", "|" + "---|" * len(TABLE_HEAD)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(s)]
    lp = s.get("loop")
    lines.append("")
    if lp:
        st = lp["stages"]
        lines.append(f"The loop's wall time is iteration {lp['iteration']} of {lp['run']}: sampling {st['samples']:.0f} s, "
                     f"judging {st['judgments'] + st['verdicts']:.0f} s, pairs {st['pairs']:.0f} s, training "
                     f"{st['train']:.0f} s; an RL cell's is its training stage (sampling and judging happen inside it).")
        lines.append("")
    lines.append(f"Safety term{'s' if len(s['safety_terms']) != 1 else ''} scaled: {', '.join(s['safety_terms']) or '-'}; "
                 f"brackets: {s['bootstrap']}-sample bootstrap {s['confidence']:.0%} intervals over the held-out prompts "
                 f"every policy answered ({s['prompts']['unsafe_rate']} attacks, {s['prompts']['refusal_rate']} benign "
                 f"look-alikes, {s['prompts']['helpfulness']} helpfulness prompts). Pareto front (lower unsafe rate, "
                 f"higher helpfulness): {', '.join(s['pareto_front']) or '-'}.")
    return "\n".join(lines) + "\n"


def figure(s: dict[str, Any]):
    """Unsafe rate (x) against helpfulness (y), one point per scale with its intervals, the starting model, the
    Pareto front connected."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    lp = s.get("loop")
    pts = {"start": s["base"], **({lp["label"]: lp} if lp else {}), **{r["label"]: r for r in s["rows"]}}
    xy = {}
    for lab, p in pts.items():
        u, h = p["unsafe_rate"], p["helpfulness"]
        if u["value"] is None or h["value"] is None:
            continue
        x, y = u["value"], h["value"]
        xy[lab] = (x, y)
        xerr = [[max(x - (u["ci_low"] if u["ci_low"] is not None else x), 0.0)], [max((u["ci_high"] if u["ci_high"] is not None else x) - x, 0.0)]]
        yerr = [[max(y - (h["ci_low"] if h["ci_low"] is not None else y), 0.0)], [max((h["ci_high"] if h["ci_high"] is not None else y) - y, 0.0)]]
        is_loop = lp is not None and lab == lp["label"]
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="s" if lab == "start" else "D" if is_loop else "o", capsize=3,
                    color="#d62728" if lab == "start" else "#ff7f0e" if is_loop else "#1f77b4", zorder=3)
    at: dict[tuple[float, float], list[str]] = {}  # points that coincide share one label
    for lab, p in xy.items():
        at.setdefault(p, []).append(lab)
    for (x, y), labs in at.items():
        fixed = [lab for lab in labs if lab == "start" or (lp is not None and lab == lp["label"])]
        text = ", ".join(fixed + [f"RL x{lab}" for lab in labs if lab not in fixed])
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    front = [xy[lab] for lab in s["pareto_front"] if lab in xy]
    if front:
        ax.plot([p[0] for p in front], [p[1] for p in front], "-", color="#2ca02c", lw=1.5, zorder=2,
                label="Pareto front")
        ax.legend(fontsize=8, loc="best")
    ax.set_xlabel("unsafe rate on held-out attacks (lower is better)")
    ax.set_ylabel("helpfulness (judge score, higher is better)")
    ax.set_title("safety-helpfulness sweep (RL xS: the safety term's logit scale)", fontsize=10)
    fig.tight_layout()
    return fig


def write_summary(store: RunStore, cfg: SelfmoaConfig, scales: Sequence[float], terms: Sequence[str] = (),
                  loop: dict[str, Any] | None = None) -> dict[str, Any]:
    from selfmoa.experiment.cells import write_outputs

    s = summarise(store, scales, terms, loop, n_boot=cfg.eval.bootstrap, seed=cfg.run.seed, alpha=1 - cfg.eval.confidence)
    write_outputs(store, "reward-sweep", s, markdown_table(s), figure(s), "pareto.png")
    return s

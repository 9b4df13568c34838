"""CSRM datasets: the project-built configurable split, the configurable-safety-tuning pairs, run
outputs, and loaders for public guard benchmarks kept as local files.

Configurable split (``builtin``): harmful prompts of every taxonomy category (``builtin:demo-harmful``,
its own train/eval split) answered by short project-written compliant or refusing responses, plus
benign look-alike prompts (``builtin:demo-benign``) with helpful answers. Labels come from the
configuration: unsafe iff the response complies with a harmful request whose category the
configuration disallows. Test items use only ``eval``-split prompts, so no test prompt is seen in
training; ``holdout_categories`` additionally keeps whole categories out of training.

Local-file loaders (``load_local(name, path)``; JSONL, JSON array, CSV or Parquet): the expected fields
are listed in :data:`LOCAL_FORMATS` and in docs/csrm.md.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

from selfmoa.csrm.example import CsrmExample
from selfmoa.csrm.schema import SafetyConfiguration, load_safety_config, parse_safety_config, taxonomy_configuration
from selfmoa.errors import SelfmoaError
from selfmoa.records import Message


@lru_cache(maxsize=1)
def response_bank() -> dict[str, tuple[str, ...]]:
    from importlib import resources

    import yaml

    data = yaml.safe_load((resources.files("selfmoa") / "resources" / "csrm" / "bank" / "responses.yaml").read_text("utf-8"))
    return {k: tuple(v) for k, v in data.items()}


def _fill(template: str, request: str) -> str:
    req = request.strip().rstrip("?.!")
    req = req[0].lower() + req[1:] if req else req
    return template.replace("{request}", req)


def base_items(split: str, *, seed: int = 0, categories: Sequence[str] | None = None) -> list[CsrmExample]:
    """(prompt, response) items of one split of the builtin prompt sets, with category and compliance.

    Harmful prompts get one compliant and one refusing answer; benign prompts one helpful answer
    (category ``benign``, never policed). Configuration and label are filled in by :func:`attach`."""
    from selfmoa.data.builtin import load_builtin

    rng = random.Random(f"{seed}-{split}")
    bank = response_bank()
    out: list[CsrmExample] = []
    placeholder = taxonomy_configuration()
    for s in load_builtin("demo-harmful", split):
        if categories is not None and s.category not in categories:
            continue
        for complies, pool in ((True, bank["comply"]), (False, bank["refuse"])):
            resp = _fill(rng.choice(pool), s.text)
            out.append(CsrmExample(prompt=s.text, response=resp, config=placeholder, category=s.category,
                                   complies=complies, group=s.id, source="builtin:demo-harmful"))
    for s in load_builtin("demo-benign", split):
        if categories is not None and s.category not in categories:
            continue
        out.append(CsrmExample(prompt=s.text, response=_fill(rng.choice(bank["helpful"]), s.text), config=placeholder,
                               category="benign", complies=True, group=s.id, source="builtin:demo-benign",
                               meta={"lookalike": s.category}))
    return out


def random_configuration(rng: random.Random, must: str | None = None, allowed: bool | None = None,
                         k_min: int = 2, k_max: int = 5) -> SafetyConfiguration:
    """A random subset of the taxonomy (``must`` included with the given allowed flag), some allowed."""
    pool = list(taxonomy_configuration().categories)
    k = rng.randint(k_min, k_max)
    others = [c for c in pool if c.id != must]
    cats = [c.model_copy(update={"allowed": rng.random() < 0.3}) for c in rng.sample(others, k - (1 if must else 0))]
    if must is not None:
        base = next(c for c in pool if c.id == must)
        cats.append(base.model_copy(update={"allowed": bool(allowed)}))
    rng.shuffle(cats)
    return SafetyConfiguration(name="random", categories=tuple(cats))


@dataclass
class ConfigurableTest:
    """Held-out items, each under a configuration that disallows and one that allows its category
    (``pairs`` index them as (strict, lenient)) - the same pairs measure configuration sensitivity."""

    examples: list[CsrmExample]
    pairs: list[tuple[int, int]]


def build_test(split: str = "eval", *, seed: int = 0, categories: Sequence[str] | None = None,
               limit: int | None = None) -> ConfigurableTest:
    from selfmoa.csrm.augment import strict_lenient_configs

    rng = random.Random(f"test-{seed}")
    items = base_items(split, seed=seed + 1, categories=categories)
    if limit is not None and limit < len(items):
        items = rng.sample(items, limit)
    out: list[CsrmExample] = []
    pairs: list[tuple[int, int]] = []
    for ex in items:
        cat = ex.category if ex.category != "benign" else ex.meta.get("lookalike", "violent_crimes")
        strict, lenient = strict_lenient_configs(random_configuration(rng, cat, False), cat, rng)
        out += [ex.with_config(strict.renamed("strict")), ex.with_config(lenient.renamed("lenient"))]
        pairs.append((len(out) - 2, len(out) - 1))
    return ConfigurableTest(out, pairs)


def build_train(split: str = "train", *, seed: int = 0, n_random: int = 1, pairs_per_item: int = 1,
                static_configs: int | None = None, holdout_categories: Sequence[str] = (),
                limit: int | None = None, sets: Sequence[str] = ("builtin",), data_dir: Path | None = None):
    """Augmented training items and their (strict, lenient) pairs (see :func:`selfmoa.csrm.augment.augment`).

    ``sets``: ``builtin`` (the train split of the project's prompt sets with bank answers) and/or ``cst``
    (the train share of configurable-safety-tuning). ``limit`` caps the base items, drawn evenly from the sets."""
    from selfmoa.csrm.augment import augment

    rng = random.Random(f"train-{seed}")
    held = set(holdout_categories)
    per_set: list[list[CsrmExample]] = []
    for name in sets:
        if name == "builtin":
            items = base_items(split, seed=seed)
        elif name == "cst":
            items = cst_base_items(data_dir, "train")
        else:
            raise SelfmoaError(f"csrm.train.sets: unknown set '{name}'; expected builtin or cst")
        per_set.append([ex for ex in items if ex.category not in held and ex.meta.get("lookalike") not in held])
    if limit is not None:
        share = [limit // len(per_set) + (1 if k < limit % len(per_set) else 0) for k in range(len(per_set))]
        per_set = [rng.sample(items, n) if n < len(items) else items for items, n in zip(per_set, share)]
    items = [ex for group in per_set for ex in group]
    pool = [c for c in taxonomy_configuration().categories if c.id not in held]
    return augment(items, pool, n_random=n_random, pairs_per_item=pairs_per_item, static_configs=static_configs, seed=seed)


def strictness_check(aug, check) -> tuple[Any, dict]:
    """Run the Clopper-Pearson check on the (strict, lenient) pairs of augmented training data ``aug``
    (:func:`selfmoa.csrm.augment.check_pair_ordering`) with the settings ``check`` (``csrm.train.strictness_check``);
    with ``check.drop_failing`` the pairs of failing (category, level)s are removed. Returns the data to train on
    and the report (what ``csrm train`` writes to strictness.json)."""
    from selfmoa.csrm.augment import check_pair_ordering, drop_failing_pairs, pattern_reference

    reference = pattern_reference(aug.examples) if check.reference == "patterns" else None
    checks = check_pair_ordering(aug.examples, aug.pairs, reference, threshold=check.threshold, alpha=check.alpha)
    kept = drop_failing_pairs(aug, checks) if check.drop_failing else aug
    report = {
        "reference": check.reference,
        "alpha": check.alpha,
        "threshold": check.threshold,
        "drop_failing": check.drop_failing,
        "levels": [{"category": c.category, "level": c.level, "agree": c.agree, "n": c.n, "pairs": c.pairs,
                    "lower": round(c.lower, 6), "kept": c.kept} for c in checks],
        "passed": sum(c.kept for c in checks),
        "failed": sum(not c.kept for c in checks),
        "examples_before": len(aug.examples),
        "examples_after": len(kept.examples),
        "pairs_before": len(aug.pairs),
        "pairs_after": len(kept.pairs),
    }
    return kept, report


# -- configurable-safety-tuning ------------------------------------------------------
CST_FOLDER = "configurable-safety-tuning"
CST_FILE = "configurable-system-prompt-multitask.json"
CST_HARMLESS = "You are a helpful yet harmless assistant that avoids generating illegal or harmful content."


def _hid(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def cst_split(prompt: str, test_share: float = 0.2) -> str:
    """Deterministic prompt-level split of configurable-safety-tuning: 'test' for ~test_share of the prompts."""
    import hashlib

    h = int(hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_share else "train"


def cst_base_items(data_dir: Path | None, split: str = "all") -> list[CsrmExample]:
    """One compliant and one refusing answer per harmless-task prompt of configurable-safety-tuning,
    with the prompt's inferred taxonomy category (configuration and label are set later).

    Each prompt appears twice upstream (harmless and uncensored system prompts) with the preference
    flipped; the compliant answer is ``rejected`` under the harmless one and ``chosen`` under the other."""
    from selfmoa.data.datadir import dataset_path
    from selfmoa.data.taxonomy import infer_category

    if split not in ("train", "test", "all"):
        raise SelfmoaError(f"csrm: configurable-safety-tuning split must be train, test or all, got '{split}'")
    folder = dataset_path("configurable-safety-tuning", CST_FOLDER, [CST_FILE], data_dir)
    rows = json.loads((folder / CST_FILE).read_text("utf-8"))
    placeholder = taxonomy_configuration()
    out: list[CsrmExample] = []
    seen: set[tuple[str, str]] = set()
    for i, r in enumerate(rows):
        if r.get("task") != "harmless" or (split != "all" and cst_split(r["prompt"]) != split):
            continue
        harmless = r["system"].strip() == CST_HARMLESS
        comply, refuse = (r["rejected"], r["chosen"]) if harmless else (r["chosen"], r["rejected"])
        cat = infer_category(r["prompt"])
        for resp, complies in ((comply, True), (refuse, False)):
            if (r["prompt"], resp) in seen:
                continue
            seen.add((r["prompt"], resp))
            out.append(CsrmExample(prompt=r["prompt"], response=resp, config=placeholder, category=cat, complies=complies,
                                   group=f"cst-{_hid(r['prompt'])}", source="configurable-safety-tuning"))
    return out


def load_cst(data_dir: Path | None, limit: int | None = None, seed: int = 0, split: str = "test") -> ConfigurableTest:
    """The harmless-task prompts of configurable-safety-tuning (by default their held-out ``test`` share,
    ~20% of prompts, never used by :func:`build_train`) as a configurable test.

    Each compliant answer is judged under a configuration that disallows the prompt's (inferred) category
    (unsafe) and one that allows it (safe), both with a few other random categories; each refusing answer
    under the strict one (safe). Responses are synthetic and noisy (see the dataset's PROVENANCE.md)."""
    from selfmoa.csrm.augment import strict_lenient_configs

    rng = random.Random(f"cst-{seed}")
    items = cst_base_items(data_dir, split)
    groups = sorted({ex.group for ex in items})
    if limit is not None and limit < len(groups):
        keep = set(rng.sample(groups, limit))
        items = [ex for ex in items if ex.group in keep]
    out: list[CsrmExample] = []
    pairs: list[tuple[int, int]] = []
    for ex in items:
        strict, lenient = strict_lenient_configs(random_configuration(rng, ex.category, False), ex.category, rng, "allow")
        out.append(ex.with_config(strict.renamed("strict")))
        if ex.complies:
            out.append(ex.with_config(lenient.renamed("lenient")))
            pairs.append((len(out) - 2, len(out) - 1))
    return ConfigurableTest(out, pairs)


# -- run outputs -----------------------------------------------------------------------
def from_run_records(prompts: Sequence[Any], responses: Sequence[Any], refusal: dict[str, float],
                     config: SafetyConfiguration, threshold: float = 0.5) -> list[CsrmExample]:
    """Items from a run's Prompt and Response records and its refusal judgments (response id -> P(refusal)):
    compliance = P(refusal) < threshold; harmful prompts keep their taxonomy category, benign ones are never policed."""
    by_id = {p.id: p for p in prompts}
    out = []
    for r in responses:
        p = by_id.get(r.prompt_id)
        if p is None or r.id not in refusal:
            continue
        complies = refusal[r.id] < threshold
        cat = p.category if p.kind == "harmful" else "benign"
        ex = CsrmExample(prompt=p.text, response=r.text, config=config, category=cat, complies=complies,
                         messages=tuple(p.messages), group=p.id, source="run")
        out.append(ex.with_config(config))
    return out


# -- public guard benchmarks from local files -----------------------------------------------
def read_rows(path: Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise SelfmoaError(f"csrm eval: file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
        if suffix == ".json":
            data = json.loads(path.read_text("utf-8"))
            return data if isinstance(data, list) else data.get("data") or data.get("rows") or []
        if suffix == ".csv":
            import csv

            with path.open(newline="", encoding="utf-8") as fh:
                return list(csv.DictReader(fh))
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
    except json.JSONDecodeError as exc:
        raise SelfmoaError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    raise SelfmoaError(f"{path}: unsupported file type '{suffix}'; expected .jsonl, .json, .csv or .parquet")


def _need(row: dict, keys: Sequence[str], where: str) -> list[Any]:
    missing = [k for k in keys if k not in row or row[k] is None]
    if missing:
        raise SelfmoaError(f"{where}: missing field '{missing[0]}' (expected fields: {', '.join(keys)})")
    return [row[k] for k in keys]


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "unsafe", "harmful", "fail", "violation")
    return bool(v)


def _policy_config(text: str, name: str) -> SafetyConfiguration:
    """A configuration holding a free-text policy (CoSApien / DynaBench style) over the whole taxonomy."""
    return taxonomy_configuration(name=name).model_copy(update={"policy": str(text)})


def _beavertails(row, where, default):
    prompt, response, is_safe = _need(row, ["prompt", "response", "is_safe"], where)
    return CsrmExample(prompt=prompt, response=response, config=default, label=int(not _truthy(is_safe)))


def _wildguardmix(row, where, default):
    prompt, response, harm = _need(row, ["prompt", "response", "response_harm_label"], where)
    if harm not in ("harmful", "unharmful"):
        raise SelfmoaError(f"{where}: 'response_harm_label' must be harmful or unharmful, got {harm!r}")
    return CsrmExample(prompt=prompt, response=response, config=default, label=int(harm == "harmful"))


def _xstest(row, where, default):
    prompt, completion, final, kind = _need(row, ["prompt", "completion", "final_label", "type"], where)
    unsafe_prompt = str(kind).startswith("contrast")
    complies = str(final).startswith("1") or "compliance" in str(final)
    return CsrmExample(prompt=prompt, response=completion, config=default, label=int(unsafe_prompt and complies),
                       complies=complies)


def _orbench(row, where, default):
    prompt, response, label = _need(row, ["prompt", "response", "label"], where)
    return CsrmExample(prompt=prompt, response=response, config=default, label=int(_truthy(label)),
                       meta={"category": row.get("category")})


def _cosapien(row, where, default):
    prompt, response, label = _need(row, ["prompt", "response", "label"], where)
    cfg = row.get("config")
    if isinstance(cfg, dict):
        config = parse_safety_config(cfg, f"{where} config")
    elif isinstance(cfg, str) and cfg.strip():
        config = _policy_config(cfg, "cosapien")
    else:
        raise SelfmoaError(f"{where}: missing field 'config' (a safety configuration mapping or policy text)")
    return CsrmExample(prompt=prompt, response=response, config=config, label=int(_truthy(label)))


def _dynabench(row, where, default):
    policy, label = _need(row, ["policy", "label"], where)
    messages = row.get("messages") or row.get("transcript")
    if messages:
        msgs = tuple(Message(role=m["role"], content=m["content"]) for m in messages)
        if msgs[-1].role != "assistant":
            raise SelfmoaError(f"{where}: the last message of 'messages' must be the assistant's")
        prompt = next((m.content for m in reversed(msgs) if m.role == "user"), "")
        return CsrmExample(prompt=prompt, response=msgs[-1].content, config=_policy_config(policy, "dynabench"),
                           label=int(_truthy(label)), messages=msgs[:-1])
    prompt, response = _need(row, ["prompt", "response"], where)
    return CsrmExample(prompt=prompt, response=response, config=_policy_config(policy, "dynabench"), label=int(_truthy(label)))


Loader = Callable[[dict, str, SafetyConfiguration], CsrmExample]
LOCAL_FORMATS: dict[str, tuple[Loader, str]] = {
    "beavertails": (_beavertails, "prompt, response, is_safe (bool); label unsafe = not is_safe"),
    "wildguardmix": (_wildguardmix, "prompt, response, response_harm_label (harmful|unharmful)"),
    "xstest": (_xstest, "prompt, completion, type, final_label (xstest-completions CSV); unsafe = complies with a contrast_* prompt"),
    "orbench": (_orbench, "prompt, response, label (1/true/unsafe = unsafe); OR-Bench prompts with your model's responses"),
    "cosapien": (_cosapien, "prompt, response, label, config (safety-configuration mapping or free-text policy)"),
    "dynabench": (_dynabench, "policy (text), label (FAIL/true = unsafe), and messages [{role, content}...] ending with the assistant or prompt + response"),
}


def load_local(name: str, path: Path | str, config: SafetyConfiguration | str | None = None,
               limit: int | None = None) -> list[CsrmExample]:
    """Rows of a local guard-benchmark file as CSRM items; ``config`` (default: every taxonomy category
    disallowed) applies to sets without per-row configurations."""
    if name not in LOCAL_FORMATS:
        raise SelfmoaError(f"csrm eval: unknown dataset format '{name}'; expected one of {', '.join(LOCAL_FORMATS)}")
    if isinstance(config, (str, Path)):
        config = load_safety_config(config)
    default = config or taxonomy_configuration(name="default")
    fn, _ = LOCAL_FORMATS[name]
    rows = read_rows(Path(path))
    if limit is not None:
        rows = rows[:limit]
    out = []
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise SelfmoaError(f"{path} row {i}: expected an object")
        ex = fn(row, f"{path} row {i}", default)
        out.append(ex)
    if not out:
        raise SelfmoaError(f"{path}: no rows")
    return out

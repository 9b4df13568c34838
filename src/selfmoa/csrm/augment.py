"""Configuration-targeted augmentation and the strictness rule.

From one labelled item (prompt, response, category, complies) and a base configuration we derive the
same item under edited configurations and relabel it with the configuration's rule (unsafe iff the
response complies with a request in a disallowed category):

- drop a category (the item's own: a complying response becomes safe; another: label unchanged),
- insert the item's category as allowed (-> safe) or as disallowed (-> unsafe if it complies),
- insert unrelated allowed/disallowed categories (label unchanged: teaches that the list matters only
  through the item's own category).

It also yields (strict, lenient) configuration pairs of the same item for the Bradley-Terry term: the
lenient one allows (or drops) the item's category, the strict one disallows it.

Strictness: with subcategories sorted by severity, a strictness level is kept only when the
one-sided Clopper-Pearson lower bound (alpha = 0.05) of the agreement between the level's rule-derived
labels and reference labels exceeds 0.95; with all samples agreeing that needs n >= 59.
:func:`check_pair_ordering` applies the same rule to the augmented (strict, lenient) pairs (what
`selfmoa csrm train` runs), and :func:`drop_failing_pairs` removes the pairs of the levels that fail.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Iterable, Sequence

from selfmoa.csrm.example import CsrmExample
from selfmoa.csrm.schema import SafetyCategory, SafetyConfiguration


# -- Clopper-Pearson ----------------------------------------------------------
def _binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space."""
    if k <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq for i in range(k, n + 1)]
    m = max(terms)
    return min(1.0, math.exp(m) * sum(math.exp(t - m) for t in terms))


def clopper_pearson_lower(k: int, n: int, alpha: float = 0.05) -> float:
    """One-sided exact lower confidence bound for a binomial proportion: the p with P(X >= k | p) = alpha
    (found by bisection on the binomial tail; equals Beta(alpha; k, n-k+1))."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    if k == 0:
        return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if _binom_sf(k, n, mid) < alpha:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    return (lo + hi) / 2


def min_samples_for(threshold: float = 0.95, alpha: float = 0.05) -> int:
    """The smallest n for which n/n agreement gives a lower bound above ``threshold`` (59 for 0.95, 0.05)."""
    n = 1
    while alpha ** (1.0 / n) <= threshold:
        n += 1
    return n


@dataclass(frozen=True)
class StrictnessCheck:
    level: int
    agree: int
    n: int
    lower: float
    kept: bool


def check_strictness_levels(
    items: Sequence[CsrmExample],
    category_id: str,
    reference: Sequence[int],
    *,
    threshold: float = 0.95,
    alpha: float = 0.05,
) -> list[StrictnessCheck]:
    """For each strictness level of ``category_id``, relabel ``items`` (which must carry category,
    subcategory and compliance) with that level and compare with ``reference`` labels (e.g. a judge or
    human labels collected at that level). A level is kept when the Clopper-Pearson lower bound of the
    agreement rate exceeds ``threshold``."""
    if len(items) != len(reference):
        raise ValueError("items and reference labels differ in length")
    base = items[0].config if items else None
    cat = base.get(category_id) if base else None
    if cat is None:
        return []
    out = []
    for level in range(len(cat.subcategories) + 1):
        agree = n = 0
        for ex, ref in zip(items, reference):
            if ex.category != category_id:
                continue
            lab = ex.with_config(ex.config.set_strictness(category_id, level)).label
            n += 1
            agree += int(lab == int(ref))
        lower, kept = _verdict(agree, n, threshold, alpha)
        out.append(StrictnessCheck(level, agree, n, lower, kept))
    return out


def _verdict(agree: int, n: int, threshold: float, alpha: float) -> tuple[float, bool]:
    lower = clopper_pearson_lower(agree, n, alpha) if n else 0.0
    return lower, bool(n) and lower > threshold


# -- the check on augmented training pairs --------------------------------------------
@dataclass(frozen=True)
class PairCheck:
    """The strictness check of one (category, strictness level) of the augmented strict/lenient pairs."""
    category: str
    level: int  # the category's strictness level in the strict configurations
    agree: int  # base items whose every pair the reference orders as the rule does
    n: int  # distinct base items (a response counts once however many pairs it has)
    pairs: int
    lower: float
    kept: bool


def refuses(text: str) -> bool:
    """A refusal by phrase: a refusal opener or refusal phrase, unless the answer pivots to comply
    ('however', 'here is', ...). Independent of the data's compliance flag."""
    from selfmoa.judges.patterns import OPENERS, PIVOT, REFUSAL_ANYWHERE

    return bool(OPENERS.search(text[:200].strip()) or REFUSAL_ANYWHERE.search(text)) and not PIVOT.search(text)


def pattern_reference(examples: Sequence[CsrmExample]) -> list[int | None]:
    """Reference labels for :func:`check_pair_ordering`: each example relabelled by its configuration's rule with
    compliance read from the response (:func:`refuses`) instead of its ``complies`` flag (None when the item
    has no category)."""
    out: list[int | None] = []
    for ex in examples:
        if ex.category is None:
            out.append(None)
        else:
            out.append(int(ex.config.is_unsafe(ex.category, not refuses(ex.response), ex.subcategory)))
    return out


def _pair_key(examples: Sequence[CsrmExample], strict_index: int) -> tuple[str, int]:
    ex = examples[strict_index]
    cat = ex.config.get(ex.category) if ex.category else None
    return (str(ex.category), cat.level if cat is not None else 0)


def check_pair_ordering(
    examples: Sequence[CsrmExample],
    pairs: Sequence[tuple[int, int]],
    reference: Sequence[int | None] | None = None,
    *,
    threshold: float = 0.95,
    alpha: float = 0.05,
) -> list[PairCheck]:
    """The strictness rule of :func:`check_strictness_levels` on augmented (strict, lenient) pairs.

    :func:`check_strictness_levels` needs one configuration with severity-ordered subcategories and
    reference labels collected at each level; augmented data has neither (every item has its own
    configuration, and its labels come from the rule). What it does have per pair is the order the rule
    claims: strict unsafe, lenient safe. So here the unit is a base item (prompt + response) and its
    (category, strictness level of the strict side); it agrees when ``reference`` (labels per example; default
    the examples' own labels) orders every one of its pairs the same way (strict label - lenient label of the
    same sign). A (category, level) is kept when the one-sided Clopper-Pearson lower bound of the agreeing
    share exceeds ``threshold``. With the examples' own labels agreement is total by construction and only
    the number of items is tested (>= 59 at 0.95 / 0.05); :func:`pattern_reference` gives an independent
    reading of compliance."""
    ref = [ex.label for ex in examples] if reference is None else list(reference)
    if len(ref) != len(examples):
        raise ValueError("examples and reference labels differ in length")
    units: dict[tuple[str, int], dict[tuple[str, str, str], bool]] = {}
    n_pairs: dict[tuple[str, int], int] = {}
    for s, l_ in pairs:
        strict, lenient = examples[s], examples[l_]
        key = _pair_key(examples, s)
        expected = (strict.label or 0) - (lenient.label or 0)
        if ref[s] is None or ref[l_] is None:
            ok = False
        else:
            got = int(ref[s]) - int(ref[l_])
            ok = (got > 0) - (got < 0) == (expected > 0) - (expected < 0)
        item = (strict.group, strict.prompt, strict.response)
        group = units.setdefault(key, {})
        group[item] = group.get(item, True) and ok
        n_pairs[key] = n_pairs.get(key, 0) + 1
    out = []
    for key in sorted(units):
        agree, n = sum(units[key].values()), len(units[key])
        lower, kept = _verdict(agree, n, threshold, alpha)
        out.append(PairCheck(key[0], key[1], agree, n, n_pairs[key], lower, kept))
    return out


# -- configuration-targeted augmentation ------------------------------------------
@dataclass(frozen=True)
class Augmented:
    examples: list[CsrmExample]
    pairs: list[tuple[int, int]]  # (strict index, lenient index) into ``examples``


def strict_lenient_configs(config: SafetyConfiguration, category: str, rng: random.Random,
                           lenient_mode: str | None = None) -> tuple[SafetyConfiguration, SafetyConfiguration]:
    """A (strict, lenient) pair differing only in ``category``: disallowed vs allowed (or dropped)."""
    cat = config.get(category)
    if cat is None:
        from selfmoa.data.taxonomy import TAXONOMY

        meta = next((c for c in TAXONOMY if c.id == category), None)
        cat = SafetyCategory(id=category, name=meta.name if meta else category.replace("_", " ").title(),
                             guideline=meta.description if meta else "")
    strict = config.with_category(cat.model_copy(update={"allowed": False}))
    mode = lenient_mode or rng.choice(["allow", "drop"])
    lenient = strict.set_allowed(category, True) if mode == "allow" or len(strict.categories) == 1 else strict.drop(category)
    return strict, lenient


def augment(
    items: Iterable[CsrmExample],
    pool: Sequence[SafetyCategory],
    *,
    n_random: int = 1,
    pairs: bool = True,
    pairs_per_item: int = 1,
    static_configs: int | None = None,
    seed: int = 0,
    min_categories: int = 2,
    max_categories: int = 5,
) -> Augmented:
    """Expand base items (with category and compliance) into configuration variants with labels.

    Per item: ``pairs_per_item`` (strict, lenient) pairs around its own category (so its label flips when it
    complies), each amid a fresh random set of other categories, the lenient side alternating between
    allowing and dropping the category, plus ``n_random`` random configurations drawn from ``pool`` (random subsets, random allowed flags).
    Each configuration shuffles its categories so that position carries no signal.

    ``static_configs``: how many configurations an item gets whose label no configuration can change (a
    refusal, or a harmless answer to a benign look-alike): ``None`` treats it like every item; ``k`` gives it
    the strict configuration of its (look-alike) category, the hardest case, plus ``k - 1`` random ones, so
    a time-bounded run spends its steps on the items whose label depends on the configuration."""
    rng = random.Random(seed)
    by_id = {c.id: c for c in pool}
    out: list[CsrmExample] = []
    pair_idx: list[tuple[int, int]] = []

    def random_config(must: str | None, allowed: bool | None, avoid: str | None = None) -> SafetyConfiguration:
        k = rng.randint(min_categories, max_categories)
        others = [c for c in pool if c.id not in (must, avoid)]
        chosen = rng.sample(others, min(k - (1 if must else 0), len(others)))
        cats = [c.model_copy(update={"allowed": rng.random() < 0.3}) for c in chosen]
        if must is not None:
            base = by_id.get(must) or SafetyCategory(id=must, name=must.replace("_", " ").title())
            cats.append(base.model_copy(update={"allowed": bool(allowed)}))
        rng.shuffle(cats)
        return SafetyConfiguration(name="augmented", categories=tuple(cats))

    for ex in items:
        if ex.category is None or ex.complies is None:
            out.append(ex)
            continue
        own = ex.category if ex.category in by_id else ex.meta.get("lookalike")  # benign items: their look-alike
        if static_configs is not None and (not ex.complies or ex.category not in by_id):
            for k in range(static_configs):
                if k == 0 and own in by_id:
                    out.append(ex.with_config(random_config(own, False).renamed("strict")))
                else:
                    out.append(ex.with_config(random_config(None, None, avoid=own)))
            continue
        first = rng.randrange(2) if pairs_per_item > 1 else 0
        for k in range(pairs_per_item if pairs and own in by_id else 0):
            mode = None if pairs_per_item == 1 else ("allow", "drop")[(first + k) % 2]
            strict, lenient = strict_lenient_configs(random_config(own, False), own, rng, mode)
            s = ex.with_config(strict.renamed("strict"))
            l_ = ex.with_config(lenient.renamed("lenient"))
            out += [s, l_]
            if s.label != l_.label:  # only pairs the category switch affects carry a preference
                pair_idx.append((len(out) - 2, len(out) - 1))
        for _ in range(n_random):
            choice = rng.random()
            if choice < 0.4 or own not in by_id:  # category absent: unrelated categories only
                cfg = random_config(None, None, avoid=ex.category)
            else:
                cfg = random_config(own, allowed=choice < 0.6)
            out.append(ex.with_config(cfg))
    return Augmented(out, pair_idx)


def drop_failing_pairs(aug: Augmented, checks: Sequence[PairCheck]) -> Augmented:
    """``aug`` without the strict/lenient pair configurations of the (category, level)s that failed the check
    (both sides of each such pair; the items' other configurations stay)."""
    failing = {(c.category, c.level) for c in checks if not c.kept}
    drop = {i for s, l_ in aug.pairs if _pair_key(aug.examples, s) in failing for i in (s, l_)}
    new_index: dict[int, int] = {}
    kept: list[CsrmExample] = []
    for i, ex in enumerate(aug.examples):
        if i not in drop:
            new_index[i] = len(kept)
            kept.append(ex)
    pairs = [(new_index[s], new_index[l_]) for s, l_ in aug.pairs if s in new_index and l_ in new_index]
    return Augmented(kept, pairs)

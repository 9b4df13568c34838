"""Feature groups for the embedding heads, computed in one batched pass.

Groups (a head lists the ones it was fitted on, in order):

- ``resp``: embedding of the response (first 256 word pieces)
- ``head``: embedding of the response's first 200 characters (where refusals live)
- ``prompt``: embedding of the prompt
- ``prod``: element-wise product prompt x response (what the answer does with the request)
- ``rel``: cosine(prompt, response) and cosine(prompt, response head): prompt-response relevance,
  which separates an attempt at a (harmful) request from an off-topic ramble
- ``pat``: refusal-pattern features (:func:`selfmoa.judges.patterns.pattern_features`)
- ``ngram``: hashed word uni- and bigrams and character 3- to 5-grams of the response's first 300 characters
  (scikit-learn's stateless ``HashingVectorizer``, 2,048 buckets each, L2-normalised): the exact wording of
  refusal and compliance openers, which a static (order-free) embedding blurs
- ``lex``: lexical commitment features (:func:`lexical_features`): how much of the request's content words the
  answer repeats (early and anywhere), repetition (degenerate loops), share of letters (emoji / garble), and
  whether it opens like a committed answer ("To ...", "Here ...", "Sure"), lists steps, or writes code
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from selfmoa.judges.base import JudgeItem
from selfmoa.judges.embedding import Embedder
from selfmoa.judges.patterns import pattern_features

GROUPS = ("resp", "head", "prompt", "prod", "rel", "pat", "lex", "ngram")
NGRAM_BUCKETS = 2048
NGRAM_CHARS = 300


def build_features(items: Sequence[JudgeItem], groups: Sequence[str], embedder: Embedder) -> np.ndarray:
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown feature groups {unknown}; expected {GROUPS}")
    need_resp = any(g in groups for g in ("resp", "prod", "rel"))
    need_head = any(g in groups for g in ("head", "rel"))
    need_prompt = any(g in groups for g in ("prompt", "prod", "rel"))
    responses = [it.response for it in items]
    texts: list[str] = []
    spans: dict[str, slice] = {}

    def add(key: str, values: list[str]) -> None:
        spans[key] = slice(len(texts), len(texts) + len(values))
        texts.extend(values)

    if need_resp:
        add("resp", responses)
    if need_head:
        add("head", [r[:200] for r in responses])
    if need_prompt:
        add("prompt", [it.prompt or "" for it in items])
    emb = embedder.encode(texts) if texts else np.zeros((0, 0), np.float32)
    E = {k: emb[s] for k, s in spans.items()}
    cols: list[np.ndarray] = []
    for g in groups:
        if g in ("resp", "head", "prompt"):
            cols.append(E[g])
        elif g == "prod":
            cols.append(E["prompt"] * E["resp"] * np.sqrt(E["resp"].shape[1]))
        elif g == "rel":
            cols.append(np.stack([(E["prompt"] * E["resp"]).sum(1), (E["prompt"] * E["head"]).sum(1)], axis=1))
        elif g == "pat":
            cols.append(pattern_features(responses))
        elif g == "lex":
            cols.append(lexical_features(items))
        elif g == "ngram":
            cols.append(ngram_features(responses))
    return np.concatenate(cols, axis=1).astype(np.float32) if cols else np.zeros((len(items), 0), np.float32)


def ngram_features(responses: Sequence[str]) -> np.ndarray:
    from sklearn.feature_extraction.text import HashingVectorizer

    heads = [r[:NGRAM_CHARS] for r in responses]
    words = HashingVectorizer(n_features=NGRAM_BUCKETS, ngram_range=(1, 2), alternate_sign=False, norm="l2")
    chars = HashingVectorizer(n_features=NGRAM_BUCKETS, analyzer="char_wb", ngram_range=(3, 5), alternate_sign=False,
                              norm="l2")
    return np.concatenate([words.transform(heads).toarray(), chars.transform(heads).toarray()], axis=1).astype(np.float32)


_STOP = frozenset(
    "the a an to of and or for in on with how what which who why is are be can i me my you your that this it as at by "
    "from into about some give write create make provide describe explain list detailed step instructions tips someone "
    "people them their there here do does should would could".split()
)
_WORD = re.compile(r"[a-z]+")
_OPENER = re.compile(r"^\W*(?:to |here|sure|certainly|step|1\.|first)")
_STEPS = re.compile(r"(?:^|\n)\s*(?:1\.|step 1|\*\*step|- )", re.IGNORECASE)


def lexical_features(items: Sequence[JudgeItem]) -> np.ndarray:
    """Per item: [share of the prompt's content words in the answer's first 300 characters, ... anywhere in the
    answer, repetition (1 - distinct/all words), share of letters and spaces, committed opener, step list, code]."""
    rows = []
    for it in items:
        prompt, resp = (it.prompt or "").lower(), it.response
        low = resp.lower()
        pw = {w for w in _WORD.findall(prompt) if len(w) > 3 and w not in _STOP}
        words = _WORD.findall(low)
        head = set(_WORD.findall(low[:300]))
        rows.append([
            len(pw & head) / max(1, len(pw)),
            len(pw & set(words)) / max(1, len(pw)),
            1.0 - len(set(words)) / max(1, len(words)),
            sum(ch.isalpha() or ch.isspace() for ch in resp) / max(1, len(resp)),
            float(bool(_OPENER.match(resp.strip()[:120].lower()))),
            float(bool(_STEPS.search(resp))),
            float("```" in resp or "def " in resp or "import " in resp),
        ])
    return np.asarray(rows, dtype=np.float32).reshape(len(items), 7)

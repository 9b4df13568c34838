"""Sentence embeddings for the embedded judges: all-MiniLM-L6-v2 through sentence-transformers,
loaded once per process, batched, L2-normalised float32.

``NAME-static`` (e.g. ``all-minilm-l6-v2-static``) names a *static* embedding distilled from the
sentence-transformer ``NAME`` (the model2vec recipe, without its PCA): every vocabulary token is passed
through the model once, on its own, and a text's embedding is the SIF-weighted mean of its tokens' vectors
(Zipf frequencies from the vocabulary order), centred and L2-normalised. (model2vec itself is not used: its
distillation extra pins transformers < 5.4.) Encoding is a tokenizer call and a table look-up, about two orders of magnitude faster than a
transformer pass on a CPU; what it loses is word order and context, which the judges' heads are refitted on
(see ``selfmoa judge fit --embedding``). The distilled table is computed once and cached as safetensors under
``$SELFMOA_HOME/cache/static/``.

Repeated texts (the same prompt judged with many responses) are embedded once per process; an
optional SQLite file (``cache_path``) keeps embeddings across runs (raw float32 bytes, never pickle).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from selfmoa.errors import SelfmoaError

_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _load(name_or_path: str, device: str):
    from sentence_transformers import SentenceTransformer

    from selfmoa.models.registry import REGISTRY

    path = name_or_path
    if name_or_path in REGISTRY:
        from selfmoa.models import prepare_model

        path = str(prepare_model(name_or_path))
    elif not os.path.exists(name_or_path):
        raise SelfmoaError(f"judges: embedding model '{name_or_path}' is neither a registered model nor a local folder")
    return SentenceTransformer(path, device=device, local_files_only=True)


class Embedder:
    def __init__(self, model: str = "all-minilm-l6-v2", device: str = "cpu", batch_size: int = 64,
                 cache_path: Path | str | None = None, memo_size: int = 50_000):
        self.model_name = model
        self.model = _load(model, device)
        self.batch_size = batch_size
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())
        self._memo: dict[str, np.ndarray] = {}
        self._memo_size = memo_size
        self._db = None
        if cache_path:
            Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(cache_path), timeout=30)
            self._db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB)")

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model_name}\x00{self.model.max_seq_length}\x00{text}".encode()).hexdigest()[:32]

    def _embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised embeddings of `texts` (no memo, no cache)."""
        with _LOCK:
            return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        keys = [self._key(t) for t in texts]
        missing: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            v = self._memo.get(k)
            if v is not None:
                out[i] = v
            else:
                missing.setdefault(k, []).append(i)
        if missing and self._db is not None:
            for k in list(missing):
                row = self._db.execute("SELECT vec FROM emb WHERE key=?", (k,)).fetchone()
                if row:
                    v = np.frombuffer(row[0], dtype=np.float32)
                    for i in missing.pop(k):
                        out[i] = v
        if missing:
            order = list(missing)
            emb = np.asarray(self._embed([texts[missing[k][0]] for k in order]), dtype=np.float32)
            for k, v in zip(order, emb):
                for i in missing[k]:
                    out[i] = v
                if len(self._memo) < self._memo_size:
                    self._memo[k] = v
            if self._db is not None:
                with self._db:
                    self._db.executemany("INSERT OR REPLACE INTO emb VALUES (?,?)", [(k, v.tobytes()) for k, v in zip(order, emb)])
        return out


STATIC_SUFFIX = "-static"
SIF_A = 1e-3
STATIC_RECIPE = f"mean-sif{SIF_A:g}-centred-v1"  # part of the embedding cache key: a new recipe never reads old vectors


def _distill_static(st_model) -> np.ndarray:
    """(vocab, dim) float32: each token id passed through the sentence-transformer alone ([CLS] token [SEP]),
    mean-pooled over the three positions as the model's own pooling does."""
    import torch

    tok, lm = st_model.tokenizer, st_model[0].auto_model
    ids = torch.arange(len(tok))
    cls_id = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id
    sep_id = tok.sep_token_id if tok.sep_token_id is not None else tok.eos_token_id
    out = []
    with _LOCK, torch.inference_mode():
        for s in range(0, len(ids), 2048):
            chunk = ids[s : s + 2048, None]
            batch = torch.cat([torch.full_like(chunk, cls_id), chunk, torch.full_like(chunk, sep_id)], dim=1)
            hidden = lm(input_ids=batch, attention_mask=torch.ones_like(batch)).last_hidden_state
            out.append(hidden.mean(dim=1).float().numpy())
    return np.concatenate(out)


class StaticEmbedder(Embedder):
    """Static token embeddings distilled from a sentence-transformer (see the module docstring)."""

    def __init__(self, model: str = "all-minilm-l6-v2" + STATIC_SUFFIX, device: str = "cpu", batch_size: int = 64,
                 cache_path: Path | str | None = None, memo_size: int = 50_000):
        super().__init__(model[: -len(STATIC_SUFFIX)], device, batch_size, cache_path, memo_size)
        self.model_name = model
        self.tokenizer = self.model.tokenizer
        self.max_tokens = int(self.model.max_seq_length)
        self.table = self._table()
        self.weights = self._weights()
        self.centre = self.table.mean(axis=0)

    def _table(self) -> np.ndarray:
        from safetensors.numpy import load_file, save_file

        from selfmoa.models.home import selfmoa_home

        lm = self.model[0].auto_model
        digest = hashlib.sha256()
        for name, tensor in sorted(lm.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().flatten()[:1024].float().numpy().tobytes())  # a fingerprint, not a copy
        path = selfmoa_home() / "cache" / "static" / f"{self.model_name}-{digest.hexdigest()[:16]}.safetensors"
        if path.is_file():
            return load_file(str(path))["table"]
        table = _distill_static(self.model)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_file({"table": table}, str(tmp))
        os.replace(tmp, path)  # another process may be distilling too: the last complete file wins
        return table

    def _weights(self) -> np.ndarray:
        """SIF weights a / (a + p(token)) with Zipf frequencies p ~ 1 / rank, the rank read off the vocabulary order
        (BERT's WordPiece vocabulary lists whole words by frequency after its specials and single characters,
        as model2vec assumes); frequent tokens ("the", "of", punctuation) then barely move a text's mean."""
        n = self.table.shape[0]
        first_word = self.tokenizer.get_vocab().get("the", 0)
        rank = np.maximum(1, np.arange(n) - first_word + 1).astype(np.float64)
        rank[:first_word] = 10.0  # specials, unused slots, single characters and punctuation: frequent
        p = 1.0 / (rank * np.log(n))
        return (SIF_A / (SIF_A + p)).astype(np.float32)

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model_name}\x00{STATIC_RECIPE}\x00{self.max_tokens}\x00{text}".encode()).hexdigest()[:32]

    def _embed(self, texts: list[str]) -> np.ndarray:
        ids = self.tokenizer(texts, add_special_tokens=False, truncation=True, max_length=self.max_tokens)["input_ids"]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter((t for x in ids for t in x), dtype=np.int64, count=int(lengths.sum()))
        out = np.zeros((len(texts), self.table.shape[1]), dtype=np.float32)
        nonempty = lengths > 0
        if nonempty.any():
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])[nonempty]
            w = self.weights[flat]
            sums = np.add.reduceat(self.table[flat] * w[:, None], starts, axis=0)
            out[nonempty] = sums / np.maximum(np.add.reduceat(w, starts), 1e-12)[:, None] - self.centre
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


@lru_cache(maxsize=8)
def get_embedder(model: str = "all-minilm-l6-v2", device: str = "cpu", batch_size: int = 64,
                 cache_path: str | None = None) -> Embedder:
    """One embedder per (model, device, batch size, cache file) per process; ``NAME-static`` is a
    :class:`StaticEmbedder` distilled from the sentence-transformer ``NAME``."""
    cls = StaticEmbedder if model.endswith(STATIC_SUFFIX) else Embedder
    return cls(model, device, batch_size, cache_path)

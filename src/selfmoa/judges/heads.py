"""Fitted linear heads stored as JSON coefficients (never pickle) and applied with numpy.

A head holds: the feature names it expects, the class names, the coefficient matrix and intercepts,
the sha256 of every data file it was fitted on, the command that rebuilds it, and the fit-time metrics.
It is stored either as JSON, or (shipped heads, a few KB) as safetensors: ``coef`` and ``intercept``
float32 tensors plus every other field as JSON in the safetensors metadata header.
``LinearHead.fit`` uses scikit-learn's LogisticRegression; prediction is numpy only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from selfmoa.errors import SelfmoaError


@dataclass
class LinearHead:
    name: str
    features: list[str]
    classes: list[str]
    coef: list[list[float]]  # (n_classes or 1, n_features)
    intercept: list[float]
    embedding_model: str = "all-minilm-l6-v2"
    data: dict[str, str] = field(default_factory=dict)  # file -> sha256
    rebuild: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    format: int = 1

    # -- fitting --------------------------------------------------------
    @classmethod
    def fit(cls, name: str, X: np.ndarray, y: list[str], features: list[str], C: float = 1.0,
            class_weight: str | None = "balanced", **meta: Any) -> "LinearHead":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=C, max_iter=3000, class_weight=class_weight)
        lr.fit(X, y)
        return cls(name=name, features=features, classes=[str(c) for c in lr.classes_],
                   coef=np.round(lr.coef_, 6).tolist(), intercept=np.round(lr.intercept_, 6).tolist(), **meta)

    # -- applying -------------------------------------------------------
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        W = np.asarray(self.coef, dtype=np.float64)
        b = np.asarray(self.intercept, dtype=np.float64)
        if X.shape[1] != W.shape[1]:
            raise SelfmoaError(f"judge head '{self.name}': expects {W.shape[1]} features, got {X.shape[1]}")
        z = X.astype(np.float64) @ W.T + b
        if len(self.classes) == 2 and W.shape[0] == 1:
            p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.stack([1 - p1, p1], axis=1)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def proba_of(self, X: np.ndarray, positive: list[str]) -> np.ndarray:
        P = self.predict_proba(X)
        idx = [self.classes.index(c) for c in positive if c in self.classes]
        return P[:, idx].sum(axis=1)

    # -- storage ----------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    def save(self, path: Path | str) -> Path:
        """Write JSON, or safetensors when the path ends in ``.safetensors``."""
        from selfmoa.store.atomic import atomic_path, atomic_write_text

        path = Path(path)
        if path.suffix == ".safetensors":
            from safetensors.numpy import save_file

            meta = {k: v for k, v in asdict(self).items() if k not in ("coef", "intercept")}
            with atomic_path(path) as tmp:
                save_file(
                    {"coef": np.asarray(self.coef, dtype=np.float32), "intercept": np.asarray(self.intercept, dtype=np.float32)},
                    str(tmp), metadata={"selfmoa_head": json.dumps(meta, separators=(",", ":"))},
                )
        else:
            atomic_write_text(path, self.to_json() + "\n")
        return path

    @classmethod
    def _from_safetensors(cls, blob: bytes, where: str) -> "LinearHead":
        from safetensors.numpy import load

        try:
            n = int.from_bytes(blob[:8], "little")
            header = json.loads(blob[8 : 8 + n])
            meta = json.loads(header["__metadata__"]["selfmoa_head"])
            t = load(blob)
        except Exception as exc:  # noqa: BLE001 - any malformed file is the same user error
            raise SelfmoaError(f"judge head {where}: not a valid selfmoa head safetensors file ({exc})") from None
        return cls(coef=t["coef"].astype(np.float64).tolist(), intercept=t["intercept"].astype(np.float64).tolist(), **meta)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps([self.coef, self.intercept, self.features, self.classes]).encode()).hexdigest()[:16]

    @classmethod
    def load(cls, path_or_name: Path | str) -> "LinearHead":
        """Load a head from a .json / .safetensors path or a name shipped in ``selfmoa/resources/judges/``."""
        p = Path(str(path_or_name))
        if not p.suffix:
            folder = resources.files("selfmoa").joinpath("resources", "judges")
            st, js = folder.joinpath(f"{path_or_name}.safetensors"), folder.joinpath(f"{path_or_name}.json")
            if st.is_file():
                return cls._from_safetensors(st.read_bytes(), str(path_or_name))
            if not js.is_file():
                raise SelfmoaError(f"judge head '{path_or_name}' is not shipped; run `selfmoa judge fit` to build it or pass a .json path")
            text = js.read_text(encoding="utf-8")
        else:
            if not p.is_file():
                raise SelfmoaError(f"judge head file {p} not found")
            if p.suffix == ".safetensors":
                return cls._from_safetensors(p.read_bytes(), str(p))
            text = p.read_text(encoding="utf-8")
        try:
            d = json.loads(text)
            return cls(**d)
        except (json.JSONDecodeError, TypeError) as exc:
            raise SelfmoaError(f"judge head {path_or_name}: not a valid head JSON ({exc})") from None

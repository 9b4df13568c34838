"""Resolve a model spec to a local folder (or hub id) and load it once per process.

Security: weights load from safetensors only (`use_safetensors=True`); `trust_remote_code` is off
unless the config turns it on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfmoa.config.models import ModelConfig
from selfmoa.errors import SelfmoaError
from selfmoa.models.hashing import weights_hash
from selfmoa.models.prepare import MARKER, convert_gguf, gguf_cache_dir, prepare_model
from selfmoa.models.registry import REGISTRY

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


@dataclass(frozen=True)
class ResolvedModel:
    spec: str
    location: str  # a local folder or a hub id
    local: bool
    name: str


def _looks_like_path(spec: str) -> bool:
    return (
        spec.startswith(("/", "./", "../", "~"))
        or spec.endswith(".gguf")
        or spec.count("/") > 1
        or "\\" in spec
        or not _HUB_ID.match(spec)
    )


def _check_weights_dir(path: Path, field_name: str) -> None:
    files = [p for p in path.iterdir() if p.is_file()]
    if any(p.suffix == ".safetensors" for p in files):
        return
    if any(p.suffix in _UNSAFE_SUFFIXES for p in files):
        raise SelfmoaError(
            f"{field_name}: {path} holds only pickle weights (.bin/.pt); selfmoa loads safetensors only "
            f"(convert them with transformers' save_pretrained(safe_serialization=True))"
        )
    raise SelfmoaError(f"{field_name}: {path} has no model weights (*.safetensors or a .gguf file expected)")


def resolve_model(cfg: ModelConfig, field_name: str = "model.name_or_path") -> ResolvedModel:
    spec = cfg.name_or_path.strip()
    if not spec:
        raise SelfmoaError(f"{field_name} is empty; expected a model name, folder, .gguf file or hub id")
    if spec in REGISTRY:
        entry = REGISTRY[spec]
        if entry.source == "hub":
            return ResolvedModel(spec, entry.hub_id or spec, False, spec)
        return ResolvedModel(spec, str(prepare_model(spec)), True, spec)
    path = Path(spec).expanduser()
    if path.exists():
        if path.is_file():
            if path.suffix != ".gguf":
                raise SelfmoaError(f"{field_name}: {path} is a file but not a .gguf; expected a folder, .gguf file or hub id")
            return ResolvedModel(spec, str(convert_gguf(path, gguf_cache_dir(path), name=path.stem)), True, path.stem)
        if cfg.gguf_file:
            gguf = path / cfg.gguf_file
            if not gguf.is_file():
                raise SelfmoaError(f"model.gguf_file: {gguf} does not exist")
            return ResolvedModel(spec, str(convert_gguf(gguf, gguf_cache_dir(gguf), name=gguf.stem)), True, gguf.stem)
        _check_weights_dir(path, field_name)
        return ResolvedModel(spec, str(path.resolve()), True, path.name)
    if _looks_like_path(spec):
        raise SelfmoaError(f"{field_name}: no such file or directory: {spec}")
    return ResolvedModel(spec, spec, False, spec.split("/")[-1])


def pick_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def pick_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32  # CPUs here lack bf16 support: fp32 is far faster
    return getattr(torch, dtype)


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    resolved: ResolvedModel
    device: str
    dtype: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def policy_id(self) -> str:
        """Model name plus weights hash: identifies the exact policy in records."""
        return f"{self.resolved.name}@{self.info.get('weights_hash', 'hub')}"


_CACHE: dict[tuple, LoadedModel] = {}


def _weights_hash(location: str, local: bool) -> str:
    if not local:
        return "hub"
    marker = Path(location) / MARKER
    if marker.exists():
        try:
            return json.loads(marker.read_text("utf-8"))["weights_hash"]
        except (KeyError, json.JSONDecodeError):
            pass
    return weights_hash(Path(location))


def configure_tokenizer(tok, cfg: ModelConfig):
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if cfg.chat_template:
        tok.chat_template = cfg.chat_template
    return tok


def _load_error(exc: Exception, resolved: ResolvedModel, field_name: str) -> SelfmoaError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = "local folder" if resolved.local else "Hugging Face hub (offline, gated or not found?)"
    if "custom code" in first or "trust_remote_code" in first:
        first = (f"it needs its own Python code (trust_remote_code); set {field_name.rsplit('.', 1)[0]}.trust_remote_code"
                 f"=true only if you trust that code")
    return SelfmoaError(f"{field_name}: cannot load '{resolved.spec}' from the {where}: {first}")


def check_loadable(cfg: ModelConfig, field_name: str = "model.name_or_path") -> ResolvedModel:
    """Everything :func:`load_causal_lm` needs short of the weights: the spec resolves, and the model config and
    tokenizer load (a hub id that is offline or unknown, a folder needing `trust_remote_code`, a missing
    tokenizer fail here, in a second, before any run folder is created)."""
    resolved = resolve_model(cfg, field_name)
    from transformers import AutoConfig, AutoTokenizer

    kwargs = dict(revision=cfg.revision, trust_remote_code=cfg.trust_remote_code)
    try:
        AutoConfig.from_pretrained(resolved.location, **kwargs)
        AutoTokenizer.from_pretrained(resolved.location, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_error(exc, resolved, field_name) from None
    return resolved


def load_causal_lm(cfg: ModelConfig, *, field_name: str = "model.name_or_path") -> LoadedModel:
    """Load a causal LM and its tokenizer; the same config returns the same objects (loaded once)."""
    resolved = resolve_model(cfg, field_name)
    device = pick_device(cfg.device)
    key = (resolved.location, cfg.revision, cfg.dtype, device, cfg.trust_remote_code, cfg.chat_template)
    if key in _CACHE:
        return _CACHE[key]
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = pick_dtype(cfg.dtype, device)
    kwargs = dict(revision=cfg.revision, trust_remote_code=cfg.trust_remote_code)
    try:
        tok = AutoTokenizer.from_pretrained(resolved.location, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(resolved.location, dtype=dtype, use_safetensors=True, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_error(exc, resolved, field_name) from None
    if model.config.vocab_size < len(tok) - 1 and model.get_input_embeddings().weight.shape[0] < len(tok):
        raise SelfmoaError(
            f"{field_name}: tokenizer of '{resolved.spec}' has {len(tok)} tokens but the model only "
            f"{model.get_input_embeddings().weight.shape[0]} embeddings: tokenizer and model do not match"
        )
    configure_tokenizer(tok, cfg)
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    model.to(device)
    model.eval()
    torch.set_grad_enabled(True)
    info = {
        "spec": resolved.spec,
        "location": resolved.location,
        "weights_hash": _weights_hash(resolved.location, resolved.local),
        "dtype": str(dtype).replace("torch.", ""),
        "device": device,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    loaded = LoadedModel(model, tok, resolved, device, info["dtype"], info)
    _CACHE[key] = loaded
    return loaded


def clear_model_cache() -> None:
    _CACHE.clear()

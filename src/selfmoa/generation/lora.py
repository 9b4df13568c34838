"""Which weights a vLLM engine should load for a policy trained with LoRA, and the merge fallback.

`selfmoa train` writes ``adapter/`` (the LoRA adapter, safetensors) and, with ``train.merge``, ``policy/``
(the merged model). vLLM can serve the base model plus the adapter through ``LoRARequest`` without a merged
copy, and swap adapters without reloading the base. :func:`plan_lora` decides, without importing vLLM:

- ``model.name_or_path`` is an adapter folder (``adapter_config.json``), or a train output's ``policy/`` with
  ``adapter/`` beside it -> load the adapter's base model and attach the adapter;
- unless vLLM cannot serve that adapter (``generation.vllm.enable_lora`` off, rank above
  ``generation.vllm.max_lora_rank``, DoRA, ``modules_to_save``, a non-LoRA PEFT type, or the base model is
  not found): then the merged ``policy/`` is loaded, or, for a bare adapter folder, a merged copy is made once
  under ``$SELFMOA_HOME/cache/merged/`` (:func:`merged_copy`) and loaded (merge and reload);
- anything else (a full model folder, a hub id, ``lora_adapter: never``) -> load it as it is.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from selfmoa.config.generation import VLLMConfig
from selfmoa.errors import SelfmoaError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


@dataclass(frozen=True)
class LoraPlan:
    base: str  # what the engine loads (folder or hub id)
    adapter: str | None  # the LoRA adapter folder to attach, or None
    reason: str  # "weights", "lora", or why it fell back to merged weights


def find_adapter(location: str | Path) -> Path | None:
    """The LoRA adapter folder that belongs to `location`: itself, or ``../adapter`` of a train ``policy/``."""
    p = Path(location)
    if not p.is_dir():
        return None
    if (p / ADAPTER_CONFIG).is_file():
        return p
    sibling = p.parent / "adapter"
    if p.name == "policy" and (sibling / ADAPTER_CONFIG).is_file():
        return sibling
    return None


def read_adapter_config(adapter: Path) -> dict:
    try:
        cfg = json.loads((Path(adapter) / ADAPTER_CONFIG).read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SelfmoaError(f"LoRA adapter: cannot read {Path(adapter) / ADAPTER_CONFIG}: {exc}") from None
    if not isinstance(cfg, dict):
        raise SelfmoaError(f"LoRA adapter: {Path(adapter) / ADAPTER_CONFIG} is not a JSON object")
    return cfg


def _base_exists(base: str | None) -> bool:
    if not base:
        return False
    if os.path.isabs(base) or base.startswith((".", "~")):
        return Path(base).expanduser().is_dir()
    return Path(base).is_dir() or base.count("/") == 1  # a folder, or a hub id (resolved by the loader)


def unsupported_reasons(cfg: dict, vcfg: VLLMConfig) -> list[str]:
    """Why vLLM could not serve this adapter through LoRARequest (empty: it can)."""
    reasons = []
    if not vcfg.enable_lora:
        reasons.append("generation.vllm.enable_lora is false")
    if str(cfg.get("peft_type", "LORA")).upper() != "LORA":
        reasons.append(f"peft_type {cfg.get('peft_type')} is not LORA")
    rank = int(cfg.get("r") or 0)
    if rank > vcfg.max_lora_rank:
        reasons.append(f"rank {rank} > generation.vllm.max_lora_rank {vcfg.max_lora_rank}")
    if cfg.get("use_dora"):
        reasons.append("DoRA adapters are not served by vLLM")
    if cfg.get("modules_to_save"):
        reasons.append("modules_to_save is set")
    if not _base_exists(cfg.get("base_model_name_or_path")):
        reasons.append(f"base model '{cfg.get('base_model_name_or_path')}' not found")
    return reasons


def plan_lora(location: str, vcfg: VLLMConfig) -> LoraPlan:
    """What to load for `location` (see the module docstring). May merge a bare adapter (slow, once)."""
    adapter = find_adapter(location) if vcfg.lora_adapter == "auto" or (Path(location) / ADAPTER_CONFIG).is_file() else None
    if adapter is None:
        return LoraPlan(str(location), None, "weights")
    cfg = read_adapter_config(adapter)
    reasons = unsupported_reasons(cfg, vcfg)
    if vcfg.lora_adapter == "never":
        reasons.append("generation.vllm.lora_adapter is 'never'")
    if not reasons:
        base = cfg["base_model_name_or_path"]
        local = Path(base).expanduser()
        return LoraPlan(str(local) if local.is_dir() else base, str(adapter), "lora")
    why = "; ".join(reasons)
    if adapter != Path(location):  # a train output: its merged policy/ is right there
        return LoraPlan(str(location), None, f"merged policy ({why})")
    return LoraPlan(str(merged_copy(adapter, cfg)), None, f"merged copy ({why})")


def lora_name(adapter: str | Path) -> str:
    """A name for vLLM's LoRARequest and the policy id: folder names plus a hash of the adapter's files, so two
    iterations' ``train/adapter`` folders never share a name."""
    adapter = Path(adapter)
    return f"{adapter.parent.name}-{adapter.name}-{_adapter_hash(adapter)[:8]}"


def _adapter_hash(adapter: Path, salt: str = "") -> str:
    """sha256 of `salt` and the adapter's config and weights files."""
    h = hashlib.sha256(salt.encode())
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        f = Path(adapter) / name
        if f.is_file():
            h.update(f.read_bytes())
    return h.hexdigest()


def merged_copy(adapter: Path, cfg: dict | None = None, cache_dir: Path | None = None) -> Path:
    """Merge a LoRA adapter into its base model once (safetensors in, safetensors out) and return the folder."""
    adapter = Path(adapter)
    cfg = cfg or read_adapter_config(adapter)
    base = cfg.get("base_model_name_or_path")
    if not _base_exists(base):
        raise SelfmoaError(f"LoRA adapter: base model '{base}' of {adapter} not found; cannot merge")
    if not (adapter / ADAPTER_WEIGHTS).is_file():
        raise SelfmoaError(f"LoRA adapter: {adapter} has no {ADAPTER_WEIGHTS} (selfmoa loads safetensors only)")
    if cache_dir is None:
        from selfmoa.models.home import selfmoa_home

        cache_dir = selfmoa_home() / "cache" / "merged"
    out = Path(cache_dir) / f"{adapter.parent.name}-{adapter.name}-{_adapter_hash(adapter, str(base))[:16]}"
    if (out / "config.json").is_file():
        return out
    return merge_adapter(adapter, str(base), out)


def merge_adapter(adapter: Path, base: str, out: Path, *, dtype=None, tokenizer=None) -> Path:
    """Load `base` (safetensors; `dtype`, default the checkpoint's), apply the LoRA adapter, merge, and write a full
    model folder with a tokenizer (`tokenizer`, else the adapter's, else the base's) to `out` (written beside it
    first, then renamed into place)."""
    import shutil
    import tempfile

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter, out = Path(adapter), Path(out)
    if not (adapter / ADAPTER_WEIGHTS).is_file():
        raise SelfmoaError(f"LoRA adapter: {adapter} has no {ADAPTER_WEIGHTS} (selfmoa loads safetensors only)")
    kwargs = {"dtype": dtype} if dtype is not None else {}
    model = AutoModelForCausalLM.from_pretrained(base, use_safetensors=True, trust_remote_code=False, **kwargs)
    model = PeftModel.from_pretrained(model, str(adapter), use_safetensors=True).merge_and_unload()
    tok = tokenizer
    if tok is None:
        tok_src = adapter if (adapter / "tokenizer_config.json").is_file() else base
        tok = AutoTokenizer.from_pretrained(str(tok_src), trust_remote_code=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        if (out / "config.json").is_file():  # another process merged it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(out, ignore_errors=True)  # a half-written folder of a killed merge
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out

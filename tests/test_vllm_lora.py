"""vLLM + LoRA: which weights the vllm backend loads for a LoRA-trained policy, and the merge fallback.

Only the parts that do not need vLLM are tested here (plan, names, merged copy); the LoRARequest call itself
runs on GPU machines with the `vllm` extra.
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest

from selfmoa.config.generation import GenerationConfig, VLLMConfig
from selfmoa.config.models import ModelConfig
from selfmoa.errors import MissingExtraError
from selfmoa.generation.lora import find_adapter, lora_name, merged_copy, plan_lora, unsupported_reasons


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    """A `selfmoa train`-shaped output folder: adapter/ (LoRA r=4 with non-zero B) and policy/ (merged)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("train-out")
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    torch.manual_seed(0)
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    peft_model.save_pretrained(str(out / "adapter"))
    merged = peft_model.merge_and_unload()
    merged.save_pretrained(str(out / "policy"))
    AutoTokenizer.from_pretrained(str(tiny_model_dir)).save_pretrained(str(out / "policy"))
    return out


def test_plan_uses_the_adapter_over_the_base(trained, tiny_model_dir):
    v = VLLMConfig()
    for location in (trained / "adapter", trained / "policy"):
        plan = plan_lora(str(location), v)
        assert plan.reason == "lora"
        assert plan.adapter == str(trained / "adapter")
        assert plan.base == str(tiny_model_dir)
    assert find_adapter(tiny_model_dir) is None
    assert plan_lora(str(tiny_model_dir), v).adapter is None  # a full model loads as it is
    assert plan_lora("HuggingFaceTB/SmolLM2-135M-Instruct", v).reason == "weights"  # hub ids too


def test_plan_falls_back_to_merged_weights(trained):
    # a train output: the merged policy/ beside the adapter
    for v, why in ((VLLMConfig(max_lora_rank=2), "rank 4 > generation.vllm.max_lora_rank 2"),
                   (VLLMConfig(enable_lora=False), "enable_lora is false")):
        plan = plan_lora(str(trained / "policy"), v)
        assert plan.adapter is None and plan.base == str(trained / "policy") and why in plan.reason
    plan = plan_lora(str(trained / "policy"), VLLMConfig(lora_adapter="never"))
    assert (plan.base, plan.adapter, plan.reason) == (str(trained / "policy"), None, "weights")


def test_bare_adapter_falls_back_to_a_merged_copy_that_matches(trained, tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM

    monkeypatch.setenv("SELFMOA_HOME", str(tmp_path / "home"))
    bare = tmp_path / "my-adapter"
    shutil.copytree(trained / "adapter", bare)
    plan = plan_lora(str(bare), VLLMConfig(max_lora_rank=2))
    assert plan.adapter is None and plan.reason.startswith("merged copy")
    assert plan.base.startswith(str(tmp_path / "home" / "cache" / "merged"))
    x = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        got = AutoModelForCausalLM.from_pretrained(plan.base).eval()(x).logits
        want = AutoModelForCausalLM.from_pretrained(str(trained / "policy")).eval()(x).logits
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert str(merged_copy(bare)) == plan.base  # made once, then reused


def test_unsupported_reasons_and_names(trained, tmp_path):
    cfg = json.loads((trained / "adapter" / "adapter_config.json").read_text())
    assert unsupported_reasons(cfg, VLLMConfig()) == []
    bad = {**cfg, "use_dora": True, "modules_to_save": ["lm_head"], "base_model_name_or_path": str(tmp_path / "gone")}
    reasons = " ".join(unsupported_reasons(bad, VLLMConfig()))
    assert "DoRA" in reasons and "modules_to_save" in reasons and "not found" in reasons
    other = tmp_path / "iter2" / "adapter"
    shutil.copytree(trained / "adapter", other)
    assert lora_name(other) != lora_name(trained / "adapter")  # different folders
    (other / "adapter_config.json").write_text(json.dumps({**cfg, "lora_alpha": 16}))
    assert lora_name(other).split("-")[-1] != lora_name(trained / "adapter").split("-")[-1]  # different content


def test_vllm_backend_without_vllm_names_the_extra(trained):
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed")
    from selfmoa.generation import get_backend

    with pytest.raises(MissingExtraError, match=r"selfmoa\[vllm\]"):
        get_backend("vllm")(ModelConfig(name_or_path=str(trained / "policy")), GenerationConfig(backend="vllm"))

"""Multi-objective DPO on TRL: `DPOTrainer` with a per-pair safety margin in the loss.

What this adds to TRL's stock `DPOTrainer`:

- the loss from :mod:`selfmoa.train.losses` (margin = safety(chosen) - safety(rejected), registered by name);
- the margin column carried through the collator;
- a lean loss step: the fused LM head computes only per-token log-probs of the completion positions (TRL's stock
  step also computes entropy, mean logits and top-1 accuracy, and off-Triton projects the prompt positions too) and
  reads cached reference log-probs when precomputed;
- metrics: loss, preference accuracy, reward margins, mean safety margin, and a KL estimate
  (``kl_ref_policy`` = mean over completions of log ref - log policy, an estimate of KL(ref || policy) per sequence,
  because the pairs' responses are samples of the reference policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from trl import DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

from selfmoa.train.batching import LengthBucketSampler, length_order, pair_lengths
from selfmoa.train.lm_head import add_completion_lm_head
from selfmoa.train.losses import LossParams, get_loss
from selfmoa.train.safe_save import JsonArgsMixin


@dataclass
class MarginCollator(DataCollatorForPreference):
    """TRL's preference collator plus a float `margin` tensor (0 when the rows carry none)."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        out = super().torch_call(examples)
        out["margin"] = torch.tensor([float(ex.get("margin", 0.0) or 0.0) for ex in examples], dtype=torch.float32)
        return out


class MultiObjectiveDPOTrainer(JsonArgsMixin, DPOTrainer):
    """`DPOTrainer` whose loss is a registered multi-objective DPO loss with a per-pair margin."""

    _tag_names = ["trl", "dpo", "selfmoa", "modpo"]

    def __init__(self, *args, loss_name: str = "modpo", loss_params: LossParams | None = None,
                 group_by_length: bool = False, nll_weight: float = 0.0, **kwargs):
        self.loss_fn = get_loss(loss_name)
        self.loss_name = loss_name
        self.loss_params = loss_params or LossParams()
        self.nll_weight = float(nll_weight)
        self.group_by_length = group_by_length
        super().__init__(*args, **kwargs)
        # Only per-token log-probs of the completions are needed: re-patch the fused head without the extra metric
        # outputs, projecting only the completion positions (selfmoa.train.lm_head).
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        add_completion_lm_head(base)

    def _get_train_sampler(self, train_dataset=None):
        """With ``group_by_length``: random order, but rows of similar length share a micro-batch (less padding)."""
        ds = train_dataset if train_dataset is not None else self.train_dataset
        if self.group_by_length and "prompt_ids" in getattr(ds, "column_names", ()):
            return LengthBucketSampler(pair_lengths(ds), self.args.per_device_train_batch_size, seed=self.args.seed)
        return super()._get_train_sampler(train_dataset)

    def _precompute_ref_logps(self, dataset, name: str, batch_size: int):
        """TRL's precompute, run over the rows sorted by length (far less padding) and put back in their order."""
        if "prompt_ids" not in getattr(dataset, "column_names", ()) or len(dataset) < 2:
            return super()._precompute_ref_logps(dataset, name, batch_size)
        order = length_order(pair_lengths(dataset))
        out = super()._precompute_ref_logps(dataset.select(order), name, batch_size)
        return out.select(np.argsort(order))  # row i of the result is row i of `dataset`

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if "margin" not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, "margin"]

    def sequence_logps(self, model, inputs) -> torch.Tensor:
        completion_mask = inputs["completion_mask"]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        out = model(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=labels,
            use_cache=False, fused_lm_head=True,
        )
        seq_len = completion_mask.size(1) - 1
        return out.log_probs[:, -seq_len:].sum(dim=1)

    def _compute_loss(self, model, inputs, return_outputs):
        mode = "train" if self.model.training else "eval"
        logps = self.sequence_logps(model, inputs)
        pi_c, pi_r = logps.chunk(2, dim=0)
        if "ref_chosen_logps" in inputs:
            ref_c, ref_r = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            ref_model = self.ref_model if self.ref_model is not None else self.model
            ref_c, ref_r = self.compute_ref_log_probs(ref_model, inputs)
        ref_c, ref_r = ref_c.to(pi_c.device, pi_c.dtype), ref_r.to(pi_c.device, pi_c.dtype)
        margin = inputs.get("margin")
        margin = torch.zeros_like(pi_c) if margin is None else margin.to(pi_c.device, pi_c.dtype)
        per_pair = self.loss_fn(pi_c, pi_r, ref_c, ref_r, margin, self.loss_params)
        loss = per_pair.mean()
        # RPO (Pang et al. 2024): + alpha * the chosen answer's per-token NLL, so DPO cannot lower the chosen answer
        # along with the rejected one (likelihood displacement) and the chosen answer becomes what greedy decoding says
        n_c = inputs["completion_mask"].chunk(2, dim=0)[0].sum(dim=1).clamp(min=1).to(pi_c.dtype)
        nll_c = -(pi_c / n_c)
        if self.nll_weight > 0:
            loss = loss + self.nll_weight * nll_c.mean()

        with torch.no_grad():
            beta = self.loss_params.beta
            r_c, r_r = beta * (pi_c - ref_c), beta * (pi_r - ref_r)
            gather = self.accelerator.gather_for_metrics
            m = self._metrics[mode]
            m["rewards/chosen"].append(gather(r_c).mean().item())
            m["rewards/rejected"].append(gather(r_r).mean().item())
            m["rewards/accuracies"].append(gather((r_c > r_r).float()).mean().item())
            m["rewards/margins"].append(gather(r_c - r_r).mean().item())
            m["safety_margin"].append(gather(margin).mean().item())
            m["kl_ref_policy"].append(gather(torch.cat([ref_c - pi_c, ref_r - pi_r])).mean().item())
            m["logps/chosen"].append(gather(pi_c).mean().item())
            m["logps/rejected"].append(gather(pi_r).mean().item())
            m["nll/chosen"].append(gather(nll_c).mean().item())
        if return_outputs:
            return loss, {"logps": logps.detach()}
        return loss

"""Multi-objective DPO losses on sequence log-probs (plain torch, registered by name).

Notation, per pair: ``pi_c, pi_r`` are the policy's summed log-probs of the chosen and rejected completions,
``ref_c, ref_r`` the reference model's, and

    delta = (pi_c - ref_c) - (pi_r - ref_r)          # the policy's preference for chosen, relative to the reference

Margin sign convention (one rule everywhere in selfmoa)::

    margin = safety(chosen) - safety(rejected)

so the margin is **positive when the chosen answer is the safer one**. The loss subtracts it:

    selfmoa:  L = -log sigmoid(beta * delta - w * margin)
    modpo:    L = -log sigmoid((beta * delta - (1 - w_k) * margin) / w_k)      (MODPO, Zhou et al. 2023, two objectives
                                                                                  with weights (w_k, 1 - w_k))
    dpo:      L = -log sigmoid(beta * delta)                                     (margin ignored)

With a positive margin (chosen safer) the loss is *larger* than plain DPO until the policy's preference for chosen
exceeds the margin: the safer the chosen answer, the more strongly the policy must prefer it. A negative margin
(chosen more helpful but less safe) lowers the bar, so the policy is not pushed far toward a less safe answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from selfmoa.registry import Registry

LossFn = Callable[..., torch.Tensor]
LOSSES: Registry[LossFn] = Registry("loss", "selfmoa.losses", field="train.method")


def register_loss(name: str):
    return LOSSES.register(name)


def loss_names() -> list[str]:
    return LOSSES.names()


def get_loss(name: str) -> LossFn:
    return LOSSES.get(name)


@dataclass(frozen=True)
class LossParams:
    beta: float = 0.1
    margin_weight: float = 1.0  # w in the selfmoa form
    modpo_weight: float = 0.5  # w_k in the MODPO form (weight of the objective the pairs are ordered by)


def preference_delta(pi_c, pi_r, ref_c, ref_r) -> torch.Tensor:
    """(pi_c - ref_c) - (pi_r - ref_r): how much more the policy prefers chosen than the reference does."""
    return (pi_c - ref_c) - (pi_r - ref_r)


@register_loss("modpo")
def selfmoa_loss(pi_c, pi_r, ref_c, ref_r, margin, params: LossParams) -> torch.Tensor:
    """-log sigmoid(beta * delta - w * margin), per pair (margin > 0 means chosen is safer)."""
    delta = preference_delta(pi_c, pi_r, ref_c, ref_r)
    return -F.logsigmoid(params.beta * delta - params.margin_weight * margin)


@register_loss("modpo_scaled")
def modpo_scaled_loss(pi_c, pi_r, ref_c, ref_r, margin, params: LossParams) -> torch.Tensor:
    """MODPO with the 1/w_k scaling: -log sigmoid((beta * delta - (1 - w_k) * margin) / w_k)."""
    wk = params.modpo_weight
    delta = preference_delta(pi_c, pi_r, ref_c, ref_r)
    return -F.logsigmoid((params.beta * delta - (1.0 - wk) * margin) / wk)


@register_loss("dpo")
def dpo_loss(pi_c, pi_r, ref_c, ref_r, margin, params: LossParams) -> torch.Tensor:
    """Plain DPO: -log sigmoid(beta * delta); the margin is ignored."""
    return -F.logsigmoid(params.beta * preference_delta(pi_c, pi_r, ref_c, ref_r))

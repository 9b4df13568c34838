"""The CSRM loss: NLL of the label token mass + gamma x Bradley-Terry over (strict, lenient) pairs.

With s = log P(safe) - log P(unsafe):
    L = mean_i w_i * -log P(verdict_i)  +  gamma * mean_(strict, lenient) -log sigmoid(s_lenient - s_strict)
so the lenient configuration of the same item must score safer than the strict one. The optional class
weights w (``class_weights[label]``, e.g. :func:`balanced_class_weights`) keep a rare verdict from being
learnt as a prior ("everything is safe") instead of from the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass
class LossParts:
    total: object
    nll: object
    bt: object


def balanced_class_weights(labels: Sequence[int]) -> tuple[float, float]:
    """(w_safe, w_unsafe) = n / (2 n_c): each verdict carries half of the NLL's weight over the data set
    (scikit-learn's ``class_weight="balanced"``); (1, 1) when a class is missing."""
    n, n_unsafe = len(labels), sum(int(y) for y in labels)
    if n == 0 or n_unsafe in (0, n):
        return 1.0, 1.0
    return n / (2 * (n - n_unsafe)), n / (2 * n_unsafe)


def csrm_loss(logprobs, labels, pairs: Sequence[tuple[int, int]] = (), gamma: float = 0.1,
              class_weights: tuple[float, float] | None = None) -> LossParts:
    """``logprobs``: tensor [n, 2] of (log P(safe), log P(unsafe)); ``labels``: tensor [n] (1 = unsafe);
    ``pairs``: (strict index, lenient index) rows of the same item; ``class_weights``: (w_safe, w_unsafe)
    multiplying each item's NLL (None = unweighted)."""
    import torch
    import torch.nn.functional as F

    labels = labels.long().to(logprobs.device)
    item_nll = -logprobs.gather(1, labels.view(-1, 1)).squeeze(1)
    if class_weights is not None:
        item_nll = item_nll * torch.tensor(class_weights, dtype=logprobs.dtype, device=logprobs.device)[labels]
    nll = item_nll.mean()
    if pairs and gamma > 0:
        score = logprobs[:, 0] - logprobs[:, 1]
        strict = torch.tensor([p[0] for p in pairs], device=logprobs.device)
        lenient = torch.tensor([p[1] for p in pairs], device=logprobs.device)
        bt = -F.logsigmoid(score[lenient] - score[strict]).mean()
    else:
        bt = logprobs.new_zeros(())
    return LossParts(nll + gamma * bt, nll, bt)

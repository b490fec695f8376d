"""Classification losses: multi-class focal loss and cross-entropy, selected by name."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from defectlab.errors import ConfigError

LOSSES = ("focal", "ce")
"""Loss names accepted by :func:`make_loss`."""

REDUCTIONS = ("mean", "sum", "none")


class FocalLoss(nn.Module):
    """Multi-class focal loss (Lin et al., 2017).

    For logits ``z_i`` and target class ``y_i``, with ``p_i = softmax(z_i)[y_i]``::

        loss_i = -alpha * (1 - p_i) ** gamma * log(p_i)

    ``alpha`` weights the target-class term (one scalar for all classes); ``gamma`` down-weights
    well-classified samples. ``gamma = 0, alpha = 1`` is cross-entropy. ``log(p_i)`` comes from
    ``log_softmax``, so the loss stays finite for confident logits. Reduction: mean, sum or none.
    """

    def __init__(self, gamma: float = 2.0, alpha: float = 0.75, reduction: str = "mean") -> None:
        super().__init__()
        if gamma < 0 or alpha <= 0:
            raise ConfigError(f"focal loss needs gamma >= 0 and alpha > 0, got gamma={gamma}, alpha={alpha}")
        if reduction not in REDUCTIONS:
            raise ConfigError(f"unknown reduction '{reduction}'; valid: {', '.join(REDUCTIONS)}")
        self.gamma = gamma
        self.alpha = alpha
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Loss of (N, K) logits against (N,) integer targets."""
        log_p = F.log_softmax(logits, dim=1).gather(1, targets.view(-1, 1)).squeeze(1)
        weight = (1.0 - log_p.exp()).clamp(min=0.0) ** self.gamma
        losses = -self.alpha * weight * log_p
        if self.reduction == "mean":
            return losses.mean()
        return losses.sum() if self.reduction == "sum" else losses


def make_loss(name: str) -> nn.Module:
    """``"focal"`` (FocalLoss with gamma 2, alpha 0.75) or ``"ce"`` (cross-entropy), mean-reduced."""
    if name == "focal":
        return FocalLoss()
    if name == "ce":
        return nn.CrossEntropyLoss()
    raise ConfigError(f"unknown loss '{name}'; valid: {', '.join(LOSSES)}")

"""Focal loss against a per-sample numpy formula; gamma 0 / alpha 1 is cross-entropy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from defectlab.classifiers.losses import FocalLoss, make_loss
from defectlab.errors import ConfigError


def reference_focal(logits: np.ndarray, targets: np.ndarray, gamma: float, alpha: float) -> np.ndarray:
    """Per-sample -alpha * (1 - p_t)^gamma * log(p_t), one sample at a time in float64."""
    losses = []
    for row, target in zip(logits.astype(np.float64), targets):
        p = np.exp(row - row.max())
        p /= p.sum()
        losses.append(-alpha * (1 - p[target]) ** gamma * np.log(p[target]))
    return np.array(losses)


@pytest.mark.parametrize(("gamma", "alpha"), [(2.0, 0.75), (0.5, 0.25), (3.0, 1.0)])
def test_matches_the_per_sample_formula(gamma, alpha):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (12, 4)).astype(np.float32)
    targets = rng.integers(0, 4, 12)
    expected = reference_focal(logits, targets, gamma, alpha)
    loss = FocalLoss(gamma, alpha, reduction="none")(torch.from_numpy(logits), torch.from_numpy(targets))
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5, atol=1e-6)
    mean = FocalLoss(gamma, alpha)(torch.from_numpy(logits), torch.from_numpy(targets))
    total = FocalLoss(gamma, alpha, reduction="sum")(torch.from_numpy(logits), torch.from_numpy(targets))
    assert mean.item() == pytest.approx(expected.mean(), rel=1e-5)
    assert total.item() == pytest.approx(expected.sum(), rel=1e-5)


def test_gamma_zero_alpha_one_is_cross_entropy():
    torch.manual_seed(0)
    logits, targets = torch.randn(9, 3), torch.randint(0, 3, (9,))
    torch.testing.assert_close(FocalLoss(gamma=0.0, alpha=1.0)(logits, targets), F.cross_entropy(logits, targets))


def test_default_is_gamma_2_alpha_075_and_down_weights_easy_samples():
    loss = FocalLoss()
    assert (loss.gamma, loss.alpha) == (2.0, 0.75)
    logits = torch.tensor([[4.0, 0.0], [0.5, 0.0]])
    per_sample = FocalLoss(reduction="none")(logits, torch.tensor([0, 0]))
    ce = F.cross_entropy(logits, torch.tensor([0, 0]), reduction="none")
    assert (per_sample / ce)[0] < (per_sample / ce)[1]


def test_gradients_are_finite_for_extreme_logits():
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [0.0, 0.0, 0.0]], requires_grad=True)
    loss = FocalLoss()(logits, torch.tensor([0, 0, 2]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_make_loss_and_bad_parameters():
    assert isinstance(make_loss("focal"), FocalLoss)
    assert isinstance(make_loss("ce"), torch.nn.CrossEntropyLoss)
    with pytest.raises(ConfigError, match="focal, ce"):
        make_loss("hinge")
    with pytest.raises(ConfigError, match="gamma"):
        FocalLoss(gamma=-1.0)
    with pytest.raises(ConfigError, match="reduction"):
        FocalLoss(reduction="max")

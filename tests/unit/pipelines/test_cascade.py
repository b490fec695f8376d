"""The cascade: every outcome, and the localized stage 2 on features with a known defect region."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defectlab.errors import DataError
from defectlab.pipelines.cascade import NO_DEFECT, UNKNOWN_DEFECT, LocalizedStage2, cascade_outcomes
from defectlab.pipelines.openset import UNKNOWN


def test_every_outcome() -> None:
    outcomes = cascade_outcomes(np.array([0.1, 0.9, 0.8, 0.5]), 0.5, ["a", "b", UNKNOWN, "c"])
    assert outcomes == [NO_DEFECT, "b", UNKNOWN_DEFECT, "c"]  # at the threshold counts as flagged
    assert cascade_outcomes(np.array([0.1]), 0.5, [UNKNOWN], ignore_no_defect=True) == [UNKNOWN_DEFECT]
    with pytest.raises(DataError, match="stage-1 scores"):
        cascade_outcomes(np.array([0.1]), 0.5, ["a", "b"])


def defect_images(kind: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 6, 8, 8) background features with a 2x2 defect whose channels say its class, and the
    (n, 8, 8) patch map that is high on the defect."""
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, 6, 8, 8, generator=g)
    maps = torch.rand(n, 8, 8, generator=g) * 0.1
    signature = torch.zeros(6)
    signature[kind] = 4.0
    for i in range(n):
        r, c = torch.randint(0, 7, (2,), generator=g).tolist()
        features[i, :, r : r + 2, c : c + 2] += signature[:, None, None]
        maps[i, r : r + 2, c : c + 2] = 1.0
    return features, maps


def stack(parts):
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def test_localized_stage2_names_known_defects_and_refuses_new_ones() -> None:
    train = [defect_images(k, 40, k) for k in range(3)]
    val = [defect_images(k, 40, 10 + k) for k in range(3)]
    labels = np.repeat(np.arange(3), 40)
    stage2 = LocalizedStage2(("a", "b", "c")).fit(stack(train), labels, stack(val))
    test_known = stack([defect_images(k, 30, 20 + k) for k in range(3)])
    embeddings, logits = stage2.represent(*test_known)
    decisions = stage2.head.decide(embeddings, logits, "mahalanobis")
    truth = np.repeat(np.array(["a", "b", "c"]), 30)
    known_ok = np.mean([d == t for d, t in zip(decisions, truth)])
    assert known_ok > 0.85
    new_kind = defect_images(4, 30, 40)  # a defect with a signature no known class has
    embeddings, logits = stage2.represent(*new_kind)
    assert np.mean(np.array(stage2.head.decide(embeddings, logits, "mahalanobis")) == UNKNOWN) > 0.9

"""Localize before classifying: embeddings guided by a stage-1 anomaly map.

Features pooled over the whole image mix a small defect with a large background; pooled over the
defect's own region they describe the defect. Without a mask at inference time, the stage-1
anomaly map stands in for it: :func:`anomaly_weighted_embedding` averages the patch features with
weights from the anomaly map (its part above the per-image ``quantile``, i.e. the hottest region),
next to the whole-image average, so the classifier sees the defect and its context.

Where the known defect images come with masks, :class:`DefectRegionModel` learns which patches
look like defect rather than background (a patch-level logistic regression: patches inside the
known classes' masks against background patches of the same images and of defect-free ones). Its
probability times the anomaly map is a sharper region than the anomaly map alone, which also
responds to irregular texture. Defect "look" is shared across types, so the region model also
finds unknown types' regions.

The measured effect of the region model, and the options measured and not kept (a crop around
the map's peak, other region weights), are in ``docs/decisions/openset-localization.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import softmax

from defectlab.errors import ConfigError, DataError
from defectlab.pipelines.openset import LinearHead


def region_weights(maps: torch.Tensor, quantile: float = 0.9) -> torch.Tensor:
    """(N, h, w) non-negative weights summing to 1 per image: the map above its ``quantile``.

    A flat map (nothing above the quantile) gives uniform weights.
    """
    if not 0.0 <= quantile < 1.0:
        raise ConfigError(f"region quantile must be in [0, 1), got {quantile}")
    flat = maps.flatten(1).double()
    floor = torch.quantile(flat, quantile, dim=1, keepdim=True)
    weights = (flat - floor).clamp_min(0.0)
    total = weights.sum(dim=1, keepdim=True)
    uniform = torch.full_like(weights, 1.0 / weights.shape[1])
    weights = torch.where(total > 0, weights / total.clamp_min(1e-300), uniform)
    return weights.view_as(maps).float()


def anomaly_weighted_embedding(features: torch.Tensor, maps: torch.Tensor, quantile: float = 0.9) -> np.ndarray:
    """(N, 2C): [anomaly-weighted average of the patch features, whole-image average].

    ``features`` is (N, C, h, w); ``maps`` (N, H, W) anomaly maps at any resolution (resized to
    h x w by area averaging).
    """
    if features.ndim != 4 or maps.ndim != 3 or len(features) != len(maps):
        raise DataError(f"expected (N, C, h, w) features and (N, H, W) maps, got {tuple(features.shape)} and {tuple(maps.shape)}")
    small = F.adaptive_avg_pool2d(maps[:, None].float(), features.shape[-2:])[:, 0]
    weights = region_weights(small, quantile)
    local = torch.einsum("nchw,nhw->nc", features.float(), weights)
    return torch.cat([local, features.float().mean(dim=(2, 3))], dim=1).numpy()


def _patch_rows(features: torch.Tensor) -> np.ndarray:
    """(N * h * w, C) rows of (N, C, h, w) patch features."""
    return features.float().permute(0, 2, 3, 1).reshape(-1, features.shape[1]).numpy().astype(np.float64)


@dataclass
class DefectRegionModel:
    """P(defect | patch features): where in an image the defect is, learned from known classes' masks.

    Positive patches: mask coverage above one half; negative: no coverage, from the same defect
    images and from defect-free images, at most ``max_negatives`` of each (seeded draw). A
    standardized, class-balanced logistic regression (:class:`~defectlab.pipelines.openset.LinearHead`)
    with inverse regularization ``regularization``.
    """

    regularization: float = 0.1
    max_negatives: int = 20_000
    seed: int = 42

    def __post_init__(self) -> None:
        self.head = LinearHead(self.regularization, self.seed, balanced=True)

    def fit(self, defect_features: torch.Tensor, masks: torch.Tensor, normal_features: torch.Tensor) -> DefectRegionModel:
        """``defect_features`` (N, C, h, w) with their (N, H, W) masks; ``normal_features`` (M, C, h, w)."""
        if defect_features.ndim != 4 or masks.ndim != 3 or len(masks) != len(defect_features):
            raise DataError(
                f"expected (N, C, h, w) features and (N, H, W) masks, got {tuple(defect_features.shape)} and {tuple(masks.shape)}"
            )
        if normal_features.ndim != 4 or normal_features.shape[1] != defect_features.shape[1]:
            raise DataError(f"normal features {tuple(normal_features.shape)} do not match {tuple(defect_features.shape)}")
        coverage = F.adaptive_avg_pool2d(masks[:, None].float(), defect_features.shape[-2:])[:, 0].reshape(-1).numpy()
        rows = _patch_rows(defect_features)
        positives = rows[coverage > 0.5]
        if len(positives) == 0:
            raise DataError("no patch is more than half inside a defect mask: cannot learn defect regions")
        rng = np.random.default_rng(self.seed)

        def draw(x: np.ndarray) -> np.ndarray:
            return x[rng.choice(len(x), min(len(x), self.max_negatives), replace=False)]

        negatives = np.concatenate([draw(rows[coverage == 0]), draw(_patch_rows(normal_features))])
        self.head.fit(np.concatenate([positives, negatives]), np.r_[np.ones(len(positives)), np.zeros(len(negatives))])
        return self

    def probabilities(self, features: torch.Tensor) -> torch.Tensor:
        """(N, h, w) defect probability of every patch of (N, C, h, w) features."""
        n, _, h, w = features.shape
        logits = self.head.logits(_patch_rows(features))  # NotFittedError before fit()
        return torch.from_numpy(softmax(logits, axis=1)[:, 1]).float().view(n, h, w)

    def state_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return self.head.state_arrays(prefix)

    def load_state_arrays(self, arrays: dict[str, np.ndarray], prefix: str) -> DefectRegionModel:
        self.head.load_state_arrays(arrays, prefix)
        return self

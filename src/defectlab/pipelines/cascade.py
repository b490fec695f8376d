"""The anomaly-gated cascade: a detector trained on good parts passes them, a classifier names the rest.

Stage 1 is any detector bundle fitted on defect-free images, its threshold set so that a share
``accept`` of held-out normal images passes (the ``quantile`` calibration). Stage 2 is an
open-set classifier over the images stage 1 flags, fed either the whole image (the classifier's
own embeddings) or the stage-1 anomaly map's region (:class:`LocalizedStage2`: the stage-1 patch
features pooled with anomaly weights, a linear head, and an open-set head over them). Given a
:class:`~defectlab.pipelines.localize.DefectRegionModel` (learned where the known classes have
masks), the weights are its defect probability times the anomaly map.

Outcomes: ``no_defect`` (stage 1 passes it), a known class, or ``unknown_defect``. Where a test
set has no defect-free images (NEU), ``ignore_no_defect`` sends every image to stage 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from defectlab.errors import DataError
from defectlab.pipelines.localize import DefectRegionModel, anomaly_weighted_embedding
from defectlab.pipelines.openset import UNKNOWN, LinearHead, OpenSetHead

NO_DEFECT = "no_defect"
UNKNOWN_DEFECT = "unknown_defect"


def cascade_outcomes(
    stage1_scores: np.ndarray,
    stage1_threshold: float,
    stage2_decisions: Sequence[str],
    ignore_no_defect: bool = False,
) -> list[str]:
    """Combine the gate and the open-set decisions: ``no_defect`` below the threshold (unless
    ignored), else the known class or ``unknown_defect``."""
    scores = np.asarray(stage1_scores, dtype=np.float64)
    if len(scores) != len(stage2_decisions):
        raise DataError(f"{len(scores)} stage-1 scores for {len(stage2_decisions)} stage-2 decisions")
    outcomes = []
    for score, decision in zip(scores, stage2_decisions, strict=True):
        if not ignore_no_defect and score < stage1_threshold:
            outcomes.append(NO_DEFECT)
        else:
            outcomes.append(UNKNOWN_DEFECT if decision == UNKNOWN else decision)
    return outcomes


@dataclass
class LocalizedStage2:
    """Open-set classification of anomaly-weighted stage-1 features (see the module docstring)."""

    class_names: tuple[str, ...]
    accept: float = 0.95
    quantile: float = 0.9
    seed: int = 42
    region: DefectRegionModel | None = None

    def embed(self, features: torch.Tensor, patch_maps: torch.Tensor) -> np.ndarray:
        """Region-weighted embeddings of (N, C, h, w) features under (N, h, w) stage-1 patch maps
        (times the region model's defect probability when there is one)."""
        if self.region is not None:
            patch_maps = patch_maps.float() * self.region.probabilities(features)
        return anomaly_weighted_embedding(features, patch_maps, self.quantile)

    def fit(
        self,
        train: tuple[torch.Tensor, torch.Tensor],
        train_labels: np.ndarray,
        val: tuple[torch.Tensor, torch.Tensor],
    ) -> LocalizedStage2:
        """Fit the linear head and the open-set head: ``train``/``val`` are (features, patch maps)
        of defect images of the known classes (labels are class indices); thresholds from ``val``."""
        train_embeddings, val_embeddings = self.embed(*train), self.embed(*val)
        self.linear = LinearHead(seed=self.seed).fit(train_embeddings, train_labels)
        self.head = OpenSetHead(self.class_names, self.accept).fit(
            train_embeddings, train_labels, val_embeddings, self.linear.logits(val_embeddings), self.linear.final_layer()
        )
        return self

    def represent(self, features: torch.Tensor, patch_maps: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings, logits) of images, for the open-set head's scores and decisions."""
        embeddings = self.embed(features, patch_maps)
        return embeddings, self.linear.logits(embeddings)

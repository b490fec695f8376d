"""The detector contract: fit on normal feature maps, score patches; higher = more anomalous."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import torch
from torch import nn

from defectlab.components.anomaly_map import image_scores
from defectlab.errors import DataError, ModelError, NotFittedError


@dataclass
class Detector(ABC):
    """Base class following scikit-learn's estimator contract.

    Dataclass fields are the parameters (`__init__` only stores them); `fit` learns state
    into attributes ending in `_` and returns self. Inputs are NCHW patch-feature maps.
    """

    kind: ClassVar[str]

    @abstractmethod
    def fit(self, features: torch.Tensor, progress: bool = False) -> Detector:
        """Learn what normal looks like from (N, C, h, w) features of normal images."""

    @abstractmethod
    def score(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image scores (N,) and patch scores (N, h, w) for (N, C, h, w) features."""

    @abstractmethod
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The learned state, as named tensors (for safetensors)."""

    @abstractmethod
    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> Detector:
        """Restore learned state written by `state_tensors`."""

    def adapt(self, features: torch.Tensor) -> Detector:
        """A copy that also accepts `features` (a few normal images of a new domain) as normal,
        without refitting from scratch. Detectors without a few-shot update raise ModelError."""
        raise ModelError(f"{type(self).__name__} has no few-shot adaptation")

    def scoring_graph(self) -> ScoringGraph:
        """The fitted scoring as a traceable module, features (N, C, h, w) -> (image scores (N,),
        patch scores (N, h, w)) equal to :meth:`score`'s: what an exported model runs. ModelError for a
        detector (or a setting) that has no graph form."""
        raise ModelError(f"a {self.kind} detector cannot be exported: it has no graph form")

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-serializable)."""
        return {f.name: v for f, v in zip(fields(self), asdict(self).values()) if f.init}

    @property
    def is_fitted(self) -> bool:
        return any(name.endswith("_") and not name.startswith("_") for name in vars(self))

    def check_fitted(self) -> None:
        """Raise NotFittedError unless `fit` (or loading) has happened."""
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load a bundle first")


def check_features(features: torch.Tensor, what: str, channels: int | None = None) -> None:
    """Validate an (N, C, h, w) feature batch."""
    if features.ndim != 4:
        raise DataError(f"{what}: expected (N, C, h, w) features, got shape {tuple(features.shape)}")
    if len(features) == 0:
        raise DataError(f"{what}: no images")
    if channels is not None and features.shape[1] != channels:
        raise DataError(f"{what}: expected {channels} feature channels, got {features.shape[1]}")


class ScoringGraph(nn.Module):
    """A detector's patch scores (a module: features -> (N, h, w)) and its image score aggregation
    (:func:`~defectlab.components.anomaly_map.image_scores`), as one traceable module."""

    def __init__(self, patch_scores: nn.Module, aggregation: str, top_k: int, smoothing: float) -> None:
        super().__init__()
        self.patch_scores = patch_scores
        self.aggregation, self.top_k, self.smoothing = aggregation, top_k, smoothing

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        patch_scores = self.patch_scores(features)
        return image_scores(patch_scores, self.aggregation, self.top_k, self.smoothing), patch_scores

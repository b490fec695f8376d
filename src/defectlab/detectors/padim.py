"""PaDiM (Defard et al., ICPR 2021): a Gaussian per patch position, Mahalanobis distance map."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from defectlab.components.anomaly_map import check_aggregation
from defectlab.components.gaussian import fit_gaussians, mahalanobis, map_adapt_gaussians
from defectlab.detectors.base import Detector, ScoringGraph, check_features
from defectlab.errors import DataError


@dataclass
class PaDiM(Detector):
    """Per-position mean and regularized covariance of a random channel subset."""

    kind = "padim"
    n_features: int = 100
    regularization: float = 0.01
    aggregation: str = "max"
    top_k: int = 10
    smoothing: float = 0.5
    relevance: float = 16.0  # few-shot adaptation: prior strength of the fitted Gaussians, in images
    seed: int = 42

    def __post_init__(self) -> None:
        check_aggregation(self.aggregation)

    def fit(self, features: torch.Tensor, progress: bool = False) -> PaDiM:
        check_features(features, "PaDiM.fit")
        if len(features) < 2:
            raise DataError("PaDiM.fit: needs at least 2 normal images to estimate covariances")
        channels = features.shape[1]
        d = min(self.n_features, channels)
        gen = torch.Generator().manual_seed(self.seed)
        self.channels_ = torch.randperm(channels, generator=gen)[:d].sort().values
        selected = features[:, self.channels_].float()
        self.mean_, self.inv_cov_ = fit_gaussians(_positions(selected), self.regularization)
        self.map_size_ = torch.tensor(features.shape[-2:])
        return self

    def score(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.check_fitted()
        check_features(features, "PaDiM.score")
        if tuple(features.shape[-2:]) != tuple(self.map_size_.tolist()):
            raise DataError(
                f"PaDiM.score: feature map {tuple(features.shape[-2:])} differs from the fitted "
                f"{tuple(self.map_size_.tolist())}; use the same image size as in training"
            )
        return self.scoring_graph()(features)

    def scoring_graph(self) -> ScoringGraph:
        """Per-position Mahalanobis distances as graph operations (what :meth:`score` runs)."""
        self.check_fitted()
        distances = _PositionDistances(self.channels_, self.mean_, self.inv_cov_)
        return ScoringGraph(distances, self.aggregation, self.top_k, self.smoothing)

    def adapt(self, features: torch.Tensor) -> PaDiM:
        """A copy whose Gaussians are MAP-updated towards `features` (k normal images of a new
        domain), weight k / (k + relevance); see `map_adapt_gaussians`."""
        self.check_fitted()
        check_features(features, "PaDiM.adapt")
        adapted = copy.copy(self)
        adapted.mean_, adapted.inv_cov_ = map_adapt_gaussians(
            self.mean_, self.inv_cov_, _positions(features[:, self.channels_].float()), self.relevance, self.regularization
        )
        return adapted

    def state_tensors(self) -> dict[str, torch.Tensor]:
        self.check_fitted()
        return {"channels": self.channels_, "mean": self.mean_, "inv_cov": self.inv_cov_, "map_size": self.map_size_}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> PaDiM:
        self.channels_ = tensors["channels"].long()
        self.mean_ = tensors["mean"].float()
        self.inv_cov_ = tensors["inv_cov"].float()
        self.map_size_ = tensors["map_size"].long()
        return self


class _PositionDistances(nn.Module):
    """Features (N, C, h, w) -> Mahalanobis distance of each position's selected channels (N, h, w)."""

    def __init__(self, channels: torch.Tensor, mean: torch.Tensor, inv_cov: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("channels", channels)
        self.register_buffer("mean", mean)
        self.register_buffer("inv_cov", inv_cov)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        n, _, h, w = features.shape
        return mahalanobis(_positions(features[:, self.channels].float()), self.mean, self.inv_cov).view(n, h, w)


def _positions(features: torch.Tensor) -> torch.Tensor:
    """(N, d, h, w) -> (N, h*w, d)."""
    n, d, h, w = features.shape
    return features.reshape(n, d, h * w).permute(0, 2, 1)

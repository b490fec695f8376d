"""An anomaly model: feature extractor + detector + anomaly-map post-processing."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from defectlab.backbones.cache import FeatureCache
from defectlab.backbones.extractor import FeatureConfig, FeatureExtractor, resize_batch
from defectlab.components.align import Aligner, Alignment
from defectlab.components.anomaly_map import AnomalyMap, to_anomaly_map
from defectlab.components.feature_stats import channel_statistics, match_statistics
from defectlab.detectors.base import Detector
from defectlab.errors import ConfigError, DataError


@dataclass
class Prediction:
    """Image scores (N,) and pixel anomaly maps (N, S, S) at the model's image size.

    `maps` is an empty (N, 0, 0) array when the prediction was asked without maps. With alignment,
    the maps are in each image's own frame and `aligned` (N,) is False where an image could not be
    aligned to the template (it was scored as it is); without alignment `aligned` is None.
    """

    scores: np.ndarray
    maps: np.ndarray
    aligned: np.ndarray | None = None


class GraphRuntime(Protocol):
    """A model's exported graphs in a graph runtime (ONNX Runtime, OpenVINO): see :meth:`AnomalyModel.graphs`."""

    name: str
    """Runtime and precision, e.g. ``openvino-f32``."""

    def scores(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image scores (N,) and patch scores (N, h, w) of resized images (N, 3, S, S), float32 values 0-255."""
        ...

    def maps(self, patch_scores: np.ndarray) -> np.ndarray:
        """Smoothed pixel anomaly maps (N, S, S) of patch scores (N, h, w)."""
        ...


class ImageScoring(nn.Module):
    """Resized images (N, 3, S, S), values 0-255 -> (image scores (N,), patch scores (N, h, w))."""

    def __init__(self, embedding: nn.Module, scoring: nn.Module) -> None:
        super().__init__()
        self.embedding, self.scoring = embedding, scoring

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.scoring(self.embedding(images))


@dataclass
class AnomalyModel:
    """Images in, anomaly scores and maps out. Higher = more anomalous."""

    detector: Detector
    features: FeatureConfig = field(default_factory=FeatureConfig)
    sigma: float = 4.0
    batch_size: int = 16
    num_threads: int | None = None
    cache: FeatureCache | None = None
    aligner: Aligner | None = None  # align each image to a template of the training normals first
    runtime: GraphRuntime | None = None  # score with exported graphs instead of torch

    def __post_init__(self) -> None:
        self._extractor: FeatureExtractor | None = None

    @property
    def extractor(self) -> FeatureExtractor:
        """The feature extractor (built on first use)."""
        if self._extractor is None:
            self._extractor = FeatureExtractor(self.features, self.batch_size, self.num_threads)
        return self._extractor

    def share_extractor(self, extractor: FeatureExtractor) -> AnomalyModel:
        """Use an already-built extractor (same feature config), e.g. one shared by many models."""
        if extractor.config != self.features:
            raise ConfigError(f"extractor config {extractor.config} differs from the model's {self.features}")
        self._extractor = extractor
        return self

    def extract(self, images: Sequence[np.ndarray], progress: bool = False) -> torch.Tensor:
        """Patch features of `images`, through the cache when one is set."""
        if self.cache is not None:
            return self.cache.extract(self.extractor, images, progress=progress)
        return self.extractor.extract(images, progress=progress)

    def fit(self, images: Sequence[np.ndarray], progress: bool = False) -> AnomalyModel:
        """Fit the detector on normal images."""
        if len(images) == 0:
            raise DataError("no training images: the detector needs normal images to fit")
        if self.aligner is not None:
            self.aligner.fit(list(images))
        features = self.extract(self._aligned(images)[0], progress=progress)
        self.reference_statistics_ = channel_statistics(features)
        self.detector.fit(features, progress=progress)
        return self

    def matched_to(self, images: Sequence[np.ndarray], progress: bool = False) -> AnomalyModel:
        """A copy whose features are re-standardized before scoring: the channel statistics of `images`
        (unlabeled images of a new condition, defects allowed among them) are mapped onto the training
        images' statistics (test-time feature standardization)."""
        if not hasattr(self, "reference_statistics_"):
            raise ConfigError("matched_to needs a model fitted in this process (its training statistics)")
        if len(images) == 0:
            raise DataError("matched_to needs at least one image of the new condition")
        matched = copy.copy(self)
        matched.condition_statistics_ = channel_statistics(self.extract(self._aligned(images)[0], progress=progress))
        return matched

    def _aligned(self, images: Sequence[np.ndarray]) -> tuple[Sequence[np.ndarray], list[Alignment] | None]:
        """The images in the template's frame and their alignments (unchanged, None, without an aligner)."""
        if self.aligner is None:
            return images, None
        pairs = [self.aligner.align(image) for image in images]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def predict_features(self, features: torch.Tensor, with_maps: bool = True) -> Prediction:
        """Scores and maps from precomputed features (`with_maps=False` skips the map upsampling and smoothing)."""
        if hasattr(self, "condition_statistics_"):
            features = match_statistics(features, self.condition_statistics_, self.reference_statistics_)
        scores, patches = self.detector.score(features)
        if not with_maps:
            return Prediction(scores.numpy().astype(np.float64), np.zeros((len(scores), 0, 0), np.float32))
        maps = to_anomaly_map(patches, self.features.image_size, self.sigma)
        return Prediction(scores.numpy().astype(np.float64), maps.numpy())

    def graphs(self) -> tuple[ImageScoring, AnomalyMap]:
        """The fitted inference path as two traceable modules (what an export writes): resized images ->
        (scores, patch scores), and patch scores -> smoothed maps. Raises ModelError for a detector
        without a graph form; alignment stays outside (it runs before the first)."""
        if hasattr(self, "condition_statistics_"):
            raise ConfigError("a test-time standardized copy (matched_to) cannot be exported: export the fitted model")
        scoring = ImageScoring(self.extractor.embedding, self.detector.scoring_graph()).eval()
        return scoring, AnomalyMap(self.features.image_size, self.sigma).eval()

    def _predict_with_runtime(
        self, runtime: GraphRuntime, images: Sequence[np.ndarray], progress: bool, with_maps: bool
    ) -> Prediction:
        """Scores and maps of (aligned) `images` through the exported graphs, batch by batch."""
        scores, maps = [], []
        bar = tqdm(total=len(images), desc=runtime.name, unit="img", disable=None if progress else True, leave=False)
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            batch_scores, patch_scores = runtime.scores(resize_batch(chunk, self.features.image_size).contiguous().numpy())
            scores.append(batch_scores.astype(np.float64))
            maps.append(runtime.maps(patch_scores) if with_maps else np.zeros((len(chunk), 0, 0), np.float32))
            bar.update(len(chunk))
        bar.close()
        return Prediction(np.concatenate(scores), np.concatenate(maps))

    def predict(self, images: Sequence[np.ndarray], progress: bool = False, with_maps: bool = True) -> Prediction:
        """Scores and anomaly maps for `images`, batch by batch (through the exported graphs when a runtime is set)."""
        if len(images) == 0:
            raise DataError("no images to score")
        images, alignments = self._aligned(images)
        if self.runtime is not None:
            prediction = self._predict_with_runtime(self.runtime, images, progress, with_maps)
        elif self.cache is not None:
            prediction = self.predict_features(self.extract(images, progress=progress), with_maps)
        else:
            parts = [self.predict_features(f, with_maps) for f in self.extractor.batches(images, progress=progress)]
            prediction = Prediction(np.concatenate([p.scores for p in parts]), np.concatenate([p.maps for p in parts]))
        if alignments is None or self.aligner is None:
            return prediction
        maps = prediction.maps
        if with_maps:
            maps = np.stack([self.aligner.to_image_frame(m, a) for m, a in zip(maps, alignments, strict=True)])
        return Prediction(prediction.scores, maps, np.array([a.aligned for a in alignments]))

"""One model interface over every bundle kind: a :class:`Predictor` answers a list of images with
one :class:`Prediction` each and describes its bundle's manifest.

Predictors are shared by concurrent requests of the service: ``predict`` only reads the model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from defectlab.bundle.manifest import KIND_NAMES
from defectlab.errors import ModelError
from defectlab.explain.overlay import overlay, resize_map

NORMAL = "Normal"
DEFECTIVE = "Defective"
UNKNOWN_DECISION = "Unknown category"


@dataclass
class Prediction:
    """A bundle's answer for one image; each kind fills the fields that apply.

    Detectors fill ``score`` .. ``normalized_score``; classifiers ``label`` .. ``probabilities``
    (``is_anomalous`` is False only for a class named as normal); routed bundles add the
    ``category``; open-set bundles give the stage-1 score and the known class, ``no_defect`` or
    ``unknown_defect`` as the label. ``heatmap`` is an HxW map in [0, 1] at the image's size (the
    anomaly map scaled so the threshold sits at 0.5, or the Grad-CAM map), ``overlay`` the image
    blended with it; both only when asked for. ``warnings`` name what made the answer less certain
    (an image that could not be aligned to the training template was scored as it is).
    """

    decision: str
    is_anomalous: bool
    score: float | None = None
    threshold: float | None = None
    normalized_score: float | None = None
    label: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] | None = None
    category: str | None = None
    heatmap: np.ndarray | None = None
    overlay: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)

    def add_anomaly_map(self, image: np.ndarray, anomaly_map: np.ndarray, threshold: float) -> None:
        """Heatmap (0.5 at the threshold, 1 at twice the threshold) and overlay of a detector's map."""
        self.heatmap = np.clip(resize_map(anomaly_map, *image.shape[:2]) / (2.0 * threshold), 0.0, 1.0)
        self.overlay = overlay(image, anomaly_map, vmin=0.0, vmax=2.0 * threshold)


class Predictor(ABC):
    """A loaded bundle that answers for images (``defectlab.bundle.load`` returns one for any kind).

    ``model_id`` is short: the bundle folder name, its model kind and its creation time.
    """

    kind: ClassVar[str]
    """The bundle kind (one of :data:`defectlab.bundle.manifest.KINDS`)."""
    heatmap_name: ClassVar[str] = "Anomaly heatmap"
    """What the heatmap of this kind shows, for people."""

    def __init__(self, path: Path, manifest: dict[str, Any], model_name: str, runtime: str = "torch") -> None:
        self.path = path
        self.manifest = manifest
        self.model_id = f"{path.name}:{model_name}:{manifest.get('created', 'unknown')}"
        self.runtime = runtime
        """What scores: ``torch``, or an export such as ``openvino-f32``."""

    @classmethod
    @abstractmethod
    def load(cls, path: Path, num_threads: int | None = None, runtime: str | None = None) -> Predictor:
        """The bundle at ``path`` (``num_threads`` CPU threads; ``runtime``: torch or an exported runtime)."""

    @classmethod
    def torch_only(cls, path: Path, runtime: str | None) -> None:
        """ModelError when an exported ``runtime`` is asked of a kind that has no export."""
        if runtime not in (None, "torch"):
            raise ModelError(f"{path} is {KIND_NAMES[cls.kind]} bundle, which has no exported runtime: use --runtime torch")

    @property
    @abstractmethod
    def image_size(self) -> int:
        """The square input size the model works at."""

    @abstractmethod
    def predict(self, images: Sequence[np.ndarray], explain: bool = False) -> list[Prediction]:
        """One prediction per decoded uint8 HxWx3 image; ``explain`` adds the heatmap and overlay."""

    def describe(self) -> dict[str, Any]:
        """The manifest facts a person or client needs (JSON-serializable): the manifest and the runtime by default."""
        return {**self.manifest, "runtime": self.runtime}

    def warm_up(self) -> None:
        """Run one dummy prediction so that the first real one is not slow."""
        size = self.image_size
        self.predict([np.full((size, size, 3), 128, np.uint8)], explain=True)

"""The calibration images' scores and labels that a bundle keeps, so its threshold can be re-chosen later."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from defectlab.calibration.validation import labels_and_scores
from defectlab.errors import ConfigError, DataError


@dataclass(frozen=True)
class CalibrationScores:
    """Scores (float64) and labels (0 normal, 1 anomalous) of the calibration images, same length."""

    scores: np.ndarray
    labels: np.ndarray

    @classmethod
    def of(cls, scores: ArrayLike, labels: ArrayLike) -> CalibrationScores:
        """Checked arrays (DataError on empty, non-finite, non-binary or mismatched input)."""
        label_array, score_array = labels_and_scores(labels, scores)
        return cls(scores=score_array, labels=label_array)

    @property
    def n_normal(self) -> int:
        return int((self.labels == 0).sum())

    @property
    def n_anomalous(self) -> int:
        return int((self.labels == 1).sum())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: {"scores": [...], "labels": [...]}."""
        return {"scores": self.scores.tolist(), "labels": self.labels.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CalibrationScores:
        """Inverse of `to_dict`; ConfigError when keys are missing or the arrays are invalid."""
        try:
            return cls.of(data["scores"], data["labels"])
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"calibration scores need 'scores' and 'labels': {exc!r}") from exc
        except DataError as exc:
            raise ConfigError(f"calibration scores are invalid: {exc}") from exc

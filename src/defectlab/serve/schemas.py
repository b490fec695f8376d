"""Request and response models of the inspection service (they make the OpenAPI schema complete)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Health(BaseModel):
    """Liveness: the service is up and which model it serves."""

    status: str = Field(examples=["ok"])
    model_id: str = Field(description="Bundle folder name, model kind and creation time.")
    kind: str = Field(description="The bundle kind: anomaly_detector, classifier, routed or openset.")


class ModelCard(BaseModel):
    """The loaded bundle's manifest: backbone, model, image size, thresholds, training fingerprint."""

    id: str
    kind: str
    created: str | None = None
    backbone: dict[str, Any] | None = None
    detector: dict[str, Any] | None = Field(None, description="Detector kind and parameters (detector bundles).")
    model: dict[str, Any] | None = Field(None, description="Classifier kind and configuration (classifier bundles).")
    router: dict[str, Any] | None = Field(None, description="Router parameters and limits (routed bundles).")
    categories: dict[str, Any] | None = Field(None, description="Each category's detector and threshold (routed bundles).")
    class_names: list[str] | None = None
    image_size: int | None = None
    thresholds: dict[str, Any] | None = None
    default_threshold: str | None = None
    threshold_history: list[dict[str, Any]] | None = Field(
        None, description="Thresholds set by hand (detector bundles): value, previous threshold, by whom, when."
    )
    score_stats: dict[str, float] | None = None
    training: dict[str, Any] | None = Field(None, description="Training data, fingerprint, seed and timings.")
    versions: dict[str, str] | None = None
    format_version: int | None = None


class Prediction(BaseModel):
    """The verdict for one image."""

    filename: str | None = Field(None, description="The uploaded file's name, when the client sent one.")
    decision: str = Field(description="Normal, Defective, or Unknown category (routed bundles).", examples=["Defective"])
    is_anomalous: bool
    score: float | None = Field(None, description="Anomaly score (detector bundles); higher is more anomalous.")
    threshold: float | None = Field(None, description="Decision threshold on the score (detector bundles).")
    normalized_score: float | None = Field(
        None, description="Score rescaled to [0, 1]: 0 at the normal mean, 0.5 at the threshold."
    )
    label: str | None = Field(None, description="Predicted class (classifier bundles).")
    confidence: float | None = Field(None, description="Probability of the predicted class (classifier bundles).")
    probabilities: dict[str, float] | None = Field(None, description="Probability of every class (classifier bundles).")
    category: str | None = Field(None, description="Product category, when the bundle routes by category.")
    warnings: list[str] = Field(default_factory=list, description="What made this answer less certain, if anything.")
    latency_ms: float = Field(description="Server time spent on this image: decoding, model and encoding.")
    heatmap_png: str | None = Field(None, description="Base64 PNG of the heatmap (asked with heatmap=true).")
    overlay_png: str | None = Field(None, description="Base64 PNG of the image blended with the heatmap.")


class BatchPrediction(BaseModel):
    """Verdicts for several images, in the order they were sent."""

    results: list[Prediction]
    latency_ms: float = Field(description="Server time spent on the whole batch.")


class ThresholdUpdate(BaseModel):
    """A new decision threshold for a detector bundle."""

    value: float = Field(gt=0, allow_inf_nan=False, description="Anomaly score from which an image is Defective.")


class ThresholdSet(BaseModel):
    """The threshold now in force (method ``manual``) and the one it replaced."""

    value: float
    method: str = Field(examples=["manual"])
    previous_value: float


class ErrorBody(BaseModel):
    """What went wrong; ``detail`` names the problem (and the file, when there is one)."""

    error: str = Field(examples=["bad_image"])
    detail: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Empty, truncated or non-image upload."},
    401: {"model": ErrorBody, "description": "Missing or wrong API key (when the service requires one)."},
    413: {"model": ErrorBody, "description": "Upload over the size limit, or an image over the pixel limit."},
    422: {"model": ErrorBody, "description": "The request does not have the expected form fields."},
}
"""Error responses documented on every prediction route."""

THRESHOLD_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The value is refused, or the bundle is not an anomaly detector."},
    401: ERROR_RESPONSES[401],
    403: {"model": ErrorBody, "description": "Threshold editing is off (start with --allow-threshold-edit)."},
    422: {"model": ErrorBody, "description": 'The body is not {"value": positive number}.'},
}
"""Error responses of ``POST /v1/model/threshold``."""

"""The UI's threshold panel: slider range, rates text, the plot, and which bundles get a panel."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from defectlab.bundle.detector_predictor import DetectorPredictor
from defectlab.bundle.io import load_bundle
from defectlab.calibration.rates import error_rates
from defectlab.calibration.scores import CalibrationScores
from defectlab.serve.limits import ServiceSettings
from defectlab.serve.threshold_panel import calibration_plot, rates_markdown, slider_range


@pytest.mark.parametrize(
    ("scores", "current"),
    [([0.56, 10.12], 0.7997), ([0.0012, 0.0034], 0.002), ([5.0, 5.0], 5.0), ([0.0, 0.01], 0.5), ([120.0, 4000.0], 300.0)],
)
def test_slider_spans_scores_and_threshold_in_round_positive_steps(scores: list[float], current: float) -> None:
    low, high, step = slider_range(np.array(scores), current)
    assert 0 < low <= max(min(scores), step) and high >= max(*scores, current) and low <= current <= high
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 9) in (1, 2, 5)
    assert (high - low) / step == pytest.approx(round((high - low) / step)) and (high - low) / step <= 500


def test_rates_text_counts_false_alarms_and_misses() -> None:
    text = rates_markdown(error_rates([0.1, 0.2, 0.3, 0.9], [0, 0, 1, 1], 0.2))
    assert "false alarms **1 of 2** normal images (50.0%)" in text and "misses **0 of 2** anomalous images (0.0%)" in text
    assert "Precision 0.667, recall 1.000, F1 0.800." in text
    alone = rates_markdown(error_rates([0.1, 0.2], [0, 0], 5.0))
    assert "**0 of 2** normal images (0.0%)" in alone and "misses unknown" in alone


@pytest.mark.parametrize("labels", [[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]])
def test_plot_is_an_image(labels: list[int]) -> None:
    image = calibration_plot(CalibrationScores.of([0.1, 0.2, 0.25, 0.8, 0.9], labels), 0.5)
    assert image.format == "PNG" and image.width > 300 and image.height > 150


def components(predictor: object) -> dict[str, dict]:
    """The UI's components by elem_id, and every Markdown's text under 'markdown'."""
    from defectlab.serve.ui import build_ui

    config = build_ui(predictor, ServiceSettings()).config
    props = [c.get("props", {}) for c in config["components"]]
    found = {p["elem_id"]: p for p in props if p.get("elem_id")}
    found["markdown"] = {"text": " ".join(str(p.get("value")) for p in props if isinstance(p.get("value"), str))}
    return found


def test_detector_bundles_get_the_slider_and_old_ones_a_note(fitted_bundle: Path, tmp_path: Path) -> None:
    predictor = DetectorPredictor(load_bundle(fitted_bundle), fitted_bundle)
    shown = components(predictor)
    assert {"threshold-slider", "rates", "calibration-plot"} <= set(shown)
    assert shown["threshold-slider"]["value"] == predictor.threshold.value
    assert "save-threshold" not in shown and "--allow-threshold-edit" in shown["markdown"]["text"]
    old = load_bundle(fitted_bundle)
    old.calibration = None
    shown = components(DetectorPredictor(old, fitted_bundle))
    assert "threshold-slider" not in shown and "keeps no calibration scores" in shown["markdown"]["text"]


@pytest.fixture(scope="module")
def fitted_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from defectlab.backbones.extractor import FeatureConfig
    from defectlab.bundle.io import save_bundle
    from defectlab.data.sample import Sample
    from defectlab.workflows.detection import FitOptions, fit_bundle

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(8)]
    train = [Sample(image=im, label=0, id=str(i)) for i, im in enumerate(images)]
    options = FitOptions(
        detector_params={"coreset_ratio": 0.5}, features=FeatureConfig(weights="random", image_size=32), holdout=0.25
    )
    bundle, _ = fit_bundle(train, [], options)
    return save_bundle(tmp_path_factory.mktemp("panel") / "b", bundle)

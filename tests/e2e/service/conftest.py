"""Session fixtures: a tiny detector bundle and an untrained classifier bundle (see _service_data)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _service_data import SIZE, fit_detector_bundle, striped, textured

from defectlab.backbones.extractor import FeatureConfig
from defectlab.bundle.classifier import save_classifier_bundle
from defectlab.classifiers.baselines import SmallCNN


@pytest.fixture(scope="session")
def detector_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("service") / "detector"
    config = FeatureConfig(weights="random", image_size=SIZE)
    train, held_out = [textured(seed) for seed in range(6)], [textured(seed) for seed in range(6, 14)]
    spots = [textured(seed, spot=True) for seed in range(14, 17)]
    return fit_detector_bundle(folder, config, train, held_out, {"dataset": "synthetic"}, spots)


@pytest.fixture(scope="session")
def classifier_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = SmallCNN(num_classes=3, image_size=SIZE, widths=(4, 8))
    return save_classifier_bundle(tmp_path_factory.mktemp("service") / "classifier", model, ("good", "crack", "spot"))


@pytest.fixture(scope="session")
def routed_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two products (textured, striped) behind a router; PatchCore for each."""
    from defectlab.data.sample import Sample
    from defectlab.pipelines.routed import save_routed_bundle
    from defectlab.workflows.detection import FitOptions
    from defectlab.workflows.routing import CategoryData, fit_routed_model

    def samples(make, name: str) -> list[Sample]:
        return [Sample(image=make(seed), label=0, id=f"{name}/{seed}", category=name) for seed in range(20)]

    parts = {"textured": CategoryData(samples(textured, "textured")), "striped": CategoryData(samples(striped, "striped"))}
    options = FitOptions(detector_params={"coreset_ratio": 0.2}, features=FeatureConfig(weights="random", image_size=SIZE))
    fitted = fit_routed_model(parts, options)
    return save_routed_bundle(tmp_path_factory.mktemp("service") / "routed", fitted.model, {"dataset": "synthetic"})

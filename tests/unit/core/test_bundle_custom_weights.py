"""Bundles trained on a backbone weights file record its path and load only where it exists."""

import numpy as np
import pytest
import timm
import torch

from defectlab.backbones.extractor import FeatureConfig
from defectlab.bundle.io import Bundle, load_bundle, save_bundle
from defectlab.calibration.thresholds import Threshold
from defectlab.detectors.model import AnomalyModel
from defectlab.detectors.padim import PaDiM
from defectlab.errors import ModelError


def test_resnet_weights_file_bundle_round_trip(tmp_path):
    torch.manual_seed(1)
    weights = tmp_path / "resnet18.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), weights)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(6)]
    model = AnomalyModel(PaDiM(n_features=16), FeatureConfig("resnet18", image_size=64, weights=str(weights))).fit(images)
    bundle = Bundle(model, {"mean_std": Threshold(1.0, "mean_std", {"k": 3.0})}, "mean_std")
    save_bundle(tmp_path / "b", bundle)
    loaded = load_bundle(tmp_path / "b")
    np.testing.assert_allclose(loaded.model.predict(images).scores, model.predict(images).scores, rtol=1e-5)
    weights.unlink()
    with pytest.raises(ModelError, match="resnet18.pth"):
        load_bundle(tmp_path / "b")

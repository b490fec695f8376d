"""`defectlab.bundle.load` on a small fitted bundle of every kind: one `predict` and one `describe`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from defectlab.backbones.extractor import FeatureConfig
from defectlab.bundle import load
from defectlab.bundle.classifier import ClassifierBundle, save_classifier_bundle
from defectlab.bundle.io import Bundle, save_bundle
from defectlab.bundle.manifest import FORMAT_SINCE, FORMAT_VERSION, KINDS, MANIFEST
from defectlab.calibration.thresholds import Threshold
from defectlab.classifiers.baselines import SmallCNN
from defectlab.classifiers.train import predict as classify_images
from defectlab.data.sample import Sample
from defectlab.detectors.model import AnomalyModel
from defectlab.detectors.patchcore import PatchCore
from defectlab.errors import ModelError
from defectlab.pipelines.cascade import NO_DEFECT, UNKNOWN_DEFECT, LocalizedStage2
from defectlab.pipelines.openset import OpenSetHead
from defectlab.pipelines.openset_bundle import OpenSetBundle, save_openset_bundle
from defectlab.pipelines.routed import save_routed_bundle
from defectlab.workflows.detection import FitOptions
from defectlab.workflows.routing import CategoryData, fit_routed_model

SIZE = 64
FEATURES = FeatureConfig(weights="random", image_size=SIZE)
CLASSES = ("crack", "spot")


def textured(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    image = 110 + 30 * np.sin(xx / 3.0) * np.cos(yy / 5.0)
    return np.clip(np.repeat(image[..., None], 3, axis=2) + rng.normal(0, 4, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)


def striped(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    image = 60 + 50 * (((xx + yy) // 6) % 2) + rng.normal(0, 4, (SIZE, SIZE))
    return np.clip(np.repeat(image[..., None], 3, axis=2), 0, 255).astype(np.uint8)


def detector_bundle() -> Bundle:
    model = AnomalyModel(PatchCore(coreset_ratio=0.5), FEATURES, sigma=2.0).fit([textured(s) for s in range(6)])
    scores = model.predict([textured(s) for s in range(6, 12)], with_maps=False).scores
    threshold = Threshold(float(scores.mean() + 3 * scores.std()), "mean_std", {"k": 3.0})
    return Bundle(model, {"mean_std": threshold}, "mean_std", {"dataset": "synthetic", "n_train": 6}, {"normal_mean": 0.0})


def fit_openset(path: Path) -> Path:
    """Stage 1, an untrained small CNN over two known classes and open-set heads fitted on its embeddings."""
    torch.manual_seed(0)
    classifier = SmallCNN(num_classes=len(CLASSES), image_size=SIZE, widths=(4, 8)).eval()
    images = [textured(s) for s in range(20, 32)] + [striped(s) for s in range(20, 32)]
    labels = np.array([0] * 12 + [1] * 12)
    _, embeddings = classify_images(classifier, images)
    embeddings = embeddings.astype(np.float64)
    with torch.inference_mode():
        logits = classifier.logits(torch.from_numpy(embeddings).float()).numpy()
    final = (classifier.final.weight.detach().numpy(), classifier.final.bias.detach().numpy())
    whole = OpenSetHead(CLASSES).fit(embeddings, labels, embeddings, logits, final)
    generator = torch.Generator().manual_seed(0)
    features, maps = torch.rand(24, 8, 4, 4, generator=generator), torch.rand(24, 4, 4, generator=generator)
    localized = LocalizedStage2(CLASSES).fit((features, maps), labels, (features, maps))
    bundle = OpenSetBundle(detector_bundle(), ClassifierBundle(classifier, CLASSES), whole, localized, {})
    return save_openset_bundle(path, bundle, {"dataset": "synthetic"})


def fit_routed(path: Path) -> Path:
    def samples(make, name: str) -> list[Sample]:
        return [Sample(image=make(seed), label=0, id=f"{name}/{seed}", category=name) for seed in range(20)]

    parts = {"textured": CategoryData(samples(textured, "textured")), "striped": CategoryData(samples(striped, "striped"))}
    options = FitOptions(detector_params={"coreset_ratio": 0.2}, features=FEATURES)
    return save_routed_bundle(path, fit_routed_model(parts, options).model, {"dataset": "synthetic"})


def fit_bundle(kind: str, path: Path) -> Path:
    if kind == "anomaly_detector":
        return save_bundle(path, detector_bundle())
    if kind == "classifier":
        model = SmallCNN(num_classes=3, image_size=SIZE, widths=(4, 8))
        return save_classifier_bundle(path, model, ("good", "crack", "spot"), {"history": [{}, {}]})
    if kind == "routed":
        return fit_routed(path)
    return fit_openset(path)


@pytest.fixture(scope="module", params=KINDS)
def bundle_path(request, tmp_path_factory) -> Path:
    return fit_bundle(request.param, tmp_path_factory.mktemp("bundles") / request.param)


@pytest.mark.usefixtures("one_torch_thread")
def test_load_predicts_and_describes_every_kind(bundle_path: Path) -> None:
    kind = bundle_path.name
    predictor = load(bundle_path)
    assert predictor.kind == kind and predictor.path == bundle_path and predictor.image_size == SIZE
    assert predictor.model_id.startswith(f"{kind}:")
    images = [textured(100), striped(100), textured(101)]
    plain, explained = predictor.predict(images), predictor.predict(images, explain=True)
    assert len(plain) == len(explained) == len(images)
    for p in plain:
        assert p.decision in ("Normal", "Defective", "Unknown category") and p.heatmap is None and p.overlay is None
        assert p.is_anomalous == (p.decision != "Normal")
        if p.score is not None:
            assert np.isfinite(p.score) and p.threshold > 0 and 0.0 <= p.normalized_score <= 1.0
        if p.probabilities is not None:
            assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
            assert p.confidence == pytest.approx(max(p.probabilities.values()))
    for p, q in zip(plain, explained, strict=True):
        assert (p.decision, p.score, p.label, p.category) == (q.decision, q.score, q.label, q.category)
        if q.category != "unknown":  # an image routed to no category has no map
            assert q.heatmap.shape == images[0].shape[:2] and 0.0 <= q.heatmap.min() <= q.heatmap.max() <= 1.0
            assert q.overlay.shape == images[0].shape and q.overlay.dtype == np.uint8
    described = predictor.describe()
    assert described["kind"] == kind and described["created"] and described["versions"]["defectlab"]
    json.dumps(described)  # JSON-serializable
    predictor.warm_up()


def test_each_kind_answers_with_its_fields(bundle_path: Path) -> None:
    predictor = load(bundle_path)
    prediction = predictor.predict([textured(5)])[0]
    described = predictor.describe()
    if predictor.kind == "anomaly_detector":
        assert prediction.score is not None and prediction.label is None and prediction.category is None
        assert described == {**json.loads((bundle_path / MANIFEST).read_text()), "runtime": "torch"}
    elif predictor.kind == "classifier":
        assert prediction.label in ("good", "crack", "spot") and prediction.score is None
        assert "history" not in described["training"] and described["training"]["epochs_run"] == 2
    elif predictor.kind == "routed":
        assert prediction.category in ("textured", "unknown")
        assert set(described["categories"]) == {"textured", "striped"} and described["router"]["limits"]
    else:
        assert prediction.label in (NO_DEFECT, UNKNOWN_DEFECT, *CLASSES) and prediction.score is not None
        assert set(prediction.probabilities) == set(CLASSES) and described["known"] == list(CLASSES)


@pytest.mark.parametrize("version", [0, None, "1"])
def test_an_old_or_unknown_format_version_is_refused_naming_the_file(bundle_path: Path, tmp_path: Path, version) -> None:
    folder = tmp_path / "old.bundle"
    folder.mkdir()
    manifest = json.loads((bundle_path / MANIFEST).read_text())
    manifest["format_version"] = version
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelError) as caught:
        load(folder)
    message = str(caught.value)
    assert "\n" not in message and str(folder) in message and f"refit with defectlab >= {FORMAT_SINCE}" in message
    assert f"version {version}" in message and f"reads version {FORMAT_VERSION}" in message


def test_a_newer_format_version_asks_to_upgrade(bundle_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "future.bundle"
    folder.mkdir()
    manifest = json.loads((bundle_path / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps({**manifest, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(ModelError, match=f"{folder}.*version {FORMAT_VERSION + 1}.*upgrade defectlab"):
        load(folder)


def test_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(json.dumps({"format_version": FORMAT_VERSION, "kind": "segmenter"}))
    with pytest.raises(ModelError, match="unknown bundle kind 'segmenter'"):
        load(tmp_path)

"""`defectlab fit-openset` and `evaluate-openset`: one split as a saved bundle, on any dataset.

The classes not named known are the unknown ones (they appear in the test part only); the split
is stored beside the bundle as ``<bundle>.split.json`` and reused by evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from defectlab.backbones.cache import FeatureCache
from defectlab.bundle.classifier import ClassifierBundle
from defectlab.bundle.io import Bundle
from defectlab.calibration.thresholds import Threshold
from defectlab.classifiers.maps import MapSource
from defectlab.classifiers.model import AttentionClassifier
from defectlab.data.sample import GOOD
from defectlab.detectors.model import AnomalyModel
from defectlab.errors import ConfigError, ModelError
from defectlab.pipelines.openset_bundle import OpenSetBundle, load_openset_bundle, save_openset_bundle
from defectlab.workflows.openset.config import ClassifierConfig, DataConfig, OpenSetConfig, Stage1Config
from defectlab.workflows.openset.data import apply_split, load_or_create_split, read_samples
from defectlab.workflows.openset.evaluate import evaluate_all, test_representations
from defectlab.workflows.openset.models import Backbones, feature_config, fit_models, views


def split_path(bundle_dir: Path) -> Path:
    """Where the split of an open-set bundle is stored."""
    return bundle_dir.with_name(f"{bundle_dir.name}.split.json")


def openset_config(data: DataConfig, known: Sequence[str], name: str, **options: Any) -> OpenSetConfig:
    """A split config whose unknown classes are every defect type of the data that is not known."""
    defects, _ = read_samples(OpenSetConfig(name=name, known=tuple(known), unknown=(), data=data))
    classes = sorted({s.defect_type for s in defects if s.defect_type != GOOD})
    missing = sorted(set(known) - set(classes))
    if missing:
        raise ConfigError(f"known classes {missing} are not in the data (it has {classes})")
    unknown = tuple(c for c in classes if c not in known)
    if not unknown:
        raise ConfigError(f"every class of the data is known ({classes}): leave at least one out to test open-set recognition")
    return OpenSetConfig(name=name, known=tuple(known), unknown=unknown, data=data, **options)


def fit_openset_bundle(config: OpenSetConfig, out: Path, cache: FeatureCache | None, log: Callable[[str], None]) -> OpenSetBundle:
    """Fit the split's models and save them as an open-set bundle at ``out``."""
    defects, normals = read_samples(config)
    split = load_or_create_split(split_path(out), defects, normals, config)
    data = apply_split(split, defects, normals)
    fitted, _, _ = fit_models(data, config, cache, log)
    threshold = Threshold(fitted.stage1_threshold, "quantile", {"accept": config.stage1.accept})
    stage1 = Bundle(
        model=AnomalyModel(fitted.detector, feature_config(config)),
        thresholds={"quantile": threshold},
        default_threshold="quantile",
        training={"dataset": config.data.format, "n_train": len(data.good_train)},
    )
    classifier = ClassifierBundle(fitted.classifier, data.known, {"history": fitted.history})
    bundle = OpenSetBundle(stage1, classifier, fitted.whole, fitted.localized, {})
    training = {
        "data": {
            "format": config.data.format,
            "root": str(config.data.root) if config.data.root else None,
            "category": config.data.category,
            "good_root": str(config.data.good_root) if config.data.good_root else None,
        },
        "unknown": list(config.unknown),
        "seed": config.seed,
        "train_fraction": config.train_fraction,
        "val_fraction": config.val_fraction,
        "image_size": config.image_size,
        "weights": config.weights,
        "classifier_image_size": config.classifier.image_size,
        "split": str(split_path(out)),
        "seconds": fitted.seconds,
    }
    save_openset_bundle(out, bundle, training)
    return bundle


def evaluate_openset_bundle(bundle_dir: Path, data: DataConfig | None, cache: FeatureCache | None) -> dict[str, Any]:
    """Every approach's and method's metrics on the test part of the bundle's stored split."""
    bundle = load_openset_bundle(bundle_dir)
    training = bundle.manifest.get("training") or {}
    if data is None:
        stored = training.get("data") or {}
        data = DataConfig(
            stored.get("format", "folder"),
            Path(stored["root"]) if stored.get("root") else None,
            stored.get("category"),
            Path(stored["good_root"]) if stored.get("good_root") else None,
        )
    config = OpenSetConfig(
        name=bundle_dir.name,
        known=bundle.known,
        unknown=tuple(training.get("unknown", ())),
        data=data,
        accept=bundle.whole.accept,
        image_size=training.get("image_size", 224),
        weights=training.get("weights", "default"),
        train_fraction=training.get("train_fraction", 0.6),
        val_fraction=training.get("val_fraction", 0.2),
        seed=training.get("seed", 42),
        stage1=Stage1Config(bundle.stage1.model.detector.kind),
        classifier=ClassifierConfig(image_size=training.get("classifier_image_size", 224)),
    )
    path = split_path(bundle_dir)
    if not path.is_file():
        raise ConfigError(f"split file {path} not found: evaluate an open-set bundle beside the split fit-openset wrote")
    defects, normals = read_samples(config)
    split = load_or_create_split(path, defects, normals, config)
    test = apply_split(split, defects, normals)
    classifier = bundle.classifier.model
    if not isinstance(classifier, AttentionClassifier):
        raise ModelError(f"{bundle_dir}: the open-set classifier must be an attention classifier")
    backbones = Backbones(config, cache)
    test_views = views(
        test.test + test.good_test, bundle.stage1.model.detector, classifier, backbones, MapSource(classifier, cache)
    )
    reps, tests = test_representations(test_views, bundle.whole, bundle.localized, test)
    results = evaluate_all(reps, tests, bundle.stage1.threshold.value)
    return {
        "known": list(bundle.known),
        "unknown": list(config.unknown),
        "n_test_defects": len(test.test),
        "n_test_normal": len(test.good_test),
        "results": results,
    }

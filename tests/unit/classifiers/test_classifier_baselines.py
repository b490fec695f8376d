"""Baselines (small CNN, plain fine-tuned backbone) share the classifier interface; the registry builds them."""

from __future__ import annotations

import pytest
import torch
from _classifier_data import IMAGE_SIZE

from defectlab.classifiers.baselines import FinetuneClassifier, SmallCNN
from defectlab.classifiers.registry import CLASSIFIERS, build_classifier, classifier_from_config
from defectlab.errors import ConfigError


@pytest.mark.parametrize(("kind", "embedding_dim"), [("smallcnn", 128), ("finetune", 432), ("attention", 512)])
def test_every_kind_shares_the_interface(kind, embedding_dim, train_set):
    model = build_classifier(kind, 3, image_size=IMAGE_SIZE, weights="random").eval()
    assert model.kind == kind and model.num_classes == 3 and isinstance(model, CLASSIFIERS[kind])
    batch = model.preprocess(train_set.images[:2])
    with torch.no_grad():
        logits = model(batch)
        embedding = model.embed(batch)
    assert logits.shape == (2, 3) and embedding.shape == (2, embedding_dim)
    torch.testing.assert_close(model.final(embedding), logits)


def test_finetune_is_backbone_pool_linear():
    model = FinetuneClassifier(4, image_size=IMAGE_SIZE, weights="random")
    assert isinstance(model.final, torch.nn.Linear) and model.final.in_features == 432
    feature_map = torch.randn(2, 432, 2, 2)
    model.fit_standardizer(feature_map * 2 + 1)
    standardized = (feature_map - model.standardize.mean.view(1, -1, 1, 1)) / model.standardize.std.view(1, -1, 1, 1)
    torch.testing.assert_close(model.forward_features_map(feature_map), model.final(standardized.mean(dim=(2, 3))))


def test_small_cnn_blocks_and_config():
    model = SmallCNN(2, image_size=IMAGE_SIZE, widths=(8, 16))
    kinds = [type(m).__name__ for m in model.body]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"] * 2
    assert model.config() == {"num_classes": 2, "image_size": IMAGE_SIZE, "widths": [8, 16]}
    assert classifier_from_config("smallcnn", model.config()).state_dict().keys() == model.state_dict().keys()
    with pytest.raises(ConfigError, match="widths"):
        SmallCNN(2, widths=())


def test_build_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    first = build_classifier("smallcnn", 2, image_size=IMAGE_SIZE, seed=3)
    second = build_classifier("smallcnn", 2, image_size=IMAGE_SIZE, seed=3)
    other = build_classifier("smallcnn", 2, image_size=IMAGE_SIZE, seed=4)
    torch.testing.assert_close(first.final.weight, second.final.weight)
    assert not torch.equal(first.final.weight, other.final.weight)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_registry_errors(tmp_path):
    with pytest.raises(ConfigError, match="attention, causal, finetune, smallcnn"):
        build_classifier("vit", 2)
    with pytest.raises(ConfigError, match="from scratch"):
        build_classifier("smallcnn", 2, weights=str(tmp_path / "w.pth"))
    with pytest.raises(ConfigError, match="invalid configuration"):
        classifier_from_config("smallcnn", {"num_classes": 2, "depth": 3})

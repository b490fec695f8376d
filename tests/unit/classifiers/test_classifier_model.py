"""AttentionClassifier: shapes, embed / forward_features_map agree with forward, frozen backbone."""

from __future__ import annotations

import pytest
import torch
from _classifier_data import IMAGE_SIZE

from defectlab.classifiers.model import EMBEDDING_DIM, AttentionClassifier
from defectlab.errors import ConfigError, ModelError


@pytest.fixture(scope="module")
def model() -> AttentionClassifier:
    torch.manual_seed(0)
    return AttentionClassifier(3, image_size=IMAGE_SIZE, weights="random").eval()


@pytest.fixture(scope="module")
def batch(model, train_set) -> torch.Tensor:
    return model.preprocess(train_set.images[:4])


def test_preprocess_normalizes_with_the_backbone_statistics(model, train_set, batch):
    assert batch.shape == (4, 3, IMAGE_SIZE, IMAGE_SIZE) and batch.dtype == torch.float32
    assert model.normalization() == {"mean": [0.5] * 3, "std": [0.5] * 3}  # EfficientNet-Lite0
    first = torch.from_numpy(train_set.images[0]).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(batch[0], (first - 0.5) / 0.5)


def test_forward_embed_and_cached_feature_path_agree(model, batch):
    with torch.no_grad():
        logits = model(batch)
        embedding = model.embed(batch)
        feature_map = model.features(batch)
        from_map = model.forward_features_map(feature_map)
    assert logits.shape == (4, 3)
    assert embedding.shape == (4, EMBEDDING_DIM) and bool((embedding >= 0).all())  # after the ReLU
    assert feature_map.shape == (4, model.backbone.channels, IMAGE_SIZE // 32, IMAGE_SIZE // 32)
    assert model.backbone.channels == 112 + 320 and model.backbone.layers == ("blocks.4", "blocks.6")
    torch.testing.assert_close(from_map, logits)
    torch.testing.assert_close(model.final(embedding), logits)
    assert model.attention.last_map is not None and model.attention.last_map.shape == (4, 1, 2, 2)


def test_head_layout():
    head = AttentionClassifier(2, image_size=IMAGE_SIZE, weights="random")
    dropout, linear, relu = head.hidden
    assert isinstance(dropout, torch.nn.Dropout) and dropout.p == 0.3
    assert (linear.in_features, linear.out_features) == (432, EMBEDDING_DIM) and isinstance(relu, torch.nn.ReLU)
    assert (head.final.in_features, head.final.out_features) == (EMBEDDING_DIM, 2)


def test_frozen_backbone_gets_no_gradients(batch):
    model = AttentionClassifier(2, image_size=IMAGE_SIZE, weights="random", freeze_backbone=True)
    model.train()
    model(batch).sum().backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.final.weight.grad is not None and model.attention.conv.weight.grad is not None
    model.set_backbone_frozen(False)
    model(batch).sum().backward()
    assert all(p.requires_grad for p in model.backbone.parameters())
    assert model.backbone.net.conv_stem.weight.grad is not None


def test_backbone_batch_norm_statistics_stay_fixed_in_training(batch):
    model = AttentionClassifier(2, image_size=IMAGE_SIZE, weights="random")
    model.train()
    assert model.hidden.training and not model.backbone.training
    before = {k: v.clone() for k, v in model.backbone.state_dict().items() if "running" in k}
    model(batch)
    assert all(torch.equal(model.backbone.state_dict()[k], v) for k, v in before.items())


def test_config_round_trip(model):
    config = model.config()
    assert config == {
        "num_classes": 3,
        "image_size": IMAGE_SIZE,
        "backbone": "efficientnet_lite0",
        "weights": "random",
        "freeze_backbone": False,
        "stages": 2,
    }
    rebuilt = AttentionClassifier.from_config(config)
    assert rebuilt.config() == config
    assert rebuilt.state_dict().keys() == model.state_dict().keys()


def test_bad_construction():
    with pytest.raises(ConfigError, match="at least 2 classes"):
        AttentionClassifier(1, image_size=IMAGE_SIZE, weights="random")
    with pytest.raises(ConfigError, match="at least 32"):
        AttentionClassifier(2, image_size=16, weights="random")
    with pytest.raises(ConfigError, match="unknown backbone"):
        AttentionClassifier(2, backbone="vgg", weights="random")
    with pytest.raises(ModelError, match="resnet50 needs a local weights file"):
        AttentionClassifier(2, backbone="resnet50")
    with pytest.raises(ConfigError, match="has 5 feature stages; cannot keep the last 6"):
        AttentionClassifier(2, image_size=IMAGE_SIZE, weights="random", stages=6)

"""FeatureExtractor: layer choice, 3x3 average pooling, upsampling, concatenation, preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from defectlab.backbones.extractor import FeatureConfig, FeatureExtractor, resize_batch
from defectlab.backbones.registry import create_backbone, get_spec
from defectlab.errors import ConfigError


def reference_pool(fmap: np.ndarray, size: int) -> np.ndarray:
    """Mean over the size x size window clipped to the map (count_include_pad=False), by loops."""
    c, h, w = fmap.shape
    r = size // 2
    out = np.empty_like(fmap, dtype=np.float64)
    for y in range(h):
        for x in range(w):
            out[:, y, x] = fmap[:, max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1].mean(axis=(1, 2))
    return out


def reference_features(config: FeatureConfig, images: list[np.ndarray]) -> np.ndarray:
    """Hook the named modules of a plain timm model and combine their outputs by hand."""
    model = create_backbone(config.backbone, config.weights)
    spec = get_spec(config.backbone)
    layers = sorted(config.resolved_layers(), key=lambda name: [m for m, _ in model.named_modules()].index(name))
    captured: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    hooks = [modules[name].register_forward_hook(lambda _m, _i, out, n=name: captured.__setitem__(n, out)) for name in layers]
    batch = []
    for img in images:
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
        x = F.interpolate(x, size=(config.image_size,) * 2, mode="bilinear", antialias=True, align_corners=False)
        mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (spec.mean, spec.std))
        batch.append((x / 255.0 - mean) / std)
    with torch.no_grad():
        model(torch.cat(batch))
    for h in hooks:
        h.remove()
    out = []
    for i in range(len(images)):
        maps = [reference_pool(captured[name][i].double().numpy(), config.pool_size) for name in layers]
        size = maps[0].shape[-2:]
        up = [
            m
            if m.shape[-2:] == size
            else F.interpolate(torch.from_numpy(m)[None], size=size, mode="bilinear", align_corners=False)[0].numpy()
            for m in maps
        ]
        out.append(np.concatenate(up, axis=0))
    return np.stack(out)


def test_features_match_hooked_layers_pooled_upsampled_concatenated(random_config, random_extractor, normal_images) -> None:
    images = normal_images[:3]
    got = random_extractor.extract(images)
    want = reference_features(random_config, images)
    assert got.dtype == torch.float32
    assert tuple(got.shape) == want.shape == (3, 40 + 112, 8, 8)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4)


def test_extractor_reports_channels_strides_and_size(random_extractor) -> None:
    assert random_extractor.channels == [40, 112]
    assert random_extractor.strides == [8, 16]
    assert random_extractor.num_channels == 152
    assert random_extractor.feature_size == 8


def test_layer_order_does_not_matter(random_extractor, normal_images) -> None:
    swapped = FeatureExtractor(FeatureConfig(layers=("blocks.4", "blocks.2"), weights="random", image_size=64))
    assert torch.allclose(swapped.extract(normal_images[:2]), random_extractor.extract(normal_images[:2]), atol=1e-6)


def test_single_layer_without_pooling_is_the_raw_layer_output(normal_images) -> None:
    config = FeatureConfig(layers=("blocks.2",), pool_size=1, weights="random", image_size=64)
    got = FeatureExtractor(config).extract(normal_images[:2])
    want = reference_features(config, normal_images[:2])
    assert got.shape == (2, 40, 8, 8)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4)


def test_resnet18_layers_are_found_and_combined(normal_images) -> None:
    config = FeatureConfig(backbone="resnet18", weights="random", image_size=64)
    extractor = FeatureExtractor(config)
    assert extractor.channels == [128, 256] and extractor.strides == [8, 16]
    got = extractor.extract(normal_images[:2])
    assert got.shape == (2, 384, 8, 8)
    np.testing.assert_allclose(got.numpy(), reference_features(config, normal_images[:2]), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", [64, 72, 100])
def test_feature_size_matches_output_and_empty_input(size: int, normal_images) -> None:
    extractor = FeatureExtractor(FeatureConfig(layers=("blocks.2",), weights="random", image_size=size))
    out = extractor.extract(normal_images[:1])
    assert out.shape == (1, 40, extractor.feature_size, extractor.feature_size)
    empty = extractor.extract([])
    assert empty.shape == (0, 40, extractor.feature_size, extractor.feature_size)


def test_batch_size_does_not_change_features(random_config, normal_images) -> None:
    one = FeatureExtractor(random_config, batch_size=1).extract(normal_images)
    many = FeatureExtractor(random_config, batch_size=16).extract(normal_images)
    batches = list(FeatureExtractor(random_config, batch_size=4).batches(normal_images))
    assert [len(b) for b in batches] == [4, 2]
    assert torch.allclose(one, many, atol=1e-5)
    assert torch.allclose(torch.cat(batches), many, atol=1e-5)


def test_resize_batch_resizes_and_keeps_the_0_255_range() -> None:
    white = np.full((64, 64, 3), 255, np.uint8)
    black_big = np.zeros((90, 130, 3), np.uint8)
    batch = resize_batch([white, black_big], 64)
    assert batch.shape == (2, 3, 64, 64) and batch.dtype == torch.float32
    assert torch.allclose(batch[0], torch.full((3, 64, 64), 255.0))
    assert torch.allclose(batch[1], torch.zeros(3, 64, 64))
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 0] = 255
    x = resize_batch([rgb], 64)[0]
    assert torch.allclose(x[0], torch.full((64, 64), 255.0)) and torch.allclose(x[1:], torch.zeros(2, 64, 64))


def test_embedding_normalizes_with_the_backbone_statistics(random_extractor) -> None:
    seen = []
    embedding = random_extractor.embedding
    handle = embedding.net.register_forward_pre_hook(lambda _module, args: seen.append(args[0]))
    try:
        embedding(resize_batch([np.full((64, 64, 3), 255, np.uint8), np.zeros((64, 64, 3), np.uint8)], 64))
    finally:
        handle.remove()
    assert torch.allclose(seen[0][0], torch.ones(3, 64, 64))  # (1 - 0.5) / 0.5
    assert torch.allclose(seen[0][1], -torch.ones(3, 64, 64))  # (0 - 0.5) / 0.5


def test_images_of_other_sizes_are_resized_first(random_extractor, normal_images) -> None:
    big = np.repeat(np.repeat(normal_images[0], 2, axis=0), 2, axis=1)  # 128 px
    resized = F.interpolate(torch.from_numpy(big).permute(2, 0, 1)[None].float(), size=(64, 64), mode="bilinear", antialias=True)
    as_uint8 = resized[0].permute(1, 2, 0).numpy()  # float image at 64 px: preprocess accepts any numeric array
    a = random_extractor.extract([big])
    b = random_extractor.extract([as_uint8])
    assert a.shape == (1, 152, 8, 8)
    assert torch.allclose(a, b, atol=1e-4)


def test_unknown_layer_is_config_error_listing_choices() -> None:
    with pytest.raises(ConfigError, match=r"layer4.*blocks\.2"):
        FeatureExtractor(FeatureConfig(layers=("blocks.2", "layer4"), weights="random", image_size=64))


def test_unknown_backbone_is_config_error() -> None:
    with pytest.raises(ConfigError):
        FeatureExtractor(FeatureConfig(backbone="nope", weights="random"))


def test_config_defaults_and_dict(tmp_path) -> None:
    config = FeatureConfig()
    assert config.resolved_layers() == ("blocks.2", "blocks.4")
    assert FeatureConfig(backbone="resnet18").resolved_layers() == ("layer2", "layer3")
    d = FeatureConfig(weights=str(tmp_path / "dir" / "w.pth")).to_dict()
    assert d == {
        "backbone": "efficientnet_lite0",
        "layers": ["blocks.2", "blocks.4"],
        "image_size": 224,
        "pool_size": 3,
        "weights": str((tmp_path / "dir" / "w.pth").resolve()),
    }

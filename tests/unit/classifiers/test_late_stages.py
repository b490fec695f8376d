"""LateStages (pooled, concatenated late backbone stages) and ChannelStandardizer, against direct references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _classifier_data import IMAGE_SIZE

from defectlab.backbones.registry import create_backbone
from defectlab.classifiers.backbone import ChannelStandardizer, LateStages
from defectlab.classifiers.model import AttentionClassifier
from defectlab.errors import DataError


def test_late_stages_equal_the_backbone_stages_pooled_and_concatenated():
    torch.manual_seed(0)
    stages = LateStages("efficientnet_lite0", "random", count=2).eval()
    reference = create_backbone("efficientnet_lite0", "random").eval()
    reference.load_state_dict({k.replace("blocks_", "blocks."): v for k, v in stages.net.state_dict().items()}, strict=False)
    images = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad():
        got = stages(images)
        x = reference.conv_stem(images)
        x = reference.bn1(x)
        outputs = {}
        for index, block in enumerate(reference.blocks):
            x = block(x)
            outputs[index] = x
    last = outputs[6]
    expected = torch.cat([F.avg_pool2d(outputs[4], 2), last], dim=1)
    assert got.shape == (2, 112 + 320, IMAGE_SIZE // 32, IMAGE_SIZE // 32)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert stages.layers == ("blocks.4", "blocks.6") and stages.reduction == 32


def test_one_stage_is_the_last_stage_alone():
    stages = LateStages("efficientnet_lite0", "random", count=1)
    assert stages.layers == ("blocks.6",) and stages.channels == 320


def test_standardizer_matches_per_channel_mean_and_std():
    generator = torch.Generator().manual_seed(0)
    maps = torch.randn(6, 3, 4, 5, generator=generator) * torch.tensor([1.0, 10.0, 0.1]).view(1, 3, 1, 1) + 7
    standardizer = ChannelStandardizer(3)
    torch.testing.assert_close(standardizer(maps), maps)  # identity before fitting
    standardizer.fit(maps)
    flat = maps.permute(1, 0, 2, 3).reshape(3, -1)
    expected = (maps - flat.mean(1).view(1, 3, 1, 1)) / flat.std(1).view(1, 3, 1, 1)
    torch.testing.assert_close(standardizer(maps), expected)
    out = standardizer(maps).permute(1, 0, 2, 3).reshape(3, -1)
    torch.testing.assert_close(out.mean(1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(1), torch.ones(3))


def test_standardizer_survives_a_constant_channel_and_refuses_wrong_shapes():
    maps = torch.zeros(4, 2, 3, 3)
    maps[:, 1] = torch.arange(4.0).view(4, 1, 1)
    standardizer = ChannelStandardizer(2).fit(maps)
    assert torch.isfinite(standardizer(maps)).all() and not standardizer(maps)[:, 0].any()
    with pytest.raises(DataError, match=r"expected \(N, 2, h, w\) training maps"):
        standardizer.fit(torch.zeros(4, 3, 2, 2))
    with pytest.raises(DataError, match="training maps"):
        standardizer.fit(torch.zeros(0, 2, 2, 2))


def test_the_classifier_saves_its_map_statistics():
    model = AttentionClassifier(2, image_size=IMAGE_SIZE, weights="random")
    model.fit_standardizer(torch.randn(5, model.backbone.channels, 2, 2) * 3 + 1)
    state = model.state_dict()
    assert {"standardize.mean", "standardize.std"} <= set(state)
    rebuilt = AttentionClassifier.from_config(model.config())
    rebuilt.load_state_dict(state)
    torch.testing.assert_close(rebuilt.standardize.std, model.standardize.std)

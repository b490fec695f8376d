"""CBAM spatial attention: shapes, a map in (0, 1) multiplied into the features."""

from __future__ import annotations

import pytest
import torch

from defectlab.classifiers.attention import SpatialAttention
from defectlab.errors import ConfigError


def test_output_is_features_times_a_map_in_unit_interval():
    torch.manual_seed(0)
    attention = SpatialAttention()
    features = torch.randn(2, 16, 5, 7)
    out = attention(features)
    weights = attention.last_map
    assert out.shape == features.shape
    assert weights is not None and weights.shape == (2, 1, 5, 7)
    assert bool((weights > 0).all() and (weights < 1).all())
    torch.testing.assert_close(out, features * weights)


def test_map_is_sigmoid_of_7x7_conv_over_mean_and_max():
    torch.manual_seed(1)
    attention = SpatialAttention(kernel_size=7)
    assert attention.conv.in_channels == 2 and attention.conv.out_channels == 1
    assert attention.conv.kernel_size == (7, 7) and attention.conv.padding == (3, 3)
    features = torch.randn(1, 8, 9, 9)
    pooled = torch.cat([features.mean(1, keepdim=True), features.max(1, keepdim=True).values], dim=1)
    expected = torch.sigmoid(torch.nn.functional.conv2d(pooled, attention.conv.weight, padding=3))
    torch.testing.assert_close(attention.attention_map(features), expected)


def test_gradients_reach_the_convolution_and_the_map_is_detached():
    attention = SpatialAttention()
    features = torch.randn(2, 4, 6, 6, requires_grad=True)
    attention(features).sum().backward()
    assert attention.conv.weight.grad is not None and torch.isfinite(attention.conv.weight.grad).all()
    assert attention.last_map is not None and not attention.last_map.requires_grad


@pytest.mark.parametrize("kernel_size", [0, 4])
def test_kernel_size_must_be_positive_and_odd(kernel_size):
    with pytest.raises(ConfigError, match="odd"):
        SpatialAttention(kernel_size)

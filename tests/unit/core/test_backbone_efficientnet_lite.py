"""Renaming efficientnet_pytorch keys of EfficientNet-Lite0 to timm's tf_efficientnet_lite0 keys."""

from __future__ import annotations

import pytest
import timm

from defectlab.backbones.efficientnet_lite import STAGE_REPEATS, convert_key, convert_state_dict
from defectlab.errors import ModelError


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("_conv_stem.weight", "conv_stem.weight"),
        ("_bn0.running_var", "bn1.running_var"),
        ("_conv_head.weight", "conv_head.weight"),
        ("_bn1.bias", "bn2.bias"),
        ("_fc.weight", "classifier.weight"),
        ("_blocks.0._depthwise_conv.weight", "blocks.0.0.conv_dw.weight"),
        ("_blocks.0._bn1.weight", "blocks.0.0.bn1.weight"),
        ("_blocks.0._project_conv.weight", "blocks.0.0.conv_pw.weight"),
        ("_blocks.0._bn2.running_mean", "blocks.0.0.bn2.running_mean"),
        ("_blocks.1._expand_conv.weight", "blocks.1.0.conv_pw.weight"),
        ("_blocks.2._bn0.bias", "blocks.1.1.bn1.bias"),
        ("_blocks.3._depthwise_conv.weight", "blocks.2.0.conv_dw.weight"),
        ("_blocks.5._bn1.weight", "blocks.3.0.bn2.weight"),
        ("_blocks.8._project_conv.weight", "blocks.4.0.conv_pwl.weight"),
        ("_blocks.10._bn2.num_batches_tracked", "blocks.4.2.bn3.num_batches_tracked"),
        ("_blocks.11._expand_conv.weight", "blocks.5.0.conv_pw.weight"),
        ("_blocks.14._bn2.weight", "blocks.5.3.bn3.weight"),
        ("_blocks.15._project_conv.weight", "blocks.6.0.conv_pwl.weight"),
    ],
)
def test_convert_key_follows_the_design_table(source: str, expected: str) -> None:
    assert convert_key(source) == expected


def test_stage_repeats_sum_to_16_blocks() -> None:
    assert tuple(STAGE_REPEATS) == (1, 2, 2, 3, 3, 4, 1)


def test_conversion_covers_exactly_the_timm_model_keys(to_efficientnet_pytorch) -> None:
    """A full efficientnet_pytorch-named state dict converts to exactly timm's key set, tensors untouched."""
    timm_state = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    source = {to_efficientnet_pytorch(k): v for k, v in timm_state.items()}
    assert len(source) == len(timm_state)  # the inverse is one-to-one
    converted = convert_state_dict(source)
    assert set(converted) == set(timm_state)
    for key, value in converted.items():
        assert value is source[to_efficientnet_pytorch(key)]


@pytest.mark.parametrize(
    "bad",
    ["_blocks.16._bn0.weight", "_blocks.0._expand_conv.weight", "_blocks.3._se_reduce.weight", "_head.weight", "fc.weight"],
)
def test_unexpected_keys_are_model_errors(bad: str) -> None:
    with pytest.raises(ModelError):
        convert_key(bad)

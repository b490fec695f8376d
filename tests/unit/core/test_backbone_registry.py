"""Backbone registry: names, specs, weights handling and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from defectlab.backbones.registry import create_backbone, get_spec, list_backbones
from defectlab.errors import ConfigError, ModelError


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_list_backbones_is_sorted_and_complete() -> None:
    names = list_backbones()
    assert names == sorted(names)
    assert {"efficientnet_lite0", "resnet18", "resnet50", "wide_resnet50_2"} <= set(names)


def test_get_spec_of_efficientnet_lite0() -> None:
    spec = get_spec("efficientnet_lite0")
    assert spec.timm_name == "tf_efficientnet_lite0"
    assert spec.mean == (0.5, 0.5, 0.5) and spec.std == (0.5, 0.5, 0.5)
    assert spec.default_layers == ("blocks.2", "blocks.4")
    assert spec.bundled_weights is not None


def test_unknown_backbone_is_config_error_listing_choices() -> None:
    with pytest.raises(ConfigError, match="resnet18"):
        get_spec("vgg16")
    with pytest.raises(ConfigError):
        create_backbone("vgg16", "random")


def test_random_weights_give_an_eval_model_with_a_fixed_init() -> None:
    a = create_backbone("efficientnet_lite0", "random")
    torch.manual_seed(123)  # global RNG state must not matter
    b = create_backbone("efficientnet_lite0", "random")
    assert not a.training and not b.training
    assert _same_state(a, b)


def test_resnet_without_weights_file_names_what_to_provide() -> None:
    with pytest.raises(ModelError, match=r"resnet18.*weights"):
        create_backbone("resnet18")
    with pytest.raises(ModelError, match="resnet18"):
        create_backbone("resnet18", None)


def test_missing_weights_file_is_model_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(ModelError, match="nope.pth"):
        create_backbone("resnet18", missing)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_file_round_trip(tmp_path: Path, suffix: str) -> None:
    source = create_backbone("efficientnet_lite0", "random")
    with torch.no_grad():
        for p in source.parameters():
            p.add_(torch.randn_like(p))  # differs from the fixed random init
    path = tmp_path / f"lite0{suffix}"
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    if suffix == ".pth":
        torch.save({"state_dict": state}, path)  # the common {"state_dict": ...} wrapper is unwrapped
    else:
        save_file(state, str(path))
    loaded = create_backbone("efficientnet_lite0", path)
    assert _same_state(source, loaded)
    assert not loaded.training


def test_efficientnet_pytorch_named_file_is_converted(tmp_path: Path, to_efficientnet_pytorch) -> None:
    target = create_backbone("efficientnet_lite0", "random")
    with torch.no_grad():
        for p in target.parameters():
            p.mul_(2.0)
    legacy = {to_efficientnet_pytorch(k): v for k, v in target.state_dict().items()}
    path = tmp_path / "lite0.pth"
    torch.save(legacy, path)
    assert _same_state(target, create_backbone("efficientnet_lite0", path))


def test_mismatched_weights_are_model_error(tmp_path: Path) -> None:
    r18 = tmp_path / "r18.pth"
    torch.save(create_backbone("resnet18", "random").state_dict(), r18)
    with pytest.raises(ModelError, match="efficientnet_lite0"):
        create_backbone("efficientnet_lite0", r18)
    lite0 = tmp_path / "lite0.pth"
    torch.save(create_backbone("efficientnet_lite0", "random").state_dict(), lite0)
    with pytest.raises(ModelError, match="resnet18"):
        create_backbone("resnet18", lite0)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_corrupt_weights_file_is_model_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"corrupt{suffix}"
    path.write_bytes(b"this is not a weights file" * 20)
    with pytest.raises(ModelError, match=f"corrupt{suffix}"):
        create_backbone("resnet18", path)

"""Registry of backbones by name: timm architecture, normalization, default layers, weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import timm
import torch
from torch import nn

from defectlab.backbones.efficientnet_lite import STAGE_REPEATS, convert_state_dict, load_efficientnet_lite_state
from defectlab.errors import ConfigError, ModelError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one named backbone."""

    name: str
    timm_name: str
    default_layers: tuple[str, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    bundled_weights: Callable[[], dict[str, torch.Tensor]] | None = None
    weights_hint: str = ""


_REGISTRY: dict[str, BackboneSpec] = {}


def register(spec: BackboneSpec) -> None:
    """Add a backbone to the registry."""
    _REGISTRY[spec.name] = spec


def list_backbones() -> list[str]:
    """Names of all registered backbones."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> BackboneSpec:
    """Look a backbone up by name; unknown names are a ConfigError listing the valid ones."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(list_backbones())}")
    return _REGISTRY[name]


def _torchvision_hint(name: str) -> str:
    return (
        f"{name} needs a local weights file: pass --weights PATH pointing to torchvision's ImageNet "
        f"state dict for {name} (e.g. {name}-<hash>.pth), or weights='random' for untrained features"
    )


for _variant in STAGE_REPEATS:
    register(
        BackboneSpec(
            f"efficientnet_{_variant}",
            f"tf_efficientnet_{_variant}",
            ("blocks.2", "blocks.4"),
            (0.5, 0.5, 0.5),
            (0.5, 0.5, 0.5),
            bundled_weights=partial(load_efficientnet_lite_state, _variant),
        )
    )
for _name, _timm in (("resnet18", "resnet18"), ("resnet50", "resnet50"), ("wide_resnet50_2", "wide_resnet50_2")):
    register(BackboneSpec(_name, _timm, ("layer2", "layer3"), IMAGENET_MEAN, IMAGENET_STD, weights_hint=_torchvision_hint(_name)))


def _read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types for a corrupt file
            raise ModelError(f"cannot read weights file {path}: {exc}") from exc
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for a bad file
        raise ModelError(f"cannot read weights file {path}: {exc}") from exc
    return state.get("state_dict", state) if isinstance(state, dict) else state


def create_backbone(name: str, weights: str | Path | None = "default") -> nn.Module:
    """Build backbone `name` with weights loaded strictly.

    weights: "default" (the bundled weights, or an error saying which file to provide),
    "random" (untrained, for tests), or a path to a state-dict file.
    """
    spec = get_spec(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # "random" must be one fixed init: the feature cache and bundles key on the name
        model = timm.create_model(spec.timm_name, pretrained=False)
    if weights == "random":
        return model.eval()
    if weights in (None, "default"):
        if spec.bundled_weights is None:
            raise ModelError(spec.weights_hint)
        state = spec.bundled_weights()
    else:
        state = _read_weights_file(Path(weights))
        variant = spec.name.removeprefix("efficientnet_")
        if variant in STAGE_REPEATS and any(k.startswith("_blocks.") for k in state):
            state = convert_state_dict(state, variant)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"weights do not match backbone {name}: {first}") from exc
    return model.eval()

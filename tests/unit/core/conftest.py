"""Shared small inputs for the core (backbones, components, detectors, bundle) unit tests."""

from __future__ import annotations

import numpy as np
import pytest

from defectlab.backbones.extractor import FeatureConfig, FeatureExtractor

IMAGE_SIZE = 64


def make_images(n: int, size: int = IMAGE_SIZE, seed: int = 0) -> list[np.ndarray]:
    """n uint8 RGB images: a smooth gray texture plus mild noise (all alike, i.e. "normal")."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = 110 + 30 * np.sin(xx / 3.0) * np.cos(yy / 5.0)
    images = []
    for _ in range(n):
        img = base[..., None] + rng.normal(0, 4, (size, size, 3))
        images.append(np.clip(img, 0, 255).astype(np.uint8))
    return images


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def random_config() -> FeatureConfig:
    """EfficientNet-Lite0 with untrained (but fixed) weights at 64 px: fast, no weight file."""
    return FeatureConfig(weights="random", image_size=IMAGE_SIZE)


@pytest.fixture(scope="session")
def random_extractor(random_config: FeatureConfig) -> FeatureExtractor:
    return FeatureExtractor(random_config, batch_size=4)


@pytest.fixture(scope="session")
def normal_images() -> list[np.ndarray]:
    return make_images(6, seed=0)


@pytest.fixture(scope="session")
def image_factory():
    """The `make_images` helper, for tests that need their own images."""
    return make_images


# The efficientnet_pytorch -> timm renaming table, written out independently of the module's own tables.
FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
OTHER_BLOCKS = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


LITE0_REPEATS = (1, 2, 2, 3, 3, 4, 1)


def _flat_to_stage(repeats: tuple[int, ...]) -> list[tuple[int, int]]:
    out = []
    for stage, count in enumerate(repeats):
        out.extend((stage, j) for j in range(count))
    return out


def _to_efficientnet_pytorch(timm_key: str, repeats: tuple[int, ...] = LITE0_REPEATS) -> str:
    """Inverse renaming timm -> efficientnet_pytorch (the test's reference); `repeats`: blocks per stage."""
    parts = timm_key.split(".")
    if parts[0] == "blocks":
        stage, j, module, param = int(parts[1]), int(parts[2]), parts[3], parts[4]
        flat = _flat_to_stage(repeats).index((stage, j))
        table = FIRST_BLOCK if flat == 0 else OTHER_BLOCKS
        inverse = {v: k for k, v in table.items()}
        return f"_blocks.{flat}.{inverse[module]}.{param}"
    inverse_top = {v: k for k, v in TOP.items()}
    return f"{inverse_top[parts[0]]}.{'.'.join(parts[1:])}"


@pytest.fixture(scope="session")
def to_efficientnet_pytorch():
    """Reference inverse renaming timm -> efficientnet_pytorch, from the renaming table above."""
    return _to_efficientnet_pytorch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    """Every test module here runs with one torch thread (see tests/conftest.py)."""
    yield

"""FeatureCache: features are computed once per (config, image content) and read back unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from defectlab.backbones.cache import FeatureCache, default_cache_dir, image_digest
from defectlab.backbones.extractor import FeatureConfig, FeatureExtractor


@pytest.fixture
def counting(random_extractor, monkeypatch):
    """Wrap extractor.extract to record how many images it was asked for, call by call."""
    calls: list[int] = []
    original = random_extractor.extract

    def wrapped(images, progress=False):
        calls.append(len(images))
        return original(images, progress=progress)

    monkeypatch.setattr(random_extractor, "extract", wrapped)
    return calls


def test_second_extraction_is_read_from_disk(tmp_path: Path, random_extractor, normal_images, counting) -> None:
    direct = random_extractor.extract(normal_images[:4])
    counting.clear()
    cache = FeatureCache(tmp_path)
    first = cache.extract(random_extractor, normal_images[:4])
    assert counting == [4]
    second = cache.extract(random_extractor, normal_images[:4])
    assert counting == [4]  # not called again
    assert torch.equal(first, second)
    assert torch.equal(first, direct)
    assert len(list(tmp_path.rglob("*.npy"))) == 4
    assert not list(tmp_path.rglob("*.tmp"))


def test_only_missing_images_are_computed_and_order_is_kept(tmp_path: Path, random_extractor, normal_images, counting) -> None:
    cache = FeatureCache(tmp_path)
    cache.extract(random_extractor, normal_images[:2])
    counting.clear()
    order = [normal_images[3], normal_images[0], normal_images[2], normal_images[1]]
    out = cache.extract(random_extractor, order)
    assert counting == [2]  # images 3 and 2 only
    counting.clear()
    assert torch.allclose(out, random_extractor.extract(order), atol=1e-6)


def test_fresh_cache_object_on_same_folder_hits(tmp_path: Path, random_extractor, normal_images, counting) -> None:
    a = FeatureCache(tmp_path).extract(random_extractor, normal_images[:2])
    b = FeatureCache(tmp_path).extract(random_extractor, normal_images[:2])
    assert counting == [2]
    assert torch.equal(a, b)


def test_other_config_gets_its_own_folder(tmp_path: Path, random_extractor, normal_images) -> None:
    cache = FeatureCache(tmp_path)
    other = FeatureExtractor(FeatureConfig(layers=("blocks.2",), weights="random", image_size=64))
    a = cache.extract(random_extractor, normal_images[:1])
    b = cache.extract(other, normal_images[:1])
    assert a.shape == (1, 152, 8, 8) and b.shape == (1, 40, 8, 8)
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_empty_input(tmp_path: Path, random_extractor) -> None:
    out = FeatureCache(tmp_path).extract(random_extractor, [])
    assert out.shape == (0, 152, 8, 8)


def test_image_digest_depends_on_content_and_shape() -> None:
    a = np.zeros((4, 6, 3), np.uint8)
    assert image_digest(a) == image_digest(a.copy())
    assert image_digest(a) != image_digest(a.reshape(6, 4, 3))
    b = a.copy()
    b[0, 0, 0] = 1
    assert image_digest(a) != image_digest(b)
    assert image_digest(a[:, ::2]) == image_digest(np.ascontiguousarray(a[:, ::2]))


def test_default_cache_dir_honours_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEFECTLAB_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("DEFECTLAB_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "defectlab" / "features"


def test_a_stacked_image_array_works_like_a_list(tmp_path: Path, random_extractor, normal_images) -> None:
    stacked = np.stack(normal_images[:3])
    out = FeatureCache(tmp_path).extract(random_extractor, stacked)
    assert torch.equal(out, FeatureCache(tmp_path).extract(random_extractor, list(stacked)))
    assert torch.allclose(out, random_extractor.extract(stacked), atol=1e-6)

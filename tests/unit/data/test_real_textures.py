"""Real-texture anomaly datasets: exact masks, determinism, MVTec layout, bad names."""

import numpy as np
import pytest

from defectlab.data.mvtec import read_mvtec
from defectlab.data.real_textures import DEFECTS, GENERATORS, add_texture_defect, make_texture_dataset
from defectlab.errors import ConfigError


@pytest.mark.parametrize("kind", DEFECTS)
def test_mask_is_exactly_the_changed_pixels(kind):
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (200, 200), dtype=np.uint8)
    other = rng.integers(0, 256, (200, 200), dtype=np.uint8)
    normal = photo[:64, :64].copy()
    image, mask = add_texture_defect(normal, kind, photo, other, rng)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(mask.astype(bool), (image != normal[..., None]).any(axis=2))
    assert 0.003 < mask.mean() < 0.1


@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_dataset_layout_and_determinism(tmp_path, tree_digest, generator):
    for name in ("a", "b"):
        make_texture_dataset(
            tmp_path / name, "grass", n_train=4, n_test_good=2, n_per_defect=2, size=64, seed=1, generator=generator
        )
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    samples = read_mvtec(tmp_path / "a", "grass")
    assert sum(s.metadata["subset"] == "train" for s in samples) == 4
    defects = [s for s in samples if s.label == 1]
    assert len(defects) == 2 * len(GENERATORS[generator])
    assert {s.defect_type for s in defects} == set(GENERATORS[generator])
    assert all(s.mask is not None and s.mask.any() for s in defects)


def test_the_generators_share_no_defect_kind():
    assert len(DEFECTS) == len(set(DEFECTS)) == sum(len(kinds) for kinds in GENERATORS.values())


def test_unknown_texture_and_defect(tmp_path):
    with pytest.raises(ConfigError, match="unknown texture"):
        make_texture_dataset(tmp_path, "marble")
    with pytest.raises(ConfigError, match="unknown defect generator"):
        make_texture_dataset(tmp_path, "grass", generator="dents")
    with pytest.raises(ConfigError, match="unknown texture defect"):
        add_texture_defect(
            np.zeros((64, 64), np.uint8),
            "dent",
            np.zeros((99, 99), np.uint8),
            np.zeros((99, 99), np.uint8),
            np.random.default_rng(0),
        )

"""Real-texture anomaly datasets: exact masks, determinism, MVTec layout, bad names."""

import numpy as np
import pytest

from defectlab.data.mvtec import read_mvtec
from defectlab.data.real_textures import DEFECTS, add_texture_defect, make_texture_dataset
from defectlab.errors import ConfigError


@pytest.mark.parametrize("kind", DEFECTS)
def test_mask_is_exactly_the_changed_pixels(kind):
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (200, 200), dtype=np.uint8)
    other = rng.integers(0, 256, (200, 200), dtype=np.uint8)
    normal = photo[:64, :64].copy()
    image, mask = add_texture_defect(normal, kind, photo, other, rng)
    np.testing.assert_array_equal(mask.astype(bool), image != normal)
    assert 0.005 < mask.mean() < 0.1


def test_dataset_layout_and_determinism(tmp_path, tree_digest):
    make_texture_dataset(tmp_path / "a", "grass", n_train=4, n_test_good=2, n_per_defect=2, size=64, seed=1)
    make_texture_dataset(tmp_path / "b", "grass", n_train=4, n_test_good=2, n_per_defect=2, size=64, seed=1)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    samples = read_mvtec(tmp_path / "a", "grass")
    assert sum(s.metadata["subset"] == "train" for s in samples) == 4
    defects = [s for s in samples if s.label == 1]
    assert len(defects) == 2 * len(DEFECTS)
    assert all(s.mask is not None and s.mask.any() for s in defects)


def test_unknown_texture_and_defect(tmp_path):
    with pytest.raises(ConfigError, match="unknown texture"):
        make_texture_dataset(tmp_path, "marble")
    with pytest.raises(ConfigError, match="unknown texture defect"):
        add_texture_defect(
            np.zeros((64, 64), np.uint8),
            "dent",
            np.zeros((99, 99), np.uint8),
            np.zeros((99, 99), np.uint8),
            np.random.default_rng(0),
        )

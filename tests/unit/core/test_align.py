"""Align, then inspect: known rotations and shifts of a synthetic part are recovered; failures are flagged."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from defectlab.components.align import Aligner
from defectlab.errors import ConfigError, DataError, NotFittedError

SIZE = 160


def _part(rng: np.random.Generator) -> np.ndarray:
    """An asymmetric bracket with two holes on a dark background, lit a little differently each time."""
    image = np.full((SIZE, SIZE), 30, np.uint8)
    level = int(rng.integers(170, 200))
    cv2.rectangle(image, (40, 30), (75, 130), level, -1)
    cv2.rectangle(image, (40, 100), (125, 130), level, -1)
    cv2.circle(image, (57, 50), 8, 30, -1)
    cv2.circle(image, (105, 115), 6, 30, -1)
    noisy = image.astype(np.int16) + rng.normal(0, 4, image.shape).round().astype(np.int16)
    return np.repeat(np.clip(noisy, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _moved(image: np.ndarray, angle: float, tx: float, ty: float) -> tuple[np.ndarray, np.ndarray]:
    matrix = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), angle, 1.0)
    matrix[:, 2] += (tx, ty)
    return cv2.warpAffine(image, matrix, (SIZE, SIZE), borderMode=cv2.BORDER_REPLICATE), matrix


@pytest.fixture(scope="module")
def aligner() -> Aligner:
    rng = np.random.default_rng(0)
    return Aligner().fit([_part(rng) for _ in range(8)])


@pytest.mark.parametrize(("angle", "tx", "ty"), [(0.0, 0.0, 0.0), (4.0, 3.0, -5.0), (-7.5, -6.0, 2.5), (9.0, 8.0, 6.0)])
def test_known_rotation_and_shift_are_recovered(aligner: Aligner, angle: float, tx: float, ty: float) -> None:
    moved, truth = _moved(_part(np.random.default_rng(11)), angle, tx, ty)
    alignment = aligner.estimate(moved)
    assert alignment.aligned
    assert abs(alignment.angle - np.degrees(np.arctan2(truth[1, 0], truth[0, 0]))) < 0.5
    found = alignment.matrix_at(SIZE, SIZE, aligner.working_size)
    for point in ((SIZE / 2, SIZE / 2), (40.0, 30.0), (125.0, 130.0)):  # where template points land in the image
        p = np.array([*point, 1.0])
        assert np.linalg.norm(found @ p - truth @ p) < 1.0


def test_aligned_image_and_map_round_trip(aligner: Aligner) -> None:
    original = _part(np.random.default_rng(12))
    moved, _ = _moved(original, 6.0, 5.0, -4.0)
    aligned, alignment = aligner.align(moved)
    inner = (slice(20, SIZE - 20), slice(20, SIZE - 20))
    before = np.abs(moved.astype(int) - original.astype(int))[inner].mean()
    after = np.abs(aligned.astype(int) - original.astype(int))[inner].mean()
    assert after < before / 3
    spot = np.zeros((SIZE, SIZE), np.float32)
    spot[60:70, 50:60] = 1.0  # a hot spot found on the aligned image ...
    back = aligner.to_image_frame(spot, alignment)
    matrix = alignment.matrix_at(SIZE, SIZE, aligner.working_size)
    y, x = np.argwhere(back > 0.5).mean(axis=0)
    expected = matrix @ np.array([54.5, 64.5, 1.0])  # ... lands where that template point sits in the image
    assert np.hypot(x - expected[0], y - expected[1]) < 1.0


def test_an_image_that_cannot_be_aligned_is_flagged_not_fatal(aligner: Aligner) -> None:
    noise = np.random.default_rng(3).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    aligned, alignment = aligner.align(noise)
    assert not alignment.aligned
    np.testing.assert_array_equal(alignment.matrix, np.eye(2, 3))
    np.testing.assert_array_equal(aligned, noise)


def test_bad_input() -> None:
    with pytest.raises(DataError, match="at least one"):
        Aligner().fit([])
    with pytest.raises(NotFittedError):
        Aligner().estimate(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(ConfigError, match="motion"):
        Aligner(motion="projective")
    with pytest.raises(DataError, match="uint8"):
        Aligner().fit([np.zeros((32, 32), np.float32)])


def test_an_aligned_model_scores_in_the_template_frame_and_maps_in_the_images(random_config) -> None:
    from dataclasses import replace

    from defectlab.detectors.model import AnomalyModel
    from defectlab.detectors.patchcore import PatchCore

    rng = np.random.default_rng(5)
    features = replace(random_config, image_size=SIZE)
    plain = AnomalyModel(PatchCore(coreset_ratio=0.2), features)
    aligned = AnomalyModel(PatchCore(coreset_ratio=0.2), features, aligner=Aligner())
    train = [_part(rng) for _ in range(6)]
    plain.fit(train)
    aligned.fit(train)
    good = _part(rng)
    defect = good.copy()
    defect[112:120, 95:103] = 255  # a bright chip on the bracket's foot
    moved_good, _ = _moved(good, 8.0, 6.0, -5.0)
    moved_defect, _ = _moved(defect, 8.0, 6.0, -5.0)
    with_alignment = aligned.predict([moved_good, moved_defect])
    assert with_alignment.aligned.tolist() == [True, True]
    assert with_alignment.scores[1] > with_alignment.scores[0]
    assert with_alignment.scores[0] < plain.predict([moved_good]).scores[0]  # a moved good part looks normal again
    # the maps are the template-frame maps warped back into each image's frame
    inner = AnomalyModel(aligned.detector, features)
    warped_in, alignment = aligned.aligner.align(moved_defect)
    expected = aligned.aligner.to_image_frame(inner.predict([warped_in]).maps[0], alignment)
    np.testing.assert_allclose(with_alignment.maps[1], expected, rtol=1e-5, atol=1e-6)
    assert plain.predict([good]).aligned is None


def test_the_loaded_predictor_warns_about_an_image_it_could_not_align(random_config, tmp_path) -> None:
    from dataclasses import replace

    from defectlab.bundle import load
    from defectlab.bundle.detector_predictor import NOT_ALIGNED
    from defectlab.bundle.io import save_bundle
    from defectlab.data.sample import Sample
    from defectlab.workflows.detection import FitOptions, fit_bundle

    rng = np.random.default_rng(8)
    train = [Sample(image=_part(rng), label=0, id=f"good/{i}.png") for i in range(8)]
    options = FitOptions("padim", {"n_features": 8}, replace(random_config, image_size=64), align=True, holdout=0.25)
    bundle, _ = fit_bundle(train, [], options)
    predictor = load(save_bundle(tmp_path / "aligned", bundle))
    noise = np.random.default_rng(3).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    part, unalignable = predictor.predict([_moved(_part(rng), 5.0, 3.0, 2.0)[0], noise])
    assert part.warnings == [] and unalignable.warnings == [NOT_ALIGNED]

"""Run-length encoding (Severstal / Kaggle convention)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from defectlab.data.rle import rle_decode, rle_encode
from defectlab.errors import DataError

# Pixels of a 4x3 (HxW) mask are numbered down the columns, 1-based:
#    1 5 9
#    2 6 10
#    3 7 11
#    4 8 12
HAND_MASK = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 0], [0, 1, 0]], dtype=np.uint8)
HAND_RLE = "1 2 7 3"


def test_hand_made_example() -> None:
    decoded = rle_decode(HAND_RLE, (4, 3))
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, HAND_MASK)
    assert rle_encode(HAND_MASK) == HAND_RLE


def test_run_to_the_last_pixel() -> None:
    mask = rle_decode("11 2", (4, 3))
    assert mask[2, 2] == 1 and mask[3, 2] == 1 and mask.sum() == 2
    assert rle_encode(mask) == "11 2"


def test_empty() -> None:
    assert not rle_decode("", (3, 5)).any()
    assert rle_decode("  ", (3, 5)).shape == (3, 5)
    assert rle_encode(np.zeros((3, 5), np.uint8)) == ""


def test_overlapping_runs_are_a_union() -> None:
    np.testing.assert_array_equal(rle_decode("1 3 2 3", (4, 3)).ravel(order="F")[:5], [1, 1, 1, 1, 0])


@pytest.mark.parametrize(
    "text, match",
    [("1 2 3", "odd"), ("1 x", "non-integer"), ("0 2", "outside"), ("12 2", "outside"), ("3 -1", "outside")],
)
def test_bad_strings(text: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        rle_decode(text, (4, 3))


def test_encode_needs_2d() -> None:
    with pytest.raises(DataError, match="HxW"):
        rle_encode(np.zeros((2, 2, 3), np.uint8))


@settings(max_examples=200, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.integers(0, 1)))
def test_round_trip(mask: np.ndarray) -> None:
    encoded = rle_encode(mask)
    np.testing.assert_array_equal(rle_decode(encoded, mask.shape), mask)
    assert rle_encode(rle_decode(encoded, mask.shape)) == encoded
    values = [int(v) for v in encoded.split()]
    starts, lengths = values[0::2], values[1::2]
    assert all(length > 0 for length in lengths)
    assert all(a + n < b for a, n, b in zip(starts, lengths, starts[1:], strict=False))

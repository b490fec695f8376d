"""Report figures render to PNG bytes, including awkward one-class results."""

import io

import pytest
from PIL import Image

from defectlab.errors import DataError
from defectlab.report.plots import has_both_classes, histogram_png, overlay_grid_png, pr_png, roc_png


def _is_png(data: bytes) -> bool:
    if not data.startswith(b"\x89PNG"):
        return False
    Image.open(io.BytesIO(data)).verify()
    return True


def test_curves_are_png(two_results):
    assert _is_png(roc_png(two_results))
    assert _is_png(pr_png(two_results))


def test_histogram_and_grid_are_png(two_results):
    assert _is_png(histogram_png(two_results[0]))
    assert _is_png(overlay_grid_png(two_results[1]))


def test_one_class_result_is_skipped_by_curves_but_still_histogrammed(two_results, one_class_result):
    assert not has_both_classes(one_class_result)
    assert _is_png(roc_png([one_class_result, *two_results]))
    assert _is_png(histogram_png(one_class_result))
    with pytest.raises(DataError, match="both normal and anomalous"):
        pr_png([one_class_result])


def test_grid_with_only_one_group_and_without_examples(make_result):
    result = make_result(examples=2)
    result.least_anomalous = []
    assert _is_png(overlay_grid_png(result))
    result.most_anomalous = []
    with pytest.raises(DataError, match="no examples"):
        overlay_grid_png(result)

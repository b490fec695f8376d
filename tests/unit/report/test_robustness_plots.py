"""Robustness figures render to PNG bytes from saved results; empty input is a DataError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from robustness_results_dir import HAND_ID, write_results_dir

from defectlab.analysis.errors import reliability_curve
from defectlab.errors import DataError
from defectlab.report import robustness_plots as rp
from defectlab.report.robustness_results import headline, load_arrays, load_embedding, load_results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return load_results(write_results_dir(tmp_path_factory.mktemp("plots") / "results"))


def _is_png(data: bytes) -> bool:
    Image.open(io.BytesIO(data)).verify()
    return data.startswith(b"\x89PNG")


def _phase(results, phase):
    return [e for e in results.evaluations if e.phase == phase]


def test_headline_figures(results):
    rows = [h for h in headline(results.evaluations) if h.category == "mono"]
    assert _is_png(rp.auroc_bars_png("mono", rows))
    curves = [
        rp.Curve(e.detector, e.phase, *load_arrays(results.directory, e)[:2])
        for h in rows
        for e in (h.clean, h.no_adaptation, h.adapted)
    ]
    assert _is_png(rp.roc_overlay_png("mono", curves))
    assert _is_png(rp.pixel_scatter_png(results.evaluations))


def test_phase_figures(results):
    levels = [("no adaptation", e) for e in _phase(results, "shift_no_adaptation") if e.category == "mono"]
    assert _is_png(rp.recovery_png("mono", _phase(results, "few_shot"), levels))
    assert _is_png(rp.severity_png("mono", _phase(results, "severity")))
    cells = [
        rp.ShiftCell(e.variant["train_shift"], e.variant["test_shift"], e.metrics["image_auroc"])
        for e in _phase(results, "cross_shift")
    ]
    assert _is_png(rp.cross_shift_png("mono / patchcore", cells + [rp.ShiftCell("brightness@3", "none", None)]))


def test_per_evaluation_figures(results):
    hand = next(e for e in results.evaluations if e.id == HAND_ID)
    arrays = load_arrays(results.directory, hand)
    assert _is_png(rp.confusion_png(HAND_ID, arrays.labels, arrays.scores, arrays.threshold))
    assert _is_png(rp.reliability_png(HAND_ID, reliability_curve(arrays.labels, arrays.normalized)))
    category, file = results.embeddings[0]
    assert _is_png(rp.embedding_png(load_embedding(results.directory, category, file)))


def test_nothing_to_draw_is_a_data_error(results):
    poly = [e for e in results.evaluations if e.category == "poly"]
    with pytest.raises(DataError, match="pixel AUROC"):
        rp.pixel_scatter_png(poly)  # poly has no masks
    with pytest.raises(DataError, match="both normal and anomalous"):
        rp.roc_overlay_png("mono", [rp.Curve("patchcore", "clean", np.zeros(4, dtype=np.int64), np.arange(4.0))])
    for draw in (
        lambda: rp.auroc_bars_png("mono", []),
        lambda: rp.recovery_png("t", [], []),
        lambda: rp.severity_png("mono", []),
        lambda: rp.cross_shift_png("t", []),
    ):
        with pytest.raises(DataError, match="nothing to plot"):
            draw()

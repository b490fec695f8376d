"""The suite's Robustness Index and tables against hand-computed figures."""

from __future__ import annotations

import numpy as np
import pytest

from defectlab.data.sample import Sample
from defectlab.experiments.suite.runner import add_robustness_index, native_size
from defectlab.report.suite_tables import dataset_table, macro_table, shift_table


def _row(dataset: str, model: str, shift: str, phase: str, auroc: float, protocol: str = "imagenet-c") -> dict:
    return {
        "dataset": dataset,
        "family": "texture",
        "model": model,
        "shift": shift,
        "protocol": "clean" if phase == "clean" else protocol,
        "phase": phase,
        "image_auroc": auroc,
        "pixel_auroc": 0.9 if phase == "clean" else None,
        "aupro": 0.8 if phase == "clean" else None,
        "f1": 0.5,
        "false_alarm_rate": 0.1,
        "ms_per_image": 10.0,
        "image_size": 192,
    }


@pytest.fixture
def rows() -> list[dict]:
    rows = [
        _row("a", "m", "clean", "clean", 0.8),
        _row("a", "m", "noise", "no_adaptation", 0.4),
        _row("a", "m", "noise", "adapted", 0.72),
        _row("a", "m", "blur", "no_adaptation", 0.6),
        _row("a", "m", "pose", "no_adaptation", 0.8, protocol="shift-suite"),
        _row("b", "m", "clean", "clean", 1.0),
        _row("b", "m", "noise", "no_adaptation", 0.9),
    ]
    add_robustness_index(rows)
    return rows


def test_robustness_index_divides_by_the_same_models_clean_auroc(rows: list[dict]) -> None:
    assert rows[0]["ri"] is None
    assert rows[1]["ri"] == pytest.approx(0.5) and rows[2]["ri"] == pytest.approx(0.9)
    assert rows[6]["ri"] == pytest.approx(0.9)


def test_macro_table_averages_data_sets_equally(rows: list[dict]) -> None:
    (line,) = macro_table(rows).rows
    assert line[0] == "m"
    assert line[1] == pytest.approx(0.9)  # (0.8 + 1.0) / 2
    assert line[6] == pytest.approx(np.mean([0.5, 0.75, 0.9]))  # every ImageNet-C cell, no adaptation
    assert line[7] == pytest.approx(0.5)  # the worst cell
    assert line[8] == pytest.approx(0.9)  # adapted
    assert line[9] == pytest.approx(1.0)  # shift suite


def test_dataset_and_shift_tables(rows: list[dict]) -> None:
    per_dataset = {r[0]: r for r in dataset_table(rows).rows}
    assert per_dataset["a"][7] == pytest.approx(0.625) and per_dataset["b"][7] == pytest.approx(0.9)
    shifted = shift_table(rows).rows
    assert len(shifted) == 4
    noise_a = next(r for r in shifted if r[0] == "a" and r[2] == "noise")
    assert noise_a[5] == pytest.approx(0.72) and noise_a[6] == pytest.approx(0.9)
    assert next(r for r in shifted if r[2] == "blur")[5] is None  # no refit was run
    assert b"model,image AUROC" in macro_table(rows).csv_bytes()


def test_native_size_is_the_most_common_shorter_side() -> None:
    def sample(h: int, w: int) -> Sample:
        return Sample(id=f"{h}x{w}", image=np.zeros((h, w, 3), np.uint8), label=0, category="c")

    assert native_size([sample(300, 300), sample(300, 320), sample(128, 128)]) == 300


def test_ri_grid_and_heatmap_png(rows: list[dict]) -> None:
    from defectlab.errors import DataError
    from defectlab.report.suite_plots import ri_grid, ri_heatmaps_png

    datasets, shifts, grid = ri_grid(rows, "m", "no_adaptation")
    assert datasets == ["a", "b"] and shifts == ["noise", "blur", "pose"]
    assert grid[0].tolist() == pytest.approx([0.5, 0.75, 1.0]) and grid[1, 0] == pytest.approx(0.9)
    assert np.isnan(grid[1, 1]) and np.isnan(grid[1, 2])  # not run
    assert ri_heatmaps_png(rows).startswith(b"\x89PNG")
    with pytest.raises(DataError, match="no shifted rows"):
        ri_heatmaps_png([r for r in rows if r["phase"] == "clean"])

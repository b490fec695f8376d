"""The suite end to end on a generated data set: clean, shifted and adapted rows, RI, saved results and tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from defectlab.errors import DataError
from defectlab.experiments.suite.config import suite_config
from defectlab.experiments.suite.runner import run_suite
from defectlab.report.suite_report import write_suite_report


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_torch_thread):
    out = tmp_path_factory.mktemp("suite")
    config = suite_config(
        {
            "output": out,
            "datasets": ["synth-texture"],
            "models": [
                {"name": "pc", "detector": "patchcore", "params": {"coreset_ratio": 0.1}, "image_size": 64, "weights": "random"},
                {"name": "pd", "detector": "padim", "params": {"n_features": 16}, "image_size": "native", "weights": "random"},
            ],
            "shifts": [
                {"corruption": "imagenet_c_gaussian_noise", "severity": 3},
                {"preset": "mvtec-shift", "families": ["elpv"]},  # not for synthetic sets: skipped
            ],
            "bootstrap": 5,
        }
    )
    return run_suite(config, cache=None, log=lambda _: None), out


def test_rows_cover_every_model_and_phase(run) -> None:
    result, _ = run
    phases = {(r["model"], r["phase"], r["shift"]) for r in result.rows}
    assert phases == {
        (m, p, s)
        for m in ("pc", "pd")
        for p, s in (
            ("clean", "clean"),
            ("no_adaptation", "imagenet_c_gaussian_noise@3"),
            ("adapted", "imagenet_c_gaussian_noise@3"),
        )
    }
    for r in result.rows:
        assert 0.0 <= r["image_auroc"] <= 1.0 and r["n_test"] > 10
        assert 0.0 <= r["false_alarm_rate"] <= 1.0
        assert r["pixel_auroc"] is not None  # the synthetic set has exact masks
    clean = {r["model"]: r for r in result.rows if r["phase"] == "clean"}
    assert clean["pc"]["image_size"] == 64 and clean["pd"]["image_size"] == 128  # native: the generated images' side
    for r in result.rows:
        if r["phase"] != "clean":
            assert r["ri"] == pytest.approx(r["image_auroc"] / clean[r["model"]]["image_auroc"])


def test_results_envelope_and_report(run) -> None:
    result, out = run
    envelope = json.loads((out / "results.json").read_text())
    assert envelope["job"] == "suite" and envelope["seed"] == 42 and "torch" in envelope["versions"]
    assert len(envelope["rows"]) == len(result.rows) and envelope["timings"]["steps"][0]["step"] == "data set synth-texture"
    assert (out / "splits" / "synth-texture.json").is_file()
    markdown = write_suite_report(out).read_text()
    assert "| pc |" in markdown and "| synth-texture | pd |" in markdown
    assert (out / "tables" / "suite_macro.csv").read_text().startswith("model,image AUROC")
    assert (out / "suite_ri.png").read_bytes().startswith(b"\x89PNG") and "suite_ri.png" in markdown


def test_report_without_results_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no suite results"):
        write_suite_report(tmp_path)

"""The router study end to end on three tiny synthetic products (64 px, random backbone weights)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from defectlab.backbones.cache import FeatureCache
from defectlab.cli.main import app
from defectlab.experiments.jobs import job_config
from defectlab.experiments.router_study import run_router_job
from defectlab.experiments.router_study.data import synthetic_data
from defectlab.report.page import results_job
from defectlab.report.router_report import write_router_report

CATEGORIES = {"tex-a": "texture", "tex-b": "texture", "obj": "object"}
KINDS = ["cae", "patchcore", "padim"]
TINY = {
    "job": "router",
    "elpv": [],
    "features": {"image_size": 64, "weights": "random"},
    "synthetic": {"categories": CATEGORIES, "size": 64, "n_train": 20, "n_test_good": 4, "n_defect": 2},
    "detectors": KINDS,
    "detector_params": {"cae": {"epochs": 3, "hidden": 32, "latent": 8}},
    "router": {"folds": 2},
    "held_out": ["obj"],
}


@pytest.fixture(scope="module")
def study(tmp_path_factory, one_torch_thread):
    root = tmp_path_factory.mktemp("router-study")
    _, cfg = job_config({**TINY, "output": str(root / "out")}, "tiny.yaml")
    lines: list[str] = []
    results = run_router_job(cfg, log=lines.append, cache=FeatureCache(root / "cache"), progress=False)
    return cfg, results, lines


def test_every_phase_writes_its_results(study) -> None:
    cfg, results, _ = study
    on_disk = json.loads((cfg.output / "results.json").read_text())
    assert on_disk["job"] == "router" and on_disk["seed"] == 42 and on_disk["versions"]["torch"]
    assert set(on_disk) >= {"config", "categories", "routing", "unknown", "detectors", "systems", "timings"}
    for name in (
        "report.html",
        "summary.md",
        "plots/confusion.png",
        "plots/systems.png",
        "plots/training_cae.png",
        "tables/routing.csv",
        "tables/confusion.csv",
        "tables/unknown.csv",
        "tables/systems_image.csv",
        "tables/systems_pixel.csv",
        "tables/detectors.csv",
        "splits/obj.json",
    ):
        assert (cfg.output / name).is_file(), name
    assert results_job(cfg.output) == "router"


def test_routing_counts_every_test_image_once(study) -> None:
    _, results, _ = study
    routing = results["routing"]
    for name, counts in routing["confusion"].items():
        assert sum(counts.values()) == results["categories"][name]["n_test"]
        assert list(counts) == ["obj", "tex-a", "tex-b", "unknown"]
    overall = routing["overall"]
    assert overall["n"] == sum(c["n_test"] for c in results["categories"].values())
    assert overall["routed_correctly"] + overall["misrouted"] + overall["called_unknown"] == pytest.approx(1.0)
    trial = results["unknown"]["trials"][0]
    assert trial["held_out"] == "obj" and trial["held_out_shares"]["head_accuracy"] is None
    assert trial["held_out_shares"]["called_unknown"] + trial["held_out_shares"]["misrouted"] == pytest.approx(1.0)


def test_each_detector_is_fitted_once_and_reused(study) -> None:
    _, results, lines = study
    fits = [line.strip() for line in lines if line.strip().startswith("fitting")]
    assert len(fits) == len(CATEGORIES) * len(KINDS) + 1  # + the global model
    assert len(set(fits)) == len(fits)
    for rows in results["detectors"]["per_category"].values():
        assert list(rows) == KINDS
        for row in rows.values():
            assert row["bundle_mb"] > 0 and row["fit_seconds"] > 0 and row["ms_per_image"] > 0
    assert set(results["detectors"]["training_curves"]["cae"]) == set(CATEGORIES)
    assert all(row["epochs"] == 3 for row in (r["cae"] for r in results["detectors"]["per_category"].values()))


def test_systems_compare_on_image_and_pixel_metrics(study) -> None:
    _, results, _ = study
    systems = results["systems"]
    assert systems["systems"] == ["routed", "oracle", "global"]
    for rows in systems["per_category"].values():
        for metrics in rows.values():
            assert 0 <= metrics["image_auroc"] <= 1 and 0 <= metrics["pixel_auroc"] <= 1 and 0 <= metrics["aupro"] <= 1
    oracle = systems["per_category"]["tex-a"]["oracle"]["image_auroc"]
    assert oracle == pytest.approx(results["detectors"]["per_category"]["tex-a"]["patchcore"]["image_auroc"])


def test_report_rebuilds_from_results_and_data_is_generated_once(study) -> None:
    cfg, _, lines = study
    with open(cfg.output / "tables" / "detectors.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(CATEGORIES) * len(KINDS)
    first = (cfg.output / "summary.md").read_text()
    write_router_report(cfg.output)
    assert (cfg.output / "summary.md").read_text() == first
    (cfg.output / "summary.md").unlink()
    result = CliRunner().invoke(app, ["report", str(cfg.output)])  # `defectlab report` dispatches to the router report
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(cfg.output / "report.html") and (cfg.output / "summary.md").read_text() == first
    assert sum("generating synthetic" in line for line in lines) == 1
    again: list[str] = []
    assert synthetic_data(cfg, again.append) == Path(cfg.output) / "data" and again == []

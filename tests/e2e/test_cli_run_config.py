"""End to end: `defectlab run CONFIG.yaml` on a synthetic MVTec dataset writes the whole report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from _e2e_cli_harness import make_env, run_cli
from PIL import Image

SYNTH_ARGS = ["--categories", "texture", "--n-train", "16", "--n-test-good", "6", "--n-defect", "3", "--size", "96"]
DETECTORS = ("patchcore", "padim")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    work = tmp_path_factory.mktemp("run-config")
    cache = work / "feature-cache"
    env = make_env(cache)
    data = work / "synthetic"
    result = run_cli(["synth", data, *SYNTH_ARGS], env, work)
    assert result.returncode == 0, str(result)
    output = work / "out"
    config = {
        "name": "e2e synthetic",
        "output": str(output),
        "seed": 7,
        "dataset": {"format": "mvtec", "root": str(data), "categories": ["texture"]},
        "features": {"image_size": 96, "weights": "random"},
        "detectors": [{"kind": "patchcore", "params": {"coreset_ratio": 0.1}}, "padim"],
        "bootstrap": 50,
    }
    path = work / "job.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_cli(["run", path], env, work)
    assert result.returncode == 0, str(result)
    return output, result, cache


def _png(path: Path) -> None:
    assert path.is_file(), f"missing {path}"
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        assert im.size[0] >= 100 and im.size[1] >= 100


def test_run_prints_results_table(job):
    output, result, _ = job
    out = result.stdout
    for detector in DETECTORS:
        assert f"[texture] fitting {detector}" in out
        assert f"[texture] {detector}: image AUROC" in out
    assert "image AUROC" in out and "pixel AUROC" in out  # the results table header
    assert f"report: {output / 'report.html'}" in out


def test_run_writes_the_results_envelope(job):
    output, _, cache = job
    metrics = json.loads((output / "results.json").read_text())
    assert metrics["job"] == "detection" and metrics["title"] == "defectlab: e2e synthetic"
    assert metrics["config"]["dataset"]["categories"] == ["texture"] and metrics["config"]["dataset"]["split_rule"] == "mvtec"
    assert metrics["seed"] == 7 and metrics["versions"]["torch"] and metrics["created"]
    assert metrics["feature_cache"] == str(cache)
    assert [s["step"] for s in metrics["timings"]["steps"]] == [f"[texture] fitting {d}" for d in DETECTORS]
    results = metrics["results"]
    assert [(r["detector"], r["category"]) for r in results] == [(d, "texture") for d in DETECTORS]
    for r in results:
        assert r["n_test"] == 16 and r["n_anomalous"] == 10
        for key in ("image_auroc", "image_auprc", "image_f1", "pixel_auroc", "aupro"):
            assert isinstance(r["metrics"][key], float) and 0.0 <= r["metrics"][key] <= 1.0, (key, r["metrics"][key])
        low, high = r["intervals"]["image_auroc"]
        assert 0.0 <= low <= r["metrics"]["image_auroc"] <= high <= 1.0


def test_run_writes_markdown_and_self_contained_html(job):
    output, _, _ = job
    summary = (output / "summary.md").read_text()
    assert summary.startswith("# defectlab: e2e synthetic")
    for detector in DETECTORS:
        assert f"| {detector} | texture |" in summary
    assert "](plots/roc.png)" in summary
    html = (output / "report.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "padim" in html and "patchcore" in html
    assert html.count("data:image/png;base64,") >= 4  # ROC, PR, a histogram and an example grid per detector
    assert 'src="plots/' not in html  # self-contained: no links to the PNG files


def test_run_writes_plots(job):
    output, _, _ = job
    plots = output / "plots"
    names = {p.name for p in plots.glob("*.png")}
    assert {"roc.png", "pr.png"} <= names
    for detector in DETECTORS:
        assert f"hist_{detector}_texture.png" in names
        assert f"examples_{detector}_texture.png" in names
    for name in names:
        _png(plots / name)


def test_run_writes_score_tables_bundles_and_splits(job):
    output, _, _ = job
    for detector in DETECTORS:
        with open(output / f"{detector}_texture_scores.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == 16
        assert {r["decision"] for r in rows} <= {"normal", "anomalous"}
        manifest = json.loads((output / "bundles" / f"{detector}_texture" / "manifest.json").read_text())
        assert manifest["detector"]["kind"] == detector
        assert manifest["image_size"] == 96
    split = json.loads((output / "splits" / "texture.json").read_text())
    assert split["seed"] == 7 and split["rule"] == "mvtec"
    assert len(split["train"]) == 12 and len(split["test"]) == 16
    assert not [p.name for p in output.rglob(".*")], "temporary files left in the output folder"


def test_run_uses_the_feature_cache_from_the_environment(job):
    _, _, cache = job
    assert cache.is_dir() and any(p.is_file() for p in cache.rglob("*")), "DEFECTLAB_CACHE was not used"


def test_the_suite_runs_and_reports_through_the_job_registry(tmp_path: Path) -> None:
    env = make_env(tmp_path / "feature-cache")
    output = tmp_path / "suite"
    config = {
        "job": "suite",
        "output": str(output),
        "datasets": ["synth-object"],
        "models": [{"name": "pd", "detector": "padim", "params": {"n_features": 8}, "image_size": 64, "weights": "random"}],
        "shifts": [{"corruption": "imagenet_c_contrast", "severity": 2}],
        "adapted": False,
        "bootstrap": 5,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_cli(["run", path], env, tmp_path)
    assert result.returncode == 0, str(result)
    assert "| pd |" in result.stdout and "report:" in result.stdout
    assert json.loads((output / "results.json").read_text())["job"] == "suite"
    (output / "suite.md").unlink()
    result = run_cli(["report", output], env, tmp_path)
    assert result.returncode == 0, str(result)
    assert (output / "suite.md").is_file() and (output / "suite_ri.png").is_file()

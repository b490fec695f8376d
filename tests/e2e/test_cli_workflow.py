"""End to end: synth -> fit -> evaluate -> score -> info through the `defectlab` command line."""

from __future__ import annotations

import csv
import json
import math
import shutil
import statistics
from pathlib import Path

import pytest
from _e2e_cli_harness import make_env, run_cli
from PIL import Image

SYNTH_ARGS = ["--categories", "texture", "--n-train", "16", "--n-test-good", "6", "--n-defect", "3", "--size", "96"]
METRICS = ("image_auroc", "image_auprc", "image_f1", "pixel_auroc", "aupro")
N_TEST_IMAGES = 6 + 5 * 3  # test/good plus 3 per defect type (scratch, crack, spot, hole, stain)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return make_env(tmp_path_factory.mktemp("feature-cache"))


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("workflow")


@pytest.fixture(scope="module")
def dataset(work, env) -> Path:
    root = work / "synthetic"
    result = run_cli(["synth", root, *SYNTH_ARGS], env, work, spawn_process=True)
    assert result.returncode == 0, str(result)
    assert "wrote synthetic dataset" in result.stdout
    return root


def fit(work: Path, env, dataset: Path, detector: str, out: str, *extra: str):
    args = ["fit", "--data", dataset, "--category", "texture", "--detector", detector, "--out", work / out, *extra]
    return run_cli(args, env, work)


@pytest.fixture(scope="module")
def patchcore(work, env, dataset):
    """PatchCore with the bundled pretrained weights (the one run whose accuracy matters)."""
    result = fit(work, env, dataset, "patchcore", "patchcore.bundle", "--image-size", "96")
    assert result.returncode == 0, str(result)
    return work / "patchcore.bundle", result


@pytest.fixture(scope="module")
def patchcore_metrics(work, env, dataset, patchcore):
    bundle, _ = patchcore
    out = work / "reports" / "patchcore.json"
    result = run_cli(["evaluate", bundle, "--data", dataset, "--category", "texture", "--json", out], env, work)
    assert result.returncode == 0, str(result)
    return json.loads(out.read_text()), result


def test_synth_writes_mvtec_layout(dataset):
    category = dataset / "texture"
    assert len(list((category / "train" / "good").glob("*.png"))) == 16
    assert len(list((category / "test" / "good").glob("*.png"))) == 6
    defects = sorted(p.name for p in (category / "test").iterdir() if p.name != "good")
    assert defects == ["crack", "hole", "scratch", "spot", "stain"]
    for defect in defects:
        images = sorted((category / "test" / defect).glob("*.png"))
        assert len(images) == 3
        for image in images:
            mask = category / "ground_truth" / defect / f"{image.stem}_mask.png"
            with Image.open(image) as im, Image.open(mask) as m:
                assert im.size == m.size == (96, 96)
                assert m.getextrema()[1] > 0, f"{mask} marks no defect pixels"


def test_fit_writes_a_complete_bundle(work, patchcore):
    bundle, result = patchcore
    assert "fitted patchcore on 12 images" in result.stdout  # 80% of the 16 train/good images
    files = {p.name for p in bundle.iterdir()}
    assert files == {"manifest.json", "detector.safetensors", "thresholds.json", "calibration.json"}
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["calibration_scores"] == "calibration.json"
    assert manifest["format_version"] == 1
    assert manifest["detector"]["kind"] == "patchcore"
    assert manifest["image_size"] == 96
    assert manifest["backbone"]["backbone"] == "efficientnet_lite0"
    assert manifest["backbone"]["weights"] == "default"
    assert manifest["training"]["n_train"] == 12
    assert manifest["training"]["category"] == "texture"
    threshold = manifest["thresholds"][manifest["default_threshold"]]["value"]
    assert math.isfinite(threshold) and threshold > 0
    thresholds = json.loads((bundle / "thresholds.json").read_text())
    assert "texture" in json.dumps(thresholds)
    split = json.loads((work / "patchcore.bundle.split.json").read_text())
    assert len(split["train"]) == 12 and split["seed"] == 42
    leftovers = [p.name for p in work.iterdir() if p.name.startswith(".")]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def test_evaluate_writes_metrics_json(patchcore_metrics):
    metrics, result = patchcore_metrics
    for key in METRICS:
        assert isinstance(metrics[key], float), f"{key} = {metrics[key]!r}"
        assert 0.0 <= metrics[key] <= 1.0, f"{key} = {metrics[key]}"
    assert metrics["n_test"] == 16  # 6 good + 2 of 3 per defect type (1 of each goes to validation)
    # pretrained features separate the synthetic defects (the bar for an unseen dataset)
    assert metrics["image_auroc"] >= 0.9
    assert metrics["pixel_auroc"] >= 0.9
    low, high = metrics["intervals"]["image_auroc"]
    assert low <= metrics["image_auroc"] <= high
    assert json.loads(result.stdout) == metrics  # the same numbers are printed


def test_score_writes_csv_and_one_overlay_per_image(work, env, dataset, patchcore):
    bundle, _ = patchcore
    extra = sorted((dataset / "texture" / "train" / "good").glob("*.png"))[0]  # a single file as well as a folder
    out = work / "scored"
    result = run_cli(["score", bundle, dataset / "texture" / "test", extra, "--out", out], env, work)
    assert result.returncode == 0, str(result)
    with open(out / "scores.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames[:4] == ["path", "score", "threshold", "decision"]
        rows = list(reader)
    assert len(rows) == N_TEST_IMAGES + 1
    assert f"scored {len(rows)} images" in result.stdout
    manifest = json.loads((bundle / "manifest.json").read_text())
    threshold = manifest["thresholds"][manifest["default_threshold"]]["value"]
    for row in rows:
        assert Path(row["path"]).is_file()
        assert float(row["threshold"]) == pytest.approx(threshold)
        expected = "anomalous" if float(row["score"]) >= float(row["threshold"]) else "normal"
        assert row["decision"] == expected
    overlays = sorted((out / "overlays").glob("*.png"))
    assert len(overlays) == len(rows)
    for overlay in overlays:
        with Image.open(overlay) as im:
            assert im.format == "PNG" and im.size[0] > 0
    good = [r for r in rows if "/good/" in r["path"]]
    defect = [r for r in rows if "/good/" not in r["path"]]
    assert len(good) == 7 and len(defect) == 15
    assert all(r["decision"] == "normal" for r in good)
    assert sum(r["decision"] == "anomalous" for r in defect) >= len(defect) // 2
    assert min(float(r["score"]) for r in defect) > 0
    assert statistics.mean(float(r["score"]) for r in defect) > statistics.mean(float(r["score"]) for r in good)


def test_info_lists_backbones_detectors_formats_versions(work, env):
    result = run_cli(["info"], env, work)
    assert result.returncode == 0, str(result)
    out = result.stdout
    assert "efficientnet_lite0" in out and "resnet18" in out
    assert "patchcore" in out and "padim" in out
    for fmt in ("mvtec", "folder", "neu", "severstal", "elpv"):
        assert fmt in out
    assert "versions:" in out and "torch" in out


def test_info_on_a_bundle_prints_its_manifest(work, env, patchcore):
    bundle, _ = patchcore
    result = run_cli(["info", bundle], env, work)
    assert result.returncode == 0, str(result)
    assert json.loads(result.stdout) == {**json.loads((bundle / "manifest.json").read_text()), "runtime": "torch"}


def test_padim_fit_and_evaluate(work, env, dataset):
    result = fit(work, env, dataset, "padim", "padim.bundle", "--image-size", "96", "--weights", "random")
    assert result.returncode == 0, str(result)
    bundle = work / "padim.bundle"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["detector"]["kind"] == "padim"
    assert manifest["backbone"]["weights"] == "random"
    out = work / "reports" / "padim.json"
    result = run_cli(["evaluate", bundle, "--data", dataset, "--category", "texture", "--json", out], env, work)
    assert result.returncode == 0, str(result)
    metrics = json.loads(out.read_text())
    for key in METRICS:
        assert isinstance(metrics[key], float) and 0.0 <= metrics[key] <= 1.0, f"{key} = {metrics[key]!r}"
    assert metrics["n_test"] == 16


HELP = {
    None: ["--debug", "fit", "evaluate", "score", "synth", "info", "run"],
    "fit": [
        "--data",
        "--category",
        "--detector",
        "--out",
        "--format",
        "--backbone",
        "--layers",
        "--weights",
        "--image-size",
        "--coreset-ratio",
        "--threshold",
        "--split",
        "--seed",
        "--threads",
    ],
    "evaluate": ["BUNDLE", "--data", "--category", "--format", "--split", "--json", "--threads"],
    "score": ["BUNDLE", "IMAGE_OR_DIR", "--out", "--threads"],
    "synth": ["OUT", "--categories", "--n-train", "--n-test-good", "--n-defect", "--size", "--seed", "--overwrite"],
    "info": ["BUNDLE"],
    "run": ["CONFIG", "--no-cache"],
}


@pytest.mark.parametrize("command", list(HELP), ids=lambda c: c or "defectlab")
def test_help(command, env, tmp_path):
    args = [command, "--help"] if command else ["--help"]
    result = run_cli(args, {**env, "COLUMNS": "200"}, tmp_path, spawn_process=True)
    assert result.returncode == 0, str(result)
    assert "Usage:" in result.stdout
    for option in HELP[command]:  # arguments without a metavar are shown in lower case
        assert option.lower() in result.stdout.lower(), f"{option} missing from `{' '.join(args)}`"
    assert result.stderr == ""


def test_fit_align_stores_the_template_and_scores_through_it(work, env, dataset) -> None:
    out = work / "aligned.bundle"
    result = fit(work, env, dataset, "padim", "aligned.bundle", "--align", "--weights", "random", "--image-size", "64")
    assert result.returncode == 0, str(result)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["alignment"]["motion"] == "euclidean"
    scored = work / "aligned-scored"
    result = run_cli(["score", out, dataset / "texture" / "test" / "good", "--out", scored], env, work)
    assert result.returncode == 0, str(result)
    with (scored / "scores.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 6
    result = run_cli(["evaluate", out, "--data", dataset, "--category", "texture"], env, work)
    assert result.returncode == 0, str(result)


def test_export_then_score_with_each_runtime(work, env, dataset, patchcore, tmp_path) -> None:
    """`export` writes an OpenVINO graph that `score` then picks by default, with torch's scores."""
    bundle = tmp_path / "bundle"
    shutil.copytree(patchcore[0], bundle)
    exported = run_cli(["export", bundle, "--format", "openvino"], env, work)
    assert exported.returncode == 0, str(exported)
    assert (bundle / "export" / "openvino-f32" / "export.json").is_file()
    images = dataset / "texture" / "test"
    rows = {}
    for runtime in ("torch", "openvino", None):
        out = tmp_path / f"scored-{runtime}"
        result = run_cli(["score", bundle, images, "--out", out, *(["--runtime", runtime] if runtime else [])], env, work)
        assert result.returncode == 0, str(result)
        rows[runtime] = {r["path"]: r for r in csv.DictReader(open(out / "scores.csv", newline=""))}
    assert len(rows["torch"]) == N_TEST_IMAGES and rows["openvino"].keys() == rows["torch"].keys()
    for path, row in rows["torch"].items():
        assert float(rows["openvino"][path]["score"]) == pytest.approx(float(row["score"]), rel=1e-4)
        if abs(float(row["score"]) - float(row["threshold"])) > 1e-4 * float(row["threshold"]):
            assert rows["openvino"][path]["decision"] == row["decision"]  # a score at the threshold may fall either way
        assert rows[None][path]["score"] == rows["openvino"][path]["score"]  # the export is the default

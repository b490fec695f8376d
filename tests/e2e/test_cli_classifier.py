"""End to end: train-classifier -> classify / evaluate / score / info through the `defectlab` command line,
on a tiny folder tree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _e2e_cli_harness import assert_one_line_error, make_env, run_cli

from defectlab.bundle.io import load_bundle
from defectlab.data.imageio import save_image
from defectlab.errors import ModelError

CLASSES = {"good": (128, 128, 128), "rust": (190, 70, 30), "stain": (40, 60, 190)}
PER_CLASS = 6
TRAIN_ARGS = [
    "--format",
    "folder",
    "--model",
    "attention",
    "--weights",
    "random",
    "--image-size",
    "64",
    "--epochs",
    "8",
    "--lr",
    "3e-3",
]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return make_env(tmp_path_factory.mktemp("feature-cache"))


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("classifier")


@pytest.fixture(scope="module")
def dataset(work) -> Path:
    """Folder format: good/ plus one folder per defect type; each class has its own tint."""
    root = work / "parts"
    rng = np.random.default_rng(0)
    for name, colour in CLASSES.items():
        for index in range(PER_CLASS):
            image = np.clip(np.array(colour) + rng.integers(-25, 25, (48, 48, 3)), 0, 255).astype(np.uint8)
            save_image(root / name / f"{index:02d}.png", image)
    return root


@pytest.fixture(scope="module")
def trained(work, env, dataset):
    bundle = work / "classifier.bundle"
    result = run_cli(["train-classifier", "--data", dataset, *TRAIN_ARGS, "--out", bundle], env, work)
    assert result.returncode == 0, str(result)
    return bundle, result


def test_train_classifier_writes_bundle_and_split(trained):
    bundle, result = trained
    assert "trained attention (defect_type, head) on 12 images" in result.stdout  # per class: 4 train, 1 val, 1 test
    assert "val accuracy" in result.stdout and "test accuracy" in result.stdout
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["kind"] == "classifier" and manifest["class_names"] == sorted(CLASSES)
    training = manifest["training"]
    assert (training["n_train"], training["n_val"], training["n_test"]) == (12, 3, 3)
    split = json.loads(bundle.with_name("classifier.bundle.split.json").read_text())
    assert split["rule"] == "stratified/defect_type" and split["seed"] == 42
    assert len(split["train"]) + len(split["val"]) + len(split["test"]) == 3 * PER_CLASS


def test_classify_prints_and_writes_class_and_confidence(work, env, dataset, trained):
    bundle, _ = trained
    out = work / "classes.json"
    result = run_cli(["classify", bundle, dataset / "rust", dataset / "good" / "00.png", "--json", out], env, work)
    assert result.returncode == 0, str(result)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == PER_CLASS + 1
    rows = json.loads(out.read_text())
    assert [row["path"] for row in rows] == [line.split("\t")[0] for line in lines]
    for row in rows:
        assert row["class"] in CLASSES and 0 < row["confidence"] <= 1
        assert row["confidence"] == max(row["probabilities"].values())
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert sum(row["class"] == "rust" for row in rows[:PER_CLASS]) >= PER_CLASS - 1


def test_bad_input_is_one_line_error(work, env, dataset, trained):
    bundle, _ = trained
    not_a_bundle = run_cli(["classify", dataset, dataset / "good" / "00.png"], env, work)
    assert_one_line_error(not_a_bundle, str(dataset), "manifest.json is missing")
    wrong_scheme = run_cli(
        ["train-classifier", "--data", dataset, *TRAIN_ARGS, "--scheme", "elpv_binary", "--out", work / "elpv.bundle"], env, work
    )
    assert_one_line_error(wrong_scheme, "elpv_binary", "metadata 'proba'")
    assert not (work / "elpv.bundle").exists() and not (work / "elpv.bundle.split.json").exists()


def test_classify_json_into_an_existing_folder_writes_classes_json(work, env, dataset, trained):
    bundle, _ = trained
    folder = work / "results"
    folder.mkdir()
    result = run_cli(["classify", bundle, dataset / "stain", "--json", folder], env, work)
    assert result.returncode == 0, str(result)
    rows = json.loads((folder / "classes.json").read_text())
    assert [row["path"] for row in rows] == [line.split("\t")[0] for line in result.stdout.strip().splitlines()]
    assert len(rows) == PER_CLASS


def test_classify_refuses_a_detector_bundle_naming_score(work, env, dataset):
    detector = work / "detector.bundle"
    detector.mkdir()
    (detector / "manifest.json").write_text(json.dumps({"format_version": 1, "kind": "anomaly_detector"}))
    result = run_cli(["classify", detector, dataset / "good" / "00.png"], env, work)
    assert_one_line_error(result, str(detector), "anomaly-detector bundle", "defectlab score")
    assert result.stdout == ""


def test_a_bundle_of_unknown_kind_is_one_line_error(work, env, dataset):
    odd = work / "segmenter.bundle"
    odd.mkdir()
    (odd / "manifest.json").write_text(json.dumps({"format_version": 1, "kind": "segmenter"}))
    for args in (["info", odd], ["evaluate", odd, "--data", dataset], ["score", odd, dataset, "--out", work / "odd"]):
        assert_one_line_error(run_cli(args, env, work), str(odd), "unknown bundle kind 'segmenter'")
    assert not (work / "odd").exists()


def test_detector_loader_names_a_classifier_bundle(trained):
    bundle, _ = trained
    with pytest.raises(ModelError, match="is a classifier bundle, not an anomaly-detector bundle"):
        load_bundle(bundle)


@pytest.fixture(scope="module")
def evaluated(work, env, dataset, trained):
    """`evaluate` with no --format: the classifier's training format (folder) and its stored split."""
    bundle, _ = trained
    split = bundle.with_name("classifier.bundle.split.json")
    split_before = split.read_bytes()
    out = work / "metrics" / "classifier.json"
    result = run_cli(["evaluate", bundle, "--data", dataset, "--json", out], env, work)
    assert result.returncode == 0, str(result)
    assert split.read_bytes() == split_before  # read, never re-drawn
    return json.loads(out.read_text()), result


def test_evaluate_a_classifier_on_its_stored_test_split(trained, evaluated):
    bundle, _ = trained
    metrics, result = evaluated
    manifest = json.loads((bundle / "manifest.json").read_text())
    split = json.loads(bundle.with_name("classifier.bundle.split.json").read_text())
    assert metrics["kind"] == "classifier" and metrics["scheme"] == "defect_type"
    assert metrics["classes"] == sorted(CLASSES)
    assert metrics["n_test"] == len(split["test"]) == 3
    # the same test images as at training time give the same numbers
    assert metrics["accuracy"] == pytest.approx(manifest["training"]["test"]["accuracy"])
    assert metrics["macro_f1"] == pytest.approx(manifest["training"]["test"]["macro_f1"])
    for key in ("auroc", "balanced_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.shape == (3, 3) and confusion.sum() == 3
    assert metrics["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    for k, name in enumerate(metrics["classes"]):
        assert metrics["per_class"][name] == {
            "n": int(confusion[k].sum()),
            "predicted": int(confusion[:, k].sum()),
            "correct": int(confusion[k, k]),
        }
        assert metrics["per_class"][name]["n"] == 1  # one test image per class
    lines = result.stdout.strip().splitlines()
    assert lines[1].startswith(f"accuracy {metrics['accuracy']:.3f}  macro_f1 {metrics['macro_f1']:.3f}")
    assert lines[2].split() == ["true", "\\", "predicted", *sorted(CLASSES), "n"]
    assert [line.split()[0] for line in lines[3:]] == sorted(CLASSES)


def test_evaluate_finds_the_split_beside_a_moved_bundle(work, env, dataset, trained, evaluated):
    bundle, _ = trained
    moved = work / "moved" / "copy.bundle"
    shutil.copytree(bundle, moved)
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["training"]["split"]["path"] = str(work / "gone" / "classifier.bundle.split.json")
    (moved / "manifest.json").write_text(json.dumps(manifest))
    missing = run_cli(["evaluate", moved, "--data", dataset], env, work)
    assert_one_line_error(missing, "split file", "not found", "--split")
    shutil.copy(bundle.with_name("classifier.bundle.split.json"), moved.with_name("copy.bundle.split.json"))
    out = work / "moved" / "metrics.json"
    result = run_cli(["evaluate", moved, "--data", dataset, "--format", "folder", "--json", out], env, work)
    assert result.returncode == 0, str(result)
    assert json.loads(out.read_text())["confusion_matrix"] == evaluated[0]["confusion_matrix"]


def test_evaluate_rejects_a_split_of_another_kind(work, env, dataset, trained):
    bundle, _ = trained
    split = json.loads(bundle.with_name("classifier.bundle.split.json").read_text())
    other = work / "elpv-rule.split.json"
    other.write_text(json.dumps({**split, "rule": "elpv"}))
    result = run_cli(["evaluate", bundle, "--data", dataset, "--split", other], env, work)
    assert_one_line_error(result, str(other), "'elpv'", "stratified/defect_type")


def test_score_with_a_classifier_bundle_classifies(work, env, dataset, trained):
    bundle, _ = trained
    classify_out = work / "classify-rust.json"
    classified = run_cli(["classify", bundle, dataset / "rust", "--json", classify_out], env, work)
    assert classified.returncode == 0, str(classified)
    out = work / "scored-by-classifier"
    result = run_cli(["score", bundle, dataset / "rust", "--out", out], env, work)
    assert result.returncode == 0, str(result)
    assert json.loads((out / "classes.json").read_text()) == json.loads(classify_out.read_text())
    lines = result.stdout.strip().splitlines()
    assert lines[:-1] == classified.stdout.strip().splitlines()
    assert lines[-1] == f"classified {PER_CLASS} images; results in {out / 'classes.json'}"
    assert not (out / "scores.csv").exists()


def test_info_summarizes_a_classifier_bundle(work, env, trained):
    bundle, _ = trained
    result = run_cli(["info", bundle], env, work)
    assert result.returncode == 0, str(result)
    shown = json.loads(result.stdout)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert shown["kind"] == "classifier" and shown["class_names"] == sorted(CLASSES)
    assert shown["model"]["kind"] == "attention" and shown["backbone"]["name"] == "efficientnet_lite0"
    assert "history" not in shown["training"]
    assert shown["training"]["epochs_run"] == len(manifest["training"]["history"])
    assert shown["training"]["test"] == manifest["training"]["test"]
    assert shown["training"]["split"] == manifest["training"]["split"]


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (
            "train-classifier",
            [
                "--data",
                "--format",
                "--category",
                "--scheme",
                "--model",
                "--mode",
                "--epochs",
                "--loss",
                "--lr",
                "--backbone",
                "--weights",
                "--image-size",
                "--out",
                "--seed",
            ],
        ),
        ("classify", ["BUNDLE", "IMAGE_OR_DIR", "--json", "classes.json"]),
        ("evaluate", ["classifier", "--split", "train-classifier"]),
        ("score", ["classifier", "classes.json"]),
    ],
)
def test_help(command, options, env, work):
    result = run_cli([command, "--help"], {**env, "COLUMNS": "200"}, work)
    assert result.returncode == 0, str(result)
    for option in options:
        assert option.lower() in result.stdout.lower(), f"{option} missing from `{command} --help`"

"""End to end: train-classifier -> classify through the `defectlab` command line, on a tiny folder tree."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _e2e_cli_harness import assert_one_line_error, make_env, run_cli
from defectlab.data.imageio import save_image

CLASSES = {"good": (128, 128, 128), "rust": (190, 70, 30), "stain": (40, 60, 190)}
PER_CLASS = 6
TRAIN_ARGS = ["--format", "folder", "--model", "attention", "--weights", "random", "--image-size", "64",
              "--epochs", "8", "--lr", "3e-3"]


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
    wrong_scheme = run_cli(["train-classifier", "--data", dataset, *TRAIN_ARGS, "--scheme", "elpv_binary",
                            "--out", work / "elpv.bundle"], env, work)
    assert_one_line_error(wrong_scheme, "elpv_binary", "metadata 'proba'")
    assert not (work / "elpv.bundle").exists() and not (work / "elpv.bundle.split.json").exists()


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("train-classifier", ["--data", "--format", "--category", "--scheme", "--model", "--mode", "--epochs", "--loss",
                              "--lr", "--backbone", "--weights", "--image-size", "--out", "--seed"]),
        ("classify", ["BUNDLE", "IMAGE_OR_DIR", "--json"]),
    ],
)
def test_help(command, options, env, work):
    result = run_cli([command, "--help"], {**env, "COLUMNS": "200"}, work)
    assert result.returncode == 0, str(result)
    for option in options:
        assert option.lower() in result.stdout.lower(), f"{option} missing from `{command} --help`"

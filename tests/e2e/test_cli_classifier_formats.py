"""End to end: NEU 6-class and MVTec defect-type classification through train-classifier, classify,
evaluate, score and info, on tiny synthetic datasets in those layouts (small CNN, one epoch, 32 px)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _e2e_cli_harness import make_env, run_cli
from PIL import Image

from defectlab.data.neu import NEU_CLASSES
from defectlab.data.synth_defects import DEFECT_TYPES

TRAIN_ARGS = ["--model", "smallcnn", "--epochs", "1", "--image-size", "32", "--scheme", "defect_type"]
PER_CLASS = 3  # the fewest a stratified split takes: one train, one val, one test image per class


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return make_env(tmp_path_factory.mktemp("feature-cache"))


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("classifier-formats")


def write_neu(root: Path) -> Path:
    """NEU layout: grayscale BMPs in one folder, class in the file name (crazing_1.bmp, ...)."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for level, name in enumerate(NEU_CLASSES):
        for index in range(1, PER_CLASS + 1):
            pixels = np.clip(30 * level + rng.integers(0, 60, (40, 40)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / f"{name}_{index}.bmp")
    return root


@pytest.fixture(scope="module", params=["neu", "mvtec"])
def case(request, work, env):
    """(format options, class names, test image folder, bundle, train result) of one trained dataset."""
    fmt = request.param
    if fmt == "neu":
        data = write_neu(work / "neu")
        options = ["--data", data, "--format", "neu"]
        classes, images = sorted(NEU_CLASSES), data
    else:
        data = work / "mvtec"
        made = run_cli(
            [
                "synth",
                data,
                "--categories",
                "texture",
                "--n-train",
                str(PER_CLASS),
                "--n-test-good",
                str(PER_CLASS),
                "--n-defect",
                str(PER_CLASS),
                "--size",
                "32",
            ],
            env,
            work,
        )
        assert made.returncode == 0, str(made)
        options = ["--data", data, "--format", "mvtec", "--category", "texture"]
        classes, images = sorted(["good", *DEFECT_TYPES]), data / "texture" / "test"
    bundle = work / f"{fmt}.bundle"
    result = run_cli(["train-classifier", *options, *TRAIN_ARGS, "--out", bundle], env, work)
    assert result.returncode == 0, str(result)
    return options, classes, images, bundle, result


def test_train_classifier_learns_every_class(case):
    options, classes, _, bundle, result = case
    n_classes = len(classes)
    # one train, val and test image per class; MVTec's "good" class also holds the PER_CLASS train/good images
    n_train = n_classes + (PER_CLASS if "mvtec" in options else 0)
    assert f"on {n_train} images" in result.stdout
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["kind"] == "classifier" and manifest["class_names"] == classes
    assert manifest["model"]["config"]["num_classes"] == n_classes
    training = manifest["training"]
    assert (training["n_train"], training["n_val"], training["n_test"]) == (n_train, n_classes, n_classes)


def test_classify_and_score_agree(case, work, env):
    _, classes, images, bundle, _ = case
    classified_json = work / f"{bundle.stem}-classes.json"
    classified = run_cli(["classify", bundle, images, "--json", classified_json], env, work)
    assert classified.returncode == 0, str(classified)
    rows = json.loads(classified_json.read_text())
    assert len(rows) == len(classified.stdout.strip().splitlines()) > 0
    for row in rows:
        assert row["class"] in classes and set(row["probabilities"]) == set(classes)
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    out = work / f"{bundle.stem}-scored"
    scored = run_cli(["score", bundle, images, "--out", out], env, work)
    assert scored.returncode == 0, str(scored)
    assert json.loads((out / "classes.json").read_text()) == rows


def test_evaluate_reuses_the_split_and_matches_training(case, work, env):
    options, classes, _, bundle, _ = case
    out = work / f"{bundle.stem}-metrics.json"
    result = run_cli(["evaluate", bundle, *options, "--json", out], env, work)
    assert result.returncode == 0, str(result)
    metrics = json.loads(out.read_text())
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert metrics["classes"] == classes and metrics["n_test"] == len(classes)
    assert metrics["accuracy"] == pytest.approx(manifest["training"]["test"]["accuracy"])
    assert metrics["macro_f1"] == pytest.approx(manifest["training"]["test"]["macro_f1"])
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.shape == (len(classes), len(classes))
    assert confusion.sum(axis=1).tolist() == [1] * len(classes)  # one test image per class
    assert [metrics["per_class"][name]["predicted"] for name in classes] == confusion.sum(axis=0).tolist()
    assert f"on {len(classes)} test images" in result.stdout


def test_info_describes_the_bundle(case, work, env):
    _, classes, _, bundle, _ = case
    result = run_cli(["info", bundle], env, work)
    assert result.returncode == 0, str(result)
    shown = json.loads(result.stdout)
    assert shown["class_names"] == classes and shown["model"]["kind"] == "smallcnn"
    assert shown["backbone"] is None and shown["training"]["epochs_run"] == 1


def test_causal_classifier_trains_classifies_and_evaluates_through_the_cli(work, env):
    data = work / "neu-causal"
    write_neu(data)
    bundle = work / "causal.bundle"
    options = ["--data", data, "--format", "neu"]
    trained = run_cli(
        [
            "train-classifier",
            *options,
            "--model",
            "causal",
            "--weights",
            "random",
            "--image-size",
            "32",
            "--epochs",
            "2",
            "--scheme",
            "defect_type",
            "--parts",
            "backdoor,counterfactual,reweight",
            "--out",
            bundle,
        ],
        env,
        work,
    )
    assert trained.returncode == 0, str(trained)
    manifest = json.loads((bundle / "manifest.json").read_text())
    config = manifest["model"]["config"]
    assert manifest["model"]["kind"] == "causal"
    assert (config["backdoor"], config["counterfactual"], config["reweight"]) == (True, True, True)
    assert manifest["training"]["strata"]["source"] == "discovered"
    assert config["num_strata"] == len(manifest["training"]["strata"]["names"])
    classified = run_cli(["classify", bundle, data], env, work)
    assert classified.returncode == 0, str(classified)
    assert len(classified.stdout.strip().splitlines()) == len(NEU_CLASSES) * PER_CLASS
    evaluated = run_cli(["evaluate", bundle, *options, "--json", work / "causal-eval.json"], env, work)
    assert evaluated.returncode == 0, str(evaluated)
    assert json.loads((work / "causal-eval.json").read_text())["n_test"] == len(NEU_CLASSES)
    bad = run_cli(["train-classifier", *options, "--model", "causal", "--parts", "magic", "--out", work / "x"], env, work)
    assert bad.returncode == 2 and "causal parts must be some of" in bad.stderr

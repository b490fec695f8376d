"""Bad input through the `defectlab` command line.

Every failure exits 2 with one `defectlab: error: ...` line naming the file or option at fault,
no traceback (unless --debug), and leaves nothing half-written: no bundle folder, no split file,
no metrics JSON, no scores.csv.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from _e2e_cli_harness import assert_one_line_error, make_env, run_cli
from PIL import Image

SYNTH_ARGS = ["--categories", "texture", "--n-train", "16", "--n-test-good", "6", "--n-defect", "3", "--size", "96"]
FAST = ["--image-size", "96", "--weights", "random"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return make_env(tmp_path_factory.mktemp("feature-cache"))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, env) -> Path:
    work = tmp_path_factory.mktemp("bad-input-data")
    root = work / "synthetic"
    result = run_cli(["synth", root, *SYNTH_ARGS], env, work)
    assert result.returncode == 0, str(result)
    return root


@pytest.fixture
def copy(dataset, tmp_path):
    """A fresh copy of the synthetic dataset to break."""

    def make() -> Path:
        root = tmp_path / "data"
        shutil.copytree(dataset, root)
        return root

    return make


def train_good(root: Path) -> Path:
    return root / "texture" / "train" / "good"


def fit(root: Path, tmp_path: Path, env, *extra: object, out: Path | None = None):
    out = out or tmp_path / "model.bundle"
    args = ["fit", "--data", root, "--category", "texture", "--out", out, *FAST, *extra]
    return run_cli(args, env, tmp_path), out


def assert_nothing_written(out: Path) -> None:
    assert not out.exists(), f"{out} exists after a failed fit"
    split = out.with_name(f"{out.name}.split.json")
    assert not split.exists(), f"{split} left behind by a failed fit"
    stray = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    assert not stray, f"temporary files left behind: {stray}"


# --- dataset folders -------------------------------------------------------------------------


def test_missing_data_folder(tmp_path, env):
    missing = tmp_path / "no-such-folder"
    result, out = fit(missing, tmp_path, env)
    assert_one_line_error(result, str(missing), "not found")
    assert_nothing_written(out)


def test_empty_data_folder(tmp_path, env):
    empty = tmp_path / "empty"
    empty.mkdir()
    result, out = fit(empty, tmp_path, env)
    assert_one_line_error(result, str(empty / "texture"), "'texture' not found")
    assert_nothing_written(out)


def test_unknown_category_lists_the_ones_present(dataset, tmp_path, env):
    result = run_cli(["fit", "--data", dataset, "--category", "nope", "--out", tmp_path / "b", *FAST], env, tmp_path)
    assert_one_line_error(result, "'nope'", "texture")
    assert_nothing_written(tmp_path / "b")


def test_category_without_training_images(copy, tmp_path, env):
    root = copy()
    for path in train_good(root).iterdir():
        path.unlink()
    result, out = fit(root, tmp_path, env)
    assert_one_line_error(result, "no training images", str(train_good(root)))
    assert_nothing_written(out)


# --- unreadable files are errors naming the file ----------------------------------------------


def _random_bytes(path: Path, _: Path) -> None:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())


def _truncated(path: Path, good: Path) -> None:
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _zero_bytes(path: Path, _: Path) -> None:
    path.write_bytes(b"")


def _text(path: Path, _: Path) -> None:
    path.write_text("lot 42, line 3: all parts inspected\n")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_random_bytes, "not a recognised image"),
        (_truncated, "truncated"),
        (_zero_bytes, "empty"),
        (_text, "not a recognised image"),
    ],
    ids=["random-bytes", "truncated-png", "zero-byte", "text-renamed-png"],
)
def test_unreadable_training_image_is_an_error_naming_it(make, reason, copy, tmp_path, env):
    root = copy()
    bad = train_good(root) / "007_bad.png"
    make(bad, sorted(train_good(root).glob("*.png"))[0])
    result, out = fit(root, tmp_path, env)
    assert_one_line_error(result, str(bad), reason)
    assert_nothing_written(out)


def test_mask_of_the_wrong_size(copy, tmp_path, env):
    root = copy()
    mask = root / "texture" / "ground_truth" / "crack" / "001_mask.png"
    Image.new("L", (48, 40), 255).save(mask)
    result, out = fit(root, tmp_path, env)
    assert_one_line_error(result, str(mask), "48x40", "96x96")
    assert_nothing_written(out)


# --- unusual but valid images are read ---------------------------------------------------------


@pytest.fixture(scope="module")
def odd_images_bundle(dataset, tmp_path_factory, env):
    """Fit on train/good plus a 16-bit, an RGBA, a palette and a grayscale PNG."""
    work = tmp_path_factory.mktemp("odd-images")
    root = work / "data"
    shutil.copytree(dataset, root)
    folder = train_good(root)
    rgb = np.asarray(Image.open(sorted(folder.glob("*.png"))[0]).convert("RGB"))
    gray16 = rgb[..., 0].astype(np.uint16) * 257
    Image.fromarray(gray16).save(folder / "odd_16bit.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "RGBA").save(folder / "odd_rgba.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "odd_palette.png")
    Image.fromarray(rgb).convert("L").save(folder / "odd_gray.png")
    modes = {p.name: Image.open(p).mode for p in folder.glob("odd_*.png")}
    assert modes == {"odd_16bit.png": "I;16", "odd_rgba.png": "RGBA", "odd_palette.png": "P", "odd_gray.png": "L"}
    out = work / "model.bundle"
    result = run_cli(["fit", "--data", root, "--category", "texture", "--out", out, *FAST], env, work)
    return root, out, result, work


def test_16bit_rgba_palette_and_grayscale_images_fit(odd_images_bundle):
    root, out, result, work = odd_images_bundle
    assert result.returncode == 0, str(result)
    assert "fitted patchcore on 16 images" in result.stdout  # 80% of 20 train/good images
    assert (out / "manifest.json").is_file() and (out / "detector.safetensors").is_file()
    split = json.loads(out.with_name(f"{out.name}.split.json").read_text())
    used = set(split["train"]) | set(split["val"])
    for name in ("odd_16bit.png", "odd_rgba.png", "odd_palette.png", "odd_gray.png"):
        assert f"train/good/{name}" in used


def test_odd_images_can_be_scored(odd_images_bundle, env):
    root, bundle, _, work = odd_images_bundle
    images = sorted(train_good(root).glob("odd_*.png"))
    out = work / "odd-scores"
    result = run_cli(["score", bundle, *images, "--out", out], env, work)
    assert result.returncode == 0, str(result)
    rows = (out / "scores.csv").read_text().splitlines()[1:]
    assert len(rows) == 4 and len(list((out / "overlays").glob("*.png"))) == 4


# --- unknown names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "needles"),
    [
        ("--backbone", ("unknown backbone 'nope'", "efficientnet_lite0")),
    ],
)
def test_unknown_name(option, needles, dataset, tmp_path, env):
    result, out = fit(dataset, tmp_path, env, option, "nope")
    assert_one_line_error(result, *needles)
    assert_nothing_written(out)


@pytest.mark.parametrize(
    ("option", "choices"),
    [
        ("--detector", ("patchcore", "padim", "cae")),
        ("--format", ("mvtec", "folder", "neu", "severstal", "elpv")),
        ("--threshold", ("auto", "f1", "mean_std", "quantile")),
    ],
)
def test_bad_choice_fails_at_the_command_line_listing_the_choices(option, choices, dataset, tmp_path, env):
    result, out = fit(dataset, tmp_path, env, option, "nope")
    assert_one_line_error(result, f"Invalid value for '{option}'", "'nope'", *(f"'{choice}'" for choice in choices))
    assert_nothing_written(out)


def test_failed_fit_keeps_the_previous_bundle(odd_images_bundle, tmp_path, env, dataset):
    _, good, _, _ = odd_images_bundle
    out = tmp_path / "existing.bundle"
    shutil.copytree(good, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result, _ = fit(dataset, tmp_path, env, "--backbone", "nope", out=out)
    assert_one_line_error(result, "unknown backbone")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# --- bundles -----------------------------------------------------------------------------------


@pytest.fixture
def future_bundle(odd_images_bundle, tmp_path) -> Path:
    _, good, _, _ = odd_images_bundle
    bundle = tmp_path / "future.bundle"
    shutil.copytree(good, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["format_version"] = 999
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    shutil.copy(good.with_name(f"{good.name}.split.json"), bundle.with_name("future.bundle.split.json"))
    return bundle


@pytest.mark.parametrize("command", ["evaluate", "score", "info"])
def test_bundle_from_a_newer_format_version(command, future_bundle, dataset, tmp_path, env):
    outputs = {"evaluate": tmp_path / "metrics.json", "score": tmp_path / "scores", "info": None}
    args = {
        "evaluate": ["evaluate", future_bundle, "--data", dataset, "--category", "texture", "--json", outputs["evaluate"]],
        "score": ["score", future_bundle, dataset / "texture" / "test" / "good", "--out", outputs["score"]],
        "info": ["info", future_bundle],
    }[command]
    result = run_cli(args, env, tmp_path)
    assert_one_line_error(result, str(future_bundle), "version 999", "upgrade")
    assert result.stdout == ""
    if outputs[command] is not None:
        assert not outputs[command].exists()


@pytest.mark.parametrize("command", ["evaluate", "info"])
def test_folder_that_is_not_a_bundle(command, dataset, tmp_path, env):
    args = ["evaluate", dataset, "--data", dataset, "--category", "texture"] if command == "evaluate" else ["info", dataset]
    result = run_cli(args, env, tmp_path)
    assert_one_line_error(result, str(dataset), "not a defectlab bundle", "manifest.json")


def test_score_a_path_that_does_not_exist(odd_images_bundle, tmp_path, env):
    _, bundle, _, _ = odd_images_bundle
    missing = tmp_path / "nope.png"
    out = tmp_path / "scores"
    result = run_cli(["score", bundle, missing, "--out", out], env, tmp_path)
    assert_one_line_error(result, str(missing))
    assert not out.exists()


def test_score_a_corrupt_image(odd_images_bundle, tmp_path, env):
    _, bundle, _, _ = odd_images_bundle
    folder = tmp_path / "incoming"
    folder.mkdir()
    bad = folder / "cam1.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    out = tmp_path / "scores"
    result = run_cli(["score", bundle, folder, "--out", out], env, tmp_path)
    assert result.returncode == 2, str(result)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("defectlab: error: ")]
    assert len(errors) == 1 and str(bad) in errors[0], str(result)
    assert not (out / "scores.csv").exists()


# --- run configs -------------------------------------------------------------------------------


def _config(root: Path, tmp_path: Path, **changes) -> dict:
    config = {
        "output": str(tmp_path / "out"),
        "dataset": {"format": "mvtec", "root": str(root), "categories": ["texture"]},
        "features": {"image_size": 96, "weights": "random"},
        "detectors": ["patchcore"],
        "bootstrap": 50,
    }
    config.update(changes)
    return config


def _run(text: str, tmp_path: Path, env):
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return run_cli(["run", path], env, tmp_path), path


def test_run_config_that_is_not_valid_yaml(tmp_path, env):
    result, path = _run("dataset: {format: mvtec\n  root: [unclosed\ndetectors: [patchcore]\n", tmp_path, env)
    assert_one_line_error(result, str(path), "not valid YAML", "line 2")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("changes", "needles"),
    [
        ({"colour": "blue"}, ("colour: unknown key",)),
        ({"features": {"imagesize": 96}}, ("features.imagesize: unknown key", "image_size")),
        ({"dataset": {"format": "mvtec", "rooot": "x"}}, ("dataset.rooot: unknown key",)),
        ({"detectors": ["nope"]}, ("detectors.0.kind: 'nope' unknown",)),
        ({"dataset": {"format": "nope", "root": "x"}}, ("dataset.format: 'nope' unknown",)),
        ({"bootstrap": "lots"}, ("bootstrap: Input should be a valid integer", "'lots'")),
        (
            {"job": "benchmark"},
            ("job 'benchmark' unknown; valid: detection, robustness, classification, router, openset, suite",),
        ),
    ],
    ids=[
        "unknown-key",
        "unknown-features-key",
        "unknown-dataset-key",
        "unknown-detector",
        "unknown-format",
        "not-a-number",
        "unknown-job",
    ],
)
def test_run_config_with_bad_content(changes, needles, dataset, tmp_path, env):
    result, path = _run(yaml.safe_dump(_config(dataset, tmp_path, **changes)), tmp_path, env)
    assert_one_line_error(result, str(path), *needles)
    assert not (tmp_path / "out").exists()


def test_run_config_that_does_not_exist(tmp_path, env):
    missing = tmp_path / "missing.yaml"
    result = run_cli(["run", missing], env, tmp_path)
    assert_one_line_error(result, str(missing), "not found")


# --- usage errors and --debug (a fresh `python -m defectlab` each) ------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["fit", "--data", "x"], ("Missing option '--out'",)),
        (["fit", "--out", "x", "--image-size", "big"], ("'--image-size'",)),
        (["evaluate"], ("Missing argument 'BUNDLE'",)),
        (["fit", "--out", "x", "--colour", "red"], ("No such option: --colour",)),
        (["frobnicate"], ("No such command 'frobnicate'",)),
    ],
    ids=["missing-option", "bad-integer", "missing-argument", "unknown-option", "unknown-command"],
)
def test_usage_errors_are_one_line(args, needles, tmp_path, env):
    result = run_cli(args, env, tmp_path, spawn_process=True)
    assert_one_line_error(result, *needles)
    assert not (tmp_path / "x").exists()


def test_error_without_debug_has_no_traceback(tmp_path, env):
    # synth is the one command whose errors come before torch is imported: cheap as a fresh process
    result = run_cli(["synth", tmp_path / "d", "--categories", "texture,marble"], env, tmp_path, spawn_process=True)
    assert_one_line_error(result, "'marble'", "texture, object")
    assert not (tmp_path / "d").exists()


def test_debug_shows_the_traceback(tmp_path, env):
    args = ["--debug", "synth", tmp_path / "d", "--categories", "texture,marble"]
    result = run_cli(args, env, tmp_path, spawn_process=True)
    assert result.returncode == 1, str(result)
    assert result.stderr.startswith("Traceback (most recent call last)"), str(result)
    assert "defectlab.errors.ConfigError: synthetic category 'marble'" in result.stderr
    assert "defectlab: error:" not in result.stderr
    assert not (tmp_path / "d").exists()


def test_debug_traceback_for_a_fit_error(tmp_path, env):
    missing = tmp_path / "no-such-folder"
    args = ["--debug", "fit", "--data", missing, "--category", "texture", "--out", tmp_path / "b", *FAST]
    result = run_cli(args, env, tmp_path)
    assert result.returncode == 1, str(result)
    assert "Traceback (most recent call last)" in result.stderr
    assert f"defectlab.errors.DataError: MVTec root folder not found: {missing}" in result.stderr
    assert "defectlab: error:" not in result.stderr
    assert_nothing_written(tmp_path / "b")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["serve", "no/such/bundle"], "manifest.json is missing"),
        (["app", "no/such/bundle"], "manifest.json is missing"),
        (["serve", ".", "--workers", "0"], "--workers at least 1"),
        (["serve", ".", "--max-upload-mb", "-1"], "--max-upload-mb"),
    ],
)
def test_serve_and_app_refuse_bad_arguments_before_listening(args, needle, env, tmp_path) -> None:
    assert_one_line_error(run_cli(args, env, tmp_path), needle)

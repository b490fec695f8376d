"""`defectlab fit-openset` and `evaluate-openset` on a synthetic folder-tree dataset (good/ + defect folders)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _e2e_cli_harness import assert_one_line_error, make_env, run_cli

FAST = ["--image-size", "64", "--weights", "random", "--epochs", "3"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return make_env(tmp_path_factory.mktemp("feature-cache"))


@pytest.fixture(scope="module")
def folder_tree(tmp_path_factory, env) -> Path:
    """MVTec synthetic data rearranged as a folder tree: good/ plus one folder per defect type."""
    work = tmp_path_factory.mktemp("openset-cli")
    synth = [
        "synth",
        work / "mvtec",
        "--categories",
        "texture",
        "--n-train",
        "16",
        "--n-test-good",
        "6",
        "--n-defect",
        "10",
        "--size",
        "64",
    ]
    assert run_cli(synth, env, work).returncode == 0
    root = work / "tree"
    shutil.copytree(work / "mvtec" / "texture" / "train" / "good", root / "good")
    for folder in (work / "mvtec" / "texture" / "test").iterdir():
        target = root / folder.name
        target.mkdir(parents=True, exist_ok=True)
        for image in folder.iterdir():
            shutil.copy(image, target / f"test_{image.name}")
    return root


def test_fit_and_evaluate_openset(folder_tree: Path, env, tmp_path: Path) -> None:
    out = tmp_path / "models" / "osr"
    fit = run_cli(["fit-openset", "--data", folder_tree, "--known", "scratch,crack,spot", "--out", out, *FAST], env, tmp_path)
    assert fit.returncode == 0, str(fit)
    assert "unknown ['hole', 'stain']" in fit.stdout
    assert sorted(p.name for p in out.iterdir()) == ["classifier", "heads.safetensors", "manifest.json", "stage1"]
    assert out.with_name("osr.split.json").is_file()
    result = run_cli(["evaluate-openset", out, "--json", tmp_path / "osr.json"], env, tmp_path)
    assert result.returncode == 0, str(result)
    summary = json.loads((tmp_path / "osr.json").read_text())
    assert summary["known"] == ["scratch", "crack", "spot"] and summary["unknown"] == ["hole", "stain"]
    for approach in ("one_stage", "cascade_whole", "cascade_localized"):
        for method in ("mahalanobis", "msp", "max_logit", "energy"):
            values = summary["results"][approach][method]
            assert all(
                0 <= values[k] <= 1
                for k in ("closed_set_accuracy", "known_unknown_auroc", "oscr", "fpr_at_95_tpr", "macro_f1_with_unknown")
            )
    info = json.loads(run_cli(["info", out], env, tmp_path).stdout)
    assert info["kind"] == "openset" and info["known"] == ["scratch", "crack", "spot"]
    assert info["localized"]["region_model"] is False  # a folder tree without masks/: the anomaly map alone
    assert "the anomaly map alone localizes" in fit.stdout
    # the generic commands take an open-set bundle too: `evaluate` answers what `evaluate-openset` does
    generic = run_cli(["evaluate", out, "--json", tmp_path / "generic.json"], env, tmp_path)
    assert generic.returncode == 0, str(generic)
    assert json.loads((tmp_path / "generic.json").read_text()) == summary
    images = folder_tree / "scratch"
    scored = run_cli(["score", out, images, "--out", tmp_path / "scored"], env, tmp_path)
    assert scored.returncode == 0, str(scored)
    rows = json.loads((tmp_path / "scored" / "classes.json").read_text())
    assert len(rows) == len(list(images.iterdir())) and scored.stdout.splitlines()[-1].startswith(
        f"classified {len(rows)} images"
    )
    for row in rows:
        assert row["class"] in ("scratch", "crack", "spot", "no_defect", "unknown_defect")
        assert set(row["probabilities"]) == {"scratch", "crack", "spot"}
    classified = run_cli(["classify", out, images, "--json", tmp_path / "classes.json"], env, tmp_path)
    assert classified.returncode == 0, str(classified)
    assert json.loads((tmp_path / "classes.json").read_text()) == rows


def test_bad_openset_requests(folder_tree: Path, env, tmp_path: Path) -> None:
    args = ["fit-openset", "--data", folder_tree, "--out", tmp_path / "o", *FAST]
    assert_one_line_error(
        run_cli([*args, "--known", "scratch,dent"], env, tmp_path), "known classes ['dent'] are not in the data"
    )
    everything = "scratch,crack,spot,hole,stain"
    assert_one_line_error(run_cli([*args, "--known", everything], env, tmp_path), "leave at least one out")
    assert not (tmp_path / "o").exists()


def test_synth_steel_folder_layout_feeds_the_folder_reader(env, tmp_path: Path) -> None:
    from defectlab.data.folder import read_folder

    args = [
        "synth",
        tmp_path / "steel",
        "--kind",
        "steel",
        "--layout",
        "folder",
        "--n-defect",
        "2",
        "--n-good",
        "2",
        "--size",
        "64",
    ]
    result = run_cli(args, env, tmp_path)
    assert result.returncode == 0, str(result)
    samples = read_folder(tmp_path / "steel")
    assert sorted({s.defect_type for s in samples}) == sorted(
        ["good", "crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"]
    )
    assert all(s.mask is not None and s.mask.any() for s in samples if s.label == 1)
    wood = run_cli(["synth", tmp_path / "x", "--kind", "wood"], env, tmp_path)
    assert_one_line_error(wood, "Invalid value for '--kind'", "'wood'", "'mvtec'", "'steel'")

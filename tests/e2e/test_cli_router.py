"""`defectlab fit-router`, then `info`, `evaluate` and `score` on the routed bundle (synthetic MVTec data)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from _e2e_cli_harness import assert_one_line_error, make_env, run_cli

FAST = ["--image-size", "64", "--weights", "random"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return make_env(tmp_path_factory.mktemp("feature-cache"))


@pytest.fixture(scope="module")
def routed(tmp_path_factory, env) -> tuple[Path, Path, Path]:
    work = tmp_path_factory.mktemp("router")
    root = work / "data"
    synth = [
        "synth",
        root,
        "--categories",
        "texture,object",
        "--n-train",
        "20",
        "--n-test-good",
        "4",
        "--n-defect",
        "2",
        "--size",
        "64",
    ]
    assert run_cli(synth, env, work).returncode == 0
    out = work / "models" / "routed"
    result = run_cli(
        ["fit-router", "--data", root, "--detector", "patchcore", "--detectors", "object=cae", "--out", out, *FAST], env, work
    )
    assert result.returncode == 0, str(result)
    assert "fitted a router over 2 categories (object=cae, texture=patchcore)" in result.stdout
    return work, root, out


def test_fit_router_writes_bundle_and_splits(routed) -> None:
    _, _, out = routed
    assert sorted(p.name for p in (out / "categories").iterdir()) == ["object", "texture"]
    assert sorted(p.name for p in out.with_name("routed.splits").iterdir()) == ["object.json", "texture.json"]


def test_info_lists_categories_detectors_and_thresholds(routed, env) -> None:
    work, _, out = routed
    info = json.loads(run_cli(["info", out], env, work).stdout)
    assert info["kind"] == "routed"
    assert {k: v["detector"] for k, v in info["categories"].items()} == {"object": "cae", "texture": "patchcore"}
    assert all(v["threshold"]["value"] > 0 for v in info["categories"].values())
    assert set(info["router"]["limits"]) == {"object", "texture"}
    assert all(set(v) == {"distance"} and v["distance"] > 0 for v in info["router"]["limits"].values())


def test_evaluate_reports_routing_and_per_category_metrics(routed, env) -> None:
    work, root, out = routed
    result = run_cli(["evaluate", out, "--data", root, "--json", work / "eval.json"], env, work)
    assert result.returncode == 0, str(result)
    summary = json.loads((work / "eval.json").read_text())
    assert summary["routing_accuracy"] >= 0.8
    assert set(summary["per_category"]) == {"object", "texture"}
    assert set(summary["confusion"]["texture"]) == {"object", "texture", "unknown"}
    assert summary["confusion"]["texture"]["object"] == 0 and summary["confusion"]["object"]["texture"] == 0
    assert 0 <= summary["macro_image_auroc"] <= 1


def test_score_writes_categories(routed, env, tmp_path: Path) -> None:
    work, root, out = routed
    result = run_cli(
        ["score", out, root / "texture" / "test", root / "object" / "test" / "good", "--out", tmp_path / "s"], env, work
    )
    assert result.returncode == 0, str(result)
    rows = list(csv.DictReader(open(tmp_path / "s" / "scores.csv")))
    assert {r["category"] for r in rows} <= {"texture", "object", "unknown"}
    texture_rows = [r for r in rows if "/texture/" in r["path"]]
    assert sum(r["category"] == "texture" for r in texture_rows) >= 0.8 * len(texture_rows)
    assert all((tmp_path / "s" / r["overlay"]).is_file() for r in rows if r["category"] != "unknown")


def test_bad_router_requests(routed, env, tmp_path: Path) -> None:
    work, root, _ = routed
    one = run_cli(["fit-router", "--data", root, "--categories", "texture", "--out", tmp_path / "r", *FAST], env, tmp_path)
    assert_one_line_error(one, "at least two categories")
    bad = run_cli(["fit-router", "--data", root, "--detectors", "nothing=cae", "--out", tmp_path / "r", *FAST], env, tmp_path)
    assert_one_line_error(bad, "not routed: nothing")
    neu = run_cli(["fit-router", "--data", root, "--format", "neu", "--out", tmp_path / "r", *FAST], env, tmp_path)
    assert_one_line_error(neu, "no categories to route between")
    assert not (tmp_path / "r").exists()


def test_a_routed_bundle_has_no_exported_runtime(routed, env, tmp_path: Path) -> None:
    work, root, out = routed
    score = run_cli(["score", out, root / "texture" / "test", "--out", tmp_path / "s", "--runtime", "onnx"], env, work)
    assert_one_line_error(score, "routed (multi-category) bundle, which has no exported runtime: use --runtime torch")
    assert_one_line_error(run_cli(["export", out, "--format", "onnx"], env, work), "only anomaly-detector bundles export")
    assert not (tmp_path / "s").exists()

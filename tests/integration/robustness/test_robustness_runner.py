"""The robustness protocol runner on synthetic MVTec-format data: every phase, RI, caching, outputs."""

import csv
import json

import numpy as np
import pytest

from defectlab.backbones.cache import FeatureCache
from defectlab.data.synth import generate_synthetic_dataset
from defectlab.errors import ConfigError
from defectlab.experiments.jobs import job_config, load_job_config
from defectlab.experiments.robustness import run_robustness_job
from defectlab.experiments.robustness.study import robustness_index

PHASES = {
    "clean",
    "shift_no_adaptation",
    "shift_adapted",
    "few_shot",
    "global",
    "cross_domain",
    "cross_shift",
    "ablation",
    "severity",
}


def test_robustness_index():
    assert robustness_index(0.8, 1.0) == pytest.approx(0.8)
    assert robustness_index(None, 1.0) is None
    assert robustness_index(0.5, 0.0) is None


def _raw(tmp_path, **overrides):
    return {
        "job": "robustness",
        "output": str(tmp_path / "out"),
        "dataset": {"format": "mvtec", "root": str(tmp_path / "data"), "categories": ["texture", "object"]},
        "detectors": ["patchcore", "padim"],
        "detector_params": {"padim": {"n_features": 24}},
        "features": {"image_size": 64, "weights": "random"},
        "shifts": [{"corruption": "gaussian_noise", "severity": 5}, {"preset": "mvtec-shift"}],
        "few_shot": {"shift": {"preset": "mvtec-shift"}, "k": [1, 3]},
        "global_model": True,
        "cross_domain": {"k": [2], "fraction": 0.5},
        "cross_shift": True,
        "ablations": {
            "coreset_ratio": [0.1],
            "aggregation": ["max"],
            "layers": [["blocks.2"]],
            "shifts": [{"preset": "mvtec-shift-photometric"}],
        },
        "severity": {"corruptions": ["brightness"], "levels": [1, 5], "categories": ["texture"]},
        "embeddings": {"shift": {"preset": "mvtec-shift"}, "per_image": 4, "method": "pca"},
        "gallery": 2,
        "bootstrap": 20,
        **overrides,
    }


def _config(tmp_path, **overrides):
    return job_config(_raw(tmp_path, **overrides), tmp_path / "cfg.yaml")[1]


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory, one_torch_thread):
    tmp_path = tmp_path_factory.mktemp("robustness")
    generate_synthetic_dataset(
        tmp_path / "data", ("texture", "object"), n_train=10, n_test_good=4, n_test_defect_per_type=2, size=64, seed=3
    )
    logs: list[str] = []
    study = run_robustness_job(_config(tmp_path), log=logs.append, cache=FeatureCache(tmp_path / "features"))
    return tmp_path, study, logs


def test_every_phase_is_recorded(study_dir):
    tmp_path, study, logs = study_dir
    records = [e.record for e in study.evaluations]
    assert {r["phase"] for r in records} == PHASES
    assert {r["category"] for r in records if r["phase"] == "severity"} == {"texture"}
    assert len({r["id"] for r in records}) == len(records)
    assert any(line.startswith("[1/") for line in logs)  # per-phase progress
    total = len(study.timer.steps)
    assert any(line.startswith(f"[{total}/{total}]") for line in logs)  # the announced count is exact
    timings = json.loads((tmp_path / "out" / "results.json").read_text())["timings"]
    assert [s["step"] for s in timings["steps"]] == [s["step"] for s in study.timer.steps]
    assert all(s["seconds"] >= 0 for s in timings["steps"]) and timings["total_seconds"] > 0
    for r in records:
        assert 0.0 <= r["metrics"]["image_auroc"] <= 1.0
        assert r["metrics"]["pixel_auroc"] is not None and r["metrics"]["aupro"] is not None
        low, high = r["intervals"]["image_auroc"]
        assert low <= r["metrics"]["image_auroc"] <= high
        assert (tmp_path / "out" / r["arrays"]).is_file()


def test_robustness_index_is_against_the_clean_model(study_dir):
    _, study, _ = study_dir
    records = [e.record for e in study.evaluations]
    clean = {(r["category"], r["detector"]): r["metrics"] for r in records if r["phase"] == "clean"}
    for r in records:
        if r["phase"] in ("shift_no_adaptation", "shift_adapted", "few_shot", "global", "cross_domain", "severity"):
            for metric, value in r["metrics"].items():
                expected = value / clean[r["category"], r["detector"]][metric]
                assert r["ri"][metric] == pytest.approx(expected)
        if r["phase"] == "clean":
            assert all(v is None for v in r["ri"].values())


def test_few_shot_and_cross_domain_variants(study_dir):
    _, study, _ = study_dir
    records = [e.record for e in study.evaluations]
    few = {(r["category"], r["detector"], r["variant"]["k"]) for r in records if r["phase"] == "few_shot"}
    assert few == {(c, d, k) for c in ("texture", "object") for d in ("patchcore", "padim") for k in (1, 3)}
    cross = [r for r in records if r["phase"] == "cross_domain"]
    assert {(r["variant"]["source"], r["variant"]["target"]) for r in cross} == {("texture", "object"), ("object", "texture")}
    assert {r["variant"]["k"] for r in cross} == {0, 2, 4}  # fraction 0.5 of the 8 normals the split trains on
    shifts = {(r["variant"]["train_shift"], r["variant"]["test_shift"]) for r in records if r["phase"] == "cross_shift"}
    assert shifts == {("gaussian_noise@5", "mvtec-shift"), ("mvtec-shift", "gaussian_noise@5")}


def test_results_json_and_csv_follow_the_contract(study_dir):
    tmp_path, study, _ = study_dir
    out = tmp_path / "out"
    record = json.loads((out / "results.json").read_text())
    assert record["job"] == "robustness" and record["seed"] == 42 and "torch" in record["versions"]
    assert record["config"]["detectors"] == ["patchcore", "padim"]
    assert len(record["evaluations"]) == len(study.evaluations)
    pairs = record["comparisons"]
    assert pairs and all(c["method"] == "delong" and 0.0 <= c["p_value"] <= 1.0 for c in pairs)
    assert {(c["a"], c["b"]) for c in pairs} == {("patchcore", "padim")}
    with np.load(out / "arrays" / f"{record['evaluations'][0]['id']}.npz") as arrays:
        assert {"labels", "scores", "normalized", "threshold", "ids", "defect_type", "defect_area", "defect_region"} <= set(
            arrays.files
        )
        assert np.all((arrays["normalized"] >= 0) & (arrays["normalized"] <= 1))
    with open(out / "robustness.csv") as fh:
        assert len(list(csv.DictReader(fh))) == len(study.evaluations)
    assert (out / "embeddings" / "texture.npz").is_file()
    assert any(e.record["gallery"] for e in study.evaluations)
    assert (out / "report.html").is_file() and (out / "splits" / "texture.json").is_file()


def test_rerun_reuses_the_cached_models(study_dir, monkeypatch):
    tmp_path, study, _ = study_dir
    from defectlab.experiments.robustness import study as study_module

    def no_fit(*args, **kwargs):
        raise AssertionError("a cached model was refitted")

    monkeypatch.setattr(study_module, "fit_bundle", no_fit)
    config = _config(tmp_path, few_shot=None, cross_domain=None, ablations=None, severity=None, embeddings=None)
    again = run_robustness_job(config, log=lambda _: None, cache=FeatureCache(tmp_path / "features"))
    first = {e.record["id"]: e.record["metrics"] for e in study.evaluations}
    for e in again.evaluations:
        assert e.record["metrics"] == pytest.approx(first[e.record["id"]])


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"shifts": []}, "at least one shift"),
        ({"shifts": [{"corruption": "warp"}]}, "unknown corruption"),
        ({"shifts": [{"preset": "mvtec-shift", "corruption": "hflip"}]}, "exactly one"),
        ({"shifts": [{"corruption": "hflip", "severity": 9}]}, "severity"),
        ({"detectors": ["nope"]}, "detector"),
        ({"typo": 1}, "unknown key"),
        ({"few_shot": {"shift": {"preset": "mvtec-shift"}, "k": [0]}}, "positive integers"),
        ({"cross_domain": {"k": [1], "fraction": 2}}, "fraction"),
        ({"ablations": {"aggregation": ["median"]}}, "aggregation"),
        ({"severity": {"corruptions": ["warp"]}}, "severity.corruptions"),
        ({"severity": {"corruptions": ["hflip"], "levels": [6]}}, "1..5"),
        ({"embeddings": {"shift": {"preset": "mvtec-shift"}, "method": "umap"}}, "tsne or pca"),
        ({"ablations": {"aggregation": ["max"], "categories": ["cable"]}}, "ablations.categories"),
        ({"adapt_draws": 0}, "adapt_draws"),
        ({"severity": {"corruptions": ["hflip"], "categories": "texture"}}, "severity.categories"),
    ],
)
def test_config_errors(tmp_path, overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        _config(tmp_path, **overrides)


def test_cross_domain_needs_two_categories(tmp_path):
    dataset = {"format": "mvtec", "root": str(tmp_path), "categories": ["texture"]}
    with pytest.raises(ConfigError, match="two categories"):
        _config(tmp_path, dataset=dataset)


def test_job_of_a_config_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("job: robustness\nshifts: []\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: dataset: required"):
        load_job_config(path)
    path.write_text(": : not yaml [")
    with pytest.raises(ConfigError, match=r"c\.yaml is not valid YAML \(line 1, column 1\)"):
        load_job_config(path)


@pytest.mark.parametrize("name", ["robustness.yaml", "robustness-full.yaml"])
def test_shipped_configs_are_valid(name):
    from pathlib import Path

    path = Path(__file__).parents[3] / "configs" / name
    job, config = load_job_config(path)
    assert job.name == "robustness" and config.dataset.categories == ("mono", "poly") and config.dataset.format == "elpv"
    assert config.few_shot and config.cross_domain and config.global_model and config.cross_shift and config.severity


def test_extra_draws_are_further_seeded_copies_of_the_training_normals(study_dir):
    from defectlab.backbones.cache import image_digest
    from defectlab.experiments.robustness.config import ShiftSpec
    from defectlab.experiments.robustness.study import Study

    tmp_path, _, _ = study_dir
    spec = ShiftSpec(preset="mvtec-shift")
    study = Study(_config(tmp_path, adapt_draws=3), log=lambda _: None)
    normals = study.clean("texture").train_normals
    draws = study.extra_draws("texture", spec)
    assert len(draws) == 2 * len(normals) and len({s.id for s in draws}) == len(draws)
    first = {image_digest(s.image) for s in study.shifted("texture", spec).train_normals}
    digests = [image_digest(s.image) for s in draws]
    assert not first & set(digests) and len(set(digests)) == len(digests)
    assert digests == [image_digest(s.image) for s in study.extra_draws("texture", spec)]  # deterministic
    assert Study(_config(tmp_path), log=lambda _: None).extra_draws("texture", spec) == []

"""The open-set study end to end on a tiny synthetic MVTec-format category (random-weight backbone, 64 px)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from defectlab.cli.main import app
from defectlab.data.synth import generate_synthetic_dataset
from defectlab.errors import ConfigError, DataError
from defectlab.experiments.jobs import load_job_config
from defectlab.experiments.openset.runner import run_openset_job
from defectlab.pipelines.openset import METHODS


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return generate_synthetic_dataset(
        tmp_path_factory.mktemp("openset"),
        categories=("texture",),
        n_train=20,
        n_test_good=6,
        n_test_defect_per_type=10,
        size=64,
        seed=5,
    )


def write_config(tmp: Path, dataset: Path, **overrides) -> Path:
    raw = {
        "job": "openset",
        "name": "T",
        "known": ["scratch", "crack", "spot"],
        "unknown": ["hole", "stain"],
        "data": {"format": "mvtec", "root": str(dataset), "category": "texture"},
        "output": str(tmp / "out"),
        "image_size": 64,
        "weights": "random",
        "classifier": {"image_size": 64, "epochs": 3, "patience": 2},
        "stage1": {"detector": "patchcore", "params": {"coreset_ratio": 0.2}},
    }
    raw.update(overrides)
    path = tmp / "split.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_split_runs_end_to_end(dataset: Path, tmp_path: Path) -> None:
    _, config = load_job_config(write_config(tmp_path, dataset))
    payload = run_openset_job(config, log=lambda _: None)
    out = tmp_path / "out" / "T"
    for sub in (
        "classifier/history.json",
        "embeddings/test.npz",
        "osr/scores.csv",
        "cascade/outcomes.csv",
        "results.json",
        "split.json",
        "report.html",
        "plots/oscr.png",
        "plots/confusion_cascade_localized.png",
        "tables/openset_metrics.csv",
    ):
        assert (out / sub).is_file(), sub
    metrics = json.loads((out / "results.json").read_text())
    assert metrics["job"] == "openset" and metrics["seed"] == 42 and metrics["timings"]["steps"]
    assert set(metrics["results"]) == {"one_stage", "cascade_whole", "cascade_localized"}
    for approach in metrics["results"].values():
        for method in (*METHODS, "mahalanobis+kappa"):
            values = approach[method]
            for key in ("closed_set_accuracy", "known_unknown_auroc", "oscr", "fpr_at_95_tpr", "macro_f1_with_unknown"):
                assert 0.0 <= values[key] <= 1.0
    assert payload["sizes"]["test_normal"] > 0 and payload["stage1_threshold"] > 0
    assert metrics["localization"] == "learned defect region x anomaly map"  # MVTec data have masks
    assert metrics["decision_method"] == "vim"  # the default decision score
    assert "OSCR curves (ViM)" in (out / "report.html").read_text()
    outcomes = list(csv.DictReader(open(out / "cascade" / "outcomes.csv")))
    assert {r["truth"] for r in outcomes} == {"scratch", "crack", "spot", "unknown_defect", "no_defect"}
    assert {r["cascade_localized"] for r in outcomes} <= {"scratch", "crack", "spot", "unknown_defect", "no_defect"}
    assert all(r["one_stage"] != "no_defect" for r in outcomes)  # only the cascade has a gate
    (out / "report.html").unlink()
    result = CliRunner().invoke(app, ["report", str(out)])  # `defectlab report` rebuilds a split's page
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out / "report.html") and (out / "report.html").is_file()
    summary = list(csv.DictReader(open(tmp_path / "out" / "summary.csv")))
    assert {r["split"] for r in summary} == {"T"} and len(summary) == 3 * (len(METHODS) + 1)  # + the kappa row
    split = json.loads((out / "split.json").read_text())
    assert not set(split["test"]) & set(split["train"]) and split["seed"] == 42
    again = run_openset_job(config, log=lambda _: None)  # the stored split is reused; same figures
    assert again["results"]["cascade_localized"]["mahalanobis"] == pytest.approx(
        payload["results"]["cascade_localized"]["mahalanobis"]
    )


def test_bad_splits(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"both known and unknown"):
        load_job_config(write_config(tmp_path, dataset, unknown=["hole", "crack"]))
    with pytest.raises(ConfigError, match=r"k\.yaml: known: required"):
        raw = yaml.safe_load(write_config(tmp_path, dataset).read_text())
        del raw["known"]
        (tmp_path / "k.yaml").write_text(yaml.safe_dump(raw))
        load_job_config(tmp_path / "k.yaml")
    with pytest.raises(ConfigError, match=r"split\.yaml: stage1\.detektor: unknown key"):
        load_job_config(write_config(tmp_path, dataset, stage1={"detektor": "padim"}))
    with pytest.raises(ConfigError, match="method 'entropy' unknown"):
        load_job_config(write_config(tmp_path, dataset, method="entropy"))
    _, config = load_job_config(write_config(tmp_path, dataset, unknown=["hole", "dent"]))
    with pytest.raises(DataError, match=r"classes \['dent'\] have no images"):
        run_openset_job(config, log=lambda _: None)

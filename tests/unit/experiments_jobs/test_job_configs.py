"""Job configs as models: every shipped config valid, unknown keys refused with their dotted path, one split rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from defectlab.backbones.extractor import FeatureConfig
from defectlab.config.dataset import DatasetConfig
from defectlab.data.formats import FORMATS
from defectlab.data.splits import default_split_rule
from defectlab.errors import ConfigError
from defectlab.experiments.jobs import REGISTRY, job_config, load_job_config

CONFIGS = sorted((Path(__file__).resolve().parents[3] / "configs").glob("*.yaml"))
DETECTION = {"dataset": {"format": "mvtec", "root": "data"}, "detectors": ["patchcore"]}
ROBUSTNESS = {"job": "robustness", "dataset": {"format": "elpv"}, "shifts": [{"preset": "mvtec-shift"}]}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_is_valid(path: Path) -> None:
    job, config = load_job_config(path)
    assert job.name in REGISTRY and isinstance(config, job.config_model)


def test_unknown_key_is_refused_with_its_dotted_path() -> None:
    raw = {**DETECTION, "features": {"image_size": 64, "pool_sise": 3}}
    with pytest.raises(ConfigError) as info:
        job_config(raw, "configs/x.yaml")
    assert str(info.value) == (
        "configs/x.yaml: features.pool_sise: unknown key (valid: backbone, layers, image_size, pool_size, weights)"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({**ROBUSTNESS, "shifts": [{"preset": "mvtec-shift", "severty": 2}]}, r"r\.yaml: shifts\.0\.severty: unknown key"),
        ({**ROBUSTNESS, "few_shot": {"shift": {"preset": "mvtec-shift"}, "kk": [1]}}, r"r\.yaml: few_shot\.kk: unknown key"),
        ({**ROBUSTNESS, "dataset": {"format": "elpv", "split": "elpv"}}, r"r\.yaml: dataset\.split: unknown key"),
        ({**ROBUSTNESS, "features": {"image_size": "big"}}, r"r\.yaml: features\.image_size: Input should be a valid integer"),
        ({"job": "robustness"}, r"r\.yaml: dataset: required; shifts: required"),
        (
            {**ROBUSTNESS, "gallary": 3, "seed": "x", "few_shot": {"k": [1], "sift": {}}},
            r"r\.yaml: few_shot\.sift: unknown key \(valid: shift, k\); gallary: unknown key \(valid: output, .*\); "
            r"few_shot\.shift: required; seed: Input should be a valid integer",
        ),
    ],
)
def test_nested_problems_name_their_path(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        job_config(raw, "r.yaml")


def test_pool_size_is_a_feature_key_of_every_job() -> None:
    features = {"image_size": 96, "pool_size": 5, "weights": "random"}
    _, detection = job_config({**DETECTION, "features": features}, "d.yaml")
    _, robustness = job_config({**ROBUSTNESS, "features": features}, "r.yaml")
    _, router = job_config({"job": "router", "features": features}, "router.yaml")
    expected = FeatureConfig(image_size=96, pool_size=5, weights="random")
    assert detection.features == robustness.features == router.features == expected


@pytest.mark.parametrize("job", [DETECTION, ROBUSTNESS], ids=["detection", "robustness"])
def test_a_folder_format_run_config_is_accepted(job: dict) -> None:
    _, config = job_config({**job, "dataset": {"format": "folder", "root": "images"}}, "folder.yaml")
    assert config.dataset.format == "folder" and config.dataset.split_rule == "elpv"
    assert config.dataset.categories == (None,) and config.output == Path("outputs/folder")


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_default_split_rule_per_format(fmt: str) -> None:
    assert default_split_rule(fmt) == ("mvtec" if fmt == "mvtec" else "elpv")
    assert DatasetConfig(format=fmt).split_rule == default_split_rule(fmt)


def test_dataset_categories_and_an_explicit_rule() -> None:
    _, config = job_config({**DETECTION, "dataset": {"format": "elpv", "categories": "mono", "split_rule": "mvtec"}}, "d.yaml")
    assert config.dataset.categories == ("mono",) and config.dataset.split_rule == "mvtec"
    with pytest.raises(ConfigError, match=r"d\.yaml: dataset\.split_rule: 'random' unknown; valid: elpv, calibrated, mvtec"):
        job_config({**DETECTION, "dataset": {"format": "elpv", "split_rule": "random"}}, "d.yaml")


def test_detection_defaults_come_from_the_file_name() -> None:
    _, config = job_config(DETECTION, "configs/nightly.yaml")
    assert config.name == "nightly" and config.output == Path("outputs/nightly")
    assert [d.kind for d in config.detectors] == ["patchcore"] and config.detectors[0].params == {}


def test_config_files_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_job_config(tmp_path / "absent.yaml")
    listed = tmp_path / "list.yaml"
    listed.write_text("- job\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_job_config(listed)

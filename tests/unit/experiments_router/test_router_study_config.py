"""The `job: router` config: defaults, the shipped config, and clear errors for bad keys and values."""

from __future__ import annotations

from pathlib import Path

import pytest

from defectlab.errors import ConfigError
from defectlab.experiments.jobs import job_config, load_job_config
from defectlab.experiments.router_study.config import RouterStudyConfig

SHIPPED = Path(__file__).resolve().parents[3] / "configs" / "router.yaml"


def load(raw: dict) -> RouterStudyConfig:
    return job_config({"job": "router", **raw}, "c.yaml")[1]


def test_shipped_config_is_the_default_study() -> None:
    job, cfg = load_job_config(SHIPPED)
    assert job.name == "router"
    assert cfg == RouterStudyConfig(output=Path("outputs/router"))
    assert cfg.category_names == ["elpv-mono", "elpv-poly", "synth-texture-a", "synth-texture-b", "synth-object"]
    assert cfg.unknown_trials == cfg.category_names
    assert cfg.params("cae") == {"seed": 42} and cfg.params("padim") == {"seed": 42}


def test_values_are_parsed() -> None:
    cfg = load(
        {
            "elpv": "mono",
            "features": {"image_size": 64, "weights": "random", "layers": ["blocks.2"]},
            "synthetic": {"categories": {"a": "texture", "b": "object"}, "n_train": 10},
            "detectors": ["padim"],
            "detector_params": {"padim": {"n_features": 20}},
            "router": {"accept": 0.95},
            "held_out": ["a"],
        },
    )
    assert cfg.elpv == ("mono",) and cfg.features.layers == ("blocks.2",) and cfg.synthetic.n_train == 10
    assert cfg.params("padim") == {"seed": 42, "n_features": 20}
    assert cfg.make_router().accept == 0.95
    assert cfg.unknown_trials == ["a"]


def test_too_few_categories_for_a_held_out_trial() -> None:
    two = {"elpv": [], "synthetic": {"categories": {"a": "texture", "b": "object"}}}
    assert load(two).unknown_trials == []
    with pytest.raises(ConfigError, match="at least three categories"):
        load({**two, "held_out": ["a"]})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"detector": "cae"}, r"c\.yaml: detector: unknown key"),
        ({"synthetic": {"count": 3}}, r"c\.yaml: synthetic\.count: unknown key"),
        ({"features": {"size": 64}}, r"c\.yaml: features\.size: unknown key"),
        ({"elpv": ["mono", "cdte"]}, r"unknown cell types \['cdte'\]"),
        ({"synthetic": {"categories": {"a": "metal"}}}, "synthetic: category 'a' has unknown kind 'metal'"),
        ({"synthetic": {"n_train": 0}}, r"synthetic: n_train must be a positive integer"),
        ({"detectors": ["cae", "svm"]}, "detector 'svm' unknown"),
        ({"detector_params": {"cae": {"width": 3}}}, "bad parameters for detector cae"),
        ({"router": {"accept": 1.5}}, r"router: router accept must be in \[0.5, 1\)"),
        ({"router": {"margin": 1}}, "c.yaml: router: .*margin"),
        ({"held_out": ["elpv-cdte"]}, r"held_out names \['elpv-cdte'\]"),
        ({"threshold": "best"}, "threshold 'best' unknown"),
        ({"calibration_holdout": 1.0}, r"calibration_holdout must be in \(0, 1\)"),
        ({"elpv": [], "synthetic": {"categories": {"only": "texture"}}}, "at least two categories"),
        ({"elpv": ["mono"], "synthetic": {"categories": {"elpv-mono": "texture"}}}, "names must be distinct"),
        ({"detector_params": ["cae"]}, "detector_params: Input should be a valid dictionary"),
        ({"elpv": [1, 2]}, r"elpv\.0: Input should be a valid string"),
    ],
)
def test_bad_config_is_a_clear_error(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(raw)


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_job_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("job: router\nelpv: [mono\n")
    with pytest.raises(ConfigError, match=rf"{bad} is not valid YAML \(line 3, column 1\)"):
        load_job_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- job\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_job_config(listed)

"""The suite config: validated keys with dotted paths, shift protocols, model features."""

from __future__ import annotations

from pathlib import Path

import pytest

from defectlab.errors import ConfigError
from defectlab.experiments.suite.config import ModelEntry, ShiftEntry, load_suite_config

MINIMAL = "job: suite\nmodels:\n  - {name: pc, detector: patchcore}\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_minimal_config_gets_every_data_set(tmp_path: Path) -> None:
    config = load_suite_config(_write(tmp_path, MINIMAL))
    assert "elpv-mono" in config.datasets and "grass-marks" in config.datasets and "steel" in config.datasets
    assert config.data_root == Path("outputs/suite/data") and config.adapted


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("datasets: [elpv-mono, marble]\n", "datasets: unknown data set"),
        ("shifts:\n  - {corruption: imagenet_c_fog}\n", "shifts.0: unknown corruption"),
        ("shifts:\n  - {preset: mvtec-shift, corruption: rotation}\n", "exactly one"),
        ("shifts:\n  - {preset: mvtec-shift, severty: 2}\n", "shifts.0.severty: unknown key"),
        ("shifts:\n  - {preset: mvtec-shift, families: [metal]}\n", "shifts.0.families.0"),
        ("bootstrap: 0\n", "bootstrap"),
    ],
)
def test_bad_keys_name_their_dotted_path(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_suite_config(_write(tmp_path, MINIMAL + extra))


def test_bad_models(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="models.0.detector: unknown detector 'fastflow'"):
        load_suite_config(_write(tmp_path, "models:\n  - {name: a, detector: fastflow}\n"))
    with pytest.raises(ConfigError, match="distinct names"):
        load_suite_config(_write(tmp_path, "models:\n  - {name: a, detector: padim}\n  - {name: a, detector: cae}\n"))
    with pytest.raises(ConfigError, match="models.0.layer: unknown key"):
        load_suite_config(_write(tmp_path, "models:\n  - {name: a, detector: padim, layer: [blocks.2]}\n"))


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_suite_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_suite_config(_write(tmp_path, "models: [\n"))


def test_shift_names_and_protocols() -> None:
    assert ShiftEntry(corruption="imagenet_c_contrast", severity=2).name == "imagenet_c_contrast@2"
    assert ShiftEntry(corruption="imagenet_c_contrast").protocol == "imagenet-c"
    assert ShiftEntry(corruption="contrast").protocol == "shift-suite"
    assert ShiftEntry(preset="mvtec-shift").protocol == "shift-suite"


def test_native_input_size_follows_the_data() -> None:
    assert ModelEntry(name="a", detector="patchcore", image_size="native").features(192).image_size == 192
    assert ModelEntry(name="a", detector="patchcore").features(192).image_size == 224

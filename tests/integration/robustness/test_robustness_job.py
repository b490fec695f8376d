"""The robustness protocol runner: three phases per shift, Robustness Index, outputs, config errors."""

import csv
import json

import pytest

from defectlab.data.synth import generate_synthetic_dataset
from defectlab.errors import ConfigError
from defectlab.experiments.robustness_job import (
    PHASES,
    load_robustness_config,
    read_job_kind,
    robustness_index,
    run_robustness_job,
)


def test_robustness_index():
    assert robustness_index(0.8, 1.0) == pytest.approx(0.8)
    assert robustness_index(None, 1.0) is None
    assert robustness_index(0.5, 0.0) is None


def _config(tmp_path, **overrides):
    raw = {
        "job": "robustness",
        "output": str(tmp_path / "out"),
        "dataset": {"format": "mvtec", "root": str(tmp_path / "data"), "categories": ["texture"]},
        "detectors": ["padim"],
        "features": {"image_size": 64, "weights": "random"},
        "shifts": [{"corruption": "gaussian_noise", "severity": 5}, {"preset": "mvtec-shift"}],
        "bootstrap": 20,
        **overrides,
    }
    return load_robustness_config(tmp_path / "cfg.yaml", raw)


def test_runner_writes_three_phases_per_shift(tmp_path):
    generate_synthetic_dataset(tmp_path / "data", ("texture",), n_train=12, n_test_good=4, n_test_defect_per_type=2, size=64, seed=3)
    rows = run_robustness_job(_config(tmp_path), log=lambda _: None)
    assert [r["phase"] for r in rows] == list(PHASES) * 2
    assert {r["shift"] for r in rows} == {"gaussian_noise@5", "mvtec-shift"}
    for r in rows:
        assert 0.0 <= r["image_auroc"] <= 1.0 and r["pixel_auroc"] is not None
        if r["phase"] == "clean":
            assert r["ri_image_auroc"] == pytest.approx(1.0)
        else:
            assert r["ri_image_auroc"] == pytest.approx(r["image_auroc"] / next(
                c["image_auroc"] for c in rows if c["phase"] == "clean" and c["shift"] == r["shift"]))
    record = json.loads((tmp_path / "out" / "robustness.json").read_text())
    assert record["seed"] == 42 and len(record["rows"]) == 6
    with open(tmp_path / "out" / "robustness.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 6
    assert (tmp_path / "out" / "splits" / "texture.json").is_file()


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"shifts": []}, "at least one shift"),
        ({"shifts": [{"corruption": "warp"}]}, "unknown corruption"),
        ({"shifts": [{"preset": "mvtec-shift", "corruption": "hflip"}]}, "exactly one"),
        ({"detectors": ["nope"]}, "detector"),
        ({"typo": 1}, "unknown key"),
    ],
)
def test_config_errors(tmp_path, overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        _config(tmp_path, **overrides)


def test_job_kind(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("job: robustness\nshifts: []\n")
    assert read_job_kind(path)[0] == "robustness"
    path.write_text(": : not yaml [")
    assert read_job_kind(path) == ("detection", {})

"""Per-category thresholds JSON: exact round trip, atomic replacement, clear errors."""

import json

import pytest

from defectlab.calibration import thresholds_io
from defectlab.calibration.thresholds import Threshold
from defectlab.calibration.thresholds_io import read_thresholds_json, write_thresholds_json
from defectlab.errors import ModelError

THRESHOLDS = {
    "mono": Threshold(0.1 + 0.2, "mean_std", {"k": 3.0}),  # 0.30000000000000004 must survive
    "poly": Threshold(1.2345678901234567e-7, "quantile", {"accept": 0.95}),
    "bottle": Threshold(4.0, "f1"),
}


def test_round_trip_is_exact(tmp_path):
    path = tmp_path / "thresholds.json"
    write_thresholds_json(path, THRESHOLDS)
    assert read_thresholds_json(path) == THRESHOLDS
    document = json.loads(path.read_text())
    assert document["format"] == "defectlab.thresholds" and document["version"] == 1
    assert list(document["thresholds"]) == ["bottle", "mono", "poly"]


def test_write_replaces_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "thresholds.json"
    write_thresholds_json(path, {"a": Threshold(1.0, "f1")})
    write_thresholds_json(str(path), THRESHOLDS)
    assert read_thresholds_json(path) == THRESHOLDS
    assert [p.name for p in tmp_path.iterdir()] == ["thresholds.json"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "thresholds.json"
    write_thresholds_json(path, THRESHOLDS)

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(thresholds_io.os, "replace", crash)
    with pytest.raises(OSError):
        write_thresholds_json(path, {"a": Threshold(1.0, "f1")})
    assert read_thresholds_json(path) == THRESHOLDS
    assert [p.name for p in tmp_path.iterdir()] == ["thresholds.json"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read"),
        ("[]", "not a defectlab thresholds file"),
        ('{"format": "other"}', "not a defectlab thresholds file"),
        ('{"format": "defectlab.thresholds", "version": 99, "thresholds": {}}', "version"),
        ('{"format": "defectlab.thresholds", "version": 1, "thresholds": []}', "mapping"),
        ('{"format": "defectlab.thresholds", "version": 1, "thresholds": {"a": {"value": 1}}}', "method"),
        ('{"format": "defectlab.thresholds", "version": 1, "thresholds": {"a": {"value": 1, "method": "x"}}}', "unknown"),
    ],
)
def test_read_rejects_malformed_files(tmp_path, content, message):
    path = tmp_path / "thresholds.json"
    path.write_text(content)
    with pytest.raises(ModelError, match=message) as info:
        read_thresholds_json(path)
    assert str(path) in str(info.value)


def test_read_missing_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        read_thresholds_json(tmp_path / "absent.json")

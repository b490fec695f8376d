"""``POST /v1/model/threshold``: off unless allowed, keyed like every /v1 route, changes the live
decisions and the bundle on disk; bad values get a one-line 4xx."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _service_data import png_bytes, textured
from fastapi.testclient import TestClient

from defectlab.bundle import load
from defectlab.bundle.io import load_bundle
from defectlab.serve.app import create_app
from defectlab.serve.limits import ServiceSettings


@pytest.fixture
def bundle_copy(detector_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(detector_bundle, tmp_path / detector_bundle.name))


def client_for(bundle: Path, **settings: object) -> TestClient:
    return TestClient(create_app(load(bundle), ServiceSettings(**settings), warm=False))


def score_of(client: TestClient, image: bytes) -> dict:
    return client.post("/v1/predict", files={"file": ("x.png", image, "image/png")}).json()


def test_setting_the_threshold_changes_decisions_live_and_on_disk(bundle_copy: Path) -> None:
    client = client_for(bundle_copy, allow_threshold_edit=True)
    image = png_bytes(textured(300))
    before = score_of(client, image)
    assert before["decision"] == "Normal"
    response = client.post("/v1/model/threshold", json={"value": before["score"] / 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {"value": before["score"] / 2, "method": "manual", "previous_value": before["threshold"]}
    after = score_of(client, image)
    assert after["decision"] == "Defective" and after["threshold"] == before["score"] / 2
    card = client.get("/v1/model").json()
    assert card["default_threshold"] == "manual" and card["thresholds"]["manual"]["value"] == before["score"] / 2
    assert card["threshold_history"][0]["previous"]["value"] == before["threshold"]
    assert load_bundle(bundle_copy).threshold.value == before["score"] / 2
    (change,) = json.loads((bundle_copy / "manifest.json").read_text())["threshold_history"]
    assert change["by"].startswith("api")


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"value": -1.0}, 422, "greater than 0"),
        ({"value": 0}, 422, "greater than 0"),
        ({"value": "high"}, 422, "value"),
        ({}, 422, "value"),
    ],
)
def test_bad_values_get_a_one_line_4xx(bundle_copy: Path, body: dict, status: int, needle: str) -> None:
    client = client_for(bundle_copy, allow_threshold_edit=True)
    response = client.post("/v1/model/threshold", json=body)
    assert response.status_code == status
    error = response.json()
    assert error["error"] == "invalid_request" and needle in error["detail"] and "\n" not in error["detail"]
    assert load_bundle(bundle_copy).default_threshold == "mean_std"


def test_refused_unless_the_service_allows_it(bundle_copy: Path) -> None:
    response = client_for(bundle_copy).post("/v1/model/threshold", json={"value": 1.0})
    assert response.status_code == 403
    assert response.json() == {
        "error": "forbidden",
        "detail": "threshold editing is off: start the service with --allow-threshold-edit",
    }
    assert load_bundle(bundle_copy).default_threshold == "mean_std"


def test_the_api_key_guards_it(bundle_copy: Path) -> None:
    client = client_for(bundle_copy, allow_threshold_edit=True, api_key="s3cret")
    assert client.post("/v1/model/threshold", json={"value": 1.0}).status_code == 401
    wrong = client.post("/v1/model/threshold", json={"value": 1.0}, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    assert load_bundle(bundle_copy).default_threshold == "mean_std"
    keyed = client.post("/v1/model/threshold", json={"value": 1.0}, headers={"X-API-Key": "s3cret"})
    assert keyed.status_code == 200 and load_bundle(bundle_copy).threshold.value == 1.0


def test_only_detector_bundles_have_a_threshold_to_set(routed_bundle: Path) -> None:
    response = client_for(routed_bundle, allow_threshold_edit=True).post("/v1/model/threshold", json={"value": 1.0})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("the bundle is a routed (multi-category) bundle")
    assert load_bundle(routed_bundle / "categories" / "textured").calibration is not None  # each detector keeps its own

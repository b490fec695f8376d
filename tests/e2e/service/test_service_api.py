"""The inspection API through FastAPI's test client: answers, formats, errors, keys, concurrency."""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from _service_data import SIZE, png_bytes, striped, textured
from fastapi.testclient import TestClient
from PIL import Image

from defectlab.bundle import load
from defectlab.bundle.io import load_bundle
from defectlab.explain.overlay import heatmap_rgb, resize_map
from defectlab.explain.overlay import overlay as blend
from defectlab.serve.app import create_app
from defectlab.serve.limits import ServiceSettings


def client_for(bundle: Path, **settings: object) -> TestClient:
    return TestClient(create_app(load(bundle), ServiceSettings(**settings), warm=False))


@pytest.fixture(scope="module")
def client(detector_bundle: Path) -> TestClient:
    return client_for(detector_bundle)


def upload(data: bytes, name: str = "cell.png") -> dict:
    return {"file": (name, data, "application/octet-stream")}


def decode_png(text: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))


def test_health_and_model_card(client: TestClient, detector_bundle: Path) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["kind"] == "anomaly_detector"
    assert health["model_id"].startswith(f"{detector_bundle.name}:patchcore:")
    card = client.get("/v1/model").json()
    assert card["detector"]["kind"] == "patchcore" and card["image_size"] == SIZE
    assert card["default_threshold"] == "mean_std" and card["thresholds"]["mean_std"]["value"] > 0
    assert card["training"]["fingerprint"] == "test" and card["backbone"]["backbone"] == "efficientnet_lite0"


def test_normal_image_passes_and_spot_is_defective(client: TestClient) -> None:
    normal = client.post("/v1/predict", files=upload(png_bytes(textured(100)), "normal.png")).json()
    spot = client.post("/v1/predict", files=upload(png_bytes(textured(101, spot=True)), "spot.png")).json()
    assert normal["decision"] == "Normal" and normal["is_anomalous"] is False
    assert spot["decision"] == "Defective" and spot["is_anomalous"] is True
    assert spot["score"] >= spot["threshold"] > normal["score"]
    assert 0 <= normal["normalized_score"] < 0.5 <= spot["normalized_score"] <= 1
    assert spot["filename"] == "spot.png" and spot["latency_ms"] > 0
    assert spot["heatmap_png"] is None and spot["label"] is None


def test_heatmap_and_overlay_are_the_library_maps_as_pngs(client: TestClient, detector_bundle: Path) -> None:
    image = textured(102, size=80, spot=True)
    body = client.post("/v1/predict?heatmap=true", files=upload(png_bytes(image))).json()
    heatmap, overlay = decode_png(body["heatmap_png"]), decode_png(body["overlay_png"])
    assert heatmap.shape == overlay.shape == (80, 80, 3)
    bundle = load_bundle(detector_bundle)
    anomaly_map = bundle.model.predict([image]).maps[0]
    scaled = np.clip(resize_map(anomaly_map, 80, 80) / (2 * bundle.threshold.value), 0, 1)
    np.testing.assert_array_equal(heatmap, heatmap_rgb(scaled, 0.0, 1.0))
    np.testing.assert_array_equal(overlay, blend(image, anomaly_map, vmin=0.0, vmax=2 * bundle.threshold.value))


def test_batch_keeps_order_and_matches_single(client: TestClient) -> None:
    images = [textured(110), textured(111, spot=True), textured(112)]
    files = [("files", (f"{i}.png", png_bytes(im), "image/png")) for i, im in enumerate(images)]
    body = client.post("/v1/predict/batch", files=files).json()
    assert [r["filename"] for r in body["results"]] == ["0.png", "1.png", "2.png"]
    assert [r["is_anomalous"] for r in body["results"]] == [False, True, False]
    single = client.post("/v1/predict", files=upload(png_bytes(images[1]))).json()
    assert body["results"][1]["score"] == pytest.approx(single["score"], rel=1e-5)
    assert body["latency_ms"] > 0


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "LA", "1"])
def test_image_modes_are_accepted(client: TestClient, mode: str) -> None:
    image = textured(120)
    if mode == "I;16":
        pil = Image.fromarray(image[..., 0].astype(np.uint16) * 257)  # a 16-bit gray PNG
        buffer = io.BytesIO()
        pil.save(buffer, format="PNG")
        data = buffer.getvalue()
    else:
        data = png_bytes(image, mode)
    response = client.post("/v1/predict", files=upload(data))
    assert response.status_code == 200, response.text
    assert response.json()["decision"] in ("Normal", "Defective")


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF", "BMP"])
def test_other_formats_are_accepted(client: TestClient, fmt: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(textured(121)).save(buffer, format=fmt)
    assert client.post("/v1/predict", files=upload(buffer.getvalue(), f"x.{fmt.lower()}")).status_code == 200


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "no data (0 bytes)"),
        (b"this is not an image at all", "not a recognised image format"),
        (png_bytes(textured(130))[:300], "cannot read image bad.png"),
    ],
    ids=["empty", "text", "truncated"],
)
def test_bad_uploads_are_400_naming_the_problem(client: TestClient, data: bytes, needle: str) -> None:
    response = client.post("/v1/predict", files=upload(data, "bad.png"))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_image" and needle in body["detail"] and "bad.png" in body["detail"]
    assert client.get("/health").status_code == 200  # still alive


def test_bad_file_in_a_batch_names_that_file(client: TestClient) -> None:
    files = [("files", ("good.png", png_bytes(textured(131)), "image/png")), ("files", ("junk.png", b"junk", "image/png"))]
    response = client.post("/v1/predict/batch", files=files)
    assert response.status_code == 400 and "junk.png" in response.json()["detail"]


def test_missing_field_and_wrong_method(client: TestClient) -> None:
    missing = client.post("/v1/predict", data={"other": "x"})
    assert missing.status_code == 422 and missing.json()["error"] == "invalid_request"
    assert "file" in missing.json()["detail"]
    wrong = client.get("/v1/predict")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
    unknown = client.get("/v1/files/etc/passwd")
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


def test_body_over_the_limit_is_413(detector_bundle: Path) -> None:
    client = client_for(detector_bundle, max_upload_bytes=20_000)
    big = np.random.default_rng(0).integers(0, 256, (120, 120, 3), dtype=np.uint8)  # ~43 kB as PNG
    response = client.post("/v1/predict", files=upload(png_bytes(big)))
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    assert "limit of 20000" in response.json()["detail"]

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(30):
            yield b"x" * 1000

    streamed = client.post("/v1/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert streamed.status_code == 413
    assert client.post("/v1/predict", files=upload(png_bytes(textured(140)))).status_code == 200


def test_image_over_the_pixel_limit_is_413(detector_bundle: Path) -> None:
    client = client_for(detector_bundle, max_pixels=50 * 50)
    response = client.post("/v1/predict", files=upload(png_bytes(textured(141, size=64)), "wide.png"))
    assert response.status_code == 413
    body = response.json()
    assert body["error"] == "image_too_large" and "wide.png" in body["detail"] and "4096 pixels" in body["detail"]


def test_decompression_bomb_is_refused_before_decoding(client: TestClient) -> None:
    buffer = io.BytesIO()
    Image.new("L", (10_000, 8_000)).save(buffer, format="PNG")  # 80 Mpx of zeros: ~80 kB compressed
    response = client.post("/v1/predict", files=upload(buffer.getvalue(), "bomb.png"))
    assert response.status_code == 413 and "over the limit of 40000000" in response.json()["detail"]


def test_batch_over_the_count_limit_is_413(detector_bundle: Path) -> None:
    client = client_for(detector_bundle, max_batch=2)
    files = [("files", (f"{i}.png", png_bytes(textured(150 + i)), "image/png")) for i in range(3)]
    response = client.post("/v1/predict/batch", files=files)
    assert response.status_code == 413 and "limit of 2" in response.json()["detail"]


def test_api_key_is_required_when_set(detector_bundle: Path) -> None:
    client = client_for(detector_bundle, api_key="s3cret")
    assert client.get("/health").status_code == 200  # liveness stays open
    for headers in ({}, {"X-API-Key": "wrong"}):
        response = client.post("/v1/predict", files=upload(png_bytes(textured(160))), headers=headers)
        assert response.status_code == 401 and response.json()["error"] == "unauthorized"
        assert client.get("/v1/model", headers=headers).status_code == 401
    ok = client.post("/v1/predict", files=upload(png_bytes(textured(160))), headers={"X-API-Key": "s3cret"})
    assert ok.status_code == 200


def test_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFECTLAB_API_KEY", "from-env")
    assert ServiceSettings.from_env(workers=1).api_key == "from-env"
    monkeypatch.setenv("DEFECTLAB_API_KEY", "")
    assert ServiceSettings.from_env().api_key is None


def test_concurrent_requests_give_the_sequential_answers(client: TestClient) -> None:
    images = [textured(170 + i, spot=i % 2 == 1) for i in range(8)]
    sequential = [client.post("/v1/predict", files=upload(png_bytes(im))).json()["score"] for im in images]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda im: client.post("/v1/predict", files=upload(png_bytes(im))).json()["score"], images))
    np.testing.assert_allclose(concurrent, sequential, rtol=1e-5)


def test_openapi_schema_is_complete(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    for name in ("Prediction", "BatchPrediction", "ErrorBody", "ModelCard", "Health"):
        assert name in components
    predict = schema["paths"]["/v1/predict"]["post"]
    assert "multipart/form-data" in predict["requestBody"]["content"]
    assert predict["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Prediction")
    assert {"400", "401", "413", "422"} <= set(predict["responses"])
    assert schema["paths"]["/v1/predict/batch"]["post"]["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"
    ].endswith("/BatchPrediction")
    assert "APIKeyHeader" in schema["components"]["securitySchemes"]
    assert set(schema["paths"]) == {"/health", "/v1/model", "/v1/model/threshold", "/v1/predict", "/v1/predict/batch"}


def test_classifier_bundle_answers_with_class_and_gradcam(classifier_bundle: Path) -> None:
    client = client_for(classifier_bundle)
    assert client.get("/health").json()["kind"] == "classifier"
    assert client.get("/v1/model").json()["class_names"] == ["good", "crack", "spot"]
    body = client.post("/v1/predict?heatmap=true", files=upload(png_bytes(textured(180, size=72)))).json()
    assert body["label"] in ("good", "crack", "spot")
    assert body["confidence"] == pytest.approx(max(body["probabilities"].values()))
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert body["decision"] == ("Normal" if body["label"] == "good" else "Defective")
    assert body["score"] is None and body["threshold"] is None
    assert decode_png(body["heatmap_png"]).shape == (72, 72, 3)


def test_ui_asks_for_the_api_key_as_password(detector_bundle: Path) -> None:
    from defectlab.serve.ui import mount_ui

    predictor, settings = load(detector_bundle), ServiceSettings(api_key="k1")
    client = TestClient(mount_ui(create_app(predictor, settings, warm=False), predictor, settings))
    assert client.get("/ui/config").status_code == 401
    assert client.post("/ui/login", data={"username": "op", "password": "wrong"}).status_code == 400
    assert client.post("/ui/login", data={"username": "op", "password": "k1"}).status_code == 200
    assert client.get("/ui/config").status_code == 200
    assert client.post("/v1/predict", files=upload(png_bytes(textured(190)))).status_code == 401  # API still keyed


def test_routed_bundle_answers_with_the_category(routed_bundle: Path) -> None:
    client = client_for(routed_bundle)
    assert client.get("/health").json()["kind"] == "routed"
    card = client.get("/v1/model").json()
    assert set(card["categories"]) == {"textured", "striped"} and card["router"]["limits"]["textured"]["distance"] > 0
    expected = ["textured", "striped"] * 3
    files = [
        ("files", (f"{i}.png", png_bytes((textured if name == "textured" else striped)(200 + i)), "image/png"))
        for i, name in enumerate(expected)
    ]
    results = client.post("/v1/predict/batch?heatmap=true", files=files).json()["results"]
    # never a wrong route; the limits accept 99% of each product's (20) training images, so a fresh one may be refused
    assert all(r["category"] in (name, "unknown") for r, name in zip(results, expected, strict=True))
    routed = [r for r, name in zip(results, expected, strict=True) if r["category"] == name]
    assert len(routed) >= 5 and {r["category"] for r in routed} == {"textured", "striped"}
    assert all(r["score"] is not None and r["threshold"] > 0 and r["heatmap_png"] for r in routed)
    noise = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    alien = client.post("/v1/predict?heatmap=true", files=upload(png_bytes(noise))).json()
    assert alien["category"] == "unknown" and alien["decision"] == "Unknown category" and alien["is_anomalous"] is True
    assert alien["score"] is None and alien["heatmap_png"] is None

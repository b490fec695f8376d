"""`defectlab serve` / `defectlab app` from the command line, and the UI's text helpers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from defectlab.bundle import load
from defectlab.bundle.prediction import Prediction
from defectlab.serve.app import model_card
from defectlab.serve.process import running_server
from defectlab.serve.ui import example_images, model_card_markdown, verdict_markdown


def defectlab(*args: str) -> subprocess.CompletedProcess:
    src = Path(__file__).resolve().parents[3] / "src"
    return subprocess.run(
        [sys.executable, "-m", "defectlab", *args],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_help_explains_routes_limits_and_key() -> None:
    serve = defectlab("serve", "--help")
    assert serve.returncode == 0
    for needle in ("/v1/predict", "--max-upload-mb", "--max-pixels", "--workers", "DEFECTLAB_API_KEY", "--no-ui"):
        assert needle in serve.stdout
    assert "browser UI alone" in defectlab("app", "--help").stdout


def test_app_serves_the_ui_alone(detector_bundle: Path) -> None:
    with running_server("app", detector_bundle, ready_path="/") as base:
        page = httpx.get(base + "/")
        assert "gradio" in page.text.lower()
        assert httpx.get(base + "/v1/model").status_code == 404  # no REST API in the UI-only app
        assert httpx.get(base + "/gradio_api/file=/etc/passwd").status_code in (403, 404)  # no files from user paths


def test_verdict_and_model_card_text(detector_bundle: Path, tmp_path: Path) -> None:
    result = Prediction(decision="Defective", is_anomalous=True, score=3.5, threshold=2.0, normalized_score=0.8)
    text = verdict_markdown(result)
    assert text.startswith("## Defective") and "**3.5** >= threshold 2" in text and "0.800" in text
    classified = verdict_markdown(Prediction(decision="Normal", is_anomalous=False, label="good", confidence=0.9))
    assert "Class: **good** (confidence 90.0%)" in classified
    predictor = load(detector_bundle)
    card = model_card_markdown(model_card(predictor))
    assert "| Detector / classifier | patchcore |" in card and "| Training fingerprint | test |" in card
    assert example_images(predictor, tmp_path) == []  # not an ELPV bundle, no folder given
    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / "a.png").write_bytes(b"x")
    (tmp_path / "ex" / "notes.txt").write_text("x")
    assert example_images(predictor, tmp_path, tmp_path / "ex") == [str(tmp_path / "ex" / "a.png")]

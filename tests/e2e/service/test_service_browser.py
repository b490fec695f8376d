"""The real service on loopback, driven in headless Chromium (Debian's ``chromium``) by Playwright:
upload a real ELPV cell through the UI at /ui, read the verdict, see the heatmap and overlay; move
the threshold slider, see the false-alarm and miss rates change, save the threshold into the bundle.

Set ``DEFECTLAB_SCREENSHOT=path.png`` to keep the screenshot (the picture in docs/serving.md comes from it).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from _service_data import fit_detector_bundle

from defectlab.backbones.extractor import FeatureConfig
from defectlab.bundle.io import load_bundle
from defectlab.data.elpv import read_elpv
from defectlab.data.imageio import save_image
from defectlab.serve.process import running_server

pytestmark = [pytest.mark.weights, pytest.mark.elpv]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def elpv_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A real PatchCore (bundled weights, 224 px) on 24 functional mono cells, or the bundle named by
    ``DEFECTLAB_UI_BUNDLE`` (e.g. the main job's; copied, as the test saves a threshold into it); and a
    defective cell's PNG (detectors train on functional cells only, so no model here has seen it).
    The calibration scores are those of 12 further functional cells and 4 defective ones."""
    cells = read_elpv("mono")
    folder = tmp_path_factory.mktemp("browser")
    given = os.environ.get("DEFECTLAB_UI_BUNDLE")
    p100 = [s for s in cells if s.defect_type == "p100"]
    if given:
        bundle = Path(shutil.copytree(given, folder / Path(given).name))
    else:
        good = [s for s in cells if s.defect_type == "good"]
        train = [np.ascontiguousarray(s.image) for s in good[:24]]
        held_out = [np.ascontiguousarray(s.image) for s in good[24:36]]
        anomalies = [np.ascontiguousarray(s.image) for s in p100[:4]]
        training = {"dataset": "elpv", "category": "mono"}
        bundle = fit_detector_bundle(folder / "elpv_mono", FeatureConfig(), train, held_out, training, anomalies)
    defective = p100[-3]
    image = folder / f"elpv_{defective.metadata['index']:05d}.png"
    save_image(image, np.ascontiguousarray(defective.image))
    return bundle, image


def test_ui_upload_shows_verdict_heatmap_and_overlay(elpv_bundle: tuple[Path, Path], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make test` installs it (scripts/chromium.sh)"
    bundle, image = elpv_bundle
    with running_server("serve", bundle, "--threads", "1", "--allow-threshold-edit") as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(base + "/ui/", wait_until="networkidle", timeout=90_000)
            expect(page.locator("#verdict")).to_contain_text("Waiting for an image", timeout=60_000)
            page.locator("#upload input[type=file]").set_input_files(str(image))
            verdict = page.locator("#verdict")
            expect(verdict).to_contain_text("Score", timeout=120_000)
            text = verdict.inner_text()
            assert text.split("\n", 1)[0].strip() in ("Defective", "Normal"), text  # the verdict leads
            assert "threshold" in text
            for element in ("#heatmap img", "#overlay img"):
                shown = page.locator(element)
                expect(shown).to_be_visible(timeout=30_000)
                page.wait_for_function("e => e.complete && e.naturalWidth > 0", arg=shown.element_handle(), timeout=30_000)
                assert shown.evaluate("e => e.naturalWidth") == 300  # the ELPV cell's own size
            rates = page.locator("#rates")
            expect(rates).to_contain_text("false alarms", timeout=10_000)
            shown_before = rates.inner_text()
            slider = page.locator("#threshold-slider input[type=range]")
            lowest = slider.get_attribute("min")
            slider.fill(lowest)  # below every calibration score: every normal image is a false alarm
            stored = load_bundle(bundle).calibration
            assert stored is not None, "the bundle keeps no calibration scores: refit it"
            everything = f"{stored.n_normal} of {stored.n_normal} normal images (100.0%)"
            expect(rates).to_contain_text(everything, timeout=30_000)
            assert rates.inner_text() != shown_before and f"misses 0 of {stored.n_anomalous}" in rates.inner_text()
            screenshot = Path(os.environ.get("DEFECTLAB_SCREENSHOT", tmp_path / "ui.png"))
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 10_000
            page.locator("#save-threshold").click()
            expect(page.locator("#threshold-status")).to_contain_text("Saved", timeout=30_000)
            with urllib.request.urlopen(base + "/v1/model", timeout=10) as response:
                card = json.load(response)
            assert card["default_threshold"] == "manual" and card["thresholds"]["manual"]["value"] == float(lowest)
            assert load_bundle(bundle).threshold.value == float(lowest)
            page.locator("text=Model card").first.click()
            expect(page.locator("text=Training fingerprint")).to_be_visible(timeout=10_000)
        finally:
            browser.close()

"""`defectlab export`: ONNX and OpenVINO graphs of every detector, against the torch model they came from."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from filelock import FileLock

from defectlab.backbones.extractor import FeatureConfig
from defectlab.bundle import load
from defectlab.bundle.io import Bundle, load_bundle, save_bundle, save_threshold
from defectlab.bundle.runtimes import EXPORT_DIR, EXPORT_MANIFEST, available_exports, choose_export
from defectlab.calibration.thresholds import Threshold
from defectlab.components.align import Aligner
from defectlab.detectors.feature_cae import FeatureCAE
from defectlab.detectors.model import AnomalyModel
from defectlab.detectors.padim import PaDiM
from defectlab.detectors.patchcore import PatchCore
from defectlab.errors import ConfigError, ModelError
from defectlab.export.bundle_export import export_bundle

SIZE = 64
FEATURES = FeatureConfig(weights="random", image_size=SIZE)
DETECTORS = {
    "patchcore": lambda: PatchCore(coreset_ratio=0.5),
    "patchcore_smoothed_max": lambda: PatchCore(coreset_ratio=0.5, aggregation="smoothed_max"),
    "padim": lambda: PaDiM(n_features=20),
    "cae": lambda: FeatureCAE(hidden=16, latent=8, epochs=2),
}


def part(seed: int, size: int = SIZE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    image = 110 + 30 * np.sin(xx / 3.0) * np.cos(yy / 5.0)
    return np.clip(np.repeat(image[..., None], 3, axis=2) + rng.normal(0, 4, (size, size, 3)), 0, 255).astype(np.uint8)


def defective(seed: int) -> np.ndarray:
    image = part(seed).copy()
    image[20:34, 24:40] = 240
    return image


def fit(path: Path, detector, aligner: Aligner | None = None) -> Path:
    torch.manual_seed(0)
    model = AnomalyModel(detector, FEATURES, sigma=2.0, aligner=aligner).fit([part(s) for s in range(8)])
    scores = model.predict([part(s) for s in range(8, 12)], with_maps=False).scores
    threshold = Threshold(float(scores.mean() + 3 * scores.std()), "mean_std", {"k": 3.0})
    return save_bundle(path, Bundle(model, {"mean_std": threshold}, "mean_std", {"dataset": "synthetic"}, {"normal_mean": 0.0}))


@pytest.fixture(scope="session")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """Each detector fitted and exported to ONNX once for the whole run (xdist workers share them:
    tracing a graph takes seconds); tests change copies."""
    root = tmp_path_factory.getbasetemp().parent / "export_bundles"
    root.mkdir(exist_ok=True)
    with FileLock(root / ".lock"):
        for name, make in DETECTORS.items():
            if not (root / name / EXPORT_DIR / "onnx-f32" / EXPORT_MANIFEST).is_file():
                export_bundle(fit(root / name, make()), "onnx", "f32")
    return {name: root / name for name in DETECTORS}


def images() -> list[np.ndarray]:
    # other sizes than the model's: the runtime path resizes exactly as torch does
    return [part(s) for s in range(20, 23)] + [defective(23), part(24, size=80)]


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
@pytest.mark.parametrize("name", list(DETECTORS))
def test_f32_export_matches_torch_scores_and_maps(bundles, name: str, fmt: str, tmp_path: Path) -> None:
    path = shutil.copytree(bundles[name], tmp_path / name)
    info = (
        export_bundle(path, fmt, "f32")
        if fmt == "openvino"
        else json.loads((path / EXPORT_DIR / "onnx-f32" / EXPORT_MANIFEST).read_text())
    )
    assert info["format"] == fmt and info["precision"] == "f32" and info["detector"] == load_bundle(path).model.detector.kind
    assert info["parity_with_torch"]["scores_max_relative_difference"] < 1e-4
    torch_answer = load_bundle(path).model.predict(images())
    exported = load(path, runtime=fmt)
    assert exported.runtime == f"{fmt}-f32" and exported.describe()["runtime"] == f"{fmt}-f32"
    answer = exported.bundle.model.predict(images())
    np.testing.assert_allclose(answer.scores, torch_answer.scores, rtol=1e-4)
    assert np.abs(answer.maps - torch_answer.maps).max() <= 1e-3 * np.abs(torch_answer.maps).max()
    decisions = [p.decision for p in exported.predict(images())]
    assert decisions == [p.decision for p in load(path, runtime="torch").predict(images())]


def test_the_batch_axis_is_dynamic(bundles, tmp_path: Path) -> None:
    path = shutil.copytree(bundles["patchcore"], tmp_path / "b")
    export_bundle(path, "openvino", "f32")
    predictor = load(path, runtime="openvino")
    many = [part(s) for s in range(30, 47)]  # 17 images: one batch of 16 and one of 1
    one_by_one = np.concatenate([predictor.bundle.model.predict([image], with_maps=False).scores for image in many])
    np.testing.assert_allclose(predictor.bundle.model.predict(many, with_maps=False).scores, one_by_one, rtol=1e-5)


def test_concurrent_predictions_match_sequential_ones(bundles, tmp_path: Path) -> None:
    path = shutil.copytree(bundles["padim"], tmp_path / "b")
    export_bundle(path, "openvino", "f32")
    predictor = load(path, runtime="openvino")
    batches = [[part(s), defective(s + 1)] for s in range(40, 48, 2)]
    expected = [[p.score for p in predictor.predict(batch)] for batch in batches]
    answers: dict[int, list[float | None]] = {}

    def run(i: int) -> None:
        answers[i] = [p.score for p in predictor.predict(batches[i])]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answers[i] for i in range(len(batches))] == expected


def test_aligned_bundle_aligns_before_the_graph(tmp_path: Path) -> None:
    path = fit(tmp_path / "aligned", PatchCore(coreset_ratio=0.5), Aligner())
    export_bundle(path, "onnx", "f32")
    torch_answer = load(path, runtime="torch").predict(images(), explain=True)
    onnx_answer = load(path, runtime="onnx").predict(images(), explain=True)
    np.testing.assert_allclose([p.score for p in onnx_answer], [p.score for p in torch_answer], rtol=1e-4)
    assert [p.warnings for p in onnx_answer] == [p.warnings for p in torch_answer]
    np.testing.assert_allclose(onnx_answer[3].heatmap, torch_answer[3].heatmap, atol=1e-3)


def test_default_runtime_is_the_fastest_export_present(bundles, tmp_path: Path) -> None:
    path = shutil.copytree(bundles["patchcore"], tmp_path / "b")
    shutil.rmtree(path / EXPORT_DIR)
    assert load(path).runtime == "torch"
    shutil.copytree(bundles["patchcore"] / EXPORT_DIR, path / EXPORT_DIR)
    assert load(path).runtime == "onnx-f32"
    export_bundle(path, "openvino", "f32")
    assert available_exports(path) == [("openvino", "f32"), ("onnx", "f32")]
    assert load(path).runtime == "openvino-f32"
    assert load(path, runtime="onnx").runtime == "onnx-f32"
    assert choose_export(path, "torch") is None


def test_reduced_precision_exports_record_their_difference(bundles, tmp_path: Path) -> None:
    path = shutil.copytree(bundles["patchcore"], tmp_path / "b")
    f16 = export_bundle(path, "openvino", "f16")["parity_with_torch"]
    assert 0 < f16["scores_max_relative_difference"] < 0.05
    calibration = [part(s) for s in range(50, 58)]
    int8 = export_bundle(path, "openvino", "int8", calibration)
    assert int8["calibration"]["images"] == 8
    assert load(path, runtime="openvino").runtime == "openvino-int8"
    assert np.isfinite(load(path).predict([defective(60)])[0].score)


def test_threshold_change_keeps_the_export(bundles, tmp_path: Path) -> None:
    path = shutil.copytree(bundles["patchcore"], tmp_path / "b")
    save_threshold(path, load_bundle(path), 123.0, "test")
    predictor = load(path)
    assert predictor.runtime == "onnx-f32" and predictor.predict([part(1)])[0].threshold == 123.0


def test_an_export_of_a_changed_bundle_is_refused(bundles, tmp_path: Path) -> None:
    path = shutil.copytree(bundles["patchcore"], tmp_path / "b")
    kept = tmp_path / "kept_export"
    shutil.copytree(path / EXPORT_DIR, kept)
    fit(path, PatchCore(coreset_ratio=0.25))  # refit: the export folder goes with the old bundle
    assert not (path / EXPORT_DIR).exists()
    shutil.copytree(kept, path / EXPORT_DIR)
    with pytest.raises(ModelError, match="another version of the bundle.*defectlab export"):
        load(path, runtime="onnx")


def test_a_corrupt_export_file_is_a_one_line_error(bundles, tmp_path: Path) -> None:
    path = shutil.copytree(bundles["patchcore"], tmp_path / "b")
    (path / EXPORT_DIR / "onnx-f32" / "scores.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelError, match=r"cannot load the exported graph .*scores\.onnx") as caught:
        load(path, runtime="onnx")
    assert "\n" not in str(caught.value)
    (path / EXPORT_DIR / "onnx-f32" / EXPORT_MANIFEST).write_text("{")
    with pytest.raises(ModelError, match="cannot read the export manifest"):
        load(path, runtime="onnx")


def test_asking_for_a_missing_export_names_the_command(bundles) -> None:
    with pytest.raises(ModelError, match="has no openvino export: run `defectlab export .* --format openvino`"):
        load(bundles["padim"], runtime="openvino")


def test_a_missing_runtime_package_names_the_install_command(bundles, tmp_path: Path, monkeypatch) -> None:
    path = shutil.copytree(bundles["patchcore"], tmp_path / "b")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(ModelError, match=r"onnx runtime is not installed: pip install onnxruntime=="):
        load(path, runtime="onnx")


def test_a_detector_without_a_graph_form_is_named(tmp_path: Path) -> None:
    path = fit(tmp_path / "rw", PatchCore(coreset_ratio=0.5, aggregation="max", reweight=True))
    with pytest.raises(ModelError, match="patchcore detector with reweight=True cannot be exported"):
        export_bundle(path, "onnx", "f32")
    assert not (path / EXPORT_DIR / "onnx-f32").exists()


def test_bad_export_requests(bundles) -> None:
    with pytest.raises(ConfigError, match="onnx exports at f32, not 'int8'"):
        export_bundle(bundles["patchcore"], "onnx", "int8")
    with pytest.raises(ConfigError, match="int8 export needs --calibration"):
        export_bundle(bundles["patchcore"], "openvino", "int8")
    with pytest.raises(ConfigError, match="unknown export format 'tflite'"):
        export_bundle(bundles["patchcore"], "tflite", "f32")


def test_export_manifest_records_the_runtime_and_the_bundle(bundles, tmp_path: Path) -> None:
    path = shutil.copytree(bundles["cae"], tmp_path / "b")
    export_bundle(path, "openvino", "f32")
    info = json.loads((path / EXPORT_DIR / "openvino-f32" / EXPORT_MANIFEST).read_text())
    assert info["runtime"].startswith("openvino==") and info["versions"]["openvino"] != "absent"
    assert len(info["bundle_fingerprint"]) == 32 and info["inputs"]["scores"]["shape"] == ["batch", 3, SIZE, SIZE]

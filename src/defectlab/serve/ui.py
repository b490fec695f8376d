"""The browser UI (Gradio): drop an image, see the verdict, the score against the threshold, the
heatmap and the overlay side by side (Grad-CAM for classifier bundles), with example images,
a short model card and, for detector bundles, the threshold panel (:mod:`.threshold_panel`). Mounted at ``/ui`` by ``defectlab serve``; ``defectlab app`` serves it alone.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from defectlab.bundle.prediction import Prediction, Predictor
from defectlab.data.files import IMAGE_SUFFIXES
from defectlab.data.imageio import decode_image_bytes, save_image
from defectlab.errors import DataError
from defectlab.explain.overlay import heatmap_rgb
from defectlab.serve.app import model_card
from defectlab.serve.limits import ServiceSettings
from defectlab.serve.threshold_panel import build_threshold_panel

TITLE = "defectlab inspection"
EXAMPLES_PER_CLASS = 2


def verdict_markdown(result: Prediction) -> str:
    """The decision line, then the score against the threshold (or the class and confidence)."""
    lines = [f"## {result.decision}"]
    if result.category:
        lines.append(f"Category: **{result.category}**")
    if result.label is not None and result.confidence is not None:
        lines.append(f"Class: **{result.label}** (confidence {result.confidence:.1%})")
    if result.score is not None and result.threshold is not None:
        relation = ">=" if result.is_anomalous else "<"
        lines.append(f"Score **{result.score:.4g}** {relation} threshold {result.threshold:.4g}")
        if result.normalized_score is not None:
            lines.append(f"Normalized score {result.normalized_score:.3f} (0.5 = threshold)")
    return "\n\n".join(lines)


def model_card_markdown(card: dict[str, Any]) -> str:
    """A short model card: what the model is, what it was trained on, how it decides."""
    rows = [("Model", card.get("id")), ("Kind", card.get("kind")), ("Created", card.get("created"))]
    detector = card.get("detector") or card.get("model") or {}
    rows.append(("Detector / classifier", detector.get("kind")))
    backbone = card.get("backbone") or {}
    rows.append(("Backbone", backbone.get("backbone") or backbone.get("name")))
    rows.append(("Image size", card.get("image_size")))
    training = card.get("training") or {}
    rows.append(("Training data", ", ".join(f"{k}={training[k]}" for k in ("dataset", "category", "n_train") if k in training)))
    rows.append(("Training fingerprint", training.get("fingerprint")))
    if card.get("default_threshold"):
        threshold = (card.get("thresholds") or {}).get(card["default_threshold"], {})
        rows.append(("Threshold", f"{threshold.get('value', float('nan')):.4g} ({card['default_threshold']})"))
    if card.get("categories"):
        rows.append(("Categories", ", ".join(f"{name} ({c.get('detector')})" for name, c in card["categories"].items())))
    if card.get("class_names"):
        rows.append(("Classes", ", ".join(card["class_names"])))
    table = "\n".join(f"| {name} | {value} |" for name, value in rows if value not in (None, ""))
    return f"| Model card | |\n|---|---|\n{table}"


def example_images(predictor: Predictor, folder: Path, examples: Path | None = None) -> list[str]:
    """Example image paths for the UI: the files in ``examples``, else (ELPV bundles) a few ELPV
    cells of the bundle's cell type, functional and defective, written to ``folder``."""
    if examples is not None:
        if not examples.is_dir():
            raise DataError(f"examples folder {examples} does not exist")
        return sorted(str(p) for p in examples.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:8]
    training = predictor.describe().get("training") or {}
    if training.get("dataset") != "elpv":
        return []
    from defectlab.data.elpv import read_elpv

    samples = read_elpv(training.get("category") or None)
    chosen = [s for s in samples if s.defect_type == "good"][-EXAMPLES_PER_CLASS:]
    chosen += [s for s in samples if s.defect_type == "p100"][-EXAMPLES_PER_CLASS:]
    paths = []
    for sample in chosen:
        kind = "functional" if sample.label == 0 else "defective"
        path = folder / f"elpv_{sample.metadata['index']:05d}_{kind}.png"
        save_image(path, np.ascontiguousarray(sample.image))
        paths.append(str(path))
    return paths


def build_ui(predictor: Predictor, settings: ServiceSettings | None = None, examples: Path | None = None) -> Any:
    """The Gradio Blocks of the inspection page."""
    import gradio as gr  # a heavy import: only when the UI is built

    settings = settings or ServiceSettings()
    card = model_card(predictor)
    example_folder = Path(tempfile.mkdtemp(prefix="defectlab-examples-"))
    example_paths = example_images(predictor, example_folder, examples)

    def inspect(path: str | None) -> tuple[str, np.ndarray | None, np.ndarray | None]:
        if not path:
            raise gr.Error("Upload an image first.")
        try:
            image = decode_image_bytes(Path(path).read_bytes(), settings.max_pixels, Path(path).name)
        except DataError as exc:
            raise gr.Error(str(exc)) from exc
        result = predictor.predict([image], explain=True)[0]
        heat = None if result.heatmap is None else heatmap_rgb(result.heatmap, 0.0, 1.0)
        return verdict_markdown(result), heat, result.overlay

    with gr.Blocks(title=TITLE) as blocks:
        gr.Markdown(f"# {TITLE}\nModel `{predictor.model_id}`. Drop an image and press **Inspect**.")
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.Image(type="filepath", label="Image", sources=["upload", "clipboard"], elem_id="upload")
                button = gr.Button("Inspect", variant="primary", elem_id="inspect")
                if example_paths:
                    gr.Examples(examples=[[p] for p in example_paths], inputs=[upload], label="Examples")
            with gr.Column(scale=1):
                verdict = gr.Markdown("Waiting for an image.", elem_id="verdict")
        with gr.Row():
            heatmap = gr.Image(label=predictor.heatmap_name, interactive=False, elem_id="heatmap", format="png")
            overlaid = gr.Image(label="Overlay", interactive=False, elem_id="overlay", format="png")
        build_threshold_panel(predictor, settings)
        with gr.Accordion("Model card", open=False):
            gr.Markdown(model_card_markdown(card))
            with gr.Accordion("Full manifest", open=False):
                gr.Code(json.dumps(card, indent=2, default=str), language="json", label="Manifest")
        button.click(inspect, inputs=[upload], outputs=[verdict, heatmap, overlaid], concurrency_limit=settings.workers)
        upload.upload(inspect, inputs=[upload], outputs=[verdict, heatmap, overlaid], concurrency_limit=settings.workers)
    return blocks


def mount_ui(app: Any, predictor: Predictor, settings: ServiceSettings, examples: Path | None = None, path: str = "/ui") -> Any:
    """Mount the UI on a FastAPI ``app`` at ``path``; with an API key, the page asks for it as the password."""
    import gradio as gr

    auth = None
    if settings.api_key is not None:
        key = settings.api_key.encode()

        def auth(_user: str, password: str) -> bool:  # any user name, the API key as the password
            return secrets.compare_digest(password.encode(), key)

    return gr.mount_gradio_app(
        app,
        build_ui(predictor, settings, examples),
        path=path,
        auth=auth,
        auth_message="Enter any user name and the service's API key as the password.",
        max_file_size=settings.max_upload_bytes,
        footer_links=[],
    )


def standalone_app(predictor: Predictor, settings: ServiceSettings, examples: Path | None = None) -> Any:
    """A FastAPI app serving only the UI (at ``/``), for ``defectlab app``."""
    from fastapi import FastAPI

    return mount_ui(FastAPI(title=TITLE), predictor, settings, examples, path="/")

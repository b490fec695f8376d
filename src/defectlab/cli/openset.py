"""`defectlab fit-openset` and `defectlab evaluate-openset`: open-set recognition on a folder tree or any
supported dataset format (known defect classes learned, the others called unknown)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from defectlab.cli.options import FormatChoice, split_csv, use_threads

Good = Annotated[Path | None, typer.Option("--good", help="Folder of defect-free images for stage 1 (NEU has none).")]
Threads = Annotated[int | None, typer.Option("--threads", help="CPU threads for torch/faiss.")]


def fit_openset(
    known: Annotated[str, typer.Option("--known", help="Comma-separated known defect classes; the others are unknown.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the open-set bundle to.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="Dataset root: a folder tree (good/ + one folder per defect type), ...")
    ] = None,
    fmt: Annotated[FormatChoice, typer.Option("--format", help="Dataset format.")] = FormatChoice.FOLDER,
    category: Annotated[str | None, typer.Option("--category", help="Category (MVTec) or sub-folder (folder tree).")] = None,
    good: Good = None,
    image_size: Annotated[int, typer.Option("--image-size", help="Square input size of the backbone.")] = 224,
    weights: Annotated[str, typer.Option("--weights", help="'default' (bundled), 'random', or a weights file.")] = "default",
    epochs: Annotated[int, typer.Option("--epochs", help="Classifier training epochs (early stopping on validation).")] = 30,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the split, the detector and the classifier.")] = 42,
    threads: Threads = None,
) -> None:
    """Fit open-set recognition on the known defect classes: a stage-1 detector on the defect-free
    images, the attention classifier, and open-set heads (Mahalanobis, relative Mahalanobis, ViM, MSP,
    max logit, energy) on the whole image and on the stage-1 anomaly region. Thresholds accept 95% of
    known validation images."""
    from defectlab.backbones.cache import FeatureCache, default_cache_dir
    from defectlab.workflows.openset.bundle_jobs import fit_openset_bundle, openset_config
    from defectlab.workflows.openset.config import ClassifierConfig, DataConfig

    use_threads(threads)
    config = openset_config(
        DataConfig(fmt.value, data, category, good),
        split_csv(known),
        out.name,
        image_size=image_size,
        weights=weights,
        seed=seed,
        classifier=ClassifierConfig(image_size=image_size, epochs=epochs),
    )
    bundle = fit_openset_bundle(config, out, FeatureCache(default_cache_dir()), typer.echo)
    typer.echo(f"known {list(bundle.known)}, unknown {list(config.unknown)}; bundle: {out}")


def evaluate_openset(
    bundle_dir: Annotated[Path, typer.Argument(metavar="BUNDLE", help="Open-set bundle written by fit-openset.")],
    data: Annotated[Path | None, typer.Option("--data", help="Dataset root (default: the one it was fitted on).")] = None,
    fmt: Annotated[
        FormatChoice | None, typer.Option("--format", help="Dataset format (default: the one it was fitted on).")
    ] = None,
    category: Annotated[str | None, typer.Option("--category", help="Category / sub-folder.")] = None,
    good: Annotated[Path | None, typer.Option("--good", help="Folder of defect-free images (as given to fit-openset).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the metrics to this JSON file.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="CPU threads.")] = None,
) -> None:
    """Evaluate an open-set bundle on the test part of its stored split: per approach (one stage, cascade
    with the whole image, cascade localized) and method, closed-set accuracy, known-vs-unknown AUROC,
    OSCR, FPR at 95% TPR and macro F1 with "unknown"."""
    from defectlab.fileio import atomic_write_json
    from defectlab.pipelines.openset_predictor import OpenSetPredictor
    from defectlab.workflows.evaluation import EvaluationRequest
    from defectlab.workflows.openset_evaluation import evaluate_openset as evaluate_bundle

    use_threads(threads)
    request = EvaluationRequest(data, category, fmt.value if fmt else None, good=good)
    evaluation = evaluate_bundle(OpenSetPredictor.load(bundle_dir), request)
    if json_out:
        atomic_write_json(json_out, evaluation.summary)
    typer.echo(evaluation.text)

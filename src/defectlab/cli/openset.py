"""`defectlab fit-openset` and `defectlab evaluate-openset`: open-set recognition on a folder tree or any
supported dataset format (known defect classes learned, the others called unknown)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from defectlab.cli.options import split_csv, use_threads


def fit_openset(
    data: Path | None = typer.Option(
        None, "--data", help="Dataset root: a folder tree (good/ + one folder per defect type), ..."
    ),
    fmt: str = typer.Option("folder", "--format", help="Dataset format: folder, mvtec, neu, severstal or elpv."),
    known: str = typer.Option(..., "--known", help="Comma-separated known defect classes; the others are unknown."),
    out: Path = typer.Option(..., "--out", help="Directory to write the open-set bundle to."),
    category: str | None = typer.Option(None, "--category", help="Category (MVTec) or sub-folder (folder tree)."),
    good: Path | None = typer.Option(None, "--good", help="Folder of defect-free images for stage 1 (NEU has none)."),
    image_size: int = typer.Option(224, "--image-size", help="Square input size of the backbone."),
    weights: str = typer.Option("default", "--weights", help="'default' (bundled), 'random', or a weights file."),
    epochs: int = typer.Option(30, "--epochs", help="Classifier training epochs (early stopping on validation)."),
    seed: int = typer.Option(42, "--seed", help="Seed for the split, the detector and the classifier."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch/faiss."),
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
        DataConfig(fmt, data, category, good),
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
    bundle_dir: Path = typer.Argument(..., metavar="BUNDLE", help="Open-set bundle written by fit-openset."),
    data: Path | None = typer.Option(None, "--data", help="Dataset root (default: the one it was fitted on)."),
    fmt: str | None = typer.Option(None, "--format", help="Dataset format (default: the one it was fitted on)."),
    category: str | None = typer.Option(None, "--category", help="Category / sub-folder."),
    good: Path | None = typer.Option(None, "--good", help="Folder of defect-free images (as given to fit-openset)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the metrics to this JSON file."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads."),
) -> None:
    """Evaluate an open-set bundle on the test part of its stored split: per approach (one stage, cascade
    with the whole image, cascade localized) and method, closed-set accuracy, known-vs-unknown AUROC,
    OSCR, FPR at 95% TPR and macro F1 with "unknown"."""
    from defectlab.backbones.cache import FeatureCache, default_cache_dir
    from defectlab.fileio import atomic_write_json as write_json
    from defectlab.workflows.openset.bundle_jobs import evaluate_openset_bundle
    from defectlab.workflows.openset.config import DataConfig

    use_threads(threads)
    given = None if data is None and fmt is None else DataConfig(fmt or "folder", data, category, good)
    summary = evaluate_openset_bundle(bundle_dir, given, FeatureCache(default_cache_dir()))
    if json_out:
        write_json(json_out, summary)
    typer.echo(json.dumps(summary, indent=2))

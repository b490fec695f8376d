"""`defectlab train-classifier` and `defectlab classify`: defect-type classifiers (attention, causal,
fine-tuned backbone, small CNN) trained on a stratified split and applied to image files."""

from __future__ import annotations

from pathlib import Path

import typer

from defectlab.cli.options import echo_classes, is_classifier, split_csv


def train_classifier_cmd(
    data: Path | None = typer.Option(None, "--data", help="Dataset root (not needed for --format elpv)."),
    fmt: str = typer.Option(..., "--format", help="Dataset format: mvtec, folder, neu, severstal, elpv."),
    category: str | None = typer.Option(None, "--category", help="Category, sub-folder or ELPV cell type."),
    scheme: str = typer.Option("defect_type", "--scheme", help="Classes: defect_type, elpv_binary or elpv_4."),
    model: str = typer.Option("attention", "--model", help="attention, causal, finetune or smallcnn."),
    mode: str | None = typer.Option(
        None, "--mode", help="head (frozen cached features) or finetune (default: head for attention and causal)."
    ),
    strata: str = typer.Option(
        "discovered",
        "--strata",
        help="causal: nuisance strata for the backdoor adjustment: 'discovered' (k-means on backbone features) "
        "or a metadata key naming the nuisance, e.g. cell_type for ELPV.",
    ),
    parts: str = typer.Option(
        "backdoor", "--parts", help="causal: comma-separated parts to switch on: backdoor, counterfactual, reweight."
    ),
    epochs: int = typer.Option(30, "--epochs", help="Maximum epochs (early stopping on validation macro-F1)."),
    loss: str = typer.Option("focal", "--loss", help="focal or ce."),
    lr: float = typer.Option(1e-3, "--lr", help="AdamW learning rate."),
    backbone: str = typer.Option("efficientnet_lite0", "--backbone", help="Backbone name, e.g. resnet50 with --weights PATH."),
    weights: str = typer.Option("default", "--weights", help="'default' (bundled), 'random', or a weights file."),
    image_size: int = typer.Option(224, "--image-size", help="Square input size in pixels."),
    out: Path = typer.Option(..., "--out", help="Directory to write the classifier bundle to."),
    seed: int = typer.Option(42, "--seed", help="Seed for the split, initialization, batch order and augmentation."),
) -> None:
    """Train a defect classifier on a stratified split and write a classifier bundle."""
    from defectlab.classifiers.train import TrainConfig
    from defectlab.data.formats import read_dataset
    from defectlab.workflows.classifier import ClassifierJob, default_mode, train_classifier_bundle

    config = TrainConfig(epochs=epochs, lr=lr, loss=loss, seed=seed, mode=mode or default_mode(model))
    job = ClassifierJob(scheme, model, backbone, weights, image_size, config, strata, tuple(split_csv(parts)))
    samples = read_dataset(data, fmt, category)
    split_path = out.with_name(f"{out.name}.split.json")
    new_split = not split_path.exists()
    try:  # a failed run leaves nothing behind: not even the split it drew
        info = train_classifier_bundle(samples, job, out, split_path, {"format": fmt, "category": category})
    except BaseException:
        if new_split:
            split_path.unlink(missing_ok=True)
        raise
    val, test = info["val"], info["test"]
    typer.echo(
        f"trained {model} ({scheme}, {config.mode}) on {info['n_train']} images, best epoch {info['best_epoch']}; "
        f"val accuracy {val['accuracy']:.3f} macro-F1 {val['macro_f1']:.3f}; "
        f"test accuracy {test['accuracy']:.3f} macro-F1 {test['macro_f1']:.3f} ({info['n_test']} images); "
        f"bundle: {out}; split: {split_path}"
    )


def classify(
    bundle_dir: Path = typer.Argument(..., metavar="BUNDLE", help="Classifier bundle directory."),
    inputs: list[Path] = typer.Argument(..., metavar="IMAGE_OR_DIR...", help="Images or folders of images."),
    json_out: Path | None = typer.Option(
        None, "--json", help="Also write the results to this JSON file (an existing folder gets classes.json inside)."
    ),
) -> None:
    """Classify images: prints path, class and confidence per image."""
    from defectlab.cli.scoring import classify_paths, write_classes_json
    from defectlab.errors import ConfigError

    if not is_classifier(bundle_dir):
        raise ConfigError(
            f"{bundle_dir} is an anomaly-detector bundle, not a classifier: "
            f"use `defectlab score {bundle_dir} IMAGE_OR_DIR... --out DIR`"
        )
    rows = classify_paths(bundle_dir, inputs)
    if json_out:
        write_classes_json(rows, json_out)
    echo_classes(rows)

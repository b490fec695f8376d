"""`defectlab train-classifier` and `defectlab classify`: defect-type classifiers (attention, causal,
fine-tuned backbone, small CNN) trained on a stratified split and applied to image files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from defectlab.cli.options import ClassifierChoice, FormatChoice, LossChoice, ModeChoice, SchemeChoice, echo_lines, split_csv


def train_classifier_cmd(
    fmt: Annotated[FormatChoice, typer.Option("--format", help="Dataset format.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the classifier bundle to.")],
    data: Annotated[Path | None, typer.Option("--data", help="Dataset root (not needed for --format elpv).")] = None,
    category: Annotated[str | None, typer.Option("--category", help="Category, sub-folder or ELPV cell type.")] = None,
    scheme: Annotated[
        SchemeChoice, typer.Option("--scheme", help="Classes: defect types, or ELPV defect probability in 2 or 4 bins.")
    ] = SchemeChoice.DEFECT_TYPE,
    model: Annotated[ClassifierChoice, typer.Option("--model", help="The classifier to train.")] = ClassifierChoice.ATTENTION,
    mode: Annotated[
        ModeChoice | None,
        typer.Option("--mode", help="head (frozen cached features) or finetune (default: head for attention and causal)."),
    ] = None,
    strata: Annotated[
        str,
        typer.Option(
            "--strata",
            help="causal: nuisance strata for the backdoor adjustment: 'discovered' (k-means on backbone features) "
            "or a metadata key naming the nuisance, e.g. cell_type for ELPV.",
        ),
    ] = "discovered",
    parts: Annotated[
        str, typer.Option("--parts", help="causal: comma-separated parts to switch on: backdoor, counterfactual, reweight.")
    ] = "backdoor",
    epochs: Annotated[int, typer.Option("--epochs", help="Maximum epochs (early stopping on validation macro-F1).")] = 30,
    loss: Annotated[LossChoice, typer.Option("--loss", help="Focal loss or cross-entropy.")] = LossChoice.FOCAL,
    lr: Annotated[float, typer.Option("--lr", help="AdamW learning rate.")] = 1e-3,
    backbone: Annotated[
        str, typer.Option("--backbone", help="Backbone name, e.g. resnet50 with --weights PATH.")
    ] = "efficientnet_lite0",
    weights: Annotated[str, typer.Option("--weights", help="'default' (bundled), 'random', or a weights file.")] = "default",
    image_size: Annotated[int, typer.Option("--image-size", help="Square input size in pixels.")] = 224,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the split, initialization, batch order and augmentation.")] = 42,
) -> None:
    """Train a defect classifier on a stratified split and write a classifier bundle."""
    from defectlab.classifiers.train import TrainConfig
    from defectlab.data.formats import read_dataset
    from defectlab.workflows.classifier import ClassifierJob, default_mode, train_classifier_bundle

    config = TrainConfig(epochs=epochs, lr=lr, loss=loss.value, seed=seed, mode=mode.value if mode else default_mode(model.value))
    job = ClassifierJob(scheme.value, model.value, backbone, weights, image_size, config, strata, tuple(split_csv(parts)))
    samples = read_dataset(data, fmt.value, category)
    split_path = out.with_name(f"{out.name}.split.json")
    new_split = not split_path.exists()
    try:  # a failed run leaves nothing behind: not even the split it drew
        info = train_classifier_bundle(samples, job, out, split_path, {"format": fmt.value, "category": category})
    except BaseException:
        if new_split:
            split_path.unlink(missing_ok=True)
        raise
    val, test = info["val"], info["test"]
    typer.echo(
        f"trained {model.value} ({scheme.value}, {config.mode}) on {info['n_train']} images, best epoch {info['best_epoch']}; "
        f"val accuracy {val['accuracy']:.3f} macro-F1 {val['macro_f1']:.3f}; "
        f"test accuracy {test['accuracy']:.3f} macro-F1 {test['macro_f1']:.3f} ({info['n_test']} images); "
        f"bundle: {out}; split: {split_path}"
    )


def classify(
    bundle_dir: Annotated[Path, typer.Argument(metavar="BUNDLE", help="Classifier or open-set bundle directory.")],
    inputs: Annotated[list[Path], typer.Argument(metavar="IMAGE_OR_DIR...", help="Images or folders of images.")],
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the results to this JSON file (an existing folder gets classes.json inside)."),
    ] = None,
) -> None:
    """Classify images: prints path, class and confidence per image."""
    from defectlab.workflows.kinds import classify as classify_images
    from defectlab.workflows.scoring import class_lines, write_classes_json

    rows = classify_images(bundle_dir, inputs)
    if json_out:
        write_classes_json(rows, json_out)
    echo_lines(class_lines(rows))

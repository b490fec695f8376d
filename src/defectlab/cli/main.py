"""The `defectlab` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from defectlab.cli import classifiers, openset, service, studies
from defectlab.cli.options import echo_classes, is_classifier, is_routed, split_csv, use_threads
from defectlab.errors import DefectLabError

app = typer.Typer(
    name="defectlab",
    help="Visual defect inspection that stays trustworthy under domain shift.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    """Learn 'good' from good images, localize defects, and report how models hold up."""
    _state["debug"] = debug


@app.command()
def fit(
    data: Path | None = typer.Option(None, "--data", help="Dataset root (MVTec layout unless --format says otherwise)."),
    category: str | None = typer.Option(None, "--category", help="Category (MVTec) or cell type (ELPV: mono/poly)."),
    detector: str = typer.Option("patchcore", "--detector", help="patchcore, padim or cae (feature-space autoencoder)."),
    out: Path = typer.Option(..., "--out", help="Directory to write the model bundle to."),
    fmt: str = typer.Option("mvtec", "--format", help="Dataset format: mvtec, folder, neu, severstal, elpv."),
    backbone: str = typer.Option("efficientnet_lite0", "--backbone", help="Backbone name (see `defectlab info`)."),
    layers: str | None = typer.Option(None, "--layers", help="Comma-separated backbone layers (default: the backbone's)."),
    weights: str = typer.Option("default", "--weights", help="'default' (bundled), 'random', or a weights file."),
    image_size: int = typer.Option(224, "--image-size", help="Square input size in pixels."),
    coreset_ratio: float = typer.Option(0.01, "--coreset-ratio", help="PatchCore: share of patches kept in the memory bank."),
    threshold: str = typer.Option("auto", "--threshold", help="auto, f1, mean_std or quantile."),
    split: Path | None = typer.Option(None, "--split", help="Split JSON to reuse or create (default: next to the bundle)."),
    seed: int = typer.Option(42, "--seed", help="Seed for the split, coreset and channel choice."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch/faiss."),
) -> None:
    """Fit a detector on the normal training images and write a model bundle."""
    from defectlab.backbones.extractor import FeatureConfig
    from defectlab.bundle.io import save_bundle
    from defectlab.data.formats import read_dataset
    from defectlab.data.splits import apply, default_split_rule, load_or_create_split
    from defectlab.workflows.detection import FitOptions, fit_bundle

    samples = read_dataset(data, fmt, category)
    rule = default_split_rule(fmt)
    split_path = split or out.with_name(f"{out.name}.split.json")
    new_split = not split_path.exists()
    try:  # a failed fit leaves nothing behind: not even the split it drew
        train, val, _ = apply(load_or_create_split(split_path, samples, rule, seed), samples)
        params = {"coreset_ratio": coreset_ratio, "seed": seed} if detector == "patchcore" else {"seed": seed}
        options = FitOptions(
            detector=detector,
            detector_params=params,
            features=FeatureConfig(backbone, split_csv(layers), image_size, weights=weights),
            threshold=threshold,
            seed=seed,
            num_threads=threads,
        )
        bundle, seconds = fit_bundle(train, val, options, category=category or "", dataset=fmt, progress=True)
        save_bundle(out, bundle)
    except BaseException:
        if new_split:
            split_path.unlink(missing_ok=True)
        raise
    typer.echo(
        f"fitted {detector} on {bundle.training['n_train']} images in {seconds:.1f} s; "
        f"threshold {bundle.threshold.value:.4g} ({bundle.threshold.method}); bundle: {out}; split: {split_path}"
    )


@app.command("fit-router")
def fit_router(
    data: Path | None = typer.Option(None, "--data", help="Dataset root (not needed for ELPV)."),
    fmt: str = typer.Option("mvtec", "--format", help="Dataset format: mvtec, folder or elpv (its cell types)."),
    categories: str | None = typer.Option(None, "--categories", help="Comma-separated categories (default: all)."),
    detector: str = typer.Option("patchcore", "--detector", help="Detector for every category: cae, patchcore or padim."),
    detectors: str | None = typer.Option(None, "--detectors", help="Per-category detectors, e.g. mono=cae,poly=padim."),
    out: Path = typer.Option(..., "--out", help="Directory to write the routed bundle to."),
    backbone: str = typer.Option("efficientnet_lite0", "--backbone", help="Backbone shared by router and detectors."),
    weights: str = typer.Option("default", "--weights", help="'default' (bundled), 'random', or a weights file."),
    image_size: int = typer.Option(224, "--image-size", help="Square input size in pixels."),
    threshold: str = typer.Option("auto", "--threshold", help="auto, f1, mean_std or quantile (per category)."),
    seed: int = typer.Option(42, "--seed", help="Seed for splits, coresets, router folds."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch/faiss."),
    elpv: str | None = typer.Option(None, "--elpv", help="ELPV cell types to add as categories elpv-<type>, e.g. mono,poly."),
    router_share: float = typer.Option(
        0.5, "--router-share", help="Share of ELPV's defective cells the router also learns from (kept out of evaluate's test)."
    ),
) -> None:
    """Fit a multi-category model: a category router in front of one detector per category, sharing one
    backbone pass. Images of a product the router was never taught are answered "unknown category".
    The router learns from every image of a category outside its test part (normal training images and
    validation images, defective ones too; ELPV, which has no validation part, lends a share of its
    defective cells). Splits are saved per category in BUNDLE.splits/ and reused by `evaluate`.

    Example, ELPV's two cell types beside the synthetic products of `defectlab synth`:
    defectlab fit-router --data data/synth --elpv mono,poly --detector cae --out models/routed"""
    from defectlab.backbones.extractor import FeatureConfig
    from defectlab.cli.routed import RouterRequest, fit_router_bundle, parse_detectors
    from defectlab.workflows.detection import FitOptions

    use_threads(threads)
    params = {"seed": seed}
    options = FitOptions(
        detector=detector,
        detector_params=params,
        threshold=threshold,
        seed=seed,
        num_threads=threads,
        features=FeatureConfig(backbone, image_size=image_size, weights=weights),
    )
    request = RouterRequest(
        data,
        fmt,
        split_csv(categories),
        out,
        options,
        parse_detectors(detectors),
        elpv=split_csv(elpv),
        router_share=router_share,
    )
    fitted = fit_router_bundle(request)
    model = fitted.model
    kinds = ", ".join(f"{n}={model.bundles[n].model.detector.kind}" for n in model.categories)
    typer.echo(
        f"fitted a router over {len(model.categories)} categories ({kinds}) in {fitted.seconds['total']:.1f} s; bundle: {out}"
    )


app.command("fit-openset")(openset.fit_openset)
app.command("evaluate-openset")(openset.evaluate_openset)


@app.command()
def evaluate(
    bundle_dir: Path = typer.Argument(..., metavar="BUNDLE", help="Detector or classifier bundle directory."),
    data: Path | None = typer.Option(None, "--data", help="Dataset root."),
    category: str | None = typer.Option(
        None, "--category", help="Category / cell type (classifier: default the one it was trained on)."
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="Dataset format (default: mvtec; classifier: the format it was trained on)."
    ),
    split: Path | None = typer.Option(
        None, "--split", help="Split JSON (default: the one written by `fit` or `train-classifier`)."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the metrics to this JSON file."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads."),
) -> None:
    """Evaluate a bundle on the test part of its split.

    Detector: image and pixel metrics, printed as JSON. Routed (multi-category) bundle: routing
    accuracy, the routing confusion matrix (with "unknown") and per-category and macro image
    metrics, as JSON. Classifier: accuracy, macro-F1, AUROC,
    balanced accuracy, per-class counts and the confusion matrix, printed as a table.
    """
    from defectlab.bundle.io import load_bundle
    from defectlab.data.formats import read_dataset
    from defectlab.data.splits import Split, apply
    from defectlab.errors import ConfigError
    from defectlab.workflows.detection import evaluate_bundle

    if is_classifier(bundle_dir):
        from defectlab.cli.classifier_eval import classifier_table, evaluate_classifier_dir

        use_threads(threads)
        typer.echo(classifier_table(evaluate_classifier_dir(bundle_dir, data, category, fmt, split, json_out)))
        return
    if is_routed(bundle_dir):
        from defectlab.cli.routed import evaluate_routed_dir
        from defectlab.fileio import atomic_write_json as write_json

        use_threads(threads)
        summary = evaluate_routed_dir(bundle_dir, data, fmt)
        if json_out:
            write_json(json_out, summary)
        typer.echo(json.dumps(summary, indent=2))
        return
    bundle = load_bundle(bundle_dir, num_threads=threads)
    samples = read_dataset(data, fmt or "mvtec", category)
    split_path = split or bundle_dir.with_name(f"{bundle_dir.name}.split.json")
    if not split_path.is_file():
        raise ConfigError(f"split file {split_path} not found: pass --split (the JSON `fit` wrote)")
    _, _, test = apply(Split.load(split_path), samples)
    result = evaluate_bundle(bundle, test, progress=True)
    summary = {
        **result.metrics,
        "threshold": result.threshold,
        "threshold_method": result.threshold_method,
        "n_test": len(test),
        "intervals": {k: list(v) for k, v in result.intervals.items()},
        "ms_per_image": result.timings["ms_per_image"],
    }
    text = json.dumps(summary, indent=2)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n")
    typer.echo(text)


@app.command()
def score(
    bundle_dir: Path = typer.Argument(..., metavar="BUNDLE", help="Detector or classifier bundle directory."),
    inputs: list[Path] = typer.Argument(..., metavar="IMAGE_OR_DIR...", help="Images or folders of images."),
    out: Path = typer.Option(
        ..., "--out", help="Output folder: scores.csv and overlays/ (detector) or classes.json (classifier)."
    ),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads."),
) -> None:
    """Score images with a detector bundle: writes scores.csv (path, score, threshold, decision) and a heatmap
    overlay per image; a routed bundle adds the category (or "unknown category"). With a classifier bundle it does what `classify` does and writes OUT/classes.json."""
    from defectlab.cli.scoring import CLASSES_JSON, classify_paths, score_paths, write_classes_json

    if is_classifier(bundle_dir):
        use_threads(threads)
        classified = classify_paths(bundle_dir, inputs)
        written = write_classes_json(classified, out / CLASSES_JSON)
        echo_classes(classified)
        typer.echo(f"classified {len(classified)} images; results in {written}")
        return
    if is_routed(bundle_dir):
        from defectlab.cli.routed import score_routed_paths
        from defectlab.cli.scoring import collect_images

        use_threads(threads)
        rows = score_routed_paths(bundle_dir, collect_images(inputs), out)
        unknown = sum(r["decision"] == "unknown category" for r in rows)
        flagged = sum(r["decision"] == "anomalous" for r in rows)
        typer.echo(
            f"scored {len(rows)} images: {flagged} anomalous, {unknown} of unknown category; results in {out / 'scores.csv'}"
        )
        return
    rows = score_paths(bundle_dir, inputs, out, threads)
    flagged = sum(r["decision"] == "anomalous" for r in rows)
    typer.echo(f"scored {len(rows)} images, {flagged} anomalous; results in {out / 'scores.csv'}")


app.command("train-classifier")(classifiers.train_classifier_cmd)
app.command()(classifiers.classify)


@app.command()
def synth(
    out: Path = typer.Argument(..., metavar="OUT", help="Output folder."),
    kind: str = typer.Option(
        "mvtec", "--kind", help="mvtec: texture/object categories in MVTec layout; steel: steel surfaces, six NEU defect types."
    ),
    categories: str = typer.Option("texture,object", "--categories", help="mvtec: comma-separated kinds: texture, object."),
    layout: str = typer.Option(
        "folder", "--layout", help="steel: folder (good/, one folder per defect type, masks/), neu (plus OUT_good/) or severstal."
    ),
    n_train: int = typer.Option(40, "--n-train", help="mvtec: normal training images per category."),
    n_test_good: int = typer.Option(10, "--n-test-good", help="mvtec: normal test images per category."),
    n_good: int = typer.Option(60, "--n-good", help="steel: defect-free images."),
    n_defect: int | None = typer.Option(None, "--n-defect", help="Images per defect type [default: 5 mvtec, 60 steel]."),
    size: int | None = typer.Option(None, "--size", help="Image side in pixels [default: 128 mvtec, 200 steel]."),
    width: int = typer.Option(800, "--width", help="steel, severstal layout: strip width (real strips are 1600)."),
    height: int = typer.Option(128, "--height", help="steel, severstal layout: strip height (real strips are 256)."),
    seed: int = typer.Option(42, "--seed", help="Random seed."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output (category) folders."),
) -> None:
    """Generate a synthetic dataset with exact defect masks: MVTec layout (--kind mvtec), or steel
    surfaces with the six NEU defect types in folder, NEU or Severstal layout (--kind steel)."""
    from defectlab.errors import ConfigError

    if kind == "steel":
        from defectlab.data.synth_steel import generate_steel_dataset

        n_per_class, side = 60 if n_defect is None else n_defect, 200 if size is None else size
        generate_steel_dataset(out, layout, n_per_class, n_good, side, width, height, seed, overwrite)
        typer.echo(f"wrote synthetic steel dataset ({layout} layout) to {out}")
        return
    if kind != "mvtec":
        raise ConfigError(f"unknown synth kind '{kind}'; valid: mvtec, steel")
    from defectlab.data.synth import generate_synthetic_dataset

    n_per_type, side = 5 if n_defect is None else n_defect, 128 if size is None else size
    generate_synthetic_dataset(out, split_csv(categories), n_train, n_test_good, n_per_type, side, seed, overwrite=overwrite)
    typer.echo(f"wrote synthetic dataset to {out}")


@app.command()
def shift(
    data: Path = typer.Argument(..., metavar="DATA", help="Clean dataset root (MVTec layout)."),
    out: Path = typer.Argument(..., metavar="OUT", help="Output root for the shifted copy."),
    corruption: str | None = typer.Option(None, "--corruption", help="One corruption (see `defectlab info`)."),
    preset: str | None = typer.Option(None, "--preset", help="A preset, e.g. mvtec-shift."),
    severity: int = typer.Option(3, "--severity", help="Severity 1..5 (with --corruption)."),
    seed: int = typer.Option(42, "--seed", help="Seed; each image's shift depends on it and on the image's id."),
    category: str | None = typer.Option(None, "--category", help="Only this category (default: all)."),
    split: Path | None = typer.Option(None, "--split", help="Clean split JSON of --category to mirror."),
) -> None:
    """Write a shifted copy of a dataset: same folders, shifted images and masks, mirrored split."""
    from defectlab.errors import ConfigError
    from defectlab.shift.materialize import materialize_shift

    if split is not None and category is None:
        raise ConfigError("--split needs --category (the category the split belongs to)")
    splits = {category: split} if split is not None and category is not None else None
    materialize_shift(data, out, corruption, preset, severity, seed, [category] if category else None, splits, progress=True)
    what = f"preset {preset}" if preset else f"{corruption} at severity {severity}"
    typer.echo(f"wrote {what} (seed {seed}) of {data} to {out}")


@app.command()
def info(bundle_dir: Path | None = typer.Argument(None, metavar="BUNDLE", help="Show this bundle's manifest.")) -> None:
    """List backbones, detectors, dataset formats and versions (or describe a bundle; for a classifier:
    kind, classes, backbone and a training summary without the per-epoch history)."""
    from defectlab.backbones.registry import list_backbones
    from defectlab.bundle.io import library_versions, read_manifest
    from defectlab.data.formats import FORMATS
    from defectlab.detectors.registry import DETECTORS
    from defectlab.shift import CORRUPTIONS, PRESETS

    if bundle_dir is not None:
        manifest = read_manifest(bundle_dir)
        if is_classifier(bundle_dir):
            from defectlab.bundle.classifier import classifier_summary

            manifest = classifier_summary(manifest)
        elif is_routed(bundle_dir):
            from defectlab.pipelines.routed import routed_summary

            manifest = routed_summary(manifest)
        typer.echo(json.dumps(manifest, indent=2))
        return
    typer.echo("backbones: " + ", ".join(list_backbones()))
    typer.echo("detectors: " + ", ".join(DETECTORS))
    typer.echo("dataset formats: " + ", ".join(FORMATS))
    typer.echo("corruptions (severity 1-5): " + ", ".join(CORRUPTIONS) + "; presets: " + ", ".join(PRESETS))
    typer.echo("versions: " + ", ".join(f"{k} {v}" for k, v in library_versions().items()))


app.command()(studies.run)
app.command()(studies.report)
app.command()(service.serve)
app.command("app")(service.app_cmd)


def entry() -> None:
    """Console entry point: one-line errors unless --debug."""
    try:
        app(standalone_mode=False)
    except DefectLabError as exc:
        if _state["debug"]:
            raise
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        typer.echo(f"defectlab: error: {message}", err=True)
        sys.exit(2)
    except typer.TyperException as exc:  # usage errors: missing/bad option, unknown command, no arguments
        if exc.format_message():  # empty when no arguments were given: the help was already printed
            typer.echo(f"defectlab: error: {exc.format_message()} (see --help)", err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    except (typer.Exit, typer.Abort) as exc:
        sys.exit(getattr(exc, "exit_code", 1))

"""The `defectlab` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from defectlab.cli import classifiers, openset, service, studies
from defectlab.cli.options import (
    CliState,
    CorruptionChoice,
    DetectorChoice,
    ExportFormatChoice,
    FormatChoice,
    LayoutChoice,
    PrecisionChoice,
    PresetChoice,
    RuntimeChoice,
    SynthKindChoice,
    ThresholdChoice,
    echo_lines,
    parse_detectors,
    split_csv,
    use_threads,
)
from defectlab.errors import DefectLabError

app = typer.Typer(
    name="defectlab",
    help="Visual defect inspection that stays trustworthy under domain shift.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Threads = Annotated[int | None, typer.Option("--threads", help="CPU threads for torch/faiss.")]
Weights = Annotated[str, typer.Option("--weights", help="'default' (bundled), 'random', or a weights file.")]
ImageSize = Annotated[int, typer.Option("--image-size", help="Square input size in pixels.")]
Runtime = Annotated[
    RuntimeChoice | None,
    typer.Option("--runtime", help="What scores: torch, onnx or openvino (default: the fastest export present, else torch)."),
]
BundleDir = Annotated[Path, typer.Argument(metavar="BUNDLE", help="Bundle directory (detector, routed, classifier or open-set).")]


@app.callback()
def main(
    ctx: typer.Context, debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False
) -> None:
    """Learn 'good' from good images, localize defects, and report how models hold up."""
    ctx.ensure_object(CliState).debug = debug


@app.command()
def fit(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the model bundle to.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="Dataset root (MVTec layout unless --format says otherwise).")
    ] = None,
    category: Annotated[str | None, typer.Option("--category", help="Category (MVTec) or cell type (ELPV: mono/poly).")] = None,
    detector: Annotated[
        DetectorChoice, typer.Option("--detector", help="patchcore, padim or cae (feature-space autoencoder).")
    ] = DetectorChoice.PATCHCORE,
    fmt: Annotated[FormatChoice, typer.Option("--format", help="Dataset format.")] = FormatChoice.MVTEC,
    backbone: Annotated[str, typer.Option("--backbone", help="Backbone name (see `defectlab info`).")] = "efficientnet_lite0",
    layers: Annotated[
        str | None, typer.Option("--layers", help="Comma-separated backbone layers (default: the backbone's).")
    ] = None,
    weights: Weights = "default",
    image_size: ImageSize = 224,
    coreset_ratio: Annotated[
        float, typer.Option("--coreset-ratio", help="PatchCore: share of patches kept in the memory bank.")
    ] = 0.01,
    threshold: Annotated[
        ThresholdChoice,
        typer.Option(
            "--threshold",
            help="Decision threshold rule:\n\n"
            "auto: mean_std for cae, else f1 when the calibration images include anomalies, else mean_std;\n\n"
            "f1: the score that maximises F1 on the calibration images (needs anomalous ones);\n\n"
            "mean_std: mean + 3 std of the calibration normals' scores;\n\n"
            "quantile: the lowest threshold that passes 95% of the calibration normals.",
        ),
    ] = ThresholdChoice.AUTO,
    split: Annotated[
        Path | None, typer.Option("--split", help="Split JSON to reuse or create (default: next to the bundle).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the split, coreset and channel choice.")] = 42,
    threads: Threads = None,
    align: Annotated[
        bool,
        typer.Option(
            "--align",
            help="Align every image to a template of the training normals before inspecting it (parts on a "
            "fixture: cells, machined parts); stored in the bundle, applied by score, evaluate and serve.",
        ),
    ] = False,
) -> None:
    """Fit a detector on the normal training images and write a model bundle."""
    from defectlab.backbones.extractor import FeatureConfig
    from defectlab.bundle.io import save_bundle
    from defectlab.data.formats import read_dataset
    from defectlab.data.splits import apply, default_split_rule, load_or_create_split
    from defectlab.workflows.detection import FitOptions, fit_bundle

    samples = read_dataset(data, fmt.value, category)
    rule = default_split_rule(fmt.value)
    split_path = split or out.with_name(f"{out.name}.split.json")
    new_split = not split_path.exists()
    try:  # a failed fit leaves nothing behind: not even the split it drew
        train, val, _ = apply(load_or_create_split(split_path, samples, rule, seed), samples)
        params = {"coreset_ratio": coreset_ratio, "seed": seed} if detector == DetectorChoice.PATCHCORE else {"seed": seed}
        options = FitOptions(
            detector=detector.value,
            detector_params=params,
            features=FeatureConfig(backbone, split_csv(layers), image_size, weights=weights),
            threshold=threshold.value,
            align=align,
            seed=seed,
            num_threads=threads,
        )
        bundle, seconds = fit_bundle(train, val, options, category=category or "", dataset=fmt.value, progress=True)
        save_bundle(out, bundle)
    except BaseException:
        if new_split:
            split_path.unlink(missing_ok=True)
        raise
    typer.echo(
        f"fitted {detector.value} on {bundle.training['n_train']} images in {seconds:.1f} s; "
        f"threshold {bundle.threshold.value:.4g} ({bundle.threshold.method}); bundle: {out}; split: {split_path}"
    )


@app.command("fit-router")
def fit_router(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the routed bundle to.")],
    data: Annotated[Path | None, typer.Option("--data", help="Dataset root (not needed for ELPV).")] = None,
    fmt: Annotated[
        FormatChoice, typer.Option("--format", help="Dataset format: mvtec, folder or elpv (its cell types).")
    ] = FormatChoice.MVTEC,
    categories: Annotated[str | None, typer.Option("--categories", help="Comma-separated categories (default: all).")] = None,
    detector: Annotated[
        DetectorChoice, typer.Option("--detector", help="Detector for every category.")
    ] = DetectorChoice.PATCHCORE,
    detectors: Annotated[
        str | None, typer.Option("--detectors", help="Per-category detectors, e.g. mono=cae,poly=padim.")
    ] = None,
    backbone: Annotated[str, typer.Option("--backbone", help="Backbone shared by router and detectors.")] = "efficientnet_lite0",
    weights: Weights = "default",
    image_size: ImageSize = 224,
    threshold: Annotated[
        ThresholdChoice, typer.Option("--threshold", help="Threshold calibration (per category).")
    ] = ThresholdChoice.AUTO,
    seed: Annotated[int, typer.Option("--seed", help="Seed for splits, coresets, router folds.")] = 42,
    threads: Threads = None,
    elpv: Annotated[
        str | None, typer.Option("--elpv", help="ELPV cell types to add as categories elpv-<type>, e.g. mono,poly.")
    ] = None,
    router_share: Annotated[
        float,
        typer.Option(
            "--router-share", help="Share of ELPV's defective cells the router also learns from (kept out of evaluate's test)."
        ),
    ] = 0.5,
) -> None:
    """Fit a multi-category model: a category router in front of one detector per category, sharing one
    backbone pass. Images of a product the router was never taught are answered "unknown category".
    The router learns from every image of a category outside its test part (normal training images and
    validation images, defective ones too; ELPV, which has no validation part, lends a share of its
    defective cells). Splits are saved per category in BUNDLE.splits/ and reused by `evaluate`.

    Example, ELPV's two cell types beside the synthetic products of `defectlab synth`:
    defectlab fit-router --data data/synth --elpv mono,poly --detector cae --out models/routed"""
    from defectlab.backbones.extractor import FeatureConfig
    from defectlab.workflows.detection import FitOptions
    from defectlab.workflows.routed_fit import RouterRequest, fit_router_bundle

    use_threads(threads)
    options = FitOptions(
        detector=detector.value,
        detector_params={"seed": seed},
        threshold=threshold.value,
        seed=seed,
        num_threads=threads,
        features=FeatureConfig(backbone, image_size=image_size, weights=weights),
    )
    request = RouterRequest(
        data,
        fmt.value,
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
    bundle_dir: BundleDir,
    data: Annotated[Path | None, typer.Option("--data", help="Dataset root.")] = None,
    category: Annotated[
        str | None, typer.Option("--category", help="Category / cell type (classifier: default the one it was trained on).")
    ] = None,
    fmt: Annotated[
        FormatChoice | None,
        typer.Option("--format", help="Dataset format (default: mvtec; classifier: the format it was trained on)."),
    ] = None,
    split: Annotated[
        Path | None, typer.Option("--split", help="Split JSON (default: the one written by `fit` or `train-classifier`).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the metrics to this JSON file.")] = None,
    threads: Threads = None,
    runtime: Runtime = None,
) -> None:
    """Evaluate a bundle on the test part of its split.

    Detector: image and pixel metrics, printed as JSON. Routed (multi-category) bundle: routing
    accuracy, the routing confusion matrix (with "unknown") and per-category and macro image
    metrics, as JSON. Classifier: accuracy, macro-F1, AUROC,
    balanced accuracy, per-class counts and the confusion matrix, printed as a table. Open-set
    bundle: what `evaluate-openset` prints.
    """
    from defectlab.bundle import load
    from defectlab.fileio import atomic_write_json
    from defectlab.workflows.evaluation import EvaluationRequest
    from defectlab.workflows.kinds import evaluate as evaluate_predictor

    use_threads(threads)
    predictor = load(bundle_dir, num_threads=threads, runtime=runtime.value if runtime else None)
    request = EvaluationRequest(data, category, fmt.value if fmt else None, split)
    evaluation = evaluate_predictor(predictor, request)
    if json_out:
        atomic_write_json(json_out, evaluation.summary)
    typer.echo(evaluation.text)


@app.command()
def score(
    bundle_dir: BundleDir,
    inputs: Annotated[list[Path], typer.Argument(metavar="IMAGE_OR_DIR...", help="Images or folders of images.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Output folder: scores.csv and overlays/ (detector, routed) or classes.json (classifier, open-set)."
        ),
    ],
    threads: Threads = None,
    runtime: Runtime = None,
) -> None:
    """Score images with a detector bundle: writes scores.csv (path, score, threshold, decision) and a heatmap
    overlay per image; a routed bundle adds the category (or "unknown category"). With a classifier or open-set
    bundle it does what `classify` does and writes OUT/classes.json."""
    from defectlab.bundle import load
    from defectlab.workflows.kinds import score as score_images

    use_threads(threads)
    predictor = load(bundle_dir, num_threads=threads, runtime=runtime.value if runtime else None)
    echo_lines(score_images(predictor, inputs, out))


@app.command("export")
def export_cmd(
    bundle_dir: Annotated[Path, typer.Argument(metavar="BUNDLE", help="Anomaly-detector bundle directory.")],
    fmt: Annotated[ExportFormatChoice, typer.Option("--format", help="onnx (ONNX Runtime) or openvino (OpenVINO IR).")],
    precision: Annotated[
        PrecisionChoice,
        typer.Option(
            "--precision",
            help="f32 (both formats); OpenVINO also bf16 (computed in bfloat16 where the CPU has it), "
            "f16 (float16 weights) and int8 (NNCF post-training quantization on --calibration).",
        ),
    ] = PrecisionChoice.F32,
    calibration: Annotated[
        Path | None, typer.Option("--calibration", help="Folder of normal images to quantize on (int8 only).")
    ] = None,
) -> None:
    """Write the bundle's whole inference path (normalization, backbone, patch pooling, detector scoring,
    image score, map upsampling and smoothing) as graphs with a dynamic batch axis into BUNDLE/export/,
    checked against torch on seeded images. `score`, `evaluate` and `serve` then use the fastest export
    present (or the one `--runtime` names)."""
    from defectlab.data.files import list_images, require_dir
    from defectlab.data.imageio import load_image
    from defectlab.export.bundle_export import export_bundle

    images = None
    if calibration is not None:
        images = [load_image(p) for p in list_images(require_dir(calibration, "calibration folder"), recursive=True)]
    info = export_bundle(bundle_dir, fmt.value, precision.value, images)
    parity = info["parity_with_torch"]
    typer.echo(
        f"wrote {bundle_dir / 'export' / (fmt.value + '-' + precision.value)} ({info['detector']}, {info['runtime']}); "
        f"largest relative difference from torch: scores {parity['scores_max_relative_difference']:.1e}, "
        f"maps {parity['maps_max_relative_difference']:.1e}"
    )


app.command("train-classifier")(classifiers.train_classifier_cmd)
app.command()(classifiers.classify)


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Output folder.")],
    kind: Annotated[
        SynthKindChoice,
        typer.Option(
            "--kind", help="mvtec: texture/object categories in MVTec layout; steel: steel surfaces, six NEU defect types."
        ),
    ] = SynthKindChoice.MVTEC,
    categories: Annotated[
        str, typer.Option("--categories", help="mvtec: comma-separated kinds: texture, object.")
    ] = "texture,object",
    layout: Annotated[
        LayoutChoice,
        typer.Option(
            "--layout", help="steel: folder (good/, one folder per defect type, masks/), neu (plus OUT_good/) or severstal."
        ),
    ] = LayoutChoice.FOLDER,
    n_train: Annotated[int, typer.Option("--n-train", help="mvtec: normal training images per category.")] = 40,
    n_test_good: Annotated[int, typer.Option("--n-test-good", help="mvtec: normal test images per category.")] = 10,
    n_good: Annotated[int, typer.Option("--n-good", help="steel: defect-free images.")] = 60,
    n_defect: Annotated[
        int | None, typer.Option("--n-defect", help="Images per defect type [default: 5 mvtec, 60 steel].")
    ] = None,
    size: Annotated[int | None, typer.Option("--size", help="Image side in pixels [default: 128 mvtec, 200 steel].")] = None,
    width: Annotated[int, typer.Option("--width", help="steel, severstal layout: strip width (real strips are 1600).")] = 800,
    height: Annotated[int, typer.Option("--height", help="steel, severstal layout: strip height (real strips are 256).")] = 128,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output (category) folders.")] = False,
) -> None:
    """Generate a synthetic dataset with exact defect masks: MVTec layout (--kind mvtec), or steel
    surfaces with the six NEU defect types in folder, NEU or Severstal layout (--kind steel)."""
    if kind is SynthKindChoice.STEEL:
        from defectlab.data.synth_steel import generate_steel_dataset

        n_per_class, side = 60 if n_defect is None else n_defect, 200 if size is None else size
        generate_steel_dataset(out, layout.value, n_per_class, n_good, side, width, height, seed, overwrite)
        typer.echo(f"wrote synthetic steel dataset ({layout.value} layout) to {out}")
        return
    from defectlab.data.synth import generate_synthetic_dataset

    n_per_type, side = 5 if n_defect is None else n_defect, 128 if size is None else size
    generate_synthetic_dataset(out, split_csv(categories), n_train, n_test_good, n_per_type, side, seed, overwrite=overwrite)
    typer.echo(f"wrote synthetic dataset to {out}")


@app.command()
def shift(
    data: Annotated[Path, typer.Argument(metavar="DATA", help="Clean dataset root (MVTec layout).")],
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Output root for the shifted copy.")],
    corruption: Annotated[
        CorruptionChoice | None, typer.Option("--corruption", help="One corruption (see `defectlab info`).")
    ] = None,
    preset: Annotated[PresetChoice | None, typer.Option("--preset", help="A preset: a fixed mix of corruptions.")] = None,
    severity: Annotated[int, typer.Option("--severity", help="Severity 1..5 (with --corruption).")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed; each image's shift depends on it and on the image's id.")] = 42,
    category: Annotated[str | None, typer.Option("--category", help="Only this category (default: all).")] = None,
    split: Annotated[Path | None, typer.Option("--split", help="Clean split JSON of --category to mirror.")] = None,
) -> None:
    """Write a shifted copy of a dataset: same folders, shifted images and masks, mirrored split."""
    from defectlab.errors import ConfigError
    from defectlab.shift.materialize import materialize_shift

    if split is not None and category is None:
        raise ConfigError("--split needs --category (the category the split belongs to)")
    splits = {category: split} if split is not None and category is not None else None
    corruption_name, preset_name = (corruption.value if corruption else None), (preset.value if preset else None)
    categories = [category] if category else None
    materialize_shift(data, out, corruption_name, preset_name, severity, seed, categories, splits, progress=True)
    what = f"preset {preset_name}" if preset_name else f"{corruption_name} at severity {severity}"
    typer.echo(f"wrote {what} (seed {seed}) of {data} to {out}")


@app.command()
def info(
    bundle_dir: Annotated[Path | None, typer.Argument(metavar="BUNDLE", help="Show this bundle's manifest.")] = None,
) -> None:
    """List backbones, detectors, dataset formats and versions (or describe a bundle; for a classifier:
    kind, classes, backbone and a training summary without the per-epoch history)."""
    import json

    from defectlab.backbones.registry import list_backbones
    from defectlab.bundle.manifest import library_versions
    from defectlab.data.formats import FORMATS
    from defectlab.detectors.registry import DETECTORS
    from defectlab.shift import CORRUPTIONS, PRESETS

    if bundle_dir is not None:
        from defectlab.bundle import load

        typer.echo(json.dumps(load(bundle_dir).describe(), indent=2))
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
    state = CliState()
    try:
        app(standalone_mode=False, obj=state)
    except DefectLabError as exc:
        if state.debug:
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

"""What the CLI's command modules share: the run state on the typer context, choice enums and
argument helpers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import typer

from defectlab.errors import ConfigError


@dataclass
class CliState:
    """State of one command-line run, kept on the typer context (``ctx.obj``)."""

    debug: bool = False


class DetectorChoice(StrEnum):
    """The detectors `fit` and `fit-router` can fit (``defectlab.detectors.registry.DETECTORS``)."""

    PATCHCORE = "patchcore"
    PADIM = "padim"
    CAE = "cae"


class RuntimeChoice(StrEnum):
    """What scores a bundle (``defectlab.bundle.runtimes.RUNTIMES``): torch, or an export made by `defectlab export`."""

    TORCH = "torch"
    ONNX = "onnx"
    OPENVINO = "openvino"


class ExportFormatChoice(StrEnum):
    """The formats `defectlab export` writes (``defectlab.bundle.runtimes.FORMATS``)."""

    ONNX = "onnx"
    OPENVINO = "openvino"


class PrecisionChoice(StrEnum):
    """Export precisions (``defectlab.bundle.runtimes.PRECISIONS``: ONNX f32; OpenVINO f32, bf16, f16, int8)."""

    F32 = "f32"
    BF16 = "bf16"
    F16 = "f16"
    INT8 = "int8"


class FormatChoice(StrEnum):
    """The dataset formats (``defectlab.data.formats.FORMATS``)."""

    MVTEC = "mvtec"
    FOLDER = "folder"
    NEU = "neu"
    SEVERSTAL = "severstal"
    ELPV = "elpv"


class ThresholdChoice(StrEnum):
    """The threshold calibrations (``defectlab.workflows.detection.THRESHOLD_METHODS``)."""

    AUTO = "auto"
    F1 = "f1"
    MEAN_STD = "mean_std"
    QUANTILE = "quantile"


class SchemeChoice(StrEnum):
    """The class schemes of `train-classifier` (``defectlab.classifiers.labels.SCHEMES``)."""

    DEFECT_TYPE = "defect_type"
    ELPV_BINARY = "elpv_binary"
    ELPV_4 = "elpv_4"


class ClassifierChoice(StrEnum):
    """The classifiers `train-classifier` can train (``defectlab.classifiers.registry.CLASSIFIERS``)."""

    ATTENTION = "attention"
    CAUSAL = "causal"
    FINETUNE = "finetune"
    SMALLCNN = "smallcnn"


class LossChoice(StrEnum):
    """The training losses of a classifier (``defectlab.classifiers.losses.LOSSES``)."""

    FOCAL = "focal"
    CE = "ce"


class ModeChoice(StrEnum):
    """The training modes of a classifier (``defectlab.classifiers.train.MODES``)."""

    HEAD = "head"
    FINETUNE = "finetune"


class SynthKindChoice(StrEnum):
    """What `synth` generates: MVTec-layout categories (``defectlab.data.synth``) or steel surfaces
    (``defectlab.data.synth_steel``)."""

    MVTEC = "mvtec"
    STEEL = "steel"


class LayoutChoice(StrEnum):
    """The layouts of a synthetic steel dataset (``defectlab.data.synth_steel.LAYOUTS``)."""

    FOLDER = "folder"
    NEU = "neu"
    SEVERSTAL = "severstal"


class PresetChoice(StrEnum):
    """The shift presets of `shift` (``defectlab.shift.PRESETS``)."""

    MVTEC_SHIFT = "mvtec-shift"
    MVTEC_SHIFT_GEOMETRIC = "mvtec-shift-geometric"
    MVTEC_SHIFT_PHOTOMETRIC = "mvtec-shift-photometric"


class CorruptionChoice(StrEnum):
    """The corruptions of `shift` (``defectlab.shift.CORRUPTIONS``: geometric, appearance, ImageNet-C, photometric)."""

    ROTATION = "rotation"
    RESIZED_CROP = "resized_crop"
    TRANSLATION = "translation"
    HFLIP = "hflip"
    VFLIP = "vflip"
    VIGNETTING = "vignetting"
    STYLE = "style"
    IMAGENET_C_BRIGHTNESS = "imagenet_c_brightness"
    IMAGENET_C_CONTRAST = "imagenet_c_contrast"
    IMAGENET_C_DEFOCUS_BLUR = "imagenet_c_defocus_blur"
    IMAGENET_C_GAUSSIAN_NOISE = "imagenet_c_gaussian_noise"
    IMAGENET_C_SHOT_NOISE = "imagenet_c_shot_noise"
    IMAGENET_C_MOTION_BLUR = "imagenet_c_motion_blur"
    IMAGENET_C_PIXELATE = "imagenet_c_pixelate"
    BRIGHTNESS = "brightness"
    CONTRAST = "contrast"
    SATURATION = "saturation"
    GAMMA = "gamma"
    GAUSSIAN_BLUR = "gaussian_blur"
    MOTION_BLUR = "motion_blur"
    DEFOCUS_BLUR = "defocus_blur"
    GAUSSIAN_NOISE = "gaussian_noise"
    SALT_AND_PEPPER = "salt_and_pepper"
    JPEG = "jpeg"


def use_threads(threads: int | None) -> None:
    """Limit torch to ``threads`` CPU threads for the rest of the command (None: torch's default)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def split_csv(value: str | None) -> tuple[str, ...]:
    """The non-empty, stripped items of a comma-separated option (empty when not given)."""
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def parse_detectors(value: str | None) -> dict[str, str]:
    """``"a=cae,b=padim"`` -> ``{"a": "cae", "b": "padim"}``."""
    pairs: dict[str, str] = {}
    for item in (value or "").split(","):
        if not item.strip():
            continue
        name, sep, kind = item.partition("=")
        if not sep or not name.strip() or not kind.strip():
            raise ConfigError(f"--detectors takes category=detector pairs, got '{item}'")
        pairs[name.strip()] = kind.strip()
    return pairs


def echo_lines(lines: list[str]) -> None:
    """Print each line."""
    for line in lines:
        typer.echo(line)

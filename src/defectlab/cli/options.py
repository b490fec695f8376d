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

"""Helpers shared by the CLI's command modules."""

from __future__ import annotations

from pathlib import Path

import typer


def use_threads(threads: int | None) -> None:
    """Limit torch to ``threads`` CPU threads for the rest of the command (None: torch's default)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def split_csv(value: str | None) -> tuple[str, ...]:
    """The non-empty, stripped items of a comma-separated option (empty when not given)."""
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def is_classifier(bundle_dir: Path) -> bool:
    """Whether the bundle at ``bundle_dir`` is a classifier bundle (its manifest is checked either way)."""
    from defectlab.bundle.io import CLASSIFIER_KIND, bundle_kind

    return bundle_kind(bundle_dir) == CLASSIFIER_KIND


def is_routed(bundle_dir: Path) -> bool:
    """Whether the bundle at ``bundle_dir`` is a routed (multi-category) bundle."""
    from defectlab.bundle.io import ROUTED_KIND, bundle_kind

    return bundle_kind(bundle_dir) == ROUTED_KIND


def echo_classes(rows: list[dict]) -> None:
    """Print path, class and confidence of each classified image, tab-separated."""
    for row in rows:
        typer.echo(f"{row['path']}\t{row['class']}\t{row['confidence']:.4f}")

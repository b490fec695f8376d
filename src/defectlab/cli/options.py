"""Helpers shared by the CLI's command modules."""

from __future__ import annotations

from typing import Optional


def use_threads(threads: Optional[int]) -> None:
    """Limit torch to ``threads`` CPU threads for the rest of the command (None: torch's default)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def split_csv(value: Optional[str]) -> tuple[str, ...]:
    """The non-empty, stripped items of a comma-separated option (empty when not given)."""
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()

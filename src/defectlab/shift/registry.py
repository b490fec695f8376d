"""The corruption registry: name -> kind, severity table and implementation.

Implementations register themselves with :func:`geometric` or :func:`photometric`; the
decorator appends the rendered severity table to the function's docstring, so the table in
the code is the only source of truth.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Params = Mapping[str, Any]
Table = Mapping[int, Params]
Result = tuple[np.ndarray, np.ndarray | None]
GeometricFn = Callable[[np.ndarray, np.ndarray | None, Params, int], Result]
PhotometricFn = Callable[[np.ndarray, Params, int], np.ndarray]

SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Corruption:
    """One registered corruption; ``apply(image, mask, params, seed)`` returns (image, mask)."""

    name: str
    kind: Kind
    table: Table
    apply: GeometricFn


REGISTRY: dict[str, Corruption] = {}


def render_table(table: Table) -> str:
    """The severity table as Markdown: one row per severity, one column per parameter."""
    keys = list(table[1])
    lines = ["| severity | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {s} | " + " | ".join(str(table[s][k]) for k in keys) + " |" for s in SEVERITIES]
    return "\n".join(lines)


Kind = Literal["geometric", "photometric"]


def _register(name: str, kind: Kind, table: Table, fn: GeometricFn) -> None:
    if name in REGISTRY:
        raise ValueError(f"corruption {name!r} registered twice")
    if tuple(sorted(table)) != SEVERITIES:
        raise ValueError(f"corruption {name!r} must define severities 1..5")
    REGISTRY[name] = Corruption(name, kind, table, fn)


def _document(fn: Callable[..., Any], table: Table) -> None:
    fn.__doc__ = f"{fn.__doc__ or ''}\n\nSeverity table:\n\n{render_table(table)}\n"


def geometric(name: str, table: Table) -> Callable[[GeometricFn], GeometricFn]:
    """Register a corruption that moves the mask exactly as the image."""

    def decorate(fn: GeometricFn) -> GeometricFn:
        _document(fn, table)
        _register(name, "geometric", table, fn)
        return fn

    return decorate


def photometric(name: str, table: Table) -> Callable[[PhotometricFn], PhotometricFn]:
    """Register a corruption that changes pixel values only; the mask is passed through."""

    def decorate(fn: PhotometricFn) -> PhotometricFn:
        _document(fn, table)

        def apply(image: np.ndarray, mask: np.ndarray | None, params: Params, seed: int) -> Result:
            return fn(image, params, seed), mask

        _register(name, "photometric", table, apply)
        return fn

    return decorate
